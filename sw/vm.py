"""Virtual memory on Sv32 page tables: address spaces, ioremap, vmalloc, mmap, processes.

The page tables are real: Sv32 PTEs written into :class:`~mmaccel.sw.memory.PhysicalMemory`
in pages taken from the page-frame allocator (:class:`~mmaccel.sw.gran.PageAllocator`), so
the hardware MMU can walk exactly what the model wrote. :func:`~mmaccel.sw.sv32.translate_sv32`
is the walk; :meth:`AddressSpace.translate` calls it with the space's ``satp``.

Virtual layout (all constants of this module)::

    0x0000_0000 .. 0x1000_0000   user, free for MAP_FIXED / direct map()
    0x1000_0000 .. 0x8000_0000   MMAP_BASE .. MMAP_END: where mmap() places mappings
    0x8000_0000 .. 0xC000_0000   SHM_BASE .. SHM_END: where shmat() places segments
    0xC000_0000 .. 0x1_0000_0000 KERNEL_BASE ..: kernel, global (G) mappings shared by all
        0xD000_0000 .. 0xE000_0000   vmalloc area
        0xE000_0000 .. 0xF000_0000   ioremap area

The kernel address space (:class:`Kernel`) owns the level-0 tables of the kernel range; every
process address space created with ``kernel=`` copies the kernel's root entries for that range
and is kept in step when the kernel adds or removes one, so global mappings appear in every
process. A process cannot map into the kernel range.

Every operation checks everything first and then changes state, so an operation that raises
leaves the page tables, the page allocator and the bookkeeping exactly as they were. Page-table
pages and page frames are taken one page at a time, so "enough pages" is known exactly from the
allocator's free count before anything is touched.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import (
    InvalidAlignment,
    InvalidArgument,
    InvalidPointer,
    MemoryManagerError,
)
from .gran import PageAllocator
from .memory import PhysicalMemory
from .sv32 import (
    MEGAPAGE_SIZE,
    PAGE_SHIFT,
    PAGE_SIZE,
    Access,
    Priv,
    PteFlags,
    satp_value,
    translate_sv32,
)

if TYPE_CHECKING:
    from .shm import SharedMemory

__all__ = [
    "IOREMAP_BASE",
    "IOREMAP_END",
    "KERNEL_BASE",
    "MAP_ANONYMOUS",
    "MAP_FIXED",
    "MAP_PRIVATE",
    "MAP_SHARED",
    "MMAP_BASE",
    "MMAP_END",
    "PROT_EXEC",
    "PROT_NONE",
    "PROT_READ",
    "PROT_WRITE",
    "SHM_BASE",
    "SHM_END",
    "VMALLOC_BASE",
    "VMALLOC_END",
    "AddressSpace",
    "Kernel",
    "Mapping",
    "MappingExists",
    "MmapError",
    "NotMapped",
    "OutOfMemory",
    "Process",
    "Region",
    "prot_to_pte",
]

KERNEL_BASE = 0xC000_0000
MMAP_BASE = 0x1000_0000
MMAP_END = 0x8000_0000
SHM_BASE = 0x8000_0000
SHM_END = 0xC000_0000
VMALLOC_BASE = 0xD000_0000
VMALLOC_END = 0xE000_0000
IOREMAP_BASE = 0xE000_0000
IOREMAP_END = 0xF000_0000

_VA_LIMIT = 1 << 32
_PA_LIMIT = 1 << 34
_KERNEL_SLOT = KERNEL_BASE >> 22
_LEAF_FLAGS = PteFlags.R | PteFlags.W | PteFlags.X | PteFlags.U | PteFlags.G | PteFlags.A
_LEAF_FLAGS |= PteFlags.D | PteFlags.V

# mmap / mprotect values (Linux, as in <sys/mman.h>).
PROT_NONE = 0
PROT_READ = 1
PROT_WRITE = 2
PROT_EXEC = 4
MAP_SHARED = 0x01
MAP_PRIVATE = 0x02
MAP_FIXED = 0x10
MAP_ANONYMOUS = 0x20
_MAP_KNOWN = MAP_SHARED | MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS


class OutOfMemory(MemoryManagerError, MemoryError):
    """The page allocator (or a virtual address range) has too few free pages."""


class MappingExists(InvalidArgument):
    """A map over a page that is already mapped."""


class NotMapped(InvalidArgument):
    """An unmap or protect of a page that is not mapped (by this address space)."""


class MmapError(MemoryManagerError, OSError):
    """mmap, munmap or mprotect failed; ``errno`` says why (EINVAL, ENOMEM, EEXIST, ENODEV)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, message)


@dataclass(frozen=True, slots=True)
class Mapping:
    """One leaf mapping of an address space: ``size`` is 4 KiB or 4 MiB."""

    va: int
    pa: int
    size: int
    flags: PteFlags


@dataclass(frozen=True, slots=True)
class Region:
    """An mmap region of a process, as :meth:`Process.regions` reports it."""

    start: int
    size: int
    prot: int
    flags: int
    frames: tuple[int, ...]


def _int(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {value!r}")
    return value


def _pages(size: int) -> int:
    return (size + PAGE_SIZE - 1) >> PAGE_SHIFT


def _check_perms(perms: int) -> PteFlags:
    perms = _int("perms", int(perms))
    if perms & ~0xFF:
        raise InvalidArgument(f"perms must be PteFlags (bits 7:0), not {perms:#x}")
    if not perms & (PteFlags.R | PteFlags.X):
        raise InvalidArgument(f"perms {PteFlags(perms)!r} has neither R nor X: not a leaf")
    if perms & PteFlags.W and not perms & PteFlags.R:
        raise InvalidArgument(f"perms {PteFlags(perms)!r} has W without R (reserved in Sv32)")
    return PteFlags(perms | PteFlags.V)


def prot_to_pte(prot: int) -> PteFlags:
    """PTE flags for an mmap protection (user page; A set, D set when writable).

    ``PROT_WRITE`` implies read (W without R is reserved in Sv32); ``PROT_NONE`` has no PTE
    (the page is left invalid), so it is an error here.
    """
    if prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC) or prot == PROT_NONE:
        raise InvalidArgument(f"prot {prot:#x} has no PTE form")
    f = PteFlags.V | PteFlags.U | PteFlags.A
    if prot & (PROT_READ | PROT_WRITE):
        f |= PteFlags.R
    if prot & PROT_WRITE:
        f |= PteFlags.W | PteFlags.D
    if prot & PROT_EXEC:
        f |= PteFlags.X
    return f


