"""NuttX's granule allocator (mm/mm_gran) and the page allocator built on it (mm_pgalloc).

The allocation state is the granule allocation table (GAT): one bit per granule, 1 = in use,
granule ``k`` at bit ``k % 32`` of 32-bit word ``k // 32``, exactly as NuttX keeps it and as the
hardware allocator exposes it on its debug port.

Departures from NuttX 10.2.0 (all documented in the README):

- no 32-granule limit on one allocation (``nuttx_quirks=True`` restores the assertion);
- alignment in bytes, counted from the heap's first granule (NuttX's later gran_alloc_align);
- ``free`` of granules that are not in use, or outside the heap, raises instead of corrupting;
- ``reserve`` of granules already in use raises; the one-granule-too-many rounding of
  gran_reserve happens only with ``nuttx_quirks=True``;
- a request for 0 bytes or for more granules than the heap has raises ``InvalidArgument``
  (the hardware answers those with an error code too).

Internally the free map is a Python integer (bit ``k`` = granule ``k`` free), so the first-fit
search is a handful of big-integer operations: O(log n) shifts and ANDs over the whole map.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import (
    GranuleRangeError,
    GranulesInUse,
    GranulesNotInUse,
    InvalidAlignment,
    InvalidArgument,
    InvalidPointer,
)

__all__ = [
    "GranInfo",
    "GranuleAllocator",
    "GranuleAllocatorBase",
    "PageAllocator",
    "PageInfo",
    "runs_of",
]

#: Most granules one allocator may manage (NuttX keeps the count in a u16; 65536 is the
#: hardware's limit and ours; ``nuttx_quirks=True`` keeps NuttX's 65535).
MAX_GRANULES = 65536


@dataclass(frozen=True, slots=True)
class GranInfo:
    """What ``gran_info()`` reports."""

    log2gran: int
    ngranules: int
    nfree: int
    mxfree: int


def runs_of(free: int, n: int) -> int:
    """Bit ``p`` of the result is set where bits ``p .. p+n-1`` of ``free`` are all set."""
    r = free
    have = 1
    while have < n:
        step = min(have, n - have)
        r &= r >> step
        have += step
    return r


def _check_int(name: str, value: object) -> None:
    """TypeError naming ``value`` unless it is an int (bool is not)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {value!r}")


def _is_pow2(x: int) -> bool:
    return x > 0 and (x & (x - 1)) == 0


