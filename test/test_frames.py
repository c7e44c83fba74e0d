"""ros/frames.py: the depth and intrinsics checks the node and replay share, and the problems they count."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from asymfusion_ros.ros import frames, messages
from asymfusion_ros.ros.problems import FrameProblem, Problem

K = np.array([[500.0, 0.0, 320.0], [0.0, 500.0, 240.0], [0.0, 0.0, 1.0]])


def info(k: np.ndarray, height: int, width: int) -> SimpleNamespace:
    """A duck-typed CameraInfo, as rosbags gives it."""
    return SimpleNamespace(k=k.reshape(-1), height=height, width=width)


def test_clean_depth_of_the_right_size_passes_unchanged() -> None:
    depth = np.full((4, 5), 1.5, dtype=np.float32)
    out, found = frames.depth_like(depth, (4, 5))
    assert found == ()
    assert out is depth


def test_invalid_depth_becomes_zero() -> None:
    depth = np.array([[np.nan, np.inf, -1.0], [0.0, 2.0, 3.5]], dtype=np.float32)
    out, found = frames.depth_like(depth, (2, 3))
    assert found == ()
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[0, 0, 0], [0, 2.0, 3.5]])


def test_depth_of_another_size_is_resized_nearest_and_counted() -> None:
    depth = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    out, found = frames.depth_like(depth, (4, 6))
    assert out.shape == (4, 6)
    assert set(np.unique(out)) == {1.0, 2.0, 3.0, 4.0}  # nearest: no invented depths
    assert found == (FrameProblem(Problem.SIZE_MISMATCH, "depth (2, 2) resized to colour (6, 4)"),)


def test_no_valid_depth_is_counted_after_the_resize() -> None:
    out, found = frames.depth_like(np.full((2, 2), np.nan, dtype=np.float32), (3, 3))
    np.testing.assert_array_equal(out, np.zeros((3, 3), np.float32))
    assert [p.problem for p in found] == [Problem.SIZE_MISMATCH, Problem.INVALID_DEPTH]


def test_intrinsics_without_camera_info() -> None:
    k, found = frames.intrinsics(None, (480, 640))
    assert k is None
    assert [p.problem for p in found] == [Problem.MISSING_CAMERA_INFO]


def test_intrinsics_with_zero_k_are_missing() -> None:
    k, found = frames.intrinsics(info(np.zeros((3, 3)), 480, 640), (480, 640))
    assert k is None
    assert found == (
        FrameProblem(Problem.MISSING_CAMERA_INFO, "rgb/camera_info has no intrinsics (K is zero)"),
    )


def test_intrinsics_at_the_image_size_are_kept() -> None:
    k, found = frames.intrinsics(info(K, 480, 640), (480, 640))
    assert found == ()
    assert k is not None
    np.testing.assert_array_equal(k, K)


@pytest.mark.parametrize(("height", "width"), [(0, 0), (0, 640)])
def test_intrinsics_without_a_calibrated_size_are_not_scaled(height: int, width: int) -> None:
    k, found = frames.intrinsics(info(K, height, width), (240, 320))
    assert found == ()
    assert k is not None
    np.testing.assert_array_equal(k, K)


def test_intrinsics_scale_to_the_image_and_leave_the_message_alone() -> None:
    msg = info(K, 480, 640)
    k, found = frames.intrinsics(msg, (240, 320))
    assert k is not None
    np.testing.assert_allclose(k, [[250.0, 0.0, 160.0], [0.0, 250.0, 120.0], [0.0, 0.0, 1.0]])
    np.testing.assert_array_equal(msg.k, K.reshape(-1))
    assert found == (FrameProblem(Problem.SIZE_MISMATCH, "camera_info 640x480, image 320x240"),)


def test_problems_are_the_typed_vocabulary() -> None:
    """Frame checks and message errors report Problem members, never look-alike strings."""
    found = [
        *frames.depth_like(np.zeros((1, 1), np.float32), (2, 2))[1],
        *frames.intrinsics(None, (2, 2))[1],
    ]
    kinds = {p.problem for p in found}
    assert kinds == {Problem.SIZE_MISMATCH, Problem.INVALID_DEPTH, Problem.MISSING_CAMERA_INFO}
    assert all(type(kind) is Problem for kind in kinds)
    errors = (
        messages.MessageError,
        messages.EncodingError,
        messages.TruncatedError,
        messages.EmptyImageError,
    )
    assert all(type(error.problem) is Problem for error in errors)
