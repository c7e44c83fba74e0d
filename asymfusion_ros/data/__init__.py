"""Data sources for training and evaluation: synthetic rooms we render, NYUDv2 files.

``open_dataset(spec, ...)`` is the one entry point the trainer, the evaluator and the CLI use:

* ``"synthetic"``: :class:`SyntheticScenes` with one new room per frame (``frames_per_room=1``,
  the most variety per rendered frame). The splits never share a room: ``train``, ``val`` and
  ``test`` render from seeds derived from ``(seed, split)`` by :func:`split_seed`, so a model
  trained with seed 0 can be scored on another split, or another seed, it never saw.
* ``"nyudv2:PATH"``: a preprocessed NYUDv2 folder or the official ``.mat`` file (see
  :mod:`asymfusion_ros.data.nyudv2`), resized and centre-cropped to ``size``.

Every source yields :class:`RGBDSample` records (numpy; no torch here).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from asymfusion_ros.data.sample import KINECT_K, DatasetError, FrameSequence, RGBDSample, kinect_intrinsics
from asymfusion_ros.data.synthetic import SyntheticScenes

__all__ = [
    "KINECT_K",
    "SPLITS",
    "DatasetError",
    "FrameSequence",
    "RGBDSample",
    "SyntheticDataset",
    "SyntheticScenes",
    "kinect_intrinsics",
    "open_dataset",
    "split_seed",
]

SPLITS = ("train", "val", "test")
SYNTHETIC_FRAMES = {"train": 2000, "val": 200, "test": 200}
"""Frames per split of ``"synthetic"`` when ``frames`` is None (the generator is endless)."""


def split_seed(seed: int, split: str) -> int:
    """The generator seed of one split: distinct per (seed, split), reproducible everywhere."""
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}, expected one of {SPLITS}")
    return int(np.random.SeedSequence([int(seed), SPLITS.index(split) + 1]).generate_state(1)[0])


class SyntheticDataset(FrameSequence):
    """The first ``frames`` frames of a :class:`SyntheticScenes`, rendered on access."""

    def __init__(self, scenes: SyntheticScenes, frames: int) -> None:
        self.scenes = scenes
        self.frames = frames

    def __len__(self) -> int:
        return self.frames

    def _load(self, index: int) -> RGBDSample:
        return self.scenes.frame(index)


def open_dataset(
    spec: str, *, split: str, size: tuple[int, int], frames: int | None = None, seed: int = 0
) -> Sequence[RGBDSample]:
    """Open a data source by spec (``"synthetic"`` or ``"nyudv2:PATH"``) for one split.

    ``size`` is (H, W) of every returned sample; ``frames`` caps the length (None: the
    source's own size, :data:`SYNTHETIC_FRAMES` for the endless generator; NYUDv2 keeps the
    first ``frames`` of its list). ``seed`` picks the synthetic rooms; files ignore it.
    """
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}, expected one of {SPLITS}")
    if frames is not None and frames < 1:
        raise DatasetError(f"frames must be >= 1 or None, got {frames}")
    if spec == "synthetic":
        scenes = SyntheticScenes(size, split_seed(seed, split), frames_per_room=1)
        return SyntheticDataset(scenes, frames if frames is not None else SYNTHETIC_FRAMES[split])
    if spec.startswith("nyudv2:"):
        from asymfusion_ros.data.nyudv2 import open_nyudv2

        return open_nyudv2(spec.partition(":")[2], split=split, size=size, frames=frames)
    raise DatasetError(f"unknown dataset spec {spec!r}: expected 'synthetic' or 'nyudv2:PATH'")
