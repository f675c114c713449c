"""BitThunder's SLAB kernel heap (mmaccel.sw.slab): sizes, tags, lists in memory, errors."""

from __future__ import annotations

import struct

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    precondition,
    rule,
)

from mmaccel.sw import (
    DoubleFree,
    HeapCorruption,
    InvalidArgument,
    InvalidPointer,
    PageAllocator,
    PhysicalMemory,
    SizeOverflow,
    SlabCacheStats,
    SlabHeap,
)
from mmaccel.sw.slab import MAGIC_0, MAGIC_1, NIL, cache_index

PAGE = 4096


def make(pages: int = 512, start: int = 0x10000) -> SlabHeap:
    mem = PhysicalMemory(start + pages * PAGE)
    return SlabHeap(mem, PageAllocator(start, pages * PAGE))


def snapshot(heap: SlabHeap) -> tuple[object, ...]:
    return (
        heap.memory.read(0, heap.memory.size),
        heap.stats(),
        heap.live_blocks,
        heap.pages.bt_page_info(),
    )


def cache_of(heap: SlabHeap, size: int) -> SlabCacheStats:
    return next(c for c in heap.stats() if c.object_size == size)


def test_sixteen_power_of_two_caches() -> None:
    heap = make()
    sizes = [c.object_size for c in heap.stats()]
    assert sizes == [16 << k for k in range(16)]
    assert sizes[-1] == 512 * 1024
    assert cache_index(16) == 0 and cache_index(17) == 1 and cache_index(64) == 2


def test_kmalloc_zero_and_negative() -> None:
    heap = make()
    assert heap.kmalloc(0) is None
    before = snapshot(heap)
    with pytest.raises(InvalidArgument, match="-3"):
        heap.kmalloc(-3)
    with pytest.raises(SizeOverflow):
        heap.kmalloc(0xFFFF_FFF0)
    assert snapshot(heap) == before


@pytest.mark.parametrize(
    ("n", "object_size"),
    [(1, 64), (4, 64), (32, 64), (33, 128), (96, 128), (97, 256), (4064, 4096), (4065, 8192)],
)
def test_request_rounds_to_4_plus_32_bytes_of_tags(n: int, object_size: int) -> None:
    heap = make()
    p = heap.kmalloc(n)
    assert p is not None
    c = cache_of(heap, object_size)
    assert c.in_use == 1
    assert heap.usable_size(p) == (n + 3) & ~3


def test_tags_are_in_memory() -> None:
    heap = make()
    p = heap.kmalloc(10)
    assert p is not None
    block = p - 24
    words = struct.unpack("<6I", heap.memory.read(block, 24))
    assert words == (MAGIC_0, MAGIC_1, 64, 12, MAGIC_0, MAGIC_1)
    assert struct.unpack("<2I", heap.memory.read(p + 12, 8)) == (MAGIC_0, MAGIC_1)


def test_refill_one_page_and_lifo_free_list_in_memory() -> None:
    heap = make()
    a = heap.kmalloc(1)
    assert a is not None
    slab = a - 24
    assert slab % PAGE == 0
    c = cache_of(heap, 64)
    assert (c.in_use, c.available, c.slabs) == (1, 63, 1)
    assert heap.pages.bt_page_info().normal_used == PAGE
    # objects of a fresh slab go out in address order
    b = heap.kmalloc(1)
    assert b == a + 64
    # the free list is linked through the objects: free a, then b; b's first word -> a
    heap.kfree(a)
    heap.kfree(b)
    assert struct.unpack("<I", heap.memory.read(b - 24, 4))[0] == a - 24
    # LIFO: the last freed goes out first
    assert heap.kmalloc(1) == b
    assert heap.kmalloc(1) == a
    heap.check()


def test_one_object_per_refill_above_4k() -> None:
    heap = make()
    p = heap.kmalloc(5000)  # 5032-byte block -> 8 KiB cache
    assert p is not None
    c = cache_of(heap, 8192)
    assert (c.in_use, c.available, c.slabs) == (1, 0, 1)
    assert heap.pages.bt_page_info().normal_used == 2 * PAGE
    q = heap.kmalloc(5000)
    assert q is not None
    assert cache_of(heap, 8192).slabs == 2
    heap.kfree(p)
    heap.kfree(q)
    # slabs are not returned to the page allocator
    assert heap.pages.bt_page_info().normal_used == 4 * PAGE
    assert cache_of(heap, 8192).available == 2
    heap.check()


