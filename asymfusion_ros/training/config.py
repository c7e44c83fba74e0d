"""The typed training configuration and its mapping from YAML files and command-line flags.

``asymfusion train`` and ``asymfusion compare`` read config/train/*.yaml into one frozen
:class:`TrainConfig`; flags given on the command line override the file. The loop itself
lives in :mod:`asymfusion_ros.training.train`.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import yaml

from asymfusion_ros.data import DATA_SPECS
from asymfusion_ros.data.transforms import AUGMENT_STRENGTHS
from asymfusion_ros.fusion import SCHEMES

__all__ = ["Stage", "TrainConfig", "TrainError", "add_arguments", "config_from_args"]


class TrainError(RuntimeError):
    """Training cannot start or go on: bad config, data or resume checkpoint."""


@dataclasses.dataclass(frozen=True)
class Stage:
    """A span of epochs at constant learning rates, as in the authors' main.py (three stages)."""

    epochs: int
    lr: float
    """Learning rate of the encoders' parameters."""
    lr_decoder: float | None = None
    """Learning rate of everything else (decoder, AsymFusion's alpha); None: ``lr``."""

    def __post_init__(self) -> None:
        if self.epochs < 1 or not self.lr > 0 or not (self.lr_decoder is None or self.lr_decoder > 0):
            raise ValueError(f"a stage needs epochs >= 1 and learning rates > 0, got {self}")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything one training run depends on; the YAML files under config/train/ map onto it."""

    scheme: str = "asymfusion"
    backbone: str = "resnet18"
    width: float = 1.0
    modalities: tuple[str, ...] = ("rgb", "depth")
    classes: str = "nyu40"
    pretrained: str | None = None
    fusion: dict[str, Any] = dataclasses.field(default_factory=dict)
    preprocess: dict[str, Any] = dataclasses.field(default_factory=dict)
    data: str = "synthetic"
    input_size: tuple[int, int] = (192, 256)
    train_frames: int | None = 1000
    train_seed: int = 0
    val_frames: int | None = 64
    val_seed: int = 0
    """The val split's generator seed differs from train's even at the same seed (data.split_seed)."""
    augment: bool = True
    crop_size: tuple[int, int] | None = None
    """Training crop (H, W), None = input_size; smaller crops make steps cheaper."""
    scale_range: tuple[float, float] = (0.75, 1.25)
    color_jitter: float = 0.0
    """Photometric and depth augmentation strengths (see data.transforms.Augment); 0 = off."""
    blur_prob: float = 0.0
    depth_noise: float = 0.0
    depth_dropout: float = 0.0
    rgb_dropout: float = 0.0
    epochs: int = 20
    batch_size: int = 8
    optimizer: str = "adamw"
    lr: float = 2e-3
    weight_decay: float = 1e-4
    momentum: float = 0.9
    lr_decoder: float | None = None
    """Learning rate of everything outside the encoders (decoder, alpha); None: ``lr`` for all."""
    poly_power: float = 0.9
    """Without ``stages`` the learning rates decay per step as (1 - step/total) ** poly_power."""
    stages: tuple[Stage, ...] = ()
    """With stages, learning rates are constant within each (``lr``/``lr_decoder`` unused) and the
    stages' epochs must add up to ``epochs``."""
    freeze_bn: bool = False
    """BatchNorm layers stay in eval mode while training: their running statistics (ImageNet's,
    copied into every modality's BN, with ``pretrained``) are used and kept; only each BN's
    scale and shift learn. The authors train so (FREEZE_BN=True)."""
    amp: bool = True
    seed: int = 0
    workers: int = 0
    render_workers: int = 0
    threads: int = 0
    out: str = "runs/train"
    resume: str | None = None

    def __post_init__(self) -> None:
        if self.scheme not in SCHEMES:
            raise ValueError(f"unknown scheme {self.scheme!r}; choose from {list(SCHEMES)}")
        if self.optimizer not in ("adamw", "sgd"):
            raise ValueError(f"optimizer must be 'adamw' or 'sgd', got {self.optimizer!r}")
        for name in ("input_size", "crop_size"):
            size = getattr(self, name)
            if size is not None and (len(size) != 2 or size[0] % 32 or size[1] % 32):
                raise ValueError(f"{name} {size} must be (H, W) divisible by 32")
        for name in (n for n in AUGMENT_STRENGTHS if n != "flip_prob"):  # the flip is not configurable
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1, got {self.epochs}, {self.batch_size}")
        if self.stages and sum(s.epochs for s in self.stages) != self.epochs:
            raise ValueError(
                f"the stages' epochs {[s.epochs for s in self.stages]} must add up to epochs={self.epochs}"
            )

    @classmethod
    def from_yaml(cls, path: str | Path, /, **overrides: Any) -> TrainConfig:
        """A config from a YAML mapping of field names, then ``overrides`` (None values ignored)."""
        try:
            with Path(path).open() as f:
                data = yaml.safe_load(f) or {}
        except (OSError, yaml.YAMLError) as err:
            raise TrainError(f"cannot read training config {path}: {err}") from err
        if not isinstance(data, dict):
            raise TrainError(f"training config {path} must be a mapping, got {type(data).__name__}")
        return cls.from_dict(data, source=str(path), **overrides)

    @classmethod
    def from_dict(cls, values: dict[str, Any], /, source: str = "config", **overrides: Any) -> TrainConfig:
        fields = {f.name for f in dataclasses.fields(cls)}
        merged = {**values, **{k: v for k, v in overrides.items() if v is not None}}
        unknown = sorted(set(merged) - fields)
        if unknown:
            raise TrainError(f"{source}: unknown training option(s) {unknown}; known: {sorted(fields)}")
        for key in ("modalities", "input_size", "scale_range", "crop_size"):
            if merged.get(key) is not None:
                merged[key] = tuple(merged[key])
        try:
            if "stages" in merged:
                merged["stages"] = tuple(
                    s if isinstance(s, Stage) else Stage(**s) for s in merged["stages"] or ()
                )
            return cls(**merged)
        except (TypeError, ValueError) as err:
            raise TrainError(f"{source}: {err}") from err

    def to_dict(self) -> dict[str, Any]:
        """JSON/YAML-able form (tuples as lists) stored in checkpoints for reproducibility."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    def group_lrs(self, epoch: int) -> tuple[float, float]:
        """(encoder, decoder) base learning rates in ``epoch`` (0-based), before any poly decay."""
        if not self.stages:
            return self.lr, self.lr if self.lr_decoder is None else self.lr_decoder
        end = 0
        for stage in self.stages:
            end += stage.epochs
            if epoch < end:
                break
        return stage.lr, stage.lr if stage.lr_decoder is None else stage.lr_decoder


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="training YAML, e.g. config/train/default.yaml")
    parser.add_argument("--scheme", help=f"fusion scheme ({', '.join(SCHEMES)})")
    parser.add_argument("--data", help=DATA_SPECS)
    parser.add_argument("--pretrained", help="local torchvision ImageNet state_dict for the backbone")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--out", help="run folder for checkpoints, log.csv and curves.png")
    parser.add_argument("--resume", help="a last.pt to continue from")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--workers", type=int, help="DataLoader worker processes")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig.from_yaml(
        args.config,
        scheme=args.scheme,
        data=args.data,
        pretrained=args.pretrained,
        epochs=args.epochs,
        out=args.out,
        resume=args.resume,
        seed=args.seed,
        workers=args.workers,
    )
