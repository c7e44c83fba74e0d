"""The synthetic RGB-D generator: determinism, geometry, sensor defects, the designed-in cues."""

from __future__ import annotations

import hashlib
import itertools

import numpy as np
import pytest

from asymfusion_ros.data import DatasetError, open_dataset, split_seed
from asymfusion_ros.data.sample import kinect_intrinsics
from asymfusion_ros.data.synthetic import (
    BATHTUB,
    BED,
    BOOKS,
    BOOKSHELF,
    CABINET,
    CHAIR,
    CLASSES,
    COUNTER,
    CURTAIN,
    DESK,
    FLOOR,
    FLOOR_MAT,
    MIRROR,
    NIGHT_STAND,
    OTHERPROP,
    PERSON,
    PICTURE,
    PILLOW,
    SHOWER_CURTAIN,
    SINK,
    SOFA,
    TELEVISION,
    TOILET,
    TOWEL,
    VOID,
    WALL,
    Decal,
    Material,
    Pattern,
    Pose,
    Room,
    SensorModel,
    Shape,
    Solid,
    Surface,
    SyntheticScenes,
    render,
)
from asymfusion_ros.data.synthetic.furnish import PAINTED_CABINET_P, PLATFORM_P
from asymfusion_ros.data.synthetic.layout import RoomLayout, local_frame
from asymfusion_ros.data.synthetic.seating import person, seated_person

SIZE = (120, 160)
PAINT = Material((0.7, 0.6, 0.5), Pattern.NOISE, (0.6, 0.55, 0.5), 0.8, (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), 0.3)
WOOD = Material((0.5, 0.35, 0.2), Pattern.GRAIN, (0.4, 0.3, 0.15), 0.1, (1.0, 0.0, 0.0), (0.0, 0.0, 1.0))


def _room(solids: tuple[Solid, ...] = (), decals: tuple[Decal, ...] = ()) -> Room:
    """A 4 x 2.5 x 5 m room, light near the camera so facing surfaces are lit alike."""
    return Room(
        size_m=(4.0, 2.5, 5.0),
        walls=(PAINT, PAINT, PAINT, PAINT),
        floor=WOOD,
        ceiling=Material((0.9, 0.9, 0.9)),
        solids=solids,
        decals=decals,
        light_m=(2.0, 2.3, 0.3),
    )


CAMERA = Pose((2.0, 1.2, 0.5))  # looking along +z at the far wall z = 5


def _pixel(point: tuple[float, float, float], k: np.ndarray, pose: Pose = CAMERA) -> tuple[int, int]:
    """(row, col) of a world point seen from ``pose``."""
    cam = (np.asarray(point) - np.asarray(pose.position_m)) @ pose.rotation()
    return round(k[1, 1] * cam[1] / cam[2] + k[1, 2]), round(k[0, 0] * cam[0] / cam[2] + k[0, 2])


def test_frames_are_deterministic_by_seed_and_index() -> None:
    a = SyntheticScenes(SIZE, seed=3).frame(7)
    scenes = SyntheticScenes(SIZE, seed=3)
    scenes.frame(40)  # another room rendered first must not matter
    b = scenes.frame(7)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    c = SyntheticScenes(SIZE, seed=4).frame(7)
    assert not np.array_equal(a.rgb, c.rgb)


def test_rooms_and_frames_match_the_recorded_hashes() -> None:
    """Pins what a seed gives: refactors of the generator must keep rooms and frames byte-identical.

    The room and path come from the seeded generator alone (portable); the frame hash also
    depends on numpy/OpenCV float maths, so a library upgrade may need it re-recorded.
    """
    scenes = SyntheticScenes((60, 80), 3, frames_per_room=30)
    room, path = scenes.scene(0)
    assert hashlib.sha256(repr((room, path)).encode()).hexdigest()[:16] == "c318b6dbe4c20c14"
    sample = scenes.frame(7)
    assert sample.labels is not None
    planes = (sample.rgb, sample.depth_m, sample.labels)
    digest = hashlib.sha256(b"".join(np.ascontiguousarray(a).tobytes() for a in planes)).hexdigest()
    assert digest[:16] == "ed5c20887f24ef37"


def test_frame_record_types_and_classes() -> None:
    scenes = SyntheticScenes(SIZE, seed=0, frames_per_room=1)
    seen: set[int] = set()
    for i in range(12):
        rgb, depth, labels, k = scenes.frame(i)
        assert rgb.shape == (*SIZE, 3) and rgb.dtype == np.uint8
        assert depth.shape == SIZE and depth.dtype == np.float32
        assert labels is not None and labels.shape == SIZE and labels.dtype == np.uint8
        np.testing.assert_allclose(k, kinect_intrinsics(SIZE))
        mm = depth.astype(np.float64) * 1000.0
        np.testing.assert_allclose(mm, np.round(mm), atol=1e-3)  # whole millimetres: 16UC1 is lossless
        seen |= set(np.unique(labels).tolist())
    assert seen <= set(CLASSES) | {VOID}
    assert {WALL, FLOOR, CABINET} <= seen


