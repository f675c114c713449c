"""BitThunder's O(1) SLAB kernel heap (os/src/mm/slab.c): ``BT_kMalloc`` / ``BT_kFree``.

Sixteen caches of power-of-two objects, 16 bytes to 512 KiB. Each cache is a LIFO singly linked
list of free objects whose links are written into the objects themselves, in
:class:`~mmaccel.sw.memory.PhysicalMemory` (a 32-bit little-endian address at offset 0 of each
free object; :data:`NIL` ends the list). Allocation pops the head, free pushes it: both O(1) in
the number of live objects. An empty cache is refilled with one page-aligned slab from the page
allocator (one 4 KiB page cut into objects, or a single object for caches above 4 KiB); slabs are
never returned.

Every block carries 32 bytes of guard tags, laid out as in BitThunder with 32-bit pointers::

    +0  magic_0 0xABAD1DEA   +4  magic_1 0xA55AA55A     (tag_0)
    +8  cache (object size; 0 = straight from the page allocator)
    +12 size  (request rounded up to 4)
    +16 magic_0              +20 magic_1                (tag_1)
    +24 payload ... size bytes
    +24+size magic_0, magic_1                           (trailing tag)

so ``kmalloc(1)`` takes a 64-byte object (4 + 32 > 32). Requests whose block exceeds 512 KiB
go straight to the page allocator.

Departures from BitThunder:

- ``kfree`` verifies every tag and raises :class:`~mmaccel.sw.errors.HeapCorruption` naming the
  block and the tag, where BitThunder prints "Kernel Panic" and spins forever. ``kfree`` of an
  address that is not a live block raises :class:`~mmaccel.sw.errors.InvalidPointer`
  (:class:`~mmaccel.sw.errors.DoubleFree` if it was freed already) instead of corrupting a list.
- ``krealloc`` frees the old block (BitThunder's ``BT_kRealloc`` leaks it) and leaves it intact
  when the new allocation fails.
- Caches are filled on first use, not at boot (BitThunder pre-fills every cache with one slab,
  about 1 MiB of pages for sixteen caches).
- A popped free-list link is checked (inside the slab pages of its cache, object aligned) before
  it becomes the new head, so a use-after-free write raises instead of handing out wild memory.
"""

from __future__ import annotations

import struct
import threading
from dataclasses import dataclass

from .btpage import BT_PAGE_SIZE, BtPages
from .errors import DoubleFree, HeapCorruption, InvalidArgument, InvalidPointer, SizeOverflow
from .gran import PageAllocator
from .memory import PhysicalMemory

__all__ = [
    "MAGIC_0",
    "MAGIC_1",
    "NIL",
    "SLAB_MAX",
    "SLAB_MIN",
    "TAG_SIZE",
    "SlabCacheStats",
    "SlabHeap",
]

MAGIC_0 = 0xABAD1DEA
MAGIC_1 = 0xA55AA55A
#: End-of-list marker of the in-memory free lists (address 0 may be a real object here).
NIL = 0xFFFF_FFFF
#: Smallest and largest cache object sizes.
SLAB_MIN = 16
SLAB_MAX = 16 << 15
NCACHES = 16
#: Bytes of guard tags per block: a 24-byte header and an 8-byte trailer.
HEADER_SIZE = 24
TRAILER_SIZE = 8
TAG_SIZE = HEADER_SIZE + TRAILER_SIZE

_HEADER = struct.Struct("<IIIIII")
_TRAILER = struct.pack("<II", MAGIC_0, MAGIC_1)
_LINK = struct.Struct("<I")
_TAG_NAMES = ("tag_0.magic_0", "tag_0.magic_1", "cache", "size", "tag_1.magic_0", "tag_1.magic_1")


@dataclass(frozen=True, slots=True)
class SlabCacheStats:
    """One cache of :meth:`SlabHeap.stats` (BitThunder's ``struct bt_cache_info``).

    ``available`` counts free objects on the cache's list; ``slabs`` the page runs it took.
    """

    object_size: int
    in_use: int
    available: int
    slabs: int


