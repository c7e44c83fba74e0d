"""Kinect-like sensor defects: what the colour camera and the depth sensor make of the scene.

The renderer hands over ideal radiance and exact depth; :class:`SensorModel` says how far a
real camera strays from them, and the functions here apply it with a seeded generator.
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
    Depth is measured as disparity ``baseline_px_m`` / z and quantised to ``disparity_step_px``,
    so depth steps grow with z squared (2.6 cm at 3 m for Kinect v1). With probability
    ``border_prob`` a frame has NYUv2's frame: no depth outside ``depth_window`` (rows, cols,
    end exclusive, at 640x480) and a white ``white_border_px`` RGB border labelled void.
    RGB, each drawn per frame up to the given value: Gaussian noise ``rgb_noise`` (8-bit
    levels), lens blur ``rgb_blur_px`` (sigma at 640 px width), ``vignette`` (brightness lost
    in the corners), white balance error ``white_balance`` (per-channel gain spread) and
    ``jpeg_prob`` of a JPEG round trip at quality 40-95. Auto exposure scales the image so its
    75th brightness percentile lands in ``exposure_target`` (8-bit), clipping highlights.
    """

    min_range_m: float = 0.5
    max_range_m: float = 9.0
    noise_m: tuple[float, float, float] = (0.0012, 0.0019, 0.4)
    shadow_px: int = 7
    edge_keep: float = 0.25
    grazing_cos: float = 0.08
    speckle: float = 0.002
    rgb_noise: float = 5.0
    rgb_blur_px: float = 1.5
    vignette: float = 0.4
    white_balance: float = 0.12
    jpeg_prob: float = 0.5
    exposure_target: tuple[float, float] = (120.0, 215.0)
    baseline_px_m: float = 43.5
    disparity_step_px: float = 0.125
    border_prob: float = 0.8
    depth_window: tuple[int, int, int, int] = (44, 470, 35, 600)
    white_border_px: int = 6


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
    """What the colour camera makes of the radiance: auto exposure and white balance, lens
    blur, vignetting, sensor noise, JPEG; the amounts drawn per frame from ``rng``."""
    h, w = rgb.shape[:2]
    wb = 1.0 + rng.uniform(-sensor.white_balance, sensor.white_balance, 3).astype(np.float32)
    bright = float(np.percentile(rgb[::4, ::4].mean(axis=2), 75))
    gain = rng.uniform(*sensor.exposure_target) / max(bright, 1.0)
    rgb = rgb * (wb * np.float32(gain))
    sigma = rng.uniform(0.3, 1.0) * sensor.rgb_blur_px * w / 640
    if sigma > 0.1:
        rgb = cv2.GaussianBlur(rgb, (0, 0), sigma)
    if sensor.vignette:
        rgb = rgb * _vignette(h, w, round(rng.uniform(0.0, sensor.vignette), 2))
    rgb = rgb + _gaussian(rng, (h, w, 3)) * np.float32(rng.uniform(0.3, 1.0) * sensor.rgb_noise)
    if rng.random() < sensor.jpeg_prob:
        quality = int(rng.integers(40, 96))
        ok, buf = cv2.imencode(
            ".jpg", np.clip(rgb, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, quality]
        )
        decoded = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if ok else None
        if decoded is not None:
            rgb = decoded.astype(np.float32)
    return rgb


def frame_border(h: int, w: int, sensor: SensorModel) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) masks of NYUv2's frame at this image size: pixels without depth, and the white
    RGB border (both scaled from 640x480)."""
    r0, r1, c0, c1 = sensor.depth_window
    sy, sx = h / 480, w / 640
    no_depth = np.ones((h, w), dtype=bool)
    no_depth[round(r0 * sy) : round(r1 * sy), round(c0 * sx) : round(c1 * sx)] = False
    b = max(1, round(sensor.white_border_px * sx)) if sensor.white_border_px else 0
    white = np.zeros((h, w), dtype=bool)
    if b:
        white[:b], white[-b:], white[:, :b], white[:, -b:] = True, True, True, True
    return no_depth, white


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
    if sensor.disparity_step_px > 0:  # the sensor measures disparity in sub-pixel steps
        fb, quantum = np.float32(sensor.baseline_px_m), np.float32(sensor.disparity_step_px)
        disparity = np.round(fb / np.maximum(noisy, np.float32(0.1)) / quantum) * quantum
        noisy = fb / np.maximum(disparity, quantum)
    return np.where(valid, noisy, np.float32(0.0))
