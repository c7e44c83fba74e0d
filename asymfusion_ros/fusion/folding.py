"""AsymFusion in its deployment form: every private BatchNorm folded into a grouped convolution.

Training stacks the modality streams on the batch axis so one convolution serves them all, and
``ModalityBatchNorm`` applies each stream's affine after it. A runtime sees that affine as a
Reshape, Mul and Add per conv (TensorRT fuses Conv+BN+ReLU only when the BN is a per-channel
scale of one conv's output). The folded network stacks the streams on the *channel* axis
instead: each shared conv becomes a grouped conv (``groups`` = M) whose group m holds stream
m's BN folded into its own copy of the weights (w * gamma / sigma, bias beta - mu gamma /
sigma), so the encoder's graph is Conv(+ReLU) only. The fusion operations act per stream on
channel blocks (``ChannelStackedFusion``); the blocks' own ``forward`` runs unchanged, the
folded modules take the places of the trained ones. The decoder has no BatchNorm: its
features go back to the batch axis (a Reshape for one frame) and it runs as trained, shared
by the streams, followed by the alpha ensemble.

Opt-in (``asymfusion export --fold-bn``): on ONNX Runtime CPU it is about neutral for
ResNet-34 at 640x480 and 15-40 % slower for the shipped width-0.25 model, whose grouped convs
miss ONNX Runtime's blocked-layout (NCHWc) kernels (docs/deployment_speed.md); it is the form
TensorRT fuses into Conv+bias+ReLU.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import cast

import torch
from torch import Tensor, nn

from asymfusion_ros.fusion.asymfusion import AsymFusion
from asymfusion_ros.fusion.encoder import AsymmetricFusion
from asymfusion_ros.fusion.ops import (
    ModalityBatchNorm,
    check_inputs,
    exchange_groups,
    pixel_shift,
    split_streams,
    static_shape,
)

__all__ = ["ChannelStackedFusion", "FoldedAsymFusion", "fold_for_deployment"]


class ChannelStackedFusion(AsymmetricFusion):
    """AsymmetricFusion on [B, M*C, H, W] (stream m = channels [m*C, (m+1)*C)) instead of [M*B, C, H, W]."""

    def _streams(self, x: Tensor) -> list[Tensor]:
        channels = static_shape(x)[1] // self.num_modalities
        return list(x.split(channels, dim=1))

    def exchange(self, x: Tensor) -> Tensor:
        streams = self._streams(x)
        keep = 4 * exchange_groups(static_shape(streams[0])[1], self.exchange_fraction)
        parts = []
        for m, own in enumerate(streams):
            parts += [own[:, :keep], streams[(m + 1) % self.num_modalities][:, keep:]]
        return torch.cat(parts, dim=1)

    def split(self, x: Tensor) -> tuple[Tensor, Tensor]:
        streams = self._streams(x)
        groups = exchange_groups(static_shape(streams[0])[1], self.exchange_fraction)
        return self.exchange(x), torch.cat([pixel_shift(s, groups) for s in streams], dim=1)

    def receive(self, x: Tensor, shifted: Tensor) -> Tensor:
        streams = self._streams(shifted)
        return x + torch.cat(streams[1:] + streams[:1], dim=1)


def _grouped(conv: nn.Conv2d, weights: list[Tensor], biases: list[Tensor]) -> nn.Conv2d:
    """A conv with ``conv``'s geometry over M stacked channel blocks, group m using weights[m], biases[m]."""
    groups = len(weights)
    out = nn.Conv2d(
        conv.in_channels * groups,
        conv.out_channels * groups,
        cast(tuple[int, int], conv.kernel_size),
        stride=cast(tuple[int, int], conv.stride),
        padding=cast(tuple[int, int], conv.padding),
        dilation=cast(tuple[int, int], conv.dilation),
        groups=groups,
        bias=True,
    )
    with torch.no_grad():
        out.weight.copy_(torch.cat(weights, dim=0))
        cast(Tensor, out.bias).copy_(torch.cat(biases))
    return out


