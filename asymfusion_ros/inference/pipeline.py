"""The Segmenter: camera-size RGB-D in, camera-size labels and confidence out, any network size.

The resizing between camera and network (area/nearest, letterboxing when aspect ratios
differ) is letterbox.py; the backend comes from loader.py.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

from asymfusion_ros.classes import ClassSet
from asymfusion_ros.inference.base import Backend
from asymfusion_ros.inference.errors import BackendError
from asymfusion_ros.inference.letterbox import Fit, to_camera, to_network
from asymfusion_ros.inference.loader import load_backend


class Segmentation(NamedTuple):
    """One frame's result at camera resolution; ``timings_ms``: preprocess, backend, postprocess."""

    labels: np.ndarray  # (H, W) uint8, uint16 past 255 classes
    confidence: np.ndarray  # (H, W) float32, max softmax
    timings_ms: dict[str, float]


class Segmenter:
    """A Backend plus the resizing between camera and network (letterbox.py)."""

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
        labels, confidence = to_camera(labels, fit, camera), to_camera(confidence, fit, camera)
        t3 = time.perf_counter()
        timings = {"preprocess": (t1 - t0) * 1e3, "backend": (t2 - t1) * 1e3, "postprocess": (t3 - t2) * 1e3}
        return Segmentation(labels, confidence, timings)


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
