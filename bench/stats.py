"""Latency statistics (nearest-rank percentiles, milliseconds)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values; ``q`` in [0, 100]."""
    if not sorted_values:
        return math.nan
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} outside [0, 100]")
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass(frozen=True)
class LatencySummary:
    count: int
    mean_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


def summarize(latencies_s: Sequence[float]) -> LatencySummary:
    ordered = sorted(latencies_s)
    if not ordered:
        return LatencySummary(0, math.nan, math.nan, math.nan, math.nan, math.nan)
    ms = [v * 1000 for v in ordered]
    return LatencySummary(
        count=len(ms),
        mean_ms=sum(ms) / len(ms),
        p50_ms=percentile(ms, 50),
        p95_ms=percentile(ms, 95),
        p99_ms=percentile(ms, 99),
        max_ms=ms[-1],
    )