class GranuleAllocatorBase:
    """NuttX's byte-level granule interface over granule-level operations.

    The geometry (``heapstart``, ``log2gran``, ``ngranules``) and ``gran_alloc`` /
    ``gran_free`` / ``gran_reserve`` in bytes live here once; a subclass supplies the
    granule-level operations: the model (:class:`GranuleAllocator`) computes them, the board's
    host driver (``mmaccel.boards.host.gfa.SerialGranuleAllocator``) asks the hardware. So one
    scenario gives the same results and exceptions on either.
    """

    heapstart: int
    log2gran: int
    ngranules: int
    nuttx_quirks: bool = False

    # -- granule-level operations, supplied by the subclass --------------------------------------

    def alloc_granules(self, n: int, align: int = 1) -> int | None:
        """Allocate ``n`` granules at the lowest index that is a multiple of ``align``."""
        raise NotImplementedError

    def free_granules(self, index: int, n: int) -> None:
        """Free granules ``index .. index+n-1``; every one must be in use."""
        raise NotImplementedError

    def reserve_granules(self, index: int, n: int) -> None:
        """Mark granules ``index .. index+n-1`` in use; none may be in use already."""
        raise NotImplementedError

    def info(self) -> GranInfo:
        """gran_info: granule size, count, free granules, and the longest free run."""
        raise NotImplementedError

    # -- sizes and addresses ------------------------------------------------------------------

    @property
    def granule_size(self) -> int:
        return 1 << self.log2gran

    @property
    def heapend(self) -> int:
        return self.heapstart + (self.ngranules << self.log2gran)

    def granules_for(self, size: int) -> int:
        """Granules needed for ``size`` bytes (rounded up)."""
        return (size + self.granule_size - 1) >> self.log2gran

    def address_of(self, index: int) -> int:
        return self.heapstart + (index << self.log2gran)

    def index_of(self, addr: int) -> int:
        """Granule index of ``addr``, which must be a granule boundary inside the heap."""
        off = addr - self.heapstart
        if off < 0 or addr >= self.heapend or off & (self.granule_size - 1):
            raise InvalidPointer(
                f"address {addr:#x} is not a granule boundary in "
                f"[{self.heapstart:#x}, {self.heapend:#x})"
            )
        return off >> self.log2gran

    # -- NuttX's byte-level interface ---------------------------------------------------------

    def alloc(self, size: int, align: int | None = None) -> int | None:
        """gran_alloc / gran_alloc_align: ``size`` bytes, alignment in bytes from the heap start.

        Returns the address, or None if no aligned run of free granules is long enough.

        Raises
        ------
        InvalidArgument
            ``size`` is 0 or needs more granules than the heap has.
        InvalidAlignment
            ``align`` is not a power of two.
        """
        if not isinstance(size, int) or isinstance(size, bool):
            raise TypeError(f"size must be an int, not {size!r}")
        if size <= 0:
            raise InvalidArgument(f"allocation size must be at least 1 byte, not {size}")
        galign = 1
        if align is not None:
            if not _is_pow2(align):
                raise InvalidAlignment(f"alignment must be a power of two, not {align}")
            galign = max(1, align >> self.log2gran)
        p = self.alloc_granules(self.granules_for(size), galign)
        return None if p is None else self.address_of(p)

    def free(self, addr: int, size: int) -> None:
        """gran_free: release the granules of ``size`` bytes at ``addr`` (all must be in use).

        Raises
        ------
        TypeError
            ``addr`` or ``size`` is not an int.
        InvalidArgument
            ``size`` is 0 or negative.
        GranuleRangeError
            ``addr`` lies outside the heap.
        InvalidPointer
            ``addr`` is inside the heap but not on a granule boundary.
        GranulesNotInUse
            A granule of the range is free (a double free).
        """
        _check_int("addr", addr)
        _check_int("size", size)
        if size <= 0:
            raise InvalidArgument(f"free size must be at least 1 byte, not {size}")
        if not self.heapstart <= addr < self.heapend:
            raise GranuleRangeError(
                f"free of {addr:#x}: outside the heap [{self.heapstart:#x}, {self.heapend:#x})"
            )
        self.free_granules(self.index_of(addr), self.granules_for(size))

    def reserve(self, addr: int, size: int) -> None:
        """gran_reserve: mark ``[addr, addr+size)`` in use (granules rounded outward).

        With ``nuttx_quirks=True`` the end is rounded as NuttX 10.2.0 does, which marks one
        granule more unless ``addr + size - 1`` is granule aligned.
        """
        _check_int("addr", addr)
        _check_int("size", size)
        if size <= 0:
            raise InvalidArgument(f"reserve size must be at least 1 byte, not {size}")
        mask = self.granule_size - 1
        first = addr & ~mask
        if self.nuttx_quirks:
            last = (addr + size - 1 + mask) & ~mask
            n = ((last - first) >> self.log2gran) + 1
        else:
            n = ((addr + size + mask) & ~mask) - first >> self.log2gran
        if first < self.heapstart or first + (n << self.log2gran) > self.heapend:
            raise GranuleRangeError(
                f"reserve of [{addr:#x}, +{size:#x}) reaches outside the heap "
                f"[{self.heapstart:#x}, {self.heapend:#x})"
            )
        self.reserve_granules((first - self.heapstart) >> self.log2gran, n)