def test_consecutive_frames_are_one_room_seen_by_a_moving_camera() -> None:
    scenes = SyntheticScenes(SIZE, seed=0, frames_per_room=10)
    assert scenes.scene(0) == scenes.scene(0) and scenes.scene(0)[0] != scenes.scene(1)[0]
    poses = [scenes.pose(i) for i in range(10)]
    steps = [np.linalg.norm(np.subtract(a.position_m, b.position_m)) for a, b in itertools.pairwise(poses)]
    turns = [abs(a.yaw_rad - b.yaw_rad) for a, b in itertools.pairwise(poses)]
    assert max(steps) < 0.25 and max(turns) < 0.2


def test_known_box_gives_expected_depth_and_label() -> None:
    box = Solid(Shape.BOX, CABINET, WOOD, (2.0, 1.2, 3.0), (0.3, 0.3, 0.3))
    ball = Solid(Shape.SPHERE, OTHERPROP, WOOD, (1.0, 0.5, 2.5), (0.25, 0.25, 0.25))
    size = (480, 640)
    sample = render(_room((box, ball)), CAMERA, size)
    k = kinect_intrinsics(size)
    r, c = _pixel((2.0, 1.2, 2.7), k)  # centre of the box's front face
    assert sample.labels is not None
    assert sample.labels[r, c] == CABINET
    assert sample.depth_m[r, c] == pytest.approx(2.2, abs=0.0015)  # z-depth of the face: 2.7 - 0.5
    # The sphere's nearest point towards the camera, and the far wall beside the box.
    r, c = _pixel((1.0, 0.5, 2.5), k)
    assert sample.labels[r, c] == OTHERPROP
    assert 1.7 < sample.depth_m[r, c] < 2.0
    r, c = _pixel((3.0, 1.8, 5.0), k)
    assert sample.labels[r, c] == WALL and sample.depth_m[r, c] == pytest.approx(4.5, abs=0.0015)
    # Floor in the bottom row: back-projected, every floor pixel lies at y = 0.
    rows, cols = np.nonzero(sample.labels == FLOOR)
    z = sample.depth_m[rows, cols]
    y_world = 1.2 - (rows - k[1, 2]) / k[1, 1] * z
    np.testing.assert_allclose(y_world, 0.0, atol=0.003)


def test_yaw_rotated_box_hides_the_wall_behind_it() -> None:
    box = Solid(Shape.BOX, CABINET, WOOD, (2.0, 1.2, 3.0), (0.5, 0.3, 0.05), yaw_rad=np.pi / 2)
    sample = render(_room((box,)), CAMERA, SIZE)
    k = kinect_intrinsics(SIZE)
    r, c = _pixel((2.0, 1.2, 2.5), k)
    assert sample.labels is not None and sample.labels[r, c] == CABINET
    assert sample.depth_m[r, c] == pytest.approx(2.0, abs=0.003)  # rotated 90 deg: 0.5 m deep towards us


def test_sensor_defects_have_plausible_statistics() -> None:
    scenes = SyntheticScenes(SIZE, seed=1, frames_per_room=1)
    zero_fraction = [float((scenes.frame(i).depth_m == 0).mean()) for i in range(10)]
    assert 0.003 < np.mean(zero_fraction) < 0.4  # NYUv2's raw depth: about 35 %, its border included
    # Noise grows with range: compare with the ideal depth of the same view (a box 1 m away,
    # the far wall at 4.5 m).
    room = _room((Solid(Shape.BOX, CABINET, WOOD, (1.2, 1.2, 1.8), (0.4, 0.4, 0.3)),))
    ideal = render(room, CAMERA, (240, 320)).depth_m
    noisy = render(room, CAMERA, (240, 320), sensor=SensorModel(), rng=np.random.default_rng(0)).depth_m
    ok = (noisy > 0) & (ideal > 0)
    err, z = np.abs(noisy - ideal)[ok], ideal[ok]
    near, far = np.median(err[z < 1.5]), np.median(err[z > 4.0])
    assert near < 0.003 and 0.01 < far < 0.05  # sigma 1.2 mm + 1.9 mm (z - 0.4)^2: 1.5 mm vs 32 mm


