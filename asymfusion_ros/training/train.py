"""``asymfusion train``: train one fusion scheme, validate every epoch, keep best/last checkpoints.

The CLI parses arguments into a typed :class:`TrainConfig` (YAML file + command-line
overrides) and hands it to :func:`main`, which ``asymfusion compare`` and the tests call
directly. Frames are rendered (or read) once into compact uint8/uint16 arrays so epochs never
re-render; the network's own ``ModalityInputs`` turns raw RGB and depth into its inputs, the
same module that goes into the exported graph. Under ``torchrun`` (WORLD_SIZE > 1) it runs
DistributedDataParallel and only rank 0 writes files.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import math
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
import yaml
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset
from tqdm import tqdm

from asymfusion_ros.classes import IGNORE_INDEX, ClassSet, load_classes
from asymfusion_ros.data import open_dataset
from asymfusion_ros.data.sample import RGBDSample
from asymfusion_ros.data.transforms import Augment
from asymfusion_ros.fusion import SCHEMES, build_model
from asymfusion_ros.fusion.checkpoint import load_checkpoint, save_checkpoint
from asymfusion_ros.fusion.preprocess import ModalityInputs
from asymfusion_ros.training.evaluate import ScoreSet, channels_last, score_torch

DEPTH_UNIT_M = 1.0 / 5000.0
"""Depth cache unit: 0.2 mm, so NYUv2 PNGs (v/5000) and whole-mm synthetic depth are both lossless."""


class TrainError(RuntimeError):
    """Training cannot start or go on: bad config, data or resume checkpoint."""


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
    epochs: int = 20
    batch_size: int = 8
    optimizer: str = "adamw"
    lr: float = 2e-3
    weight_decay: float = 1e-4
    momentum: float = 0.9
    poly_power: float = 0.9
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
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1, got {self.epochs}, {self.batch_size}")

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
            return cls(**merged)
        except (TypeError, ValueError) as err:
            raise TrainError(f"{source}: {err}") from err

    def to_dict(self) -> dict[str, Any]:
        """JSON/YAML-able form (tuples as lists) stored in checkpoints for reproducibility."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


class TrainResult(NamedTuple):
    best_path: Path
    last_path: Path
    best_metrics: dict[str, Any]
    seconds: float


# ----------------------------------------------------------------------------------- data


class FrameCache:
    """Frames held in memory as uint8 RGB, uint16 depth (0.2 mm units) and uint8 labels.

    Rendering a synthetic frame costs far more than a training step's data handling, so
    frames are produced once (in ``workers`` DataLoader processes) and reused every epoch.
    """

    def __init__(self, rgb: np.ndarray, depth: np.ndarray, labels: np.ndarray, k: np.ndarray) -> None:
        self.rgb, self.depth, self.labels, self.intrinsics = rgb, depth, labels, k

    def __len__(self) -> int:
        return len(self.rgb)

    @classmethod
    def fill(cls, frames: Sequence[RGBDSample], *, workers: int = 0, desc: str = "frames") -> FrameCache:
        if len(frames) == 0:
            raise TrainError(f"{desc}: the dataset has no frames")
        first = frames[0]
        h, w = first.rgb.shape[:2]
        n = len(frames)
        rgb = np.empty((n, h, w, 3), np.uint8)
        depth = np.empty((n, h, w), np.uint16)
        labels = np.empty((n, h, w), np.uint8)
        intrinsics = np.empty((n, 3, 3), np.float64)
        loader = DataLoader(_Unbatched(frames), batch_size=None, num_workers=workers, collate_fn=_as_is)
        for i, sample in enumerate(tqdm(loader, total=n, desc=desc, **_bar_options())):
            if sample.labels is None:
                raise TrainError(f"{desc}: frame {i} has no labels; training and validation need them")
            rgb[i] = sample.rgb
            depth[i] = np.clip(np.nan_to_num(sample.depth_m) / DEPTH_UNIT_M + 0.5, 0, 65535).astype(np.uint16)
            labels[i] = sample.labels
            intrinsics[i] = sample.K
        return cls(rgb, depth, labels, intrinsics)

    def sample(self, index: int) -> RGBDSample:
        depth_m = self.depth[index].astype(np.float32) * np.float32(DEPTH_UNIT_M)
        return RGBDSample(self.rgb[index], depth_m, self.labels[index], self.intrinsics[index])


def _as_is(sample: Any) -> Any:
    """Keep the numpy sample (the default collate would turn its arrays into tensors)."""
    return sample


