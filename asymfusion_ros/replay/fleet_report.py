"""One report for a fleet of bags: every score from the summed confusion matrices.

Averaging per-bag mIoUs would weigh a 10-frame bag like a 10 000-frame one and call a class
absent from most bags "perfect" there; summing the counts gives the score of all frames
together, exactly as if they were one bag. Latency is the merged samples of every frame.
``report.json`` keeps the one-bag keys and adds ``bags``, worst first. Models compared: each
one's fleet report as if it ran alone, and their comparison (``fleet_comparison``).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from asymfusion_ros.metrics import ConfusionMatrix
from asymfusion_ros.replay.agreement import LabelAgreement
from asymfusion_ros.replay.comparison import (
    MODELS_DIR,
    comparison_json,
    model_entry,
    relative_folder,
    write_comparison,
)
from asymfusion_ros.replay.report import ReplayReport, percent, plot_confusion, scores_text
from asymfusion_ros.replay.task import BagResult, BagStatus
from asymfusion_ros.replay.worst import WorstFrame

BAGS_DIR = "bags"
"""Sub-folder of the fleet report holding each bag's own report folder."""


def merge(
    results: list[BagResult], *, model: str, backend: str, class_names: tuple[str, ...]
) -> ReplayReport:
    """The report of all bags as one: counts and confusion matrices summed, samples merged in bag order."""
    reports = [(r.task.name, r.report) for r in sorted(results, key=lambda r: r.task.index) if r.report]
    scored = any(report.confusion is not None for _, report in reports)
    total = ReplayReport(
        bag=fleet_label(results),
        model=model,
        backend=backend,
        topics=_common_topics([report.topics for _, report in reports]),
        class_names=class_names,
        confusion=ConfusionMatrix(len(class_names)) if scored else None,
    )
    for name, report in reports:
        total.frames += report.frames
        total.scored_frames += report.scored_frames
        total.skipped.update(report.skipped)
        total.problems.update(report.problems)
        total.stamps_ns.extend(report.stamps_ns)
        total.timings_ms.extend(report.timings_ms)
        for warning in report.warnings:
            total.warn(f"{name}: {warning}")
        if report.confusion is not None and total.confusion is not None:
            total.confusion.matrix += report.confusion.matrix
    total.interrupted = any(r.status in (BagStatus.INTERRUPTED, BagStatus.NOT_RUN) for r in results)
    return total


NO_BAG = (BagStatus.NOT_A_BAG, BagStatus.EMPTY)
"""Statuses of a path given that held no bag."""


def fleet_label(results: list[BagResult]) -> str:
    """ "3 bags", or "2 bags, 1 path without one": what the run covered, every path given counted."""
    others = sum(r.status in NO_BAG for r in results)
    bags = len(results) - others
    label = f"{bags} bag" + ("s" if bags != 1 else "")
    return label + (f", {others} path{'s' if others != 1 else ''} without one" if others else "")


def _common_topics(all_topics: list[dict[str, str | None]]) -> dict[str, str | None]:
    """Each stream's topic where every bag used the same one, else None."""
    streams = sorted({stream for topics in all_topics for stream in topics})
    return {
        stream: values.pop() if len(values := {t.get(stream) for t in all_topics}) == 1 else None
        for stream in streams
    }


def _miou(result: BagResult) -> float:
    metrics = result.report.metrics() if result.report is not None else None
    return math.nan if metrics is None else float(metrics["miou"])


def worst_first(results: list[BagResult]) -> list[BagResult]:
    """Failed bags and paths without a bag, then scored bags by mIoU (lowest first), then
    unscored ones, then those not run."""

    def rank(result: BagResult) -> tuple[int, float, int]:
        miou = _miou(result)
        if result.status is BagStatus.FAILED or result.status in NO_BAG:
            group = 0
        elif result.status is BagStatus.NOT_RUN:
            group = 3
        else:
            group = 2 if math.isnan(miou) else 1
        return group, 0.0 if math.isnan(miou) else miou, result.task.index

    return sorted(results, key=rank)