def test_large_blocks_come_straight_from_pages() -> None:
    heap = make(pages=512)
    n = 512 * 1024  # 512 KiB + 32 bytes of tags exceeds the largest cache
    p = heap.kmalloc(n)
    assert p is not None
    assert all(c.in_use == 0 for c in heap.stats())
    assert heap.pages.bt_page_info().normal_used == 129 * PAGE
    heap.memory.write(p, b"x" * n)
    heap.check()
    heap.kfree(p)
    assert heap.pages.bt_page_info().normal_used == 0
    # the largest cached block: 512 KiB - 32 bytes of payload
    q = heap.kmalloc(n - 32)
    assert q is not None
    assert cache_of(heap, n).in_use == 1
    heap.check()


def test_out_of_pages_returns_none() -> None:
    heap = make(pages=2)
    got = [heap.kmalloc(2000) for _ in range(5)]  # 2048-byte objects, two per page
    assert None not in got[:4]
    assert got[4] is None
    assert heap.kmalloc(100_000) is None
    heap.check()


@pytest.mark.parametrize(
    ("offset", "tag"),
    [
        (-24, "tag_0.magic_0"),
        (-20, "tag_0.magic_1"),
        (-16, "cache"),
        (-12, "size"),
        (-8, "tag_1.magic_0"),
        (-4, "tag_1.magic_1"),
        (40, "trailing guard tag magic_0"),
        (44, "trailing guard tag magic_1"),
    ],
)
def test_corrupted_tag_raises_naming_block_and_tag(offset: int, tag: str) -> None:
    heap = make()
    p = heap.kmalloc(40)
    assert p is not None
    heap.memory.write_u32(p + offset, 0xDEADBEEF)
    before = snapshot(heap)
    with pytest.raises(HeapCorruption, match=rf"kfree\({p:#x}\).*{tag}.*0xdeadbeef"):
        heap.kfree(p)
    assert snapshot(heap) == before
    with pytest.raises(HeapCorruption):
        heap.check()
    # repairing the tag makes the block freeable again
    want = {-24: MAGIC_0, -20: MAGIC_1, -16: 128, -12: 40, -8: MAGIC_0, -4: MAGIC_1}
    heap.memory.write_u32(p + offset, want.get(offset, MAGIC_0 if offset == 40 else MAGIC_1))
    heap.kfree(p)
    heap.check()


def test_buffer_overrun_is_caught() -> None:
    heap = make()
    p = heap.kmalloc(13)  # 16 usable bytes
    assert p is not None
    heap.memory.write(p, b"A" * 17)
    with pytest.raises(HeapCorruption, match="trailing"):
        heap.kfree(p)


def test_double_free_and_bad_pointers_change_nothing() -> None:
    heap = make()
    p = heap.kmalloc(8)
    q = heap.kmalloc(8)
    assert p is not None and q is not None
    heap.kfree(p)
    before = snapshot(heap)
    with pytest.raises(DoubleFree, match=f"{p:#x}"):
        heap.kfree(p)
    with pytest.raises(InvalidPointer, match=f"{q + 4:#x}"):
        heap.kfree(q + 4)
    with pytest.raises(InvalidPointer):
        heap.krealloc(q + 4, 10)
    assert snapshot(heap) == before
    with pytest.raises(TypeError, match="'0x10'"):
        heap.kfree("0x10")  # type: ignore[arg-type]
    heap.kfree(None)
    assert snapshot(heap) == before


def test_use_after_free_of_a_link_is_detected() -> None:
    heap = make()
    a = heap.kmalloc(1)
    b = heap.kmalloc(1)
    assert a is not None and b is not None
    heap.kfree(a)
    heap.kfree(b)
    heap.memory.write_u32(b - 24, 0x12345)  # scribble on the free object's link
    before = snapshot(heap)
    with pytest.raises(HeapCorruption, match="0x12345"):
        heap.kmalloc(1)
    assert snapshot(heap) == before
    with pytest.raises(AssertionError):
        heap.check()


def test_krealloc_moves_and_frees_the_old_block() -> None:
    heap = make()
    p = heap.kmalloc(20)
    assert p is not None
    heap.memory.write(p, bytes(range(20)))
    q = heap.krealloc(p, 200)
    assert q is not None and q != p
    assert heap.memory.read(q, 20) == bytes(range(20))
    assert heap.live_blocks == 1  # the original leaks here; ours frees it
    with pytest.raises(DoubleFree):
        heap.kfree(p)
    r = heap.krealloc(q, 8)
    assert r is not None
    assert heap.memory.read(r, 8) == bytes(range(8))
    assert heap.krealloc(r, 0) is None
    assert heap.live_blocks == 0
    s = heap.krealloc(None, 5)
    assert s is not None and heap.live_blocks == 1
    heap.check()


