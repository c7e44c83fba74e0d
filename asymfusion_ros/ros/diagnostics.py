"""What the node counts and measures, and its /diagnostics message.

:class:`PipelineStats` is written by the executor thread (frames in, drops, bad input) and
by the worker (frames out, latency), read by the diagnostics timer: one lock, plain
counters, a bounded window of recent latencies, so memory stays flat however long it runs.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import NamedTuple

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from asymfusion_ros.ros.problems import Problem
from asymfusion_ros.stats import summarize_ms

INPUT_STAGES = ("decompress", "register")
"""Input stages of the frame pipeline that run only for some inputs (compressed, unregistered depth):
each gets a ``<stage>_p50_ms`` entry (nan while none ran)."""


class Snapshot(NamedTuple):
    """The counters at one moment; latencies in milliseconds, from frame arrival to publish."""

    frames_in: int
    frames_out: int
    drops: int
    skipped: int
    failed: int
    in_flight: int
    """Frames received but not finished yet (the pending slot and the worker's frame): at most 2.
    frames_in = frames_out + drops + skipped + failed + in_flight, so nothing goes uncounted."""
    fps: float
    latency_p50_ms: float
    latency_p95_ms: float
    inference_p50_ms: float
    problems: dict[Problem, int]
    stage_p50_ms: dict[str, float]
    """INPUT_STAGES -> p50 ms of the recent frames that ran it."""


class PipelineStats:
    """Thread-safe counters and sliding windows (``window_s`` for fps, ``samples`` latencies)."""

    def __init__(
        self, *, window_s: float = 5.0, samples: int = 200, clock: Callable[[], float] = time.monotonic
    ):
        self._lock = threading.Lock()
        self._clock = clock
        self._window_s = window_s
        self._done: deque[float] = deque(maxlen=samples)
        self._latency_ms: deque[float] = deque(maxlen=samples)
        self._inference_ms: deque[float] = deque(maxlen=samples)
        self._stage_ms: dict[str, deque[float]] = {stage: deque(maxlen=samples) for stage in INPUT_STAGES}
        self._frames_in = 0
        self._frames_out = 0
        self._drops = 0
        self._skipped = 0
        self._failed = 0
        self._problems = dict.fromkeys(Problem, 0)

    def frame_in(self, replaced_unprocessed: bool) -> None:
        """A synchronised frame arrived; it replaced one the worker never took (a drop)."""
        with self._lock:
            self._frames_in += 1
            self._drops += int(replaced_unprocessed)

    def frame_out(self, latency_ms: float, inference_ms: float, stages_ms: Mapping[str, float] = {}) -> None:
        """A frame published; ``stages_ms`` holds the frame's timings (INPUT_STAGES are kept)."""
        with self._lock:
            self._frames_out += 1
            self._done.append(self._clock())
            self._latency_ms.append(latency_ms)
            self._inference_ms.append(inference_ms)
            for stage, window in self._stage_ms.items():
                if stage in stages_ms:
                    window.append(stages_ms[stage])

    def frame_skipped(self) -> None:
        """A frame not segmented because nobody subscribes to any output."""
        with self._lock:
            self._skipped += 1

    def frame_failed(self) -> None:
        """A frame given up on (bad input or a backend error, also counted as a problem)."""
        with self._lock:
            self._failed += 1

    def problem(self, problem: Problem) -> int:
        """Count one occurrence; returns the new count."""
        with self._lock:
            self._problems[problem] += 1
            return self._problems[problem]

    def snapshot(self) -> Snapshot:
        with self._lock:
            now = self._clock()
            recent = [t for t in self._done if now - t <= self._window_s]
            fps = (
                (len(recent) - 1) / (recent[-1] - recent[0])
                if len(recent) > 1 and recent[-1] > recent[0]
                else 0.0
            )
            latency = summarize_ms(self._latency_ms)
            return Snapshot(
                frames_in=self._frames_in,
                frames_out=self._frames_out,
                drops=self._drops,
                skipped=self._skipped,
                failed=self._failed,
                in_flight=self._frames_in - self._frames_out - self._drops - self._skipped - self._failed,
                fps=float(fps),
                latency_p50_ms=latency.p50_ms,
                latency_p95_ms=latency.p95_ms,
                inference_p50_ms=summarize_ms(self._inference_ms).p50_ms,
                problems=dict(self._problems),
                stage_p50_ms={stage: summarize_ms(w).p50_ms for stage, w in self._stage_ms.items()},
            )


def diagnostic_array(
    stamp: object,
    name: str,
    hardware_id: str,
    snap: Snapshot,
    previous: Snapshot | None,
    info: dict[str, str],
) -> DiagnosticArray:
    """One DiagnosticStatus: OK while frames flow cleanly, WARN when none do or bad input grew.

    ``previous`` is the last published snapshot (new problems since then make it WARN);
    ``info`` adds static entries (backend, model, classes).
    """
    grown = [p.value for p, n in snap.problems.items() if n > (previous.problems[p] if previous else 0)]
    if snap.fps == 0.0 and previous is not None and snap.skipped > previous.skipped:
        level, message = DiagnosticStatus.OK, "idle: no subscriber to any output"
    elif snap.fps == 0.0:
        level, message = (
            DiagnosticStatus.WARN,
            "no frames segmented recently (waiting for rgb/image + depth/image)",
        )
    elif grown:
        level, message = DiagnosticStatus.WARN, f"{snap.fps:.1f} fps; bad input: {', '.join(grown)}"
    else:
        level, message = DiagnosticStatus.OK, f"{snap.fps:.1f} fps"
    values = {
        "fps": f"{snap.fps:.2f}",
        "latency_p50_ms": f"{snap.latency_p50_ms:.1f}",
        "latency_p95_ms": f"{snap.latency_p95_ms:.1f}",
        "inference_p50_ms": f"{snap.inference_p50_ms:.1f}",
        **{f"{stage}_p50_ms": f"{ms:.1f}" for stage, ms in snap.stage_p50_ms.items()},
        "frames_in": str(snap.frames_in),
        "frames_out": str(snap.frames_out),
        "drops": str(snap.drops),
        "skipped_unsubscribed": str(snap.skipped),
        "failed": str(snap.failed),
        "in_flight": str(snap.in_flight),
        **{p.value: str(n) for p, n in snap.problems.items()},
        **info,
    }
    status = DiagnosticStatus(
        level=level,
        name=name,
        message=message,
        hardware_id=hardware_id,
        values=[KeyValue(key=k, value=v) for k, v in values.items()],
    )
    array = DiagnosticArray(status=[status])
    array.header.stamp = stamp
    return array
