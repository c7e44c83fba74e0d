"""The paper's network family in pure PyTorch; ``build_model`` is the one registry.

Every model has ``.modalities``, ``.num_classes``, ``.config`` (``build_model(**config)``
rebuilds it) and ``forward(inputs: dict[str, Tensor]) -> ModelOutput``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from asymfusion_ros.fusion.asymfusion import AsymFusion
from asymfusion_ros.fusion.baselines import EarlyConcat, LateAverage, SingleStream
from asymfusion_ros.fusion.encoder import BACKBONES, load_pretrained
from asymfusion_ros.fusion.ops import MODALITIES, ModelOutput, SegmentationNet
from asymfusion_ros.fusion.preprocess import ModalityInputs

__all__ = [
    "BACKBONES",
    "MODALITIES",
    "SCHEMES",
    "ModalityInputs",
    "ModelOutput",
    "SegmentationNet",
    "build_model",
]

SCHEMES = ("asymfusion", "dmf", "concat", "average", "rgb", "depth")

_SINGLE = ("rgb", "depth")


def _constructor(scheme: str) -> Callable[..., SegmentationNet]:
    if scheme == "asymfusion":
        return AsymFusion
    if scheme == "dmf":
        from asymfusion_ros.fusion.dmf import DenseMultimodalFusion

        return DenseMultimodalFusion
    if scheme == "concat":
        return EarlyConcat
    if scheme == "average":
        return LateAverage
    return SingleStream


def build_model(
    scheme: str,
    *,
    backbone: str = "resnet18",
    num_classes: int = 40,
    modalities: Sequence[str] = ("rgb", "depth"),
    width: float = 1.0,
    pretrained: str | Path | None = None,
    **fusion_options: Any,
) -> SegmentationNet:
    """A segmenter of the given fusion scheme.

    ``rgb`` and ``depth`` consume that one modality whatever ``modalities`` says; the fusion
    schemes need >= 2 distinct modalities from ``MODALITIES``. ``pretrained`` is a local
    torchvision-format ImageNet ResNet state_dict, copied into every encoder (and every
    modality's BatchNorm). Scheme-specific options (e.g. ``exchange_fraction``,
    ``fusion_stages`` for asymfusion) pass through ``fusion_options``.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}; choose from {list(SCHEMES)}")
    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}; choose from {sorted(BACKBONES)}")
    mods = (scheme,) if scheme in _SINGLE else tuple(modalities)
    unknown = [m for m in mods if m not in MODALITIES]
    if unknown:
        raise ValueError(f"unknown modality {unknown[0]!r}; choose from {list(MODALITIES)}")
    if len(set(mods)) != len(mods):
        raise ValueError(f"modalities must be distinct, got {list(mods)}")
    if scheme not in _SINGLE and len(mods) < 2:
        raise ValueError(f"scheme {scheme!r} fuses modalities and needs >= 2, got {list(mods)}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    constructor = _constructor(scheme)
    accepted = set(inspect.signature(constructor).parameters)
    bad = sorted(set(fusion_options) - accepted)
    if bad:
        raise ValueError(f"scheme {scheme!r} has no option {bad[0]!r}")
    options = dict(fusion_options)
    if "fusion_stages" in options:
        options["fusion_stages"] = tuple(options["fusion_stages"])
    model = constructor(mods, backbone=backbone, num_classes=num_classes, width=width, **options)
    if pretrained is not None:
        for encoder in model.encoders():
            load_pretrained(encoder, pretrained)
    return model
