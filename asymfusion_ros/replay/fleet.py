"""Many bags, one report: which bags, and who replays each (this process, worker processes, Ray).

Every mode runs the same per-bag task (``task.run_bag``) and hands back the same
:class:`BagResult`; only the dispatch differs. Worker processes (``--jobs N``) are started
with ``spawn``, each loads the models once and is given the next bag when it hands in one, so a
worker that dies (killed, out of memory) costs its own bag and is replaced. Ctrl-C lets the
bags at hand end at the next frame, marks the queued ones "not run", and the report covers
what finished. One bar counts the frames of all bags.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event as ProcessEvent
from pathlib import Path
from typing import Any, NamedTuple

from asymfusion_ros.bags import BagReader, BagReadError, detect_topics
from asymfusion_ros.replay.comparison import MODELS_DIR
from asymfusion_ros.replay.fleet_report import BAGS_DIR
from asymfusion_ros.replay.runner import ReplayConfig, ReplayOptionError, expected_frames
from asymfusion_ros.replay.task import (
    BagResult,
    BagStatus,
    BagTask,
    ModelSpec,
    died,
    not_run,
    run_bag,
)

BAG_SUFFIXES = (".mcap", ".db3", ".bag")
STORAGE_SUFFIXES = (".mcap", ".db3")


# -- which bags ------------------------------------------------------------------------------


def is_bag_dir(path: Path) -> bool:
    """A rosbag2 folder: it has metadata.yaml, or (a recorder killed before writing it) one
    storage file and no sub-folders."""
    if (path / "metadata.yaml").is_file():
        return True
    children = list(path.iterdir())
    storage = [c for c in children if c.is_file() and c.suffix in STORAGE_SUFFIXES]
    return len(storage) == 1 and not any(c.is_dir() for c in children)


def _bags_under(folder: Path) -> Iterable[Path]:
    for child in sorted(folder.iterdir()):
        if child.is_dir():
            yield from [child] if is_bag_dir(child) else _bags_under(child)
        elif child.suffix in BAG_SUFFIXES:
            yield child


class NoBag(NamedTuple):
    """A path given that holds no bag to replay: the status and reason its report entry shows."""

    path: Path
    status: BagStatus
    reason: str


def _bags_in(path: Path) -> list[Path] | NoBag:
    """The bags a path given holds (itself, when it is one), or why it holds none. A file named
    as a bag is the bag's to refuse when replayed."""
    kinds = ", ".join(BAG_SUFFIXES)
    if path.is_dir():
        try:
            inside = [path] if is_bag_dir(path) else list(_bags_under(path))
        except OSError as err:  # a folder we may not list
            return NoBag(path, BagStatus.FAILED, f"cannot search it: {err}")
        return inside or NoBag(path, BagStatus.EMPTY, f"no bag in it ({kinds}, rosbag2 folder)")
    if not path.exists():
        return NoBag(path, BagStatus.FAILED, "no such file or folder")
    if not path.is_file():
        return NoBag(path, BagStatus.NOT_A_BAG, "neither a file nor a folder")
    if path.suffix not in BAG_SUFFIXES:
        return NoBag(path, BagStatus.NOT_A_BAG, f"not a {kinds} file nor a rosbag2 folder")
    return [path]


def find_bags(paths: Sequence[Path]) -> tuple[list[Path], list[NoBag]]:
    """The bags: each path that is a bag, and every bag under each folder given, once each; and
    each path that gave none, with why (missing, not a bag, an empty folder), so that every
    path given is accounted for.
    """
    found: dict[Path, Path] = {}
    others = []
    for path in paths:
        inside = _bags_in(path)
        if isinstance(inside, NoBag):
            others.append(inside)
            continue
        for bag in inside:
            found.setdefault(bag.resolve(), bag)
    return list(found.values()), others


def bag_names(bags: Sequence[Path]) -> list[str]:
    """Unique folder names for the bags: their paths below the deepest folder they share."""
    resolved = [bag.resolve() for bag in bags]
    root = Path(os.path.commonpath([r.parent for r in resolved]))
    return ["__".join(r.relative_to(root).parts) for r in resolved]


