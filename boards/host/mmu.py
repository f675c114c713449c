"""The board's MMU from the host: page tables, satp, flush and translate over the serial link.

:class:`SerialMmu` loads page tables into the board's page-table memory, sets satp, flushes
and translates, with the model's :func:`~mmaccel.sw.sv32.translate_sv32` semantics, so the
same page tables can be checked against the model (see :mod:`mmaccel.boards.host.selftest`).
Translations go through the board top's MMU probe (``mmaccel.boards.top.PROBE_REGMAP``).
"""

from __future__ import annotations

from collections.abc import Iterable

from mmaccel.boards.top import BOARD_MAP, BOARD_REGMAP, PROBE_REGMAP
from mmaccel.hdl.mmu.regs import MMU_REGMAP
from mmaccel.sw.errors import AccessFault, BoardLinkError, InvalidArgument, PageFault
from mmaccel.sw.memory import PhysicalMemory
from mmaccel.sw.sv32 import PAGE_SIZE, Access, FaultCause, Priv

from .link import BridgeLink

__all__ = ["SerialMmu"]

_ACCESS_FAULTS = frozenset(
    {
        FaultCause.INSTRUCTION_ACCESS_FAULT,
        FaultCause.LOAD_ACCESS_FAULT,
        FaultCause.STORE_ACCESS_FAULT,
    }
)


class SerialMmu:
    """The board's MMU, used like the model: page tables in memory, satp, flush, translate.

    The page tables live in the board's page-table memory, which the walker sees at physical
    address 0; :meth:`load` copies a model :class:`~mmaccel.sw.memory.PhysicalMemory` there
    (only the words that changed since the last load).

    Parameters
    ----------
    link : BridgeLink
        The connection.
    ptmem_bytes : int
        Size of the board's page-table memory (``read_board_info(link).ptmem_bytes``).
    """

    def __init__(self, link: BridgeLink, ptmem_bytes: int) -> None:
        self.link = link
        self.ptmem_bytes = ptmem_bytes
        self._mmu = BOARD_MAP["mmu"]
        self._probe = BOARD_MAP["probe"]
        self._ptmem = BOARD_MAP["ptmem"]
        self._regs = MMU_REGMAP
        self._probe_regs = PROBE_REGMAP
        self._shadow: list[int | None] = [None] * (ptmem_bytes // 4)

    def _reg(self, name: str) -> int:
        return self._mmu + self._regs[name].offset

    def load(self, memory: PhysicalMemory, pages: Iterable[int] | None = None) -> int:
        """Copy ``memory`` to the board's page-table memory; returns the number of words written.

        Only words that differ from what this object last wrote are sent. ``pages`` (4 KiB
        page addresses) limits the copy to those pages, e.g. the page-table pages the model's
        page allocator has handed out: the walker reads nothing else.

        Raises
        ------
        InvalidArgument
            ``memory`` is larger than the board's page-table memory (nothing is written).
        """
        if memory.size > self.ptmem_bytes:
            raise InvalidArgument(
                f"memory of {memory.size:#x} bytes does not fit the board's "
                f"{self.ptmem_bytes:#x}-byte page-table memory"
            )
        if pages is None:
            ranges = [(0, memory.size - memory.size % 4)]
        else:
            ranges = []
            for page in pages:
                if page % PAGE_SIZE or not 0 <= page < memory.size:
                    raise InvalidArgument(f"page {page:#x} is not a 4 KiB page inside memory")
                ranges.append((page, min(PAGE_SIZE, memory.size - page)))
        written = 0
        for start, length in ranges:
            data = memory.read(start, length)
            for k in range(length // 4):
                i = start // 4 + k
                word = int.from_bytes(data[4 * k : 4 * k + 4], "little")
                if self._shadow[i] != word:
                    self.link.write32(self._ptmem + 4 * i, word)
                    self._shadow[i] = word
                    written += 1
        return written

    def clear_memory(self, max_polls: int = 10_000) -> None:
        """Zero the board's whole page-table memory in hardware (BOARD.PTMEM_CLEAR).

        Afterwards :meth:`load` sends only the words that are not 0. The clear takes about
        four clock cycles per word (a few ms on a board); the host polls until it is done.

        Raises
        ------
        BoardLinkError
            The clear was still running after ``max_polls`` status reads.
        """
        reg = BOARD_MAP["info"] + BOARD_REGMAP["PTMEM_CLEAR"].offset
        self.link.write32(reg, 1)
        polls = 0
        while self.link.read32(reg) & 1:
            polls += 1
            if polls >= max_polls:
                raise BoardLinkError(
                    f"the page-table memory clear did not finish after {polls} polls"
                )
        self._shadow = [0] * len(self._shadow)

    @property
    def satp(self) -> int:
        return self.link.read32(self._reg("SATP"))

    @satp.setter
    def satp(self, value: int) -> None:
        self.link.write32(self._reg("SATP"), value)

    def flush(self, va: int | None = None, asid: int | None = None) -> None:
        """sfence.vma: everything; one ASID's non-global entries; one VA; one VA in one ASID."""
        flush = self._regs["FLUSH"]
        if va is not None:
            self.link.write32(self._reg("FLUSH_VA"), va)
        if asid is not None:
            self.link.write32(self._reg("FLUSH_ASID"), asid)
        self.link.write32(
            self._reg("FLUSH"),
            flush.pack(USE_VA=int(va is not None), USE_ASID=int(asid is not None)),
        )

    def translate(
        self,
        va: int,
        access: Access = Access.LOAD,
        priv: Priv = Priv.S,
        *,
        sum: bool = False,
        mxr: bool = False,
    ) -> int:
        """Translate ``va`` on the board, with the model's ``translate_sv32`` semantics.

        Raises
        ------
        PageFault
            The walk refused the access (``cause`` as the model's).
        AccessFault
            A PTE read fell outside the page-table memory. The hardware does not report the
            PTE's address, so ``pte_addr`` is -1.
        """
        regs = self._probe_regs
        self.link.write32(self._probe + regs["VA"].offset, va)
        self.link.write32(
            self._probe + regs["REQUEST"].offset,
            regs["REQUEST"].pack(ACCESS=int(access), PRIV=int(priv), SUM=int(sum), MXR=int(mxr)),
        )
        status = regs["STATUS"].unpack(self.link.read32(self._probe + regs["STATUS"].offset))
        if not status["DONE"]:
            raise BoardLinkError(f"translation of {va:#010x} did not complete")
        if status["FAULT"]:
            cause = FaultCause(status["CAUSE"])
            if cause in _ACCESS_FAULTS:
                raise AccessFault(cause, va, -1)
            raise PageFault(cause, va)
        pa_lo = self.link.read32(self._probe + regs["PA"].offset)
        return status["PA_HI"] << 32 | pa_lo

    def counters(self) -> dict[str, int]:
        """The MMU's event counters."""
        return {
            n.lower(): self.link.read32(self._reg(n)) for n in ("HITS", "MISSES", "WALKS", "FAULTS")
        }
