"""The latency figures both allocator test benches report (batch and scoreboard modes).

:func:`latency_figures` turns the recorded cycles into the summary keys that ``mmaccel bench
gfa --json`` prints: ``{mean, p99, max}`` per kind, the longest alloc/free of at most 32
granules per tenth of occupancy, the issue interval, and ``histograms`` (per kind, cycles ->
count) for ``mmaccel plot latency``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["latency_figures", "stats"]


def stats(values: Sequence[int]) -> dict[str, float]:
    """``{mean, p99, max}`` of ``values`` (zeros when there are none)."""
    if not values:
        return {"mean": 0.0, "p99": 0, "max": 0}
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, (99 * len(ordered)) // 100)]
    return {"mean": round(sum(values) / len(values), 2), "p99": p99, "max": ordered[-1]}


def _histogram(values: Sequence[int]) -> dict[str, int]:
    return {str(cycles): n for cycles, n in sorted(Counter(values).items())}


def latency_figures(
    latency: Mapping[str, Sequence[int]],
    other: Sequence[int],
    by_occupancy: Mapping[int, Sequence[int]],
    occupancy_seen: Sequence[float],
    issue: Sequence[int],
) -> dict[str, Any]:
    """The summary keys of the recorded latencies.

    ``latency`` has the lists ``alloc``, ``free``, ``alloc32`` and ``free32`` (the last two:
    requests of at most 32 granules); ``other`` the other requests'; ``by_occupancy`` the
    alloc/free of at most 32 granules per tenth of occupancy; ``occupancy_seen`` the lowest
    and highest occupancy; ``issue`` the cycles from one accepted request to the next.
    """
    return {
        "alloc_cycles": stats(latency["alloc"]),
        "free_cycles": stats(latency["free"]),
        "alloc_upto32_cycles": stats(latency["alloc32"]),
        "free_upto32_cycles": stats(latency["free32"]),
        "other_cycles": stats(other),
        "occupancy_min": round(occupancy_seen[0], 3),
        "occupancy_max": round(occupancy_seen[1], 3),
        "alloc_free_upto32_max_by_occupancy": {
            f"{10 * k}-{10 * k + 10}%": max(v) for k, v in sorted(by_occupancy.items()) if v
        },
        "issue_interval_cycles": {k: v for k, v in stats(issue).items() if k in ("mean", "max")},
        "histograms": {
            "alloc <= 32": _histogram(latency["alloc32"]),
            "free <= 32": _histogram(latency["free32"]),
            "other": _histogram(other),
        },
    }
