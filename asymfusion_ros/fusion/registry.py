"""The scheme registry, in the manner of torchvision's ``models/_api.py``.

Each network class registers itself under its scheme name with :func:`register_scheme`;
:func:`build_model` checks the arguments and calls it, :func:`list_schemes` names them all.
This module imports no network: the scheme modules import it (so importing
``asymfusion_ros.fusion`` fills the registry), never the other way round.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from asymfusion_ros.fusion.base import SegmentationNet
from asymfusion_ros.fusion.encoder import BACKBONES, load_pretrained
from asymfusion_ros.fusion.ops import MODALITIES

__all__ = ["Scheme", "build_model", "get_scheme", "list_schemes", "register_scheme"]

Builder = TypeVar("Builder", bound=Callable[..., SegmentationNet])


class Scheme(NamedTuple):
    """A registered scheme: its builder and, for a single-modality scheme, that modality."""

    name: str
    builder: Callable[..., SegmentationNet]
    """Called as ``builder(modalities, *, backbone, num_classes, width, **options)``."""
    modality: str | None
    """The one modality a single-stream scheme consumes; None: the scheme fuses >= 2."""


_SCHEMES: dict[str, Scheme] = {}


def register_scheme(name: str, *, modality: str | None = None) -> Callable[[Builder], Builder]:
    """Decorator: register a builder (a network class) as scheme ``name``.

    ``modality`` marks a single-modality scheme: it consumes that modality whatever the
    caller's ``modalities`` say.
    """

    def register(builder: Builder) -> Builder:
        if name in _SCHEMES:
            raise ValueError(f"scheme {name!r} is already registered")
        _SCHEMES[name] = Scheme(name, builder, modality)
        return builder

    return register


def list_schemes() -> tuple[str, ...]:
    """Every registered scheme: the fusion schemes, then the single-modality ones, each group
    in registration order (the order reports and comparisons list them in)."""
    return tuple(
        sorted(_SCHEMES, key=lambda name: _SCHEMES[name].modality is not None)  # stable within a group
    )


def get_scheme(name: str) -> Scheme:
    """The registered scheme ``name``; ValueError naming the choices if there is none."""
    if name not in _SCHEMES:
        raise ValueError(f"unknown scheme {name!r}; choose from {list(list_schemes())}")
    return _SCHEMES[name]


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
    entry = get_scheme(scheme)
    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}; choose from {sorted(BACKBONES)}")
    mods = (entry.modality,) if entry.modality is not None else tuple(modalities)
    unknown = [m for m in mods if m not in MODALITIES]
    if unknown:
        raise ValueError(f"unknown modality {unknown[0]!r}; choose from {list(MODALITIES)}")
    if len(set(mods)) != len(mods):
        raise ValueError(f"modalities must be distinct, got {list(mods)}")
    if entry.modality is None and len(mods) < 2:
        raise ValueError(f"scheme {scheme!r} fuses modalities and needs >= 2, got {list(mods)}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    accepted = set(inspect.signature(entry.builder).parameters)
    bad = sorted(set(fusion_options) - accepted)
    if bad:
        raise ValueError(f"scheme {scheme!r} has no option {bad[0]!r}")
    options = dict(fusion_options)
    if "fusion_stages" in options:
        options["fusion_stages"] = tuple(options["fusion_stages"])
    model = entry.builder(mods, backbone=backbone, num_classes=num_classes, width=width, **options)
    if pretrained is not None:
        for encoder in model.encoders():
            load_pretrained(encoder, pretrained)
    return model
