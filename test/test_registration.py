"""registration.py: depth moved into the colour camera lands where the geometry of the scene says."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from asymfusion_ros.registration import DepthRegistration, PinholeCamera, register_depth, unregistered_reason


def pinhole(f: float, width: int, height: int) -> np.ndarray:
    return np.array([[f, 0, (width - 1) / 2], [0, f, (height - 1) / 2], [0, 0, 1]], dtype=np.float64)


DEPTH_SIZE, COLOUR_SIZE = (80, 60), (64, 48)  # (width, height); colour coarser: no upsampling gaps
DEPTH_K, COLOUR_K = pinhole(60.0, *DEPTH_SIZE), pinhole(48.0, *COLOUR_SIZE)
BASELINE_M = 0.05  # the colour camera sits 5 cm to the right (+x) of the depth camera


def shifted(dx: float) -> np.ndarray:
    """depth->colour for a colour camera at x = dx in the depth frame: p_colour = p_depth - (dx, 0, 0)."""
    transform = np.eye(4)
    transform[0, 3] = -dx
    return transform


def test_fronto_parallel_plane_lands_where_the_baseline_says() -> None:
    plane_m = 1.5
    depth = np.full(DEPTH_SIZE[::-1], plane_m, dtype=np.float32)
    registered = register_depth(depth, DEPTH_K, COLOUR_K, COLOUR_SIZE, shifted(BASELINE_M))
    assert registered.shape == COLOUR_SIZE[::-1] and registered.dtype == np.float32
    # Depth pixel u sees X = (u - cx_d) Z / f_d; the colour camera sees it at
    # u' = f_c (X - b) / Z + cx_c = (u - cx_d) f_c / f_d - f_c b / Z + cx_c (and v' likewise, no shift).
    v, u = np.mgrid[0 : DEPTH_SIZE[1], 0 : DEPTH_SIZE[0]]
    cx_d, cx_c, f_d, f_c = DEPTH_K[0, 2], COLOUR_K[0, 2], DEPTH_K[0, 0], COLOUR_K[0, 0]
    u_expected = (u - cx_d) * f_c / f_d - f_c * BASELINE_M / plane_m + cx_c
    v_expected = (v - DEPTH_K[1, 2]) * f_c / f_d + COLOUR_K[1, 2]
    inside = (u_expected > -0.5) & (u_expected < COLOUR_SIZE[0] - 0.5)
    hits = registered[np.rint(v_expected[inside]).astype(int), np.rint(u_expected[inside]).astype(int)]
    np.testing.assert_allclose(hits, plane_m, rtol=1e-6)
    # The view shifts left by f_c b / Z = 1.6 px: the right-hand band past the last depth column
    # is a hole, everything left of it is the plane.
    first_missing = int(np.floor(u_expected.max() + 0.5)) + 1
    assert first_missing == COLOUR_SIZE[0] - 1
    assert (registered[:, first_missing:] == 0).all()
    assert (registered[:, :first_missing] == np.float32(plane_m)).all()


def test_holes_stay_holes() -> None:
    depth = np.full(DEPTH_SIZE[::-1], 2.0, dtype=np.float32)
    depth[10:30, 20:40] = 0.0
    depth[35:55, 45:65] = np.nan
    registered = register_depth(depth, DEPTH_K, COLOUR_K, COLOUR_SIZE, shifted(0.0))
    # With no baseline a depth pixel (u, v) lands at 0.8 (u - cx_d) + cx_c: the holes shrink by 0.8.
    scale, cx_d, cy_d = 0.8, DEPTH_K[0, 2], DEPTH_K[1, 2]

    def to_colour(u: float, v: float) -> tuple[float, float]:
        return scale * (u - cx_d) + COLOUR_K[0, 2], scale * (v - cy_d) + COLOUR_K[1, 2]

    for (v0, v1), (u0, u1) in [((10, 29), (20, 39)), ((35, 54), (45, 64))]:
        (cu0, cv0), (cu1, cv1) = to_colour(u0, v0), to_colour(u1, v1)
        interior = registered[int(np.ceil(cv0)) + 1 : int(cv1), int(np.ceil(cu0)) + 1 : int(cu1)]
        assert interior.size > 0 and (interior == 0).all()
    assert np.isfinite(registered).all()
    assert (registered[:5, :5] == 2.0).all()


def test_nearest_surface_wins() -> None:
    """A box 0.6 m away in front of a wall at 2 m: seen from 20 cm to the side, it hides the wall."""
    depth = np.full(DEPTH_SIZE[::-1], 2.0, dtype=np.float32)
    depth[20:40, 30:50] = 0.6
    registered = register_depth(depth, DEPTH_K, COLOUR_K, COLOUR_SIZE, shifted(0.2))
    # The box shifts by f_c * b / Z = 48 * 0.2 / 0.6 = 16 px, the wall by 4.8 px: where both land
    # the box, nearer, is kept.
    box = np.isclose(registered, 0.6)
    assert box.sum() > 100
    assert set(np.unique(registered[box | (registered == 2.0)])) == {np.float32(0.6), np.float32(2.0)}
    centre_u = int(np.rint(0.8 * (39.5 - DEPTH_K[0, 2]) + COLOUR_K[0, 2] - 16))
    assert registered[int(COLOUR_K[1, 2]), centre_u] == pytest.approx(0.6)


def test_rotated_camera_against_opencv_projection() -> None:
    """A tilted plane, a colour camera turned 5 degrees and moved: OpenCV's projectPoints agrees."""
    v, u = np.mgrid[0 : DEPTH_SIZE[1], 0 : DEPTH_SIZE[0]].astype(np.float64)
    rays = np.stack([(u - DEPTH_K[0, 2]) / DEPTH_K[0, 0], (v - DEPTH_K[1, 2]) / DEPTH_K[1, 1]])
    depth = (2.0 / (1.0 + 0.3 * rays[0])).astype(np.float32)  # plane z = 2 - 0.3 x
    rvec = np.array([0.02, np.deg2rad(5.0), 0.01])
    tvec = np.array([-0.04, 0.01, 0.02])
    transform = np.eye(4)
    transform[:3, :3], transform[:3, 3] = cv2.Rodrigues(rvec)[0], tvec
    registered = register_depth(depth, DEPTH_K, COLOUR_K, COLOUR_SIZE, transform)

    points = np.stack([rays[0] * depth, rays[1] * depth, depth.astype(np.float64)], axis=-1).reshape(-1, 3)
    pixels = cv2.projectPoints(points, rvec, tvec, COLOUR_K, None)[0].reshape(-1, 2)
    z_colour = (points @ transform[:3, :3].T + tvec)[:, 2]
    inside = (
        (pixels > -0.5).all(axis=1)
        & (pixels[:, 0] < COLOUR_SIZE[0] - 0.5)
        & (pixels[:, 1] < COLOUR_SIZE[1] - 0.5)
    )
    cols, rows = np.rint(pixels[inside]).astype(int).T
    found = registered[rows, cols]
    # Several depth pixels share a colour pixel and the nearest is kept: never deeper than the
    # point's own depth, and within the plane's depth change across ~1.25 depth pixels.
    assert (found <= z_colour[inside] + 1e-5).all()
    np.testing.assert_allclose(found, z_colour[inside], atol=0.03)
    assert (registered > 0).mean() > 0.8


