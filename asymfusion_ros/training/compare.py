"""``asymfusion compare``: train and score every fusion scheme alike, then tabulate.

Every scheme gets the same backbone, width, data, frames, epochs, optimiser and seed (one
``TrainConfig`` with only ``scheme`` changed) and is scored on the same held-out frames, so
the table differs only in the fusion scheme. Results are written after every scheme
(``compare.json``, ``compare.md``, ``compare.png``), so an interrupted run keeps what it has
and ``--reuse`` picks up where it stopped.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from pathlib import Path
from typing import Any

import yaml

from asymfusion_ros import figures
from asymfusion_ros.data import DATA_SPECS
from asymfusion_ros.fusion import SCHEMES
from asymfusion_ros.training import evaluate, train
from asymfusion_ros.training.config import TrainConfig, TrainError

COMPARE_KEYS = ("schemes", "eval_frames", "eval_seed")
"""Keys of a compare YAML beyond the TrainConfig fields."""


@dataclasses.dataclass(frozen=True)
class CompareConfig:
    train: TrainConfig
    schemes: tuple[str, ...] = SCHEMES
    eval_frames: int = 100
    eval_seed: int = evaluate.DEFAULT_SEED
    out: str = "runs/compare"
    reuse: bool = False
    command: str = ""

    def __post_init__(self) -> None:
        unknown = [s for s in self.schemes if s not in SCHEMES]
        if unknown or not self.schemes:
            bad = unknown or list(self.schemes)
            raise ValueError(f"unknown scheme(s) {bad}; choose from {list(SCHEMES)}")


def load_config(path: str | Path, *, out: str, reuse: bool, command: str, **overrides: Any) -> CompareConfig:
    """A CompareConfig from YAML (TrainConfig fields + COMPARE_KEYS) and non-None overrides."""
    try:
        with Path(path).open() as f:
            data = dict(yaml.safe_load(f) or {})
    except (OSError, yaml.YAMLError, TypeError, ValueError) as err:
        raise TrainError(f"cannot read compare config {path}: {err}") from err
    own = {k: data.pop(k) for k in COMPARE_KEYS if k in data}
    for key in COMPARE_KEYS:
        if overrides.get(key) is not None:
            own[key] = overrides[key]
    train_overrides = {k: v for k, v in overrides.items() if k not in COMPARE_KEYS}
    train_cfg = TrainConfig.from_dict(data, source=str(path), **train_overrides)
    try:
        return CompareConfig(
            train=train_cfg,
            schemes=tuple(own.get("schemes", SCHEMES)),
            eval_frames=int(own.get("eval_frames", 100)),
            eval_seed=int(own.get("eval_seed", evaluate.DEFAULT_SEED)),
            out=out,
            reuse=reuse,
            command=command,
        )
    except ValueError as err:
        raise TrainError(f"{path}: {err}") from err


def scheme_cost(model_config: dict[str, Any], size_hw: tuple[int, int]) -> tuple[int, int]:
    """(parameters, MACs of one frame) of a model built on the meta device from its config."""
    import torch

    from asymfusion_ros.fusion import build_model
    from asymfusion_ros.fusion.summary import count_macs

    with torch.device("meta"):
        model = build_model(**model_config)
    return sum(p.numel() for p in model.parameters()), count_macs(model, size_hw)


def run_scheme(cfg: CompareConfig, scheme: str) -> dict[str, Any]:
    """Train one scheme (or reuse its finished run) and score it on the held-out frames."""
    from asymfusion_ros.fusion.checkpoint import load_checkpoint

    run_dir = Path(cfg.out) / scheme
    report = run_dir / "eval" / "metrics.json"
    if not (cfg.reuse and report.is_file()):
        result = train.main(dataclasses.replace(cfg.train, scheme=scheme, out=str(run_dir), resume=None))
        (run_dir / "train_seconds.txt").write_text(f"{result.seconds:.1f}\n")
        evaluate.main(
            evaluate.EvalConfig(
                model=str(result.best_path),
                data=cfg.train.data,
                frames=cfg.eval_frames,
                seed=cfg.eval_seed,
                size=cfg.train.input_size,
                batch_size=cfg.train.batch_size,
                out=str(run_dir / "eval"),
            )
        )
    scores = json.loads(report.read_text())
    ckpt = load_checkpoint(run_dir / "best.pt")
    params, macs = scheme_cost(ckpt.model_config, cfg.train.input_size)
    seconds_file = run_dir / "train_seconds.txt"
    return {
        "scheme": scheme,
        "params": params,
        "macs": macs,
        "pixel_acc": scores["pixel_acc"],
        "mean_acc": scores["mean_acc"],
        "miou": scores["miou"],
        "per_class_iou": scores["per_class_iou"],
        "streams": {name: s["miou"] for name, s in scores.get("streams", {}).items()},
        "val_miou": (ckpt.metrics or {}).get("miou"),
        "best_epoch": (ckpt.metrics or {}).get("epoch"),
        "train_seconds": float(seconds_file.read_text()) if seconds_file.is_file() else None,
    }


def markdown_table(cfg: CompareConfig, rows: list[dict[str, Any]]) -> str:
    t = cfg.train
    h, w = t.input_size
    lines = [
        "# Fusion schemes compared",
        "",
        f"Command: `{cfg.command}`",
        "",
        f"Backbone {t.backbone} width {t.width}, input {h}x{w}, data `{t.data}` "
        f"({t.train_frames} training frames, seed {t.train_seed}; validation {t.val_frames} frames, "
        f"seed {t.val_seed}), {t.epochs} epochs, batch {t.batch_size}, {t.optimizer} lr {t.lr}, "
        f"seed {t.seed}, training crops {_size(t.crop_size or t.input_size)}. "
        f"Scored on {cfg.eval_frames} frames of the test split, seed {cfg.eval_seed}, with the "
        f"best-validation checkpoint. MACs: one {h}x{w} frame, Conv2d + Linear. Train min: wall time on "
        "the machine that ran it (a shared CPU makes it vary with load).",
        "",
        "| scheme | params (M) | MACs (G) | pixel acc | mean acc | mIoU | stream mIoU | train min |",
        "|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r in rows:
        streams = ", ".join(f"{k} {v:.3f}" for k, v in r["streams"].items()) or "-"
        minutes = f"{r['train_seconds'] / 60:.1f}" if r["train_seconds"] is not None else "-"
        lines.append(
            f"| {r['scheme']} | {r['params'] / 1e6:.3f} | {r['macs'] / 1e9:.3f} | {r['pixel_acc']:.4f} | "
            f"{r['mean_acc']:.4f} | {r['miou']:.4f} | {streams} | {minutes} |"
        )
    return "\n".join(lines) + "\n"


def _size(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def bar_chart(rows: list[dict[str, Any]], path: Path) -> None:
    plt = figures.pyplot()
    import numpy as np

    keys = ("pixel_acc", "mean_acc", "miou")
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(rows) + 2), 4))
    for i, key in enumerate(keys):
        values = [r[key] for r in rows]
        bars = ax.bar(x + (i - 1) * 0.27, values, width=0.27, label=key)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(x, [r["scheme"] for r in rows])
    ax.set(ylim=(0, 1.12), ylabel="score", title="held-out scores by fusion scheme")
    ax.legend(loc="upper center", ncol=len(keys), fontsize=8)
    figures.save(fig, path, dpi=100)


def write_results(cfg: CompareConfig, rows: list[dict[str, Any]]) -> None:
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    payload = {
        "command": cfg.command,
        "config": cfg.train.to_dict(),
        "eval_frames": cfg.eval_frames,
        "eval_seed": cfg.eval_seed,
        "results": rows,
    }
    (out / "compare.json").write_text(json.dumps(payload, indent=2))
    (out / "compare.md").write_text(markdown_table(cfg, rows))
    bar_chart(rows, out / "compare.png")


def main(cfg: CompareConfig) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for scheme in cfg.schemes:
        rows.append(run_scheme(cfg, scheme))
        write_results(cfg, rows)
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="compare YAML, e.g. config/train/compare.yaml")
    parser.add_argument("--data", help=DATA_SPECS)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--schemes", nargs="+", choices=SCHEMES, help="subset of schemes, in this order")
    parser.add_argument("--eval-frames", type=int, help="held-out frames to score each scheme on")
    parser.add_argument("--out", default="runs/compare", help="run folder (one sub-folder per scheme)")
    parser.add_argument("--reuse", action="store_true", help="keep schemes already trained and scored")


def run(args: argparse.Namespace) -> int:
    """Exit status: 0 compared, 1 a scheme failed to train or score, 2 a bad option or config."""
    command = shlex.join(["asymfusion", "compare", *_given(args)])
    try:
        cfg = load_config(
            args.config,
            out=args.out,
            reuse=args.reuse,
            command=command,
            data=args.data,
            epochs=args.epochs,
            schemes=args.schemes,
            eval_frames=args.eval_frames,
        )
    except TrainError as err:
        print(f"asymfusion compare: {err}", file=sys.stderr)
        return 2
    try:
        rows = main(cfg)
    except (TrainError, evaluate.EvalError) as err:
        print(f"asymfusion compare: {err}", file=sys.stderr)
        return 1
    print(markdown_table(cfg, rows))
    return 0


def _given(args: argparse.Namespace) -> list[str]:
    """The options as given, to record the command that reproduces the results (without
    ``--reuse``, which only skips schemes whose results are already there)."""
    words = ["--config", args.config]
    for flag, value in (
        ("--data", args.data),
        ("--epochs", args.epochs),
        ("--eval-frames", args.eval_frames),
    ):
        if value is not None:
            words += [flag, str(value)]
    if args.schemes:
        words += ["--schemes", *args.schemes]
    return [*words, "--out", args.out]
