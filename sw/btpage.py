"""BitThunder's page API (os/src/mm/bt_page.c) served by the page-frame allocator.

BitThunder hands out memory in 4 KiB pages from two pools: the main pool and a separate
"coherent" pool of DMA-safe pages (1 MiB, carved out of the main pool at boot, 1 MiB aligned).
Here both pools are :class:`~mmaccel.sw.gran.PageAllocator` instances, the allocator the hardware
accelerates, so every software layer above (the SLAB heap, the memory system) takes its pages
from it.

Departures from BitThunder (all deliberate):

- **Freed pages coalesce.** BitThunder keeps a list of free blocks inside the free memory and its
  ``bt_page_pool_free`` always inserts the freed block at the head of that list and merges it only
  with the element that follows it in the list, so freed pages practically never coalesce and the
  pool fragments. The page-frame allocator keeps one bit per page, so neighbouring free pages
  form one free run whatever order they were freed in.
- **First fit is lowest address first.** BitThunder takes the first block of its (unordered) free
  list that fits; the page-frame allocator takes the lowest-addressed run that fits.
- **Misuse raises.** BitThunder trusts its callers; here a free of pages that are not allocated,
  a free into the wrong pool, a reserve of pages in use and any range outside the pool raise a
  typed error (see :mod:`mmaccel.sw.errors`) and change nothing. Out of memory is not an error:
  the allocation calls return None where BitThunder returns 0.
- ``bt_page_reserve`` raises instead of returning ``BT_ERR_NO_MEMORY``.

All calls are thread-safe (one lock per :class:`BtPages`, like BitThunder's page mutex).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from .errors import InvalidAlignment, InvalidArgument, InvalidPointer
from .gran import PageAllocator, runs_of

__all__ = ["BT_PAGE_SHIFT", "BT_PAGE_SIZE", "BtPageInfo", "BtPages"]

#: log2 of BitThunder's page size.
BT_PAGE_SHIFT = 12
#: BitThunder's page size in bytes (4 KiB).
BT_PAGE_SIZE = 1 << BT_PAGE_SHIFT
#: Largest alignment order accepted by ``bt_page_alloc_aligned`` (4 KiB << 19 = 2 GiB).
MAX_ORDER = 19


@dataclass(frozen=True, slots=True)
class BtPageInfo:
    """What ``bt_page_info()`` reports, in bytes (BitThunder's ``struct bt_page_info``)."""

    normal_size: int
    normal_used: int
    coherent_size: int
    coherent_used: int


def _check_int(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {value!r}")
    return value


class BtPages:
    """BitThunder's page calls over page-frame allocators.

    Parameters
    ----------
    pages : PageAllocator
        The main page pool (4 KiB pages).
    coherent : PageAllocator or None
        The coherent (DMA) pool, a separate page allocator over its own range; None for a
        system without one (then the ``*_coherent`` calls raise :class:`InvalidArgument`).
        :meth:`carve` builds one the way BitThunder does, out of the main pool.

    Raises
    ------
    InvalidArgument
        A pool whose page size is not 4 KiB, or a coherent pool overlapping the main pool
        without being allocated in it.
    """

    def __init__(self, pages: PageAllocator, coherent: PageAllocator | None = None) -> None:
        for name, pool in (("pages", pages), ("coherent", coherent)):
            if pool is not None and pool.page_shift != BT_PAGE_SHIFT:
                raise InvalidArgument(
                    f"{name} pool has {pool.page_size}-byte pages; BitThunder pages are "
                    f"{BT_PAGE_SIZE} bytes"
                )
        self.pages = pages
        self.coherent = coherent
        self._carved: tuple[int, int] | None = None  # coherent range taken from `pages`
        self._lock = threading.Lock()
        self._align_masks: dict[tuple[bool, int], int] = {}

    @classmethod
    def carve(cls, pages: PageAllocator, coherent_size: int = 1 << 20) -> BtPages:
        """BitThunder's boot sequence: take the coherent pool out of the main pool.

        ``bt_initialise_coherent_pages`` allocates ``coherent_size`` bytes aligned to 1 MiB
        (order 8) from the main pool and attaches them to the coherent pool; they stay counted
        as used in the main pool. ``coherent_size == 0`` gives a system without a coherent pool.

        Raises
        ------
        InvalidArgument
            ``coherent_size`` is negative, not a whole number of pages, or does not fit.
        """
        _check_int("coherent_size", coherent_size)
        if coherent_size < 0 or coherent_size % BT_PAGE_SIZE:
            raise InvalidArgument(
                f"coherent_size must be a non-negative multiple of {BT_PAGE_SIZE}, "
                f"not {coherent_size}"
            )
        bt = cls(pages)
        if coherent_size:
            base = bt.bt_page_alloc_aligned(coherent_size, 8)
            if base is None:
                raise InvalidArgument(
                    f"no 1 MiB-aligned run of {coherent_size:#x} bytes for the coherent pool in "
                    f"{pages!r}"
                )
            bt.coherent = PageAllocator(base, coherent_size, BT_PAGE_SHIFT)
            bt._carved = (base, base + coherent_size)
        return bt

    def __repr__(self) -> str:
        return f"BtPages(pages={self.pages!r}, coherent={self.coherent!r})"

    # -- helpers -------------------------------------------------------------------------------

    @staticmethod
    def _npages(size: int) -> int:
        return (size + BT_PAGE_SIZE - 1) >> BT_PAGE_SHIFT

    def _mask(self, pool: PageAllocator, order: int) -> int:
        """Bit p set where page p of ``pool`` starts at a multiple of 4 KiB << order."""
        key = (pool is self.pages, order)
        mask = self._align_masks.get(key)
        if mask is None:
            step = 1 << order
            first = (-(pool.start >> BT_PAGE_SHIFT)) % step
            mask = 0
            for p in range(first, pool.npages, step):
                mask |= 1 << p
            self._align_masks[key] = mask
        return mask

    def _alloc(self, pool: PageAllocator, size: int, order: int) -> int | None:
        _check_int("size", size)
        _check_int("order", order)
        if size < 0:
            raise InvalidArgument(f"page allocation size must not be negative, not {size}")
        if not 0 <= order <= MAX_ORDER:
            raise InvalidAlignment(f"alignment order must be in 0..{MAX_ORDER}, not {order}")
        if size == 0:
            return None
        n = self._npages(size)
        if n > pool.npages:
            return None
        with self._lock:
            if order == 0:
                return pool.alloc(n)
            runs = runs_of(pool.gran.free_map, n) & self._mask(pool, order)
            if runs == 0:
                return None
            p = (runs & -runs).bit_length() - 1
            pool.gran.reserve_granules(p, n)
            return pool.gran.address_of(p)

    def _free(self, pool: PageAllocator, addr: int, size: int) -> None:
        _check_int("addr", addr)
        _check_int("size", size)
        if size < 0:
            raise InvalidArgument(f"page free size must not be negative, not {size}")
        if size == 0:
            return
        if pool is self.pages and self._carved is not None:
            lo, hi = self._carved
            if addr < hi and addr + size > lo:
                raise InvalidPointer(
                    f"bt_page_free({addr:#x}, {size:#x}) reaches into the coherent pool "
                    f"[{lo:#x}, {hi:#x}); use bt_page_free_coherent"
                )
        with self._lock:
            pool.free(addr, self._npages(size))

    def _reserve(self, pool: PageAllocator, addr: int, size: int) -> None:
        _check_int("addr", addr)
        _check_int("size", size)
        if size < 0:
            raise InvalidArgument(f"page reserve size must not be negative, not {size}")
        if size == 0:
            return
        with self._lock:
            pool.reserve(addr, size)

    def _coherent(self) -> PageAllocator:
        if self.coherent is None:
            raise InvalidArgument("this system has no coherent page pool")
        return self.coherent

    # -- BitThunder's API ----------------------------------------------------------------------

    def bt_page_alloc(self, size: int) -> int | None:
        """Pages for ``size`` bytes (rounded up to 4 KiB) from the main pool.

        Returns the physical address, or None when ``size`` is 0 or no run of free pages is
        long enough.
        """
        return self._alloc(self.pages, size, 0)

    def bt_page_alloc_aligned(self, size: int, order: int) -> int | None:
        """Like :meth:`bt_page_alloc`, at an address that is a multiple of 4 KiB << ``order``.

        Raises
        ------
        InvalidAlignment
            ``order`` outside 0..19.
        """
        return self._alloc(self.pages, size, order)

    def bt_page_free(self, addr: int, size: int) -> None:
        """Return the pages covering ``size`` bytes at ``addr`` to the main pool.

        ``size == 0`` does nothing, as in BitThunder.

        Raises
        ------
        InvalidPointer
            ``addr`` is not a page boundary of the pool, or the range reaches into the
            coherent pool carved from it.
        GranulesNotInUse
            Some of the pages are not allocated.
        GranuleRangeError
            The range runs past the end of the pool.
        """
        self._free(self.pages, addr, size)

    def bt_page_reserve(self, addr: int, size: int) -> None:
        """Mark the pages covering ``[addr, addr + size)`` used (rounded outward to pages).

        Raises
        ------
        GranulesInUse
            Some of those pages are already in use (BitThunder returns BT_ERR_NO_MEMORY).
        GranuleRangeError
            The range leaves the pool.
        """
        self._reserve(self.pages, addr, size)

    def bt_page_alloc_coherent(self, size: int) -> int | None:
        """Pages from the coherent pool; None when it has no run long enough."""
        return self._alloc(self._coherent(), size, 0)

    def bt_page_free_coherent(self, addr: int, size: int) -> None:
        """Return pages to the coherent pool (errors as :meth:`bt_page_free`)."""
        self._free(self._coherent(), addr, size)

    def bt_page_reserve_coherent(self, addr: int, size: int) -> None:
        """Reserve pages of the coherent pool (errors as :meth:`bt_page_reserve`)."""
        self._reserve(self._coherent(), addr, size)

    def bt_page_info(self) -> BtPageInfo:
        """Sizes and use of both pools in bytes (the coherent pool counts as used in the main)."""
        with self._lock:
            p = self.pages.info()
            normal = (p.ntotal << BT_PAGE_SHIFT, (p.ntotal - p.nfree) << BT_PAGE_SHIFT)
            if self.coherent is None:
                return BtPageInfo(*normal, 0, 0)
            c = self.coherent.info()
            return BtPageInfo(
                *normal, c.ntotal << BT_PAGE_SHIFT, (c.ntotal - c.nfree) << BT_PAGE_SHIFT
            )

    def check(self) -> None:
        """Check both pools, and that a carved coherent pool is still allocated in the main.

        Raises
        ------
        AssertionError
            An invariant does not hold.
        """
        with self._lock:
            self.pages.check()
            if self.coherent is not None:
                self.coherent.check()
            if self._carved is not None:
                lo, hi = self._carved
                first = self.pages.gran.index_of(lo)
                for k in range(first, first + ((hi - lo) >> BT_PAGE_SHIFT)):
                    if self.pages.gran.is_free(k):
                        raise AssertionError(
                            f"page {k} of the carved coherent pool is free in the main pool"
                        )
