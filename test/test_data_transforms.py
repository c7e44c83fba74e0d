"""Transforms move every modality together and keep K consistent with the pixels."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

from asymfusion_ros.data.sample import RGBDSample, kinect_intrinsics
from asymfusion_ros.data.synthetic import SyntheticScenes, render
from asymfusion_ros.data.transforms import Augment, crop, fit, hflip, resize


def _coded(h: int = 48, w: int = 64, block: int = 4) -> RGBDSample:
    """Every modality carries the same block code, so misalignment shows as a mismatch."""
    code = ((np.arange(h)[:, None] // block) * 7 + (np.arange(w)[None, :] // block) * 3) % 40
    rgb = np.repeat(code[..., None], 3, axis=2).astype(np.uint8)
    return RGBDSample(rgb, (1.0 + code).astype(np.float32), code.astype(np.uint8), kinect_intrinsics((h, w)))


def _aligned(sample: RGBDSample) -> np.ndarray:
    """Inside blocks (label equal to its 8 neighbours, not void): do rgb and depth carry the
    label's code? Block edges are left out: bilinear rgb blends there, by design."""
    labels = sample.labels
    assert labels is not None
    square = np.ones((3, 3), np.uint8)
    inside = (cv2.erode(labels, square) == labels) & (cv2.dilate(labels, square) == labels) & (labels != 255)
    same_rgb = sample.rgb[..., 0] == labels
    same_depth = np.isclose(sample.depth_m, labels.astype(np.float32) + 1.0)
    return (same_rgb & same_depth)[inside]


def test_flip_twice_is_identity_and_mirrors_k() -> None:
    s = _coded()
    back = hflip(hflip(s))
    for a, b in zip(s, back, strict=True):
        np.testing.assert_array_equal(a, b)
    flipped = hflip(s)
    assert flipped.labels is not None and s.labels is not None
    np.testing.assert_array_equal(flipped.labels[:, 0], s.labels[:, -1])
    # A camera-frame point projects to u with K and to W-1-u with the flipped K after mirroring x.
    point = np.array([0.3, -0.2, 2.0])
    u = s.K @ point
    u_flip = flipped.K @ (point * [-1, 1, 1])
    assert u_flip[0] / u_flip[2] == pytest.approx(63 - u[0] / u[2])


def test_crop_pads_with_void_and_shifts_k() -> None:
    s = _coded()
    out = crop(s, -5, 10, (40, 64))
    assert out.rgb.shape == (40, 64, 3) and out.labels is not None
    assert np.all(out.labels[:5] == 255) and np.all(out.depth_m[:5] == 0) and np.all(out.rgb[:5] == 0)
    assert np.all(out.labels[:, 54:] == 255)  # past the right edge
    assert s.labels is not None
    np.testing.assert_array_equal(out.labels[5:, :54], s.labels[:35, 10:])
    assert out.K[0, 2] == pytest.approx(s.K[0, 2] - 10) and out.K[1, 2] == pytest.approx(s.K[1, 2] + 5)


def test_resize_matches_a_render_at_the_new_size() -> None:
    scenes = SyntheticScenes((240, 320), seed=2, sensor=None)
    big = scenes.frame(3)
    small = resize(big, (120, 160))
    np.testing.assert_allclose(small.K, kinect_intrinsics((120, 160)))
    direct = render(scenes.scene(0)[0], scenes.pose(3), (120, 160))
    assert small.labels is not None and direct.labels is not None
    assert (small.labels == direct.labels).mean() > 0.93  # differ only along edges


def test_augment_keeps_modalities_and_k_consistent() -> None:
    s = _coded()
    exact = Augment((32, 48), scale_range=(1.0, 1.0))  # crop + flip only: exact alignment
    for seed in range(5):
        out = exact(s, np.random.default_rng(seed))
        assert out.rgb.shape == (32, 48, 3) and out.depth_m.shape == (32, 48)
        assert _aligned(out).all()
    scaled = Augment((32, 48), scale_range=(0.5, 2.0))
    big_blocks = _coded(block=8)
    for seed in range(5):
        out = scaled(big_blocks, np.random.default_rng(seed))
        assert out.rgb.shape == (32, 48, 3)
        assert _aligned(out).mean() > 0.97
    a, b = scaled(s, np.random.default_rng(7)), scaled(s, np.random.default_rng(7))
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_augmented_k_predicts_the_augmented_pixels() -> None:
    """Scale + crop of a render equals (up to edges) a render with the updated K."""
    scenes = SyntheticScenes((120, 160), seed=5, sensor=None)
    sample = scenes.frame(2)
    out = Augment((96, 128), scale_range=(0.8, 1.6), flip_prob=0.0)(sample, np.random.default_rng(1))
    direct = render(scenes.scene(0)[0], scenes.pose(2), (96, 128), intrinsics=out.K)
    assert out.labels is not None and direct.labels is not None
    valid = out.labels != 255
    assert (out.labels == direct.labels)[valid].mean() > 0.9


