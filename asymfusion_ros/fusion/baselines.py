"""Baselines that share AsymFusion's encoder and decoder, so comparisons differ only in fusion.

* ``SingleStream``: one modality (schemes ``rgb`` and ``depth``), plain BatchNorm.
* ``EarlyConcat``: the modalities concatenated on channels at the input (scheme ``concat``).
* ``LateAverage``: one separate single-stream network per modality, logits averaged
  (scheme ``average``); every network's logits are also returned as aux outputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

import torch
from torch import Tensor, nn

from asymfusion_ros.fusion.asymfusion import upsample
from asymfusion_ros.fusion.base import ModelOutput, SegmentationNet
from asymfusion_ros.fusion.decoder import RefineDecoder, decoder_scale
from asymfusion_ros.fusion.encoder import ResNet, resnet
from asymfusion_ros.fusion.ops import check_inputs, stack_inputs
from asymfusion_ros.fusion.registry import register_scheme

__all__ = ["EarlyConcat", "LateAverage", "SingleStream"]


@register_scheme("depth", modality="depth")
@register_scheme("rgb", modality="rgb")
class SingleStream(SegmentationNet):
    """ResNet + light-weight RefineNet on one input tensor; ``aux`` is empty."""

    fuses_at_input = False
    """True for early fusion: the modalities are concatenated on channels."""

    def __init__(
        self,
        modalities: Sequence[str],
        *,
        backbone: str = "resnet18",
        num_classes: int = 40,
        width: float = 1.0,
        dropout: float = 0.5,
        decoder_width: float = 1.0,
    ) -> None:
        mods = tuple(modalities)
        if self.fuses_at_input and len(mods) < 2:
            raise ValueError(f"scheme 'concat' needs >= 2 modalities, got {list(mods)}")
        if not self.fuses_at_input and len(mods) != 1:
            raise ValueError(f"a single-stream network takes 1 modality, got {list(mods)}")
        scheme = "concat" if self.fuses_at_input else mods[0]
        super().__init__(
            scheme,
            mods,
            backbone=backbone,
            num_classes=num_classes,
            width=width,
            dropout=dropout,
            decoder_width=decoder_width,
        )
        self.encoder = resnet(backbone, in_channels=3 * len(mods), width=width)
        self.decoder = RefineDecoder(
            self.encoder.out_channels, num_classes, width=decoder_scale(width, decoder_width), dropout=dropout
        )

    def encoders(self) -> tuple[ResNet, ...]:
        return (self.encoder,)

    def decode(self, inputs: Mapping[str, Tensor]) -> Tensor:
        """Logits at the decoder's stride 4, before upsampling."""
        x = stack_inputs(inputs, self.modalities)
        if self.fuses_at_input:
            x = torch.cat(x.chunk(len(self.modalities), dim=0), dim=1)
        return cast(Tensor, self.decoder(self.encoder(x)))

    def forward(self, inputs: Mapping[str, Tensor]) -> ModelOutput:
        return ModelOutput(upsample(self.decode(inputs), inputs[self.modalities[0]].shape[-2:]), ())


@register_scheme("concat")
class EarlyConcat(SingleStream):
    """Early fusion: a 3M-channel stem conv, otherwise one plain stream."""

    fuses_at_input = True


@register_scheme("average")
class LateAverage(SegmentationNet):
    """Late fusion: separate single-modality networks, logits averaged."""

    def __init__(
        self,
        modalities: Sequence[str],
        *,
        backbone: str = "resnet18",
        num_classes: int = 40,
        width: float = 1.0,
        dropout: float = 0.5,
        decoder_width: float = 1.0,
    ) -> None:
        super().__init__(
            "average",
            modalities,
            backbone=backbone,
            num_classes=num_classes,
            width=width,
            dropout=dropout,
            decoder_width=decoder_width,
        )
        if len(self.modalities) < 2:
            raise ValueError(f"scheme 'average' needs >= 2 modalities, got {list(self.modalities)}")
        self.nets = nn.ModuleList(
            SingleStream(
                (m,),
                backbone=backbone,
                num_classes=num_classes,
                width=width,
                dropout=dropout,
                decoder_width=decoder_width,
            )
            for m in self.modalities
        )

    def encoders(self) -> tuple[ResNet, ...]:
        return tuple(cast(SingleStream, net).encoder for net in self.nets)

    def decode(self, inputs: Mapping[str, Tensor]) -> Tensor:
        """The average of the networks' logits at stride 4 (averaging commutes with upsampling)."""
        check_inputs(inputs, self.modalities)
        return torch.stack([cast(SingleStream, net).decode(inputs) for net in self.nets], dim=0).mean(dim=0)

    def forward(self, inputs: Mapping[str, Tensor]) -> ModelOutput:
        check_inputs(inputs, self.modalities)
        streams = tuple(net(inputs).logits for net in self.nets)
        return ModelOutput(torch.stack(streams, dim=0).mean(dim=0), streams)
