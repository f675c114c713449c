"""Sv32 address spaces: the virtual layout and the page tables behind it.

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

The kernel address space (:class:`~mmaccel.sw.kernel.Kernel`) owns the level-0 tables of the
kernel range; every process address space created with ``kernel=`` copies the kernel's root
entries for that range and is kept in step when the kernel adds or removes one, so global
mappings appear in every process. A process cannot map into the kernel range.

Every operation checks everything first and then changes state, so an operation that raises
leaves the page tables, the page allocator and the bookkeeping exactly as they were. Page-table
pages and page frames are taken one page at a time, so "enough pages" is known exactly from the
allocator's free count before anything is touched.

The layers above: :mod:`mmaccel.sw.process` (processes with mmap), :mod:`mmaccel.sw.kernel`
(ioremap, vmalloc, spawning processes) and :mod:`mmaccel.sw.shm` (SysV shared memory).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from .errors import (
    InvalidAlignment,
    InvalidArgument,
    MappingExists,
    NotMapped,
    OutOfMemory,
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

__all__ = [
    "IOREMAP_BASE",
    "IOREMAP_END",
    "KERNEL_BASE",
    "MMAP_BASE",
    "MMAP_END",
    "PA_LIMIT",
    "SHM_BASE",
    "SHM_END",
    "VMALLOC_BASE",
    "VMALLOC_END",
    "AddressSpace",
    "Mapping",
    "MappingExists",
    "NotMapped",
    "OutOfMemory",
    "check_perms",
    "int_arg",
    "pages_for",
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
#: End of the 34-bit Sv32 physical address space (a leaf may point anywhere below it).
PA_LIMIT = 1 << 34

_VA_LIMIT = 1 << 32
_KERNEL_SLOT = KERNEL_BASE >> 22


@dataclass(frozen=True, slots=True)
class Mapping:
    """One leaf mapping of an address space: ``size`` is 4 KiB or 4 MiB."""

    va: int
    pa: int
    size: int
    flags: PteFlags


def int_arg(name: str, value: object) -> int:
    """``value`` if it is an int (not a bool); else :class:`TypeError` naming ``name``."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {value!r}")
    return value


def pages_for(size: int) -> int:
    """Pages that hold ``size`` bytes (rounded up)."""
    return (size + PAGE_SIZE - 1) >> PAGE_SHIFT


def check_perms(perms: int) -> PteFlags:
    """The leaf flags :meth:`AddressSpace.map` writes for ``perms`` (``perms`` with V).

    Raises
    ------
    InvalidArgument
        ``perms`` has bits above 7:0, neither R nor X (not a leaf), or W without R (reserved
        in Sv32).
    """
    perms = int_arg("perms", int(perms))
    if perms & ~0xFF:
        raise InvalidArgument(f"perms must be PteFlags (bits 7:0), not {perms:#x}")
    if not perms & (PteFlags.R | PteFlags.X):
        raise InvalidArgument(f"perms {PteFlags(perms)!r} has neither R nor X: not a leaf")
    if perms & PteFlags.W and not perms & PteFlags.R:
        raise InvalidArgument(f"perms {PteFlags(perms)!r} has W without R (reserved in Sv32)")
    return PteFlags(perms | PteFlags.V)


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
        int_arg("asid", asid)
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
        int_arg("va", va)
        int_arg("size", size)
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
        int_arg("pa", pa)
        flags = check_perms(perms)
        if pa & (PAGE_SIZE - 1) or pa < 0 or pa + size > PA_LIMIT:
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
        flags = check_perms(perms)
        for f in frames:
            if int_arg("frame", f) & (PAGE_SIZE - 1) or not 0 <= f < PA_LIMIT:
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
        flags = check_perms(perms)
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
