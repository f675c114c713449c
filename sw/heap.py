"""NuttX 10.2.0's standard heap (mm/mm_heap) laid out byte for byte in a PhysicalMemory.

Every chunk starts with a header ``{size, preceding}`` (two u32 in the large model, two u16 in
the small model); the top bit of ``preceding`` is the allocated flag. A free chunk adds the
forward and backward links of the free list (``pointer_size`` bytes each) right after its
header. A region ``[base, end)`` (aligned inward to the minimum chunk) holds a start guard, the
chunks, and an end guard, exactly as ``mm_addregion`` writes it.

The free list is NuttX's: one doubly linked list through ``MM_NNODES`` bucket heads (the
``mm_nodelist`` sentinels, size 0), ordered by size, a chunk entering at the bucket
``mm_size2ndx(size)`` before the first chunk at least as large (so the newest of equal sizes comes
first). malloc is a global best fit; free coalesces with both neighbours.

For speed the model keeps a Python mirror of every header and a sorted key list of the free
chunks; it decides with the mirror, validates every header and link it is about to act on against
memory (any difference raises :class:`HeapCorruption` before anything is changed) and writes
every change to memory. :meth:`Heap.check` ignores the mirror's decisions: it walks the chunks
and the free list in memory and verifies every invariant, then that the mirror agrees.

Departures from NuttX 10.2.0. ``nuttx_quirks=True`` restores the original behaviour of the
first one only (memalign); the others always hold, because the original corrupts the heap:

- ``memalign(a, n)`` always returns an ``a``-aligned block. NuttX serves ``a <= MM_MIN_CHUNK``
  with plain malloc, which is not ``a``-aligned when ``a`` exceeds the chunk header and the
  best-fit chunk happens to sit wrong (the heaptest traces of the 8-byte-pointer build show
  it). The model gives malloc's block whenever that one is aligned, so it differs from 10.2.0
  only where 10.2.0 was wrong, and otherwise takes the aligning path. NuttX also returns a
  block for ``memalign(a, 0)`` with ``a > MM_MIN_CHUNK``; the default returns None as
  malloc(0) does.
- Misuse raises instead of corrupting: free/realloc/malloc_size of an address that is not a live
  block (:class:`InvalidPointer`, :class:`DoubleFree`), a corrupted header or link
  (:class:`HeapCorruption`), a non-power-of-two alignment (:class:`InvalidAlignment`), calloc's
  ``n * m`` overflowing ``size_t`` (:class:`SizeOverflow`), a negative size
  (:class:`InvalidArgument`). Each error leaves memory and the heap exactly as they were.
- realloc never leaves a free chunk smaller than a free node. 10.2.0's growing realloc can cut
  a free neighbour down to fewer bytes than a free node needs (``SIZEOF_MM_FREENODE``), and the
  links written into it then overwrite the next chunk's header. Chunk sizes that are not
  multiples of ``MM_MIN_CHUNK`` make it happen: memalign makes them (found by the property
  tests), and so does the region's odd-sized last chunk with 8-byte pointers, through plain
  malloc and realloc alone. On a 64 KiB heap whose ``struct mm_heap_s`` sits at its start
  (``Heap(PhysicalMemory(0x20000), 0x101b0, 0xfe50, pointer_size=8, nodelist=0x10000)``),
  ``p = malloc(64952); realloc(p, 65040)`` needs 96 of the last free chunk's 112 bytes and
  would leave 16, less than a free node's 24 (with a 0x1f0-byte heap structure,
  ``realloc(p, 64984)`` needs 32 of 48): NuttX's ``DEBUGASSERT(prev->size >=
  SIZEOF_MM_FREENODE)`` fires and its end guard is overwritten. The model takes the whole
  neighbour instead.
- Region sizes are limited so that the ``preceding`` field and its flag never collide:
  at most 32 KiB per region in the small model (NuttX asserts 64 KiB, but a free chunk of
  32 KiB or more would set the flag bit), at most 2 GiB in the large model.
- The bucket heads live outside the heap's regions: by default at notional addresses just past
  the end of physical memory (``nodelist=None``), or written into memory at ``nodelist``, as
  NuttX's ``struct mm_heap_s`` is.
"""

from __future__ import annotations

import struct
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass

from .errors import (
    DoubleFree,
    HeapCorruption,
    InvalidAlignment,
    InvalidArgument,
    InvalidPointer,
    RegionConflict,
    SizeOverflow,
)
from .memory import PhysicalMemory

__all__ = ["Chunk", "Heap", "MallInfo"]

# Free keys: (size << _KS) | (_SEQ_MASK - seq); sorted ascending they give NuttX's list order
# (by size, newest first among equal sizes).
_KS = 40
_SEQ_MASK = (1 << _KS) - 1


@dataclass(frozen=True, slots=True)
class MallInfo:
    """What ``mallinfo()`` reports; sizes in bytes, headers and both guards included.

    Attributes
    ----------
    arena : int
        Total size of all regions.
    ordblks : int
        Number of free chunks.
    aordblks : int
        Number of allocated chunks, counting each region's start guard.
    mxordblk : int
        Size of the largest free chunk.
    uordblks : int
        Allocated bytes (chunk sizes, both guards of every region included).
    fordblks : int
        Free bytes; ``uordblks + fordblks == arena``.
    """

    arena: int
    ordblks: int
    aordblks: int
    mxordblk: int
    uordblks: int
    fordblks: int