def fold_conv_bn(conv: nn.Conv2d, norm: ModalityBatchNorm) -> nn.Conv2d:
    """One shared conv + a private BN per stream -> one grouped conv with each stream's BN folded in."""
    if conv.groups != 1:
        raise ValueError(f"can only fold an ungrouped conv, got groups={conv.groups}")
    weights, biases = [], []
    for bn in cast(list[nn.BatchNorm2d], list(norm.bns)):
        scale = bn.weight / torch.sqrt(cast(Tensor, bn.running_var) + bn.eps)
        shift = bn.bias - cast(Tensor, bn.running_mean) * scale
        weights.append(conv.weight * scale.reshape(-1, 1, 1, 1))
        biases.append(shift if conv.bias is None else conv.bias * scale + shift)
    return _grouped(conv, weights, biases)


def _fold_encoder(encoder: nn.Module) -> None:
    """Replace, in place, every (conv, ModalityBatchNorm) pair and every fusion module."""
    for module in list(encoder.modules()):
        for index in ("1", "2", "3"):
            conv, norm = getattr(module, f"conv{index}", None), getattr(module, f"bn{index}", None)
            if isinstance(conv, nn.Conv2d) and isinstance(norm, ModalityBatchNorm):
                setattr(module, f"conv{index}", fold_conv_bn(conv, norm))
                setattr(module, f"bn{index}", nn.Identity())
        downsample = getattr(module, "downsample", None)
        if isinstance(downsample, nn.Sequential) and isinstance(downsample[1], ModalityBatchNorm):
            module.downsample = nn.Sequential(fold_conv_bn(cast(nn.Conv2d, downsample[0]), downsample[1]))
        fusion = getattr(module, "fusion", None)
        if isinstance(fusion, AsymmetricFusion):
            module.fusion = ChannelStackedFusion(fusion.num_modalities, fusion.exchange_fraction)
    left = [name for name, m in encoder.named_modules() if isinstance(m, ModalityBatchNorm)]
    if left:
        raise ValueError(f"ModalityBatchNorm without a conv to fold into: {left}")


class FoldedAsymFusion(nn.Module):
    """An eval-mode AsymFusion with its streams stacked on channels and its BatchNorms folded.

    ``decode`` gives the ensemble's stride-4 logits, equal to the source's to float rounding;
    it has no per-stream outputs and does not train.
    """

    def __init__(self, model: AsymFusion) -> None:
        super().__init__()
        self.modalities = model.modalities
        self.num_classes = model.num_classes
        self.config = dict(model.config)
        with torch.no_grad():
            self.encoder = copy.deepcopy(model.encoder).eval()
            _fold_encoder(self.encoder)
            self.decoder = copy.deepcopy(model.decoder).eval()
        self.weights: Tensor
        self.register_buffer("weights", torch.softmax(model.alpha.detach(), dim=0), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def decode(self, inputs: Mapping[str, Tensor]) -> Tensor:
        check_inputs(inputs, self.modalities)
        x = torch.cat([inputs[m] for m in self.modalities], dim=1)
        f1, f2, f3, f4 = (channels_to_batch(f, len(self.modalities)) for f in self.encoder(x))
        streams = split_streams(self.decoder((f1, f2, f3, f4)), len(self.modalities))
        return cast(Tensor, sum(w * s for w, s in zip(self.weights.unbind(0), streams, strict=True)))


def channels_to_batch(x: Tensor, num_modalities: int) -> Tensor:
    """[B, M*C, H, W] channel-stacked -> [M*B, C, H, W] modality-major (a Reshape when B = 1)."""
    batch, channels, height, width = static_shape(x)
    stacked = x.reshape(batch, num_modalities, channels // num_modalities, height, width).transpose(0, 1)
    return stacked.reshape(num_modalities * batch, channels // num_modalities, height, width)


def fold_for_deployment(model: nn.Module) -> nn.Module:
    """The network as a runtime should see it: multi-stream AsymFusion folded, others as they are.

    Plain BatchNorm after a conv needs nothing here: the ONNX exporter folds it into the conv.
    """
    if isinstance(model, AsymFusion) and len(model.modalities) > 1:
        return FoldedAsymFusion(model)
    return model
