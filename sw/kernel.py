"""The kernel of the model: its global address space, ioremap and vmalloc (BitThunder's API).

:class:`Kernel` owns the kernel address space; its mappings at
:data:`~mmaccel.sw.vm.KERNEL_BASE` and up are global (G) and appear in every process space
created by :meth:`Kernel.spawn`. ``ioremap`` maps device memory into the ioremap area,
``vmalloc`` maps scattered zero-filled pages contiguously into the vmalloc area (the layout is
in :mod:`mmaccel.sw.vm`); each mapping is followed by an unmapped guard page.

Against BitThunder (see docs/vm.md): ``vmalloc`` is implemented (BitThunder lists it as "in
progress"); ioremap's attributes are R/W/X only, since Sv32 has no memory-type bits for the
uncached memory BitThunder asks for. With ``mmu=False`` the kernel models BitThunder without virtual
addressing: ``ioremap`` is the identity and ``vmalloc`` returns physically contiguous pages.
"""

from __future__ import annotations

from .errors import InvalidArgument, InvalidPointer
from .gran import PageAllocator
from .memory import PhysicalMemory
from .process import Process
from .sv32 import MEGAPAGE_SIZE, PAGE_SIZE, PteFlags
from .vm import (
    IOREMAP_BASE,
    IOREMAP_END,
    PA_LIMIT,
    VMALLOC_BASE,
    VMALLOC_END,
    AddressSpace,
    OutOfMemory,
    check_perms,
    int_arg,
    pages_for,
)

__all__ = ["Kernel"]


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
        int_arg("pa", pa)
        int_arg("size", size)
        if size <= 0 or pa < 0 or pa + size > PA_LIMIT:
            raise InvalidArgument(f"ioremap of [{pa:#x}, +{size:#x}) is not a physical range")
        if int(attrs) & ~(PteFlags.R | PteFlags.W | PteFlags.X):
            raise InvalidArgument(f"ioremap attrs may hold only R, W, X, not {attrs!r}")
        flags = check_perms(attrs | PteFlags.A | PteFlags.D | PteFlags.G)
        if not self.mmu:
            return pa
        base = pa & ~(PAGE_SIZE - 1)
        span = pages_for(pa + size - base) * PAGE_SIZE
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
        int_arg("va", va)
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
        int_arg("size", size)
        if size <= 0:
            raise InvalidArgument(f"vmalloc size must be positive, not {size}")
        n = pages_for(size)
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
        int_arg("va", va)
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
