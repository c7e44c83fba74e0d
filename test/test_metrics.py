"""ConfusionMatrix against cases worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from asymfusion_ros.metrics import ConfusionMatrix


def test_hand_computed_three_classes() -> None:
    # target: 0 0 0 1 1 2 255 ; pred: 0 0 1 1 2 2 0 (void pixel not counted)
    target = np.array([[0, 0, 0, 1, 1, 2, 255]], dtype=np.uint8)
    pred = np.array([[0, 0, 1, 1, 2, 2, 0]], dtype=np.uint8)
    cm = ConfusionMatrix(3)
    cm.update(pred, target)
    assert cm.matrix.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    m = cm.compute()
    assert m.pixel_acc == pytest.approx(4 / 6)
    assert m.mean_acc == pytest.approx((2 / 3 + 1 / 2 + 1 / 1) / 3)
    # IoU: c0 = 2/(3+2-2)=2/3, c1 = 1/(2+2-1)=1/3, c2 = 1/(1+2-1)=1/2
    assert m.per_class_iou == pytest.approx((2 / 3, 1 / 3, 1 / 2))
    assert m.miou == pytest.approx((2 / 3 + 1 / 3 + 1 / 2) / 3)
    assert m.miou_gt == m.miou  # every class occurs in the target


def test_absent_class_is_excluded_but_false_positive_class_counts() -> None:
    cm = ConfusionMatrix(4)
    # class 2 never appears; class 3 is predicted but absent from target -> IoU 0, acc undefined
    cm.update(np.array([0, 1, 3]), np.array([0, 1, 1]))
    m = cm.compute()
    assert math.isnan(m.per_class_iou[2])
    assert m.per_class_iou[3] == 0.0
    assert m.per_class_iou[:2] == pytest.approx((1.0, 0.5))
    assert m.miou == pytest.approx((1.0 + 0.5 + 0.0) / 3)
    assert m.miou_gt == pytest.approx((1.0 + 0.5) / 2)  # only the classes in the target
    assert m.mean_acc == pytest.approx((1.0 + 0.5) / 2)
    assert m.to_dict(("a", "b", "c", "d"))["per_class_iou"] == {"a": 1.0, "b": 0.5, "c": None, "d": 0.0}


def test_accumulates_across_updates_accepts_tensors_and_resets() -> None:
    cm = ConfusionMatrix(2)
    cm.update(torch.tensor([[0, 1]]), torch.tensor([[0, 0]]))
    cm.update(np.array([1, 1]), np.array([1, 1]))
    assert cm.matrix.tolist() == [[1, 1], [0, 2]]
    assert cm.compute().pixel_acc == pytest.approx(3 / 4)
    cm.reset()
    assert cm.matrix.sum() == 0
    assert math.isnan(cm.compute().miou) and math.isnan(cm.compute().miou_gt)


def test_bad_inputs_are_refused() -> None:
    cm = ConfusionMatrix(2)
    with pytest.raises(ValueError, match="pixels"):
        cm.update(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="outside"):
        cm.update(np.array([5]), np.array([0]))
    with pytest.raises(ValueError, match="num_classes"):
        ConfusionMatrix(0)
