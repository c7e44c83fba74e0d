"""Latency summaries: one definition of p50 / p95 for bench, replay and the node's diagnostics.

numpy only, so every layer may use it. Percentiles are numpy's default (linear between
samples); no samples give NaN rather than an error, since a node with no frame out yet
still publishes its diagnostics.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numpy as np


class LatencySummary(NamedTuple):
    """Statistics of a set of durations, in milliseconds."""

    p50_ms: float
    p95_ms: float
    max_ms: float
    mean_ms: float


def summarize_ms(samples_ms: Iterable[float]) -> LatencySummary:
    """p50 / p95 / max / mean of ``samples_ms``; all NaN when there are none."""
    values = np.asarray(list(samples_ms), dtype=np.float64)
    if values.size == 0:
        return LatencySummary(*(float("nan"),) * 4)
    p50, p95 = np.percentile(values, [50, 95])
    return LatencySummary(float(p50), float(p95), float(np.max(values)), float(np.mean(values)))
