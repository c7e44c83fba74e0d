"""``asymfusion replay --ray``: the per-bag task (``task.run_bag``) as Ray tasks.

Ray schedules the bags over a cluster's CPUs; a task reads its bag, and writes its output
bag and report folder, at the paths it is given, so on a cluster they must be shared paths
(NFS, a mounted bucket) that every node sees under the same name. Each Ray worker process
loads the models once (``ModelSpec.load`` keeps them). One small actor carries the tasks'
progress to the driver's bar and the driver's Ctrl-C to the tasks. A task whose worker dies
(killed, out of memory, its node lost) is not retried: its bag is reported failed, with Ray's
reason. Ray is an optional extra (``pip install .[fleet]``).

Ray started here listens on loopback only. ``ray.init(_node_ip_address="127.0.0.1")`` is not
enough: Ray turns a loopback node address into the machine's external one, and its servers
then listen on every interface. Ray's own single-machine mode
(``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, read when ``ray`` is imported, inherited by every
process it starts) keeps the node address on 127.0.0.1, and each server binds there. After
the start every socket Ray's processes listen on is checked (``listeners``); one beyond
loopback stops the run, pointing to ``--jobs``. A cluster (``--ray ADDRESS``) is the
operator's to secure: Ray's advice is in docs/replay.md.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from asymfusion_ros.replay import listeners
from asymfusion_ros.replay.task import BagResult, BagTask, ModelSpec, Progress, died, not_run, run_bag

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


LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
"""Ray's single-machine mode: the node's address is 127.0.0.1 and every server binds to it."""
LOCAL_DEFAULTS = {"RAY_USAGE_STATS_ENABLED": "0"}
"""Unless the user set it: a local evaluation sends no usage report out. (Ray turns token
authentication on by itself for a local start, and says so.)"""


def start_local(cpus: int) -> None:
    """Start Ray on this machine, listening on loopback only (RayUnavailableError if it would not)."""
    os.environ.update(LOOPBACK_ENV)
    for name, value in LOCAL_DEFAULTS.items():
        os.environ.setdefault(name, value)
    import ray

    before = _listening()  # this process's own sockets (a caller's) are not Ray's
    try:
        ray.init(num_cpus=cpus, include_dashboard=False, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise RayUnavailableError(f"cannot start Ray on this machine: {err}") from err
    try:
        check_loopback(_listening() - before)
    except RayUnavailableError:
        ray.shutdown()
        raise


def _listening() -> set[listeners.Listener]:
    """What this process and its children listen on (nothing known without Linux's /proc)."""
    return set(listeners.listeners(os.getpid())) if listeners.can_inspect() else set()


def check_loopback(opened: set[listeners.Listener]) -> None:
    """RayUnavailableError unless Ray's node address and the sockets it ``opened`` are loopback."""
    import ray

    node = ipaddress.ip_address(ray.util.get_node_ip_address())
    outside = [] if node.is_loopback else [f"node address {node}"]
    outside += sorted(str(found) for found in opened if not found.loopback)
    if outside:
        raise RayUnavailableError(
            f"the Ray started here (version {ray.__version__}) would be reachable beyond loopback "
            f"({'; '.join(outside)}); not running: use --jobs N instead, or --ray ADDRESS on a "
            "cluster you secured (set RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 before anything imports ray)"
        )


def _connect(address: str | None, cpus: int) -> bool:
    """Join ``address``, or start a Ray on loopback with ``cpus`` CPUs; True when started here."""
    if address is None:
        imported = sys.modules.get("ray")
        if imported is not None and imported.is_initialized():
            return False  # the caller's own Ray (a library user): theirs to bind and stop
        start_local(cpus)
        return True
    import ray

    if ray.is_initialized():
        return False
    try:
        ray.init(address=address, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise RayUnavailableError(f"cannot reach Ray at {address}: {err}") from err
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
        started_here = _connect(address, cpus)  # the first import of ray, after start_local's settings
        import ray
        from ray.exceptions import RayError, RayTaskError, TaskCancelledError
    except ImportError as err:
        raise RayUnavailableError(INSTALL_HINT) from err
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
                    result = died(task, why)
                results.append(result)
                progress.finished(result)
    finally:
        if started_here:
            ray.shutdown()
    return results
