"""The measuring loop of the model benchmarks (``mmaccel bench model``): :func:`timed`."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Figures", "timed"]

#: What a benchmark returns: figure name -> value.
Figures = dict[str, float | int | str]


def timed(ops: Callable[[], int], min_seconds: float) -> tuple[int, float]:
    """Run ``ops`` (which returns how many operations it did) for ``min_seconds``.

    Every benchmark of ``mmaccel bench model`` measures through this one loop. Time is this
    thread's CPU time (``time.thread_time``), not wall-clock time: the machine is shared, and a
    model benchmark measures the model, not the other processes. The loop also stops after four
    times ``min_seconds`` of wall-clock time. ``ops`` runs at least once.

    Returns
    -------
    count : int
        The operations done (the sum of what ``ops`` returned).
    elapsed : float
        The CPU seconds they took (never 0).
    """
    count = 0
    start = time.thread_time()
    wall_end = time.perf_counter() + 4 * min_seconds
    while True:
        count += ops()
        elapsed = time.thread_time() - start
        if elapsed >= min_seconds or time.perf_counter() >= wall_end:
            return count, max(elapsed, 1e-9)
