"""``asymfusion compare``: train and score fusion schemes alike, over several seeds, then tabulate.

A comparison is a list of *arms*: each arm is a name plus the training options it sets on top
of the shared ones (``schemes: [a, b]`` is shorthand for arms that set only ``scheme``), so a
table can hold parameter-matched models (a ResNet-50 AsymFusion beside ResNet-18 baselines) or
an ablation (``fusion: {detach_ensemble: false}``). Every arm trains once per seed in
``seeds`` (the seed sets initialisation, batch order and augmentation; the frames stay the
same) and is scored on the same held-out synthetic frames and, with ``real_data``, on real
labelled frames (scored only, never trained on). The table gives mean ± sample std over seeds.

Frames are rendered once for all runs. Results are written after every run (``compare.json``,
``compare.md``, ``compare.png``), so an interrupted run keeps what it has and ``--reuse`` picks
up where it stopped.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shlex
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from asymfusion_ros import figures
from asymfusion_ros.data import DATA_SPECS, open_dataset
from asymfusion_ros.data.sample import RGBDSample
from asymfusion_ros.fusion import SCHEMES
from asymfusion_ros.metrics import Metrics
from asymfusion_ros.training import evaluate, train
from asymfusion_ros.training.config import TrainConfig, TrainError
from asymfusion_ros.training.frames import FrameCache

COMPARE_KEYS = ("schemes", "arms", "seeds", "eval_frames", "eval_seed", "real_data", "real_frames")
"""Keys of a compare YAML beyond the TrainConfig fields."""

RUN_KEYS = ("out", "resume", "seed")
"""TrainConfig fields that compare sets per run; an arm may not set them."""


@dataclasses.dataclass(frozen=True)
class Arm:
    """One row of the table: its name and the TrainConfig fields it sets over the shared ones."""

    name: str
    options: dict[str, Any]

    @classmethod
    def parse(cls, entry: Any) -> Arm:
        """An arm from a YAML mapping (``name`` plus TrainConfig fields)."""
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise ValueError(f"an arm must be a mapping with a 'name', got {entry!r}")
        options = {k: v for k, v in entry.items() if k != "name"}
        fixed = sorted(set(options) & set(RUN_KEYS))
        if fixed:
            raise ValueError(f"arm {entry['name']!r} may not set {fixed} (compare sets them per run)")
        return cls(entry["name"], options)


@dataclasses.dataclass(frozen=True)
class CompareConfig:
    train: TrainConfig
    arms: tuple[Arm, ...] = tuple(Arm(s, {"scheme": s}) for s in SCHEMES)
    seeds: tuple[int, ...] = (0,)
    eval_frames: int = 100
    eval_seed: int = evaluate.DEFAULT_SEED
    real_data: str | None = None
    """Real labelled frames scored beside the synthetic ones (e.g. ``nyudv2:PATH?depth_scale=5000``)."""
    real_frames: int | None = None
    out: str = "runs/compare"
    reuse: bool = False
    command: str = ""

    def __post_init__(self) -> None:
        names = [a.name for a in self.arms]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"arms need distinct names, got {names}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct and non-empty, got {list(self.seeds)}")
        for arm in self.arms:
            self.run_config(arm, self.seeds[0])  # every arm's options must make a valid TrainConfig

    @property
    def schemes(self) -> tuple[str, ...]:
        return tuple(self.run_config(a, self.seeds[0]).scheme for a in self.arms)

    def run_config(self, arm: Arm, seed: int) -> TrainConfig:
        """The TrainConfig of one run: shared options, the arm's, then seed and run folder."""
        values = {**self.train.to_dict(), **arm.options}
        out = str(Path(self.out) / arm.name / f"seed{seed}")
        try:
            return TrainConfig.from_dict(values, source=f"arm {arm.name!r}", seed=seed, out=out, resume=None)
        except TrainError as err:
            raise ValueError(str(err)) from err


