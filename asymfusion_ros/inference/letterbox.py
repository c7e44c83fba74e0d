"""Between camera and network size: where a frame goes in the network input, and back.

Resizing in: RGB by area averaging when shrinking (geometry.resize_rgb), depth by nearest
neighbour (averaging would invent depths across object edges and blend in invalid zeros).
Labels and confidence come back by nearest neighbour, so a label is always one the network
predicted, never an interpolated id.

Aspect ratio: when the camera's and the network's aspect ratios agree within 1 % the frame is
resized as a whole. Otherwise it is *letterboxed*: scaled to fit inside the network input
without distortion and centred, the border padded with black RGB and invalid (0) depth; only
the window that holds the image is mapped back. This keeps the camera's whole field of view
labelled (a centre crop would leave the borders without labels) and keeps object shapes as the
network was trained on them (a plain stretch would not).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice

import cv2
import numpy as np

from asymfusion_ros.geometry import resize_rgb

ASPECT_TOLERANCE = 0.01


@dataclass(frozen=True)
class Fit:
    """Where a camera frame goes inside the network input: a (top, left, height, width) window."""

    top: int
    left: int
    height: int
    width: int

    @property
    def whole(self) -> bool:
        """True when the frame fills the whole input (aspect ratios agree): no border."""
        return self.top == 0 and self.left == 0

    @classmethod
    def of(cls, camera: tuple[int, int], network: tuple[int, int]) -> Fit:
        """The window of a ``camera`` (H, W) frame inside a ``network`` (H, W) input."""
        (ch, cw), (nh, nw) = camera, network
        if abs((cw / ch) / (nw / nh) - 1.0) <= ASPECT_TOLERANCE:
            return cls(0, 0, nh, nw)
        scale = min(nh / ch, nw / cw)
        height, width = min(nh, round(ch * scale)), min(nw, round(cw * scale))
        return cls((nh - height) // 2, (nw - width) // 2, height, width)


def resize_frame(
    rgb: np.ndarray, depth_m: np.ndarray, size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """RGB (``resize_rgb``: area when shrinking) and depth (nearest) stretched to ``size`` (H, W)."""
    if rgb.shape[:2] == size:
        return rgb, depth_m
    depth_m = cv2.resize(depth_m, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
    return resize_rgb(rgb, size), depth_m


def to_network(
    rgb: np.ndarray, depth_m: np.ndarray, fit: Fit, input_size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """A camera frame resized (and letterboxed if ``fit`` says so) to the network input."""
    rgb, depth_m = resize_frame(rgb, depth_m, (fit.height, fit.width))
    if fit.whole:
        return np.ascontiguousarray(rgb), np.ascontiguousarray(depth_m)
    net_rgb = np.zeros((*input_size, 3), np.uint8)
    net_depth = np.zeros(input_size, np.float32)
    window = (slice(fit.top, fit.top + fit.height), slice(fit.left, fit.left + fit.width))
    net_rgb[window] = rgb
    net_depth[window] = depth_m
    return net_rgb, net_depth


def to_camera(plane: np.ndarray, fit: Fit, camera: tuple[int, int]) -> np.ndarray:
    """A network-size output plane cut to ``fit``'s window and resized, nearest, to ``camera`` (H, W)."""
    window = plane[fit.top : fit.top + fit.height, fit.left : fit.left + fit.width]
    if window.shape == camera:
        return np.ascontiguousarray(window)
    return cv2.resize(window, (camera[1], camera[0]), interpolation=cv2.INTER_NEAREST)


Frame = tuple[np.ndarray, np.ndarray]
"""(rgb (H, W, 3) uint8, depth_m (H, W) float32 metres)."""


def _check_frame(index: int, rgb: np.ndarray, depth: np.ndarray) -> None:
    if not (isinstance(rgb, np.ndarray) and rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3):
        found = f"{rgb.dtype} {rgb.shape}" if isinstance(rgb, np.ndarray) else type(rgb).__name__
        raise ValueError(f"frame {index}: rgb must be (H, W, 3) uint8, got {found}")
    if not (isinstance(depth, np.ndarray) and depth.dtype == np.float32 and depth.shape == rgb.shape[:2]):
        found = f"{depth.dtype} {depth.shape}" if isinstance(depth, np.ndarray) else type(depth).__name__
        raise ValueError(f"frame {index}: depth must be {rgb.shape[:2]} float32 metres, got {found}")


def fit_frames(frames: Iterable[Frame], input_size: tuple[int, int], *, limit: int) -> list[Frame]:
    """The first ``limit`` camera ``frames``, checked and fitted to the network ``input_size``.

    Calibration (TensorRT INT8, ONNX Runtime static quantisation) must see frames as the
    Segmenter feeds them, so they go through :func:`to_network`. All are read here: whatever
    reading them raises comes out now, and a ValueError names a frame of the wrong type or
    shape, or says there was none.
    """
    if limit < 1:
        raise ValueError(f"needs at least 1 frame, limit is {limit}")
    fitted = []
    for index, (rgb, depth) in enumerate(islice(frames, limit)):
        _check_frame(index, rgb, depth)
        fit = Fit.of((int(rgb.shape[0]), int(rgb.shape[1])), input_size)
        fitted.append(to_network(rgb, depth, fit, input_size))
    if not fitted:
        raise ValueError("the calibration source gave no frames")
    return fitted
