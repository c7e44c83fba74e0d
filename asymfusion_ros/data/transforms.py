"""Geometric transforms of an RGBDSample, applied identically to every modality, and the
photometric and depth-sensor perturbations of training augmentation.

Each transform moves rgb, depth and labels together and updates K, so the projection
``depth -> points`` stays right after augmentation. Interpolation follows what each modality
can stand: rgb area (shrinking) or bilinear (growing), as ``geometry.resize_rgb`` does for
every path; depth and labels nearest, because averaging across an edge invents depths and
classes that are not there. Depth values (metres) are never rescaled: a resized image is the
same scene seen through a longer or shorter lens. Padding: rgb 0, depth 0 (no return), labels 255 (void).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from asymfusion_ros.classes import IGNORE_INDEX
from asymfusion_ros.data.sample import RGBDSample, scale_intrinsics
from asymfusion_ros.geometry import resize_rgb


def resize(sample: RGBDSample, size: tuple[int, int]) -> RGBDSample:
    """Resize every modality to ``size`` (H, W), K scaled to match."""
    h, w = sample.rgb.shape[:2]
    th, tw = size
    if (th, tw) == (h, w):
        return sample
    rgb = resize_rgb(sample.rgb, size)
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


AUGMENT_STRENGTHS = ("flip_prob", "color_jitter", "blur_prob", "depth_noise", "depth_dropout", "rgb_dropout")
"""The :class:`Augment` fields that are probabilities or strengths in [0, 1]."""


@dataclass(frozen=True)
class Augment:
    """Training augmentation: random scale, random crop to ``size`` (padded where the scaled
    image is smaller), random horizontal flip; then what real cameras vary that a renderer
    may not: colour jitter (brightness, contrast, saturation up to ``color_jitter``, a small
    hue turn), a Gaussian blur with probability ``blur_prob``, relative depth noise of sigma up
    to ``depth_noise`` and, with probability ``depth_dropout``, blotches of lost depth (up to a
    third of the pixels). With probability ``rgb_dropout`` the colour image becomes flat grey
    (its own mean), so that a fused network learns to segment from depth when colour tells it
    nothing: synthetic colour is what transfers worst to real rooms (docs/real_rooms.md).
    ``size`` (H, W) is the output size; scales are relative to the scale at which the image
    would just cover ``size``. The photometric steps default to off."""

    size: tuple[int, int]
    scale_range: tuple[float, float] = (0.75, 1.5)
    flip_prob: float = 0.5
    color_jitter: float = 0.0
    blur_prob: float = 0.0
    depth_noise: float = 0.0
    depth_dropout: float = 0.0
    rgb_dropout: float = 0.0

    def __post_init__(self) -> None:
        lo, hi = self.scale_range
        if not 0 < lo <= hi:
            raise ValueError(f"scale_range must satisfy 0 < lo <= hi, got {self.scale_range}")
        for name in AUGMENT_STRENGTHS:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")

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
        out = hflip(out) if rng.random() < self.flip_prob else out
        if self.color_jitter or self.blur_prob:
            out = out._replace(rgb=jitter_rgb(out.rgb, rng, self.color_jitter, self.blur_prob))
        if self.depth_noise or self.depth_dropout:
            out = out._replace(depth_m=perturb_depth(out.depth_m, rng, self.depth_noise, self.depth_dropout))
        if self.rgb_dropout and rng.random() < self.rgb_dropout:
            out = out._replace(rgb=np.full_like(out.rgb, out.rgb.reshape(-1, 3).mean(axis=0).round()))
        return out


def jitter_rgb(rgb: np.ndarray, rng: np.random.Generator, strength: float, blur_prob: float) -> np.ndarray:
    """Random brightness, contrast and saturation (each a factor in 1 +- ``strength``), a hue
    turn of up to 18 degrees x ``strength``, and a blur (sigma 0.5-1.5 px) with ``blur_prob``."""
    out: np.ndarray = rgb.astype(np.float32)
    if strength:
        grey = out @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        sat = np.float32(1.0 + rng.uniform(-strength, strength))
        out = grey[..., None] + sat * (out - grey[..., None])
        contrast = np.float32(1.0 + rng.uniform(-strength, strength))
        out = (out - out.mean()) * contrast + out.mean()
        out *= np.float32(1.0 + rng.uniform(-strength, strength))
        hsv = cv2.cvtColor(np.clip(out, 0.0, 255.0) / np.float32(255.0), cv2.COLOR_RGB2HSV)
        hsv[..., 0] = (hsv[..., 0] + np.float32(rng.uniform(-18.0, 18.0) * strength)) % np.float32(360.0)
        out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * np.float32(255.0)
    if blur_prob and rng.random() < blur_prob:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 1.5))
    return np.clip(out + 0.5, 0.0, 255.0).astype(np.uint8)


def perturb_depth(depth_m: np.ndarray, rng: np.random.Generator, noise: float, dropout: float) -> np.ndarray:
    """Depth with relative Gaussian noise (sigma up to ``noise`` x depth) and, with probability
    ``dropout``, low-frequency blotches set to 0 (no return), as real sensors lose them."""
    h, w = depth_m.shape
    out = depth_m
    if noise:
        sigma = np.float32(rng.uniform(0.0, noise))
        out = out * (1.0 + sigma * rng.standard_normal((h, w), dtype=np.float32))
    if dropout and rng.random() < dropout:
        blotches = rng.random((max(h // 16, 2), max(w // 16, 2)), dtype=np.float32)
        lost = cv2.resize(blotches, (w, h), interpolation=cv2.INTER_LINEAR) < rng.uniform(0.02, 0.33)
        out = np.where(lost, np.float32(0.0), out)
    return np.where(depth_m > 0, out, np.float32(0.0)).astype(np.float32)
