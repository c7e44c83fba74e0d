"""What the node does to a decoded frame before inference, shared with ``replay`` (no rclpy).

Depth is brought to the colour image's size and cleaned; K comes from the latest
camera_info, scaled when it was calibrated at another resolution. Neither raises on odd
input: each returns what it could make of it and the problems it found, so the node counts
them in its diagnostics and replay in its report, as the same ``problems.Problem``.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from asymfusion_ros.ros import messages
from asymfusion_ros.ros.problems import FrameProblem, Problem


def depth_like(depth_m: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, tuple[FrameProblem, ...]]:
    """Depth at colour resolution (nearest: no invented depths at edges), invalid (NaN, inf, <= 0) as 0."""
    found: list[FrameProblem] = []
    if depth_m.shape != shape:
        found.append(
            FrameProblem(
                Problem.SIZE_MISMATCH, f"depth {depth_m.shape[::-1]} resized to colour {shape[::-1]}"
            )
        )
        depth_m = cv2.resize(depth_m, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    valid = np.isfinite(depth_m) & (depth_m > 0)
    if not valid.all():
        depth_m = np.where(valid, depth_m, np.float32(0))
    if not valid.any():
        found.append(FrameProblem(Problem.INVALID_DEPTH, "no valid depth in the frame (all zero or NaN)"))
    return depth_m, tuple(found)


def intrinsics(info: Any, shape: tuple[int, int]) -> tuple[np.ndarray | None, tuple[FrameProblem, ...]]:
    """K of a CameraInfo (None before the first one) for an image of ``shape``; None: no cloud, no tags."""
    if info is None:
        return None, (
            FrameProblem(Problem.MISSING_CAMERA_INFO, "no rgb/camera_info yet: cloud and tags skipped"),
        )
    k = messages.camera_info_to_k(info)
    if not (k[0, 0] > 0 and k[1, 1] > 0):
        return None, (
            FrameProblem(Problem.MISSING_CAMERA_INFO, "rgb/camera_info has no intrinsics (K is zero)"),
        )
    if (info.height, info.width) != shape and info.height > 0 and info.width > 0:
        k = k.copy()
        k[0] *= shape[1] / info.width
        k[1] *= shape[0] / info.height
        detail = f"camera_info {info.width}x{info.height}, image {shape[1]}x{shape[0]}"
        return k, (FrameProblem(Problem.SIZE_MISMATCH, detail),)
    return k, ()
