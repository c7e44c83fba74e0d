"""Parameter-free fusion operations and the modality-stacking conventions.

Modalities travel stacked on the batch axis, modality-major: a tensor of shape [M*B, C, H, W]
holds stream 0's batch, then stream 1's, and so on. A shared convolution is then one call
(same maths as M calls, fewer kernel launches); only BatchNorm differs per stream, and
``ModalityBatchNorm`` splits the batch there.

The two fusion operations of AsymFusion (Wang et al., ACM MM 2020) act on that stacked tensor:

* ``channel_exchange`` ("channel shuffle" in the paper): each stream keeps its first ``keep``
  channels and takes the remaining ones, at the same indices, from the next stream.
* ``pixel_shift``: the first ``4 g`` channels in four groups of ``g``, each moved one pixel
  left, right, up or down (zero filled); the other channels are zero.

Both are asymmetric: exchanging (a, b) gives stream 0 = [a_head, b_tail], exchanging (b, a)
gives stream 0 = [b_head, a_tail]. With more than two streams the exchange is cyclic: stream
m takes its tail from stream (m + 1) mod M, so every stream gives and receives one tail and
two streams reduce to the paper's swap. They use only Slice and Concat, which export to ONNX
opset 17 with static shapes and parse in TensorRT.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

import torch
from torch import Tensor, nn

__all__ = [
    "MODALITIES",
    "ModalityBatchNorm",
    "channel_exchange",
    "check_inputs",
    "exchange_groups",
    "next_stream",
    "pixel_shift",
    "shift_pixels",
    "split_streams",
    "stack_inputs",
    "static_shape",
]

MODALITIES = ("rgb", "depth", "normals")
"""Modality names a network may consume; normals are derived from depth."""


def exchange_groups(channels: int, exchange_fraction: float) -> int:
    """The group size g: ``4 g`` channels are kept and shifted, the rest exchanged.

    The paper's fraction 0.2 gives g = C // 5 (the epsilon absorbs float rounding).
    """
    if not 0.0 < exchange_fraction < 1.0:
        raise ValueError(f"exchange_fraction must be in (0, 1), got {exchange_fraction}")
    return int(channels * (1.0 - exchange_fraction) / 4.0 + 1e-9)


def static_shape(x: Tensor) -> tuple[int, ...]:
    """``x.shape`` as Python ints: constants in an ONNX export (every export here is static).

    Traced shapes would become Shape/Gather/Div chains around every reshape and slice.
    """
    return tuple(int(d) for d in x.shape)


def next_stream(x: Tensor, num_modalities: int) -> Tensor:
    """Stream m's slot filled with stream (m + 1) mod M's batch (a roll on the batch axis)."""
    batch = static_shape(x)[0] // num_modalities
    return torch.cat([x[batch:], x[:batch]], dim=0)


def channel_exchange(x: Tensor, num_modalities: int, keep: int) -> Tensor:
    """Each stream keeps channels [:keep] and takes [keep:] from the next stream (cyclic).

    ``x`` is modality-major [M*B, C, H, W]; for M = 2 the streams swap their tails.
    """
    if not 0 <= keep <= x.shape[1]:
        raise ValueError(f"keep must be in [0, {x.shape[1]}], got {keep}")
    return torch.cat([x[:, :keep], next_stream(x, num_modalities)[:, keep:]], dim=1)


def pixel_shift(x: Tensor, groups: int) -> Tensor:
    """Shift channel groups [0:g) left, [g:2g) right, [2g:3g) up, [3g:4g) down by one pixel.

    Vacated pixels and channels [4g:] are zero, so a stream that adds this to its own features
    receives only the shifted head of the other stream. The authors' code gives the four groups
    the directions down, right, left, up: the same operation up to which channels move which
    way (the groups are otherwise treated alike), though not the same tensor.
    """
    g = groups
    if not 0 <= 4 * g <= x.shape[1]:
        raise ValueError(f"pixel_shift needs 4*groups <= {x.shape[1]} channels, got groups={g}")
    parts = [
        shift_pixels(x[:, 0:g], dim=-1, step=-1),
        shift_pixels(x[:, g : 2 * g], dim=-1, step=1),
        shift_pixels(x[:, 2 * g : 3 * g], dim=-2, step=-1),
        shift_pixels(x[:, 3 * g : 4 * g], dim=-2, step=1),
        torch.zeros_like(x[:, 4 * g :]),
    ]
    return torch.cat(parts, dim=1)


def shift_pixels(x: Tensor, dim: int, step: int) -> Tensor:
    """Move ``x`` one pixel along ``dim`` (step +1: towards higher indices), zero filled.

    Built from Slice + Concat with ``zeros_like`` (a constant in a static export) rather than
    ``F.pad``, whose TorchScript export computes the pads at run time and hides output shapes.
    """
    if step not in (-1, 1):
        raise ValueError(f"step must be -1 or +1, got {step}")

    def take(part: slice) -> Tensor:
        index = [slice(None)] * x.dim()
        index[dim] = part
        return x[tuple(index)]

    edge = torch.zeros_like(take(slice(0, 1)))
    return torch.cat([edge, take(slice(None, -1))] if step > 0 else [take(slice(1, None)), edge], dim=dim)


class ModalityBatchNorm(nn.Module):
    """One BatchNorm2d per modality over a modality-major batch [M*B, C, H, W].

    Used as ``norm_layer=partial(ModalityBatchNorm, num_modalities=M)`` in the encoder, so a
    shared conv followed by this is the paper's "shared convolutions, private BN". Each BN
    learns its own batch statistics unless training freezes them (``freeze_bn``, as the
    authors train: ImageNet statistics in every modality's BN, only scale and shift learn).
    """

    def __init__(self, num_features: int, num_modalities: int) -> None:
        super().__init__()
        if num_modalities < 1:
            raise ValueError(f"num_modalities must be >= 1, got {num_modalities}")
        self.num_modalities = num_modalities
        self.bns = nn.ModuleList(nn.BatchNorm2d(num_features) for _ in range(num_modalities))

    def forward(self, x: Tensor) -> Tensor:
        if self.training or any(bn.running_var is None for bn in self.bns):
            chunks = split_streams(x, self.num_modalities)
            return torch.cat([bn(c) for bn, c in zip(self.bns, chunks, strict=True)], dim=0)
        # Inference: one broadcast multiply-add over [M, B, C, H, W] instead of M slices, M
        # BatchNorms and a concat (the same affine maths; an exported graph folds the constants).
        bns = [cast(nn.BatchNorm2d, bn) for bn in self.bns]
        scales = [bn.weight / torch.sqrt(cast(Tensor, bn.running_var) + bn.eps) for bn in bns]
        shifts = [bn.bias - cast(Tensor, bn.running_mean) * s for bn, s in zip(bns, scales, strict=True)]
        n, c, h, w = static_shape(x)
        m = self.num_modalities
        y = x.reshape(m, n // m, c, h, w)
        y = y * torch.stack(scales).reshape(m, 1, c, 1, 1) + torch.stack(shifts).reshape(m, 1, c, 1, 1)
        return y.reshape(n, c, h, w)


def split_streams(x: Tensor, num_modalities: int) -> tuple[Tensor, ...]:
    """The M per-stream tensors of a modality-major batch."""
    if x.shape[0] % num_modalities:
        raise ValueError(f"batch of {x.shape[0]} does not split into {num_modalities} modalities")
    return tuple(x.chunk(num_modalities, dim=0))


def check_inputs(inputs: Mapping[str, Tensor], modalities: Sequence[str], multiple: int = 32) -> None:
    """Raise ValueError naming the missing modality or the shape at fault.

    Every input must be [B, 3, H, W], all of one shape, H and W divisible by ``multiple``.
    """
    missing = [m for m in modalities if m not in inputs]
    if missing:
        raise ValueError(
            f"inputs lack modality {missing[0]!r} (got {sorted(inputs)}, need {list(modalities)})"
        )
    tensors = [inputs[m] for m in modalities]
    first = tensors[0]
    for name, t in zip(modalities, tensors, strict=True):
        if t.dim() != 4 or t.shape[1] != 3:
            raise ValueError(f"input {name!r} must be [B, 3, H, W], got {list(t.shape)}")
        if t.shape != first.shape:
            raise ValueError(
                f"input {name!r} has shape {list(t.shape)} but {modalities[0]!r} has {list(first.shape)}"
            )
    height, width = first.shape[-2:]
    if height % multiple or width % multiple:
        raise ValueError(f"input size {height}x{width} is not divisible by {multiple}")


def stack_inputs(inputs: Mapping[str, Tensor], modalities: Sequence[str]) -> Tensor:
    """The checked inputs stacked modality-major on the batch axis: [M*B, 3, H, W]."""
    check_inputs(inputs, modalities)
    if len(modalities) == 1:
        return inputs[modalities[0]]
    return torch.cat([inputs[m] for m in modalities], dim=0)
