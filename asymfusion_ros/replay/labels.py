"""Ground truth for replayed frames: label images paired with predictions by stamp."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


class LabelMatcher:
    """Pairs predictions with ground truth by stamp: exact, else the nearest within slop.

    Labels may be recorded before or after their frame, so a prediction waits until a later
    label (past the slop) or ``horizon_ns`` of recording time shows that none will come.
    """

    def __init__(self, slop_ns: int, horizon_ns: int = 2_000_000_000) -> None:
        self.slop_ns = slop_ns
        self.horizon_ns = horizon_ns
        self.labels: dict[int, Any] = {}
        self.pending: dict[int, Any] = {}
        self.newest_label_ns: int | None = None

    def add_label(self, stamp_ns: int, msg: Any) -> None:
        self.labels[stamp_ns] = msg
        self.newest_label_ns = (
            stamp_ns if self.newest_label_ns is None else max(self.newest_label_ns, stamp_ns)
        )

    def add_prediction(self, stamp_ns: int, prediction: Any) -> None:
        self.pending[stamp_ns] = prediction

    def ready(self, now_ns: int) -> Iterator[tuple[int, Any, Any | None]]:
        """(stamp, prediction, label message or None) of every prediction that can be decided."""
        for stamp in sorted(self.pending):
            label_past = self.newest_label_ns is not None and self.newest_label_ns > stamp + self.slop_ns
            if stamp in self.labels or label_past or now_ns > stamp + self.horizon_ns:
                yield stamp, self.pending.pop(stamp), self._take(stamp)
        # Labels older than any frame still to come can never match: forget them.
        horizon = now_ns - self.horizon_ns - self.slop_ns
        for stamp in [s for s in self.labels if s < horizon]:
            del self.labels[stamp]

    def flush(self) -> Iterator[tuple[int, Any, Any | None]]:
        for stamp in sorted(self.pending):
            yield stamp, self.pending.pop(stamp), self._take(stamp)

    def _take(self, stamp_ns: int) -> Any | None:
        if stamp_ns in self.labels:
            return self.labels.pop(stamp_ns)
        near = [s for s in self.labels if abs(s - stamp_ns) <= self.slop_ns]
        return self.labels.pop(min(near, key=lambda s: abs(s - stamp_ns))) if near else None
