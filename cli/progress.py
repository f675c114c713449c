"""The progress display of the long simulations (``mmaccel sim gfa``, ``mmaccel sim mmu``, ...).

On a terminal it is one bar redrawn in place; in a log (standard error is not a terminal) it
is a plain line every :attr:`ProgressBar.INTERVAL` seconds, so a CI log stays readable. The rate
counts from the first report of the simulation, so the build and the elaboration before it
are not in it.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["ProgressBar"]


class ProgressBar:
    """Progress of one run on standard error.

    ``[#########.....................] 3000/10000 ops, 0 mismatches, 412 ops/s``

    An instance is the ``progress(done, total, mismatches)`` callback of the simulation runs.

    Parameters
    ----------
    unit : str
        What is counted ("ops", "accesses").
    start : float, optional
        ``time.monotonic()`` at the start of the run, for :meth:`seconds` (default: now).
    stream : file, optional
        Where to write (default: standard error).
    """

    WIDTH = 30
    #: Seconds between two plain lines when the stream is not a terminal.
    INTERVAL = 10.0

    def __init__(self, unit: str, start: float | None = None, stream: TextIO | None = None) -> None:
        self.unit = unit
        self.start = time.monotonic() if start is None else start
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.drawn = False
        self.first: tuple[float, int] | None = None  # (time, done) of the first report
        self.last: tuple[int, int, int] | None = None
        self.last_time = 0.0
        self.printed: tuple[int, int, int] | None = None
        self.printed_time = -1e9

    def phase(self, text: str) -> None:
        """Say what is happening before the first report (``building the simulation``)."""
        self.end()
        print(f"{self.unit}: {text}", file=self.stream, flush=True)

    def rate(self) -> float:
        """Units per second from the first report to the last (0 before two reports)."""
        if self.first is None or self.last is None:
            return 0.0
        elapsed = self.last_time - self.first[0]
        return (self.last[0] - self.first[1]) / elapsed if elapsed > 0 else 0.0

    def _text(self, done: int, total: int, mismatches: int) -> str:
        filled = self.WIDTH * min(done, total) // max(total, 1)
        rate = self.rate()
        speed = f", {rate:.0f} {self.unit}/s" if rate else ""
        return (
            f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{total} {self.unit}, "
            f"{mismatches} mismatches{speed}"
        )

    #: :func:`mmaccel.verif.runner.run_reporting` passes each event's own time as ``at``.
    timed = True

    def __call__(self, done: int, total: int, mismatches: int, at: float | None = None) -> None:
        """Show a report; ``at`` is when it was made (Unix time; default: now)."""
        now = time.monotonic()
        if at is not None:
            now -= max(0.0, time.time() - at)
        if self.first is None:
            self.first = (now, done)
        state = (done, total, mismatches)
        if state == self.last:
            return  # the same report again (a final call after the last event): no repeat
        self.last, self.last_time = state, now
        if self.tty:
            print(f"\r{self._text(*state)}", end="", file=self.stream, flush=True)
            self.drawn = True
            self.printed = state
        elif now - self.printed_time >= self.INTERVAL:
            print(self._text(*state), file=self.stream, flush=True)
            self.printed, self.printed_time = state, now

    def end(self) -> None:
        """Finish the display: end the bar's line, or print the last state in a log once."""
        if self.tty:
            if self.drawn:
                print(file=self.stream, flush=True)
                self.drawn = False
        elif self.last is not None and self.printed != self.last:
            print(self._text(*self.last), file=self.stream, flush=True)
            self.printed = self.last

    def seconds(self) -> float:
        """Seconds since the start of the run."""
        return time.monotonic() - self.start
