"""Data sources for training and evaluation: synthetic rooms we render, NYUDv2, Cityscapes and
SUN RGB-D files.

``open_dataset(spec, ...)`` is the one entry point the trainer, the evaluator and the CLI use:

* ``"synthetic"``: :class:`SyntheticScenes` with one new room per frame (``frames_per_room=1``,
  the most variety per rendered frame). The splits never share a room: ``train``, ``val`` and
  ``test`` render from seeds derived from ``(seed, split)`` by :func:`split_seed`, so a model
  trained with seed 0 can be scored on another split, or another seed, it never saw.
* ``"nyudv2:PATH"``: a preprocessed NYUDv2 folder or the official ``.mat`` file (see
  :mod:`asymfusion_ros.data.nyudv2`), resized and centre-cropped to ``size``.
* ``"cityscapes:ROOT[?max_depth=M]"``: the official Cityscapes layout, depth from disparity,
  ``cityscapes19`` labels (:mod:`asymfusion_ros.data.cityscapes`).
* ``"sunrgbd:ROOT[?depth=raw|filled&label_offset=1|0]"``: SUN RGB-D scene folders, 37 classes
  as NYU40 ids (:mod:`asymfusion_ros.data.sunrgbd`).

Every source yields :class:`RGBDSample` records (numpy; no torch here).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from asymfusion_ros.data.files import parse_spec
from asymfusion_ros.data.sample import KINECT_K, DatasetError, FrameSequence, RGBDSample, kinect_intrinsics
from asymfusion_ros.data.synthetic import SyntheticScenes

__all__ = [
    "DATA_SPECS",
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
DATA_SPECS = "'synthetic', 'nyudv2:PATH', 'cityscapes:ROOT' or 'sunrgbd:ROOT'"
"""The dataset specs :func:`open_dataset` takes, as command-line help and errors name them."""
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
    """Open a data source by spec (``"synthetic"``, ``"nyudv2:PATH"``, ``"cityscapes:ROOT"``,
    ``"sunrgbd:ROOT"``) for one split.

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
    kind, _, rest = spec.partition(":")
    if kind == "nyudv2":
        from asymfusion_ros.data.nyudv2 import open_nyudv2

        return open_nyudv2(rest, split=split, size=size, frames=frames)
    if kind == "cityscapes":
        from asymfusion_ros.data.cityscapes import Cityscapes

        path, options = parse_spec(rest, {"max_depth"})
        max_depth = _number(options.get("max_depth", "100"), "max_depth", spec)
        return Cityscapes(path, split, size=size, frames=frames, max_depth_m=max_depth)
    if kind == "sunrgbd":
        from asymfusion_ros.data.sunrgbd import SUNRGBD

        path, options = parse_spec(rest, {"depth", "label_offset"})
        offset = int(_number(options.get("label_offset", "1"), "label_offset", spec))
        return SUNRGBD(
            path, split, size=size, frames=frames, depth=options.get("depth", "raw"), label_offset=offset
        )
    raise DatasetError(f"unknown dataset spec {spec!r}: expected {DATA_SPECS}")


def _number(text: str, name: str, spec: str) -> float:
    try:
        return float(text)
    except ValueError as err:
        raise DatasetError(f"bad value {text!r} for {name} in {spec!r}") from err
