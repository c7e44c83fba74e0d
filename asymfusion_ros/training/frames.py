"""Training frames held in memory, and the datasets that serve them to the loop.

Frames are rendered (or read) once into compact uint8/uint16 arrays so epochs never
re-render; augmentation is deterministic by (seed, epoch, index).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from asymfusion_ros.data import open_dataset
from asymfusion_ros.data.sample import RGBDSample
from asymfusion_ros.data.transforms import Augment
from asymfusion_ros.training.config import TrainConfig, TrainError

__all__ = ["DEPTH_UNIT_M", "FrameCache", "FrameDataset", "bar_options", "load_frames"]

DEPTH_UNIT_M = 1.0 / 5000.0
"""Depth cache unit: 0.2 mm, so NYUv2 PNGs (v/5000) and whole-mm synthetic depth are both lossless."""


class FrameCache:
    """Frames held in memory as uint8 RGB, uint16 depth (0.2 mm units) and uint8 labels.

    Rendering a synthetic frame costs far more than a training step's data handling, so
    frames are produced once (in ``workers`` DataLoader processes) and reused every epoch.
    """

    def __init__(self, rgb: np.ndarray, depth: np.ndarray, labels: np.ndarray, k: np.ndarray) -> None:
        self.rgb, self.depth, self.labels, self.intrinsics = rgb, depth, labels, k

    def __len__(self) -> int:
        return len(self.rgb)

    @classmethod
    def fill(cls, frames: Sequence[RGBDSample], *, workers: int = 0, desc: str = "frames") -> FrameCache:
        if len(frames) == 0:
            raise TrainError(f"{desc}: the dataset has no frames")
        first = frames[0]
        h, w = first.rgb.shape[:2]
        n = len(frames)
        rgb = np.empty((n, h, w, 3), np.uint8)
        depth = np.empty((n, h, w), np.uint16)
        labels = np.empty((n, h, w), np.uint8)
        intrinsics = np.empty((n, 3, 3), np.float64)
        loader = DataLoader(_Unbatched(frames), batch_size=None, num_workers=workers, collate_fn=_as_is)
        for i, sample in enumerate(tqdm(loader, total=n, desc=desc, **bar_options())):
            if sample.labels is None:
                raise TrainError(f"{desc}: frame {i} has no labels; training and validation need them")
            rgb[i] = sample.rgb
            depth[i] = np.clip(np.nan_to_num(sample.depth_m) / DEPTH_UNIT_M + 0.5, 0, 65535).astype(np.uint16)
            labels[i] = sample.labels
            intrinsics[i] = sample.K
        return cls(rgb, depth, labels, intrinsics)

    def sample(self, index: int) -> RGBDSample:
        depth_m = self.depth[index].astype(np.float32) * np.float32(DEPTH_UNIT_M)
        return RGBDSample(self.rgb[index], depth_m, self.labels[index], self.intrinsics[index])


def _as_is(sample: Any) -> Any:
    """Keep the numpy sample (the default collate would turn its arrays into tensors)."""
    return sample


class _Unbatched(Dataset):
    """Lets a DataLoader's workers render the frames of a sequence in parallel."""

    def __init__(self, frames: Sequence[RGBDSample]) -> None:
        self.frames = frames

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> RGBDSample:
        return self.frames[index]


class FrameDataset(Dataset):
    """Training/validation items from a FrameCache, augmented deterministically by (seed, epoch, index)."""

    def __init__(self, cache: FrameCache, augment: Augment | None = None, seed: int = 0) -> None:
        self.cache, self.augment, self.seed = cache, augment, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.cache)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        sample = self.cache.sample(index)
        if self.augment is not None:
            sample = self.augment(sample, np.random.default_rng([self.seed, self.epoch, index]))
        assert sample.labels is not None
        return (
            torch.from_numpy(np.ascontiguousarray(sample.rgb)),
            torch.from_numpy(np.ascontiguousarray(sample.depth_m)),
            torch.from_numpy(sample.labels.astype(np.int64)),
        )


def load_frames(cfg: TrainConfig, *, split: str, frames: int | None, seed: int) -> FrameCache:
    try:
        data = open_dataset(cfg.data, split=split, size=cfg.input_size, frames=frames, seed=seed)
    except (OSError, ValueError) as err:
        raise TrainError(f"cannot open {split} data {cfg.data!r}: {err}") from err
    return FrameCache.fill(data, workers=cfg.render_workers, desc=f"{split} frames ({cfg.data}, seed {seed})")


def bar_options() -> dict[str, Any]:
    """tqdm settings: live bar on a terminal, a line every 30 s in a log file."""
    return {"dynamic_ncols": True} if sys.stderr.isatty() else {"mininterval": 30.0, "ascii": True}
