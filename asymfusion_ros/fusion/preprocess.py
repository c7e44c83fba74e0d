"""Camera frames -> normalised network inputs, as one module shared by training and export.

``ModalityInputs(rgb uint8 [B,H,W,3], depth_m float32 [B,H,W]) -> {modality: [B,3,H,W]}``.
The exported ONNX graph embeds this very module, so training and deployment cannot disagree.

* ``rgb``: /255, ImageNet mean/std, NCHW.
* ``depth``: three identical channels of normalised depth. Why replicate: the stem conv is
  shared with RGB (and may start from ImageNet weights), a 3-channel input keeps every stream
  the same shape for batch stacking, and it costs nothing on the robot, unlike HHA (which needs
  a gravity estimate per frame). ``depth_encoding="linear"`` maps [0, max_depth_m] to [0, 1];
  ``"inverse"`` maps min_depth_m / d (disparity-like: finer near the camera, where indoor
  objects are). Both are then standardised as (v - 0.25) / 0.125, roughly zero mean and unit
  spread for indoor scenes (NYUv2 depth: mean about 2.7 m, std about 1.2 m), and invalid
  pixels are set to 0, the "no information" value.
* ``normals``: surface normals from central depth differences with a nominal pinhole focal
  length ``focal_ratio * W`` pixels (NYUv2: 518.9 / 640); the optical centre offset is ignored.
  n ~ (f dz/du, f dz/dv, -z), unit length, pointing at the camera; 0 where any of the five
  pixels used is invalid.

Depth 0, negative or NaN is invalid: ``d > 0`` is false for NaN, so the mask needs no IsNaN,
and invalid values are replaced (``torch.where``) before any arithmetic. Only Cast, Div, Sub,
Clip, Where, Slice, Concat, Mul, ReduceSum, Sqrt and Transpose appear in the graph (opset 17,
static shapes throughout).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from asymfusion_ros.fusion.ops import MODALITIES, shift_pixels

__all__ = ["DEPTH_ENCODINGS", "IMAGENET_MEAN", "IMAGENET_STD", "ModalityInputs"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEPTH_ENCODINGS = ("linear", "inverse")
NYU_FOCAL_RATIO = 518.857901 / 640.0


class ModalityInputs(nn.Module):
    """Raw RGB-D to the per-modality tensors a model consumes; ``.config`` rebuilds it."""

    def __init__(
        self,
        modalities: Sequence[str] = ("rgb", "depth"),
        *,
        depth_encoding: str = "linear",
        max_depth_m: float = 10.0,
        min_depth_m: float = 0.5,
        focal_ratio: float = NYU_FOCAL_RATIO,
        rgb_mean: Sequence[float] = IMAGENET_MEAN,
        rgb_std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        super().__init__()
        self.modalities = tuple(modalities)
        unknown = [m for m in self.modalities if m not in MODALITIES]
        if unknown or not self.modalities:
            raise ValueError(f"unknown modalities {unknown or 'none'}; choose from {list(MODALITIES)}")
        if depth_encoding not in DEPTH_ENCODINGS:
            raise ValueError(f"unknown depth_encoding {depth_encoding!r}; choose from {DEPTH_ENCODINGS}")
        if not 0 < min_depth_m < max_depth_m:
            raise ValueError(f"need 0 < min_depth_m < max_depth_m, got {min_depth_m}, {max_depth_m}")
        if not focal_ratio > 0:
            raise ValueError(f"focal_ratio must be > 0, got {focal_ratio}")
        if len(rgb_mean) != 3 or len(rgb_std) != 3 or min(rgb_std) <= 0:
            raise ValueError(f"rgb_mean/rgb_std must be 3 values (std > 0), got {rgb_mean}, {rgb_std}")
        self.depth_encoding = depth_encoding
        self.max_depth_m = float(max_depth_m)
        self.min_depth_m = float(min_depth_m)
        self.focal_ratio = float(focal_ratio)
        self.config = {
            "modalities": list(self.modalities),
            "depth_encoding": depth_encoding,
            "max_depth_m": self.max_depth_m,
            "min_depth_m": self.min_depth_m,
            "focal_ratio": self.focal_ratio,
            "rgb_mean": [float(v) for v in rgb_mean],
            "rgb_std": [float(v) for v in rgb_std],
        }
        self.mean255: Tensor
        self.std255: Tensor
        self.register_buffer("mean255", torch.tensor(rgb_mean).view(1, 3, 1, 1) * 255.0, persistent=False)
        self.register_buffer("std255", torch.tensor(rgb_std).view(1, 3, 1, 1) * 255.0, persistent=False)

    def forward(self, rgb: Tensor, depth_m: Tensor) -> dict[str, Tensor]:
        if rgb.dim() != 4 or rgb.shape[-1] != 3:
            raise ValueError(f"rgb must be uint8 [B, H, W, 3], got {list(rgb.shape)}")
        if depth_m.shape != rgb.shape[:-1]:
            raise ValueError(f"depth_m must be [B, H, W] = {list(rgb.shape[:-1])}, got {list(depth_m.shape)}")
        out: dict[str, Tensor] = {}
        valid = depth_m > 0
        depth = torch.where(valid, depth_m, torch.ones_like(depth_m))
        for modality in self.modalities:
            if modality == "rgb":
                out[modality] = self._rgb(rgb)
            elif modality == "depth":
                out[modality] = self._depth(depth, valid)
            else:
                out[modality] = self._normals(depth, valid)
        return out

    def _rgb(self, rgb: Tensor) -> Tensor:
        x = rgb.permute(0, 3, 1, 2).float()
        return (x - self.mean255) / self.std255

    def _depth(self, depth: Tensor, valid: Tensor) -> Tensor:
        if self.depth_encoding == "linear":
            v = depth.clamp(0.0, self.max_depth_m) / self.max_depth_m
        else:
            v = self.min_depth_m / depth.clamp(self.min_depth_m, self.max_depth_m)
        v = torch.where(valid, (v - 0.25) / 0.125, torch.zeros_like(v))
        v = v.unsqueeze(1)
        return torch.cat([v, v, v], dim=1)

    def _normals(self, depth: Tensor, valid: Tensor) -> Tensor:
        focal = self.focal_ratio * int(depth.shape[-1])
        z = torch.where(valid, depth, torch.zeros_like(depth)).unsqueeze(1)
        ok = valid.to(depth.dtype).unsqueeze(1)
        # central differences; shifted-in zeros at the border are masked by the validity product
        after_u, before_u = shift_pixels(z, -1, -1), shift_pixels(z, -1, 1)
        after_v, before_v = shift_pixels(z, -2, -1), shift_pixels(z, -2, 1)
        mask = ok * shift_pixels(ok, -1, -1) * shift_pixels(ok, -1, 1)
        mask = mask * shift_pixels(ok, -2, -1) * shift_pixels(ok, -2, 1)
        n = torch.cat([(0.5 * focal) * (after_u - before_u), (0.5 * focal) * (after_v - before_v), -z], dim=1)
        norm = torch.sqrt((n * n).sum(dim=1, keepdim=True)).clamp_min(1e-6)
        return n / norm * mask
