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

from dataclasses import dataclass
from typing import Any

from mmaccel.hdl.gfa import GfaOp, GfaStatus
from mmaccel.hdl.gfa.status import status_of
from mmaccel.sw import GranuleAllocator, MemoryManagerError

__all__ = ["GfaReference", "GfaResult", "Request", "code"]


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

    def _result(self, status: int, addr: int = 0) -> GfaResult:
        info = self.model.info()
        return GfaResult(status, addr, info.nfree, info.mxfree)

    def apply(self, op: int, count: int = 0, addr: int = 0, align: int = 0) -> GfaResult:
        """Perform one request on the model and return the response the hardware must give."""
        model = self.model
        size = count << self.log2gran
        try:
            if op == code(GfaOp.ALLOC):
                got = model.alloc(size, align if align else None)
                if got is None:
                    return self._result(code(GfaStatus.NO_SPACE))
                return self._result(code(GfaStatus.OK), got)
            if op == code(GfaOp.FREE):
                model.free(addr, size)
            elif op == code(GfaOp.RESERVE):
                if count > 0 and (addr - self.base) & ((1 << self.log2gran) - 1):
                    return self._result(code(GfaStatus.BAD_ADDR))
                model.reserve(addr, size)
            elif op == code(GfaOp.INFO):
                pass
            elif op == code(GfaOp.CLEAR):
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
