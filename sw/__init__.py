"""mmaccel's reference model of the NuttX and BitThunder memory managers.

The public API: everything named in ``__all__`` is importable from ``mmaccel.sw``.
"""

from .errors import (
    AccessFault,
    DoubleFree,
    GranuleError,
    GranuleRangeError,
    GranulesInUse,
    GranulesNotInUse,
    HeapCorruption,
    InvalidAlignment,
    InvalidArgument,
    InvalidPointer,
    MemoryAccessError,
    MemoryManagerError,
    PageFault,
    SizeOverflow,
    TranslationFault,
)
from .gran import GranInfo, GranuleAllocator, PageAllocator, PageInfo
from .memory import PhysicalMemory

# -- heap (issue 2) --
# -- end heap --

# -- slab, iob, memory system (issue 3) --
# -- end slab --

# -- virtual memory and shm (issue 4) --
# -- end vm --

__all__ = [
    "AccessFault",
    "DoubleFree",
    "GranInfo",
    "GranuleAllocator",
    "GranuleError",
    "GranuleRangeError",
    "GranulesInUse",
    "GranulesNotInUse",
    "HeapCorruption",
    "InvalidAlignment",
    "InvalidArgument",
    "InvalidPointer",
    "MemoryAccessError",
    "MemoryManagerError",
    "PageAllocator",
    "PageFault",
    "PageInfo",
    "PhysicalMemory",
    "SizeOverflow",
    "TranslationFault",
]
# -- heap exports (issue 2) --
# -- slab exports (issue 3) --
# -- vm exports (issue 4) --