def _first_gap(
    busy: Iterable[tuple[int, int]], size: int, lo: int, hi: int, align: int
) -> int | None:
    """Lowest ``align``-aligned start in ``[lo, hi)`` of ``size`` bytes overlapping no interval."""
    cur = (lo + align - 1) & ~(align - 1)
    for start, end in sorted(busy):
        if end <= cur:
            continue
        if start >= cur + size:
            break
        cur = (end + align - 1) & ~(align - 1)
    return cur if cur + size <= hi else None


class AddressSpace:
    """An Sv32 address space: a root table from the page allocator, and its mappings.

    Parameters
    ----------
    memory : PhysicalMemory
        Where the page tables live.
    pages : PageAllocator
        Gives page-table pages (4 KiB pages; the pool must lie inside ``memory``).
    asid : int
        Address-space identifier, 0..511.
    kernel : AddressSpace, optional
        The kernel address space whose global mappings (``KERNEL_BASE`` and up) this space
        shares. This space then cannot map there itself.

    Attributes
    ----------
    asid : int
    root : int
        Physical address of the root table.
    satp : int
        ``MODE = Sv32 | ASID | root PPN``.

    Raises
    ------
    OutOfMemory
        No free page for the root table.
    InvalidArgument
        Bad ``asid``, a page allocator whose pages are not 4 KiB or lie outside ``memory``.
    """

    memory: PhysicalMemory
    pages: PageAllocator

    def __init__(
        self,
        memory: PhysicalMemory,
        pages: PageAllocator,
        asid: int,
        *,
        kernel: AddressSpace | None = None,
    ) -> None:
        _int("asid", asid)
        if not 0 <= asid < 512:
            raise InvalidArgument(f"asid must be in 0..511, not {asid}")
        if pages.page_shift != PAGE_SHIFT:
            raise InvalidArgument(f"page allocator must use 4 KiB pages, not {pages.page_size}")
        if pages.start < 0 or pages.end > memory.size:
            raise InvalidArgument(
                f"page pool [{pages.start:#x}, {pages.end:#x}) is not inside {memory!r}"
            )
        if kernel is not None and (kernel.memory is not memory or kernel.pages is not pages):
            raise InvalidArgument("kernel address space uses another memory or page allocator")
        root = pages.alloc(1)
        if root is None:
            raise OutOfMemory("no free page for a root page table")
        memory.fill(root, PAGE_SIZE)
        self.memory = memory
        self.pages = pages
        self.asid = asid
        self.root = root
        self.satp = satp_value(asid, root >> PAGE_SHIFT)
        self.kernel = kernel
        #: True for the kernel space: kernel-range entries are global and shared.
        self.is_kernel = False
        self._tables: dict[int, int] = {}  # L1 slot -> level-0 table PA (tables we own)
        self._count: dict[int, int] = {}  # L1 slot -> valid PTEs in that table
        self._leaves: dict[int, Mapping] = {}  # leaf va -> mapping (own leaves only)
        self._mirrors: list[AddressSpace] = []
        self.destroyed = False
        if kernel is not None:
            if not kernel.is_kernel:
                raise InvalidArgument("kernel= must be a kernel address space (Kernel().space)")
            for slot in range(_KERNEL_SLOT, 1024):
                entry = memory.read_u32(kernel.root + 4 * slot)
                if entry:
                    memory.write_u32(root + 4 * slot, entry)
            kernel._mirrors.append(self)

    def __repr__(self) -> str:
        return (
            f"AddressSpace(asid={self.asid}, root={self.root:#x}, "
            f"mappings={len(self._leaves)}, tables={len(self._tables)})"
        )

    # -- queries --------------------------------------------------------------------------------

    @property
    def table_pages(self) -> int:
        """Pages this space holds from the allocator: the root plus its own level-0 tables."""
        return 0 if self.destroyed else 1 + len(self._tables)

    def translate(
        self,
        va: int,
        access: Access = Access.LOAD,
        priv: Priv = Priv.U,
        *,
        sum: bool = False,
        mxr: bool = False,
    ) -> int:
        """Walk this space's tables (:func:`~mmaccel.sw.sv32.translate_sv32` with ``satp``)."""
        return translate_sv32(self.memory, self.satp, va, access, priv, sum=sum, mxr=mxr)

    def lookup(self, va: int) -> Mapping | None:
        """The own leaf mapping that contains ``va``, or None (from the bookkeeping)."""
        m = self._leaves.get(va & ~(PAGE_SIZE - 1))
        if m is None:
            m = self._leaves.get(va & ~(MEGAPAGE_SIZE - 1))
            if m is not None and m.size != MEGAPAGE_SIZE:
                m = None
        return m

    def mappings(self) -> list[Mapping]:
        """Every leaf this space mapped itself, by virtual address (kernel ones excluded)."""
        return [self._leaves[va] for va in sorted(self._leaves)]

    def page_map(self) -> Iterator[tuple[int, int, PteFlags]]:
        """``(va, pa, flags)`` of every 4 KiB page mapped by this space (megapages expanded)."""
        for va in sorted(self._leaves):
            m = self._leaves[va]
            for off in range(0, m.size, PAGE_SIZE):
                yield va + off, m.pa + off, m.flags

    def busy(self, lo: int = 0, hi: int = _VA_LIMIT) -> list[tuple[int, int]]:
        """Intervals ``[start, end)`` of own leaves overlapping ``[lo, hi)``."""
        return [(va, va + m.size) for va, m in self._leaves.items() if va < hi and va + m.size > lo]

    def is_free(self, va: int, size: int) -> bool:
        """True when no page of ``[va, va+size)`` is mapped (kernel range counts as mapped)."""
        if self.kernel is not None and va + size > KERNEL_BASE:
            return False
        return not any(
            self.lookup(p) is not None for p in range(va & ~(PAGE_SIZE - 1), va + size, PAGE_SIZE)
        )

    def find_free(
        self,
        size: int,
        lo: int,
        hi: int,
        align: int = PAGE_SIZE,
        extra: Iterable[tuple[int, int]] = (),
    ) -> int | None:
        """Lowest ``align``-aligned va in ``[lo, hi)`` where ``size`` bytes are unmapped.

        ``extra`` adds intervals to avoid (reserved but not mapped, for example).
        """
        return _first_gap([*self.busy(lo, hi), *extra], size, lo, hi, align)

    def tables_needed(self, va: int, size: int) -> int:
        """Level-0 tables that mapping ``[va, va+size)`` with 4 KiB pages would allocate."""
        first, last = va >> 22, (va + size - 1) >> 22
        return sum(1 for s in range(first, last + 1) if not self._l1(s))

    # -- page-table access ----------------------------------------------------------------------

    def _l1(self, slot: int) -> int:
        return self.memory.read_u32(self.root + 4 * slot)

    def _set_l1(self, slot: int, entry: int) -> None:
        self.memory.write_u32(self.root + 4 * slot, entry)
        if self.is_kernel and slot >= _KERNEL_SLOT:
            for m in self._mirrors:
                m.memory.write_u32(m.root + 4 * slot, entry)

    def _global(self, va: int) -> int:
        return PteFlags.G if self.is_kernel and va >= KERNEL_BASE else 0

    def _check_range(self, va: int, size: int) -> None:
        _int("va", va)
        _int("size", size)
        if size <= 0:
            raise InvalidArgument(f"size must be positive, not {size:#x}")
        if va & (PAGE_SIZE - 1) or size & (PAGE_SIZE - 1):
            raise InvalidAlignment(
                f"va {va:#x} and size {size:#x} must be multiples of {PAGE_SIZE:#x}"
            )
        if va < 0 or va + size > _VA_LIMIT:
            raise InvalidArgument(f"range [{va:#x}, +{size:#x}) leaves the 32-bit address space")
        if self.kernel is not None and va + size > KERNEL_BASE:
            raise InvalidArgument(
                f"range [{va:#x}, +{size:#x}) reaches the kernel range at {KERNEL_BASE:#x}"
            )
        if self.destroyed:
            raise InvalidArgument(f"{self!r} has been destroyed")

    def _check_free(self, leaves: Sequence[tuple[int, int, int]]) -> int:
        """Raise MappingExists if a leaf overlaps; return how many tables the leaves need."""
        need: set[int] = set()
        for va, _pa, size in leaves:
            slot = va >> 22
            entry = self._l1(slot)
            if size == MEGAPAGE_SIZE:
                if entry & PteFlags.V:
                    what = "a megapage" if slot not in self._tables else "4 KiB pages"
                    raise MappingExists(f"megapage at {va:#x}: the 4 MiB range holds {what}")
                continue
            if not entry & PteFlags.V:
                need.add(slot)
                continue
            if slot not in self._tables:
                raise MappingExists(f"page {va:#x} lies in a megapage or a foreign table")
            pte = self.memory.read_u32(self._tables[slot] + 4 * ((va >> 12) & 0x3FF))
            if pte & PteFlags.V:
                raise MappingExists(f"page {va:#x} is already mapped (PTE {pte:#010x})")
        return len(need)

    def _reserve_pages(self, n: int) -> None:
        free = self.pages.info().nfree
        if n > free:
            raise OutOfMemory(f"{n} page-table pages needed, {free} free")

    def _new_table(self, slot: int) -> int:
        table = self.pages.alloc(1)
        assert table is not None  # counted before by _reserve_pages
        self.memory.fill(table, PAGE_SIZE)
        self._tables[slot] = table
        self._count[slot] = 0
        self._set_l1(slot, ((table >> 12) << 10) | PteFlags.V | self._global(slot << 22))
        return table

    def _write_leaves(self, leaves: Sequence[tuple[int, int, int]], flags: int) -> None:
        for va, pa, size in leaves:
            f = PteFlags(flags | self._global(va))
            pte = ((pa >> 12) << 10) | f
            slot = va >> 22
            if size == MEGAPAGE_SIZE:
                self._set_l1(slot, pte)
            else:
                table = self._tables.get(slot)
                if table is None:
                    table = self._new_table(slot)
                self.memory.write_u32(table + 4 * ((va >> 12) & 0x3FF), pte)
                self._count[slot] += 1
            self._leaves[va] = Mapping(va, pa, size, f)

    # -- map / unmap / protect ------------------------------------------------------------------

    def map(
        self, va: int, pa: int, size: int, perms: PteFlags | int, *, megapage: bool | None = None
    ) -> None:
        """Map ``[va, va+size)`` to the physical ``[pa, pa+size)``.

        Parameters
        ----------
        va, pa, size : int
            4 KiB aligned; ``pa + size`` within the 34-bit physical space.
        perms : PteFlags
            Leaf flags (R, W, X, U, G, A, D; V is added). In the kernel space, mappings at
            ``KERNEL_BASE`` and above also get G.
        megapage : bool, optional
            None (default): a 4 MiB megapage wherever va and pa are 4 MiB aligned and at least
            4 MiB remain, 4 KiB pages elsewhere. True: megapages only (va, pa and size must be
            4 MiB aligned). False: 4 KiB pages only.

        Raises
        ------
        InvalidAlignment
            Unaligned va, pa or size.
        InvalidArgument
            Bad perms (neither R nor X, or W without R), a range outside the address space.
        MappingExists
            A page of the range is already mapped.
        OutOfMemory
            Too few free pages for the page tables. In every case nothing is changed.
        """
        self._check_range(va, size)
        _int("pa", pa)
        flags = _check_perms(perms)
        if pa & (PAGE_SIZE - 1) or pa < 0 or pa + size > _PA_LIMIT:
            raise InvalidAlignment(
                f"pa {pa:#x} must be 4 KiB aligned with pa + size inside 34-bit physical space"
            )
        if megapage and (va | pa | size) & (MEGAPAGE_SIZE - 1):
            raise InvalidAlignment(
                f"megapage map needs va {va:#x}, pa {pa:#x} and size {size:#x} 4 MiB aligned"
            )
        leaves: list[tuple[int, int, int]] = []
        off = 0
        while off < size:
            v, p = va + off, pa + off
            if (
                megapage is not False
                and not (v | p) & (MEGAPAGE_SIZE - 1)
                and size - off >= MEGAPAGE_SIZE
            ):
                leaves.append((v, p, MEGAPAGE_SIZE))
                off += MEGAPAGE_SIZE
            else:
                leaves.append((v, p, PAGE_SIZE))
                off += PAGE_SIZE
        self._reserve_pages(self._check_free(leaves))
        self._write_leaves(leaves, flags)

    def map_pages(self, va: int, frames: Sequence[int], perms: PteFlags | int) -> None:
        """Map 4 KiB pages at ``va, va+4K, ...`` to the (scattered) physical ``frames``.

        Raises as :meth:`map` does, and changes nothing when it raises.
        """
        if not frames:
            raise InvalidArgument("map_pages needs at least one frame")
        self._check_range(va, len(frames) * PAGE_SIZE)
        flags = _check_perms(perms)
        for f in frames:
            if _int("frame", f) & (PAGE_SIZE - 1) or not 0 <= f < _PA_LIMIT:
                raise InvalidAlignment(f"frame {f:#x} must be a 4 KiB aligned physical address")
        leaves = [(va + i * PAGE_SIZE, f, PAGE_SIZE) for i, f in enumerate(frames)]
        self._reserve_pages(self._check_free(leaves))
        self._write_leaves(leaves, flags)

    def _covering(self, va: int, size: int) -> tuple[list[Mapping], list[Mapping]]:
        """Own leaves covering ``[va, va+size)``: (whole leaves, megapages to split).

        Raises NotMapped if a page is not mapped by this space.
        """
        whole: list[Mapping] = []
        split: list[Mapping] = []
        pos, end = va, va + size
        while pos < end:
            m = self.lookup(pos)
            if m is None:
                raise NotMapped(f"page {pos:#x} is not mapped in {self!r}")
            if m.size == MEGAPAGE_SIZE and (m.va < va or m.va + m.size > end):
                split.append(m)
            else:
                whole.append(m)
            pos = m.va + m.size
        return whole, split

    def _split(self, m: Mapping) -> None:
        """Replace megapage ``m`` by a level-0 table of 1024 pages with the same flags."""
        slot = m.va >> 22
        table = self.pages.alloc(1)
        assert table is not None  # counted before
        del self._leaves[m.va]
        for i in range(1024):
            v, p = m.va + i * PAGE_SIZE, m.pa + i * PAGE_SIZE
            self.memory.write_u32(table + 4 * i, ((p >> 12) << 10) | m.flags)
            self._leaves[v] = Mapping(v, p, PAGE_SIZE, m.flags)
        self._tables[slot] = table
        self._count[slot] = 1024
        self._set_l1(slot, ((table >> 12) << 10) | PteFlags.V | self._global(m.va))

    def _remove(self, m: Mapping) -> None:
        slot = m.va >> 22
        del self._leaves[m.va]
        if m.size == MEGAPAGE_SIZE:
            self._set_l1(slot, 0)
            return
        table = self._tables[slot]
        self.memory.write_u32(table + 4 * ((m.va >> 12) & 0x3FF), 0)
        self._count[slot] -= 1
        if self._count[slot] == 0:
            self._set_l1(slot, 0)
            del self._tables[slot]
            del self._count[slot]
            self.pages.free(table, 1)

    def unmap(self, va: int, size: int) -> list[Mapping]:
        """Unmap ``[va, va+size)``; every page must be mapped by this space.

        A megapage partly inside the range is first split into 4 KiB pages (one new table).
        Level-0 tables that become empty go back to the page allocator.

        Returns
        -------
        list of Mapping
            The 4 KiB or 4 MiB leaves removed.

        Raises
        ------
        InvalidAlignment, InvalidArgument
            Bad range.
        NotMapped
            A page of the range is not mapped.
        OutOfMemory
            A megapage split needs a table and none is free. Nothing changes when it raises.
        """
        self._check_range(va, size)
        whole, split = self._covering(va, size)
        self._reserve_pages(len(split))
        for m in split:
            self._split(m)
        if split:
            whole, _ = self._covering(va, size)
        for m in whole:
            self._remove(m)
        return whole

    def protect(self, va: int, size: int, perms: PteFlags | int) -> None:
        """Change the flags of every page of ``[va, va+size)`` (all must be mapped here).

        Raises as :meth:`unmap` does, or InvalidArgument for bad ``perms``; changes nothing
        when it raises.
        """
        self._check_range(va, size)
        flags = _check_perms(perms)
        whole, split = self._covering(va, size)
        self._reserve_pages(len(split))
        for m in split:
            self._split(m)
        if split:
            whole, _ = self._covering(va, size)
        for m in whole:
            self._remove_leaf_only(m)
            self._write_leaves([(m.va, m.pa, m.size)], flags)

    def _remove_leaf_only(self, m: Mapping) -> None:
        del self._leaves[m.va]
        if m.size == PAGE_SIZE:
            self._count[m.va >> 22] -= 1

    def destroy(self) -> None:
        """Unmap everything this space mapped and free its tables and root.

        Physical frames mapped are not freed (their owners free them). A kernel space with
        process spaces still attached cannot be destroyed.
        """
        if self.destroyed:
            return
        if self._mirrors:
            raise InvalidArgument(f"{len(self._mirrors)} process spaces still share {self!r}")
        for table in self._tables.values():
            self.pages.free(table, 1)
        self.pages.free(self.root, 1)
        self._tables.clear()
        self._count.clear()
        self._leaves.clear()
        if self.kernel is not None:
            self.kernel._mirrors.remove(self)
        self.destroyed = True

    # -- invariants -----------------------------------------------------------------------------

    def check(self) -> None:
        """Verify the page tables in memory against the bookkeeping (AssertionError if not)."""
        if self.destroyed:
            return
        mem = self.memory
        seen: dict[int, Mapping] = {}
        for slot in range(1024):
            entry = self._l1(slot)
            if self.kernel is not None and slot >= _KERNEL_SLOT:
                want = mem.read_u32(self.kernel.root + 4 * slot)
                if entry != want:
                    raise AssertionError(
                        f"kernel slot {slot}: {entry:#010x} != kernel's {want:#010x}"
                    )
                continue
            if not entry & PteFlags.V:
                if entry or slot in self._tables:
                    raise AssertionError(f"L1 slot {slot}: stray entry {entry:#010x}")
                continue
            va = slot << 22
            if entry & (PteFlags.R | PteFlags.X):
                seen[va] = Mapping(va, (entry >> 20) << 22, MEGAPAGE_SIZE, PteFlags(entry & 0xFF))
                continue
            table = self._tables.get(slot)
            if table is None or (entry >> 10) << 12 != table:
                raise AssertionError(f"L1 slot {slot} points to an unknown table ({entry:#010x})")
            count = 0
            for i in range(1024):
                pte = mem.read_u32(table + 4 * i)
                if not pte & PteFlags.V:
                    if pte:
                        raise AssertionError(f"stray invalid PTE {pte:#010x} in table {table:#x}")
                    continue
                count += 1
                v = va + i * PAGE_SIZE
                seen[v] = Mapping(v, (pte >> 10) << 12, PAGE_SIZE, PteFlags(pte & 0xFF))
            if count == 0 or count != self._count.get(slot):
                raise AssertionError(
                    f"table of slot {slot}: {count} valid PTEs, counted {self._count.get(slot)}"
                )
        if seen != self._leaves:
            extra = set(seen) ^ set(self._leaves)
            raise AssertionError(f"page tables and bookkeeping differ at {sorted(extra)[:4]}")


