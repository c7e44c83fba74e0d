"""Test-time adaptation of BatchNorm to a new camera from unlabeled frames (``asymfusion adapt``).

AsymFusion keeps a private BatchNorm per modality; its running statistics are what shifts when
a network trained on synthetic rooms meets a real camera. Two methods, both label-free:

* ``adabn`` (Li et al., "Revisiting Batch Normalization for Practical Domain Adaptation",
  2016): every BatchNorm's running mean and variance are reset and re-estimated over all the
  given frames, as a cumulative average (``momentum=None``), then blended with the trained
  ones: ``mix`` 1 replaces them, 0 gives the model back bit for bit. Nothing else changes.
* ``tent`` (Wang et al., "Tent: Fully Test-Time Adaptation by Entropy Minimization", ICLR
  2021): ``adabn`` first, then a bounded number of Adam steps on the BatchNorm scale and shift
  only, minimising the mean per-pixel entropy of the predictions on the same frames. The
  network runs as deployed (running statistics, eval mode) while it learns, so what is
  optimised is what ships.

Both need every ``ModalityBatchNorm``'s own ``training`` flag set while statistics are
gathered: in eval mode it takes a fused multiply-add path that reads the running statistics
and would never update them. No I/O here; the command is ``cli/adapt.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from asymfusion_ros.fusion.base import ModelOutput
from asymfusion_ros.fusion.ops import ModalityBatchNorm

__all__ = [
    "MAX_STEPS",
    "MIN_FRAMES",
    "AdaptError",
    "AdaptMethod",
    "Adaptation",
    "adapt",
    "batch_norms",
    "entropy_steps",
    "input_batches",
    "reestimate_bn",
]

MIN_FRAMES = 1
"""Frames an adaptation needs: one frame already gives every BatchNorm a full spatial sample
(docs/adapt.md measures how the gain grows with more)."""
MAX_STEPS = 200
"""The most entropy steps ``tent`` takes: an upper bound, since entropy keeps falling long
after predictions stop improving (collapse onto few classes is tent's known failure)."""
TENT_LR = 1e-3


class AdaptError(RuntimeError):
    """The model or the frames cannot be adapted (no BatchNorm, too few frames, bad settings)."""


class AdaptMethod(Enum):
    """What adaptation changes: ``adabn`` the BN statistics, ``tent`` also the BN scale and shift."""

    ADABN = "adabn"
    TENT = "tent"


@dataclass(frozen=True)
class Adaptation:
    """What a checkpoint was adapted on: stored in it, and in its exported bundle's metadata."""

    source: str
    frames: int
    method: AdaptMethod
    mix: float
    steps: int = 0
    """Entropy steps (``tent``); 0 for ``adabn``."""
    base: str = ""
    """The checkpoint that was adapted."""
    every: int = 1
    """Every how many frames of the source one was taken."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able types (the checkpoint loads with ``weights_only=True``)."""
        return {**asdict(self), "method": self.method.value}


def batch_norms(model: nn.Module) -> list[_BatchNorm]:
    """Every BatchNorm that keeps running statistics (the plain ones and those inside
    ``ModalityBatchNorm``), in module order."""
    return [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]


def _statistics_mode(model: nn.Module) -> None:
    """Eval mode except every BatchNorm, and every ``ModalityBatchNorm`` (its own flag), in training."""
    model.eval()
    for module in model.modules():
        if isinstance(module, (_BatchNorm, ModalityBatchNorm)):
            module.train()


def _blend(trained: Tensor, new: Tensor, mix: float) -> Tensor:
    """``(1 - mix) * trained + mix * new``, exactly ``new`` at 1."""
    return new if mix == 1.0 else torch.lerp(trained, new, mix)


def reestimate_bn(model: nn.Module, batches: Sequence[dict[str, Tensor]], mix: float) -> int:
    """Re-estimate every BatchNorm's running statistics over ``batches`` and blend them in.

    Statistics are a cumulative average over the batches (``momentum=None``); ``mix`` in
    [0, 1] weighs them against the trained ones (0 returns at once, touching nothing). A
    BatchNorm the forward pass never reached keeps its trained statistics. Leaves the model
    in eval mode; returns the number of BatchNorms re-estimated.
    """
    norms = batch_norms(model)
    if not norms:
        raise AdaptError("the model has no BatchNorm layer: there are no statistics to adapt")
    if not 0.0 <= mix <= 1.0:
        raise AdaptError(f"mix must be in [0, 1], got {mix}")
    if not batches:
        raise AdaptError(f"no frames to adapt on; adaptation needs at least {MIN_FRAMES}")
    if mix == 0.0:
        return 0
    trained = [
        (cast(Tensor, bn.running_mean).clone(), cast(Tensor, bn.running_var).clone(),
         cast(Tensor, bn.num_batches_tracked).clone(), bn.momentum)
        for bn in norms
    ]  # fmt: skip
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None
    _statistics_mode(model)
    try:
        with torch.no_grad():
            for batch in batches:
                model(batch)
    finally:
        model.eval()
    reached = 0
    with torch.no_grad():
        for bn, (mean, var, count, momentum) in zip(norms, trained, strict=True):
            bn.momentum = momentum
            running_mean, running_var = cast(Tensor, bn.running_mean), cast(Tensor, bn.running_var)
            if int(cast(Tensor, bn.num_batches_tracked)) == 0:
                running_mean.copy_(mean)
                running_var.copy_(var)
                cast(Tensor, bn.num_batches_tracked).copy_(count)
                continue
            running_mean.copy_(_blend(mean, running_mean, mix))
            running_var.copy_(_blend(var, running_var, mix))
            reached += 1
    return reached


def _entropy(logits: Tensor) -> Tensor:
    """Mean per-pixel entropy (nats) of the softmax over classes of [B, K, H, W] logits."""
    log_p = torch.log_softmax(logits.float(), dim=1)
    return -(log_p.exp() * log_p).sum(dim=1).mean()


def _entropy_loss(output: ModelOutput) -> Tensor:
    """The mean entropy of every prediction the BatchNorms reach: the fused logits and each
    stream's own. AsymFusion's ensemble detaches the streams (it trains only its weights), so
    there, as in training, each stream learns from its own prediction."""
    maps = [m for m in (output.logits, *output.aux) if m.requires_grad]
    if not maps:
        raise AdaptError("no prediction of the model depends on its BatchNorm parameters")
    return torch.stack([_entropy(m) for m in maps]).mean()


def entropy_steps(
    model: nn.Module, batches: Sequence[dict[str, Tensor]], steps: int, lr: float = TENT_LR
) -> list[float]:
    """Tent: ``steps`` Adam steps on the BatchNorm scale and shift only, minimising the mean
    prediction entropy; batches are taken in turn. The model stays in eval mode (running
    statistics, as deployed); every other parameter is left as it was, ``requires_grad``
    included. Returns the entropy before each step.
    """
    if not 1 <= steps <= MAX_STEPS:
        raise AdaptError(f"steps must be in [1, {MAX_STEPS}], got {steps}")
    if not batches:
        raise AdaptError(f"no frames to adapt on; adaptation needs at least {MIN_FRAMES}")
    affine = [p for bn in batch_norms(model) for p in (bn.weight, bn.bias) if p is not None]
    if not affine:
        raise AdaptError("the model has no BatchNorm scale or shift to adapt")
    flags = {name: p.requires_grad for name, p in model.named_parameters()}
    for p in model.parameters():
        p.requires_grad_(False)
    for p in affine:
        p.requires_grad_(True)
    model.eval()
    optimizer = torch.optim.Adam(affine, lr=lr)
    entropies: list[float] = []
    try:
        for step in range(steps):
            loss = _entropy_loss(model(batches[step % len(batches)]))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            entropies.append(float(loss.detach()))
    finally:
        for name, p in model.named_parameters():
            p.requires_grad_(flags[name])
            p.grad = None
    return entropies


def input_batches(
    preprocess: nn.Module, frames: Sequence[tuple[np.ndarray, np.ndarray]], batch_size: int
) -> list[dict[str, Tensor]]:
    """Network inputs of (rgb, depth_m) frames already at the network size, ``batch_size`` a batch."""
    if batch_size < 1:
        raise AdaptError(f"batch size must be >= 1, got {batch_size}")
    batches = []
    with torch.no_grad():
        for start in range(0, len(frames), batch_size):
            chunk = frames[start : start + batch_size]
            rgb = torch.from_numpy(np.stack([f[0] for f in chunk]))
            depth = torch.from_numpy(np.stack([f[1] for f in chunk]))
            batches.append(preprocess(rgb, depth))
    return batches


def adapt(
    model: nn.Module,
    preprocess: nn.Module,
    frames: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    method: AdaptMethod,
    mix: float,
    steps: int = 0,
    batch_size: int = 8,
) -> list[float]:
    """Adapt ``model`` in place on ``frames`` (network-size (rgb, depth_m)); returns tent's
    entropy per step (empty for ``adabn``). Raises AdaptError naming what is wrong."""
    if len(frames) < MIN_FRAMES:
        raise AdaptError(f"{len(frames)} frames given; adaptation needs at least {MIN_FRAMES}")
    batches = input_batches(preprocess, frames, batch_size)
    reestimate_bn(model, batches, mix)
    if method is AdaptMethod.TENT:
        return entropy_steps(model, batches, steps)
    return []
