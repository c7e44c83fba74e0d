"""The frames a model did worst on: where to look first when a fleet of bags scores low.

A frame's score is its own mIoU (one frame's confusion matrix); only the ``count`` lowest are
kept, with their figure, so a long bag costs a few images of memory, not one per frame.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from asymfusion_ros.metrics import ConfusionMatrix


class WorstFrame(NamedTuple):
    """One of a bag's worst frames: its mIoU, header stamp, and figure (relative to the report)."""

    miou: float
    stamp_ns: int
    file: str


class WorstFrames:
    """Keeps the ``count`` scored frames of lowest mIoU, each with its figure (RGB, HxWx3 uint8)."""

    def __init__(self, count: int, num_classes: int) -> None:
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        self.count = count
        self.num_classes = num_classes
        self._kept: list[tuple[float, int, np.ndarray]] = []  # a max-heap on mIoU: (-miou, stamp, figure)

    def offer(
        self, stamp_ns: int, prediction: np.ndarray, target: np.ndarray, figure: Callable[[], np.ndarray]
    ) -> None:
        """Score one frame; ``figure`` is drawn only when the frame is among the worst so far."""
        confusion = ConfusionMatrix(self.num_classes)
        confusion.update(prediction, target)
        miou = confusion.compute().miou
        if math.isnan(miou):  # nothing scoreable in the frame (all void)
            return
        entry = (-miou, stamp_ns, figure())
        if len(self._kept) < self.count:
            heapq.heappush(self._kept, entry)
        elif miou < -self._kept[0][0]:
            heapq.heapreplace(self._kept, entry)

    def write(self, out_dir: Path) -> list[WorstFrame]:
        """``worst_NN.png`` into ``out_dir``, the worst first."""
        import cv2

        written = []
        for number, (negative, stamp_ns, image) in enumerate(sorted(self._kept, key=lambda e: (-e[0], e[1]))):
            name = f"worst_{number:02d}.png"
            cv2.imwrite(str(out_dir / name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            written.append(WorstFrame(-negative, stamp_ns, name))
        return written