class Kernel:
    """The kernel: its global address space, ioremap and vmalloc (BitThunder's API).

    Parameters
    ----------
    memory : PhysicalMemory
    pages : PageAllocator
        The page-frame allocator for tables and vmalloc pages.
    asid : int
        The kernel space's ASID.
    mmu : bool
        False models BitThunder without virtual addressing: ``ioremap`` returns the physical
        address and ``iounmap`` does nothing; ``vmalloc`` gives physically contiguous pages at
        their physical address.

    Attributes
    ----------
    space : AddressSpace
        The kernel address space; its mappings at ``KERNEL_BASE`` and up are global (G) and
        appear in every process space created by :meth:`spawn` (or with ``kernel=space``).
    """

    def __init__(
        self, memory: PhysicalMemory, pages: PageAllocator, *, asid: int = 0, mmu: bool = True
    ) -> None:
        self.memory = memory
        self.pages = pages
        self.mmu = mmu
        self.space = AddressSpace(memory, pages, asid)
        self.space.is_kernel = True
        self._io: dict[int, int] = {}  # va -> size (whole pages)
        self._vm: dict[int, list[int]] = {}  # va -> frames

    def __repr__(self) -> str:
        return f"Kernel(space={self.space!r}, ioremaps={len(self._io)}, vmallocs={len(self._vm)})"

    @property
    def vmalloc_pages(self) -> int:
        """Page frames held by live vmalloc allocations."""
        return sum(len(f) for f in self._vm.values())

    def spawn(self, pid: int, asid: int, *, uid: int = 0, gid: int = 0) -> Process:
        """A new process with an empty address space that shares the kernel's global mappings."""
        return Process(
            pid, AddressSpace(self.memory, self.pages, asid, kernel=self.space), uid=uid, gid=gid
        )

    def ioremap(self, pa: int, size: int, attrs: PteFlags | int = PteFlags.R | PteFlags.W) -> int:
        """Map device memory ``[pa, pa+size)`` into the kernel's ioremap area (bt_ioremap).

        ``pa`` need not be page aligned: the pages covering the range are mapped and the
        returned address has ``pa``'s page offset. Megapages are used for 4 MiB aligned ranges.
        A guard page is left unmapped after each mapping.

        Parameters
        ----------
        attrs : PteFlags
            R, W, X (W needs R); A, D and G are added, U never.

        Raises
        ------
        InvalidArgument
            ``size`` not positive, the range outside the 34-bit physical space, bad attrs.
        OutOfMemory
            No room in the ioremap area or no page for a table.
        """
        _int("pa", pa)
        _int("size", size)
        if size <= 0 or pa < 0 or pa + size > _PA_LIMIT:
            raise InvalidArgument(f"ioremap of [{pa:#x}, +{size:#x}) is not a physical range")
        if int(attrs) & ~(PteFlags.R | PteFlags.W | PteFlags.X):
            raise InvalidArgument(f"ioremap attrs may hold only R, W, X, not {attrs!r}")
        flags = _check_perms(attrs | PteFlags.A | PteFlags.D | PteFlags.G)
        if not self.mmu:
            return pa
        base = pa & ~(PAGE_SIZE - 1)
        span = _pages(pa + size - base) * PAGE_SIZE
        align = MEGAPAGE_SIZE if span >= MEGAPAGE_SIZE and not base % MEGAPAGE_SIZE else PAGE_SIZE
        guards = [(v, v + n + PAGE_SIZE) for v, n in self._io.items()]
        va = self.space.find_free(span + PAGE_SIZE, IOREMAP_BASE, IOREMAP_END, align, guards)
        if va is None:
            raise OutOfMemory(f"no {span:#x}-byte hole in the ioremap area")
        self.space.map(va, base, span, flags)
        self._io[va] = span
        return va + (pa - base)

    def iounmap(self, va: int) -> None:
        """Undo :meth:`ioremap` given the address it returned (bt_iounmap).

        Raises
        ------
        InvalidPointer
            ``va`` was not returned by ioremap (or was unmapped already).
        """
        _int("va", va)
        if not self.mmu:
            return
        base = va & ~(PAGE_SIZE - 1)
        span = self._io.get(base)
        if span is None:
            raise InvalidPointer(f"{va:#x} is not an ioremap address")
        self.space.unmap(base, span)
        del self._io[base]

    def vmalloc(self, size: int) -> int | None:
        """Allocate ``size`` bytes, virtually contiguous from scattered zero-filled pages.

        The pages come one at a time from the page allocator and are mapped R/W (global) in
        the vmalloc area, followed by an unmapped guard page.

        Returns
        -------
        int or None
            The virtual address, or None when pages or address space run out (nothing is
            then changed).

        Raises
        ------
        InvalidArgument
            ``size`` is not positive.
        """
        _int("size", size)
        if size <= 0:
            raise InvalidArgument(f"vmalloc size must be positive, not {size}")
        n = _pages(size)
        if not self.mmu:
            pa = self.pages.alloc(n)
            if pa is None:
                return None
            self.memory.fill(pa, n * PAGE_SIZE)
            self._vm[pa] = [pa + i * PAGE_SIZE for i in range(n)]
            return pa
        guards = [(v, v + (len(f) + 1) * PAGE_SIZE) for v, f in self._vm.items()]
        va = self.space.find_free((n + 1) * PAGE_SIZE, VMALLOC_BASE, VMALLOC_END, PAGE_SIZE, guards)
        if va is None:
            return None
        if n + self.space.tables_needed(va, n * PAGE_SIZE) > self.pages.info().nfree:
            return None
        frames = [self._frame() for _ in range(n)]
        self.space.map_pages(va, frames, PteFlags.R | PteFlags.W | PteFlags.A | PteFlags.D)
        self._vm[va] = frames
        return va

    def _frame(self) -> int:
        f = self.pages.alloc(1)
        if f is None:
            raise OutOfMemory("page allocator exhausted")
        self.memory.fill(f, PAGE_SIZE)
        return f

    def vfree(self, va: int) -> None:
        """Free a :meth:`vmalloc` allocation: unmap it and return its pages.

        Raises
        ------
        InvalidPointer
            ``va`` is not the start of a live vmalloc allocation.
        """
        _int("va", va)
        frames = self._vm.get(va)
        if frames is None:
            raise InvalidPointer(f"{va:#x} is not a vmalloc address")
        if self.mmu:
            self.space.unmap(va, len(frames) * PAGE_SIZE)
            for f in frames:
                self.pages.free(f, 1)
        else:
            self.pages.free(va, len(frames))
        del self._vm[va]

    def vmalloc_frames(self, va: int) -> list[int]:
        """The physical pages behind a vmalloc allocation, in virtual order."""
        frames = self._vm.get(va)
        if frames is None:
            raise InvalidPointer(f"{va:#x} is not a vmalloc address")
        return list(frames)


