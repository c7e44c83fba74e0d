"""Several models over the same bags: one report with a row per model and their agreement.

Each model's own report (a one-bag or a fleet report, exactly what a replay with that model
alone writes) stays whole in ``models/NAME/``; this report puts the rows side by side: scores,
latency per stage, the classes each predicts, and how often each pair gives the same label.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asymfusion_ros.replay.agreement import LabelAgreement
from asymfusion_ros.replay.report import ReplayReport, percent

COMPARISON_FORMAT = "asymfusion_ros.replay_comparison/1"
MODELS_DIR = "models"
"""Sub-folder of a comparison's report folder holding each model's own report folder."""
SHARED_KEYS = (
    "bag",
    "topics",
    "frames",
    "skipped",
    "problems",
    "interrupted",
    "warnings",
    "wall_s",
    "fps",
    "output_bag",
)
"""Report keys that are the run's, the same for every model (``fps``: of all models together)."""


@dataclass
class Comparison:
    """What a replay of several models found: each one's report (in their order), and how alike they label."""

    reports: list[ReplayReport]
    agreement: LabelAgreement
    folders: list[str | None]
    """Each model's report folder, relative to the comparison's (None: no report written)."""

    @property
    def names(self) -> tuple[str, ...]:
        return self.agreement.names

    def to_json(self) -> dict[str, Any]:
        """The comparison's report.json for one bag."""
        rows = zip(self.names, self.reports, self.folders, strict=True)
        entries = [model_entry(name, r.to_json(), self.agreement, folder) for name, r, folder in rows]
        return comparison_json(entries, self.agreement)


def model_names(paths: Sequence[str | Path]) -> list[str]:
    """Unique names for model files, fit for a ROS name token (a topic prefix) and a folder:
    the file's stem, with its folders where two stems clash (``a/m.onnx``, ``b/m.onnx``: ``a_m``, ``b_m``)."""
    resolved = [Path(p).resolve() for p in paths]
    stems = [p.stem for p in resolved]
    if len(set(stems)) < len(stems):
        root = Path(os.path.commonpath([p.parent for p in resolved]))
        stems = ["_".join(p.relative_to(root).with_suffix("").parts) for p in resolved]
    names: list[str] = []
    for stem in stems:
        name = re.sub(r"[^A-Za-z0-9]+", "_", stem).strip("_") or "model"
        name = f"m_{name}" if name[0].isdigit() else name
        unique, n = name, 2
        while unique in names:
            unique, n = f"{name}_{n}", n + 1
        names.append(unique)
    return names


def run_names(paths: Sequence[str | Path]) -> list[str]:
    """Each model's name in a run: :func:`model_names` when several are compared; a model alone
    is unnamed (""), its outputs and report where a replay without comparison puts them."""
    return model_names(paths) if len(paths) > 1 else [""]


def model_entry(
    name: str, data: dict[str, Any], agreement: LabelAgreement, folder: str | None
) -> dict[str, Any]:
    """One model's row: its report's JSON (one bag or fleet), its class shares and report folder."""
    index = agreement.names.index(name)
    return {
        "name": name,
        **{k: v for k, v in data.items() if k != "format"},
        "class_shares": agreement.class_shares(index),
        "report": folder,
    }


def comparison_json(entries: list[dict[str, Any]], agreement: LabelAgreement) -> dict[str, Any]:
    """The comparison's report.json: the run's keys (from the first model's row), a row per model,
    and the agreement matrix."""
    first = entries[0]
    return {
        "format": COMPARISON_FORMAT,
        **{key: first[key] for key in SHARED_KEYS if key in first},
        "models": entries,
        "agreement": agreement.to_json(),
    }


def _scores(entry: dict[str, Any]) -> list[str]:
    metrics = entry["metrics"] or {}
    return [percent(metrics.get(key)) for key in ("pixel_acc", "mean_acc", "miou", "miou_gt")]


def _latency(entry: dict[str, Any], stage: str) -> str:
    value = entry["latency"].get(stage)
    return f"{value['p50']:.1f} / {value['p95']:.1f}" if value else "-"


