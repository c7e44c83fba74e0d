"""ros/sync.py: approximate-time matching, one table of cases for ours and message_filters'.

Where message_filters is importable (a ROS install) the same cases run against it, so the
two implementations the node may use cannot drift apart.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import pytest

from asymfusion_ros.ros.sync import ApproximateTimeSync, MessageFiltersSync, create_sync

MS = 1_000_000

# (name, num_inputs, queue_size, slop_s, arrivals [(input, stamp_ms, tag)], expected [tags per match])
CASES = [
    ("exact", 2, 10, 0.05, [(0, 0, "a"), (1, 0, "b")], [("a", "b")]),
    ("within-slop", 2, 10, 0.05, [(0, 0, "a"), (1, 20, "b")], [("a", "b")]),
    ("beyond-slop-then-later-match", 2, 10, 0.05, [(0, 0, "a"), (1, 60, "b"), (0, 70, "c")], [("c", "b")]),
    ("nearest-first", 2, 10, 0.05, [(0, 0, "a"), (0, 30, "b"), (0, 60, "c"), (1, 35, "d")], [("b", "d")]),
    ("spread-must-be-below-slop", 2, 10, 0.05, [(0, 0, "a"), (1, 50, "b")], []),
    (
        "queue-evicts-oldest",
        2,
        2,
        0.05,
        [(0, 0, "a"), (0, 100, "b"), (0, 200, "c"), (1, 10, "d"), (1, 195, "e")],
        [("c", "e")],
    ),
    ("same-stamp-replaces", 2, 10, 0.05, [(0, 0, "a"), (0, 0, "b"), (1, 0, "c")], [("b", "c")]),
    ("matched-items-leave", 2, 10, 0.05, [(0, 0, "a"), (1, 0, "b"), (1, 5, "c")], [("a", "b")]),
    ("three-inputs", 3, 10, 0.05, [(0, 0, "a"), (1, 10, "b"), (2, 45, "c")], [("a", "b", "c")]),
    ("three-inputs-spread-too-wide", 3, 10, 0.05, [(0, 0, "a"), (1, 40, "b"), (2, -40, "c")], []),
    (
        "stream-with-jitter",
        2,
        5,
        0.01,
        [(0, 0, "a0"), (1, 3, "b0"), (0, 33, "a1"), (1, 31, "b1"), (1, 64, "b2"), (0, 66, "a2")],
        [("a0", "b0"), ("a1", "b1"), ("a2", "b2")],
    ),
]


def make_item(stamp_ms: int, tag: str) -> Any:
    """An item with a real header (message_filters reads header.stamp as builtin Time)."""
    try:
        from builtin_interfaces.msg import Time
    except ImportError:
        return SimpleNamespace(tag=tag)
    stamp_ns = stamp_ms * MS + 10**12  # keep stamps positive for Time
    return SimpleNamespace(
        tag=tag, header=SimpleNamespace(stamp=Time(sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9))
    )


def implementations() -> list[Any]:
    found: list[Any] = [pytest.param(ApproximateTimeSync, id="ours")]
    try:
        import message_filters  # noqa: F401
    except ImportError:
        found.append(
            pytest.param(MessageFiltersSync, id="message_filters", marks=pytest.mark.skip("not importable"))
        )
    else:
        found.append(pytest.param(MessageFiltersSync, id="message_filters"))
    return found


@pytest.mark.parametrize("impl", implementations())
@pytest.mark.parametrize(
    ("name", "inputs", "queue_size", "slop_s", "arrivals", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_matches(
    impl: type, name: str, inputs: int, queue_size: int, slop_s: float, arrivals: list, expected: list
) -> None:
    emitted: list[tuple[str, ...]] = []
    sync = impl(inputs, queue_size, slop_s, lambda *items: emitted.append(tuple(i.tag for i in items)))
    for index, stamp_ms, tag in arrivals:
        sync.add(index, stamp_ms * MS + 10**12, make_item(stamp_ms, tag))
    assert emitted == expected, name


def test_unmatched_items_wait_until_evicted() -> None:
    sync = ApproximateTimeSync(2, 3, 0.01, lambda *items: None)
    for stamp in range(10):
        sync.add(0, stamp * 100 * MS, stamp)
    assert sync.pending() == 3
    sync.add(1, 900 * MS, "x")
    assert sync.pending() == 2


@pytest.mark.parametrize(("inputs", "queue_size", "slop_s"), [(1, 10, 0.1), (2, 0, 0.1), (2, 10, 0.0)])
def test_bad_settings_are_refused(inputs: int, queue_size: int, slop_s: float) -> None:
    with pytest.raises(ValueError, match=r"inputs|queue_size|slop"):
        ApproximateTimeSync(inputs, queue_size, slop_s, print)


def test_create_sync_falls_back_and_calls_back_outside_its_lock() -> None:
    done = threading.Event()
    holder: list[Any] = []

    def callback(*items: Any) -> None:
        holder[0].add(0, 0, "re-entrant add must not deadlock")
        done.set()

    sync = create_sync(2, 10, 0.05, callback, prefer_message_filters=False)
    holder.append(sync)
    assert isinstance(sync, ApproximateTimeSync)
    sync.add(0, 0, make_item(0, "a"))
    sync.add(1, 0, make_item(0, "b"))
    assert done.is_set()