class _Anon:
    """Backing pages of anonymous mappings, with a per-page count of mapping processes."""

    __slots__ = ("frames", "refs")

    def __init__(self, frames: list[int]) -> None:
        self.frames = frames
        self.refs = [1] * len(frames)


class _Vma:
    __slots__ = ("flags", "npages", "obj", "offset", "prot", "start")

    def __init__(self, start: int, npages: int, prot: int, flags: int, obj: _Anon, offset: int):
        self.start = start
        self.npages = npages
        self.prot = prot
        self.flags = flags
        self.obj = obj
        self.offset = offset

    @property
    def end(self) -> int:
        return self.start + self.npages * PAGE_SIZE

    def frame(self, va: int) -> int:
        return self.obj.frames[self.offset + ((va - self.start) >> PAGE_SHIFT)]

    def piece(self, lo: int, hi: int) -> _Vma:
        return _Vma(
            lo,
            (hi - lo) >> PAGE_SHIFT,
            self.prot,
            self.flags,
            self.obj,
            self.offset + ((lo - self.start) >> PAGE_SHIFT),
        )


@dataclass(slots=True)
class _ShmAttach:
    shm: SharedMemory
    shmid: int
    size: int
    readonly: bool


class Process:
    """A process: a pid, an address space, its anonymous mappings and shm attachments.

    Parameters
    ----------
    pid : int
        Process id (non-negative).
    address_space : AddressSpace
        Its address space (normally created with ``kernel=`` so kernel mappings appear).
    uid, gid : int
        Credentials, checked by :class:`~mmaccel.sw.shm.SharedMemory` (0 is the superuser).

    Notes
    -----
    ``mmap`` is eager: the pages are allocated, zero-filled and mapped at once (there is no
    demand paging, so an access to an unmapped page is a page fault, not a fill).
    """

    def __init__(
        self, pid: int, address_space: AddressSpace, *, uid: int = 0, gid: int = 0
    ) -> None:
        _int("pid", pid)
        if pid < 0:
            raise InvalidArgument(f"pid must be non-negative, not {pid}")
        self.pid = pid
        self.address_space = address_space
        self.uid = uid
        self.gid = gid
        self._vmas: list[_Vma] = []
        #: shm attachments: va -> attachment (managed by SharedMemory)
        self.shm_attachments: dict[int, _ShmAttach] = {}

    def __repr__(self) -> str:
        return f"Process(pid={self.pid}, asid={self.address_space.asid}, regions={len(self._vmas)})"

    # -- queries --------------------------------------------------------------------------------

    def regions(self) -> list[Region]:
        """The mmap regions, by address."""
        return [
            Region(
                v.start,
                v.npages * PAGE_SIZE,
                v.prot,
                v.flags,
                tuple(v.obj.frames[v.offset : v.offset + v.npages]),
            )
            for v in sorted(self._vmas, key=lambda v: v.start)
        ]

    def anon_frames(self) -> set[int]:
        """Physical pages behind this process's mmap regions."""
        out: set[int] = set()
        for v in self._vmas:
            out.update(v.obj.frames[v.offset : v.offset + v.npages])
        return out

    def _reserved(self) -> list[tuple[int, int]]:
        busy = [(v.start, v.end) for v in self._vmas]
        busy += [(va, va + a.size) for va, a in self.shm_attachments.items()]
        return busy

    def range_is_free(self, va: int, size: int) -> bool:
        """No mapping, mmap region (even PROT_NONE) or attachment overlaps ``[va, va+size)``."""
        if va < 0 or va + size > KERNEL_BASE:
            return False
        if any(s < va + size and e > va for s, e in self._reserved()):
            return False
        return self.address_space.is_free(va, size)

    def find_free(self, size: int, lo: int, hi: int) -> int | None:
        """Lowest page-aligned va in ``[lo, hi)`` where ``size`` bytes are free."""
        return self.address_space.find_free(size, lo, hi, PAGE_SIZE, self._reserved())

    # -- mmap -----------------------------------------------------------------------------------

    def _vma_pieces(self, lo: int, hi: int) -> list[tuple[_Vma, int, int]]:
        out = []
        for v in self._vmas:
            s, e = max(v.start, lo), min(v.end, hi)
            if s < e:
                out.append((v, s, e))
        return out

    def _cut(self, lo: int, hi: int) -> int:
        """Remove ``[lo, hi)`` from the regions: unmap, drop page refs; return frames freed."""
        freed = 0
        new: list[_Vma] = []
        for v in self._vmas:
            s, e = max(v.start, lo), min(v.end, hi)
            if s >= e:
                new.append(v)
                continue
            if v.prot != PROT_NONE:
                self.address_space.unmap(s, e - s)
            first = v.offset + ((s - v.start) >> PAGE_SHIFT)
            for i in range(first, first + ((e - s) >> PAGE_SHIFT)):
                v.obj.refs[i] -= 1
                if v.obj.refs[i] == 0:
                    self.address_space.pages.free(v.obj.frames[i], 1)
                    freed += 1
            if v.start < s:
                new.append(v.piece(v.start, s))
            if e < v.end:
                new.append(v.piece(e, v.end))
        self._vmas = new
        return freed

    def _frames_freed_by_cut(self, lo: int, hi: int) -> int:
        n = 0
        for v, s, e in self._vma_pieces(lo, hi):
            first = v.offset + ((s - v.start) >> PAGE_SHIFT)
            n += sum(1 for i in range(first, first + ((e - s) >> PAGE_SHIFT)) if v.obj.refs[i] == 1)
        return n

    def _check_len(self, addr: object, length: object) -> tuple[int, int]:
        if not isinstance(addr, int) or isinstance(addr, bool):
            raise MmapError(errno.EINVAL, f"addr must be an int, not {addr!r}")
        if not isinstance(length, int) or isinstance(length, bool) or length <= 0:
            raise MmapError(errno.EINVAL, f"length must be a positive int, not {length!r}")
        return addr, _pages(length) * PAGE_SIZE

    def mmap(self, addr: int, length: int, prot: int, flags: int) -> int:
        """Map ``length`` bytes of anonymous zero-filled memory; return the address.

        Parameters
        ----------
        addr : int
            0 for "anywhere", else a hint (used when free; rounded down to a page) or, with
            MAP_FIXED, the exact page-aligned address.
        length : int
            Bytes (rounded up to whole pages).
        prot : int
            PROT_NONE or PROT_READ | PROT_WRITE | PROT_EXEC (write implies read).
        flags : int
            MAP_ANONYMOUS and exactly one of MAP_SHARED / MAP_PRIVATE; optionally MAP_FIXED,
            which replaces the mmap regions in the way.

        Raises
        ------
        MmapError
            EINVAL: bad length, prot or flags, an unaligned or out-of-range MAP_FIXED address;
            ENODEV: no MAP_ANONYMOUS (there are no files); EEXIST: MAP_FIXED over a mapping that
            mmap did not make (shm, kernel); ENOMEM: no free address range or too few pages.
            Nothing changes when it raises.
        """
        addr, size = self._check_len(addr, length)
        if not isinstance(prot, int) or prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC):
            raise MmapError(errno.EINVAL, f"bad prot {prot!r}")
        if not isinstance(flags, int) or flags & ~_MAP_KNOWN:
            raise MmapError(errno.EINVAL, f"unknown flags in {flags!r}")
        if bool(flags & MAP_SHARED) == bool(flags & MAP_PRIVATE):
            raise MmapError(errno.EINVAL, f"flags {flags:#x}: need one of MAP_SHARED, MAP_PRIVATE")
        if not flags & MAP_ANONYMOUS:
            raise MmapError(errno.ENODEV, "only anonymous mappings (MAP_ANONYMOUS) exist")
        space = self.address_space
        n = size >> PAGE_SHIFT
        freed = 0
        if flags & MAP_FIXED:
            if addr & (PAGE_SIZE - 1) or addr < 0 or addr + size > KERNEL_BASE:
                raise MmapError(errno.EINVAL, f"MAP_FIXED address {addr:#x} (+{size:#x}) invalid")
            va = addr
            vma_pages = {
                p for _, s, e in self._vma_pieces(va, va + size) for p in range(s, e, PAGE_SIZE)
            }
            for p in range(va, va + size, PAGE_SIZE):
                if p not in vma_pages and space.lookup(p) is not None:
                    raise MmapError(errno.EEXIST, f"MAP_FIXED over a non-mmap mapping at {p:#x}")
            if any(s < va + size and va < s + a.size for s, a in self.shm_attachments.items()):
                raise MmapError(errno.EEXIST, f"MAP_FIXED over an shm attachment near {va:#x}")
            freed = self._frames_freed_by_cut(va, va + size)
        else:
            va_hint = addr & ~(PAGE_SIZE - 1)
            if va_hint and va_hint + size <= KERNEL_BASE and self.range_is_free(va_hint, size):
                va = va_hint
            else:
                found = self.find_free(size, MMAP_BASE, MMAP_END)
                if found is None:
                    raise MmapError(errno.ENOMEM, f"no free {size:#x}-byte range for mmap")
                va = found
        tables = space.tables_needed(va, size) if prot != PROT_NONE else 0
        if n + tables > space.pages.info().nfree + freed:
            raise MmapError(errno.ENOMEM, f"{n} pages + {tables} tables needed; too few free")
        if flags & MAP_FIXED:
            self._cut(va, va + size)
        frames = []
        for _ in range(n):
            f = space.pages.alloc(1)
            assert f is not None  # counted above
            space.memory.fill(f, PAGE_SIZE)
            frames.append(f)
        vma = _Vma(
            va, n, prot, flags & (MAP_SHARED | MAP_PRIVATE | MAP_ANONYMOUS), _Anon(frames), 0
        )
        if prot != PROT_NONE:
            space.map_pages(va, frames, prot_to_pte(prot))
        self._vmas.append(vma)
        return va

    def munmap(self, addr: int, length: int) -> None:
        """Remove the mmap regions in ``[addr, addr+length)``; holes are allowed (POSIX).

        Pages no other process maps any more go back to the page allocator. Only mmap regions
        are affected (shm attachments go with :meth:`SharedMemory.shmdt`).

        Raises
        ------
        MmapError
            EINVAL: ``addr`` not page aligned, length not positive, range outside user space.
        """
        addr, size = self._check_len(addr, length)
        if addr & (PAGE_SIZE - 1) or addr < 0 or addr + size > KERNEL_BASE:
            raise MmapError(errno.EINVAL, f"munmap of [{addr:#x}, +{size:#x}) invalid")
        self._cut(addr, addr + size)

    def mprotect(self, addr: int, length: int, prot: int) -> None:
        """Change the protection of ``[addr, addr+length)``, all of which must be mmap'ed.

        Raises
        ------
        MmapError
            EINVAL: unaligned ``addr`` or bad ``prot``; ENOMEM: a page of the range is not in
            an mmap region, or no page for a table. Nothing changes when it raises.
        """
        addr, size = self._check_len(addr, length)
        if addr & (PAGE_SIZE - 1) or addr < 0 or addr + size > KERNEL_BASE:
            raise MmapError(errno.EINVAL, f"mprotect of [{addr:#x}, +{size:#x}) invalid")
        if not isinstance(prot, int) or prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC):
            raise MmapError(errno.EINVAL, f"bad prot {prot!r}")
        pieces = self._vma_pieces(addr, addr + size)
        if sum(e - s for _, s, e in pieces) != size:
            raise MmapError(errno.ENOMEM, f"[{addr:#x}, +{size:#x}) is not wholly mmap'ed")
        space = self.address_space
        if prot != PROT_NONE:
            slots: set[int] = set()
            for v, lo, hi in pieces:
                if v.prot == PROT_NONE:
                    slots.update(range(lo >> 22, ((hi - 1) >> 22) + 1))
            need = sum(1 for s in slots if not space._l1(s))
            if need > space.pages.info().nfree:
                raise MmapError(errno.ENOMEM, f"{need} page tables needed; too few free")
        new: list[_Vma] = []
        for v in self._vmas:
            s, e = max(v.start, addr), min(v.end, addr + size)
            if s >= e:
                new.append(v)
                continue
            mid = v.piece(s, e)
            if v.prot != PROT_NONE and prot != PROT_NONE:
                space.protect(s, e - s, prot_to_pte(prot))
            elif v.prot != PROT_NONE:
                space.unmap(s, e - s)
            elif prot != PROT_NONE:
                space.map_pages(
                    s, [mid.frame(p) for p in range(s, e, PAGE_SIZE)], prot_to_pte(prot)
                )
            mid.prot = prot
            if v.start < s:
                new.append(v.piece(v.start, s))
            new.append(mid)
            if e < v.end:
                new.append(v.piece(e, v.end))
        self._vmas = new

    # -- fork / exit ----------------------------------------------------------------------------

    def fork(self, pid: int, asid: int) -> Process:
        """A child with a new address space (same kernel): private regions are copied into new
        pages, MAP_SHARED regions share their pages, shm attachments are inherited.

        Raises
        ------
        OutOfMemory
            Too few free pages (nothing changes).
        """
        space = self.address_space
        private = sum(v.npages for v in self._vmas if v.flags & MAP_PRIVATE)
        slots: set[int] = set()
        for v in self._vmas:
            if v.prot != PROT_NONE:
                slots.update(range(v.start >> 22, ((v.end - 1) >> 22) + 1))
        for va, a in self.shm_attachments.items():
            slots.update(range(va >> 22, ((va + a.size - 1) >> 22) + 1))
        need = 1 + private + len(slots)
        if need > space.pages.info().nfree:
            raise OutOfMemory(f"fork needs {need} pages, {space.pages.info().nfree} free")
        child = Process(
            pid,
            AddressSpace(space.memory, space.pages, asid, kernel=space.kernel),
            uid=self.uid,
            gid=self.gid,
        )
        cspace = child.address_space
        for v in self._vmas:
            if v.flags & MAP_PRIVATE:
                frames = []
                for i in range(v.npages):
                    f = space.pages.alloc(1)
                    assert f is not None
                    space.memory.move(f, v.obj.frames[v.offset + i], PAGE_SIZE)
                    frames.append(f)
                cv = _Vma(v.start, v.npages, v.prot, v.flags, _Anon(frames), 0)
            else:
                cv = v.piece(v.start, v.end)
                for i in range(v.offset, v.offset + v.npages):
                    v.obj.refs[i] += 1
            if v.prot != PROT_NONE:
                cspace.map_pages(
                    v.start, cv.obj.frames[cv.offset : cv.offset + cv.npages], prot_to_pte(v.prot)
                )
            child._vmas.append(cv)
        for va, a in sorted(self.shm_attachments.items()):
            a.shm._inherit(self, child, va)
        return child

    def exit(self) -> None:
        """Unmap every region, detach every shm segment, and destroy the address space."""
        for va, a in sorted(self.shm_attachments.items()):
            a.shm.shmdt(self, va)
        for v in list(self._vmas):
            self._cut(v.start, v.end)
        self.address_space.destroy()

    def check(self) -> None:
        """Verify that every mmap page translates to its frame (AssertionError if not)."""
        space = self.address_space
        space.check()
        for v in self._vmas:
            for p in range(v.start, v.end, PAGE_SIZE):
                m = space.lookup(p)
                if v.prot == PROT_NONE:
                    if m is not None:
                        raise AssertionError(f"PROT_NONE page {p:#x} is mapped")
                    continue
                want = prot_to_pte(v.prot)
                if m is None or m.pa != v.frame(p) or m.flags != want:
                    raise AssertionError(f"mmap page {p:#x}: {m} != frame {v.frame(p):#x} {want!r}")
