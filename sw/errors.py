"""One exception tree for every misuse the memory-manager model detects.

Every error names the bad value in its message. An operation that raises leaves the object it
was called on exactly as it was before the call.

::

    MemoryManagerError
    ├── InvalidArgument (also ValueError)
    │   ├── InvalidAlignment      alignment not a power of two / out of range
    │   ├── SizeOverflow          n * m (calloc) or a size that does not fit the build
    │   ├── RegionConflict        configured regions overlap or leave physical memory
    │   ├── MappingExists         a map over a page that is already mapped (vm)
    │   ├── NotMapped             an unmap or protect of a page that is not mapped (vm)
    │   ├── IobSeekError          (also IobError) an offset past the end of a packet, -ESPIPE
    │   └── IobNoSpace            (also IobError) more contiguous bytes than a packet holds, -ENOSPC
    ├── InvalidPointer (also ValueError)
    │   └── DoubleFree            free of a block that was already freed
    ├── GranuleError (also ValueError)
    │   ├── GranulesNotInUse      free of granules that are not allocated
    │   ├── GranuleRangeError     a granule range (or a free's address) outside the heap
    │   └── GranulesInUse         reserve of granules that are already allocated
    ├── HeapCorruption            a chunk header or guard tag in memory is not what it must be
    ├── OutOfMemory (also MemoryError)  too few free pages or virtual addresses (vm)
    ├── IobError                  an I/O buffer call failed; ``errno`` as NuttX's negated one
    │   ├── IobNoMemory           no buffer in time, or never enough, -ENOMEM
    │   ├── IobSeekError          (also InvalidArgument, above)
    │   └── IobNoSpace            (also InvalidArgument, above)
    ├── ShmError (also OSError)   a shm call failed; ``errno`` is the POSIX error number
    │   ├── ShmExistsError        (also FileExistsError) EEXIST
    │   ├── ShmNotFoundError      (also FileNotFoundError) ENOENT
    │   └── ShmPermissionError    (also PermissionError) EACCES, EPERM
    ├── MmapError (also OSError)  mmap, munmap or mprotect failed; ``errno`` says why
    ├── MemoryAccessError (also IndexError)   PhysicalMemory access outside [0, size)
    ├── TraceFormatError (also ValueError)    a golden trace that cannot be read or parsed
    ├── BoardLinkError            the serial link to a board failed (no, garbled or refused answer)
    └── TranslationFault
        ├── PageFault             Sv32 walk refused the access (cause = load/store/fetch)
        └── AccessFault           a PTE read fell outside physical memory

Every class is importable from ``mmaccel.sw`` and from here; the modules that raise them
(``vm``, ``shm``, ``process``, ``iob``) re-export theirs.
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
    "MappingExists",
    "MemoryAccessError",
    "MemoryManagerError",
    "MmapError",
    "NotMapped",
    "OutOfMemory",
    "PageFault",
    "RegionConflict",
    "ShmError",
    "ShmExistsError",
    "ShmNotFoundError",
    "ShmPermissionError",
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


def _fault_name(cause: object, kind: str) -> str:
    """``"load page fault"`` from FaultCause.LOAD_PAGE_FAULT or from ``"load"``: the kind of
    fault named once."""
    name = str(getattr(cause, "name", cause)).lower().replace("_", " ")
    return name if name.endswith(kind) else f"{name} {kind}"


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
        text = f"{_fault_name(cause, 'page fault')} at va {va:#010x}"
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
        super().__init__(
            f"{_fault_name(cause, 'access fault')} at va {va:#010x}: PTE address "
            f"{pte_addr:#x} is outside memory"
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


class MappingExists(InvalidArgument):
    """A map over a page that is already mapped."""


class NotMapped(InvalidArgument):
    """An unmap or protect of a page that is not mapped (by this address space)."""


class OutOfMemory(MemoryManagerError, MemoryError):
    """The page allocator (or a virtual address range) has too few free pages."""


class ShmError(MemoryManagerError, OSError):
    """A shm call failed; ``errno`` is the POSIX error number (EINVAL, ENOMEM, ENOSPC, ...)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, message)


class ShmExistsError(ShmError, FileExistsError):
    """EEXIST: ``IPC_CREAT | IPC_EXCL`` and the key exists."""


class ShmNotFoundError(ShmError, FileNotFoundError):
    """ENOENT: no segment with the key and no ``IPC_CREAT``."""


class ShmPermissionError(ShmError, PermissionError):
    """EACCES or EPERM: the mode bits or ownership refuse the caller."""


class MmapError(MemoryManagerError, OSError):
    """mmap, munmap or mprotect failed; ``errno`` says why (EINVAL, ENOMEM, EEXIST, ENODEV)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, message)


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
