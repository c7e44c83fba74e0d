"""How alike several models label the same frames: pairwise agreement and each one's class shares.

Counts, not per-frame averages, as ``metrics.ConfusionMatrix`` keeps them: the agreement of
models i and j is the pixels where both give the same class over every pixel both labelled,
so a fleet's agreement is that of its bags' counts summed. Models may have different class
sets (an NYUv2 network against a SUN RGB-D one): a pixel agrees where both name the same class.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


class LabelAgreement:
    """Accumulates, for models over the same frames, the pixels where each pair gives the same
    class (``same[i, j]``, symmetric, ``same[i, i]`` = every pixel) and each model's pixels per class."""

    def __init__(self, names: Sequence[str], class_names: Sequence[tuple[str, ...]]) -> None:
        if len(names) != len(class_names) or not names:
            raise ValueError(f"one class set per model, got {len(names)} models, {len(class_names)} sets")
        self.names = tuple(names)
        self.class_names = tuple(class_names)
        shared = {name: i for i, name in enumerate(dict.fromkeys(n for cs in class_names for n in cs))}
        self._to_shared = [np.array([shared[n] for n in cs], dtype=np.int64) for cs in class_names]
        self.same = np.zeros((len(names), len(names)), dtype=np.int64)
        self.class_pixels = [np.zeros(len(cs), dtype=np.int64) for cs in class_names]

    @property
    def pixels(self) -> int:
        """Pixels counted (per model)."""
        return int(self.same[0, 0])

    def update(self, labels: Sequence[np.ndarray]) -> None:
        """One frame: each model's (H, W) labels, in the order of ``names``, of one shape."""
        if len(labels) != len(self.names):
            raise ValueError(f"{len(self.names)} label maps expected, got {len(labels)}")
        flat = [np.asarray(map_).ravel() for map_ in labels]
        if len({f.size for f in flat}) != 1:
            raise ValueError(f"label maps differ in size: {[f.size for f in flat]}")
        shared = [table[f] for table, f in zip(self._to_shared, flat, strict=True)]
        for i, f in enumerate(flat):
            self.class_pixels[i] += np.bincount(f, minlength=len(self.class_pixels[i]))
            self.same[i, i] += f.size
            for j in range(i + 1, len(flat)):
                agreeing = int(np.count_nonzero(shared[i] == shared[j]))
                self.same[i, j] += agreeing
                self.same[j, i] += agreeing

    def add(self, other: LabelAgreement) -> None:
        """Sum another bag's counts (same models, same order) into these."""
        if other.names != self.names or other.class_names != self.class_names:
            raise ValueError(f"cannot add the agreement of {other.names} to that of {self.names}")
        self.same += other.same
        for mine, theirs in zip(self.class_pixels, other.class_pixels, strict=True):
            mine += theirs

    def matrix(self) -> np.ndarray:
        """``[i, j]``: the fraction of pixels where models i and j give the same class (NaN: none seen)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.same / np.float64(self.pixels) if self.pixels else np.full(self.same.shape, np.nan)

    def class_shares(self, model: int) -> dict[str, float]:
        """The fraction of model ``model``'s pixels given each class it predicted at all."""
        counts = self.class_pixels[model]
        total = max(1, int(counts.sum()))
        names = self.class_names[model]
        return {names[c]: int(counts[c]) / total for c in np.flatnonzero(counts)}

    def to_json(self) -> dict[str, Any]:
        return {
            "models": list(self.names),
            "pixels": self.pixels,
            "matrix": [[None if np.isnan(v) else float(v) for v in row] for row in self.matrix()],
        }