def test_windows_and_far_range_give_no_return() -> None:
    glass = Material((0.8, 0.9, 1.0), Pattern.GLASS, (0.5, 0.7, 1.0), depth_return=0.0)
    window = Decal(Surface.WALL_Z1, (1.0, 0.9, 3.0, 2.0), 8, glass)
    sample = render(_room(decals=(window,)), CAMERA, SIZE, sensor=SensorModel(), rng=np.random.default_rng(0))
    assert sample.labels is not None
    assert np.all(sample.depth_m[sample.labels == 8] == 0.0)
    short = SensorModel(max_range_m=4.0)
    far = render(_room(), CAMERA, SIZE, sensor=short, rng=np.random.default_rng(0))
    assert far.depth_m.max() <= 4.0 + 0.1 and (far.depth_m == 0).mean() > 0.2


def test_complementary_cues_painted_cabinet_and_flush_picture() -> None:
    # Geometry only: a cabinet made of the wall's paint, 0.5 m in front of the wall.
    cabinet = Solid(Shape.BOX, CABINET, PAINT, (2.0, 1.0, 4.75), (0.6, 1.0, 0.25))
    # Appearance only: a picture on the same wall and a rug on the floor, both flush.
    art = Material((0.9, 0.1, 0.1), Pattern.PICTURE, (0.1, 0.2, 0.9), 0.3, (1.0, 0.0, 0.0), (0.0, 1.0, 0.0))
    picture = Decal(Surface.WALL_Z1, (0.4, 1.2, 1.2, 1.8), PICTURE, art)
    rug = Decal(Surface.FLOOR, (1.5, 3.4, 2.5, 4.3), FLOOR_MAT, Material((0.2, 0.6, 0.3)))
    sample = render(_room((cabinet,), (picture, rug)), CAMERA, (240, 320))
    k = kinect_intrinsics((240, 320))
    rgb = sample.rgb.astype(np.float64)
    labels = sample.labels
    assert labels is not None

    def patch(point: tuple[float, float, float]) -> tuple[np.ndarray, float, int]:
        """Mean colour of a 5x5 patch around the point's pixel, its depth and its label."""
        r, c = _pixel(point, k)
        colour = rgb[r - 2 : r + 3, c - 2 : c + 3].mean(axis=(0, 1))
        return colour, float(sample.depth_m[r, c]), int(labels[r, c])

    box_rgb, box_z, box_label = patch((2.0, 1.5, 4.5))
    wall_rgb, wall_z, wall_label = patch((3.0, 1.5, 5.0))
    assert (box_label, wall_label) == (CABINET, WALL)
    assert np.abs(box_rgb - wall_rgb).max() < 12  # RGB can barely tell them apart ...
    assert wall_z - box_z > 0.4  # ... depth sees a clear step

    pic_rgb, pic_z, pic_label = patch((0.8, 1.5, 5.0))
    wall_rgb, wall_z, _ = patch((0.8, 2.0, 5.0))  # just above the picture
    assert pic_label == PICTURE
    assert np.abs(pic_rgb - wall_rgb).max() > 30  # appearance differs ...
    assert abs(pic_z - wall_z) < 0.02  # ... depth is that of the wall around it

    r, c = _pixel((2.0, 0.0, 3.9), k)
    assert labels[r, c] == FLOOR_MAT
    rows, cols = np.nonzero(labels == FLOOR_MAT)
    y_world = 1.2 - (rows - k[1, 2]) / k[1, 1] * sample.depth_m[rows, cols]
    np.testing.assert_allclose(y_world, 0.0, atol=0.003)  # the rug is exactly the floor plane


def test_generated_rooms_carry_both_kinds_of_cue() -> None:
    """Appearance-only cues in (almost) every room; geometry-only ones in the share drawn for them
    (less where no wall slot is free)."""
    scenes = SyntheticScenes(SIZE, seed=0, frames_per_room=1)
    rooms = [scenes.scene(i)[0] for i in range(100)]
    painted = [any(s.label == CABINET and s.material in r.walls for s in r.solids) for r in rooms]
    platform = [any(s.label == BED and s.material == r.floor for s in r.solids) for r in rooms]
    pictures = [any(d.label == PICTURE for d in r.decals) for r in rooms]
    rugs = [any(d.label == FLOOR_MAT for d in r.decals) for r in rooms]
    for name, flags in {"picture": pictures, "rug": rugs}.items():
        assert np.mean(flags) >= 0.85, name
    drawn = {"painted cabinet": (painted, PAINTED_CABINET_P), "platform": (platform, PLATFORM_P)}
    for name, (flags, share) in drawn.items():
        assert share / 2 <= np.mean(flags) <= share + 0.15, name


