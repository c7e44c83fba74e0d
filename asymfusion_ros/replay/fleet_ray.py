"""``asymfusion replay --ray``: the per-bag task (``task.run_bag``) as Ray tasks.

Ray schedules the bags over a cluster's CPUs; a task reads its bag, and writes its output
bag and report folder, at the paths it is given, so on a cluster they must be shared paths
(NFS, a mounted bucket) that every node sees under the same name. Each Ray worker process
loads the models once (``ModelSpec.load`` keeps them). One small actor carries the tasks'
progress to the driver's bar and the driver's Ctrl-C to the tasks. A task whose worker dies
(killed, out of memory, its node lost) is not retried: its bag is reported failed, with Ray's
reason. Ray is an optional extra (``pip install .[fleet]``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from asymfusion_ros.replay.task import BagResult, BagStatus, BagTask, ModelSpec, Progress, not_run, run_bag

INSTALL_HINT = "--ray needs Ray: pip install 'asymfusion_ros[fleet]' (or pip install ray)"


class RayUnavailableError(RuntimeError):
    """Ray is not installed, or the cluster cannot be reached."""


class _Monitor:
    """An actor: progress events from the tasks, until the driver takes them; the stop flag."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.stop = False

    def started(self, index: int, expected: int, pid: int) -> None:
        self.events.append(("started", index, expected, pid))

    def advance(self, index: int, frames: int) -> None:
        self.events.append(("frames", index, frames))

    def request_stop(self) -> None:
        self.stop = True

    def stopped(self) -> bool:
        return self.stop

    def drain(self) -> list[tuple[Any, ...]]:
        events, self.events = self.events, []
        return events


class _MonitorChannel:
    """A Ray task's channel: events to the monitor actor; asks it whether to stop.

    It never waits for an answer: a Ray task blocked in ``ray.get`` lends its CPU to the next
    task, which would run more bags at once than there are CPUs. An answer is picked up when
    it has come, a frame or so later; tasks that have not opened their bag yet are cancelled
    by the driver instead.
    """

    def __init__(self, monitor: Any) -> None:
        self.monitor = monitor
        self.question: Any = None
        self.stop = False

    def started(self, index: int, expected: int) -> None:
        self.monitor.started.remote(index, expected, os.getpid())

    def advance(self, index: int, frames: int) -> None:
        self.monitor.advance.remote(index, frames)

    def stop_requested(self) -> bool:
        import ray

        if self.question is not None:
            answered, _ = ray.wait([self.question], timeout=0)
            if not answered:
                return self.stop
            self.stop = bool(ray.get(answered[0]))
        self.question = self.monitor.stopped.remote()
        return self.stop


def _ray_task(task: BagTask, models: Sequence[ModelSpec], monitor: Any) -> BagResult:
    return run_bag(task, models, _MonitorChannel(monitor))


def _connect(address: str | None, cpus: int) -> bool:
    """Join ``address``, or start a Ray on loopback with ``cpus`` CPUs; True when started here."""
    import ray

    if ray.is_initialized():
        return False
    options: dict[str, Any] = {"logging_level": logging.WARNING, "include_dashboard": False}
    try:
        if address is None:
            ray.init(num_cpus=cpus, _node_ip_address="127.0.0.1", **options)
        else:
            ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise RayUnavailableError(f"cannot start or reach Ray at {address or 'loopback'}: {err}") from err
    return True


def _relay(monitor: Any, progress: Progress) -> list[int]:
    """Hand the tasks' events to ``progress``; the bags opened since the last call."""
    import ray

    opened = []
    for kind, *args in ray.get(monitor.drain.remote()):
        if kind == "started":
            progress.started(*args)
            opened.append(args[0])
        else:
            progress.advance(*args)
    return opened


def _first_line(err: BaseException) -> str:
    """Ray's errors run to many lines; a report row wants the first."""
    return next(iter(str(err).strip().splitlines()), type(err).__name__)


def run_on_ray(
    tasks: Sequence[BagTask],
    models: Sequence[ModelSpec],
    progress: Progress,
    *,
    address: str | None,
    cpus: int,
) -> list[BagResult]:
    """Every bag as a Ray task (one CPU each); the results in the order they ended."""
    try:
        import ray
        from ray.exceptions import RayError, RayTaskError, TaskCancelledError
    except ImportError as err:
        raise RayUnavailableError(INSTALL_HINT) from err
    started_here = _connect(address, cpus)
    results: list[BagResult] = []
    try:
        monitor: Any = ray.remote(num_cpus=0)(_Monitor).remote()
        remote_task = ray.remote(num_cpus=1, max_retries=0)(_ray_task)
        pending = {remote_task.remote(task, models, monitor): task for task in tasks}
        opened: set[int] = set()
        stopping = False
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=0.2)
            opened.update(_relay(monitor, progress))
            if progress.stop_requested() and not stopping:
                stopping = True
                ray.get(monitor.request_stop.remote())  # bags open end at their next frame
                for ref, task in pending.items():
                    if task.index not in opened:
                        ray.cancel(ref)
            for ref in ready:
                task = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except TaskCancelledError:
                    result = not_run(task)
                except RayTaskError:
                    raise  # an exception of ours inside the task: a bug, not the bag's fault
                except RayError as err:
                    why = f"Ray worker died ({type(err).__name__}): {_first_line(err)}"
                    result = BagResult(task, BagStatus.FAILED, why)
                results.append(result)
                progress.finished(result)
    finally:
        if started_here:
            ray.shutdown()
    return results
