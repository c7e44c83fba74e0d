"""Approximate-time synchronisation of several message streams (message_filters semantics).

:class:`ApproximateTimeSync` is pure Python (no rclpy) so ``replay`` can use it; it does
what ``message_filters.ApproximateTimeSynchronizer`` (Python) does, case for case:

- each input keeps at most ``queue_size`` items keyed by stamp (same stamp: replaced),
  the oldest evicted first;
- on each arrival, the other inputs' items within ``slop`` of the new stamp are tried
  nearest first; the first combination whose spread is strictly below ``slop`` is emitted
  and its items leave their queues. Older unmatched items stay until evicted.

:func:`create_sync` gives message_filters' own synchronizer where it is importable (a
robot), fed by the caller's subscriptions, else this one. Either way a reset (a bag
that loops, a parameter change) is a new synchroniser.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any, Protocol

RGB, DEPTH = 0, 1
"""Input indices of the colour/depth synchroniser (node, replay and bag readers alike)."""


class Synchronizer(Protocol):
    """Takes items one at a time; calls back with one item per input when they match."""

    def add(self, index: int, stamp_ns: int, item: Any) -> None: ...


def _check(num_inputs: int, queue_size: int, slop_s: float) -> None:
    if num_inputs < 2:
        raise ValueError(f"synchronising needs at least 2 inputs, got {num_inputs}")
    if queue_size < 1:
        raise ValueError(f"queue_size must be >= 1, got {queue_size}")
    if not slop_s > 0:
        raise ValueError(f"slop must be > 0 seconds, got {slop_s}")


class ApproximateTimeSync:
    """Pure-Python approximate-time policy; thread-safe, calls back outside its lock."""

    def __init__(
        self, num_inputs: int, queue_size: int, slop_s: float, callback: Callable[..., None]
    ) -> None:
        _check(num_inputs, queue_size, slop_s)
        self.queue_size = queue_size
        self.slop_ns = round(slop_s * 1e9)
        self._callback = callback
        self._queues: list[dict[int, Any]] = [{} for _ in range(num_inputs)]
        self._lock = threading.Lock()

    def add(self, index: int, stamp_ns: int, item: Any) -> None:
        with self._lock:
            matched = self._match(index, stamp_ns, item)
        if matched is not None:
            self._callback(*matched)

    def pending(self) -> int:
        """Items waiting in all queues (for tests and diagnostics)."""
        with self._lock:
            return sum(len(q) for q in self._queues)

    def _match(self, index: int, stamp_ns: int, item: Any) -> tuple[Any, ...] | None:
        queue = self._queues[index]
        queue[stamp_ns] = item
        while len(queue) > self.queue_size:
            del queue[min(queue)]
        candidates: list[list[int]] = []
        for other, other_queue in enumerate(self._queues):
            if other == index:
                continue
            # Stable sort on the distance alone: ties keep arrival order, as message_filters does.
            near = sorted(
                (s for s in other_queue if abs(s - stamp_ns) <= self.slop_ns), key=lambda s: abs(s - stamp_ns)
            )
            if not near:
                return None
            candidates.append(near)
        for combination in itertools.product(*candidates):
            stamps = list(combination)
            stamps.insert(index, stamp_ns)
            if max(stamps) - min(stamps) < self.slop_ns:
                return tuple(q.pop(s) for q, s in zip(self._queues, stamps, strict=True))
        return None


class MessageFiltersSync:
    """``message_filters.ApproximateTimeSynchronizer`` fed by the caller (items need ``header.stamp``)."""

    def __init__(
        self, num_inputs: int, queue_size: int, slop_s: float, callback: Callable[..., None]
    ) -> None:
        _check(num_inputs, queue_size, slop_s)
        import message_filters  # only on a ROS install; ImportError tells create_sync to fall back

        self._inputs = [message_filters.SimpleFilter() for _ in range(num_inputs)]
        self._sync = message_filters.ApproximateTimeSynchronizer(self._inputs, queue_size, slop_s)
        self._sync.registerCallback(callback)

    def add(self, index: int, stamp_ns: int, item: Any) -> None:
        self._inputs[index].signalMessage(item)


def create_sync(
    num_inputs: int,
    queue_size: int,
    slop_s: float,
    callback: Callable[..., None],
    *,
    prefer_message_filters: bool = True,
) -> Synchronizer:
    """message_filters' synchroniser where importable (and preferred), else ours."""
    if prefer_message_filters:
        try:
            return MessageFiltersSync(num_inputs, queue_size, slop_s, callback)
        except ImportError:
            pass
    return ApproximateTimeSync(num_inputs, queue_size, slop_s, callback)
