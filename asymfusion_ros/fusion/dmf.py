"""Dense Multimodal Fusion (Hu et al., ICASSP 2019) with the shared encoder/decoder code.

Beside one modality-specific ResNet per modality (separate weights, plain BN) runs a third,
*shared* fusion stream. Its stage l takes stage l of every modality stream and its own stage
l-1 (the dense connections):

    s_1 = merge(f_1^1, ..., f_M^1)
    s_l = merge(shared_l(s_{l-1}), f_1^l, ..., f_M^l)      l = 2, 3, 4

``shared_l`` is a ResNet stage of ``shared_blocks`` blocks (stride 2, like the modality
stage it sits beside); ``merge`` is a sum (``"sum"``, parameter-free) or a concatenation
followed by 1x1 conv-BN-ReLU (``"concat"``). The fusion stream's four stage outputs feed the
light-weight RefineNet decoder; the model has one output and no aux logits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

import torch
from torch import Tensor, nn

from asymfusion_ros.fusion.asymfusion import upsample
from asymfusion_ros.fusion.base import ModelOutput, SegmentationNet
from asymfusion_ros.fusion.decoder import RefineDecoder
from asymfusion_ros.fusion.encoder import BACKBONES, ResNet, conv1x1, make_stage, resnet
from asymfusion_ros.fusion.ops import check_inputs
from asymfusion_ros.fusion.registry import register_scheme

__all__ = ["MERGES", "DenseMultimodalFusion", "Merge"]

MERGES = ("sum", "concat")


class Merge(nn.Module):
    """Combine same-shaped features: a sum, or concat + 1x1 conv-BN-ReLU back to ``channels``."""

    def __init__(self, channels: int, inputs: int, mode: str) -> None:
        super().__init__()
        if mode not in MERGES:
            raise ValueError(f"unknown DMF merge {mode!r}; choose from {list(MERGES)}")
        self.project = (
            None
            if mode == "sum"
            else nn.Sequential(
                conv1x1(channels * inputs, channels), nn.BatchNorm2d(channels), nn.ReLU(inplace=True)
            )
        )

    def forward(self, features: Sequence[Tensor]) -> Tensor:
        if self.project is None:
            return torch.stack(list(features), dim=0).sum(dim=0)
        return cast(Tensor, self.project(torch.cat(list(features), dim=1)))


@register_scheme("dmf")
class DenseMultimodalFusion(SegmentationNet):
    """Modality-specific encoders plus a densely connected shared fusion stream."""

    def __init__(
        self,
        modalities: Sequence[str] = ("rgb", "depth"),
        *,
        backbone: str = "resnet18",
        num_classes: int = 40,
        width: float = 1.0,
        merge: str = "sum",
        shared_blocks: int = 1,
        dropout: float = 0.5,
    ) -> None:
        super().__init__(
            "dmf",
            modalities,
            backbone=backbone,
            num_classes=num_classes,
            width=width,
            merge=merge,
            shared_blocks=shared_blocks,
            dropout=dropout,
        )
        num = len(self.modalities)
        if num < 2:
            raise ValueError(f"scheme 'dmf' needs >= 2 modalities, got {list(self.modalities)}")
        if shared_blocks < 1:
            raise ValueError(f"shared_blocks must be >= 1, got {shared_blocks}")
        self.streams = nn.ModuleList(resnet(backbone, width=width) for _ in self.modalities)
        channels = cast(ResNet, self.streams[0]).out_channels
        block = BACKBONES[backbone][0]
        self.shared = nn.ModuleList(
            make_stage(block, channels[i - 1], channels[i] // block.expansion, shared_blocks, 2)
            for i in range(1, 4)
        )
        self.merges = nn.ModuleList(
            [Merge(channels[0], num, merge)] + [Merge(c, num + 1, merge) for c in channels[1:]]
        )
        self.decoder = RefineDecoder(channels, num_classes, width=width, dropout=dropout)

    def encoders(self) -> tuple[ResNet, ...]:
        """The modality-specific encoders (the shared stream starts from scratch)."""
        return tuple(cast(ResNet, s) for s in self.streams)

    def decode(self, inputs: Mapping[str, Tensor]) -> Tensor:
        """Logits at the decoder's stride 4, before upsampling."""
        check_inputs(inputs, self.modalities)
        per_modality = [enc(inputs[m]) for enc, m in zip(self.encoders(), self.modalities, strict=True)]
        fused = [self.merges[0]([f[0] for f in per_modality])]
        for level in range(1, 4):
            deeper = self.shared[level - 1](fused[-1])
            fused.append(self.merges[level]([deeper, *(f[level] for f in per_modality)]))
        return cast(Tensor, self.decoder((fused[0], fused[1], fused[2], fused[3])))

    def forward(self, inputs: Mapping[str, Tensor]) -> ModelOutput:
        return ModelOutput(upsample(self.decode(inputs), inputs[self.modalities[0]].shape[-2:]), ())
