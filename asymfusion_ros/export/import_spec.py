"""What a foreign network expects and gives: the declared pre/post-processing of ``asymfusion import``.

An ``ImportSpec`` is the whole contract between our bundle inputs (``rgb`` uint8 [1,H,W,3],
``depth`` float32 metres [1,H,W], 0/NaN/negative invalid) and a network trained elsewhere:

* colour: reordered to ``channel_order`` (rgb or bgr), ``x * rgb_scale``, minus ``rgb_mean``,
  divided by ``rgb_std`` per channel (both in that order), NCHW;
* depth: in the network's unit (``depth_per_metre`` units a metre: 1 for m, 1000 for mm),
  minus ``depth_mean``, divided by ``depth_std``; a pixel that is invalid (not > 0, or beyond
  ``depth_max_m`` when set) becomes ``depth_invalid`` *after* normalisation, as ESANet's
  ``raw`` depth mode keeps holes at 0;
* output: logits [1,C,h,w] (argmax and max softmax, bilinear upsampling when h,w differ
  from the input) or labels.

``ForeignOutput`` says what the chosen output turned out to hold (``OutputKind``).

``PRESETS`` hold the published ESANet networks (TUI-NICR/ESANet, Apache-2.0); every constant
is cited in docs/import.md. ``reference_inputs`` is the same preprocessing written in numpy,
independently of the ONNX graph, for the parity check.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from enum import Enum
from typing import Any, NamedTuple

import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ChannelOrder(str, Enum):
    """Colour channel order the network was trained on."""

    RGB = "rgb"
    BGR = "bgr"


class DepthUnit(str, Enum):
    """The common units of a network's depth (``--depth-unit``)."""

    M = "m"
    MM = "mm"

    @property
    def per_metre(self) -> float:
        return 1000.0 if self is DepthUnit.MM else 1.0


class DepthMode(str, Enum):
    """ESANet's two depth modes (src/preprocessing.py ``Normalize``).

    ``raw``: holes stay 0 after normalisation; ``refined``: every pixel is normalised, so a
    hole (0 mm) becomes ``-mean / std``, as the hole-free refined depth never had one.
    """

    RAW = "raw"
    REFINED = "refined"


@dataclass(frozen=True)
class ImportSpec:
    """The declared interface of a foreign network (every field JSON-able)."""

    classes: str = "nyu40"  # a class set name or a YAML file
    rgb_input: str | None = "rgb"
    depth_input: str | None = "depth"
    output: str | None = None  # None: the network's only output
    rgb_scale: float = 1.0 / 255.0
    rgb_mean: tuple[float, float, float] = IMAGENET_MEAN
    rgb_std: tuple[float, float, float] = IMAGENET_STD
    channel_order: ChannelOrder = ChannelOrder.RGB
    depth_per_metre: float = 1000.0  # the network's depth units in a metre
    depth_mean: float = 0.0
    depth_std: float = 1.0
    depth_invalid: float = 0.0
    depth_max_m: float | None = None
    preset: str | None = None

    def __post_init__(self) -> None:
        if self.rgb_input is None and self.depth_input is None:
            raise ValueError("a network needs an rgb input, a depth input or both")
        if len(self.rgb_mean) != 3 or len(self.rgb_std) != 3 or min(self.rgb_std) <= 0:
            raise ValueError(
                f"rgb mean/std must be 3 values each (std > 0), got {self.rgb_mean}, {self.rgb_std}"
            )
        if not min(self.rgb_scale, self.depth_std, self.depth_per_metre) > 0:
            raise ValueError(
                f"rgb scale, depth std and depth units must be > 0, got {self.rgb_scale}, "
                f"{self.depth_std}, {self.depth_per_metre}"
            )
        if self.depth_max_m is not None and not self.depth_max_m > 0:
            raise ValueError(f"depth max must be > 0 metres, got {self.depth_max_m}")

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(m for m, name in (("rgb", self.rgb_input), ("depth", self.depth_input)) if name)

    def to_json(self) -> dict[str, Any]:
        """The ``preprocess`` metadata of the bundle."""
        data = asdict(self)
        data["channel_order"] = self.channel_order.value
        data["rgb_mean"], data["rgb_std"] = list(self.rgb_mean), list(self.rgb_std)
        return data


