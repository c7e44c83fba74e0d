"""``asymfusion models``: parameter count and MACs of every fusion scheme.

MACs are counted with forward hooks on Conv2d and Linear (multiply-accumulates of one frame,
batch 1, every modality stream included; BatchNorm, pooling, resizing and the parameter-free
fusion are not counted). The forward pass runs on PyTorch's ``meta`` device, so only shapes
are computed: a resnet101 summary takes well under a second and no memory. The default size
480x640 (a VGA camera frame, NYUv2's size) is divisible by 32, as every network requires.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import NamedTuple

import torch
from torch import nn

from asymfusion_ros.fusion import BACKBONES, SCHEMES, build_model

__all__ = ["ModelCost", "add_arguments", "count_macs", "model_cost", "run"]


class ModelCost(NamedTuple):
    scheme: str
    backbone: str
    params: int
    macs: int


def count_macs(model: nn.Module, size_hw: tuple[int, int]) -> int:
    """Conv2d + Linear multiply-accumulates of one forward pass at batch 1 (on ``meta``)."""
    total = 0

    def hook(module: nn.Module, args: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            total += output.numel() * (module.in_channels // module.groups) * kh * kw
        elif isinstance(module, nn.Linear):
            total += output.numel() * module.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    try:
        device = next(model.parameters()).device
        inputs = {m: torch.zeros(1, 3, *size_hw, device=device) for m in model.modalities}  # type: ignore[union-attr]
        with torch.no_grad():
            model.eval()(inputs)
    finally:
        for handle in handles:
            handle.remove()
    return total


def model_cost(
    scheme: str,
    *,
    backbone: str = "resnet18",
    width: float = 1.0,
    num_classes: int = 40,
    size_hw: tuple[int, int] = (480, 640),
) -> ModelCost:
    """Parameters and MACs of one scheme, built on the meta device (no weights allocated)."""
    with torch.device("meta"):
        model = build_model(scheme, backbone=backbone, width=width, num_classes=num_classes)
    params = sum(p.numel() for p in model.parameters())
    return ModelCost(scheme, backbone, params, count_macs(model, size_hw))


# Example command lines, shown at the end of this subcommand's --help (cli/__init__.py).
EXAMPLES: tuple[str, ...] = (
    "asymfusion models",
    "asymfusion models --backbone resnet101 --json",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backbone", default="resnet18", choices=sorted(BACKBONES), help="encoder backbone")
    parser.add_argument("--width", type=float, default=1.0, help="channel width multiplier (e.g. 0.5)")
    parser.add_argument("--num-classes", type=int, default=40, help="number of output classes")
    parser.add_argument(
        "--size",
        type=int,
        nargs=2,
        default=(480, 640),
        metavar=("H", "W"),
        help="input size; H and W must be multiples of 32",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of a table")


def run(args: argparse.Namespace) -> int:
    size = (int(args.size[0]), int(args.size[1]))
    try:
        options = {"backbone": args.backbone, "width": args.width, "num_classes": args.num_classes}
        costs = [model_cost(s, size_hw=size, **options) for s in SCHEMES]
    except ValueError as err:
        print(f"asymfusion models: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([c._asdict() for c in costs], indent=2))
        return 0
    base = next(c for c in costs if c.scheme == "rgb")
    print(f"{args.backbone}, width {args.width:g}, {args.num_classes} classes, MACs at {size[0]}x{size[1]}")
    print(f"{'scheme':<12}{'params':>14}{'x rgb':>9}{'GMACs':>10}{'x rgb':>9}")
    for c in costs:
        print(
            f"{c.scheme:<12}{c.params:>14,}{c.params / base.params:>9.4f}"
            f"{c.macs / 1e9:>10.2f}{c.macs / base.macs:>9.2f}"
        )
    return 0
