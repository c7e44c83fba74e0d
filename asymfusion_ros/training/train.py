"""``asymfusion train``: train one fusion scheme, validate every epoch, keep best/last checkpoints.

The CLI parses arguments into a typed :class:`TrainConfig` (:mod:`.config`: YAML file +
command-line overrides) and hands it to :func:`main`, which ``asymfusion compare`` and the
tests call directly. Frames come from :mod:`.frames`, rendered once; the network's own
``ModalityInputs`` turns raw RGB and depth into its inputs, the same module that goes into
the exported graph. Under ``torchrun`` (WORLD_SIZE > 1) it runs
DistributedDataParallel and only rank 0 writes files.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
import yaml
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, Subset
from tqdm import tqdm

from asymfusion_ros import figures
from asymfusion_ros.classes import IGNORE_INDEX, ClassSet, load_classes
from asymfusion_ros.data.transforms import Augment
from asymfusion_ros.fusion import SegmentationNet, build_model
from asymfusion_ros.fusion.checkpoint import load_checkpoint, save_checkpoint
from asymfusion_ros.fusion.preprocess import ModalityInputs
from asymfusion_ros.training.config import TrainConfig, TrainError, add_arguments, config_from_args
from asymfusion_ros.training.evaluate import ScoreSet, channels_last, score_torch
from asymfusion_ros.training.frames import FrameCache, FrameDataset, bar_options, load_frames

__all__ = [
    "TrainConfig",
    "TrainError",
    "TrainResult",
    "add_arguments",
    "load_train_val",
    "main",
    "run",
    "seg_loss",
    "train_mode",
]


class TrainResult(NamedTuple):
    """Where a run left its checkpoints, its best validation scores and how long it took."""

    best_path: Path
    last_path: Path
    best_metrics: dict[str, Any]
    seconds: float


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


def build_networks(cfg: TrainConfig, classes: ClassSet) -> tuple[SegmentationNet, ModalityInputs]:
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
    plt = figures.pyplot()

    epochs = [row["epoch"] for row in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [row["train_loss"] for row in history], marker="o")
    ax_loss.set(xlabel="epoch", ylabel="training loss", title="loss")
    for key in ("val_miou", "val_mean_acc", "val_pixel_acc"):
        ax_acc.plot(epochs, [row[key] for row in history], marker="o", label=key)
    ax_acc.set(xlabel="epoch", ylabel="score", title="validation", ylim=(0, 1))
    ax_acc.legend()
    figures.save(fig, out / "curves.png", dpi=100)


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
    freeze_bn: bool


def _augment(cfg: TrainConfig) -> Augment | None:
    """Random scale/crop/flip to ``crop_size``, scales relative to the frames' own size, then
    the configured colour, blur and depth perturbations.

    Training on crops smaller than ``input_size`` costs proportionally less per step while
    the fully convolutional network is still validated and deployed at ``input_size``.
    """
    if not cfg.augment:
        return None
    crop = cfg.crop_size or cfg.input_size
    cover = max(crop[0] / cfg.input_size[0], crop[1] / cfg.input_size[1])
    lo, hi = cfg.scale_range
    return Augment(
        crop,
        scale_range=(lo / cover, hi / cover),
        color_jitter=cfg.color_jitter,
        blur_prob=cfg.blur_prob,
        depth_noise=cfg.depth_noise,
        depth_dropout=cfg.depth_dropout,
        rgb_dropout=cfg.rgb_dropout,
    )


def _param_groups(cfg: TrainConfig, model: SegmentationNet) -> list[dict[str, Any]]:
    """One group, or (encoders, the rest) when the config gives the decoder its own learning rate.

    As in the authors' main.py the "rest" holds the decoder and AsymFusion's alpha.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.lr_decoder is None and not cfg.stages:
        return [{"params": params, "lr": cfg.lr}]
    in_encoders = {id(p) for encoder in model.encoders() for p in encoder.parameters()}
    lr_encoder, lr_decoder = cfg.group_lrs(0)
    return [
        {"params": [p for p in params if id(p) in in_encoders], "lr": lr_encoder},
        {"params": [p for p in params if id(p) not in in_encoders], "lr": lr_decoder},
    ]


