"""stats.py: the latency summary bench, replay and the node's diagnostics share."""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from asymfusion_ros.stats import LatencySummary, summarize_ms


def test_summary_matches_numpy_percentiles() -> None:
    samples = [5.0, 1.0, 3.0, 2.0, 4.0, 100.0]
    summary = summarize_ms(samples)
    assert summary == LatencySummary(
        p50_ms=float(np.percentile(samples, 50)),
        p95_ms=float(np.percentile(samples, 95)),
        max_ms=100.0,
        mean_ms=float(np.mean(samples)),
    )
    assert summary.p50_ms == 3.5
    assert summary.p95_ms == 76.25  # 5 + 0.75 * (100 - 5), linear between samples


def test_one_sample_is_every_statistic() -> None:
    assert summarize_ms(deque([7.5], maxlen=3)) == LatencySummary(7.5, 7.5, 7.5, 7.5)


def test_no_samples_give_nan() -> None:
    assert all(math.isnan(v) for v in summarize_ms([]))
    assert all(math.isnan(v) for v in summarize_ms(iter(())))
