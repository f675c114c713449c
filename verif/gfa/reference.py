"""The software side of :mod:`mmaccel.hdl.gfa`: the model's answer to every request.

:class:`GfaReference` wraps :class:`mmaccel.sw.GranuleAllocator` (default options) and answers a
request exactly as the hardware must: the same status code, address, free count and longest
free run. Every test bench and the benchmark use it as the scoreboard's reference, so the mapping
from the model's exceptions to :class:`~mmaccel.hdl.gfa.GfaStatus` is the hardware's own table,
:mod:`mmaccel.hdl.gfa.status`.

One departure, fixed by the hardware contract: ``gran_reserve`` rounds a misaligned address
down (reserving one granule more); the hardware answers BAD_ADDR instead and changes nothing.
FREE or RESERVE of more granules than the heap has leaves the heap, so the model (and the
hardware) answer BAD_ADDR, not BAD_COUNT.
"""

from __future__ import annotations

import heapq
import re
from dataclasses import dataclass
from typing import Any

from mmaccel.hdl.gfa import GfaOp, GfaStatus
from mmaccel.hdl.gfa.status import status_of
from mmaccel.sw import GranuleAllocator, MemoryManagerError

__all__ = ["FreeRuns", "GfaReference", "GfaResult", "Request", "code"]


def code(member: Any) -> int:
    """The integer code of a GfaOp or GfaStatus member (``member.value``, typed for mypy)."""
    return int(member.value)


@dataclass(frozen=True, slots=True)
class GfaResult:
    """One response as plain integers (what the scoreboard compares)."""

    status: int
    addr: int
    free_count: int
    largest_run: int


_ALLOC, _FREE, _RESERVE, _INFO, _CLEAR = (
    code(op) for op in (GfaOp.ALLOC, GfaOp.FREE, GfaOp.RESERVE, GfaOp.INFO, GfaOp.CLEAR)
)


class FreeRuns:
    """The lengths of the free runs of a free map and its free count, kept up to date cheaply:
    the longest run in a few big-integer operations per change instead of
    ``longest_free_run``'s O(log^2 n) scans.

    It follows the free map (``bit k`` set when granule ``k`` is free), whatever changed it:
    :meth:`update` finds the changed bits; one contiguous range that became all free or all used
    (what ALLOC, FREE and RESERVE make) updates only the runs around it, any other change
    recounts every run.

    Parameters
    ----------
    free : int
        The free map to start from.
    """

    def __init__(self, free: int) -> None:
        self.free = free
        self.nfree = 0  # free granules (bits set in ``free``)
        self.counts: dict[int, int] = {}
        self.heap: list[int] = []  # negated lengths; stale entries dropped when they surface
        self._recount(free)

    def _add(self, length: int) -> None:
        if length > 0:
            counts = self.counts
            if counts.get(length, 0) == 0:
                heapq.heappush(self.heap, -length)
            counts[length] = counts.get(length, 0) + 1

    def _remove(self, length: int) -> None:
        if length > 0:
            self.counts[length] -= 1

    def _recount(self, free: int) -> None:
        self.counts = {}
        self.heap = []
        for run in re.findall("1+", f"{free:b}"):
            self._add(len(run))
        self.free = free
        self.nfree = free.bit_count()

    def update(self, free: int) -> None:
        """Follow the free map to ``free``."""
        old = self.free
        diff = old ^ free
        if not diff:
            return
        lo = (diff & -diff).bit_length() - 1
        hi = diff.bit_length()
        width = hi - lo
        span = (1 << width) - 1
        if diff >> lo != span:
            self._recount(free)  # not one contiguous range
            return
        part = (free >> lo) & span
        if part != span and part != 0:
            self._recount(free)  # a range that did not become all free or all used
            return
        low = (1 << lo) - 1
        s = ((old & low) ^ low).bit_length()  # the free run of ``old`` ending below lo
        if part:  # the range became free: it joins the free runs on either side
            above = old >> hi
            e = hi + (above ^ (above + 1)).bit_length() - 1
            self._remove(lo - s)
            self._remove(e - hi)
            self._add(e - s)
            self.nfree += width
        else:  # the range was inside one free run, now split around it
            above = old >> lo
            e = lo + (above ^ (above + 1)).bit_length() - 1
            self._remove(e - s)
            self._add(lo - s)
            self._add(e - hi)
            self.nfree -= width
        self.free = free

    def longest(self) -> int:
        """The longest free run (0 when nothing is free)."""
        heap, counts = self.heap, self.counts
        while heap and counts.get(-heap[0], 0) == 0:
            heapq.heappop(heap)
        return -heap[0] if heap else 0


class GfaReference:
    """The model behind a :class:`~mmaccel.hdl.gfa.GranuleFrameAllocator`.

    Parameters
    ----------
    granules, log2gran, base : int
        As the hardware's parameters.
    """

    def __init__(self, granules: int, log2gran: int = 12, base: int = 0) -> None:
        self.granules = granules
        self.log2gran = log2gran
        self.base = base
        self.model = GranuleAllocator(base, granules << log2gran, log2gran)
        self.runs = FreeRuns(self.model.free_map)

    def _result(self, status: int, addr: int = 0) -> GfaResult:
        # the model's info() answers the same (tb/test_gfa_batch.py checks it), in O(1) here
        free = self.model.free_map
        runs = self.runs
        if free != runs.free:
            runs.update(free)
        return GfaResult(status, addr, runs.nfree, runs.longest())

    def apply(self, op: int, count: int = 0, addr: int = 0, align: int = 0) -> GfaResult:
        """Perform one request on the model and return the response the hardware must give."""
        model = self.model
        size = count << self.log2gran
        try:
            if op == _ALLOC:
                got = model.alloc(size, align if align else None)
                if got is None:
                    return self._result(code(GfaStatus.NO_SPACE))
                return self._result(code(GfaStatus.OK), got)
            if op == _FREE:
                model.free(addr, size)
            elif op == _RESERVE:
                if count > 0 and (addr - self.base) & ((1 << self.log2gran) - 1):
                    return self._result(code(GfaStatus.BAD_ADDR))
                model.reserve(addr, size)
            elif op == _INFO:
                pass
            elif op == _CLEAR:
                model.clear()
            else:
                return self._result(code(GfaStatus.BAD_OP))
        except MemoryManagerError as error:
            return self._result(code(status_of(error)))
        return self._result(code(GfaStatus.OK))

    def table(self) -> list[int]:
        """The GAT words the debug port must show."""
        return self.model.table()


Request = tuple[int, int, int, int]
"""(op, count, addr, align) of one request, as plain integers."""