def test_open_dataset_synthetic_splits_are_disjoint_and_sized() -> None:
    train = open_dataset("synthetic", split="train", size=(64, 80), frames=3, seed=0)
    val = open_dataset("synthetic", split="val", size=(64, 80), frames=3, seed=0)
    assert len(train) == 3 and train[0].rgb.shape == (64, 80, 3)
    assert not np.array_equal(train[0].rgb, val[0].rgb)
    assert len({split_seed(0, s) for s in ("train", "val", "test")} | {split_seed(1, "train")}) == 4
    np.testing.assert_array_equal(train[-1].rgb, train[2].rgb)
    with pytest.raises(IndexError):
        train[3]
    with pytest.raises(DatasetError, match="unknown dataset spec"):
        open_dataset("imagenet", split="train", size=(64, 80))
    with pytest.raises(DatasetError, match="unknown split"):
        open_dataset("synthetic", split="dev", size=(64, 80))


def test_nyu_frame_border_and_disparity_quantisation() -> None:
    """With the NYUv2 frame: no depth outside rows 44-469 / cols 35-599 (at 640x480, scaled) and a
    white void border in RGB; measured depths sit on the 1/8-pixel disparity grid."""
    size = (240, 320)
    framed = SensorModel(border_prob=1.0, speckle=0.0)
    sample = render(_room(), CAMERA, size, sensor=framed, rng=np.random.default_rng(1))
    assert sample.labels is not None
    assert np.all(sample.depth_m[:22] == 0) and np.all(sample.depth_m[235:] == 0)
    assert np.all(sample.depth_m[:, :17] == 0) and np.all(sample.depth_m[:, 300:] == 0)
    assert (sample.depth_m[22:235, 18:300] > 0).mean() > 0.9
    assert np.all(sample.rgb[:3] == 255) and np.all(sample.labels[:3] == VOID)
    assert np.all(sample.rgb[:, -3:] == 255) and np.all(sample.labels[:, -3:] == VOID)
    assert (sample.labels[3:-3, 3:-3] != VOID).all()
    disparity = framed.baseline_px_m / sample.depth_m[sample.depth_m > 3.0]
    steps = disparity / framed.disparity_step_px
    np.testing.assert_allclose(steps, np.round(steps), atol=0.02)  # mm rounding blurs it a little
    bare = render(_room(), CAMERA, size, sensor=SensorModel(border_prob=0.0), rng=np.random.default_rng(1))
    assert (bare.depth_m[:22] > 0).mean() > 0.5 and bare.labels is not None and (bare.labels != VOID).all()


def test_room_types_bring_real_furniture_classes() -> None:
    """Across rooms, the generator places the furniture of real rooms, each under its NYU40 class."""
    scenes = SyntheticScenes(SIZE, seed=0, frames_per_room=1)
    labels: set[int] = set()
    for i in range(80):
        room = scenes.scene(i)[0]
        labels |= {s.label for s in room.solids} | {d.label for d in room.decals}
    assert labels <= set(CLASSES) | {VOID}
    expected = {SOFA, BOOKSHELF, BOOKS, PILLOW, DESK, COUNTER, TELEVISION, NIGHT_STAND, CURTAIN, CHAIR, BED}
    expected |= {BATHTUB, SHOWER_CURTAIN, TOILET, SINK, MIRROR, TOWEL}
    assert expected <= labels, expected - labels


def _extent_y(solids: list[Solid]) -> tuple[float, float]:
    """Lowest and highest point (metres above the floor) of a set of solids."""
    return (
        min(s.center_m[1] - (s.half_m[0] if s.shape is Shape.SPHERE else s.half_m[1]) for s in solids),
        max(s.center_m[1] + (s.half_m[0] if s.shape is Shape.SPHERE else s.half_m[1]) for s in solids),
    )


def test_people_stand_on_the_floor_or_sit_on_the_seat() -> None:
    """A standing body is as tall as drawn (1.55-1.9 m, within a head's rounding); a seated one
    has its feet on the floor, its thighs resting on the seat and its head lower than standing."""
    for seed in range(5):
        layout = RoomLayout(np.random.default_rng(seed), (5.0, 2.8, 5.0))
        person(layout)
        low, high = _extent_y(layout.solids)
        assert all(s.label == PERSON for s in layout.solids)
        assert low == pytest.approx(0.0, abs=1e-9) and 1.4 < high < 1.95

        layout = RoomLayout(np.random.default_rng(seed), (5.0, 2.8, 5.0))
        seated_person(layout, local_frame(2.0, 2.0, 0.5), 0.5, seat=0.45, back=-0.18)
        low, high = _extent_y(layout.solids)
        assert low == pytest.approx(0.0, abs=1e-9) and 1.0 < high < 1.5
        thighs = [s for s in layout.solids if s.shape is Shape.BOX and s.half_m[2] > 0.15]
        assert len(thighs) == 2
        assert all(t.center_m[1] - t.half_m[1] == pytest.approx(0.45) for t in thighs)