def bag_entry(result: BagResult, report_dir: Path | None) -> dict[str, Any]:
    """One bag in ``report.json``'s ``bags``."""
    report = result.report
    folder = f"{BAGS_DIR}/{result.task.name}" if report_dir is not None and report is not None else None
    return {
        "path": str(result.task.cfg.bag),
        "name": result.task.name,
        "status": result.status.value,
        "reason": result.reason,
        "frames": report.frames if report else 0,
        "skipped": dict(report.skipped) if report else {},
        "metrics": report.metrics() if report else None,
        "problems": {k.value: n for k, n in report.problems.items()} if report else {},
        "fps": report.to_json()["fps"] if report else None,
        "report": folder,
        "output_bag": result.output_bag,
        "output_bag_recovery": result.recovered.recovery.value if result.recovered else None,
        "worst_frames": [
            {"miou": w.miou, "stamp_ns": w.stamp_ns, "file": f"{folder}/{w.file}"}
            for w in (report.worst_frames if report and folder else [])
        ],
    }


def with_bags(data: dict[str, Any], results: list[BagResult], report_dir: Path | None) -> dict[str, Any]:
    """A report's JSON with ``bags``: every path given, with its status, worst first (a bag given
    alone too: one entry, whose ``report`` is None as its report is the report itself)."""
    return {**data, "bags": [bag_entry(r, report_dir) for r in worst_first(results)]}


def fleet_json(total: ReplayReport, results: list[BagResult], report_dir: Path | None) -> dict[str, Any]:
    return with_bags(total.to_json(), results, report_dir)


def status_lines(results: list[BagResult]) -> list[str]:
    """The terminal's list of every path given with its status: a heading, one line per path."""
    return ["bags, worst first:" if len(results) > 1 else "bag:", *bag_lines(results)]


def worst_frames(results: list[BagResult], count: int) -> list[tuple[str, WorstFrame]]:
    """The ``count`` frames of lowest mIoU over every bag, with their bag's name."""
    frames = [(r.task.name, w) for r in results if r.report is not None for w in r.report.worst_frames]
    return sorted(frames, key=lambda item: (item[1].miou, item[0], item[1].stamp_ns))[:count]


def bag_lines(results: list[BagResult]) -> list[str]:
    """One terminal line per bag, worst first."""
    lines = []
    for result in worst_first(results):
        frames = result.report.frames if result.report else 0
        miou = _miou(result)
        score = "   n/a" if math.isnan(miou) else f"{100 * miou:5.1f}%"
        why = f"  ({result.reason})" if result.reason else ""
        status = result.status.value
        lines.append(f"  {status:11s} mIoU {score} {frames:6d} frames  {result.task.cfg.bag}{why}")
    return lines


