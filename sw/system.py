"""One configurable memory system: NuttX's user and kernel heaps, BitThunder's pages and SLAB,
NuttX's I/O buffers, all in one :class:`~mmaccel.sw.memory.PhysicalMemory`.

A :class:`MemoryConfig` (a dataclass, loadable from TOML) names the regions::

    memory_size = "32MiB"          # physical memory [0, memory_size)
    pointer_size = 4               # the heaps' pointer size (4 or 8)

    [kernel_heap]                  # NuttX kmm_*
    start = 0x00100000
    size = "1MiB"

    [user_heap]                    # NuttX umm_* (malloc, free, ...)
    start = 0x00200000
    size = "8MiB"

    [iob]                          # NuttX I/O buffers (the region is nbuffers * stride bytes)
    base = 0x00A00000
    nbuffers = 64
    bufsize = 196
    nchains = 8
    throttle = 8

    [coherent_pool]                # BitThunder's coherent (DMA) page pool (optional)
    start = 0x00B00000
    size = "1MiB"

    [page_pool]                    # the page-frame allocator: bt_page_* and the SLAB heap
    start = 0x00C00000
    size = "20MiB"

Sizes and addresses are integers (hex allowed) or strings with a KiB/MiB/GiB suffix. Regions
must lie inside physical memory and must not overlap; a configuration that breaks either rule
is refused with :class:`~mmaccel.sw.errors.RegionConflict` naming both regions.

The example configuration of a 32 MiB board ships as ``mmaccel/sw/board-32m.toml``
(:func:`example_config_path`).
"""

from __future__ import annotations

import itertools
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .btpage import BT_PAGE_SIZE, BtPageInfo, BtPages
from .errors import InvalidArgument, RegionConflict
from .gran import PageAllocator
from .heap import Heap
from .heaps import HeapCalls, HeapsConfig, UserKernelHeaps
from .iob import IOB_HEADER, IobPool
from .memory import PhysicalMemory
from .slab import SlabHeap

__all__ = [
    "IobConfig",
    "MemoryConfig",
    "MemoryRegion",
    "MemorySystem",
    "PoolStats",
    "example_config_path",
    "parse_size",
]

_UNITS = {"": 1, "K": 1 << 10, "KIB": 1 << 10, "M": 1 << 20, "MIB": 1 << 20, "G": 1 << 30}
_UNITS["GIB"] = 1 << 30
_SIZE_RE = re.compile(r"^\s*(0[xX][0-9a-fA-F_]+|[0-9_]+)\s*([a-zA-Z]*)\s*$")


