"""ResNet encoders with shared convolutions, per-modality BatchNorm and AsymFusion blocks.

The module tree follows torchvision ``models/resnet.py`` (``conv1``, ``bn1``, ``layer1..4``,
``downsample``) so an ImageNet torchvision state_dict loads through one mapping
(``torchvision_to_encoder``) with ``strict=True``. Modalities are stacked on the batch axis
(see ``ops``); the per-modality BN comes in through ``norm_layer``.

Fusion sits in the last residual block of each fused stage. The bottleneck is the authors'
design (their public ``models/model.py`` fuses only in bottlenecks, ResNet-50/101/152): after
conv1-BN-ReLU the block shifts its features (``pixel_shift``) and exchanges channels; after
conv2-BN-ReLU each stream adds the next stream's shifted features; a second exchange precedes
conv3, so the received features pass through conv3 + BN before the residual sum.

Fusion in a basic block (ResNet-18/34) is our own extension; the authors' basic block has no
fusion. It shifts and exchanges after its first conv-BN-ReLU; where the shifted features of
the next stream go is ``basic_shift``: ``"residual"`` (the default, what every shipped model
uses) adds them after the second conv's BN, straight into the residual sum; ``"conv2"`` adds
them before the second conv, so they pass through conv2 + BN as the bottleneck's pass through
conv3 + BN.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import partial
from pathlib import Path

import torch
from torch import Tensor, nn

from asymfusion_ros.fusion.ops import (
    ModalityBatchNorm,
    channel_exchange,
    exchange_groups,
    next_stream,
    pixel_shift,
)

__all__ = [
    "BACKBONES",
    "BASIC_SHIFTS",
    "AsymmetricFusion",
    "BasicBlock",
    "Bottleneck",
    "ResNet",
    "load_pretrained",
    "make_stage",
    "resnet",
    "scaled",
    "torchvision_to_encoder",
]

NormLayer = Callable[[int], nn.Module]

BASIC_SHIFTS = ("residual", "conv2")
"""Where a basic block adds the next stream's shifted features (see the module docstring)."""

PAPER_EXCHANGE_FRACTION = 0.2
"""The paper's share of channels exchanged between streams (g = C // 5)."""

ALL_STAGES = (1, 2, 3, 4)


def scaled(channels: int, width: float) -> int:
    """A channel count under the width multiplier (at least 8, so tiny nets keep 4 groups)."""
    return max(8, round(channels * width))


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class AsymmetricFusion(nn.Module):
    """The paper's parameter-free bidirectional fusion between modality streams.

    ``split`` runs at the first fusion point (returns the exchanged features and the shifted
    ones kept for later), ``receive`` adds the next stream's shifted features, ``exchange`` is
    the plain channel exchange. ``basic_shift`` (one of ``BASIC_SHIFTS``) tells a basic block
    where to receive; bottlenecks ignore it.
    """

    def __init__(
        self,
        num_modalities: int,
        exchange_fraction: float = PAPER_EXCHANGE_FRACTION,
        basic_shift: str = "residual",
    ) -> None:
        super().__init__()
        if num_modalities < 2:
            raise ValueError(f"fusion needs >= 2 modalities, got {num_modalities}")
        if basic_shift not in BASIC_SHIFTS:
            raise ValueError(f"basic_shift must be one of {BASIC_SHIFTS}, got {basic_shift!r}")
        exchange_groups(8, exchange_fraction)  # validates the fraction
        self.num_modalities = num_modalities
        self.exchange_fraction = exchange_fraction
        self.basic_shift = basic_shift

    def exchange(self, x: Tensor) -> Tensor:
        keep = 4 * exchange_groups(x.shape[1], self.exchange_fraction)
        return channel_exchange(x, self.num_modalities, keep)

    def split(self, x: Tensor) -> tuple[Tensor, Tensor]:
        shifted = pixel_shift(x, exchange_groups(x.shape[1], self.exchange_fraction))
        return self.exchange(x), shifted

    def receive(self, x: Tensor, shifted: Tensor) -> Tensor:
        return x + next_stream(shifted, self.num_modalities)

    def extra_repr(self) -> str:
        return (
            f"num_modalities={self.num_modalities}, exchange_fraction={self.exchange_fraction}, "
            f"basic_shift={self.basic_shift!r}"
        )


