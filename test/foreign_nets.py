"""Tiny networks with ESANet's ONNX interface, built and exported here (no ESANet code).

ESANet's model_to_onnx.py exports inputs ``rgb`` [1,3,H,W] and ``depth`` [1,1,H,W] float32
and one output ``output``: logits [1,C,H,W] (docs/import.md). These nets have that interface,
an RGB-only variant, logits at 1/4 resolution, and an argmax inside (labels out); weights are
random but BatchNorm statistics are set, so an import that dropped a step would show.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

SIZE = (48, 64)  # (H, W)


class TinyRGBD(nn.Module):
    """rgb [1,3,H,W] (+ depth [1,1,H,W]) -> logits [1,C,H,W] (or [1,C,H/4,W/4], or labels)."""

    def __init__(
        self, classes: int = 40, *, depth: bool = True, quarter: bool = False, labels: bool = False
    ) -> None:
        super().__init__()
        self.use_depth, self.quarter, self.labels = depth, quarter, labels
        self.rgb_conv = nn.Conv2d(3, 8, 3, padding=1)
        self.depth_conv = nn.Conv2d(1, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.head = nn.Conv2d(8, classes, 3, padding=1)
        with torch.no_grad():
            nn.init.uniform_(self.bn.running_mean, -0.5, 0.5)  # type: ignore[arg-type]
            nn.init.uniform_(self.bn.running_var, 0.5, 2.0)  # type: ignore[arg-type]
            self.depth_conv.weight.mul_(4.0)  # depth matters: a wrong depth step changes labels

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor | None = None) -> torch.Tensor:
        x = self.rgb_conv(rgb)
        if self.use_depth:
            x = x + self.depth_conv(depth)
        x = F.relu(self.bn(x))
        x = F.max_pool2d(x, 4) if self.quarter else F.interpolate(F.max_pool2d(x, 2), scale_factor=2.0)
        x = self.head(x)
        return x.argmax(dim=1) if self.labels else x


def build(seed: int = 0, **options: bool | int) -> TinyRGBD:
    torch.manual_seed(seed)
    return TinyRGBD(**options).eval()  # type: ignore[arg-type]


def export(
    net: nn.Module,
    path: Path,
    *,
    opset: int = 17,
    dynamic: bool = False,
    inputs: tuple[str, ...] = ("rgb", "depth"),
    size: tuple[int, int] = SIZE,
) -> Path:
    """As model_to_onnx.py does it: the TorchScript exporter, random example inputs, constant
    folding, output ``output``; ``inputs``: ("rgb", "depth") or ("rgb",)."""
    height, width = size
    example = {"rgb": torch.rand(1, 3, height, width), "depth": torch.rand(1, 1, height, width)}
    names = list(inputs)
    args = tuple(example[name] for name in names)
    axes = {name: {2: "height", 3: "width"} for name in names} if dynamic else None
    torch.onnx.export(
        net,
        args,
        str(path),
        input_names=names,
        output_names=["output"],
        opset_version=opset,
        do_constant_folding=True,
        dynamic_axes=axes,
        dynamo=False,
    )
    return path


def esanet_preprocess(
    rgb: torch.Tensor, depth_m: torch.Tensor, depth_mean: float, depth_std: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """ESANet's test-time Normalize in raw depth mode, written in torch from its description
    (docs/import.md): colour /255 then ImageNet mean/std; depth in mm standardised, holes 0."""
    x = rgb.permute(2, 0, 1)[None].double() / 255.0
    mean = torch.tensor([0.485, 0.456, 0.406], dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], dtype=torch.float64).view(1, 3, 1, 1)
    d = depth_m.double() * 1000.0
    holes = ~(d > 0)
    d = torch.where(holes, torch.zeros_like(d), (torch.nan_to_num(d) - depth_mean) / depth_std)
    return ((x - mean) / std).float(), d[None, None].float()