@dataclass(frozen=True, slots=True)
class Chunk:
    """One chunk as found in memory by :meth:`Heap.chunks`.

    Attributes
    ----------
    addr : int
        Address of the chunk header.
    size : int
        Chunk size including the header.
    preceding : int
        Size of the physically preceding chunk (flag removed).
    allocated : bool
        The allocated flag (guards are allocated).
    guard : bool
        True for a region's start or end guard.
    """

    addr: int
    size: int
    preceding: int
    allocated: bool
    guard: bool


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


class Heap:
    """NuttX 10.2.0's heap (mm_heap) over ``[start, start + size)`` of ``memory``.

    Parameters
    ----------
    memory : PhysicalMemory
        Holds every header, guard and free-list link, byte for byte.
    start, size : int
        The first region, aligned inward to ``MM_MIN_CHUNK`` as mm_addregion does.
    pointer_size : int
        4 (a 32-bit MCU) or 8 (a 64-bit host): the size of a free-list link; with 8,
        ``MM_MIN_SHIFT`` is 5 (32-byte minimum chunk).
    small : bool
        CONFIG_MM_SMALL: 16-bit chunk header fields (4-byte header), ``MM_MAX_SHIFT`` 15.
        Only with ``pointer_size=4``.
    nuttx_quirks : bool
        Reproduce 10.2.0's memalign exactly (see the module docstring).
    nodelist : int or None
        Address at which the ``MM_NNODES`` bucket heads (free nodes of size 0) are written, or
        None to keep them at notional addresses just past the end of ``memory``.
    name : str
        Used in error messages.

    Raises
    ------
    InvalidArgument
        A bad build option, a region that does not fit memory, the pointer size or the size
        field, or that holds no free chunk, or a nodelist overlapping the region.

    Notes
    -----
    Costs: malloc is O(log f) to find the best fit among f free chunks plus O(f) for the list
    insert (a C-level memmove); free and realloc the same. The model runs well over 50,000
    operations per second with a thousand live blocks.
    """

    def __init__(
        self,
        memory: PhysicalMemory,
        start: int,
        size: int,
        *,
        pointer_size: int = 4,
        small: bool = False,
        nuttx_quirks: bool = False,
        nodelist: int | None = None,
        name: str = "heap",
    ) -> None:
        if not isinstance(memory, PhysicalMemory):
            raise TypeError(f"memory must be a PhysicalMemory, not {memory!r}")
        if pointer_size not in (4, 8):
            raise InvalidArgument(f"pointer_size must be 4 or 8, not {pointer_size!r}")
        if small and pointer_size != 4:
            raise InvalidArgument(f"the small model needs 4-byte pointers, not {pointer_size}")
        self.memory = memory
        self.name = name
        self.pointer_size = pointer_size
        self.small = bool(small)
        self.nuttx_quirks = bool(nuttx_quirks)
        #: log2 of the minimum chunk (MM_MIN_SHIFT) and the minimum chunk size.
        self.min_shift = 5 if pointer_size == 8 else 4
        self.min_chunk = 1 << self.min_shift
        #: MM_MAX_SHIFT, MM_MAX_CHUNK and MM_NNODES.
        self.max_shift = 15 if small else 22
        self.max_chunk = 1 << self.max_shift
        self.nnodes = self.max_shift - self.min_shift + 1
        #: SIZEOF_MM_ALLOCNODE (the header) and SIZEOF_MM_FREENODE.
        self.allocnode = 4 if small else 8
        self.freenode = self.allocnode + 2 * pointer_size
        #: The allocated flag in ``preceding``.
        self.alloc_bit = 0x8000 if small else 0x8000_0000
        self.size_max = (1 << (8 * pointer_size)) - 1
        self._mask = self.min_chunk - 1
        self._hdr = struct.Struct("<HH" if small else "<II")
        self._link = struct.Struct("<I" if pointer_size == 4 else "<Q")
        self._links = struct.Struct("<II" if pointer_size == 4 else "<QQ")
        self._data: bytearray = memory._data

        # The mirror: every chunk's header (guards too), the free chunks' sort keys.
        self._size: dict[int, int] = {}
        self._pre: dict[int, int] = {}  # raw preceding field, flag included
        self._fkey: dict[int, int] = {}  # free chunk address -> key
        self._kaddr: dict[int, int] = {}  # key -> free chunk address
        self._keys: list[int] = []  # sorted free keys
        self._seq = 0
        self._guards: set[int] = set()
        # Payload addresses the caller has freed (or realloc moved away from): a later free of
        # one that is not live again is a double free; any other non-block is InvalidPointer.
        self._freed: set[int] = set()
        # Smallest key of each bucket (bucket b >= 1 starts at size 2**(b + MM_MIN_SHIFT));
        # one more entry, beyond every key, closes the last bucket.
        self._lo_key = [0] + [1 << (b + self.min_shift + _KS) for b in range(1, self.nnodes)]
        self._lo_key.append(1 << (8 * pointer_size + 1 + _KS))
        self._regions: list[tuple[int, int]] = []  # (base, end) after alignment
        self._arena = 0
        self._nalloc = 0  # allocated chunks, guards excluded
        self._ualloc = 0  # their bytes
        self._free_bytes = 0

        # Bucket heads.
        span = self.nnodes * self.freenode
        if nodelist is None:
            base = (memory.size + self._mask) & ~self._mask
            self._nl_in_memory = False
        else:
            if not _is_int(nodelist):
                raise TypeError(f"nodelist must be an int or None, not {nodelist!r}")
            if nodelist <= 0 or nodelist + span > memory.size:
                raise InvalidArgument(
                    f"nodelist [{nodelist:#x}, {nodelist + span:#x}) is not inside "
                    f"physical memory (0, {memory.size:#x})"
                )
            if nodelist % pointer_size:
                raise InvalidArgument(
                    f"nodelist {nodelist:#x} is not aligned to the pointer size {pointer_size}"
                )
            base = nodelist
            self._nl_in_memory = True
        if base + span > self.size_max + 1:
            raise InvalidArgument(
                f"the bucket heads at {base:#x} do not fit {8 * pointer_size}-bit pointers"
            )
        self.nodelist = base
        self._nl_end = base + span
        n = self.nnodes
        # NuttX chains the heads: head[i].flink = head[i+1], head[i+1].blink = head[i].
        self._sfl = [self._sentinel(i + 1) if i + 1 < n else 0 for i in range(n)]
        self._sbl = [self._sentinel(i - 1) if i > 0 else 0 for i in range(n)]
        if self._nl_in_memory:
            for i in range(n):
                a = base + i * self.freenode
                self._hdr.pack_into(self._data, a, 0, 0)
                self._links.pack_into(self._data, a + self.allocnode, self._sfl[i], self._sbl[i])
        self.add_region(start, size)

    def __repr__(self) -> str:
        mi = self.mallinfo()
        return (
            f"Heap(regions={[(hex(b), hex(e - b)) for b, e in self._regions]}, "
            f"pointer_size={self.pointer_size}, small={self.small}, used={mi.uordblks}, "
            f"free={mi.fordblks})"
        )

    # -- layout helpers -----------------------------------------------------------------------

    def _sentinel(self, i: int) -> int:
        return self.nodelist + i * self.freenode

    def size2ndx(self, size: int) -> int:
        """mm_size2ndx: the free-list bucket of a chunk of ``size`` bytes."""
        if size >= self.max_chunk:
            return self.nnodes - 1
        n = (size >> self.min_shift).bit_length() - 1
        return n if n > 0 else 0

    @property
    def regions(self) -> list[tuple[int, int]]:
        """The regions as ``(base, end)`` after alignment; guards at base and end - header."""
        return list(self._regions)

    def add_region(self, start: int, size: int) -> None:
        """mm_addregion: add ``[start, start + size)`` (aligned inward) as a new region.

        Raises
        ------
        RegionConflict
            The region overlaps another region or the bucket heads (names both).
        InvalidArgument
            The region leaves memory or the pointer range, is too big for the size field, or
            holds no free chunk.
        """
        for name, value in (("start", start), ("size", size)):
            if not _is_int(value):
                raise TypeError(f"region {name} must be an int, not {value!r}")
        if start < 0 or size <= 0:
            raise InvalidArgument(f"region [{start:#x}, +{size:#x}) is empty or negative")
        base = (start + self._mask) & ~self._mask
        end = (start + size) & ~self._mask
        H = self.allocnode
        if end - base < 2 * H + self.freenode:
            raise InvalidArgument(
                f"region [{start:#x}, +{size:#x}) holds no free chunk after alignment to "
                f"{self.min_chunk} bytes"
            )
        if end > self.memory.size:
            raise InvalidArgument(
                f"region [{base:#x}, {end:#x}) is outside physical memory "
                f"[0, {self.memory.size:#x})"
            )
        if end > self.size_max + 1:
            raise InvalidArgument(
                f"region [{base:#x}, {end:#x}) does not fit {8 * self.pointer_size}-bit pointers"
            )
        limit = self.max_chunk if self.small else 1 << 31
        if end - base > limit:
            raise InvalidArgument(
                f"region [{base:#x}, {end:#x}) of {end - base} bytes exceeds the "
                f"{limit} bytes one region may have in this model"
            )
        for b, e in self._regions:
            if base < e and b < end:
                raise RegionConflict(
                    f"region [{base:#x}, {end:#x}) overlaps region [{b:#x}, {e:#x})"
                )
        if self._nl_in_memory and base < self._nl_end and self.nodelist < end:
            raise RegionConflict(
                f"region [{base:#x}, {end:#x}) overlaps the bucket heads "
                f"[{self.nodelist:#x}, {self._nl_end:#x})"
            )
        heapsize = end - base
        ALLOC = self.alloc_bit
        node = base + H
        nsize = heapsize - 2 * H
        tail = end - H
        self._set_hdr(base, H, ALLOC)
        self._set_hdr(tail, H, nsize | ALLOC)
        self._size[node] = nsize
        self._pre[node] = H
        self._hdr.pack_into(self._data, node, nsize, H)
        self._guards.add(base)
        self._guards.add(tail)
        self._regions.append((base, end))
        self._arena += heapsize
        self._add_free(node)

    # -- memory access ------------------------------------------------------------------------

    def _set_hdr(self, addr: int, size: int, pre: int) -> None:
        self._size[addr] = size
        self._pre[addr] = pre
        self._hdr.pack_into(self._data, addr, size, pre)

    def _set_flink(self, node: int, value: int) -> None:
        if self.nodelist <= node < self._nl_end:
            i = (node - self.nodelist) // self.freenode
            self._sfl[i] = value
            if not self._nl_in_memory:
                return
        self._link.pack_into(self._data, node + self.allocnode, value)

    def _set_blink(self, node: int, value: int) -> None:
        if self.nodelist <= node < self._nl_end:
            i = (node - self.nodelist) // self.freenode
            self._sbl[i] = value
            if not self._nl_in_memory:
                return
        self._link.pack_into(self._data, node + self.allocnode + self.pointer_size, value)

    def _read_links(self, node: int) -> tuple[int, int]:
        """(flink, blink) of a free node or bucket head, as memory holds them."""
        if not self._nl_in_memory and self.nodelist <= node < self._nl_end:
            i = (node - self.nodelist) // self.freenode
            return self._sfl[i], self._sbl[i]
        fl, bl = self._links.unpack_from(self._data, node + self.allocnode)
        return int(fl), int(bl)

    def _read_hdr(self, addr: int) -> tuple[int, int]:
        s, p = self._hdr.unpack_from(self._data, addr)
        return int(s), int(p)

    # -- validation of what an operation is about to touch ------------------------------------

    def _check_hdr(self, addr: int) -> None:
        size, pre = self._hdr.unpack_from(self._data, addr)
        if size != self._size[addr] or pre != self._pre[addr]:
            raise HeapCorruption(
                f"chunk header at {addr:#x} reads size={size:#x} preceding={pre:#x}, "
                f"expected size={self._size[addr]:#x} preceding={self._pre[addr]:#x}"
            )

    def _neighbours(self, i: int) -> tuple[int, int]:
        """The list predecessor and successor of the free chunk with sorted index ``i``."""
        keys = self._keys
        b = ((keys[i] >> _KS) >> self.min_shift).bit_length() - 1
        if b < 0:
            b = 0
        elif b >= self.nnodes:
            b = self.nnodes - 1
        lo = self._lo_key
        if i > 0 and keys[i - 1] >= lo[b]:
            prev = self._kaddr[keys[i - 1]]
        else:
            prev = self.nodelist + b * self.freenode
        if i + 1 < len(keys) and keys[i + 1] < lo[b + 1]:
            nxt = self._kaddr[keys[i + 1]]
        elif b + 1 < self.nnodes:
            nxt = self.nodelist + (b + 1) * self.freenode
        else:
            nxt = 0
        return prev, nxt

    def _check_free(self, addr: int) -> tuple[int, int, int]:
        """Validate a free chunk's header and links; return (sorted index, blink, flink)."""
        self._check_hdr(addr)
        key = self._fkey[addr]
        i = bisect_left(self._keys, key)
        prev, nxt = self._neighbours(i)
        fl, bl = self._links.unpack_from(self._data, addr + self.allocnode)
        if fl != nxt or bl != prev:
            raise HeapCorruption(
                f"free chunk at {addr:#x} has links flink={fl:#x} blink={bl:#x}, "
                f"expected flink={nxt:#x} blink={prev:#x}"
            )
        return i, prev, nxt

    def _check_next_free(self, addr: int) -> tuple[int, int, int]:
        """Validate a free chunk about to be merged or cut, and the header after it."""
        found = self._check_free(addr)
        self._check_hdr(addr + self._size[addr])
        return found

    def _live_node(self, mem: object, what: str) -> int:
        """The header address of the live block at ``mem``, validated; or raise."""
        if not _is_int(mem):
            raise TypeError(f"{what}: address must be an int or None, not {mem!r}")
        assert isinstance(mem, int)
        node = mem - self.allocnode
        pre = self._pre.get(node)
        if pre is None or node in self._guards or not pre & self.alloc_bit:
            if mem in self._freed:
                raise DoubleFree(f"{what}({mem:#x}): the block was already freed")
            raise InvalidPointer(f"{what}({mem:#x}): address is not a live block of {self.name}")
        self._check_hdr(node)
        return node

    # -- the free list --------------------------------------------------------------------------

    def _add_free(self, addr: int) -> None:
        """mm_addfreechunk: enter the (already written) free chunk at ``addr`` into the list."""
        size = self._size[addr]
        key = (size << _KS) | (_SEQ_MASK - self._seq)
        self._seq += 1
        keys = self._keys
        i = bisect_left(keys, key)
        keys.insert(i, key)
        self._fkey[addr] = key
        self._kaddr[key] = addr
        prev, nxt = self._neighbours(i)
        self._links.pack_into(self._data, addr + self.allocnode, nxt, prev)
        self._set_flink(prev, addr)
        if nxt:
            self._set_blink(nxt, addr)
        self._free_bytes += size

    def _unlink(self, addr: int, found: tuple[int, int, int] | None = None) -> None:
        """Remove the free chunk at ``addr`` from the list (its links in memory stay).

        ``found`` is what :meth:`_check_free` returned for it, if the list has not changed
        since.
        """
        key = self._fkey.pop(addr)
        if found is None:
            i = bisect_left(self._keys, key)
            prev, nxt = self._neighbours(i)
        else:
            i, prev, nxt = found
        del self._keys[i]
        del self._kaddr[key]
        self._set_flink(prev, nxt)
        if nxt:
            self._set_blink(nxt, prev)
        self._free_bytes -= key >> _KS

    def _shrinkchunk(self, node: int, size: int) -> None:
        """mm_shrinkchunk: cut the allocated chunk at ``node`` down to ``size`` bytes.

        The caller has validated the next chunk (header, and links if free).
        """
        ALLOC = self.alloc_bit
        nsize = self._size[node]
        nxt = node + nsize
        if not self._pre[nxt] & ALLOC:
            xsize = self._size[nxt]
            beyond = nxt + xsize
            self._unlink(nxt)
            del self._size[nxt], self._pre[nxt]
            new = node + size
            newsize = xsize + nsize - size
            self._set_hdr(node, size, self._pre[node])
            self._set_hdr(new, newsize, size)
            self._set_hdr(beyond, self._size[beyond], newsize | (self._pre[beyond] & ALLOC))
            self._ualloc -= nsize - size
            self._add_free(new)
        elif nsize >= size + self.freenode:
            new = node + size
            self._set_hdr(node, size, self._pre[node])
            self._set_hdr(new, nsize - size, size)
            self._set_hdr(nxt, self._size[nxt], (nsize - size) | ALLOC)
            self._ualloc -= nsize - size
            self._add_free(new)

    # -- argument checks ------------------------------------------------------------------------

    def _check_size(self, n: object, what: str) -> int:
        if not _is_int(n):
            raise TypeError(f"{what}: size must be an int, not {n!r}")
        assert isinstance(n, int)
        if n < 0:
            raise InvalidArgument(f"{what}: size must not be negative, not {n}")
        if n > self.size_max:
            raise SizeOverflow(
                f"{what}: size {n} does not fit a {8 * self.pointer_size}-bit size_t"
            )
        return n

    def _chunk_size(self, n: int) -> int | None:
        """MM_ALIGN_UP(n + SIZEOF_MM_ALLOCNODE), or None where size_t would overflow."""
        s = (n + self.allocnode + self._mask) & ~self._mask
        return None if s > self.size_max else s

    # -- the API ----------------------------------------------------------------------------------

    def _malloc_chunk(self, alignsize: int) -> int | None:
        keys = self._keys
        i = bisect_left(keys, alignsize << _KS)
        if i == len(keys):
            return None
        key = keys[i]
        node = self._kaddr[key]
        size = key >> _KS
        found = self._check_free(node)
        nxt = node + size
        self._check_hdr(nxt)
        self._unlink(node, found)
        ALLOC = self.alloc_bit
        remaining = size - alignsize
        pre = self._pre[node] | ALLOC
        if remaining >= self.freenode:
            rem = node + alignsize
            self._set_hdr(node, alignsize, pre)
            self._set_hdr(nxt, self._size[nxt], remaining | (self._pre[nxt] & ALLOC))
            self._size[rem] = remaining
            self._pre[rem] = alignsize
            self._hdr.pack_into(self._data, rem, remaining, alignsize)
            self._add_free(rem)
            size = alignsize
        else:
            self._set_hdr(node, size, pre)
        self._nalloc += 1
        self._ualloc += size
        return node + self.allocnode

    def malloc(self, n: int) -> int | None:
        """mm_malloc: best fit; the payload address, or None (``n == 0`` or out of memory).

        Raises
        ------
        InvalidArgument
            ``n`` is negative.
        SizeOverflow
            ``n`` does not fit ``size_t``.
        HeapCorruption
            The chosen chunk or its neighbour is corrupted in memory (nothing is changed).
        """
        n = self._check_size(n, "malloc")
        if n == 0:
            return None
        alignsize = self._chunk_size(n)
        if alignsize is None:
            return None
        return self._malloc_chunk(alignsize)

    def zalloc(self, n: int) -> int | None:
        """mm_zalloc: malloc, then zero the ``n`` requested bytes."""
        p = self.malloc(n)
        if p is not None:
            self._data[p : p + n] = bytes(n)
        return p

    def calloc(self, n: int, m: int) -> int | None:
        """mm_calloc: zalloc of ``n * m`` bytes; None when either is 0.

        Raises
        ------
        SizeOverflow
            ``n * m`` does not fit ``size_t``.
        """
        n = self._check_size(n, "calloc")
        m = self._check_size(m, "calloc")
        if n == 0 or m == 0:
            return None
        if n * m > self.size_max:
            raise SizeOverflow(
                f"calloc({n}, {m}): {n} * {m} = {n * m} overflows a "
                f"{8 * self.pointer_size}-bit size_t"
            )
        return self.zalloc(n * m)

    def memalign(self, alignment: int, n: int) -> int | None:
        """mm_memalign: ``n`` bytes at a multiple of ``alignment``; None if out of memory.

        Mallocs ``ALIGN_UP(n) + 2 * alignment``, gives the leading gap back as a free chunk
        (moving to the second alignment point when the gap is smaller than a free node) and
        shrinks the tail. With ``nuttx_quirks=True`` an ``alignment <= MM_MIN_CHUNK`` is plain
        malloc, as in 10.2.0 (not always aligned); by default it is honoured: plain malloc's
        block when that is aligned, else the aligning path.

        Raises
        ------
        InvalidAlignment
            ``alignment`` is not a power of two.
        """
        if not _is_int(alignment):
            raise TypeError(f"memalign: alignment must be an int, not {alignment!r}")
        if alignment <= 0 or alignment & (alignment - 1):
            raise InvalidAlignment(f"memalign: alignment must be a power of two, not {alignment}")
        n = self._check_size(n, "memalign")
        if alignment >= self.size_max // 2:
            return None
        H = self.allocnode
        if self.nuttx_quirks:
            if alignment <= self.min_chunk:
                return self.malloc(n)
        else:
            if n == 0:
                return None
            if alignment <= H:  # every payload is header-aligned
                return self.malloc(n)
            if alignment <= self.min_chunk:
                # Where 10.2.0's plain malloc would be aligned, give its result; else fall
                # through to the aligning path.
                alignsize = self._chunk_size(n)
                if alignsize is None:
                    return None
                i = bisect_left(self._keys, alignsize << _KS)
                if i == len(self._keys):
                    return None
                if (self._kaddr[self._keys[i]] + H) & (alignment - 1) == 0:
                    return self._malloc_chunk(alignsize)
        newsize = (n + self._mask) & ~self._mask
        allocsize = newsize + 2 * alignment
        if allocsize > self.size_max:
            return None
        alignsize = self._chunk_size(allocsize)
        if alignsize is None:
            return None
        # _malloc_chunk validates the chunk it takes and the header after it; everything the
        # split and the shrink below touch is one of those or was written by _malloc_chunk,
        # so nothing can fail half way.
        raw = self._malloc_chunk(alignsize)
        if raw is None:
            return None
        ALLOC = self.alloc_bit
        node = raw - H
        mask = alignment - 1
        aligned = (raw + mask) & ~mask
        if aligned != raw:
            nsize = self._size[node]
            nxt = node + nsize
            newnode = aligned - H
            pre_size = newnode - node
            while pre_size < self.freenode:  # once at most with NuttX's alignments
                aligned += alignment
                newnode = aligned - H
                pre_size = newnode - node
            newsize_chunk = nxt - newnode
            self._set_hdr(newnode, newsize_chunk, pre_size | ALLOC)
            self._set_hdr(node, pre_size, self._pre[node] & ~ALLOC)
            self._set_hdr(nxt, self._size[nxt], newsize_chunk | (self._pre[nxt] & ALLOC))
            allocsize = newsize_chunk - H
            self._ualloc -= pre_size
            self._add_free(node)
            node = newnode
        size = (n + H + self._mask) & ~self._mask
        if allocsize > size:
            nxt = node + self._size[node]
            if not self._pre[nxt] & ALLOC:
                self._check_next_free(nxt)
            self._shrinkchunk(node, size)
        return aligned

    def realloc(self, mem: int | None, n: int) -> int | None:
        """mm_realloc: resize the block at ``mem`` to ``n`` bytes, in place when possible.

        ``mem`` None is malloc; ``n == 0`` frees and returns None. Growing takes from the free
        neighbours (the previous one first when it is no larger than the next, moving the data
        down), else mallocs, copies and frees. On failure returns None and the old block is
        untouched.

        Raises
        ------
        InvalidPointer, DoubleFree
            ``mem`` is not a live block.
        HeapCorruption
            A header or link it touches is corrupted (nothing is changed).
        """
        if mem is None:
            return self.malloc(n)
        n = self._check_size(n, "realloc")
        node = self._live_node(mem, "realloc")
        if n == 0:
            self.free(mem)
            return None
        newsize = self._chunk_size(n)
        if newsize is None:
            return None
        ALLOC = self.alloc_bit
        H = self.allocnode
        oldsize = self._size[node]
        nxt = node + oldsize
        self._check_hdr(nxt)
        next_free = not self._pre[nxt] & ALLOC
        if next_free:
            self._check_next_free(nxt)
        if newsize <= oldsize:
            if newsize < oldsize:
                self._shrinkchunk(node, newsize)
            return mem
        nextsize = self._size[nxt] if next_free else 0
        prev = node - (self._pre[node] & ~ALLOC)
        self._check_hdr(prev)
        prevsize = 0
        if not self._pre[prev] & ALLOC:
            self._check_free(prev)
            prevsize = self._size[prev]
        if nextsize + prevsize + oldsize < newsize:
            p = self.malloc(n)
            if p is not None:
                self._data[p : p + oldsize - H] = self._data[mem : mem + oldsize - H]
                self.free(mem)
            return p
        needed = newsize - oldsize
        takeprev = takenext = 0
        if prevsize > 0 and (nextsize >= prevsize or nextsize < 1):
            if needed > prevsize:
                takeprev, takenext = prevsize, needed - prevsize
            else:
                takeprev, takenext = needed, 0
            needed = 0
        if nextsize > 0 and needed:
            if needed > nextsize:
                takeprev, takenext = needed - nextsize, nextsize
            else:
                takeprev, takenext = 0, needed
        # 10.2.0 would leave a free chunk smaller than a free node when sizes are not
        # multiples of MM_MIN_CHUNK (after memalign, or the region's odd-sized last chunk with
        # 8-byte pointers): its links would overwrite the next header. Take the whole
        # neighbour instead, whatever nuttx_quirks says.
        if 0 < prevsize - takeprev < self.freenode and takeprev:
            takeprev = prevsize
        if 0 < nextsize - takenext < self.freenode and takenext:
            takenext = nextsize
        newmem = mem
        if takeprev:
            self._unlink(prev)
            newnode = node - takeprev
            if takeprev < prevsize:
                rest = prevsize - takeprev
                self._set_hdr(prev, rest, self._pre[prev])
                self._set_hdr(newnode, oldsize + takeprev, rest | ALLOC)
                self._add_free(prev)
            else:  # the whole previous chunk: newnode is prev
                self._set_hdr(newnode, oldsize + takeprev, self._pre[prev] | ALLOC)
            del self._size[node], self._pre[node]
            self._set_hdr(nxt, self._size[nxt], (oldsize + takeprev) | (self._pre[nxt] & ALLOC))
            newmem = newnode + H
            self._data[newmem : newmem + oldsize - H] = self._data[mem : mem + oldsize - H]
            self._ualloc += takeprev
            node = newnode
            oldsize = oldsize + takeprev
        if takenext:
            beyond = nxt + nextsize
            self._unlink(nxt)
            del self._size[nxt], self._pre[nxt]
            grown = oldsize + takenext
            self._set_hdr(node, grown, self._pre[node])
            new = node + grown
            if takenext < nextsize:
                rest = nextsize - takenext
                self._set_hdr(new, rest, grown)
                self._set_hdr(beyond, self._size[beyond], rest | (self._pre[beyond] & ALLOC))
                self._add_free(new)
            else:
                self._set_hdr(beyond, self._size[beyond], grown | (self._pre[beyond] & ALLOC))
            self._ualloc += takenext
        if newmem != mem:
            self._freed.add(mem)
        return newmem

    def free(self, mem: int | None) -> None:
        """mm_free: release the block at ``mem``, merging with free neighbours; None is ignored.

        Raises
        ------
        InvalidPointer
            ``mem`` is not the payload address of a block of this heap.
        DoubleFree
            The block is already free.
        HeapCorruption
            The block's header or a neighbour's header or links are corrupted (nothing is
            changed).
        """
        if mem is None:
            return
        node = self._live_node(mem, "free")
        ALLOC = self.alloc_bit
        size = self._size[node]
        pre = self._pre[node]
        nxt = node + size
        self._check_hdr(nxt)
        next_free = not self._pre[nxt] & ALLOC
        found = self._check_next_free(nxt) if next_free else None
        prev = node - (pre & ~ALLOC)
        self._check_hdr(prev)
        prev_free = not self._pre[prev] & ALLOC
        if prev_free:
            self._check_free(prev)
        # Act.
        self._nalloc -= 1
        self._ualloc -= size
        pre &= ~ALLOC
        if next_free:
            beyond = nxt + self._size[nxt]
            self._unlink(nxt, found)
            size += self._size.pop(nxt)
            del self._pre[nxt]
            nxt = beyond
        if prev_free:
            self._unlink(prev)
            del self._size[node], self._pre[node]
            size += self._size[prev]
            node = prev
            pre = self._pre[prev]
        self._set_hdr(node, size, pre)
        self._set_hdr(nxt, self._size[nxt], size | (self._pre[nxt] & ALLOC))
        self._add_free(node)
        self._freed.add(mem)

    def malloc_size(self, mem: int | None) -> int:
        """mm_malloc_size: usable bytes of the block at ``mem`` (chunk size - header); None: 0."""
        if mem is None:
            return 0
        node = self._live_node(mem, "malloc_size")
        return self._size[node] - self.allocnode

    def mallinfo(self) -> MallInfo:
        """mm_mallinfo: arena, free/allocated chunk counts and bytes, largest free chunk."""
        n = len(self._regions)
        keys = self._keys
        return MallInfo(
            arena=self._arena,
            ordblks=len(keys),
            aordblks=self._nalloc + n,
            mxordblk=(keys[-1] >> _KS) if keys else 0,
            uordblks=self._ualloc + 2 * n * self.allocnode,
            fordblks=self._free_bytes,
        )

    def is_live(self, mem: int) -> bool:
        """True when ``mem`` is the payload address of an allocated block."""
        node = mem - self.allocnode
        pre = self._pre.get(node)
        return pre is not None and bool(pre & self.alloc_bit) and node not in self._guards

    # -- verification -----------------------------------------------------------------------------

    def chunks(self) -> Iterator[Chunk]:
        """Walk every region's chunks in memory (guards included), without checking them."""
        ALLOC = self.alloc_bit
        for base, end in self._regions:
            addr = base
            tail = end - self.allocnode
            while addr <= tail:
                size, pre = self._read_hdr(addr)
                yield Chunk(addr, size, pre & ~ALLOC, bool(pre & ALLOC), addr in (base, tail))
                if size == 0:
                    return
                addr += size

    def check(self) -> None:
        """Verify every invariant by reading memory; raise HeapCorruption naming the address.

        Checks: guards; each header's size against its neighbour's ``preceding``; sizes and
        alignment; no two adjacent free chunks; the free list from the bucket heads (links both
        ways, buckets, order by size, every free chunk exactly once and nothing else); mallinfo
        totals; and that the Python mirror agrees with memory.
        """
        ALLOC = self.alloc_bit
        H = self.allocnode
        FN = self.freenode
        free_chunks: dict[int, int] = {}
        seen: dict[int, tuple[int, int]] = {}
        nalloc = ualloc = 0
        for base, end in self._regions:
            tail = end - H
            size, pre = self._read_hdr(base)
            if size != H or pre != ALLOC:
                raise HeapCorruption(
                    f"start guard at {base:#x} reads size={size:#x} preceding={pre:#x}, "
                    f"expected size={H:#x} preceding={ALLOC:#x}"
                )
            seen[base] = (size, pre)
            prev_size, prev_free = H, False
            addr = base + H
            while addr < tail:
                size, pre = self._read_hdr(addr)
                is_free = not pre & ALLOC
                if pre & ~ALLOC != prev_size:
                    raise HeapCorruption(
                        f"chunk at {addr:#x}: preceding={pre & ~ALLOC:#x} but the previous "
                        f"chunk is {prev_size:#x} bytes"
                    )
                if size % H or size < (FN if is_free else H) or addr + size > tail:
                    raise HeapCorruption(
                        f"chunk at {addr:#x} has an impossible size {size:#x} in region "
                        f"[{base:#x}, {end:#x})"
                    )
                if is_free and prev_free:
                    raise HeapCorruption(
                        f"free chunk at {addr:#x} follows another free chunk (not coalesced)"
                    )
                seen[addr] = (size, pre)
                if is_free:
                    free_chunks[addr] = size
                else:
                    nalloc += 1
                    ualloc += size
                prev_size, prev_free = size, is_free
                addr += size
            if addr != tail:
                raise HeapCorruption(
                    f"the chunks of region [{base:#x}, {end:#x}) overrun {tail:#x}"
                )
            size, pre = self._read_hdr(tail)
            if size != H or pre != prev_size | ALLOC:
                raise HeapCorruption(
                    f"end guard at {tail:#x} reads size={size:#x} preceding={pre:#x}, expected "
                    f"size={H:#x} preceding={prev_size | ALLOC:#x}"
                )
            seen[tail] = (size, pre)

        # The free list, from bucket head 0.
        if self._nl_in_memory:
            for i in range(self.nnodes):
                s = self._sentinel(i)
                if self._read_hdr(s) != (0, 0):
                    raise HeapCorruption(f"bucket head {i} at {s:#x} has a non-zero header")
        order: list[int] = []
        node = self._sentinel(0)
        fl, bl = self._read_links(node)
        if bl != 0:
            raise HeapCorruption(f"bucket head 0 at {node:#x} has blink {bl:#x}, expected 0")
        bucket = 0
        last_size = 0
        limit = len(free_chunks) + self.nnodes
        prev = node
        while fl:
            if len(order) + bucket >= limit:
                raise HeapCorruption(f"the free list loops (at {fl:#x})")
            node = fl
            is_head = self.nodelist <= node < self._nl_end
            if not is_head and node not in free_chunks:
                raise HeapCorruption(
                    f"free-list link from {prev:#x} points to {node:#x}, not a free chunk"
                )
            fl, bl = self._read_links(node)
            if bl != prev:
                raise HeapCorruption(
                    f"free node at {node:#x} has blink {bl:#x}, expected {prev:#x}"
                )
            if is_head:
                bucket += 1
                if node != self._sentinel(bucket):
                    raise HeapCorruption(
                        f"free list reaches bucket head {node:#x} out of order "
                        f"(expected {self._sentinel(bucket):#x})"
                    )
            else:
                size = free_chunks[node]
                if self.size2ndx(size) != bucket:
                    raise HeapCorruption(
                        f"free chunk at {node:#x} of size {size:#x} is in bucket {bucket}, "
                        f"expected {self.size2ndx(size)}"
                    )
                if size < last_size:
                    raise HeapCorruption(
                        f"free chunk at {node:#x} of size {size:#x} follows a larger one"
                    )
                last_size = size
                order.append(node)
            prev = node
        if bucket != self.nnodes - 1:
            raise HeapCorruption(f"the free list ends at {prev:#x} before the last bucket head")
        if len(order) != len(free_chunks) or set(order) != set(free_chunks):
            missing = sorted(set(free_chunks) - set(order))
            raise HeapCorruption(
                f"free chunks {[hex(a) for a in missing]} are not on the free list"
                if missing
                else f"a free chunk appears twice on the free list: {order}"
            )

        # mallinfo and the mirror.
        fordblks = sum(free_chunks.values())
        nreg = len(self._regions)
        mi = self.mallinfo()
        real = MallInfo(
            self._arena,
            len(free_chunks),
            nalloc + nreg,
            max(free_chunks.values(), default=0),
            ualloc + 2 * nreg * H,
            fordblks,
        )
        if real.uordblks + real.fordblks != real.arena:
            raise HeapCorruption(f"uordblks + fordblks != arena in {real}")
        if mi != real:
            raise HeapCorruption(f"mallinfo {mi} disagrees with memory {real}")
        for addr, (size, pre) in seen.items():
            if self._size.get(addr) != size or self._pre.get(addr) != pre:
                raise HeapCorruption(f"the model's record of chunk {addr:#x} disagrees with memory")
        if len(seen) != len(self._size):
            extra = sorted(set(self._size) - set(seen))
            raise HeapCorruption(f"the model records chunks not in memory: {extra[:4]}")
        if [self._kaddr[k] for k in self._keys] != order:
            raise HeapCorruption("the model's free-list order disagrees with memory")