class GranuleAllocator(GranuleAllocatorBase):
    """NuttX's granule allocator: exact lowest-index first fit over a bitmap.

    Parameters
    ----------
    start : int
        Heap start address (rounded up to ``2**log2align``, as gran_initialize does).
    size : int
        Heap size in bytes from ``start``; the granule count is the whole number of granules
        between the aligned start and ``start + size``.
    log2gran : int
        log2 of the granule size, 1..31.
    log2align : int
        log2 of the heap start alignment, 0..log2gran.
    nuttx_quirks : bool
        Reproduce NuttX 10.2.0 exactly: at most 32 granules per allocation, at most 65535
        granules, gran_reserve's one-granule-too-many rounding.

    Raises
    ------
    InvalidArgument
        A parameter outside the ranges above, or a heap with no whole granule.
    """

    def __init__(
        self,
        start: int,
        size: int,
        log2gran: int,
        log2align: int = 0,
        *,
        nuttx_quirks: bool = False,
    ) -> None:
        for name, value in (
            ("start", start),
            ("size", size),
            ("log2gran", log2gran),
            ("log2align", log2align),
        ):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} must be an int, not {value!r}")
        if not 0 < log2gran < 32:
            raise InvalidArgument(f"log2gran must be in 1..31, not {log2gran}")
        if not 0 <= log2align <= log2gran:
            raise InvalidArgument(f"log2align must be in 0..log2gran ({log2gran}), not {log2align}")
        if start < 0 or size <= 0:
            raise InvalidArgument(f"heap [{start:#x}, +{size:#x}) is empty or negative")
        amask = (1 << log2align) - 1
        heapstart = (start + amask) & ~amask
        ngranules = (start + size - heapstart) >> log2gran if start + size > heapstart else 0
        limit = MAX_GRANULES - 1 if nuttx_quirks else MAX_GRANULES
        if ngranules <= 0:
            raise InvalidArgument(f"heap [{start:#x}, +{size:#x}) holds no whole granule")
        if ngranules > limit:
            raise InvalidArgument(f"heap holds {ngranules} granules; at most {limit} allowed")
        self.heapstart = heapstart
        self.log2gran = log2gran
        self.log2align = log2align
        self.ngranules = ngranules
        self.nuttx_quirks = nuttx_quirks
        self._all = (1 << ngranules) - 1
        self._free = self._all  # bit k set = granule k free
        self._align_masks: dict[int, int] = {}

    def __repr__(self) -> str:
        return (
            f"GranuleAllocator(heapstart={self.heapstart:#x}, ngranules={self.ngranules}, "
            f"log2gran={self.log2gran}, nfree={self.nfree})"
        )

    @property
    def nfree(self) -> int:
        return self._free.bit_count()

    # -- granule-level operations (what the hardware implements) ------------------------------

    def _align_mask(self, align: int) -> int:
        mask = self._align_masks.get(align)
        if mask is None:
            mask = 0
            for p in range(0, self.ngranules, align):
                mask |= 1 << p
            self._align_masks[align] = mask
        return mask

    def _check_count(self, n: int) -> None:
        if not isinstance(n, int) or isinstance(n, bool):
            raise TypeError(f"granule count must be an int, not {n!r}")
        if n <= 0:
            raise InvalidArgument(f"granule count must be at least 1, not {n}")
        if n > self.ngranules:
            raise InvalidArgument(
                f"granule count {n} exceeds the {self.ngranules} granules of the heap"
            )
        if self.nuttx_quirks and n > 32:
            raise InvalidArgument(f"NuttX 10.2.0 allows at most 32 granules, not {n}")

    def find_granules(self, n: int, align: int = 1) -> int | None:
        """Lowest index of ``n`` free granules at a multiple of ``align``; no change is made."""
        self._check_count(n)
        if not _is_pow2(align):
            raise InvalidAlignment(f"alignment must be a power of two granules, not {align}")
        r = runs_of(self._free, n)
        if align > 1:
            r &= self._align_mask(align)
        if r == 0:
            return None
        return (r & -r).bit_length() - 1

    def alloc_granules(self, n: int, align: int = 1) -> int | None:
        """Allocate ``n`` granules at the lowest index that is a multiple of ``align``.

        Returns the granule index, or None when no such run is free.
        """
        p = self.find_granules(n, align)
        if p is not None:
            self._free &= ~(((1 << n) - 1) << p)
        return p

    def _check_range(self, index: int, n: int) -> int:
        if n <= 0:
            raise InvalidArgument(f"granule count must be at least 1, not {n}")
        if index < 0 or index + n > self.ngranules:
            raise GranuleRangeError(
                f"granules {index}..{index + n - 1} are outside the heap's "
                f"{self.ngranules} granules"
            )
        return ((1 << n) - 1) << index

    def free_granules(self, index: int, n: int) -> None:
        """Free granules ``index .. index+n-1``; every one must be in use."""
        mask = self._check_range(index, n)
        if self._free & mask:
            first = ((self._free & mask) & -(self._free & mask)).bit_length() - 1
            raise GranulesNotInUse(
                f"free of granules {index}..{index + n - 1}: granule {first} is not in use"
            )
        self._free |= mask

    def reserve_granules(self, index: int, n: int) -> None:
        """Mark granules ``index .. index+n-1`` in use; none may be in use already."""
        mask = self._check_range(index, n)
        used = mask & ~self._free
        if used:
            first = (used & -used).bit_length() - 1
            raise GranulesInUse(
                f"reserve of granules {index}..{index + n - 1}: granule {first} is in use"
            )
        self._free &= ~mask

    def clear(self) -> None:
        """Free every granule."""
        self._free = self._all

    def is_free(self, index: int) -> bool:
        return bool((self._free >> index) & 1)

    def info(self) -> GranInfo:
        """gran_info: granule size, count, free granules, and the longest free run."""
        return GranInfo(self.log2gran, self.ngranules, self.nfree, self.longest_free_run())

    def longest_free_run(self) -> int:
        """Length of the longest run of free granules (O(log^2 n) big-integer operations)."""
        free = self._free
        if free == 0:
            return 0
        lo, hi = 1, 2  # a run of lo exists; search for the first power of two that does not
        while hi <= self.ngranules and runs_of(free, hi):
            lo, hi = hi, hi * 2
        hi = min(hi, self.ngranules + 1)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if runs_of(free, mid):
                lo = mid
            else:
                hi = mid
        return lo

    # -- state ----------------------------------------------------------------------------------

    @property
    def free_map(self) -> int:
        """The free map as an integer, bit ``k`` set when granule ``k`` is free."""
        return self._free

    def table(self) -> list[int]:
        """The GAT as 32-bit words: granule k is bit k % 32 of word k // 32, 1 = used."""
        used = self._all & ~self._free
        return [(used >> (32 * w)) & 0xFFFF_FFFF for w in range((self.ngranules + 31) // 32)]

    def check(self) -> None:
        """Verify the invariants: no bit outside the heap; counts agree with the table."""
        if self._free & ~self._all:
            raise AssertionError("free map has bits beyond the last granule")
        words = self.table()
        used = sum(w.bit_count() for w in words)
        if used + self.nfree != self.ngranules:
            raise AssertionError(f"used {used} + free {self.nfree} != {self.ngranules} granules")
        if words and words[-1] >> (self.ngranules - 32 * (len(words) - 1)):
            raise AssertionError("GAT has bits set beyond the last granule")


@dataclass(frozen=True, slots=True)
class PageInfo:
    """What ``mm_pginfo()`` reports, in pages."""

    ntotal: int
    nfree: int
    mxfree: int


class PageAllocator:
    """NuttX's page allocator (mm_pgalloc): a granule allocator with page-sized granules.

    Parameters
    ----------
    start : int
        Physical start of the page pool (rounded up to a page).
    size : int
        Size in bytes.
    page_shift : int
        log2 of the page size (12: 4 KiB pages).
    """

    def __init__(self, start: int, size: int, page_shift: int = 12) -> None:
        if not isinstance(page_shift, int) or isinstance(page_shift, bool):
            raise TypeError(f"page_shift must be an int, not {page_shift!r}")
        if not 1 <= page_shift <= 31:
            raise InvalidArgument(f"page_shift must be in 1..31, not {page_shift}")
        self.page_shift = page_shift
        self.gran = GranuleAllocator(start, size, page_shift, page_shift)

    def __repr__(self) -> str:
        i = self.info()
        return f"PageAllocator(start={self.start:#x}, pages={i.ntotal}, free={i.nfree})"

    @property
    def page_size(self) -> int:
        return 1 << self.page_shift

    @property
    def start(self) -> int:
        return self.gran.heapstart

    @property
    def end(self) -> int:
        return self.gran.heapend

    @property
    def npages(self) -> int:
        return self.gran.ngranules

    def alloc(self, npages: int, align_pages: int = 1) -> int | None:
        """mm_pgalloc: ``npages`` contiguous pages, the lowest that fit; None if none do."""
        p = self.gran.alloc_granules(npages, align_pages)
        return None if p is None else self.gran.address_of(p)

    def free(self, paddr: int, npages: int) -> None:
        """mm_pgfree: return ``npages`` pages at ``paddr`` (all must be allocated)."""
        self.gran.free_granules(self.gran.index_of(paddr), npages)

    def reserve(self, start: int, size: int) -> None:
        """mm_pgreserve: mark the pages covering ``[start, start+size)`` in use."""
        self.gran.reserve(start, size)

    def info(self) -> PageInfo:
        """mm_pginfo: total pages, free pages, longest run of free pages."""
        g = self.gran.info()
        return PageInfo(g.ngranules, g.nfree, g.mxfree)

    def check(self) -> None:
        self.gran.check()
