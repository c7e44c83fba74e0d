"""What a replay found, and its files: report.json, report.md, latency and confusion plots.

Kept apart from the replay loop so the loop only counts and times; everything a reader of
the report sees (percentiles, scores, figures) is decided here, once.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from asymfusion_ros import figures
from asymfusion_ros.metrics import ConfusionMatrix
from asymfusion_ros.replay.worst import WorstFrame
from asymfusion_ros.ros.problems import Problem
from asymfusion_ros.stats import summarize_ms

REPORT_FORMAT = "asymfusion_ros.replay_report/1"
COMPOSITE_STAGES = ("segment", "outputs", "total")
"""Timing keys that sum other stages: shown in the tables, not stacked in the plot."""


@dataclass
class ReplayReport:
    """Accumulates one replay: per-frame timings, skips with reasons, the confusion matrix."""

    bag: str
    model: str
    backend: str
    topics: dict[str, str | None]
    class_names: tuple[str, ...]
    confusion: ConfusionMatrix | None = None
    frames: int = 0
    scored_frames: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    problems: Counter[Problem] = field(default_factory=Counter)
    stamps_ns: list[int] = field(default_factory=list)
    timings_ms: list[dict[str, float]] = field(default_factory=list)
    wall_s: float = 0.0
    interrupted: bool = False
    unread: str | None = None
    """Why part of the bag was not read (a break part-way, an unfinished MCAP file), if so."""
    warnings: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    output_bag: str | None = None
    worst_frames: list[WorstFrame] = field(default_factory=list)
    """Drawn only when asked (``ReplayConfig.worst_overlays``): a fleet report shows them."""

    def add_frame(self, stamp_ns: int, timings_ms: dict[str, float]) -> None:
        self.frames += 1
        self.stamps_ns.append(stamp_ns)
        self.timings_ms.append(timings_ms)

    def warn(self, message: str, limit: int = 20) -> None:
        """Keep the first ``limit`` warnings: a broken stream must not flood the report."""
        if len(self.warnings) < limit:
            self.warnings.append(message)

    def problem(self, kind: Problem) -> None:
        """Count a frame that was processed despite a fault (keyed as the node's diagnostics)."""
        self.problems[kind] += 1

    def skip(self, reason: str, count: int = 1) -> None:
        if count > 0:
            self.skipped[reason] += count

    @property
    def fps(self) -> float:
        """Frames per second of the whole replay (reading, decoding, inference, writing)."""
        return self.frames / self.wall_s if self.wall_s > 0 else math.nan

    def latency(self) -> dict[str, dict[str, float]]:
        """p50/p95/max/mean in ms of every stage over all frames, in the order stages first ran."""
        stages: dict[str, list[float]] = {}
        for timings in self.timings_ms:
            for stage, ms in timings.items():
                stages.setdefault(stage, []).append(ms)
        summaries = {stage: summarize_ms(values) for stage, values in stages.items()}
        return {
            stage: {"p50": s.p50_ms, "p95": s.p95_ms, "max": s.max_ms, "mean": s.mean_ms}
            for stage, s in summaries.items()
        }

    def metrics(self) -> dict[str, Any] | None:
        if self.confusion is None or self.scored_frames == 0:
            return None
        scores = self.confusion.compute().to_dict(self.class_names)
        scores["frames"] = self.scored_frames
        return scores

    def to_json(self) -> dict[str, Any]:
        return {
            "format": REPORT_FORMAT,
            "bag": self.bag,
            "topics": self.topics,
            "model": self.model,
            "backend": self.backend,
            "frames": self.frames,
            "skipped": dict(self.skipped),
            "problems": {kind.value: count for kind, count in self.problems.items()},
            "interrupted": self.interrupted,
            "warnings": self.warnings,
            "metrics": self.metrics(),
            "latency": self.latency(),
            "fps": _finite(self.fps),
            "wall_s": self.wall_s,
            "output_bag": self.output_bag,
            "files": self.files,
        }


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else value


def percent(value: float | None) -> str:
    """A score as "12.3 %", or "n/a" when undefined."""
    return "n/a" if value is None or math.isnan(value) else f"{100 * value:.1f} %"


def scores_text(scores: dict[str, Any], emphasis: str = "") -> str:
    """Pixel acc, mean acc and mIoU (wrapped in ``emphasis``, e.g. ``**``) as percentages, with
    the mIoU over the classes in the ground truth: on a short bag, the figure a test set gives."""
    miou = f"{emphasis}mIoU {percent(scores['miou'])}{emphasis}"
    return (
        f"pixel acc {percent(scores['pixel_acc'])}, mean acc {percent(scores['mean_acc'])}, {miou} "
        f"(over the classes in the ground truth: {percent(scores['miou_gt'])})"
    )


def summary_lines(report: ReplayReport) -> list[str]:
    """The few lines a terminal user wants: frames, skips, scores, speed."""
    lines = [f"{report.frames} frames from {report.bag} with {report.model} on {report.backend}"]
    if report.interrupted:
        lines.append("interrupted: the results cover the frames done so far")
    for reason, count in sorted(report.skipped.items()):
        lines.append(f"skipped {count}: {reason}")
    for kind, count in sorted(report.problems.items()):
        lines.append(f"processed despite {kind.value}: {count} frames")
    lines.extend(f"warning: {w}" for w in report.warnings)
    scores = report.metrics()
    if scores is not None:
        lines.append(f"{scores_text(scores)} over {scores['frames']} labelled frames")
    total = report.latency().get("total")
    if total:
        lines.append(f"latency p50 {total['p50']:.1f} ms, p95 {total['p95']:.1f} ms; {report.fps:.1f} fps")
    return lines


def _markdown(report: ReplayReport) -> str:
    data = report.to_json()
    out = [f"# Replay of `{report.bag}`", "", f"Model `{report.model}` on backend `{report.backend}`.", ""]
    out += ["| stream | topic |", "| --- | --- |"]
    out += [f"| {k} | `{v}` |" for k, v in report.topics.items()]
    out += [
        "",
        f"**{report.frames} frames** processed, {data['fps'] or 0:.1f} fps overall "
        f"({report.wall_s:.1f} s)." + (" Interrupted." if report.interrupted else ""),
        "",
    ]
    if report.skipped:
        out += ["| skipped | count |", "| --- | --- |"]
        out += [f"| {reason} | {count} |" for reason, count in sorted(report.skipped.items())]
        out.append("")
    if report.problems:
        out += ["| processed despite | frames |", "| --- | --- |"]
        out += [f"| {kind.value} | {count} |" for kind, count in sorted(report.problems.items())]
        out.append("")
    out += [f"- warning: {w}" for w in report.warnings]
    scores = data["metrics"]
    if scores is None:
        out += ["No ground truth: no scores.", ""]
    else:
        out += [
            f"Over {scores['frames']} labelled frames: {scores_text(scores, '**')}.",
            "",
            "| class | IoU |",
            "| --- | --- |",
        ]
        ious = scores["per_class_iou"].items()
        out += [f"| {name} | {percent(iou)} |" for name, iou in ious if iou is not None]
        out.append("")
    out += ["| stage | p50 ms | p95 ms | max ms |", "| --- | --- | --- | --- |"]
    out += [f"| {s} | {v['p50']:.1f} | {v['p95']:.1f} | {v['max']:.1f} |" for s, v in data["latency"].items()]
    out.append("")
    out += [f"![{Path(f).stem}]({f})" for f in report.files if f.endswith(".png")]
    return "\n".join(out) + "\n"


def plot_latency(report: ReplayReport, path: Path) -> None:
    """Every frame's latency against its time in the bag: the stages stacked, the total on top."""
    plt = figures.pyplot()

    t0 = report.stamps_ns[0]
    t_s = [(s - t0) / 1e9 for s in report.stamps_ns]
    leaves = [stage for stage in report.latency() if stage not in COMPOSITE_STAGES]
    fig, ax = plt.subplots(figsize=(8, 3.5), dpi=100)
    ax.stackplot(t_s, [[t.get(stage, 0.0) for t in report.timings_ms] for stage in leaves], labels=leaves)
    ax.plot(
        t_s,
        [t.get("total", math.nan) for t in report.timings_ms],
        color="black",
        linewidth=1.0,
        label="total",
    )
    ax.set_xlabel("bag time (s)")
    ax.set_ylabel("latency (ms)")
    ax.set_title(f"{report.model} on {report.backend}: {report.frames} frames, {report.fps:.1f} fps")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=4, loc="upper right")
    figures.save(fig, path)