def plan(cfg: ReplayConfig, bags: Sequence[Path], models: Sequence[str] = ()) -> list[BagTask]:
    """One task per bag: the run's options, with the bag's own output bag and report folder.

    ``models``: the names of models compared; each one's report of the bag goes to
    ``report_dir/models/MODEL/bags/BAG``, so that ``report_dir/models/MODEL`` is the fleet
    report of that model alone, and the bag's comparison to ``report_dir/bags/BAG``.
    """
    tasks = []
    for index, (bag, name) in enumerate(zip(bags, bag_names(bags), strict=True)):
        report_dir = cfg.report_dir / BAGS_DIR / name if cfg.report_dir is not None else None
        root = cfg.report_dir
        model_dirs = (
            tuple(root / MODELS_DIR / m / BAGS_DIR / name for m in models) if root is not None else ()
        )
        bag_cfg = dataclasses.replace(
            cfg,
            bag=bag,
            out=cfg.out / name if cfg.out is not None else None,
            report_dir=report_dir,
            model_report_dirs=model_dirs,
            worst_overlays=cfg.overlays if report_dir is not None else 0,
            progress=False,
        )
        tasks.append(BagTask(index, name, bag_cfg))
    return tasks


def not_replayed(cfg: ReplayConfig, others: Sequence[NoBag], first_index: int) -> list[BagResult]:
    """The results of the paths that held no bag, numbered from ``first_index`` (after the bags)."""
    return [
        BagResult(
            BagTask(
                index, other.path.name, dataclasses.replace(cfg, bag=other.path, out=None, report_dir=None)
            ),
            other.status,
            other.reason,
        )
        for index, other in enumerate(others, start=first_index)
    ]


def count_frames(cfg: ReplayConfig) -> int:
    """The frames a bag should give, as its own replay counts them; 0 when it cannot be opened here."""
    try:
        with BagReader(cfg.bag) as bag:
            topics = detect_topics(
                bag, rgb=cfg.rgb_topic, depth=cfg.depth_topic, info=cfg.info_topic, labels=cfg.label_topic
            )
            return expected_frames(bag, topics, cfg)
    except (BagReadError, ReplayOptionError):
        return 0


# -- progress and stop -----------------------------------------------------------------------


class FleetProgress:
    """One bar over the frames of every bag, and the run's stop flag (the channel of local tasks).

    Each bag's share of the total starts as counted here, is replaced by the count its task
    reports on opening the bag, and by the frames it did when it ends, so the bar ends full.
    """

    def __init__(self, tasks: Sequence[BagTask], stop: threading.Event, enabled: bool) -> None:
        from tqdm import tqdm

        self.stop = stop
        self.expected = {t.index: count_frames(t.cfg) if enabled else 0 for t in tasks}
        self.done = dict.fromkeys(self.expected, 0)
        self.bags = len(tasks)
        self.finished_bags = 0
        self.bar = tqdm(
            total=sum(self.expected.values()),
            unit="frame",
            desc=f"replay 0/{self.bags} bags",
            disable=not enabled,
            file=sys.stderr,
            dynamic_ncols=True,
        )

    def _expect(self, index: int, frames: int) -> None:
        self.expected[index] = frames
        self.bar.total = sum(self.expected.values())
        self.bar.refresh()

    def started(self, index: int, expected: int, pid: int | None = None) -> None:
        """A bag was opened (by process ``pid``)."""
        self._expect(index, expected)

    def advance(self, index: int, frames: int) -> None:
        self.done[index] += frames
        self.bar.update(frames)

    def finished(self, result: BagResult) -> None:
        self.finished_bags += 1
        self.bar.set_description(f"replay {self.finished_bags}/{self.bags} bags")
        index = result.task.index  # a Ray task's last counts may still be on their way
        self._expect(index, result.report.frames if result.report is not None else self.done[index])

    def stop_requested(self) -> bool:
        return self.stop.is_set()

    def close(self) -> None:
        self.bar.close()


class _LocalChannel:
    """A task in this process reports straight to the bar."""

    def __init__(self, progress: FleetProgress) -> None:
        self.progress = progress

    def started(self, index: int, expected: int) -> None:
        self.progress.started(index, expected, os.getpid())

    def advance(self, index: int, frames: int) -> None:
        self.progress.advance(index, frames)

    def stop_requested(self) -> bool:
        return self.progress.stop_requested()


def run_here(
    tasks: Sequence[BagTask], models: Sequence[ModelSpec], progress: FleetProgress
) -> list[BagResult]:
    """Bag after bag in this process (``--jobs 1``)."""
    results = []
    for task in tasks:
        results.append(run_bag(task, models, _LocalChannel(progress)))
        progress.finished(results[-1])
    return results


# -- worker processes ------------------------------------------------------------------------


class _PipeChannel:
    """A worker process's channel: events up the pipe, the stop flag shared with the driver."""

    def __init__(self, conn: Connection, stop: ProcessEvent) -> None:
        self.conn, self.stop = conn, stop

    def started(self, index: int, expected: int) -> None:
        self.conn.send(("started", index, expected, os.getpid()))

    def advance(self, index: int, frames: int) -> None:
        self.conn.send(("frames", index, frames))

    def stop_requested(self) -> bool:
        return self.stop.is_set()


