"""The board's granule allocator from the host, with the model's ``GranuleAllocator`` methods.

:class:`SerialGranuleAllocator` offers the methods of the model's
:class:`~mmaccel.sw.gran.GranuleAllocator`, carried out by the allocator on the board through
:class:`~mmaccel.boards.host.regdriver.GfaRegisterDriver` over the serial link.
"""

from __future__ import annotations

from mmaccel.boards.top import BOARD_MAP
from mmaccel.sw.errors import GranuleRangeError, InvalidAlignment, InvalidArgument
from mmaccel.sw.gran import GranInfo, GranuleAllocatorBase

from .link import BridgeLink
from .regdriver import GfaRegisterDriver

__all__ = ["SerialGranuleAllocator"]


class SerialGranuleAllocator(GranuleAllocatorBase):
    """The board's granule allocator with the methods of the model's ``GranuleAllocator``.

    The byte-level methods do what the model's do before its granule-level operation
    (argument checks, rounding to granules, the granule index of an address) and hand the
    granule operation to the hardware through
    :class:`~mmaccel.boards.host.regdriver.GfaRegisterDriver`, whose refusals raise the model's
    exceptions; so one scenario can run against either and compare results and exceptions.

    Parameters
    ----------
    link : BridgeLink
        The connection.
    base : int, optional
        Byte address of the allocator's registers (default: the board top's).
    wait : {"stall", "poll"}
        How the driver waits for a command (see GfaRegisterDriver).
    """

    def __init__(self, link: BridgeLink, base: int | None = None, *, wait: str = "stall") -> None:
        at = BOARD_MAP["gfa"] if base is None else base
        self.link = link
        self.driver = GfaRegisterDriver(
            lambda offset: link.read32(at + offset),
            lambda offset, value: link.write32(at + offset, value),
            wait=wait,
        )
        config = self.driver.config()
        self.ngranules = config.granules
        self.log2gran = config.log2gran
        self.heapstart = config.base

    def __repr__(self) -> str:
        return (
            f"SerialGranuleAllocator(heapstart={self.heapstart:#x}, "
            f"ngranules={self.ngranules}, log2gran={self.log2gran})"
        )

    # -- granule-level operations (on the hardware) -----------------------------------------

    def _count(self, n: int) -> int:
        if not isinstance(n, int) or isinstance(n, bool):
            raise TypeError(f"granule count must be an int, not {n!r}")
        if not 0 < n < 1 << 17:  # does not fit COUNT: the model's check, done here
            raise InvalidArgument(f"granule count {n} is outside 1..{self.ngranules}")
        return n

    def alloc_granules(self, n: int, align: int = 1) -> int | None:
        """Allocate ``n`` granules at the lowest index that is a multiple of ``align``."""
        if not isinstance(align, int) or align <= 0 or align & (align - 1):
            raise InvalidAlignment(f"alignment must be a power of two granules, not {align}")
        addr = self.driver.alloc(self._count(n), 0 if align == 1 else align << self.log2gran)
        return None if addr is None else (addr - self.heapstart) >> self.log2gran

    def free_granules(self, index: int, n: int) -> None:
        """Free granules ``index .. index+n-1``; every one must be in use."""
        if not 0 <= index < self.ngranules:
            raise GranuleRangeError(f"granule {index} is outside the heap's {self.ngranules}")
        self.driver.free(self.address_of(index), self._count(n))

    def reserve_granules(self, index: int, n: int) -> None:
        """Mark granules ``index .. index+n-1`` in use; none may be in use already."""
        if not 0 <= index < self.ngranules:
            raise GranuleRangeError(f"granule {index} is outside the heap's {self.ngranules}")
        self.driver.reserve(self.address_of(index), self._count(n))

    def clear(self) -> None:
        """Free every granule."""
        self.driver.clear()

    def info(self) -> GranInfo:
        """gran_info: granule size, count, free granules, longest free run."""
        return self.driver.info()

    @property
    def nfree(self) -> int:
        return self.info().nfree

    def longest_free_run(self) -> int:
        return self.info().mxfree

    def table(self) -> list[int]:
        """The GAT as 32-bit words, as ``GranuleAllocator.table()``."""
        return self.driver.table((self.ngranules + 31) // 32)

    @property
    def free_map(self) -> int:
        """Bit ``k`` set when granule ``k`` is free (from the table)."""
        used = 0
        for i, word in enumerate(self.table()):
            used |= word << (32 * i)
        return ((1 << self.ngranules) - 1) & ~used

    def is_free(self, index: int) -> bool:
        return bool((self.free_map >> index) & 1)

    def check(self) -> None:
        """The table and INFO agree, and no bit is set past the last granule."""
        words = self.table()
        used = sum(w.bit_count() for w in words)
        info = self.info()
        if used + info.nfree != self.ngranules:
            raise AssertionError(f"used {used} + free {info.nfree} != {self.ngranules} granules")
        if words and words[-1] >> (self.ngranules - 32 * (len(words) - 1)):
            raise AssertionError("GAT has bits set beyond the last granule")
