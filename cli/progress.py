"""The progress bar of the long simulations (``mmaccel sim gfa``, ``mmaccel sim mmu``)."""

from __future__ import annotations

import sys
import time

__all__ = ["ProgressBar"]


class ProgressBar:
    """A one-line bar on standard error, redrawn in place at each call.

    ``[#########.....................] 3000/10000 ops, 0 mismatches, 412 ops/s``

    An instance is the ``progress(done, total, mismatches)`` callback of the simulation runs.

    Parameters
    ----------
    unit : str
        What is counted ("ops", "accesses").
    start : float, optional
        ``time.monotonic()`` at the start of the run, for the rate (default: now).
    """

    WIDTH = 30

    def __init__(self, unit: str, start: float | None = None) -> None:
        self.unit = unit
        self.start = time.monotonic() if start is None else start
        self.drawn = False

    def __call__(self, done: int, total: int, mismatches: int) -> None:
        filled = self.WIDTH * done // max(total, 1)
        rate = done / max(time.monotonic() - self.start, 1e-9)
        print(
            f"\r[{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{total} {self.unit}, "
            f"{mismatches} mismatches, {rate:.0f} {self.unit}/s",
            end="",
            file=sys.stderr,
            flush=True,
        )
        self.drawn = True

    def end(self) -> None:
        """End the bar's line (when it was drawn), so that what follows starts on its own."""
        if self.drawn:
            print(file=sys.stderr)
            self.drawn = False

    def seconds(self) -> float:
        """Seconds since the start of the run."""
        return time.monotonic() - self.start