def _optimiser(
    cfg: TrainConfig, model: SegmentationNet, steps_per_epoch: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW or SGD with momentum; per-step poly decay to zero, or constant rates per stage."""
    groups = _param_groups(cfg, model)
    optimizer: torch.optim.Optimizer
    if cfg.optimizer == "adamw":
        optimizer = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    else:
        optimizer = torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    steps = max(1, steps_per_epoch)
    total = max(1, cfg.epochs * steps_per_epoch)

    def factor(group: int) -> Callable[[int], float]:
        base = cfg.group_lrs(0)[group]
        if cfg.stages:
            return lambda step: cfg.group_lrs(step // steps)[group] / base
        return lambda step: max(0.0, 1.0 - step / total) ** cfg.poly_power

    factors = [factor(i) for i in range(len(groups))]
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factors)


def train_mode(model: nn.Module, *, freeze_bn: bool) -> None:
    """``model.train()``, with every BatchNorm back in eval mode when ``freeze_bn`` (running
    statistics used and kept; scale and shift still learn)."""
    model.train()
    if freeze_bn:
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()


def _train_epoch(run: _Run, batches: Iterator[tuple[torch.Tensor, ...]], bar: tqdm) -> float:
    """One pass over the training batches; returns the mean loss."""
    train_mode(run.net, freeze_bn=run.freeze_bn)
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


def main(cfg: TrainConfig, *, frames: tuple[FrameCache, FrameCache] | None = None) -> TrainResult:
    """Train ``cfg.scheme`` and return its best/last checkpoint paths and best validation scores.

    ``frames`` (training, validation) are ones already rendered for this config's data settings
    (``asymfusion compare`` renders them once for all its runs); None renders them here.
    """
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

    train_cache, val_cache = frames or load_train_val(cfg)
    train_set = FrameDataset(train_cache, _augment(cfg), cfg.seed)
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
    run = _Run(model, net, preprocess, optimizer, scheduler, scaler, use_amp, cfg.freeze_bn)

    best_path, last_path = out / "best.pt", out / "last.pt"
    for epoch in range(start_epoch, cfg.epochs):
        epoch_start = time.perf_counter()
        sampler.set_epoch(epoch)
        train_set.set_epoch(epoch)
        desc = f"{cfg.scheme} epoch {epoch + 1}/{cfg.epochs}"
        with tqdm(total=len(loader), desc=desc, disable=not dist_info.main, **bar_options()) as bar:
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


def load_train_val(cfg: TrainConfig) -> tuple[FrameCache, FrameCache]:
    """The training and validation frames ``cfg`` asks for, rendered (or read) once."""
    return (
        load_frames(cfg, split="train", frames=cfg.train_frames, seed=cfg.train_seed),
        load_frames(cfg, split="val", frames=cfg.val_frames, seed=cfg.val_seed),
    )


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


# Example command lines, shown at the end of this subcommand's --help (cli/__init__.py).
EXAMPLES: tuple[str, ...] = (
    "asymfusion train --config config/train/default.yaml --out runs/default",
    "asymfusion train --config config/train/nyudv2_r101.yaml --data nyudv2:/data/nyu --pretrained r101.pth",
)


def run(args: argparse.Namespace) -> int:
    """Exit status: 0 trained, 1 training failed, 2 a bad option or config file."""
    try:
        cfg = config_from_args(args)
    except TrainError as err:
        print(f"asymfusion train: {err}", file=sys.stderr)
        return 2
    try:
        result = main(cfg)
    except TrainError as err:
        print(f"asymfusion train: {err}", file=sys.stderr)
        return 1
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    print(
        f"best {result.best_path} (val mIoU {result.best_metrics.get('miou', math.nan):.4f}), "
        f"last {result.last_path}, {result.seconds / 60:.1f} min"
    )
    return 0
