"""Kinect-like sensor defects: what the colour camera and the depth sensor make of the scene.

The renderer hands over ideal radiance and exact depth; :class:`SensorModel` says how far a
real camera strays from them, and the two functions here apply it with a seeded generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist

import cv2
import numpy as np


@dataclass(frozen=True)
class SensorModel:
    """An RGB-D camera's imperfections (defaults: Kinect v1 / NYUv2-like).

    Depth: valid from ``min_range_m`` to ``max_range_m``; axial noise sigma = a + b (z - z0)^2
    with ``noise_m`` = (a, b, z0) in metres; a projector shadow ``shadow_px`` wide (at 640 px
    width) behind depth steps; a fraction ``edge_keep`` of pixels kept right at steps; no return
    below ``grazing_cos`` (|cos| of the incidence angle); a ``speckle`` fraction of random holes.
    RGB: Gaussian noise ``rgb_noise`` (8-bit levels), lens blur ``rgb_blur_px`` (sigma at 640 px
    width) and ``vignette`` (brightness lost in the corners).
    """

    min_range_m: float = 0.5
    max_range_m: float = 9.0
    noise_m: tuple[float, float, float] = (0.0012, 0.0019, 0.4)
    shadow_px: int = 7
    edge_keep: float = 0.25
    grazing_cos: float = 0.08
    speckle: float = 0.002
    rgb_noise: float = 2.0
    rgb_blur_px: float = 0.7
    vignette: float = 0.25


KINECT_V1 = SensorModel()
"""The default sensor: Kinect v1 as in NYUv2."""


@lru_cache(maxsize=1)
def _normal_table() -> np.ndarray:
    """Standard normal quantiles at 256 levels: cheap Gaussian noise from random bytes."""
    dist = NormalDist()
    return np.array([dist.inv_cdf((i + 0.5) / 256) for i in range(256)], dtype=np.float32)


def _gaussian(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal noise (quantised to 256 levels), several times faster than rng.standard_normal."""
    idx = np.frombuffer(rng.bytes(math.prod(shape)), dtype=np.uint8).reshape(shape)
    return np.take(_normal_table(), idx)


@lru_cache(maxsize=8)
def _vignette(h: int, w: int, strength: float) -> np.ndarray:
    """(H, W, 1) gain falling off with the squared distance from the centre (1 - strength in corners)."""
    y = (np.arange(h, dtype=np.float32) - (h - 1) / 2) / (h / 2)
    x = (np.arange(w, dtype=np.float32) - (w - 1) / 2) / (w / 2)
    gain = 1.0 - np.float32(strength / 2) * (y[:, None] ** 2 + x[None, :] ** 2)
    gain.setflags(write=False)
    return gain[..., None]


def camera_rgb(rgb: np.ndarray, sensor: SensorModel, rng: np.random.Generator) -> np.ndarray:
    """What the colour camera makes of the radiance: lens blur, vignetting, sensor noise."""
    h, w = rgb.shape[:2]
    sigma = sensor.rgb_blur_px * w / 640
    if sigma > 0.1:
        rgb = cv2.GaussianBlur(rgb, (0, 0), sigma)
    if sensor.vignette:
        rgb = rgb * _vignette(h, w, sensor.vignette)
    return rgb + _gaussian(rng, (h, w, 3)) * np.float32(sensor.rgb_noise)


def sensor_depth(
    depth: np.ndarray,
    view_cos: np.ndarray,
    returns: np.ndarray | None,
    sensor: SensorModel,
    rng: np.random.Generator,
) -> np.ndarray:
    """Kinect-like measurement of the true depth: noise, then the holes a real sensor leaves."""
    h, w = depth.shape
    a, b, z0 = sensor.noise_m
    sigma = a + b * (depth - z0) ** 2
    noisy = depth + sigma * _gaussian(rng, (h, w))
    valid = (depth >= sensor.min_range_m) & (depth <= sensor.max_range_m) & (view_cos >= sensor.grazing_cos)
    # Projector shadow: a pixel with a clearly nearer surface just to its right gets no pattern;
    # pixels right at a discontinuity are ragged (some kept, most lost).
    shadow = max(2, round(sensor.shadow_px * w / 640))
    kernel = np.ones((1, shadow + 1), np.uint8)
    near_right = cv2.erode(depth, kernel, anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)
    square = np.ones((3, 3), np.uint8)
    near_any, far_any = cv2.erode(depth, square), cv2.dilate(depth, square)
    step = 0.05 + 0.02 * depth
    keep = rng.random((h, w), dtype=np.float32)
    valid &= ~(depth - near_right > step)
    valid &= ~(((far_any - near_any) > step) & (keep > sensor.edge_keep))
    valid &= keep >= sensor.speckle
    if returns is not None:  # poor reflectors lose their return in blotches, not salt-and-pepper
        small = rng.random((max(h // 12, 2), max(w // 12, 2)), dtype=np.float32)
        valid &= cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR) < returns.reshape(h, w)
    return np.where(valid, noisy, np.float32(0.0))