def test_bad_arguments() -> None:
    depth = np.ones((4, 5), dtype=np.float32)
    with pytest.raises(ValueError, match="4x4"):
        register_depth(depth, DEPTH_K, COLOUR_K, COLOUR_SIZE, np.eye(3))
    with pytest.raises(ValueError, match="focal"):
        register_depth(depth, np.zeros((3, 3)), COLOUR_K, COLOUR_SIZE, np.eye(4))
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        register_depth(depth[None], DEPTH_K, COLOUR_K, COLOUR_SIZE, np.eye(4))


def test_unregistered_reason() -> None:
    colour = PinholeCamera("camera_color_optical_frame", COLOUR_K, *COLOUR_SIZE)
    assert unregistered_reason(colour._replace(k=COLOUR_K.copy()), colour) is None
    other_frame = unregistered_reason(colour._replace(frame_id="camera_depth_optical_frame"), colour)
    assert "frame 'camera_depth_optical_frame'" in (other_frame or "")
    other_k = COLOUR_K.copy()
    other_k[0, 2] += 3.0
    assert "not the colour K" in (unregistered_reason(colour._replace(k=other_k), colour) or "")
    # The same K at another size: not registered. Half the size with K halved: registered (a resize).
    assert "at 32x24" in (unregistered_reason(colour._replace(width=32, height=24), colour) or "")
    half = np.diag([0.5, 0.5, 1.0]) @ COLOUR_K
    assert unregistered_reason(PinholeCamera(colour.frame_id, half, 32, 24), colour) is None
    assert "without a size" in (unregistered_reason(colour, colour._replace(width=0, height=0)) or "")


def test_modes_are_the_parameter_values() -> None:
    assert [mode.value for mode in DepthRegistration] == ["auto", "assume_registered", "off"]


def test_real_frame_with_no_extrinsic_is_unchanged(nyu_sample: Path) -> None:
    """A real NYUv2 depth frame (35 % holes) registered onto itself: every pixel, hole and value, kept."""
    raw = cv2.imread(str(sorted((nyu_sample / "depth").glob("*.png"))[0]), cv2.IMREAD_UNCHANGED)
    depth = raw.astype(np.float32) / 5000
    k = np.array([[518.8579, 0, 325.5824], [0, 519.4696, 253.7362], [0, 0, 1]])
    np.testing.assert_array_equal(register_depth(depth, k, k, (640, 480), np.eye(4)), depth)