class BasicBlock(nn.Module):
    """torchvision's basic block; its fusion is our extension (see the module docstring)."""

    expansion = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        norm_layer: NormLayer = nn.BatchNorm2d,
        fusion: AsymmetricFusion | None = None,
    ) -> None:
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = norm_layer(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = norm_layer(planes)
        self.downsample = downsample
        self.fusion = fusion

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        if self.fusion is None:
            return self.relu(self.bn2(self.conv2(out)) + identity)
        out, shifted = self.fusion.split(out)
        if self.fusion.basic_shift == "conv2":
            return self.relu(self.bn2(self.conv2(self.fusion.receive(out, shifted))) + identity)
        return self.relu(self.fusion.receive(self.bn2(self.conv2(out)), shifted) + identity)


class Bottleneck(nn.Module):
    """torchvision's bottleneck with the authors' fusion placement (see the module docstring)."""

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        norm_layer: NormLayer = nn.BatchNorm2d,
        fusion: AsymmetricFusion | None = None,
    ) -> None:
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = norm_layer(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = norm_layer(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = norm_layer(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.fusion = fusion

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        if self.fusion is not None:
            out, shifted = self.fusion.split(out)
        out = self.relu(self.bn2(self.conv2(out)))
        if self.fusion is not None:
            out = self.fusion.exchange(self.fusion.receive(out, shifted))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


Block = type[BasicBlock] | type[Bottleneck]

BACKBONES: dict[str, tuple[Block, tuple[int, int, int, int]]] = {
    "resnet18": (BasicBlock, (2, 2, 2, 2)),
    "resnet34": (BasicBlock, (3, 4, 6, 3)),
    "resnet50": (Bottleneck, (3, 4, 6, 3)),
    "resnet101": (Bottleneck, (3, 4, 23, 3)),
}


def make_stage(
    block: Block,
    inplanes: int,
    planes: int,
    blocks: int,
    stride: int,
    norm_layer: NormLayer = nn.BatchNorm2d,
    fusion: AsymmetricFusion | None = None,
) -> nn.Sequential:
    """A ResNet stage (torchvision ``_make_layer``); ``fusion`` goes into its last block.

    The first block downsamples, so a fused stage needs >= 2 blocks.
    """
    if fusion is not None and blocks < 2:
        raise ValueError(f"a fused stage needs >= 2 blocks, got {blocks}")
    downsample = None
    if stride != 1 or inplanes != planes * block.expansion:
        downsample = nn.Sequential(
            conv1x1(inplanes, planes * block.expansion, stride), norm_layer(planes * block.expansion)
        )
    layers = [block(inplanes, planes, stride, downsample, norm_layer)]
    for i in range(1, blocks):
        last = fusion if i == blocks - 1 else None
        layers.append(block(planes * block.expansion, planes, norm_layer=norm_layer, fusion=last))
    return nn.Sequential(*layers)


class ResNet(nn.Module):
    """ResNet feature extractor: returns the four stage outputs (strides 4, 8, 16, 32).

    ``in_channels`` is 3 per stream (6 for early concat fusion). With ``fusion`` set, the last
    block of every stage in ``fusion_stages`` fuses the modality streams of its batch.
    """

    def __init__(
        self,
        block: Block,
        layers: tuple[int, int, int, int],
        *,
        in_channels: int = 3,
        width: float = 1.0,
        norm_layer: NormLayer = nn.BatchNorm2d,
        fusion: AsymmetricFusion | None = None,
        fusion_stages: Iterable[int] = ALL_STAGES,
    ) -> None:
        super().__init__()
        stages = tuple(fusion_stages)
        if any(s not in ALL_STAGES for s in stages):
            raise ValueError(f"fusion_stages must be drawn from {ALL_STAGES}, got {stages}")
        stem = scaled(64, width)
        self.conv1 = nn.Conv2d(in_channels, stem, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = norm_layer(stem)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        planes = [scaled(c, width) for c in (64, 128, 256, 512)]
        e = block.expansion
        fuse = [fusion if s in stages else None for s in ALL_STAGES]
        inplanes = (stem, planes[0] * e, planes[1] * e, planes[2] * e)
        self.layer1 = make_stage(block, inplanes[0], planes[0], layers[0], 1, norm_layer, fuse[0])
        self.layer2 = make_stage(block, inplanes[1], planes[1], layers[1], 2, norm_layer, fuse[1])
        self.layer3 = make_stage(block, inplanes[2], planes[2], layers[2], 2, norm_layer, fuse[2])
        self.layer4 = make_stage(block, inplanes[3], planes[3], layers[3], 2, norm_layer, fuse[3])
        self.out_channels = (planes[0] * e, planes[1] * e, planes[2] * e, planes[3] * e)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        f1 = self.layer1(x)
        f2 = self.layer2(f1)
        f3 = self.layer3(f2)
        f4 = self.layer4(f3)
        return f1, f2, f3, f4


def resnet(
    backbone: str,
    *,
    num_modalities: int = 1,
    in_channels: int = 3,
    width: float = 1.0,
    fused: bool = False,
    exchange_fraction: float = PAPER_EXCHANGE_FRACTION,
    fusion_stages: Iterable[int] = ALL_STAGES,
    basic_shift: str = "residual",
) -> ResNet:
    """An encoder: plain BN for one stream, per-modality BN (+ fusion if ``fused``) for several.

    ``basic_shift`` applies to basic blocks only; a bottleneck backbone with another value
    than the default is a ValueError (the option would silently do nothing).
    """
    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}; choose from {sorted(BACKBONES)}")
    if not width > 0:
        raise ValueError(f"width must be > 0, got {width}")
    block, layers = BACKBONES[backbone]
    if block is Bottleneck and basic_shift != "residual":
        raise ValueError(f"basic_shift={basic_shift!r} needs a basic-block backbone, got {backbone!r}")
    norm_layer: NormLayer = (
        nn.BatchNorm2d if num_modalities == 1 else partial(ModalityBatchNorm, num_modalities=num_modalities)
    )
    fusion = AsymmetricFusion(num_modalities, exchange_fraction, basic_shift) if fused else None
    return ResNet(
        block,
        layers,
        in_channels=in_channels,
        width=width,
        norm_layer=norm_layer,
        fusion=fusion,
        fusion_stages=fusion_stages,
    )


def torchvision_to_encoder(state: Mapping[str, Tensor], encoder: ResNet) -> dict[str, Tensor]:
    """Map a torchvision ImageNet ResNet state_dict onto ``encoder``'s keys.

    The one mapping: ``fc.*`` is dropped (segmentation has no classifier head); every BN
    tensor ``X.bnK.T`` is copied to ``X.bnK.bns.i.T`` for each modality i (same for
    ``downsample.1``); conv1's RGB kernel is tiled over extra input channels and scaled so a
    6-channel early-fusion stem sees the same response to replicated inputs.
    """
    targets = encoder.state_dict()
    mapped: dict[str, Tensor] = {}
    for key, value in state.items():
        if key.startswith("fc."):
            continue
        if key in targets:
            mapped[key] = value
            continue
        module, _, name = key.rpartition(".")
        copies = [k for k in targets if k.startswith(f"{module}.bns.") and k.endswith(f".{name}")]
        if not copies:
            raise ValueError(f"pretrained key {key!r} has no counterpart in the encoder")
        for target in copies:
            mapped[target] = value
    conv1 = mapped.get("conv1.weight")
    want = targets["conv1.weight"].shape
    if conv1 is not None and conv1.shape[1] != want[1] and want[1] % conv1.shape[1] == 0:
        repeats = want[1] // conv1.shape[1]
        mapped["conv1.weight"] = conv1.repeat(1, repeats, 1, 1) / repeats
    return mapped


def load_pretrained(encoder: ResNet, path: str | Path) -> None:
    """Load torchvision-format ImageNet weights from a local file (no download), strict.

    Raises ValueError naming the file when it is missing, not a state_dict, or does not fit
    (for example a width multiplier other than 1.0).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"pretrained weights file {str(path)!r} not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"cannot read pretrained weights {str(path)!r}: {err}") from err
    if not isinstance(state, Mapping):
        raise ValueError(f"pretrained weights {str(path)!r} are not a state_dict")
    try:
        encoder.load_state_dict(torchvision_to_encoder(state, encoder), strict=True)
    except (RuntimeError, ValueError) as err:
        raise ValueError(f"pretrained weights {str(path)!r} do not fit this encoder: {err}") from err