class _Unbatched(Dataset):
    """Lets a DataLoader's workers render the frames of a sequence in parallel."""

    def __init__(self, frames: Sequence[RGBDSample]) -> None:
        self.frames = frames

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> RGBDSample:
        return self.frames[index]


class FrameDataset(Dataset):
    """Training/validation items from a FrameCache, augmented deterministically by (seed, epoch, index)."""

    def __init__(self, cache: FrameCache, augment: Augment | None = None, seed: int = 0) -> None:
        self.cache, self.augment, self.seed = cache, augment, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.cache)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        sample = self.cache.sample(index)
        if self.augment is not None:
            sample = self.augment(sample, np.random.default_rng([self.seed, self.epoch, index]))
        assert sample.labels is not None
        return (
            torch.from_numpy(np.ascontiguousarray(sample.rgb)),
            torch.from_numpy(np.ascontiguousarray(sample.depth_m)),
            torch.from_numpy(sample.labels.astype(np.int64)),
        )


# ------------------------------------------------------------------------------ training


class _Dist(NamedTuple):
    rank: int
    world: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


def _setup_distributed() -> _Dist:
    """Join the torchrun process group when WORLD_SIZE > 1; pick this process's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if torch.cuda.is_available():
            torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        device = torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
        return _Dist(dist.get_rank(), world, device)
    return _Dist(0, 1, torch.device("cuda" if torch.cuda.is_available() else "cpu"))


def _bar_options() -> dict[str, Any]:
    """tqdm settings: live bar on a terminal, a line every 30 s in a log file."""
    return {"dynamic_ncols": True} if sys.stderr.isatty() else {"mininterval": 30.0, "ascii": True}


def _pixel_ce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-pixel CE as one (pixels, classes) problem: with channels-last logits the reshape is free
    and the softmax runs over contiguous memory, several times faster on CPU than over NCHW."""
    classes = logits.shape[1]
    flat = logits.float().permute(0, 2, 3, 1).reshape(-1, classes)
    return F.cross_entropy(flat, labels.reshape(-1), ignore_index=IGNORE_INDEX)


def seg_loss(output: Any, labels: torch.Tensor) -> torch.Tensor:
    """CE of the final logits plus CE of every per-stream logit map, void pixels ignored."""
    loss = _pixel_ce(output.logits, labels)
    for aux in output.aux:
        loss = loss + _pixel_ce(aux, labels)
    return loss


def build_networks(cfg: TrainConfig, classes: ClassSet) -> tuple[nn.Module, ModalityInputs]:
    model = build_model(
        cfg.scheme,
        backbone=cfg.backbone,
        num_classes=len(classes),
        modalities=cfg.modalities,
        width=cfg.width,
        pretrained=cfg.pretrained,
        **cfg.fusion,
    )
    return model, ModalityInputs(model.modalities, **cfg.preprocess)


def load_frames(cfg: TrainConfig, *, split: str, frames: int | None, seed: int) -> FrameCache:
    try:
        data = open_dataset(cfg.data, split=split, size=cfg.input_size, frames=frames, seed=seed)
    except (OSError, ValueError) as err:
        raise TrainError(f"cannot open {split} data {cfg.data!r}: {err}") from err
    return FrameCache.fill(data, workers=cfg.render_workers, desc=f"{split} frames ({cfg.data}, seed {seed})")


