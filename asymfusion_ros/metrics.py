"""Segmentation scores from one accumulated confusion matrix (torchvision references style).

Accumulating counts rather than averaging per-frame scores makes the result independent of
how frames are batched, and one matrix yields every score (pixel acc, mean acc, mIoU). The
module is numpy-only so that the ONNX Runtime evaluation path never imports torch; torch
tensors are accepted and moved to host memory.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from asymfusion_ros.classes import IGNORE_INDEX


class Metrics(NamedTuple):
    """Scores in [0, 1]; ``per_class_iou[i]`` is NaN for a class absent from target and prediction.

    ``miou`` averages every class seen in target or prediction, so on a handful of frames each
    class predicted but absent weighs a full 0; ``miou_gt`` averages only the classes present
    in the target, which is what mIoU over a whole benchmark test set (every class present)
    comes to, and so the figure a few frames can stand in for.
    """

    pixel_acc: float
    mean_acc: float
    miou: float
    miou_gt: float
    per_class_iou: tuple[float, ...]

    def to_dict(self, names: tuple[str, ...] | None = None) -> dict[str, Any]:
        """JSON-able dict; per-class IoU keyed by class name when names are given (NaN -> None)."""
        keys = names if names is not None else tuple(str(i) for i in range(len(self.per_class_iou)))
        return {
            "pixel_acc": self.pixel_acc,
            "mean_acc": self.mean_acc,
            "miou": self.miou,
            "miou_gt": self.miou_gt,
            "per_class_iou": {
                k: (None if math.isnan(v) else v) for k, v in zip(keys, self.per_class_iou, strict=True)
            },
        }


def _as_numpy(array: Any) -> np.ndarray:
    """A host numpy view of a numpy array or a torch tensor (duck-typed: no torch import here)."""
    if hasattr(array, "detach"):
        array = array.detach().cpu().numpy()
    return np.asarray(array)


class ConfusionMatrix:
    """Counts ``matrix[target, prediction]`` over every scored pixel.

    Pixels whose target is ``ignore_index`` (or any id outside ``0..num_classes-1``) are not
    counted; a prediction outside that range is an error, since it means a model/class-set
    mismatch rather than void ground truth.
    """

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = np.zeros((num_classes, num_classes), dtype=np.int64)

    def update(self, pred: Any, target: Any) -> None:
        """Add one batch of predicted and ground-truth label maps of equal shape."""
        p = _as_numpy(pred).astype(np.int64, copy=False).ravel()
        t = _as_numpy(target).astype(np.int64, copy=False).ravel()
        if p.shape != t.shape:
            raise ValueError(f"prediction has {p.size} pixels but target has {t.size}")
        n = self.num_classes
        scored = (t >= 0) & (t < n) & (t != self.ignore_index)
        p, t = p[scored], t[scored]
        if p.size and (p.min() < 0 or p.max() >= n):
            raise ValueError(f"predicted label {int(p.max())} outside 0..{n - 1}")
        self.matrix += np.bincount(n * t + p, minlength=n * n).reshape(n, n)

    def reset(self) -> None:
        self.matrix[:] = 0

    def compute(self) -> Metrics:
        """Scores of everything counted since the last reset (NaN everywhere when nothing was)."""
        m = self.matrix.astype(np.float64)
        tp = np.diag(m)
        gt = m.sum(axis=1)
        predicted = m.sum(axis=0)
        union = gt + predicted - tp
        with np.errstate(divide="ignore", invalid="ignore"):
            acc = np.where(gt > 0, tp / gt, np.nan)
            iou = np.where(union > 0, tp / union, np.nan)
        total = m.sum()
        pixel_acc = float(tp.sum() / total) if total > 0 else math.nan
        return Metrics(
            pixel_acc=pixel_acc,
            mean_acc=_nanmean(acc),
            miou=_nanmean(iou),
            miou_gt=_nanmean(np.where(gt > 0, iou, np.nan)),
            per_class_iou=tuple(float(v) for v in iou),
        )


def _nanmean(values: np.ndarray) -> float:
    """Mean over the defined entries; NaN (not a warning) when none is defined."""
    defined = values[~np.isnan(values)]
    return float(defined.mean()) if defined.size else math.nan