def _markdown(data: dict[str, Any], total: ReplayReport, results: list[BagResult], count: int) -> str:
    statuses = Counter(r.status.value for r in results)
    out = [
        f"# Replay of {total.bag}",
        "",
        f"Model `{total.model}` on backend `{total.backend}`. **{total.frames} frames** "
        f"({', '.join(f'{n} {s}' for s, n in sorted(statuses.items()))}), {data['fps'] or 0:.1f} fps "
        f"over the whole run ({total.wall_s:.1f} s)." + (" Interrupted." if total.interrupted else ""),
        "",
    ]
    scores = data["metrics"]
    if scores is not None:
        out += [
            f"Over {scores['frames']} labelled frames of every bag (one summed confusion matrix): "
            f"{scores_text(scores, '**')}.",
            "",
        ]
    out += [
        "## Bags, worst first",
        "",
        "| bag | status | frames | skipped | mIoU | pixel acc | problems | report |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for entry in data["bags"]:
        metrics = entry["metrics"] or {}
        status = entry["status"] + (f": {entry['reason']}" if entry["reason"] else "")
        problems = ", ".join(f"{k} {n}" for k, n in sorted(entry["problems"].items())) or "-"
        link = f"[report]({entry['report']}/report.md)" if entry["report"] else "-"
        out.append(
            f"| `{entry['path']}` | {status} | {entry['frames']} | {sum(entry['skipped'].values())} | "
            f"{percent(metrics.get('miou'))} | {percent(metrics.get('pixel_acc'))} | {problems} | {link} |"
        )
    out.append("")
    if scores is not None:
        out += ["| class | IoU |", "| --- | --- |"]
        ious = scores["per_class_iou"].items()
        out += [f"| {name} | {percent(iou)} |" for name, iou in ious if iou is not None]
        out.append("")
    if total.skipped:
        out += ["| skipped (all bags) | count |", "| --- | --- |"]
        out += [f"| {reason} | {n} |" for reason, n in sorted(total.skipped.items())]
        out.append("")
    out += ["| stage (all frames) | p50 ms | p95 ms | max ms |", "| --- | --- | --- | --- |"]
    out += [f"| {s} | {v['p50']:.1f} | {v['p95']:.1f} | {v['max']:.1f} |" for s, v in data["latency"].items()]
    out.append("")
    worst = worst_frames(results, count)
    if worst:
        out += ["## Worst frames", "", "colour | prediction | ground truth, lowest frame mIoU first.", ""]
        out += [
            f"![{name} at {frame.stamp_ns} ns: mIoU {percent(frame.miou)}]({BAGS_DIR}/{name}/{frame.file})"
            for name, frame in worst
        ]
        out.append("")
    out += [f"- warning: {w}" for w in total.warnings]
    out += [f"![{Path(f).stem}]({f})" for f in total.files if f.endswith(".png")]
    return "\n".join(out) + "\n"


def write_fleet_report(
    total: ReplayReport, results: list[BagResult], out_dir: Path, worst_count: int
) -> dict[str, Any]:
    """report.json, report.md and the summed confusion plot into ``out_dir``; returns the JSON."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if total.confusion is not None and total.scored_frames:
        plot_confusion(total.confusion, total.class_names, out_dir / "confusion.png")
        total.files.append("confusion.png")
    data = fleet_json(total, results, out_dir)
    (out_dir / "report.json").write_text(json.dumps(data, indent=2) + "\n")
    (out_dir / "report.md").write_text(_markdown(data, total, results, worst_count))
    return data


class FleetModel(NamedTuple):
    """A model of a fleet run: its name (comparing: its report folder; alone: ""), file name,
    backend (as asked: the bags' reports say the one used) and classes."""

    name: str
    file: str
    backend: str
    class_names: tuple[str, ...]


def model_fleet_report(
    results: list[BagResult], model: FleetModel, wall_s: float, report_dir: Path | None, worst_count: int
) -> tuple[ReplayReport, dict[str, Any]]:
    """One model's fleet report: its bags merged, written to ``report_dir`` when given; and its JSON."""
    backend = next((r.report.backend for r in results if r.report is not None), model.backend)
    total = merge(results, model=model.file, backend=backend, class_names=model.class_names)
    total.wall_s = wall_s
    if report_dir is None:
        return total, fleet_json(total, results, None)
    return total, write_fleet_report(total, results, report_dir, worst_count)


def alone(results: list[BagResult], index: int) -> list[BagResult]:
    """The results of a comparison as the fleet of its ``index``-th model alone."""
    return [
        dataclasses.replace(r, report=r.comparison.reports[index] if r.comparison else None, comparison=None)
        for r in results
    ]


def fleet_comparison(
    results: list[BagResult],
    models: Sequence[FleetModel],
    wall_s: float,
    report_dir: Path | None,
    worst_count: int,
) -> dict[str, Any]:
    """The comparison of every model over every bag (each model's fleet report, exactly as a run
    with it alone writes it, in ``report_dir/models/NAME``); its JSON, also written to ``report_dir``."""
    agreement = LabelAgreement([m.name for m in models], [m.class_names for m in models])
    for result in results:
        if result.comparison is not None:
            agreement.add(result.comparison.agreement)
    entries = []
    for index, model in enumerate(models):
        folder = report_dir / MODELS_DIR / model.name if report_dir is not None else None
        _, data = model_fleet_report(alone(results, index), model, wall_s, folder, worst_count)
        entries.append(model_entry(model.name, data, agreement, relative_folder(folder, report_dir)))
    comparison = comparison_json(entries, agreement)
    if report_dir is not None:
        write_comparison(comparison, report_dir)
    return comparison
