"""One exception tree for every misuse the memory-manager model detects.

Every error names the bad value in its message. An operation that raises leaves the object it
was called on exactly as it was before the call.

::

    MemoryManagerError
    ├── InvalidArgument (also ValueError)
    │   ├── InvalidAlignment      alignment not a power of two / out of range
    │   └── SizeOverflow          n * m (calloc) or a size that does not fit the build
    ├── InvalidPointer (also ValueError)
    │   └── DoubleFree            free of a block that is already free
    ├── GranuleError (also ValueError)
    │   ├── GranulesNotInUse      free of granules that are not allocated
    │   ├── GranuleRangeError     a granule range that leaves the heap
    │   └── GranulesInUse         reserve of granules that are already allocated
    ├── HeapCorruption            a chunk header or guard tag in memory is not what it must be
    ├── MemoryAccessError (also IndexError)   PhysicalMemory access outside [0, size)
    ├── TraceFormatError (also ValueError)    a golden trace that cannot be read or parsed
    └── TranslationFault
        ├── PageFault             Sv32 walk refused the access (cause = load/store/fetch)
        └── AccessFault           a PTE read fell outside physical memory
"""

from __future__ import annotations

__all__ = [
    "AccessFault",
    "BoardLinkError",
    "DoubleFree",
    "GranuleError",
    "GranuleRangeError",
    "GranulesInUse",
    "GranulesNotInUse",
    "HeapCorruption",
    "InvalidAlignment",
    "InvalidArgument",
    "InvalidPointer",
    "IobError",
    "IobNoMemory",
    "IobNoSpace",
    "IobSeekError",
    "MemoryAccessError",
    "MemoryManagerError",
    "PageFault",
    "RegionConflict",
    "SizeOverflow",
    "TraceFormatError",
    "TranslationFault",
]


class MemoryManagerError(Exception):
    """Root of every error raised by the memory-manager model."""


class InvalidArgument(MemoryManagerError, ValueError):
    """A size, count or option is outside what the operation accepts."""


class InvalidAlignment(InvalidArgument):
    """An alignment that is not a power of two, or not allowed here."""


class SizeOverflow(InvalidArgument):
    """A size computation overflows the build's size type (calloc's n * m, for example)."""


class InvalidPointer(MemoryManagerError, ValueError):
    """An address that is not the start of a live block of this allocator."""


class DoubleFree(InvalidPointer):
    """The address is the start of a block that is already free."""


class GranuleError(MemoryManagerError, ValueError):
    """A granule range that the operation cannot apply to."""


class GranulesNotInUse(GranuleError):
    """A free of granules some of which are not allocated."""


class GranuleRangeError(GranuleError):
    """A granule range (free or reserve) that reaches outside the heap."""


class GranulesInUse(GranuleError):
    """A reservation of granules some of which are already allocated."""


class HeapCorruption(MemoryManagerError):
    """A chunk header, free-list link or guard tag in memory does not hold what it must."""


class MemoryAccessError(MemoryManagerError, IndexError):
    """An access to PhysicalMemory outside [0, size)."""


class TranslationFault(MemoryManagerError):
    """An address translation failed."""


class PageFault(TranslationFault):
    """The Sv32 page-table walk refused the access.

    Parameters
    ----------
    cause : str or enum
        Which page fault: load, store or instruction (see ``mmaccel.sw.vm.FaultCause``).
    va : int
        The virtual address that faulted.
    """

    def __init__(self, cause: object, va: int, reason: str = "") -> None:
        self.cause = cause
        self.va = va
        self.reason = reason
        name = getattr(cause, "name", cause)
        text = f"{name} page fault at va {va:#010x}"
        super().__init__(f"{text}: {reason}" if reason else text)


class AccessFault(TranslationFault):
    """A page-table entry read fell outside physical memory (or the bus answered with an error).

    Parameters
    ----------
    cause : str or enum
        Which access fault: load, store or instruction.
    va : int
        The virtual address being translated.
    pte_addr : int
        The physical address of the PTE that could not be read.
    """

    def __init__(self, cause: object, va: int, pte_addr: int) -> None:
        self.cause = cause
        self.va = va
        self.pte_addr = pte_addr
        name = getattr(cause, "name", cause)
        super().__init__(
            f"{name} access fault at va {va:#010x}: PTE address {pte_addr:#x} is outside memory"
        )


class IobError(MemoryManagerError):
    """An I/O buffer operation failed as NuttX's would with a negated errno.

    ``errno`` holds the positive errno value NuttX returns negated.
    """

    errno = 0


class IobNoMemory(IobError):
    """No I/O buffer or queue container was free in time (NuttX's -ENOMEM)."""

    errno = 12


class IobSeekError(IobError, InvalidArgument):
    """An offset past the end of the packet (NuttX's -ESPIPE)."""

    errno = 29


class IobNoSpace(IobError, InvalidArgument):
    """More contiguous bytes asked for than the packet holds (NuttX's -ENOSPC)."""

    errno = 28


class RegionConflict(InvalidArgument):
    """A memory-system configuration whose regions overlap or leave physical memory."""


class BoardLinkError(MemoryManagerError):
    """The serial link to a board failed: no answer, a garbled answer, or a refused bus access.

    ``status`` is the bridge's status byte when the board answered with one (see
    ``mmaccel.hdl.uart.bridge.BridgeStatus``), else None.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class TraceFormatError(MemoryManagerError, ValueError):
    """A golden trace that cannot be read, or whose format or a line of it is not understood."""
