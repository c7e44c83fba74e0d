"""Light-weight RefineNet decoder (Nekrasov et al., BMVC 2018): our choice, not the paper's.

The authors' AsymFusion uses the full RefineNet decoder (residual conv units around every
chained pooling; 75.6M of their 118.2M ResNet-101 parameters); this smaller one keeps the same
four-level top-down shape at a fraction of the cost, for edge GPUs.

Four levels from deep to shallow: a 1x1 dimension reduction of the encoder feature (plus a
1x1 adaptation on the three shallower levels), the sum with the upsampled deeper level, ReLU,
chained residual pooling (5x5 max-pool then 1x1 conv, four times, each result added), and a
1x1 conv before upsampling. A 3x3 classifier conv gives logits at stride 4.

The decoder has no BatchNorm, so it is shared by all modality streams as is: it runs once on
the modality-major batch. Upsampling uses ``F.interpolate`` (bilinear, align_corners=False),
which exports to a static ONNX Resize.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from asymfusion_ros.fusion.encoder import conv1x1, scaled

__all__ = ["ChainedResidualPool", "RefineDecoder"]


class ChainedResidualPool(nn.Module):
    """x + sum of a chain of (5x5 max-pool, 1x1 conv) stages, each fed by the previous one."""

    def __init__(self, channels: int, stages: int = 4) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(kernel_size=5, stride=1, padding=2)
        self.convs = nn.ModuleList(conv1x1(channels, channels) for _ in range(stages))

    def forward(self, x: Tensor) -> Tensor:
        top = x
        for conv in self.convs:
            top = conv(self.pool(top))
            x = x + top
        return x


class RefineLevel(nn.Module):
    """One decoder level: reduce the skip feature, add the deeper level, pool, project."""

    def __init__(self, in_channels: int, channels: int, out_channels: int | None, deepest: bool) -> None:
        super().__init__()
        self.reduce = conv1x1(in_channels, channels)
        self.adapt = None if deepest else conv1x1(channels, channels)
        self.relu = nn.ReLU(inplace=True)
        self.crp = ChainedResidualPool(channels)
        self.project = None if out_channels is None else conv1x1(channels, out_channels)

    def forward(self, skip: Tensor, deeper: Tensor | None) -> Tensor:
        x = self.reduce(skip)
        if self.adapt is not None:
            x = self.adapt(x)
        if deeper is not None:
            x = x + F.interpolate(deeper, size=x.shape[-2:], mode="bilinear", align_corners=False)
        x = self.crp(self.relu(x))
        return x if self.project is None else self.project(x)


def decoder_scale(width: float, decoder_width: float) -> float:
    """The decoder's width multiplier: the encoder's ``width`` times ``decoder_width``, which
    narrows only the decoder (it runs once per stream and dominates at stride 4), so a
    baseline can be given the same decoder as the fused network it is compared with."""
    if not decoder_width > 0:
        raise ValueError(f"decoder_width must be > 0, got {decoder_width}")
    return width * decoder_width


class RefineDecoder(nn.Module):
    """Encoder stage features (strides 4..32) -> logits at stride 4.

    Channels as in light-weight RefineNet (512 at the deepest level, 256 elsewhere), scaled by
    ``width``; dropout on the two deepest encoder features (the authors also drop out the last
    level's output before the classifier; we do not).
    """

    def __init__(
        self,
        in_channels: tuple[int, int, int, int],
        num_classes: int,
        *,
        width: float = 1.0,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        top, mid = scaled(512, width), scaled(256, width)
        self.dropout = nn.Dropout(p=dropout)
        self.level4 = RefineLevel(in_channels[3], top, mid, deepest=True)
        self.level3 = RefineLevel(in_channels[2], mid, mid, deepest=False)
        self.level2 = RefineLevel(in_channels[1], mid, mid, deepest=False)
        self.level1 = RefineLevel(in_channels[0], mid, None, deepest=False)
        self.classifier = nn.Conv2d(mid, num_classes, kernel_size=3, padding=1, bias=True)

    def forward(self, features: tuple[Tensor, Tensor, Tensor, Tensor]) -> Tensor:
        f1, f2, f3, f4 = features
        x = self.level4(self.dropout(f4), None)
        x = self.level3(self.dropout(f3), x)
        x = self.level2(f2, x)
        x = self.level1(f1, x)
        return self.classifier(x)