def _batches(
    loader: DataLoader, device: torch.device
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    for rgb, depth, labels in loader:
        yield (
            rgb.to(device, non_blocking=True),
            depth.to(device, non_blocking=True),
            labels.to(device, non_blocking=True),
        )


def _val_metrics(scores: ScoreSet, dist_info: _Dist) -> dict[str, Any]:
    """Validation scores of every output, summed over ranks first."""
    if dist_info.world > 1:
        for cm in scores.values():
            total = torch.from_numpy(cm.matrix).to(dist_info.device)
            dist.all_reduce(total)
            cm.matrix[:] = total.cpu().numpy()
    fused = scores["fused"].compute()
    return {
        "pixel_acc": fused.pixel_acc,
        "mean_acc": fused.mean_acc,
        "miou": fused.miou,
        "streams": {name: cm.compute().miou for name, cm in scores.items() if name != "fused"},
    }


def _write_log(out: Path, history: list[dict[str, Any]]) -> None:
    """The CSV log and a PNG of the curves, rewritten whole each epoch (so resume needs no merge)."""
    with (out / "log.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [row["train_loss"] for row in history], marker="o")
    ax_loss.set(xlabel="epoch", ylabel="training loss", title="loss")
    for key in ("val_miou", "val_mean_acc", "val_pixel_acc"):
        ax_acc.plot(epochs, [row[key] for row in history], marker="o", label=key)
    ax_acc.set(xlabel="epoch", ylabel="score", title="validation", ylim=(0, 1))
    ax_acc.legend()
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=100)
    plt.close(fig)


class _Run(NamedTuple):
    """What one training run holds between epochs."""

    model: nn.Module
    net: nn.Module
    """``model`` itself, or its DistributedDataParallel wrapper."""
    preprocess: ModalityInputs
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    use_amp: bool


def _augment(cfg: TrainConfig) -> Augment | None:
    """Random scale/crop/flip to ``crop_size``, scales relative to the frames' own size.

    Training on crops smaller than ``input_size`` costs proportionally less per step while
    the fully convolutional network is still validated and deployed at ``input_size``.
    """
    if not cfg.augment:
        return None
    crop = cfg.crop_size or cfg.input_size
    cover = max(crop[0] / cfg.input_size[0], crop[1] / cfg.input_size[1])
    lo, hi = cfg.scale_range
    return Augment(crop, scale_range=(lo / cover, hi / cover))


def _optimiser(
    cfg: TrainConfig, model: nn.Module, steps_per_epoch: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW or SGD with momentum, both under a per-step poly decay to zero."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer: torch.optim.Optimizer
    if cfg.optimizer == "adamw":
        optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    else:
        optimizer = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    total = max(1, cfg.epochs * steps_per_epoch)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: max(0.0, 1.0 - step / total) ** cfg.poly_power
    )
    return optimizer, scheduler


def _train_epoch(run: _Run, batches: Iterator[tuple[torch.Tensor, ...]], bar: tqdm) -> float:
    """One pass over the training batches; returns the mean loss."""
    run.net.train()
    losses: list[float] = []
    for rgb, depth, labels in batches:
        with torch.no_grad():
            inputs = channels_last(run.preprocess(rgb, depth))
        with torch.autocast(rgb.device.type, dtype=torch.float16, enabled=run.use_amp):
            loss = seg_loss(run.net(inputs), labels)
        run.optimizer.zero_grad(set_to_none=True)
        run.scaler.scale(loss).backward()
        run.scaler.step(run.optimizer)
        run.scaler.update()
        run.scheduler.step()
        losses.append(loss.item())
        bar.update()
        bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}", refresh=False)
    return float(np.mean(losses)) if losses else math.nan


def _save(
    path: Path,
    run: _Run,
    cfg: TrainConfig,
    classes: ClassSet,
    metrics: dict[str, Any],
    state: dict[str, Any] | None = None,
) -> None:
    """A checkpoint carrying the run's config; ``state`` (optimiser, history) goes only into last.pt,
    which keeps best.pt (the file that gets shipped) small."""
    extra: dict[str, Any] = {"train_config": cfg.to_dict()}
    if state is not None:
        extra["train_state"] = state
    save_checkpoint(
        path,
        run.model,
        run.preprocess,
        classes=classes,
        input_size=cfg.input_size,
        data=cfg.data,
        metrics=metrics,
        extra=extra,
    )