def test_krealloc_failure_keeps_the_old_block() -> None:
    heap = make(pages=1)
    p = heap.kmalloc(100)
    assert p is not None
    heap.memory.write(p, b"keep" * 25)
    before = snapshot(heap)
    assert heap.krealloc(p, 3000) is None
    assert snapshot(heap) == before
    assert heap.memory.read(p, 100) == b"keep" * 25
    heap.check()


class CountingMemory(PhysicalMemory):
    """PhysicalMemory that counts its read and write calls."""

    calls = 0

    def read(self, addr: int, n: int) -> bytes:
        self.calls += 1
        return super().read(addr, n)

    def write(self, addr: int, data: bytes | bytearray | memoryview) -> None:
        self.calls += 1
        super().write(addr, data)


@pytest.mark.parametrize("live", [10, 1000, 20000])
def test_alloc_and_free_touch_memory_a_constant_number_of_times(live: int) -> None:
    """O(1): kmalloc and kfree do the same memory accesses whatever the number of live blocks."""
    mem = CountingMemory(8 << 20)
    heap = SlabHeap(mem, PageAllocator(0, 8 << 20))
    blocks = [heap.kmalloc(40) for _ in range(live)]
    # make sure the next allocation does not refill
    extra = [heap.kmalloc(40) for _ in range(8)]
    for p in extra:
        heap.kfree(p)
    mem.calls = 0
    p = heap.kmalloc(40)
    assert mem.calls == 3  # link read, header write, trailer write; nothing else
    mem.calls = 0
    heap.kfree(p)
    assert mem.calls == 3  # header read, trailer read, link write
    assert blocks[-1] is not None


class SlabMachine(RuleBasedStateMachine):
    """kmalloc / kfree / krealloc with data patterns; check() after every step."""

    blocks = Bundle("blocks")

    def __init__(self) -> None:
        super().__init__()
        self.heap = make(pages=160)
        self.data: dict[int, bytes] = {}
        self.freed: list[int] = []
        self.tag = 0

    def _fill(self, p: int, n: int) -> None:
        self.tag = (self.tag + 1) % 251
        pattern = bytes((self.tag + k) % 256 for k in range(n))
        self.heap.memory.write(p, pattern)
        self.data[p] = pattern

    @rule(target=blocks, n=st.one_of(st.integers(0, 300), st.integers(301, 70_000)))
    def kmalloc(self, n: int) -> object:
        p = self.heap.kmalloc(n)
        if p is None:
            return None
        assert p not in self.data
        assert self.heap.usable_size(p) >= n
        self._fill(p, n)
        return p

    @rule(p=consumes(blocks))
    def kfree(self, p: int | None) -> None:
        if p is None:
            return
        assert self.heap.memory.read(p, len(self.data[p])) == self.data[p]
        self.heap.kfree(p)
        del self.data[p]
        self.freed.append(p)

    @rule(target=blocks, p=consumes(blocks), n=st.integers(1, 5000))
    def krealloc(self, p: int | None, n: int) -> object:
        if p is None:
            return None
        old = self.data[p]
        q = self.heap.krealloc(p, n)
        if q is None:
            assert self.heap.memory.read(p, len(old)) == old
            return p
        keep = min(len(old), n)
        assert self.heap.memory.read(q, keep) == old[:keep]
        del self.data[p]
        self._fill(q, n)
        return q

    @precondition(lambda self: self.freed)
    @rule(data=st.data())
    def double_free(self, data: st.DataObject) -> None:
        p = data.draw(st.sampled_from(self.freed))
        if p in self.data:
            return
        before = snapshot(self.heap)
        with pytest.raises(InvalidPointer):
            self.heap.kfree(p)
        assert snapshot(self.heap) == before

    @invariant()
    def check(self) -> None:
        self.heap.check()
        assert self.heap.live_blocks == len(self.data)
        for p, pattern in self.data.items():
            assert self.heap.memory.read(p, len(pattern)) == pattern


TestSlabMachine = SlabMachine.TestCase
TestSlabMachine.settings = settings(max_examples=30, stateful_step_count=40, deadline=None)


def test_nil_is_not_a_page_address() -> None:
    assert NIL % PAGE != 0


def test_bench_is_registered_and_reports_flat_cost() -> None:
    from mmaccel.verif.bench.model import MODEL_BENCHES
    from mmaccel.verif.bench.pools import bench_slab

    assert bench_slab in MODEL_BENCHES
    figures = bench_slab(seconds=0.1)
    for key in ("slab_ops_per_s", "slab_ns_per_op_1k_live", "slab_ns_per_op_100k_live"):
        value = figures[key]
        assert isinstance(value, int) and value > 0, key
