"""``asymfusion eval``: score a checkpoint or an exported ONNX bundle on labelled RGB-D frames.

One ConfusionMatrix per output gives pixel accuracy, mean accuracy, mIoU and per-class IoU.
A ``.pt`` checkpoint runs in torch, which also exposes each modality stream's own logits
(AsymFusion's aux outputs), so the report shows what fusion adds over each stream. An
``.onnx`` bundle runs through the deployment ``Segmenter`` (resize, inference, labels back at
frame resolution), exactly as the node would; torch is not imported on that path.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from asymfusion_ros import figures
from asymfusion_ros.classes import ClassSet
from asymfusion_ros.cli.args import image_size
from asymfusion_ros.data import DATA_SPECS
from asymfusion_ros.inference.letterbox import resize_frame
from asymfusion_ros.metrics import ConfusionMatrix, Metrics
from asymfusion_ros.resources import ResourceError, resolve_model

if TYPE_CHECKING:
    import torch
    from torch import nn

    from asymfusion_ros.data.sample import RGBDSample

ScoreSet = dict[str, ConfusionMatrix]
"""Confusion matrices by output: ``"fused"`` (the model's prediction) and one per stream."""

DEFAULT_SEED = 2000
"""Held-out synthetic seed: training configs use 0 (train) and 1000 (validation)."""


class EvalError(RuntimeError):
    """The model or the data cannot be evaluated (unreadable file, no labels, bad size)."""


@dataclass(frozen=True)
class EvalConfig:
    model: str
    data: str = "synthetic"
    frames: int = 100
    seed: int = DEFAULT_SEED
    split: str = "test"
    size: tuple[int, int] | None = None
    """(H, W) frames are rendered/read at; None = the model's input size."""
    batch_size: int = 8
    out: str | None = None
    backend: str = "auto"


class EvalResult(NamedTuple):
    model_path: Path
    classes: ClassSet
    metrics: Metrics
    streams: dict[str, Metrics]
    """Each modality stream's own scores (AsymFusion checkpoints only; empty otherwise)."""
    matrix: np.ndarray
    size: tuple[int, int]

    def to_dict(self, cfg: EvalConfig) -> dict[str, Any]:
        """The JSON report: top-level pixel_acc, mean_acc, miou, per_class_iou plus provenance."""
        names = self.classes.names
        return {
            **self.metrics.to_dict(names),
            "streams": {name: m.to_dict(names) for name, m in self.streams.items()},
            "model": str(self.model_path),
            "data": cfg.data,
            "split": cfg.split,
            "seed": cfg.seed,
            "frames": cfg.frames,
            "size": list(self.size),
        }


def channels_last(inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Network inputs in NHWC memory order (the model is converted too): on CPU the decoder's
    max pooling and the resizing run several times faster, 3-4x per training step overall."""
    import torch

    return {k: v.contiguous(memory_format=torch.channels_last) for k, v in inputs.items()}


def score_torch(
    model: nn.Module,
    preprocess: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    num_classes: int,
    *,
    amp: bool = False,
) -> ScoreSet:
    """Score batches of (rgb uint8 [B,H,W,3], depth_m [B,H,W], labels [B,H',W']) on the model's device.

    Logits are resized (bilinear) to the label resolution when they differ, as the deployment
    pipeline does. Leaves the model in eval mode.
    """
    import torch
    import torch.nn.functional as F

    model.eval().to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # see channels_last()
    scores: ScoreSet = {"fused": ConfusionMatrix(num_classes)}
    modalities: tuple[str, ...] = tuple(getattr(model, "modalities", ()))
    with torch.inference_mode():
        for rgb, depth, labels in batches:
            with torch.autocast(rgb.device.type, dtype=torch.float16, enabled=amp):
                inputs = preprocess(rgb, depth)
                output = model(
                    {k: v.contiguous(memory_format=torch.channels_last) for k, v in inputs.items()}
                )
            outputs = {"fused": output.logits}
            if len(output.aux) == len(modalities) > 1:
                outputs.update(zip(modalities, output.aux, strict=True))
            for name, logits in outputs.items():
                if logits.shape[-2:] != labels.shape[-2:]:
                    logits = F.interpolate(logits.float(), size=labels.shape[-2:], mode="bilinear")
                scores.setdefault(name, ConfusionMatrix(num_classes)).update(logits.argmax(1), labels)
    return scores


def _labelled(frames: Iterable[RGBDSample], source: str) -> Iterator[tuple[RGBDSample, np.ndarray]]:
    """Each frame with its labels; a frame without labels cannot be scored."""
    for i, sample in enumerate(frames):
        if sample.labels is None:
            raise EvalError(f"{source}: frame {i} has no labels to score against")
        yield sample, sample.labels


def _open(cfg: EvalConfig, size: tuple[int, int]) -> Sequence[RGBDSample]:
    from asymfusion_ros.data import open_dataset

    try:
        return open_dataset(cfg.data, split=cfg.split, size=size, frames=cfg.frames, seed=cfg.seed)
    except (OSError, ValueError) as err:
        raise EvalError(f"cannot open data {cfg.data!r}: {err}") from err


def _eval_checkpoint(cfg: EvalConfig, path: Path) -> EvalResult:
    from asymfusion_ros.fusion.checkpoint import CheckpointError, load_checkpoint

    try:
        input_size = load_checkpoint(path).input_size
    except CheckpointError as err:
        raise EvalError(str(err)) from err
    size = cfg.size or input_size
    return score_checkpoint(path, _open(cfg, size), source=cfg.data, batch_size=cfg.batch_size)


def score_checkpoint(
    path: Path, frames: Iterable[RGBDSample], *, source: str, batch_size: int = 8
) -> EvalResult:
    """Score a ``.pt`` checkpoint in torch on labelled frames (resized to its input size first).

    ``asymfusion compare`` calls this with frames it rendered once for every run it scores.
    """
    import torch

    from asymfusion_ros.fusion.checkpoint import CheckpointError, load_checkpoint

    try:
        ckpt = load_checkpoint(path)
        model, preprocess = ckpt.build()
    except CheckpointError as err:
        raise EvalError(str(err)) from err
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    preprocess.to(device)
    labelled = _labelled(frames, source)
    size: tuple[int, int] | None = None

    def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        nonlocal size
        while chunk := list(itertools.islice(labelled, batch_size)):
            size = size or (int(chunk[0][1].shape[0]), int(chunk[0][1].shape[1]))
            inputs = [resize_frame(sample.rgb, sample.depth_m, ckpt.input_size) for sample, _ in chunk]
            yield (
                torch.from_numpy(np.stack([rgb for rgb, _ in inputs])).to(device),
                torch.from_numpy(np.stack([depth for _, depth in inputs])).to(device),
                torch.from_numpy(np.stack([labels for _, labels in chunk]).astype(np.int64)).to(device),
            )

    scores = score_torch(model, preprocess, batches(), len(ckpt.classes), amp=device.type == "cuda")
    fused = scores.pop("fused")
    return EvalResult(
        path,
        ckpt.classes,
        fused.compute(),
        {k: v.compute() for k, v in scores.items()},
        fused.matrix,
        size or ckpt.input_size,
    )


def _eval_bundle(cfg: EvalConfig, path: Path) -> EvalResult:
    from asymfusion_ros.inference.errors import BackendError
    from asymfusion_ros.inference.pipeline import Segmenter

    try:
        segmenter = Segmenter.from_path(path, backend=cfg.backend)
    except BackendError as err:
        raise EvalError(str(err)) from err
    size = cfg.size or segmenter.input_size
    cm = ConfusionMatrix(len(segmenter.classes))
    for sample, labels in _labelled(_open(cfg, size), cfg.data):
        cm.update(segmenter.segment(sample.rgb, sample.depth_m).labels, labels)
    return EvalResult(path, segmenter.classes, cm.compute(), {}, cm.matrix, size)


def main(cfg: EvalConfig) -> EvalResult:
    """Evaluate ``cfg.model`` (.pt in torch with per-stream scores, anything else via the Segmenter)."""
    try:
        path = resolve_model(cfg.model)
    except ResourceError as err:
        raise EvalError(str(err)) from err
    result = _eval_checkpoint(cfg, path) if path.suffix == ".pt" else _eval_bundle(cfg, path)
    if cfg.out:
        out = Path(cfg.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(result.to_dict(cfg), indent=2))
        plot_confusion(result.matrix, result.classes, out / "confusion.png")
    return result


def plot_confusion(matrix: np.ndarray, classes: ClassSet, path: Path) -> None:
    """Row-normalised confusion matrix over the classes that occur (in target or prediction)."""
    plt = figures.pyplot()

    present = np.flatnonzero(matrix.sum(axis=0) + matrix.sum(axis=1))
    sub = matrix[np.ix_(present, present)].astype(np.float64)
    rows = sub.sum(axis=1, keepdims=True)
    norm = np.divide(sub, rows, out=np.zeros_like(sub), where=rows > 0)
    names = [classes.names[i] for i in present]
    side = max(4.0, 0.45 * len(names) + 2.0)
    fig, ax = plt.subplots(figsize=(side, side))
    ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(names)), names, rotation=90)
    ax.set_yticks(range(len(names)), names)
    ax.set(xlabel="predicted", ylabel="ground truth", title="confusion (row-normalised)")
    for (r, c), v in np.ndenumerate(norm):
        if v >= 0.01:
            colour = "white" if v > 0.5 else "black"
            ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=6, color=colour)
    figures.save(fig, path, dpi=100)


def format_report(result: EvalResult) -> str:
    """A human-readable table: overall scores, per-stream scores, IoU of each occurring class."""
    m = result.metrics
    lines = [
        f"model {result.model_path}  ({result.size[0]}x{result.size[1]})",
        f"{'output':<10} {'pixel acc':>9} {'mean acc':>9} {'mIoU':>7} {'mIoU (classes in gt)':>20}",
    ]
    lines += [
        f"{name:<10} {s.pixel_acc:9.4f} {s.mean_acc:9.4f} {s.miou:7.4f} {s.miou_gt:20.4f}"
        for name, s in (("fused", m), *result.streams.items())
    ]
    lines.append("per-class IoU:")
    lines += [
        f"  {name:<16} {iou:.4f}"
        for name, iou in zip(result.classes.names, m.per_class_iou, strict=True)
        if not math.isnan(iou)
    ]
    return "\n".join(lines)


# Example command lines, shown at the end of this subcommand's --help (cli/__init__.py).
EXAMPLES: tuple[str, ...] = (
    "asymfusion eval --model default --frames 200 --seed 2000",
    'asymfusion eval --model runs/nyu/best.pt --data "nyudv2:/data/nyudv2?depth_scale=5000" --json',
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="a .pt checkpoint, an .onnx bundle, or 'default'")
    parser.add_argument("--data", default="synthetic", help=DATA_SPECS)
    parser.add_argument("--frames", type=int, default=100, help="number of frames to score")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="synthetic seed (held out by default)")
    parser.add_argument("--split", default="test", help="dataset split (NYUDv2: train/test)")
    parser.add_argument(
        "--size", type=image_size, help="frame size WIDTHxHEIGHT (default: the model's input size)"
    )
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--backend", default="auto", help="for .onnx: auto, onnxruntime, tensorrt")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--out", help="folder for metrics.json and confusion.png")


def run(args: argparse.Namespace) -> int:
    """Exit status: 0 scored, 1 the model or data cannot be used, 2 no such model (a usage error)."""
    try:
        resolve_model(args.model)
    except ResourceError as err:
        print(f"asymfusion eval: {err}", file=sys.stderr)
        return 2
    cfg = EvalConfig(
        model=args.model,
        data=args.data,
        frames=args.frames,
        seed=args.seed,
        split=args.split,
        size=args.size,
        batch_size=args.batch_size,
        out=args.out,
        backend=args.backend,
    )
    try:
        result = main(cfg)
    except EvalError as err:
        print(f"asymfusion eval: {err}", file=sys.stderr)
        return 1
    print(json.dumps(result.to_dict(cfg), indent=2) if args.json else format_report(result))
    return 0
