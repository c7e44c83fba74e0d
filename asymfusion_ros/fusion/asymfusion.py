"""AsymFusion segmenter (Wang et al., ACM MM 2020): one shared network, M modality streams.

All streams run as one modality-major batch through a ResNet whose convolutions are shared
and whose BatchNorms are private (``ModalityBatchNorm``), with asymmetric bidirectional fusion
in the last block of each stage, then through the shared decoder (light-weight RefineNet; the
authors use the full RefineNet). Each stream yields logits; the prediction is their ensemble
sum_m softmax(alpha)_m * logits_m. As in the authors' public code the branch logits are detached
inside the ensemble (``detach_ensemble=True``), so the ensemble's loss trains alpha only and
each stream is trained by its own (aux) loss; ``detach_ensemble=False`` (our ablation) lets the
ensemble's loss reach the streams too, as the ``average`` baseline's does.

The bottleneck backbones (ResNet-50/101) are the reference design; fusion in the basic blocks
of ResNet-18/34 is our extension (``basic_shift`` chooses where it adds, see ``encoder``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from asymfusion_ros.fusion.base import ModelOutput, SegmentationNet
from asymfusion_ros.fusion.decoder import RefineDecoder, decoder_scale
from asymfusion_ros.fusion.encoder import ALL_STAGES, PAPER_EXCHANGE_FRACTION, ResNet, resnet
from asymfusion_ros.fusion.ops import split_streams, stack_inputs
from asymfusion_ros.fusion.registry import register_scheme

__all__ = ["AsymFusion", "upsample"]


def upsample(logits: Tensor, size: Sequence[int]) -> Tensor:
    """Logits to input resolution: bilinear, align_corners=False (a static ONNX Resize)."""
    return F.interpolate(logits, size=(int(size[0]), int(size[1])), mode="bilinear", align_corners=False)


@register_scheme("asymfusion")
class AsymFusion(SegmentationNet):
    """Shared-conv, private-BN multi-stream segmenter with asymmetric fusion and an ensemble.

    ``decoder_width`` scales the decoder's channels beyond ``width`` (1.0: the paper's). The
    decoder runs once per stream, and at stride 4 its 1x1 convs cost about a quarter of a
    ResNet-34 network at 640x480 (docs/deployment_speed.md); 0.5 quarters that share.
    """

    def __init__(
        self,
        modalities: Sequence[str] = ("rgb", "depth"),
        *,
        backbone: str = "resnet18",
        num_classes: int = 40,
        width: float = 1.0,
        exchange_fraction: float = PAPER_EXCHANGE_FRACTION,
        fusion_stages: Iterable[int] = ALL_STAGES,
        basic_shift: str = "residual",
        detach_ensemble: bool = True,
        dropout: float = 0.5,
        decoder_width: float = 1.0,
    ) -> None:
        stages = sorted(set(fusion_stages))
        super().__init__(
            "asymfusion",
            modalities,
            backbone=backbone,
            num_classes=num_classes,
            width=width,
            exchange_fraction=exchange_fraction,
            fusion_stages=stages,
            basic_shift=basic_shift,
            detach_ensemble=detach_ensemble,
            dropout=dropout,
            decoder_width=decoder_width,
        )
        num = len(self.modalities)
        self.detach_ensemble = detach_ensemble
        self.encoder = resnet(
            backbone,
            num_modalities=num,
            width=width,
            fused=True,
            exchange_fraction=exchange_fraction,
            fusion_stages=stages,
            basic_shift=basic_shift,
        )
        self.decoder = RefineDecoder(
            self.encoder.out_channels, num_classes, width=decoder_scale(width, decoder_width), dropout=dropout
        )
        self.alpha = nn.Parameter(torch.zeros(num))

    def encoders(self) -> tuple[ResNet, ...]:
        return (self.encoder,)

    def streams(self, inputs: Mapping[str, Tensor]) -> tuple[Tensor, ...]:
        """Each stream's logits at the decoder's stride 4."""
        x = stack_inputs(inputs, self.modalities)
        return split_streams(self.decoder(self.encoder(x)), len(self.modalities))

    def ensemble(self, streams: Sequence[Tensor]) -> Tensor:
        """sum_m softmax(alpha)_m * logits_m; detached streams (``detach_ensemble``, the authors'
        choice) let the ensemble loss train alpha only."""
        weights = torch.softmax(self.alpha, dim=0)
        members = tuple(s.detach() for s in streams) if self.detach_ensemble else streams
        return sum(w * s for w, s in zip(weights.unbind(0), members, strict=True))  # type: ignore[return-value]

    def decode(self, inputs: Mapping[str, Tensor]) -> Tensor:
        """The prediction's logits at stride 4, before upsampling (what deployment post-processes)."""
        return self.ensemble(self.streams(inputs))

    def forward(self, inputs: Mapping[str, Tensor]) -> ModelOutput:
        streams = self.streams(inputs)
        size = inputs[self.modalities[0]].shape[-2:]  # a graph input's size stays static in ONNX
        return ModelOutput(upsample(self.ensemble(streams), size), tuple(upsample(s, size) for s in streams))