def load_config(path: str | Path, *, out: str, reuse: bool, command: str, **overrides: Any) -> CompareConfig:
    """A CompareConfig from YAML (TrainConfig fields + COMPARE_KEYS) and non-None overrides.

    ``schemes`` (YAML or override) makes one plain arm per scheme; an ``arms`` override is a list
    of names that selects (and orders) the YAML's arms.
    """
    try:
        with Path(path).open() as f:
            data = dict(yaml.safe_load(f) or {})
    except (OSError, yaml.YAMLError, TypeError, ValueError) as err:
        raise TrainError(f"cannot read compare config {path}: {err}") from err
    own = {k: data.pop(k) for k in COMPARE_KEYS if k in data}
    train_overrides = {k: v for k, v in overrides.items() if k not in COMPARE_KEYS}
    train_cfg = TrainConfig.from_dict(data, source=str(path), **train_overrides)
    try:
        if "schemes" in own and "arms" in own:
            raise ValueError("give 'schemes' or 'arms', not both")
        arms = tuple(Arm.parse(a) for a in own.get("arms", ()))
        if not arms:
            arms = tuple(Arm(s, {"scheme": s}) for s in own.get("schemes", SCHEMES))
        if overrides.get("schemes"):
            arms = tuple(Arm(s, {"scheme": s}) for s in overrides["schemes"])
        if overrides.get("arms"):
            by_name = {a.name: a for a in arms}
            missing = [n for n in overrides["arms"] if n not in by_name]
            if missing:
                raise ValueError(f"no arm named {missing[0]!r}; the config has {list(by_name)}")
            arms = tuple(by_name[n] for n in overrides["arms"])
        for key in ("seeds", "eval_frames", "real_data", "real_frames"):
            if overrides.get(key) is not None:
                own[key] = overrides[key]
        real_frames = own.get("real_frames")
        return CompareConfig(
            train=train_cfg,
            arms=arms,
            seeds=tuple(int(s) for s in own.get("seeds", [train_cfg.seed])),
            eval_frames=int(own.get("eval_frames", 100)),
            eval_seed=int(own.get("eval_seed", evaluate.DEFAULT_SEED)),
            real_data=own.get("real_data"),
            real_frames=None if real_frames is None else int(real_frames),
            out=out,
            reuse=reuse,
            command=command,
        )
    except (TypeError, ValueError) as err:
        raise TrainError(f"{path}: {err}") from err


def scheme_cost(model_config: dict[str, Any], size_hw: tuple[int, int]) -> tuple[int, int]:
    """(parameters, MACs of one frame) of a model built on the meta device from its config."""
    import torch

    from asymfusion_ros.fusion import build_model
    from asymfusion_ros.fusion.summary import count_macs

    with torch.device("meta"):
        model = build_model(**model_config)
    return sum(p.numel() for p in model.parameters()), count_macs(model, size_hw)


class Frames:
    """Every frame set the runs need, rendered (or read) once and shared by all of them."""

    def __init__(self, cfg: CompareConfig) -> None:
        self.cfg = cfg
        self._train: dict[tuple[Any, ...], tuple[FrameCache, FrameCache]] = {}
        self._eval: dict[str, list[RGBDSample]] = {}

    def train_val(self, run: TrainConfig) -> tuple[FrameCache, FrameCache]:
        key = (run.data, run.input_size, run.train_frames, run.train_seed, run.val_frames, run.val_seed)
        if key not in self._train:
            self._train[key] = train.load_train_val(run)
        return self._train[key]

    def scored(self, data: str, frames: int | None, seed: int) -> list[RGBDSample]:
        """Held-out frames at the shared input size (synthetic test split, or a real folder)."""
        if data not in self._eval:
            try:
                samples = open_dataset(
                    data, split="test", size=self.cfg.train.input_size, frames=frames, seed=seed
                )
                self._eval[data] = list(samples)
            except (OSError, ValueError) as err:
                raise TrainError(f"cannot open evaluation data {data!r}: {err}") from err
        return self._eval[data]


def _scores(metrics: Metrics) -> dict[str, float]:
    return {"pixel_acc": metrics.pixel_acc, "mean_acc": metrics.mean_acc, "miou": metrics.miou}


