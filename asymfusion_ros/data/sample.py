"""The one record every data source yields: an aligned RGB-D frame, its labels and intrinsics.

Synthetic scenes, NYUDv2 files, transforms and the training loop all speak this record, so a
loader can be swapped without touching the consumer.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import NamedTuple, overload

import numpy as np

KINECT_SIZE = (480, 640)
"""(H, W) at which :data:`KINECT_K` holds."""

KINECT_K = np.array([[518.8579, 0.0, 325.5824], [0.0, 519.4696, 253.7362], [0.0, 0.0, 1.0]], dtype=np.float64)
"""NYUv2 RGB camera (NYU toolbox ``camera_params.m``) at 640x480; distortion ignored."""


class DatasetError(ValueError):
    """A data source is unusable: missing or unreadable file, bad ids, mismatched sizes."""


class RGBDSample(NamedTuple):
    """One aligned RGB-D frame.

    ``rgb`` (H, W, 3) uint8; ``depth_m`` (H, W) float32 metres, 0 = no return; ``labels`` (H, W)
    uint8 NYU40 ids 0..39 with 255 = void, or None where unlabelled; ``K`` (3, 3) float64.
    """

    rgb: np.ndarray
    depth_m: np.ndarray
    labels: np.ndarray | None
    K: np.ndarray


def scale_intrinsics(k: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """K of the same camera after resizing the image by (sx, sy) (pixel-centre convention)."""
    out = np.array(k, dtype=np.float64, copy=True)
    out[0, 0] *= sx
    out[1, 1] *= sy
    out[0, 2] = (k[0, 2] + 0.5) * sx - 0.5
    out[1, 2] = (k[1, 2] + 0.5) * sy - 0.5
    return out


def kinect_intrinsics(size: tuple[int, int]) -> np.ndarray:
    """Kinect-like K for an (H, W) image: the NYUv2 camera scaled from 640x480."""
    h, w = size
    return scale_intrinsics(KINECT_K, w / KINECT_SIZE[1], h / KINECT_SIZE[0])


def check_sample(sample: RGBDSample, source: str = "sample") -> RGBDSample:
    """Return ``sample`` if its arrays agree in shape and dtype, else raise DatasetError naming ``source``."""
    rgb, depth, labels, k = sample
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise DatasetError(f"{source}: rgb must be (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
    if depth.shape != rgb.shape[:2] or depth.dtype != np.float32:
        raise DatasetError(
            f"{source}: depth must be {rgb.shape[:2]} float32, got {depth.shape} {depth.dtype}"
        )
    if labels is not None and (labels.shape != rgb.shape[:2] or labels.dtype != np.uint8):
        raise DatasetError(
            f"{source}: labels must be {rgb.shape[:2]} uint8, got {labels.shape} {labels.dtype}"
        )
    if k.shape != (3, 3):
        raise DatasetError(f"{source}: K must be 3x3, got {k.shape}")
    return sample


class FrameSequence(Sequence[RGBDSample]):
    """A lazy, indexable list of frames: subclasses give ``__len__`` and ``_load(i)``; frames are
    read or rendered only when indexed, so a data loader's workers share nothing."""

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def _load(self, index: int) -> RGBDSample:
        """Frame ``index``, 0 <= index < len(self)."""

    @overload
    def __getitem__(self, index: int) -> RGBDSample: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[RGBDSample]: ...

    def __getitem__(self, index: int | slice) -> RGBDSample | Sequence[RGBDSample]:
        if isinstance(index, slice):
            return [self._load(i) for i in range(*index.indices(len(self)))]
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"frame {index} out of range for {n} frames")
        return self._load(index % n)