def main(cfg: TrainConfig) -> TrainResult:
    """Train ``cfg.scheme`` and return its best/last checkpoint paths and best validation scores."""
    started = time.perf_counter()
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    dist_info = _setup_distributed()
    device = dist_info.device
    torch.manual_seed(cfg.seed)
    out = Path(cfg.out)
    if dist_info.main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))

    try:
        classes = load_classes(cfg.classes)
        model, preprocess = build_networks(cfg, classes)
    except (OSError, ValueError) as err:
        raise TrainError(f"cannot build {cfg.scheme!r} with classes {cfg.classes!r}: {err}") from err
    model.to(device, memory_format=torch.channels_last)  # type: ignore[call-overload]
    preprocess.to(device)

    train_set = FrameDataset(
        load_frames(cfg, split="train", frames=cfg.train_frames, seed=cfg.train_seed), _augment(cfg), cfg.seed
    )
    val_cache = load_frames(cfg, split="val", frames=cfg.val_frames, seed=cfg.val_seed)
    sampler: DistributedSampler[int] = DistributedSampler(
        train_set, num_replicas=dist_info.world, rank=dist_info.rank, shuffle=True, seed=cfg.seed
    )
    loader = DataLoader(
        train_set,
        batch_size=cfg.batch_size,
        sampler=sampler,
        num_workers=cfg.workers,
        drop_last=len(train_set) // dist_info.world >= cfg.batch_size,
        pin_memory=device.type == "cuda",
    )
    val_set = Subset(FrameDataset(val_cache), range(dist_info.rank, len(val_cache), dist_info.world))
    val_loader = DataLoader(val_set, batch_size=cfg.batch_size, num_workers=cfg.workers)

    optimizer, scheduler = _optimiser(cfg, model, len(loader))
    use_amp = cfg.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    start_epoch, best_miou = 0, -math.inf
    best_metrics: dict[str, Any] = {}
    history: list[dict[str, Any]] = []
    if cfg.resume:
        start_epoch, best_miou, best_metrics, history = _resume(
            cfg.resume, model, optimizer, scheduler, scaler
        )
    net: nn.Module = model
    if dist_info.world > 1:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    run = _Run(model, net, preprocess, optimizer, scheduler, scaler, use_amp)

    best_path, last_path = out / "best.pt", out / "last.pt"
    for epoch in range(start_epoch, cfg.epochs):
        epoch_start = time.perf_counter()
        sampler.set_epoch(epoch)
        train_set.set_epoch(epoch)
        desc = f"{cfg.scheme} epoch {epoch + 1}/{cfg.epochs}"
        with tqdm(total=len(loader), desc=desc, disable=not dist_info.main, **_bar_options()) as bar:
            train_loss = _train_epoch(run, _batches(loader, device), bar)
        scores = score_torch(model, preprocess, _batches(val_loader, device), len(classes), amp=use_amp)
        val = _val_metrics(scores, dist_info)
        row = {
            "epoch": epoch + 1,
            "train_loss": train_loss,
            "val_pixel_acc": val["pixel_acc"],
            "val_mean_acc": val["mean_acc"],
            "val_miou": val["miou"],
            "lr": optimizer.param_groups[0]["lr"],
            "seconds": round(time.perf_counter() - epoch_start, 1),
        }
        history.append(row)
        metrics = {"split": "val", "seed": cfg.val_seed, "frames": len(val_cache), "epoch": epoch + 1, **val}
        improved = val["miou"] > best_miou
        if improved:
            best_miou, best_metrics = val["miou"], metrics
        if dist_info.main:
            streams = "  ".join(f"{k} {v:.4f}" for k, v in val["streams"].items())
            tqdm.write(
                f"epoch {epoch + 1}: loss {train_loss:.4f}  val pixel acc {val['pixel_acc']:.4f}  "
                f"mean acc {val['mean_acc']:.4f}  mIoU {val['miou']:.4f}  {streams}  ({row['seconds']} s)"
            )
            if improved:
                _save(best_path, run, cfg, classes, metrics)
            state = {
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(),
                "epoch": epoch + 1,
                "best_miou": best_miou,
                "best_metrics": best_metrics,
                "history": history,
            }
            _save(last_path, run, cfg, classes, metrics, state)
            _write_log(out, history)
    if dist_info.world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return TrainResult(best_path, last_path, best_metrics, time.perf_counter() - started)


def _resume(
    path: str,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
) -> tuple[int, float, dict[str, Any], list[dict[str, Any]]]:
    """Restore weights and optimiser state from a ``last.pt``; returns where training stopped."""
    ckpt = load_checkpoint(path)
    if ckpt.model_config != model.config:
        raise TrainError(
            f"cannot resume from {path}: it holds {ckpt.model_config}, the config builds {model.config}"
        )
    state = (ckpt.extra or {}).get("train_state")
    if state is None:
        raise TrainError(f"cannot resume from {path}: no training state in it (resume from a last.pt)")
    model.load_state_dict(ckpt.state_dict)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    scaler.load_state_dict(state["scaler"])
    return int(state["epoch"]), float(state["best_miou"]), dict(state["best_metrics"]), list(state["history"])


# ----------------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="training YAML, e.g. config/train/default.yaml")
    parser.add_argument("--scheme", help="fusion scheme (asymfusion, dmf, concat, average, rgb, depth)")
    parser.add_argument("--data", help="'synthetic' or 'nyudv2:PATH'")
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


def run(args: argparse.Namespace) -> int:
    try:
        result = main(config_from_args(args))
    except TrainError as err:
        print(f"asymfusion train: {err}", file=sys.stderr)
        return 2
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    print(
        f"best {result.best_path} (val mIoU {result.best_metrics.get('miou', math.nan):.4f}), "
        f"last {result.last_path}, {result.seconds / 60:.1f} min"
    )
    return 0
