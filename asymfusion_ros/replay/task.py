"""One bag of a fleet run: the per-bag work that every mode runs, in this process, in a
worker process (``--jobs``) or as a Ray task (``--ray``).

The task is ``runner.replay_models`` on one bag (one model, or several compared), with the
failures that concern only that bag (unreadable, a stream missing, a window outside it,
inference failing) turned into a :class:`BagResult` that says why, so every other bag still
counts. Each model is loaded once per process and kept. A task talks to the run that
dispatched it through a :class:`Channel`: it says how many frames it expects and has done,
and hears when to stop.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from asymfusion_ros.bags import BagReadError
from asymfusion_ros.bags.recover import Recovered, Recovery, recover_bag
from asymfusion_ros.inference.errors import BackendError
from asymfusion_ros.replay.comparison import Comparison, run_names
from asymfusion_ros.replay.report import ReplayReport
from asymfusion_ros.replay.runner import NamedSegmenter, ReplayConfig, ReplayOptionError, replay_models

if TYPE_CHECKING:
    from asymfusion_ros.inference.pipeline import Segmenter


class BagStatus(str, Enum):
    """How a bag's task ended."""

    DONE = "done"
    PARTIAL = "partial"
    """Replayed as far as it could be read: a break part-way, or an unfinished MCAP file."""
    INTERRUPTED = "interrupted"
    """Stopped by Ctrl-C part-way; its frames so far count."""
    FAILED = "failed"
    NOT_RUN = "not run"
    """Still queued when the run was stopped."""
    NOT_A_BAG = "not a bag"
    """A path given that is neither a bag nor a folder (a text file, say): never replayed."""
    EMPTY = "empty"
    """A folder given with no bag in it: never replayed."""


@dataclass(frozen=True)
class ModelSpec:
    """The model as every worker loads it (a file the worker can see, its backend options)."""

    path: str
    backend: str
    precision: str
    threads: int | None = None
    """ONNX Runtime / torch CPU threads; a worker's share of the cores when several run."""

    def load(self) -> Segmenter:
        """This process's segmenter for the spec, loaded on first use (BackendError if it cannot be)."""
        return _segmenter(self)


@cache
def _segmenter(spec: ModelSpec) -> Segmenter:
    from asymfusion_ros.inference.pipeline import Segmenter

    return Segmenter.from_path(
        spec.path, backend=spec.backend, precision=spec.precision, threads=spec.threads
    )


@dataclass(frozen=True)
class BagTask:
    """One bag to replay: ``cfg`` is the run's options with this bag's input, output and report folder."""

    index: int
    name: str
    """Unique within the run; names the bag's report folder and output bag."""
    cfg: ReplayConfig


@dataclass
class BagResult:
    """What became of one bag; ``report`` is None when nothing of it could be read."""

    task: BagTask
    status: BagStatus
    reason: str | None = None
    report: ReplayReport | None = None
    """Comparing models: the first one's (as ``comparison.reports[0]``)."""
    comparison: Comparison | None = None
    """Comparing models: every model's report and their agreement on this bag."""
    recovered: Recovered | None = None
    """When its worker died with ``--out``: what became of the output bag it was writing."""

    @property
    def output_bag(self) -> str | None:
        """The readable output bag the task left, if any."""
        if self.report is not None:
            return self.report.output_bag
        readable = (Recovery.COMPLETED, Recovery.CLOSED)
        if self.recovered is not None and self.recovered.recovery in readable:
            return str(self.task.cfg.out)
        return None


class Channel(Protocol):
    """How a task reports to the run that dispatched it."""

    def started(self, index: int, expected: int) -> None:
        """The bag is open and should give about ``expected`` frames."""

    def advance(self, index: int, frames: int) -> None:
        """``frames`` more frames of the bag are done."""

    def stop_requested(self) -> bool:
        """The run was stopped (Ctrl-C): finish the frame at hand and return."""


class Progress(Protocol):
    """The dispatching side: what the tasks' channels report to, and the run's stop flag."""

    def started(self, index: int, expected: int, pid: int | None = None) -> None:
        """Bag ``index`` was opened by process ``pid`` and should give about ``expected`` frames."""

    def advance(self, index: int, frames: int) -> None: ...

    def finished(self, result: BagResult) -> None: ...

    def stop_requested(self) -> bool: ...


def died(task: BagTask, reason: str) -> BagResult:
    """A bag whose worker died: failed for ``reason``; the output bag it was writing is made
    readable with what it holds, or removed (``bags.recover``), and the reason says which. Its
    report folder, begun (overlays) but never written, is removed: no report links to it."""
    report_dir = task.cfg.report_dir
    if report_dir is not None and report_dir.is_dir() and not (report_dir / "report.json").exists():
        shutil.rmtree(report_dir)
    if task.cfg.out is None:
        return BagResult(task, BagStatus.FAILED, reason)
    recovered = recover_bag(task.cfg.out, task.cfg.out_format)
    return BagResult(
        task, BagStatus.FAILED, f"{reason}; {recovered.describe(task.cfg.out)}", recovered=recovered
    )


def not_run(task: BagTask) -> BagResult:
    """A bag still queued when the run was stopped."""
    return BagResult(task, BagStatus.NOT_RUN, "the run was stopped before this bag started")


class _Counter:
    """The ``update(n)`` the runner's progress hook calls: forwards counts, turns a stop into ``stop``."""

    def __init__(self, channel: Channel, index: int, stop: threading.Event) -> None:
        self.channel, self.index, self.stop = channel, index, stop

    def update(self, frames: int = 1) -> None:
        self.channel.advance(self.index, frames)
        if self.channel.stop_requested():
            self.stop.set()


def run_bag(task: BagTask, models: Sequence[ModelSpec], channel: Channel) -> BagResult:
    """Replay ``task``'s bag with this process's models (every model on every frame, each frame
    decoded once); a failure of the bag is a result, not an error."""
    if channel.stop_requested():
        return not_run(task)
    stop = threading.Event()

    @contextmanager
    def progress(expected: int) -> Iterator[_Counter]:
        channel.started(task.index, expected)
        yield _Counter(channel, task.index, stop)

    loaded = []
    for name, model in zip(run_names([model.path for model in models]), models, strict=True):
        try:
            loaded.append(NamedSegmenter(name, Path(model.path).name, model.load()))
        except BackendError as err:
            return BagResult(task, BagStatus.FAILED, f"cannot load model {model.path}: {err}")
    try:
        comparison = replay_models(task.cfg, loaded, stop=stop, progress=progress)
    except (BagReadError, ReplayOptionError) as err:
        return BagResult(task, BagStatus.FAILED, str(err))
    except BackendError as err:
        return BagResult(task, BagStatus.FAILED, f"inference failed: {err}")
    return replayed(task, comparison)


def outcome(report: ReplayReport) -> tuple[BagStatus, str | None]:
    """How a bag that was replayed ended, and why when not done, from its report."""
    if report.interrupted:
        return BagStatus.INTERRUPTED, "stopped part-way (Ctrl-C)"
    if report.frames == 0:
        return BagStatus.FAILED, "no frame could be processed (see skipped)"
    if report.unread is not None:
        return BagStatus.PARTIAL, report.unread
    return BagStatus.DONE, None


def replayed(task: BagTask, comparison: Comparison) -> BagResult:
    """The result of a bag that was replayed, by one model or several compared: the one place
    a fleet's bag and a bag given alone get their status."""
    report = comparison.reports[0]
    kept = comparison if len(comparison.reports) > 1 else None
    return BagResult(task, *outcome(report), report, kept)
