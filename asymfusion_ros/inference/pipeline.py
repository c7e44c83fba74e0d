"""The Segmenter: camera-size RGB-D in, camera-size labels and confidence out, any network size.

Resizing in: RGB by area averaging when shrinking (linear when enlarging), depth by nearest
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

import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from asymfusion_ros.classes import ClassSet
from asymfusion_ros.inference.backends import Backend, load_backend
from asymfusion_ros.inference.errors import BackendError

ASPECT_TOLERANCE = 0.01


class Segmentation(NamedTuple):
    """One frame's result at camera resolution; ``timings_ms``: preprocess, backend, postprocess."""

    labels: np.ndarray  # (H, W) uint8, uint16 past 255 classes
    confidence: np.ndarray  # (H, W) float32, max softmax
    timings_ms: dict[str, float]


@dataclass(frozen=True)
class Fit:
    """Where a camera frame goes inside the network input: a (top, left, height, width) window."""

    top: int
    left: int
    height: int
    width: int

    @property
    def whole(self) -> bool:
        return self.top == 0 and self.left == 0

    @classmethod
    def of(cls, camera: tuple[int, int], network: tuple[int, int]) -> Fit:
        (ch, cw), (nh, nw) = camera, network
        if abs((cw / ch) / (nw / nh) - 1.0) <= ASPECT_TOLERANCE:
            return cls(0, 0, nh, nw)
        scale = min(nh / ch, nw / cw)
        height, width = min(nh, round(ch * scale)), min(nw, round(cw * scale))
        return cls((nh - height) // 2, (nw - width) // 2, height, width)


class Segmenter:
    """A Backend plus the resizing between camera and network (see the module docstring)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.input_size = backend.input_size
        self._fits: dict[tuple[int, int], Fit] = {}

    @classmethod
    def from_path(
        cls,
        path: str | Path,
        backend: str = "auto",
        precision: str = "fp16",
        device: int = 0,
        threads: int | None = None,
    ) -> Segmenter:
        return cls(load_backend(path, backend=backend, precision=precision, device=device, threads=threads))

    @property
    def classes(self) -> ClassSet:
        return self.backend.classes

    def describe(self) -> str:
        return self.backend.describe()

    def segment(self, rgb: np.ndarray, depth_m: np.ndarray) -> Segmentation:
        """Labels and confidence for a camera frame, at its own resolution."""
        _check_frame(rgb, depth_m)
        camera = (int(rgb.shape[0]), int(rgb.shape[1]))
        fit = self._fits.get(camera)
        if fit is None:
            fit = self._fits[camera] = Fit.of(camera, self.input_size)
        t0 = time.perf_counter()
        net_rgb, net_depth = to_network(rgb, depth_m, fit, self.input_size)
        t1 = time.perf_counter()
        labels, confidence = self.backend.run(net_rgb, net_depth)
        t2 = time.perf_counter()
        labels, confidence = _to_camera(labels, fit, camera), _to_camera(confidence, fit, camera)
        t3 = time.perf_counter()
        timings = {"preprocess": (t1 - t0) * 1e3, "backend": (t2 - t1) * 1e3, "postprocess": (t3 - t2) * 1e3}
        return Segmentation(labels, confidence, timings)


def to_network(
    rgb: np.ndarray, depth_m: np.ndarray, fit: Fit, input_size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """A camera frame resized (and letterboxed if ``fit`` says so) to the network input."""
    size = (fit.width, fit.height)  # cv2 takes (width, height)
    if rgb.shape[:2] != (fit.height, fit.width):
        shrinking = fit.height * fit.width < rgb.shape[0] * rgb.shape[1]
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
        depth_m = cv2.resize(depth_m, size, interpolation=cv2.INTER_NEAREST)
    if fit.whole:
        return np.ascontiguousarray(rgb), np.ascontiguousarray(depth_m)
    net_rgb = np.zeros((*input_size, 3), np.uint8)
    net_depth = np.zeros(input_size, np.float32)
    window = (slice(fit.top, fit.top + fit.height), slice(fit.left, fit.left + fit.width))
    net_rgb[window] = rgb
    net_depth[window] = depth_m
    return net_rgb, net_depth


def _to_camera(plane: np.ndarray, fit: Fit, camera: tuple[int, int]) -> np.ndarray:
    window = plane[fit.top : fit.top + fit.height, fit.left : fit.left + fit.width]
    if window.shape == camera:
        return np.ascontiguousarray(window)
    return cv2.resize(window, (camera[1], camera[0]), interpolation=cv2.INTER_NEAREST)


def _check_frame(rgb: np.ndarray, depth_m: np.ndarray) -> None:
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise BackendError(f"rgb must be an (H, W, 3) uint8 array, got {_what(rgb)}")
    if not isinstance(depth_m, np.ndarray) or depth_m.dtype != np.float32 or depth_m.ndim != 2:
        raise BackendError(f"depth_m must be an (H, W) float32 array in metres, got {_what(depth_m)}")
    if depth_m.shape != rgb.shape[:2]:
        raise BackendError(f"depth_m {depth_m.shape} and rgb {rgb.shape[:2]} must have the same (H, W)")
    if min(rgb.shape[:2]) < 1:
        raise BackendError(f"empty frame: rgb shape {rgb.shape}")


def _what(array: object) -> str:
    if isinstance(array, np.ndarray):
        return f"{array.dtype} array of shape {array.shape}"
    return type(array).__name__
