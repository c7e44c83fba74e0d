"""Geometric transforms of an RGBDSample, applied identically to every modality.

Each transform moves rgb, depth and labels together and updates K, so the projection
``depth -> points`` stays right after augmentation. Interpolation follows what each modality
can stand: rgb area (shrinking) or bilinear (growing); depth and labels nearest, because
averaging across an edge invents depths and classes that are not there. Depth values (metres)
are never rescaled: a resized image is the same scene seen through a longer or shorter lens.
Padding: rgb 0, depth 0 (no return), labels 255 (void).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from asymfusion_ros.classes import IGNORE_INDEX
from asymfusion_ros.data.sample import RGBDSample, scale_intrinsics


def resize(sample: RGBDSample, size: tuple[int, int]) -> RGBDSample:
    """Resize every modality to ``size`` (H, W), K scaled to match."""
    h, w = sample.rgb.shape[:2]
    th, tw = size
    if (th, tw) == (h, w):
        return sample
    shrink = th * tw < h * w
    rgb = cv2.resize(sample.rgb, (tw, th), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    depth = cv2.resize(sample.depth_m, (tw, th), interpolation=cv2.INTER_NEAREST_EXACT)
    labels = None
    if sample.labels is not None:
        labels = cv2.resize(sample.labels, (tw, th), interpolation=cv2.INTER_NEAREST_EXACT)
    return RGBDSample(rgb, depth, labels, scale_intrinsics(sample.K, tw / w, th / h))


def crop(sample: RGBDSample, top: int, left: int, size: tuple[int, int]) -> RGBDSample:
    """The window ``size`` (H, W) at (top, left); parts outside the image are padded."""
    h, w = sample.rgb.shape[:2]
    th, tw = size
    rows, cols = slice(max(top, 0), min(top + th, h)), slice(max(left, 0), min(left + tw, w))
    dst = (slice(rows.start - top, rows.stop - top), slice(cols.start - left, cols.stop - left))

    def window(a: np.ndarray, fill: float) -> np.ndarray:
        if (top, left, th, tw) == (0, 0, h, w):
            return a
        out = np.full((th, tw, *a.shape[2:]), fill, dtype=a.dtype)
        out[dst] = a[rows, cols]
        return out

    k = sample.K.copy()
    k[0, 2] -= left
    k[1, 2] -= top
    labels = None if sample.labels is None else window(sample.labels, IGNORE_INDEX)
    return RGBDSample(window(sample.rgb, 0), window(sample.depth_m, 0.0), labels, k)


def hflip(sample: RGBDSample) -> RGBDSample:
    """Mirror left-right; the principal point mirrors with the image."""
    w = sample.rgb.shape[1]
    k = sample.K.copy()
    k[0, 2] = w - 1 - k[0, 2]
    labels = None if sample.labels is None else np.ascontiguousarray(sample.labels[:, ::-1])
    return RGBDSample(
        np.ascontiguousarray(sample.rgb[:, ::-1]), np.ascontiguousarray(sample.depth_m[:, ::-1]), labels, k
    )


def fit(sample: RGBDSample, size: tuple[int, int]) -> RGBDSample:
    """Scale to cover ``size`` keeping the aspect ratio, then centre-crop to it."""
    h, w = sample.rgb.shape[:2]
    th, tw = size
    s = max(th / h, tw / w)
    sh, sw = max(th, round(h * s)), max(tw, round(w * s))
    return crop(resize(sample, (sh, sw)), (sh - th) // 2, (sw - tw) // 2, size)


@dataclass(frozen=True)
class Augment:
    """Training augmentation: random scale, random crop to ``size`` (padded where the scaled
    image is smaller), random horizontal flip. ``size`` (H, W) is the output size; scales are
    relative to the scale at which the image would just cover ``size``."""

    size: tuple[int, int]
    scale_range: tuple[float, float] = (0.75, 1.5)
    flip_prob: float = 0.5

    def __post_init__(self) -> None:
        lo, hi = self.scale_range
        if not 0 < lo <= hi:
            raise ValueError(f"scale_range must satisfy 0 < lo <= hi, got {self.scale_range}")
        if not 0.0 <= self.flip_prob <= 1.0:
            raise ValueError(f"flip_prob must be in [0, 1], got {self.flip_prob}")

    def __call__(self, sample: RGBDSample, rng: np.random.Generator) -> RGBDSample:
        h, w = sample.rgb.shape[:2]
        th, tw = self.size
        lo, hi = self.scale_range
        s = max(th / h, tw / w) * math.exp(rng.uniform(math.log(lo), math.log(hi)))
        scaled = resize(sample, (max(1, round(h * s)), max(1, round(w * s))))
        sh, sw = scaled.rgb.shape[:2]
        top = int(rng.integers(min(0, sh - th), max(0, sh - th) + 1))
        left = int(rng.integers(min(0, sw - tw), max(0, sw - tw) + 1))
        out = crop(scaled, top, left, self.size)
        return hflip(out) if rng.random() < self.flip_prob else out