def summary_lines(data: dict[str, Any]) -> list[str]:
    """The terminal's view: the run, a row per model, the agreement matrix, each model's top classes."""
    entries = data["models"]
    lines = [f"{data['frames']} frames from {data['bag']}, {len(entries)} models"]
    if data["interrupted"]:
        lines.append("interrupted: the results cover the frames done so far")
    lines += [f"skipped {count}: {reason}" for reason, count in sorted(data["skipped"].items())]
    lines += [f"processed despite {kind}: {count} frames" for kind, count in sorted(data["problems"].items())]
    lines += [f"warning: {w}" for w in data["warnings"]]
    width = max(len(e["name"]) for e in entries)
    header = ["pixel acc", "mean acc", "mIoU", "mIoU gt"]
    lines.append(f"{'model':{width}s}  " + "  ".join(f"{h:>9s}" for h in header) + "  total p50 / p95 ms")
    for entry in entries:
        scores = "  ".join(f"{c:>9s}" for c in _scores(entry))
        lines.append(
            f"{entry['name']:{width}s}  {scores}  {_latency(entry, 'total'):>18s}  ({entry['backend']})"
        )
    lines.append("agreement (pixels with the same label):")
    matrix = data["agreement"]["matrix"]
    for entry, row in zip(entries, matrix, strict=True):
        lines.append(f"  {entry['name']:{width}s}  " + "  ".join(f"{percent(v):>7s}" for v in row))
    for entry in entries:
        top = sorted(entry["class_shares"].items(), key=lambda item: -item[1])[:5]
        shares = ", ".join(f"{name} {percent(share)}" for name, share in top)
        lines.append(f"{entry['name']} predicts {shares}")
    return lines


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = [f"| {' | '.join(header)} |", f"|{' --- |' * len(header)}"]
    return [*lines, *(f"| {' | '.join(row)} |" for row in rows), ""]


def _markdown(data: dict[str, Any]) -> str:
    entries = data["models"]
    names = [f"`{e['name']}`" for e in entries]
    out = [
        f"# {len(entries)} models on `{data['bag']}`",
        "",
        f"**{data['frames']} frames**, each decoded once and segmented by every model "
        f"({data['wall_s']:.1f} s for all)." + (" Interrupted." if data["interrupted"] else ""),
        "",
    ]
    if data["skipped"]:
        out += _table(["skipped", "count"], [[r, str(n)] for r, n in sorted(data["skipped"].items())])
    out += [f"- warning: {w}" for w in data["warnings"]]
    rows = []
    for name, entry in zip(names, entries, strict=True):
        link = f"[report]({entry['report']}/report.md)" if entry["report"] else "-"
        rows.append([name, f"`{entry['model']}`", entry["backend"], *_scores(entry), link])
    out += ["## Scores", ""]
    out += _table(
        ["model", "file", "backend", "pixel acc", "mean acc", "mIoU", "mIoU (classes in GT)", "report"], rows
    )
    if entries[0].get("bags"):
        out += ["## mIoU per bag", ""]
        per_bag = [{b["name"]: b["metrics"] for b in e["bags"]} for e in entries]
        bags = [b["name"] for b in entries[0]["bags"]]
        out += _table(
            ["bag", *names],
            [[f"`{bag}`", *(percent((m.get(bag) or {}).get("miou")) for m in per_bag)] for bag in bags],
        )
    stages = list(dict.fromkeys(stage for e in entries for stage in e["latency"]))
    out += ["## Latency per stage (p50 / p95 ms)", ""]
    out += _table(["stage", *names], [[stage, *(_latency(e, stage) for e in entries)] for stage in stages])
    out += ["## Agreement", "", "The share of pixels where the two models give the same label.", ""]
    matrix = data["agreement"]["matrix"]
    out += _table(["", *names], [[name, *map(percent, row)] for name, row in zip(names, matrix, strict=True)])
    shares = [e["class_shares"] for e in entries]
    classes = sorted(
        {c for own in shares for c in own}, key=lambda c: -max(own.get(c, 0.0) for own in shares)
    )
    out += ["## Predicted classes (share of pixels)", ""]
    out += _table(["class", *names], [[c, *(percent(own.get(c, 0.0)) for own in shares)] for c in classes])
    return "\n".join(out)


def write_comparison(data: dict[str, Any], out_dir: Path) -> None:
    """report.json and report.md of a comparison into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(data, indent=2) + "\n")
    (out_dir / "report.md").write_text(_markdown(data))


def relative_folder(folder: Path | None, report_dir: Path | None) -> str | None:
    """A model's report folder as the comparison's report.md links to it."""
    if folder is None or report_dir is None:
        return None
    return Path(os.path.relpath(folder, report_dir)).as_posix()