class _Cache:
    __slots__ = ("available", "free", "in_use", "index", "object_size", "slab_bytes", "slabs")

    def __init__(self, index: int) -> None:
        self.index = index
        self.object_size = SLAB_MIN << index
        self.slab_bytes = max(BT_PAGE_SIZE, self.object_size)
        self.free = NIL
        self.in_use = 0
        self.available = 0
        self.slabs: list[int] = []


def cache_index(block: int) -> int:
    """Index of the smallest cache whose objects hold ``block`` bytes (block <= 512 KiB)."""
    if block <= SLAB_MIN:
        return 0
    return (block - 1).bit_length() - 4


class SlabHeap:
    """BitThunder's SLAB kernel heap in physical memory.

    Parameters
    ----------
    memory : PhysicalMemory
        Where the objects, their links and their guard tags live.
    pages : BtPages or PageAllocator
        Where slabs and large blocks come from (a bare PageAllocator is wrapped in a
        :class:`~mmaccel.sw.btpage.BtPages` without a coherent pool).

    Notes
    -----
    ``kmalloc`` and ``kfree`` are O(1) in the number of live blocks: a list pop or push and a
    dict update; a refill costs one page allocation and one write of the slab's links. All
    methods are thread-safe (one lock per heap).
    """

    def __init__(self, memory: PhysicalMemory, pages: BtPages | PageAllocator) -> None:
        if isinstance(pages, PageAllocator):
            pages = BtPages(pages)
        if not isinstance(pages, BtPages):
            raise TypeError(f"pages must be a BtPages or PageAllocator, not {pages!r}")
        if pages.pages.end > memory.size:
            raise InvalidArgument(
                f"page pool [{pages.pages.start:#x}, {pages.pages.end:#x}) is outside "
                f"physical memory [0, {memory.size:#x})"
            )
        self.memory = memory
        self.pages = pages
        self._caches = [_Cache(i) for i in range(NCACHES)]
        # payload address -> (cache index or -1 for a page block, rounded size)
        self._live: dict[int, tuple[int, int]] = {}
        # block address -> cache index, for every object on a free list
        self._free: dict[int, int] = {}
        # block address -> page bytes, for blocks taken straight from the page allocator
        self._big: dict[int, int] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SlabHeap(live={len(self._live)}, pages={self.pages.pages!r})"

    # -- internals -----------------------------------------------------------------------------

    def _refill(self, cache: _Cache) -> bool:
        base = self.pages.bt_page_alloc(cache.slab_bytes)
        if base is None:
            return False
        size = cache.object_size
        count = cache.slab_bytes // size
        image = bytearray(cache.slab_bytes)
        for k in range(count - 1):
            _LINK.pack_into(image, k * size, base + (k + 1) * size)
        _LINK.pack_into(image, (count - 1) * size, cache.free)
        self.memory.write(base, image)
        for k in range(count):
            self._free[base + k * size] = cache.index
        cache.free = base
        cache.available += count
        cache.slabs.append(base)
        return True

    def _pop(self, cache: _Cache) -> int | None:
        if cache.free == NIL and not self._refill(cache):
            return None
        block = cache.free
        link = _LINK.unpack(self.memory.read(block, 4))[0]
        if link != NIL and self._free.get(link) != cache.index:
            raise HeapCorruption(
                f"free-list link {link:#x} in free object {block:#x} of the "
                f"{cache.object_size}-byte cache is not a free object of that cache"
            )
        cache.free = link
        del self._free[block]
        cache.available -= 1
        cache.in_use += 1
        return block

    def _verify(self, addr: int, where: str) -> tuple[int, int]:
        """Check the tags of the live block at payload ``addr``; return (cache index, size)."""
        if not isinstance(addr, int) or isinstance(addr, bool):
            raise TypeError(f"{where}: address must be an int, not {addr!r}")
        rec = self._live.get(addr)
        if rec is None:
            block = addr - HEADER_SIZE
            if block in self._free:
                raise DoubleFree(f"{where}({addr:#x}): block is already free")
            raise InvalidPointer(f"{where}({addr:#x}): not a block allocated by kmalloc")
        index, size = rec
        block = addr - HEADER_SIZE
        words = _HEADER.unpack(self.memory.read(block, HEADER_SIZE))
        cache_field = 0 if index < 0 else SLAB_MIN << index
        expected = (MAGIC_0, MAGIC_1, cache_field, size, MAGIC_0, MAGIC_1)
        for k, (got, want) in enumerate(zip(words, expected, strict=True)):
            if got != want:
                raise HeapCorruption(
                    f"{where}({addr:#x}): guard tag {_TAG_NAMES[k]} at {block + 4 * k:#x} is "
                    f"{got:#010x}, expected {want:#010x}"
                )
        trailer = self.memory.read(addr + size, TRAILER_SIZE)
        if trailer != _TRAILER:
            m0, m1 = struct.unpack("<II", trailer)
            name, at, got, want = (
                ("magic_0", addr + size, m0, MAGIC_0)
                if m0 != MAGIC_0
                else ("magic_1", addr + size + 4, m1, MAGIC_1)
            )
            raise HeapCorruption(
                f"{where}({addr:#x}): trailing guard tag {name} at {at:#x} is {got:#010x}, "
                f"expected {want:#010x}"
            )
        return index, size

    # -- BitThunder's API ----------------------------------------------------------------------

    def kmalloc(self, n: int) -> int | None:
        """BT_kMalloc: a block of at least ``n`` bytes; its payload address.

        Returns None for ``n == 0`` or when the page allocator has no pages left.

        Raises
        ------
        InvalidArgument
            ``n`` is negative.
        SizeOverflow
            ``n`` plus the tags does not fit in 32 bits.
        """
        if not isinstance(n, int) or isinstance(n, bool):
            raise TypeError(f"size must be an int, not {n!r}")
        if n <= 0:
            if n == 0:
                return None
            raise InvalidArgument(f"kmalloc size must not be negative, not {n}")
        size = (n + 3) & ~3
        block_size = size + TAG_SIZE
        if block_size > 0xFFFF_FFFF:
            raise SizeOverflow(f"kmalloc size {n} plus {TAG_SIZE} bytes of tags exceeds 32 bits")
        with self._lock:
            if block_size <= SLAB_MAX:
                index = cache_index(block_size)
                block = self._pop(self._caches[index])
                if block is None:
                    return None
                cache_field = SLAB_MIN << index
            else:
                index = -1
                cache_field = 0
                got = self.pages.bt_page_alloc(block_size)
                if got is None:
                    return None
                block = got
                self._big[block] = block_size
            self.memory.write(
                block, _HEADER.pack(MAGIC_0, MAGIC_1, cache_field, size, MAGIC_0, MAGIC_1)
            )
            addr = block + HEADER_SIZE
            self.memory.write(addr + size, _TRAILER)
            self._live[addr] = (index, size)
            return addr

    def kfree(self, addr: int | None) -> None:
        """BT_kFree: verify the block's guard tags and give it back (None is ignored).

        Raises
        ------
        HeapCorruption
            A guard tag does not hold its magic value, cache or size (the message names the
            block, the tag, its address and its value); nothing is freed.
        DoubleFree
            The block is already free.
        InvalidPointer
            ``addr`` is not the payload address of a live block.
        """
        if addr is None:
            return
        with self._lock:
            index, _ = self._verify(addr, "kfree")
            block = addr - HEADER_SIZE
            if index < 0:
                self.pages.bt_page_free(block, self._big[block])
                del self._big[block]
            else:
                cache = self._caches[index]
                self.memory.write(block, _LINK.pack(cache.free))
                cache.free = block
                self._free[block] = index
                cache.in_use -= 1
                cache.available += 1
            del self._live[addr]

    def krealloc(self, addr: int | None, n: int) -> int | None:
        """BT_kRealloc, without its leak: move the block to one of ``n`` bytes.

        ``addr`` None is :meth:`kmalloc`; ``n == 0`` frees and returns None. Otherwise the
        first ``min(old size, n)`` bytes are copied into a new block and the old one is freed.
        When no memory is left, returns None and leaves the old block as it was.

        Raises
        ------
        HeapCorruption, InvalidPointer, DoubleFree
            As :meth:`kfree`, checked before anything is allocated.
        """
        if addr is None:
            return self.kmalloc(n)
        if n == 0:
            self.kfree(addr)
            return None
        with self._lock:
            _, old_size = self._verify(addr, "krealloc")
        new = self.kmalloc(n)
        if new is None:
            return None
        self.memory.move(new, addr, min(old_size, n))
        self.kfree(addr)
        return new

    def usable_size(self, addr: int) -> int:
        """Bytes the caller may use at ``addr`` (the request rounded up to 4)."""
        with self._lock:
            return self._verify(addr, "usable_size")[1]

    # -- state ---------------------------------------------------------------------------------

    @property
    def live_blocks(self) -> int:
        """Number of blocks allocated and not yet freed."""
        return len(self._live)

    def stats(self) -> list[SlabCacheStats]:
        """Per cache, smallest first: object size, objects in use, objects available, slabs."""
        with self._lock:
            return [
                SlabCacheStats(c.object_size, c.in_use, c.available, len(c.slabs))
                for c in self._caches
            ]

    def page_bytes(self) -> int:
        """Bytes of pages the heap holds: every slab plus every large block."""
        with self._lock:
            return sum(c.slab_bytes * len(c.slabs) for c in self._caches) + sum(
                (s + BT_PAGE_SIZE - 1) // BT_PAGE_SIZE * BT_PAGE_SIZE for s in self._big.values()
            )

    def check(self) -> None:
        """Walk every free list in memory and verify every live block's tags.

        Checks: each list is acyclic, made of objects of its own cache's slabs, as long as the
        cache's ``available`` count; in use + available = objects carved; every live block's
        tags are intact; every slab and large block is allocated in the page pool.

        Raises
        ------
        AssertionError
            A count or list does not agree.
        HeapCorruption
            A live block's guard tag is damaged.
        """
        with self._lock:
            seen: set[int] = set()
            gran = self.pages.pages.gran
            for cache in self._caches:
                block = cache.free
                count = 0
                while block != NIL:
                    if block in seen:
                        raise AssertionError(
                            f"{cache.object_size}-byte cache: free list loops at {block:#x}"
                        )
                    if self._free.get(block) != cache.index:
                        raise AssertionError(
                            f"{cache.object_size}-byte cache: free list holds {block:#x}, "
                            "which is not a free object of this cache"
                        )
                    seen.add(block)
                    count += 1
                    block = _LINK.unpack(self.memory.read(block, 4))[0]
                if count != cache.available:
                    raise AssertionError(
                        f"{cache.object_size}-byte cache: {count} objects on the free list, "
                        f"available says {cache.available}"
                    )
                carved = len(cache.slabs) * (cache.slab_bytes // cache.object_size)
                if cache.in_use + cache.available != carved:
                    raise AssertionError(
                        f"{cache.object_size}-byte cache: {cache.in_use} in use + "
                        f"{cache.available} available != {carved} objects carved"
                    )
                for base in cache.slabs:
                    first = gran.index_of(base)
                    for k in range(first, first + cache.slab_bytes // BT_PAGE_SIZE):
                        if gran.is_free(k):
                            raise AssertionError(f"slab page {k} at {base:#x} is free")
            if len(seen) != len(self._free):
                raise AssertionError(
                    f"{len(self._free)} objects recorded free, {len(seen)} on the free lists"
                )
            in_use = sum(c.in_use for c in self._caches)
            if in_use + len(self._big) != len(self._live):
                raise AssertionError(
                    f"{in_use} cache objects + {len(self._big)} large blocks in use, "
                    f"{len(self._live)} live blocks recorded"
                )
            for addr in self._live:
                self._verify(addr, "check")
