"""Stride-4 logits -> ``labels`` and ``confidence`` at input size, as the deployed graph computes them.

Same maths as ``softmax(upsample(logits), dim=1).max(dim=1)``, laid out for the runtime: the
logits go channels-last ([B, h, w, K]) *before* the bilinear upsampling, so the Resize, the
Softmax and the ArgMax all run along contiguous memory. On ONNX Runtime CPU the channel-axis
Softmax of the channels-first layout transposes the full-resolution tensor twice and was half
of the shipped model's time; channels-last the whole step costs ~2 ms instead of ~26 ms at
192x256 with 40 classes (2-core x86-64, docs/deployment_speed.md). Labels are those of the
channels-first maths (the same argmax of the same bilinear logits); confidence agrees to float
rounding.

The channels-last Resize has no PyTorch spelling (``F.interpolate`` resizes the trailing axes),
so ``resize_channels_last`` is an autograd Function whose ``symbolic`` writes the ONNX Resize
(linear, half_pixel: what ``F.interpolate(bilinear, align_corners=False)`` exports) on axes 1
and 2 directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from asymfusion_ros.fusion.ops import static_shape

__all__ = ["Decodes", "labels_and_confidence", "resize_channels_last"]


class Decodes(Protocol):
    """What deployment needs of a network: its prediction's logits at stride 4, not yet upsampled."""

    def decode(self, inputs: Mapping[str, Tensor]) -> Tensor: ...


class _ResizeChannelsLast(torch.autograd.Function):
    """Bilinear resize of [B, h, w, C] to [B, H, W, C]; exports as one channels-last ONNX Resize."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, batch: int, height: int, width: int, channels: int) -> Tensor:
        up = F.interpolate(x.permute(0, 3, 1, 2), size=(height, width), mode="bilinear", align_corners=False)
        return up.permute(0, 2, 3, 1)

    @staticmethod
    def symbolic(g: Any, x: Any, batch: int, height: int, width: int, channels: int) -> Any:
        empty = g.op("Constant", value_t=torch.tensor([], dtype=torch.float32))
        sizes = g.op("Constant", value_t=torch.tensor([batch, height, width, channels], dtype=torch.int64))
        return g.op(
            "Resize",
            x,
            empty,
            empty,
            sizes,
            mode_s="linear",
            coordinate_transformation_mode_s="half_pixel",
        )


def resize_channels_last(x: Tensor, size: tuple[int, int]) -> Tensor:
    """[B, h, w, C] -> [B, H, W, C] bilinear (align_corners=False), channels-last in ONNX too."""
    if x.dim() != 4:
        raise ValueError(f"resize_channels_last needs [B, h, w, C], got {list(x.shape)}")
    batch, _, _, channels = static_shape(x)
    return _ResizeChannelsLast.apply(x, batch, int(size[0]), int(size[1]), channels)


def labels_and_confidence(logits: Tensor, size: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """Stride-4 logits [B, K, h, w] -> labels int32 [B, H, W] and max softmax float32 [B, H, W]."""
    scores = resize_channels_last(logits.float().permute(0, 2, 3, 1), size)
    confidence, labels = torch.softmax(scores, dim=-1).max(dim=-1)
    return labels.to(torch.int32), confidence