def plot_confusion(confusion: ConfusionMatrix, names: tuple[str, ...], path: Path) -> None:
    """Row-normalised confusion matrix over the classes present in ground truth or prediction."""
    plt = figures.pyplot()

    m = confusion.matrix
    present = np.flatnonzero((m.sum(axis=0) + m.sum(axis=1)) > 0)
    sub = m[np.ix_(present, present)].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        norm = np.nan_to_num(sub / sub.sum(axis=1, keepdims=True))
    size = max(4.0, 0.3 * len(present) + 2.0)
    fig, ax = plt.subplots(figsize=(size, size), dpi=100)
    ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    labels = [names[i] if i < len(names) else str(i) for i in present]
    ax.set_xticks(range(len(present)), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(present)), labels, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("ground truth")
    ax.set_title("confusion (rows normalised)")
    figures.save(fig, path)


def write_report(report: ReplayReport, out_dir: Path) -> None:
    """report.json, report.md and the plots into ``out_dir`` (overlays are already there)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if report.frames:
        plot_latency(report, out_dir / "latency.png")
        report.files.append("latency.png")
    if report.confusion is not None and report.scored_frames:
        plot_confusion(report.confusion, report.class_names, out_dir / "confusion.png")
        report.files.append("confusion.png")
    (out_dir / "report.json").write_text(json.dumps(report.to_json(), indent=2) + "\n")
    (out_dir / "report.md").write_text(_markdown(report))