def test_fit_covers_then_centre_crops() -> None:
    s = _coded(48, 64)
    out = fit(s, (48, 48))
    assert out.rgb.shape == (48, 48, 3) and out.K[0, 2] == pytest.approx(s.K[0, 2] - 8)
    assert out.labels is not None and np.all(out.labels != 255)
    with pytest.raises(ValueError, match="scale_range"):
        Augment((8, 8), scale_range=(2.0, 1.0))


def test_data_modules_are_numpy_only() -> None:
    """Training workers and the camera node load these without torch, ROS or h5py."""
    code = (
        "import sys, asymfusion_ros.data, asymfusion_ros.data.nyudv2, asymfusion_ros.data.transforms\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'rclpy', 'h5py'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_photometric_and_depth_augmentation_touch_only_their_modality() -> None:
    sample = SyntheticScenes((96, 128), seed=2, frames_per_room=1).frame(0)
    plain = Augment((64, 96), scale_range=(1.0, 1.0), flip_prob=0.0)
    strong = Augment(
        (64, 96), scale_range=(1.0, 1.0), flip_prob=0.0, color_jitter=0.4, blur_prob=1.0, depth_noise=0.05,
        depth_dropout=1.0,
    )  # fmt: skip
    base, out = plain(sample, np.random.default_rng(5)), strong(sample, np.random.default_rng(5))
    assert base.labels is not None and out.labels is not None
    np.testing.assert_array_equal(out.labels, base.labels)  # same geometry: same draws first
    np.testing.assert_array_equal(out.K, base.K)
    assert out.rgb.dtype == np.uint8 and np.abs(out.rgb.astype(int) - base.rgb).mean() > 2
    lost = (out.depth_m == 0) & (base.depth_m > 0)
    assert lost.any() and not ((out.depth_m > 0) & (base.depth_m == 0)).any()  # holes only grow
    kept = out.depth_m > 0
    rel = np.abs(out.depth_m[kept] / base.depth_m[kept] - 1.0)
    assert 0.0 < np.median(rel) < 0.05
    again = strong(sample, np.random.default_rng(5))
    np.testing.assert_array_equal(again.rgb, out.rgb)  # deterministic by the generator
    np.testing.assert_array_equal(again.depth_m, out.depth_m)
    for name in ("color_jitter", "blur_prob", "depth_noise", "depth_dropout", "rgb_dropout"):
        with pytest.raises(ValueError, match=name):
            Augment((64, 96), **{name: 1.5})


def test_rgb_dropout_flattens_colour_and_leaves_depth_and_labels() -> None:
    """Dropped colour is one flat grey (the crop's mean), so only depth tells the classes apart;
    without the option the same generator gives the same sample as before it existed."""
    sample = SyntheticScenes((96, 128), seed=2, frames_per_room=1).frame(0)
    plain = Augment((64, 96), scale_range=(1.0, 1.0), flip_prob=0.0)
    dropped = Augment((64, 96), scale_range=(1.0, 1.0), flip_prob=0.0, rgb_dropout=1.0)
    base, out = plain(sample, np.random.default_rng(5)), dropped(sample, np.random.default_rng(5))
    assert out.rgb.shape == base.rgb.shape and out.rgb.dtype == np.uint8
    assert (out.rgb == out.rgb[0, 0]).all()
    np.testing.assert_allclose(out.rgb[0, 0], base.rgb.reshape(-1, 3).mean(axis=0), atol=0.5)
    np.testing.assert_array_equal(out.depth_m, base.depth_m)
    assert out.labels is not None and base.labels is not None
    np.testing.assert_array_equal(out.labels, base.labels)
    kept = Augment((64, 96), scale_range=(1.0, 1.0), flip_prob=0.0, rgb_dropout=0.0)
    np.testing.assert_array_equal(kept(sample, np.random.default_rng(5)).rgb, base.rgb)