def _worker(models: Sequence[ModelSpec], conn: Connection, stop: ProcessEvent) -> None:
    """A worker process: load the models, then replay each bag sent until None comes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group; the driver decides
    channel = _PipeChannel(conn, stop)
    while (task := conn.recv()) is not None:
        conn.send(("result", run_bag(task, models, channel)))


def death_reason(exitcode: int | None) -> str:
    """Why a worker process ended without handing in its bag."""
    if exitcode is not None and exitcode < 0:
        signum = -exitcode
        hint = " (out of memory, or killed by hand)" if signum == signal.SIGKILL else ""
        return f"worker process killed by {signal.Signals(signum).name}{hint}"
    return f"worker process exited with status {exitcode} (its traceback is on stderr)"


class _Pool:
    """``jobs`` spawned worker processes, each replaying one bag at a time, replaced when one dies."""

    def __init__(self, models: Sequence[ModelSpec], jobs: int, progress: FleetProgress) -> None:
        self.context = multiprocessing.get_context("spawn")
        self.models, self.jobs, self.progress = models, jobs, progress
        self.stop = self.context.Event()
        self.workers: dict[Connection, tuple[BaseProcess, BagTask | None]] = {}
        self.queue: deque[BagTask] = deque()
        self.results: list[BagResult] = []

    def _start_worker(self) -> Connection:
        mine, theirs = self.context.Pipe()
        process = self.context.Process(
            target=_worker, args=(self.models, theirs, self.stop), name="asymfusion-replay", daemon=True
        )
        process.start()
        theirs.close()  # so a dead worker reads as end-of-file here
        self.workers[mine] = (process, None)
        return mine

    def _give_next(self, conn: Connection) -> None:
        process, _ = self.workers[conn]
        if self.queue and not self.progress.stop_requested():
            task = self.queue.popleft()
            conn.send(task)
            self.workers[conn] = (process, task)
        else:
            conn.send(None)
            del self.workers[conn]
            process.join()
            conn.close()

    def _finish(self, result: BagResult) -> None:
        self.results.append(result)
        self.progress.finished(result)

    def _receive(self, conn: Connection) -> None:
        process, task = self.workers[conn]
        try:
            message: tuple[Any, ...] = conn.recv()
        except EOFError:
            process.join()
            del self.workers[conn]
            conn.close()
            if task is not None:
                self._finish(died(task, death_reason(process.exitcode)))
            if self.queue and not self.progress.stop_requested():
                self._give_next(self._start_worker())
            return
        kind = message[0]
        if kind == "started":
            self.progress.started(*message[1:])
        elif kind == "frames":
            self.progress.advance(*message[1:])
        else:
            self._finish(message[1])
            self._give_next(conn)

    def run(self, tasks: Sequence[BagTask]) -> list[BagResult]:
        self.queue.extend(tasks)
        try:
            for _ in range(min(self.jobs, len(tasks))):
                self._give_next(self._start_worker())
            while self.workers:
                if self.progress.stop_requested():
                    self.stop.set()
                for conn in wait(list(self.workers), timeout=0.2):
                    self._receive(conn)  # type: ignore[arg-type]
        finally:
            self.stop.set()
            for process, _ in self.workers.values():
                process.terminate()
                process.join()
        self.results.extend(not_run(task) for task in self.queue)
        return self.results


def run_in_processes(
    tasks: Sequence[BagTask], models: Sequence[ModelSpec], jobs: int, progress: FleetProgress
) -> list[BagResult]:
    """Bags in ``jobs`` worker processes (``--jobs N``)."""
    return _Pool(models, jobs, progress).run(tasks)


def run_fleet(
    tasks: Sequence[BagTask],
    models: Sequence[ModelSpec],
    progress: FleetProgress,
    *,
    jobs: int = 1,
    ray_address: str | None = None,
    use_ray: bool = False,
) -> tuple[list[BagResult], float]:
    """Every task's result in task order, and the run's wall time in seconds.

    ``models``: one, or several to compare, each on every frame (``BagResult.comparison``).
    ``use_ray``: Ray tasks, on ``ray_address`` (``auto``, ``ray://host:port``) or a Ray started
    for the run on loopback with ``jobs`` CPUs; else ``jobs`` worker processes, or this one.
    """
    t0 = time.perf_counter()
    if use_ray:
        from asymfusion_ros.replay.fleet_ray import run_on_ray

        results = run_on_ray(tasks, models, progress, address=ray_address, cpus=jobs)
    elif jobs > 1:
        results = run_in_processes(tasks, models, jobs, progress)
    else:
        results = run_here(tasks, models, progress)
    return sorted(results, key=lambda r: r.task.index), time.perf_counter() - t0