def run_once(cfg: CompareConfig, arm: Arm, seed: int, frames: Frames) -> dict[str, Any]:
    """Train one arm at one seed (or reuse the finished run) and score it; the run's record."""
    from asymfusion_ros.fusion.checkpoint import load_checkpoint

    run_cfg = cfg.run_config(arm, seed)
    run_dir = Path(run_cfg.out)
    record_path = run_dir / "scores.json"
    if cfg.reuse and record_path.is_file():
        return dict(json.loads(record_path.read_text()))
    result = train.main(run_cfg, frames=frames.train_val(run_cfg))
    ckpt = load_checkpoint(result.best_path)
    params, macs = scheme_cost(ckpt.model_config, run_cfg.input_size)
    synthetic = evaluate.score_checkpoint(
        result.best_path,
        frames.scored(run_cfg.data, cfg.eval_frames, cfg.eval_seed),
        source=run_cfg.data,
        batch_size=run_cfg.batch_size,
    )
    record: dict[str, Any] = {
        "arm": arm.name,
        "seed": seed,
        "scheme": run_cfg.scheme,
        "backbone": run_cfg.backbone,
        "width": run_cfg.width,
        "fusion": run_cfg.fusion,
        "params": params,
        "macs": macs,
        **_scores(synthetic.metrics),
        "per_class_iou": synthetic.metrics.per_class_iou,
        "streams": {name: m.miou for name, m in synthetic.streams.items()},
        "val_miou": (ckpt.metrics or {}).get("miou"),
        "best_epoch": (ckpt.metrics or {}).get("epoch"),
        "train_seconds": round(result.seconds, 1),
    }
    if cfg.real_data:
        real = evaluate.score_checkpoint(
            result.best_path,
            frames.scored(cfg.real_data, cfg.real_frames, 0),
            source=cfg.real_data,
            batch_size=run_cfg.batch_size,
        )
        record["real"] = {**_scores(real.metrics), "streams": {n: m.miou for n, m in real.streams.items()}}
    record_path.write_text(json.dumps(record, indent=2))
    return record


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One arm's row: its cost and the mean ± std over its seeds of every score."""
    first = runs[0]
    row: dict[str, Any] = {
        k: first[k] for k in ("arm", "scheme", "backbone", "width", "fusion", "params", "macs")
    }
    row["seeds"] = [r["seed"] for r in runs]
    for key in ("pixel_acc", "mean_acc", "miou"):
        row[key], row[f"{key}_std"] = mean_std([r[key] for r in runs])
    row["miou_runs"] = [r["miou"] for r in runs]
    row["per_class_iou"] = _nanmean([r["per_class_iou"] for r in runs])
    row["streams"] = {name: statistics.fmean(r["streams"][name] for r in runs) for name in first["streams"]}
    if "real" in first:
        for key in ("pixel_acc", "miou"):
            row[f"real_{key}"], row[f"real_{key}_std"] = mean_std([r["real"][key] for r in runs])
    row["train_seconds"] = sum(r["train_seconds"] for r in runs)
    return row


def _nanmean(rows: list[list[float]]) -> list[float]:
    """Column means ignoring NaN (a class absent from the frames); NaN where every value is."""
    columns = [[v for v in column if not math.isnan(v)] for column in zip(*rows, strict=True)]
    return [statistics.fmean(c) if c else math.nan for c in columns]


def markdown_table(cfg: CompareConfig, rows: list[dict[str, Any]]) -> str:
    t = cfg.train
    h, w = t.input_size
    real = f" and on `{cfg.real_data}` (real frames, scored only)" if cfg.real_data else ""
    lines = [
        "# Fusion schemes compared",
        "",
        f"Command: `{cfg.command}`",
        "",
        f"Shared: input {h}x{w}, data `{t.data}` ({t.train_frames} training frames, seed {t.train_seed}; "
        f"validation {t.val_frames} frames, seed {t.val_seed}), {t.epochs} epochs, batch {t.batch_size}, "
        f"{t.optimizer} lr {t.lr}, training crops {_size(t.crop_size or t.input_size)}; each arm trained "
        f"with seeds {list(cfg.seeds)} (initialisation, batch order, augmentation). Scored on "
        f"{cfg.eval_frames} frames of the synthetic test split, seed {cfg.eval_seed}{real}, with each "
        f"run's best-validation checkpoint. Scores: mean ± sample std over the seeds. MACs: one {h}x{w} "
        "frame, Conv2d + Linear. Train min: wall time of all seeds on the machine that ran it (a "
        "shared CPU makes it vary with load).",
        "",
        "| arm | scheme | backbone | width | params (M) | MACs (G) | mIoU | mIoU per seed | stream mIoU "
        "| pixel acc | real mIoU | real pixel acc | train min |",
        "|---|---|---|---:|---:|---:|---:|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        streams = ", ".join(f"{k} {v:.3f}" for k, v in r["streams"].items()) or "-"
        per_seed = " / ".join(f"{v:.3f}" for v in r["miou_runs"])
        real_miou = _pm(r, "real_miou") if "real_miou" in r else "-"
        real_acc = _pm(r, "real_pixel_acc") if "real_pixel_acc" in r else "-"
        lines.append(
            f"| {r['arm']} | {r['scheme']} | {r['backbone']} | {r['width']} | {r['params'] / 1e6:.3f} | "
            f"{r['macs'] / 1e9:.3f} | {_pm(r, 'miou')} | {per_seed} | {streams} | {_pm(r, 'pixel_acc')} | "
            f"{real_miou} | {real_acc} | {r['train_seconds'] / 60:.1f} |"
        )
    return "\n".join(lines) + "\n"


def _pm(row: dict[str, Any], key: str) -> str:
    return f"{row[key]:.4f} ± {row[f'{key}_std']:.4f}"


def _size(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def bar_chart(rows: list[dict[str, Any]], path: Path) -> None:
    """Mean mIoU per arm with its seed std as error bars: synthetic, and real when scored."""
    plt = figures.pyplot()
    import numpy as np

    keys = [k for k in ("miou", "real_miou") if all(k in r for r in rows)]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(rows) + 2), 4))
    step = 0.8 / len(keys)
    for i, key in enumerate(keys):
        bars = ax.bar(
            x + (i - (len(keys) - 1) / 2) * step,
            [r[key] for r in rows],
            yerr=[r[f"{key}_std"] for r in rows],
            width=step,
            capsize=3,
            label={"miou": "synthetic mIoU", "real_miou": "real mIoU"}[key],
        )
        ax.bar_label(bars, fmt="%.3f", fontsize=7)
    ax.set_xticks(x, [r["arm"] for r in rows], rotation=15)
    ax.set(ylim=(0, 1.0), ylabel="mIoU (mean ± std over seeds)", title="held-out mIoU by arm")
    ax.legend(loc="upper right", fontsize=8)
    figures.save(fig, path, dpi=100)