def parse_size(value: object, what: str = "size") -> int:
    """An int, or a string such as ``"0x1000"``, ``"4KiB"``, ``"32MiB"``, as a byte count.

    Raises
    ------
    InvalidArgument
        Anything else (the message names ``what`` and the value).
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        m = _SIZE_RE.match(value)
        if m and m.group(2).upper() in _UNITS:
            return int(m.group(1), 0) * _UNITS[m.group(2).upper()]
    raise InvalidArgument(f"{what} must be an integer or a size like '4MiB', not {value!r}")


@dataclass(frozen=True, slots=True)
class MemoryRegion:
    """A range ``[start, start + size)`` of physical memory."""

    start: int
    size: int

    @property
    def end(self) -> int:
        """First address after the region."""
        return self.start + self.size


@dataclass(frozen=True, slots=True)
class IobConfig:
    """The I/O buffer pool: ``nbuffers`` buffers of ``bufsize`` bytes laid out from ``base``."""

    base: int
    nbuffers: int = 64
    bufsize: int = 196
    nchains: int = 8
    throttle: int = 0

    @property
    def region(self) -> MemoryRegion:
        """The memory the buffers take."""
        stride = (IOB_HEADER + self.bufsize + 3) & ~3
        return MemoryRegion(self.base, self.nbuffers * stride)


@dataclass(frozen=True)
class MemoryConfig:
    """The declarative description of a :class:`MemorySystem`.

    Parameters
    ----------
    memory_size : int
        Bytes of physical memory.
    user_heap, kernel_heap : MemoryRegion
        NuttX's user (umm) and kernel (kmm) heaps.
    page_pool : MemoryRegion
        The page-frame allocator's pool (page aligned): BitThunder's main page pool, from which
        the SLAB heap takes its slabs.
    coherent_pool : MemoryRegion or None
        BitThunder's coherent page pool (page aligned), or None.
    iob : IobConfig or None
        The I/O buffer pool, or None.
    pointer_size : int
        Pointer size of the heaps (4 or 8).
    """

    memory_size: int
    user_heap: MemoryRegion
    kernel_heap: MemoryRegion
    page_pool: MemoryRegion
    coherent_pool: MemoryRegion | None = None
    iob: IobConfig | None = None
    pointer_size: int = 4
    name: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        self.validate()

    def heaps_config(self) -> HeapsConfig:
        """The user and kernel heaps of this configuration, for :class:`UserKernelHeaps`."""
        return HeapsConfig(
            user_start=self.user_heap.start,
            user_size=self.user_heap.size,
            kernel_start=self.kernel_heap.start,
            kernel_size=self.kernel_heap.size,
            pointer_size=self.pointer_size,
        )

    def regions(self) -> list[tuple[str, MemoryRegion]]:
        """Every configured region with its name."""
        out = [
            ("user_heap", self.user_heap),
            ("kernel_heap", self.kernel_heap),
            ("page_pool", self.page_pool),
        ]
        if self.coherent_pool is not None:
            out.append(("coherent_pool", self.coherent_pool))
        if self.iob is not None:
            out.append(("iob", self.iob.region))
        return out

    def validate(self) -> None:
        """Refuse regions outside memory, empty or overlapping, and unaligned page pools.

        Raises
        ------
        RegionConflict
            A region leaves physical memory (the message names it and physical memory), or two
            regions overlap (the message names both).
        InvalidArgument
            A size that is not positive, a page pool that is not page aligned, or I/O buffer
            parameters that :class:`~mmaccel.sw.iob.IobPool` refuses.
        """
        if self.memory_size <= 0:
            raise InvalidArgument(f"memory_size must be positive, not {self.memory_size}")
        iob = self.iob
        if iob is not None and not (
            iob.nbuffers >= 1
            and 0 < iob.bufsize <= 0xFFFF
            and 0 <= iob.throttle < iob.nbuffers
            and iob.nchains >= 0
            and iob.base % 4 == 0
        ):
            raise InvalidArgument(
                f"iob needs nbuffers >= 1, bufsize in 1..65535, throttle below nbuffers, "
                f"nchains >= 0 and base a multiple of 4: {iob}"
            )
        regions = self.regions()
        for name, r in regions:
            if r.size <= 0:
                raise InvalidArgument(f"region {name} must have a positive size, not {r.size}")
            if r.start < 0 or r.end > self.memory_size:
                raise RegionConflict(
                    f"region {name} [{r.start:#x}, {r.end:#x}) is outside physical memory "
                    f"[0, {self.memory_size:#x})"
                )
        for name in ("page_pool", "coherent_pool"):
            r = getattr(self, name)
            if r is not None and (r.start % BT_PAGE_SIZE or r.size % BT_PAGE_SIZE):
                raise InvalidArgument(
                    f"region {name} [{r.start:#x}, {r.end:#x}) must be aligned to "
                    f"{BT_PAGE_SIZE}-byte pages"
                )
        ordered = sorted(regions, key=lambda nr: nr[1].start)
        for (n1, r1), (n2, r2) in itertools.pairwise(ordered):
            if r2.start < r1.end:
                raise RegionConflict(
                    f"regions {n1} [{r1.start:#x}, {r1.end:#x}) and {n2} "
                    f"[{r2.start:#x}, {r2.end:#x}) overlap"
                )

    @classmethod
    def from_dict(cls, data: dict[str, Any], name: str = "") -> MemoryConfig:
        """Build (and validate) a configuration from the TOML structure shown above.

        Raises
        ------
        InvalidArgument
            A missing or unknown key, or a value of the wrong kind.
        RegionConflict
            See :meth:`validate`.
        """
        known = {
            "memory_size",
            "pointer_size",
            "user_heap",
            "kernel_heap",
            "page_pool",
            "coherent_pool",
            "iob",
        }
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidArgument(f"unknown configuration key(s): {', '.join(unknown)}")

        def region(key: str) -> MemoryRegion:
            if key not in data:
                raise InvalidArgument(f"configuration has no [{key}] table")
            t = data[key]
            if not isinstance(t, dict) or set(t) != {"start", "size"}:
                raise InvalidArgument(f"[{key}] must hold exactly start and size, not {t!r}")
            return MemoryRegion(parse_size(t["start"], f"{key}.start"), parse_size(t["size"], key))

        if "memory_size" not in data:
            raise InvalidArgument("configuration has no memory_size")
        iob = None
        if "iob" in data:
            t = data["iob"]
            fields = {"base", "nbuffers", "bufsize", "nchains", "throttle"}
            if not isinstance(t, dict) or "base" not in t:
                raise InvalidArgument(f"[iob] must be a table with a base, not {t!r}")
            if set(t) - fields:
                raise InvalidArgument(
                    f"[iob]: unknown key(s) {', '.join(sorted(set(t) - fields))}; "
                    f"known: {', '.join(sorted(fields))}"
                )
            iob = IobConfig(**{k: parse_size(v, f"iob.{k}") for k, v in t.items()})
        cfg = cls(
            memory_size=parse_size(data["memory_size"], "memory_size"),
            user_heap=region("user_heap"),
            kernel_heap=region("kernel_heap"),
            page_pool=region("page_pool"),
            coherent_pool=region("coherent_pool") if "coherent_pool" in data else None,
            iob=iob,
            pointer_size=parse_size(data.get("pointer_size", 4), "pointer_size"),
            name=name,
        )
        return cfg

    @classmethod
    def from_toml(cls, path: str | Path) -> MemoryConfig:
        """Load a configuration from a TOML file (see the module docstring)."""
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text())
        except tomllib.TOMLDecodeError as e:
            raise InvalidArgument(f"{p}: not valid TOML: {e}") from None
        return cls.from_dict(data, name=p.name)


def example_config_path() -> Path:
    """Path of the shipped example configuration of a 32 MiB board."""
    return Path(str(resources.files("mmaccel.sw").joinpath("board-32m.toml")))


@dataclass(frozen=True, slots=True)
class PoolStats:
    """One row of :meth:`MemorySystem.stats`: a pool's place, size and use in bytes.

    ``start`` is None for the SLAB rows: their slabs are pages of the page pool, wherever the
    page allocator put them, not one range.
    """

    name: str
    start: int | None
    size: int
    used: int
    free: int
    detail: str


class MemorySystem(HeapCalls):
    """Every allocator of the model over one physical memory, built from a configuration.

    NuttX's heap calls (``malloc``, ``free``, ..., ``kmm_malloc``, ``kmm_free``, ...) are those
    of :class:`~mmaccel.sw.heaps.HeapCalls`, on the heaps of :attr:`heaps`.

    Parameters
    ----------
    config : MemoryConfig
        A configuration (validated when it was built, and again here).

    Attributes
    ----------
    memory : PhysicalMemory
    heaps : UserKernelHeaps
        NuttX's user and kernel heaps, laid out as ``mm_initialize`` does (each heap's control
        block at the start of its region).
    umm, kmm : Heap
        The user and kernel heaps (``heaps.user`` and ``heaps.kernel``).
    pages : PageAllocator
        The page-frame allocator over the page pool.
    bt : BtPages
        BitThunder's page calls (main pool = ``pages``, plus the coherent pool).
    slab : SlabHeap
        BitThunder's SLAB kernel heap, taking pages from ``bt``.
    iob : IobPool or None
        NuttX's I/O buffers.
    """

    def __init__(self, config: MemoryConfig) -> None:
        config.validate()
        self.config = config
        self.memory = PhysicalMemory(config.memory_size)
        self.heaps = UserKernelHeaps(config.heaps_config(), self.memory)
        self.pages = PageAllocator(config.page_pool.start, config.page_pool.size)
        coherent = None
        if config.coherent_pool is not None:
            coherent = PageAllocator(config.coherent_pool.start, config.coherent_pool.size)
        self.bt = BtPages(self.pages, coherent)
        self.slab = SlabHeap(self.memory, self.bt)
        self.iob: IobPool | None = None
        if config.iob is not None:
            c = config.iob
            self.iob = IobPool(
                self.memory,
                c.base,
                c.nbuffers,
                c.bufsize,
                nchains=c.nchains,
                throttle=c.throttle,
            )

    @classmethod
    def from_toml(cls, path: str | Path) -> MemorySystem:
        """Build a system from a TOML configuration file."""
        return cls(MemoryConfig.from_toml(path))

    def __repr__(self) -> str:
        return f"MemorySystem({self.config.name or 'config'}, memory={self.memory.size:#x})"

    @property
    def umm(self) -> Heap:
        """The user heap."""
        return self.heaps.user

    @property
    def kmm(self) -> Heap:
        """The kernel heap."""
        return self.heaps.kernel

    # -- SLAB and pages ------------------------------------------------------------------------

    def kmalloc(self, n: int) -> int | None:
        """BT_kMalloc from the SLAB heap."""
        return self.slab.kmalloc(n)

    def kfree(self, p: int | None) -> None:
        """BT_kFree to the SLAB heap."""
        self.slab.kfree(p)

    def krealloc(self, p: int | None, n: int) -> int | None:
        """BT_kRealloc in the SLAB heap (the old block is freed)."""
        return self.slab.krealloc(p, n)

    def bt_page_info(self) -> BtPageInfo:
        """bt_page_info of the page pools."""
        return self.bt.bt_page_info()

    # -- whole system --------------------------------------------------------------------------

    def check(self) -> None:
        """Check every part: both heaps, both page pools, the SLAB heap, the I/O buffers.

        Raises
        ------
        AssertionError, HeapCorruption
            The first part whose invariants do not hold (the message says which).
        """
        parts: list[tuple[str, Any]] = [
            ("user heap", self.umm),
            ("kernel heap", self.kmm),
            ("page pools", self.bt),
            ("slab", self.slab),
        ]
        if self.iob is not None:
            parts.append(("iob", self.iob))
        for name, part in parts:
            try:
                part.check()
            except AssertionError as e:
                raise AssertionError(f"{name}: {e}") from e

    def stats(self) -> list[PoolStats]:
        """Size and use of every pool, in bytes, in address order of the configuration."""
        rows: list[PoolStats] = []
        for name, heap, region in (
            ("user_heap", self.umm, self.config.user_heap),
            ("kernel_heap", self.kmm, self.config.kernel_heap),
        ):
            mi = heap.mallinfo()
            rows.append(
                PoolStats(
                    name,
                    region.start,
                    mi.arena,
                    mi.uordblks,
                    mi.fordblks,
                    f"{mi.aordblks} used / {mi.ordblks} free chunks, largest free {mi.mxordblk}",
                )
            )
        info = self.bt.bt_page_info()
        rows.append(
            PoolStats(
                "page_pool",
                self.pages.start,
                info.normal_size,
                info.normal_used,
                info.normal_size - info.normal_used,
                f"{self.pages.npages} pages, longest free run {self.pages.info().mxfree}",
            )
        )
        if self.bt.coherent is not None:
            rows.append(
                PoolStats(
                    "coherent_pool",
                    self.bt.coherent.start,
                    info.coherent_size,
                    info.coherent_used,
                    info.coherent_size - info.coherent_used,
                    f"{self.bt.coherent.npages} pages",
                )
            )
        caches = self.slab.stats()
        held = self.slab.page_bytes()
        in_use = sum(c.object_size * c.in_use for c in caches)
        rows.append(
            PoolStats(
                "slab",
                None,
                held,
                in_use,
                sum(c.object_size * c.available for c in caches),
                f"{self.slab.live_blocks} live blocks in pages of page_pool",
            )
        )
        for c in caches:
            if c.slabs:
                rows.append(
                    PoolStats(
                        f"  slab-{c.object_size}",
                        None,
                        c.slabs * max(BT_PAGE_SIZE, c.object_size),
                        c.in_use * c.object_size,
                        c.available * c.object_size,
                        f"{c.in_use} in use / {c.available} available objects",
                    )
                )
        if self.iob is not None:
            pool = self.iob
            used = pool.in_use()
            rows.append(
                PoolStats(
                    "iob",
                    pool.base,
                    pool.size,
                    used * pool.stride,
                    (pool.nbuffers - used) * pool.stride,
                    f"{used}/{pool.nbuffers} buffers of {pool.bufsize} bytes, "
                    f"throttle {pool.throttle}, {pool.qentry_navail()}/{pool.nchains} "
                    "containers free",
                )
            )
        return rows