class OutputKind(str, Enum):
    """What a foreign network's output holds."""

    LOGITS = "logits"  # [1,C,h,w] float, C > 1
    LABELS = "labels"  # [1,h,w] or [1,1,h,w] integer


class ForeignOutput(NamedTuple):
    """What the foreign network's chosen output holds."""

    name: str
    kind: OutputKind
    channels: int  # C for logits, 0 for labels
    size: tuple[int, int]  # (h, w)
    elem_type: int
    rank: int


def _esanet(classes: str, depth_mean: float, depth_std: float, **options: Any) -> ImportSpec:
    """ESANet's test-time ``Normalize``: colour /255 then ImageNet mean/std, depth standardised."""
    return ImportSpec(classes=classes, output="output", depth_mean=depth_mean, depth_std=depth_std, **options)


# Depth statistics: the ``_depth_mean``/``_depth_std`` of ESANet's dataset classes (the refined
# depth's, which ESANet uses for both depth modes), in the unit ESANet reads: NYUv2 PNGs in
# mm; SUN RGB-D PNGs as stored, which its toolbox decodes by a 3-bit rotation, i.e. 8 units a
# millimetre below 8.19 m; Cityscapes depth in metres from disparity, zeroed beyond 300
# (docs/import.md cites each file).
PRESETS: dict[str, ImportSpec] = {
    "esanet-nyuv2": _esanet("nyu40", 2841.94941272766, 1417.2594281672277),
    "esanet-sunrgbd": _esanet("sunrgbd37", 19025.14930492213, 9880.916071806689, depth_per_metre=8000.0),
    "esanet-cityscapes": _esanet(
        "cityscapes19", 31.715617493177906, 38.70280704877372, depth_per_metre=1.0, depth_max_m=300.0
    ),
}


def preset(name: str, depth_mode: DepthMode = DepthMode.RAW) -> ImportSpec:
    """A preset by name, in ESANet's ``raw`` (default) or ``refined`` depth mode."""
    spec = replace(PRESETS[name], preset=name)
    if depth_mode is DepthMode.REFINED:
        spec = replace(spec, depth_invalid=-spec.depth_mean / spec.depth_std)
    return spec


def reference_inputs(spec: ImportSpec, rgb: np.ndarray, depth_m: np.ndarray) -> dict[str, np.ndarray]:
    """The foreign network's inputs for one frame, in numpy float64 then float32 (the parity reference)."""
    feeds: dict[str, np.ndarray] = {}
    if spec.rgb_input:
        x = rgb.astype(np.float64)
        if spec.channel_order is ChannelOrder.BGR:
            x = x[..., ::-1]
        x = (x * spec.rgb_scale - np.asarray(spec.rgb_mean)) / np.asarray(spec.rgb_std)
        feeds[spec.rgb_input] = np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32)
    if spec.depth_input:
        d = depth_m.astype(np.float64)
        with np.errstate(invalid="ignore"):
            valid = d > 0
            if spec.depth_max_m is not None:
                valid &= d <= spec.depth_max_m
        v = (np.where(valid, d, 0.0) * spec.depth_per_metre - spec.depth_mean) / spec.depth_std
        v = np.where(valid, v, spec.depth_invalid)
        feeds[spec.depth_input] = v[None, None].astype(np.float32)
    return feeds


__all__ = [
    "PRESETS",
    "ChannelOrder",
    "DepthMode",
    "DepthUnit",
    "ForeignOutput",
    "ImportSpec",
    "OutputKind",
    "preset",
    "reference_inputs",
]