def write_results(
    cfg: CompareConfig, rows: list[dict[str, Any]], runs: list[dict[str, Any]], wall: float
) -> None:
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    payload = {
        "command": cfg.command,
        "config": cfg.train.to_dict(),
        "arms": [{"name": a.name, **a.options} for a in cfg.arms],
        "seeds": list(cfg.seeds),
        "eval_frames": cfg.eval_frames,
        "eval_seed": cfg.eval_seed,
        "real_data": cfg.real_data,
        "wall_seconds": round(wall, 1),
        "results": rows,
        "runs": runs,
    }
    (out / "compare.json").write_text(json.dumps(payload, indent=2))
    (out / "compare.md").write_text(markdown_table(cfg, rows))
    bar_chart(rows, out / "compare.png")


def main(cfg: CompareConfig) -> list[dict[str, Any]]:
    """Every arm at every seed (seed-major, so a partial run already compares all arms)."""
    started = time.perf_counter()
    frames = Frames(cfg)
    by_arm: dict[str, list[dict[str, Any]]] = {a.name: [] for a in cfg.arms}
    runs: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    for seed in cfg.seeds:
        for arm in cfg.arms:
            record = run_once(cfg, arm, seed, frames)
            by_arm[arm.name].append(record)
            runs.append(record)
            rows = [summarise(r) for r in by_arm.values() if r]
            write_results(cfg, rows, runs, time.perf_counter() - started)
    return rows


# Example command lines, shown at the end of this subcommand's --help (cli/__init__.py).
EXAMPLES: tuple[str, ...] = (
    "asymfusion compare --config config/train/compare.yaml --out runs/compare",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="compare YAML, e.g. config/train/compare.yaml")
    parser.add_argument("--data", help=DATA_SPECS)
    parser.add_argument("--epochs", type=int)
    parser.add_argument(
        "--schemes", nargs="+", choices=SCHEMES, help="one plain arm per scheme, in this order"
    )
    parser.add_argument("--arms", nargs="+", help="subset of the config's arms, by name, in this order")
    parser.add_argument("--seeds", nargs="+", type=int, help="training seeds of every arm")
    parser.add_argument("--eval-frames", type=int, help="held-out frames to score each run on")
    parser.add_argument("--real-data", help="real labelled frames to score on too, e.g. 'nyudv2:PATH'")
    parser.add_argument("--out", default="runs/compare", help="run folder (ARM/seedN sub-folders)")
    parser.add_argument("--reuse", action="store_true", help="keep runs already trained and scored")


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
            arms=args.arms,
            seeds=args.seeds,
            eval_frames=args.eval_frames,
            real_data=args.real_data,
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
    ``--reuse``, which only skips runs whose results are already there)."""
    words = ["--config", args.config]
    for flag, value in (
        ("--data", args.data),
        ("--epochs", args.epochs),
        ("--eval-frames", args.eval_frames),
        ("--real-data", args.real_data),
    ):
        if value is not None:
            words += [flag, str(value)]
    for flag, values in (("--schemes", args.schemes), ("--arms", args.arms), ("--seeds", args.seeds)):
        if values:
            words += [flag, *map(str, values)]
    return [*words, "--out", args.out]
