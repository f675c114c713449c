"""Property tests of the heap model: random operation streams, check() after every step."""

from __future__ import annotations

from dataclasses import dataclass

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule

from mmaccel.sw import DoubleFree, Heap, InvalidPointer, PhysicalMemory


@dataclass
class Block:
    addr: int
    size: int
    tag: int


def pattern(tag: int, n: int) -> bytes:
    """A byte pattern that differs between blocks: the block's tag, repeated."""
    word = tag.to_bytes(4, "little")
    return (word * (n // 4 + 1))[:n]


class HeapMachine(RuleBasedStateMachine):
    """Random malloc/zalloc/calloc/memalign/realloc/free on one heap configuration."""

    pointer_size = 4
    small = False
    nuttx_quirks = False
    region = (0x1008, 0x3FF0)  # deliberately not chunk aligned

    blocks = Bundle("blocks")

    def __init__(self) -> None:
        super().__init__()
        self.heap = Heap(
            PhysicalMemory(0x6000),
            *self.region,
            pointer_size=self.pointer_size,
            small=self.small,
            nuttx_quirks=self.nuttx_quirks,
        )
        self.live: dict[int, Block] = {}
        self.tags = 0

    def _new(self, addr: int, n: int) -> Block:
        self.tags += 1
        block = Block(addr, n, self.tags)
        self.heap.memory.write(addr, pattern(block.tag, n))
        assert addr not in self.live
        self.live[addr] = block
        return block

    def _verify(self, block: Block, n: int | None = None) -> None:
        n = block.size if n is None else n
        assert self.heap.memory.read(block.addr, n) == pattern(block.tag, block.size)[:n]

    def _placed(self, addr: int, n: int) -> None:
        """A new block lies inside a region and overlaps no live block."""
        h = self.heap.allocnode
        assert any(b + 2 * h <= addr and addr + n <= e - h for b, e in self.heap.regions)
        assert self.heap.malloc_size(addr) >= n
        for other in self.live.values():
            assert addr + n <= other.addr or other.addr + other.size <= addr

    sizes = st.one_of(st.integers(1, 64), st.integers(65, 1500))

    @rule(target=blocks, n=sizes)
    def malloc(self, n: int) -> Block | None:
        p = self.heap.malloc(n)
        if p is None:  # only when no free chunk holds ALIGN_UP(n + header)
            mc = self.heap.min_chunk
            assert self.heap.mallinfo().mxordblk < -(-(n + self.heap.allocnode) // mc) * mc
            return None
        self._placed(p, n)
        return self._new(p, n)

    @rule(target=blocks, n=sizes)
    def zalloc(self, n: int) -> Block | None:
        p = self.heap.zalloc(n)
        if p is None:
            return None
        self._placed(p, n)
        assert self.heap.memory.read(p, n) == bytes(n)
        return self._new(p, n)

    @rule(target=blocks, n=st.integers(1, 20), m=st.integers(1, 40))
    def calloc(self, n: int, m: int) -> Block | None:
        p = self.heap.calloc(n, m)
        if p is None:
            return None
        assert self.heap.memory.read(p, n * m) == bytes(n * m)
        self._placed(p, n * m)
        return self._new(p, n * m)

    @rule(target=blocks, shift=st.integers(0, 10), n=st.integers(1, 300))
    def memalign(self, shift: int, n: int) -> Block | None:
        p = self.heap.memalign(1 << shift, n)
        if p is None:
            return None
        if not self.nuttx_quirks or (1 << shift) > self.heap.min_chunk:
            assert p % (1 << shift) == 0
        self._placed(p, n)
        return self._new(p, n)

    @rule(target=blocks, block=consumes(blocks), n=st.integers(1, 1200))
    def realloc(self, block: Block | None, n: int) -> Block | None:
        if block is None:
            return None
        self._verify(block)
        del self.live[block.addr]
        before = self.heap.mallinfo()
        q = self.heap.realloc(block.addr, n)
        if q is None:  # failed: the old block is untouched and still live
            assert self.heap.mallinfo() == before
            self._verify(block)
            self.live[block.addr] = block
            return block
        keep = min(n, block.size)
        assert self.heap.memory.read(q, keep) == pattern(block.tag, block.size)[:keep]
        self._placed(q, n)
        return self._new(q, n)

    @rule(block=consumes(blocks))
    def free(self, block: Block | None) -> None:
        if block is None:
            self.heap.free(None)
            return
        self._verify(block)
        del self.live[block.addr]
        self.heap.free(block.addr)
        assert not self.heap.is_live(block.addr)

    @rule(block=consumes(blocks))
    def realloc_to_zero(self, block: Block | None) -> None:
        if block is None:
            return
        self._verify(block)
        del self.live[block.addr]
        assert self.heap.realloc(block.addr, 0) is None

    @rule(offset=st.integers(1, 7))
    def free_inside_a_block_is_refused(self, offset: int) -> None:
        if not self.live:
            return
        block = next(iter(self.live.values()))
        before = self.heap.memory.read(0, self.heap.memory.size), self.heap.mallinfo()
        try:
            self.heap.free(block.addr + offset)
        except InvalidPointer as error:
            assert not isinstance(error, DoubleFree)
        else:
            raise AssertionError("free inside a block was accepted")
        assert (self.heap.memory.read(0, self.heap.memory.size), self.heap.mallinfo()) == before

    @invariant()
    def consistent(self) -> None:
        self.heap.check()  # walks memory: headers, guards, free list, mallinfo
        mi = self.heap.mallinfo()
        assert mi.uordblks + mi.fordblks == mi.arena
        assert mi.aordblks == len(self.live) + 1
        for block in self.live.values():
            assert self.heap.is_live(block.addr)


SETTINGS = settings(max_examples=40, stateful_step_count=40, deadline=None)


class P8Machine(HeapMachine):
    pointer_size = 8


class SmallMachine(HeapMachine):
    small = True


class QuirksMachine(HeapMachine):
    pointer_size = 8
    nuttx_quirks = True


TestHeapP4 = HeapMachine.TestCase
TestHeapP4.settings = SETTINGS
TestHeapP8 = P8Machine.TestCase
TestHeapP8.settings = SETTINGS
TestHeapSmall = SmallMachine.TestCase
TestHeapSmall.settings = SETTINGS
TestHeapQuirks = QuirksMachine.TestCase
TestHeapQuirks.settings = settings(max_examples=20, stateful_step_count=40, deadline=None)
