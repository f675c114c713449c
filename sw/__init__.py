"""mmaccel's reference model of the NuttX and BitThunder memory managers.

The public API: everything named in ``__all__`` is importable from ``mmaccel.sw``.
"""

from .errors import (
    AccessFault,
    BoardLinkError,
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

# -- heap --
# isort: split
from .errors import TraceFormatError
from .heap import Heap, MallInfo
from .heaps import HeapsConfig, UserKernelHeaps
from .trace import Mismatch, ReplayResult, replay

# isort: split
# -- end heap --

# -- slab, iob, memory system --
# isort: split
from .btpage import BtPageInfo, BtPages
from .errors import IobError, IobNoMemory, IobNoSpace, IobSeekError, RegionConflict
from .iob import Iob, IobPool, IobQueue
from .slab import SlabCacheStats, SlabHeap
from .system import IobConfig, MemoryConfig, MemoryRegion, MemorySystem, PoolStats

# isort: split
# -- end slab --

# -- virtual memory and shm --
# isort: split
from .kernel import Kernel
from .process import (
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_PRIVATE,
    MAP_SHARED,
    PROT_EXEC,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
    MmapError,
    Process,
    Region,
)
from .shm import (
    IPC_CREAT,
    IPC_EXCL,
    IPC_NOWAIT,
    IPC_PRIVATE,
    IPC_RMID,
    IPC_SET,
    IPC_STAT,
    SHM_RDONLY,
    SHM_RND,
    SHMLBA,
    IpcPerm,
    SharedMemory,
    ShmError,
    ShmExistsError,
    ShmidDs,
    ShmNotFoundError,
    ShmPermissionError,
)
from .sv32 import (
    Access,
    FaultCause,
    Priv,
    PteFlags,
    make_pte,
    satp_value,
    translate_sv32,
)
from .vm import AddressSpace, Mapping, MappingExists, NotMapped, OutOfMemory

# isort: split
# -- end vm --

__all__ = [
    "AccessFault",
    "BoardLinkError",
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
# -- heap exports --
__all__ += [
    "Heap",
    "HeapsConfig",
    "MallInfo",
    "Mismatch",
    "ReplayResult",
    "TraceFormatError",
    "UserKernelHeaps",
    "replay",
]
# -- slab exports --
__all__ += [
    "BtPageInfo",
    "BtPages",
    "Iob",
    "IobConfig",
    "IobError",
    "IobNoMemory",
    "IobNoSpace",
    "IobPool",
    "IobQueue",
    "IobSeekError",
    "MemoryConfig",
    "MemoryRegion",
    "MemorySystem",
    "PoolStats",
    "RegionConflict",
    "SlabCacheStats",
    "SlabHeap",
]
# -- vm exports --
__all__ += [
    "IPC_CREAT",
    "IPC_EXCL",
    "IPC_NOWAIT",
    "IPC_PRIVATE",
    "IPC_RMID",
    "IPC_SET",
    "IPC_STAT",
    "MAP_ANONYMOUS",
    "MAP_FIXED",
    "MAP_PRIVATE",
    "MAP_SHARED",
    "PROT_EXEC",
    "PROT_NONE",
    "PROT_READ",
    "PROT_WRITE",
    "SHMLBA",
    "SHM_RDONLY",
    "SHM_RND",
    "Access",
    "AddressSpace",
    "FaultCause",
    "IpcPerm",
    "Kernel",
    "Mapping",
    "MappingExists",
    "MmapError",
    "NotMapped",
    "OutOfMemory",
    "Priv",
    "Process",
    "PteFlags",
    "Region",
    "SharedMemory",
    "ShmError",
    "ShmExistsError",
    "ShmNotFoundError",
    "ShmPermissionError",
    "ShmidDs",
    "make_pte",
    "satp_value",
    "translate_sv32",
]
