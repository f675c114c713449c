"""NuttX's I/O buffers (mmaccel.sw.iob): the facts of NuttX's own IOB tests, chain and queue
operations, errors, and a property test with check() after every step."""

from __future__ import annotations

import errno

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
    InvalidArgument,
    InvalidPointer,
    Iob,
    IobNoMemory,
    IobNoSpace,
    IobPool,
    IobSeekError,
    PhysicalMemory,
)

BASE = 0x400


def make(nbuffers: int = 8, bufsize: int = 196, **kw: int) -> IobPool:
    return IobPool(PhysicalMemory(1 << 16), BASE, nbuffers, bufsize, **kw)


def snapshot(pool: IobPool) -> tuple[object, ...]:
    return (
        pool.memory.read(pool.base, pool.size),
        pool.navail(),
        pool.qentry_navail(),
    )


def shape(iob: Iob | None) -> list[tuple[int, int]]:
    return [] if iob is None else [(b.io_len, b.io_offset) for b in iob.chain()]


def packet(pool: IobPool, iob: Iob) -> bytes:
    return pool.copyout(iob, 1 << 20)


# -- NuttX's own tests ------------------------------------------------------------------------


@pytest.mark.parametrize(("nbuffers", "bufsize"), [(8, 196), (16, 128), (5, 1500)])
def test_nuttx_apps_iob_test_facts(nbuffers: int, bufsize: int) -> None:
    """apps/testing/mm/iob/iob_main.c: io_pktlen / io_offset / io_len after each step."""
    m1, m2 = 47, 49
    total = bufsize * nbuffers
    test_size = total - m1
    pool = make(nbuffers, bufsize)
    buffer1 = bytes(i & 0xFF for i in range(total))
    iob = pool.alloc()
    assert iob is not None

    assert pool.copyin(iob, b"\xff" * m1, 0) == m1
    assert (iob.io_pktlen, iob.io_offset, iob.io_len) == (m1, 0, m1)

    pool.copyin(iob, buffer1[:test_size], m1)
    assert (iob.io_pktlen, iob.io_offset, iob.io_len) == (total, 0, bufsize)
    assert pool.navail() == 0  # the whole pool holds the packet
    out = pool.copyout(iob, test_size, m1)
    assert out == buffer1[:test_size]
    assert (iob.io_pktlen, iob.io_offset, iob.io_len) == (total, 0, bufsize)

    iob = pool.trimhead(iob, m1)
    assert iob is not None
    assert (iob.io_pktlen, iob.io_offset, iob.io_len) == (total - m1, m1, bufsize - m1)

    iob = pool.trimtail(iob, m2)
    assert iob is not None
    assert (iob.io_pktlen, iob.io_offset, iob.io_len) == (total - m1 - m2, m1, bufsize - m1)
    out = pool.copyout(iob, test_size, 0)
    assert len(out) == iob.io_pktlen
    assert out == buffer1[: len(out)]

    iob = pool.trimhead(iob, m2)
    assert iob is not None
    assert iob.io_pktlen == total - m1 - 2 * m2
    out = pool.copyout(iob, test_size, 0)
    assert len(out) == iob.io_pktlen
    assert out == buffer1[m2 : m2 + len(out)]

    iob = pool.pack(iob)
    assert iob is not None
    assert iob.io_pktlen == total - m1 - 2 * m2
    assert iob.io_offset == 0
    out = pool.copyout(iob, test_size, 0)
    assert len(out) == iob.io_pktlen
    assert out == buffer1[m2 : m2 + len(out)]

    nbytes = iob.io_pktlen
    pool.reserve(iob, 55)
    assert iob.io_offset == 55 and iob.io_pktlen + 55 == nbytes
    pool.reserve(iob, 28)
    assert iob.io_offset == 28 and iob.io_pktlen + 28 == nbytes

    pool.free_chain(iob)
    assert pool.navail() == nbuffers
    pool.check()


def test_nuttx_mm_iob_test_chain_shapes() -> None:
    """mm/iob/iob_test.c (10.2.0) with 196-byte buffers: the chains its dump_chain prints."""
    pool = make(32, 196)
    buffer1 = bytes(i & 0xFF for i in range(4096))
    iob = pool.alloc()
    assert iob is not None
    pool.copyin(iob, b"\xff" * 47, 0)
    assert shape(iob) == [(47, 0)]
    pool.copyin(iob, buffer1, 47)
    assert iob.io_pktlen == 4143
    assert shape(iob) == [(196, 0)] * 21 + [(27, 0)]
    assert pool.copyout(iob, 4096, 47) == buffer1
    iob = pool.trimhead(iob, 47)
    assert iob is not None
    assert shape(iob)[0] == (149, 47) and iob.io_pktlen == 4096
    iob = pool.trimtail(iob, 493)
    assert iob is not None
    assert iob.io_pktlen == 3603
    # 27 + 196 + 196 + 74 bytes come off the end: three buffers freed, the last keeps 122
    assert shape(iob)[-1] == (122, 0) and len(shape(iob)) == 19
    assert pool.copyout(iob, 4096, 0) == buffer1[:3603]
    iob = pool.trimhead(iob, 1362)
    assert iob is not None
    assert iob.io_pktlen == 2241
    # 149 + 6 * 196 + 37: seven buffers freed, the new head starts 37 bytes in
    assert shape(iob) == [(159, 37)] + [(196, 0)] * 10 + [(122, 0)]
    assert pool.copyout(iob, 4096, 0) == buffer1[1362:3603]
    iob = pool.pack(iob)
    assert iob is not None
    assert shape(iob) == [(196, 0)] * 11 + [(85, 0)]
    assert pool.copyout(iob, 4096, 0) == buffer1[1362:3603]
    while iob is not None:
        iob = pool.free(iob)
    assert pool.navail() == 32
    pool.check()


# -- allocation -------------------------------------------------------------------------------


def test_lifo_free_list_last_buffer_first() -> None:
    pool = make(4)
    got = [pool.tryalloc() for _ in range(4)]
    assert [b.index for b in got if b is not None] == [3, 2, 1, 0]
    assert pool.tryalloc() is None
    b2 = got[1]
    assert b2 is not None
    pool.free(b2)
    again = pool.tryalloc()
    assert again is b2
    # the free list is linked through io_flink in memory
    pool2 = make(3)
    assert pool2.memory.read_u32(pool2.base + 2 * pool2.stride) == pool2.base + pool2.stride
    pool.check()


def test_alloc_resets_the_buffer() -> None:
    pool = make(1)
    a = pool.tryalloc()
    assert a is not None
    pool.copyin(a, b"hello")
    pool.reserve(a, 3)
    pool.free(a)
    b = pool.tryalloc()
    assert b is a
    assert (b.io_len, b.io_offset, b.io_pktlen, b.io_flink) == (0, 0, 0, None)


def test_throttle() -> None:
    pool = make(8, throttle=3)
    assert (pool.navail(), pool.navail(True)) == (8, 5)
    throttled = [pool.tryalloc(True) for _ in range(6)]
    assert throttled[-1] is None and None not in throttled[:5]
    assert (pool.navail(), pool.navail(True)) == (3, 0)
    rest = [pool.tryalloc() for _ in range(4)]
    assert rest[-1] is None and None not in rest[:3]
    assert (pool.navail(), pool.navail(True)) == (0, 0)
    assert pool.alloc(True, timeout=0) is None
    pool.check()


def test_bad_configuration() -> None:
    mem = PhysicalMemory(4096)
    with pytest.raises(InvalidArgument, match="throttle"):
        IobPool(mem, 0, 4, 16, throttle=4)
    with pytest.raises(InvalidArgument, match="nbuffers"):
        IobPool(mem, 0, 0, 16)
    with pytest.raises(InvalidArgument, match="bufsize"):
        IobPool(mem, 0, 4, 70000)
    with pytest.raises(InvalidArgument, match="outside physical memory"):
        IobPool(mem, 0, 100, 196)
    with pytest.raises(InvalidArgument, match="multiple of 4"):
        IobPool(mem, 2, 4, 16)


def test_data_lives_in_physical_memory() -> None:
    pool = make(4, 16)
    iob = pool.tryalloc()
    assert iob is not None
    pool.copyin(iob, b"0123456789abcdefXYZ")
    assert pool.memory.read(iob.data_addr, 16) == b"0123456789abcdef"
    nxt = iob.io_flink
    assert nxt is not None
    assert pool.memory.read(nxt.data_addr, 3) == b"XYZ"
    assert pool.memory.read_u32(iob.addr) == nxt.addr  # io_flink
    assert pool.memory.read_u16(iob.addr + 4) == 16  # io_len
    assert pool.memory.read_u32(iob.addr + 8) == 19  # io_pktlen
    assert iob.data() == b"0123456789abcdef"


# -- chain operations ---------------------------------------------------------------------------


def chain_of(pool: IobPool, data: bytes) -> Iob:
    iob = pool.tryalloc()
    assert iob is not None
    pool.copyin(iob, data)
    return iob


def test_free_returns_next_and_moves_pktlen() -> None:
    pool = make(4, 16)
    iob = chain_of(pool, bytes(40))
    nxt = pool.free(iob)
    assert nxt is not None
    assert (nxt.io_pktlen, nxt.io_len) == (24, 16)
    before = snapshot(pool)
    with pytest.raises(DoubleFree, match=f"#{iob.index}"):
        pool.free(iob)
    with pytest.raises(InvalidPointer):
        pool.copyin(iob, b"x")
    assert snapshot(pool) == before
    pool.free_chain(nxt)
    assert pool.navail() == 4


def test_copyin_overwrites_inside_and_extends_only_the_tail() -> None:
    pool = make(8, 16)
    iob = chain_of(pool, bytes(range(40)))
    pool.trimhead(iob, 0)
    pool.copyin(iob, b"\xee" * 20, 10)  # inside: no change of shape
    assert shape(iob) == [(16, 0), (16, 0), (8, 0)]
    assert packet(pool, iob) == bytes(range(10)) + b"\xee" * 20 + bytes(range(30, 40))
    pool.copyin(iob, b"\xdd" * 30, 35)  # 5 overwritten, 25 appended
    assert iob.io_pktlen == 65
    assert shape(iob) == [(16, 0), (16, 0), (16, 0), (16, 0), (1, 0)]
    pool.check()


def test_copyin_errors_change_nothing() -> None:
    pool = make(3, 16)
    iob = chain_of(pool, b"abc")
    before = snapshot(pool)
    with pytest.raises(IobSeekError) as e:
        pool.copyin(iob, b"x", 4)
    assert e.value.errno == errno.ESPIPE and "4" in str(e.value)
    with pytest.raises(IobNoMemory) as e2:
        pool.trycopyin(iob, bytes(50))  # needs 4 buffers, the pool has 3
    assert e2.value.errno == errno.ENOMEM
    with pytest.raises(IobNoMemory):
        pool.copyin(iob, bytes(50), timeout=0.01)
    with pytest.raises(TypeError, match="bytes-like"):
        pool.copyin(iob, 5)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="-1"):
        pool.copyin(iob, b"x", -1)
    assert snapshot(pool) == before
    assert packet(pool, iob) == b"abc"
    assert pool.trycopyin(iob, bytes(45)) == 45  # exactly the 3 buffers
    assert pool.navail() == 0
    pool.check()


def test_copyout_offsets() -> None:
    pool = make(4, 16)
    data = bytes(range(40))
    iob = chain_of(pool, data)
    assert pool.copyout(iob, 10, 30) == data[30:]
    assert pool.copyout(iob, 100, 40) == b""
    assert pool.copyout(iob, 5, 14) == data[14:19]


def test_trimhead_keeps_one_empty_buffer() -> None:
    pool = make(4, 16)
    iob = chain_of(pool, bytes(40))
    head = pool.trimhead(iob, 100)
    assert head is not None
    assert (head.io_len, head.io_offset, head.io_pktlen, head.io_flink) == (0, 0, 0, None)
    assert pool.navail() == 3
    pool.check()


def test_trimtail_can_free_everything() -> None:
    pool = make(4, 16)
    iob = chain_of(pool, bytes(range(40)))
    iob2 = pool.trimtail(iob, 9)
    assert iob2 is iob and shape(iob) == [(16, 0), (15, 0)]
    assert pool.trimtail(iob, 31) is None
    assert pool.navail() == 4
    pool.check()


def test_concat() -> None:
    pool = make(6, 16)
    a = chain_of(pool, b"A" * 20)
    b = chain_of(pool, b"B" * 5)
    pool.concat(a, b)
    assert (a.io_pktlen, b.io_pktlen) == (25, 0)
    assert packet(pool, a) == b"A" * 20 + b"B" * 5
    before = snapshot(pool)
    with pytest.raises(InvalidArgument, match="share"):
        pool.concat(a, b)
    assert snapshot(pool) == before


def test_pack_frees_emptied_buffers() -> None:
    pool = make(6, 16)
    first = chain_of(pool, bytes(range(20)))
    pool.concat(first, chain_of(pool, bytes(range(20, 30))))
    a = pool.trimhead(first, 5)
    assert a is not None
    assert shape(a) == [(11, 5), (4, 0), (10, 0)]
    packed = pool.pack(a)
    assert packed is not None
    assert shape(packed) == [(15, 0), (10, 0)]
    assert packet(pool, packed) == bytes(range(5, 30))
    assert pool.navail() == 4
    empty = pool.tryalloc()
    assert empty is not None
    assert pool.pack(empty) is None
    pool.check()


def test_contig() -> None:
    pool = make(6, 16)
    a = pool.trimhead(chain_of(pool, bytes(range(40))), 3)
    assert a is not None
    pool.contig(a, 16)
    assert shape(a)[0] == (16, 0)
    assert packet(pool, a) == bytes(range(3, 40))
    before = snapshot(pool)
    with pytest.raises(InvalidArgument, match="17"):
        pool.contig(a, 17)
    small = chain_of(pool, b"xy")
    before = snapshot(pool)
    with pytest.raises(IobNoSpace) as e:
        pool.contig(small, 3)
    assert e.value.errno == errno.ENOSPC
    assert snapshot(pool) == before
    pool.check()


def test_reserve_can_move_the_offset_back() -> None:
    pool = make(2, 64)
    a = chain_of(pool, bytes(range(64)))
    pool.reserve(a, 10)
    assert (a.io_offset, a.io_len, a.io_pktlen) == (10, 54, 54)
    assert packet(pool, a) == bytes(range(10, 64))
    pool.reserve(a, 4)
    assert (a.io_offset, a.io_len, a.io_pktlen) == (4, 60, 60)
    assert packet(pool, a) == bytes(range(4, 64))


def test_clone() -> None:
    pool = make(8, 16)
    a = pool.trimhead(chain_of(pool, bytes(range(40))), 1)
    assert a is not None
    b = pool.tryalloc()
    assert b is not None
    pool.clone(a, b)
    assert packet(pool, b) == bytes(range(1, 40))
    assert shape(b) == [(16, 0), (16, 0), (7, 0)]
    assert b.io_pktlen == 39
    c = pool.tryalloc()
    assert c is not None
    before = snapshot(pool)
    with pytest.raises(InvalidArgument, match="empty"):
        pool.clone(a, b)
    with pytest.raises(IobNoMemory):
        pool.clone(a, c, timeout=0)  # needs 2 more, 1 is free
    assert snapshot(pool) == before
    pool.check()


# -- queues -------------------------------------------------------------------------------------


def test_queue_fifo_and_containers() -> None:
    pool = make(8, 16, nchains=2)
    q = pool.queue()
    a = chain_of(pool, b"a")
    b = chain_of(pool, b"bb")
    c = chain_of(pool, b"ccc")
    assert pool.peek_queue(q) is None and pool.remove_queue(q) is None
    pool.add_queue(a, q)
    pool.tryadd_queue(b, q)
    assert pool.qentry_navail() == 0
    before = snapshot(pool)
    with pytest.raises(IobNoMemory) as e:
        pool.tryadd_queue(c, q)
    assert e.value.errno == errno.ENOMEM
    with pytest.raises(IobNoMemory):
        pool.add_queue(c, q, timeout=0.01)
    assert snapshot(pool) == before and len(q) == 2
    with pytest.raises(InvalidArgument, match="in a queue"):
        pool.free_chain(a)
    with pytest.raises(InvalidArgument, match="in a queue"):
        pool.free(b)
    with pytest.raises(InvalidArgument, match="in a queue"):
        pool.tryadd_queue(a, pool.queue())
    assert snapshot(pool) == before and len(q) == 2
    assert pool.peek_queue(q) is a
    assert pool.remove_queue(q) is a
    assert pool.qentry_navail() == 1
    pool.add_queue(c, q)
    assert [pool.remove_queue(q), pool.remove_queue(q)] == [b, c]
    pool.add_queue(a, q)
    pool.add_queue(b, q)
    pool.free_queue(q)
    assert len(q) == 0 and pool.qentry_navail() == 2
    assert pool.navail() == 7  # c is still held
    pool.check()


# -- property test ------------------------------------------------------------------------------


class IobMachine(RuleBasedStateMachine):
    """Chains with a shadow of their packet bytes; every operation; check() after every step."""

    chains = Bundle("chains")

    def __init__(self) -> None:
        super().__init__()
        self.pool = make(24, 32, nchains=4, throttle=4)
        self.shadow: dict[int, bytes] = {}  # head buffer index -> packet bytes
        self.heads: dict[int, Iob] = {}
        self.queue = self.pool.queue()
        self.queued: list[int] = []
        self.counter = 0

    def _bytes(self, n: int) -> bytes:
        self.counter += 1
        return bytes((self.counter * 7 + k) % 256 for k in range(n))

    def _set(self, old: Iob, new: Iob | None, data: bytes) -> Iob | None:
        del self.shadow[old.index], self.heads[old.index]
        if new is not None:
            self.shadow[new.index] = data
            self.heads[new.index] = new
        return new

    @rule(target=chains, throttled=st.booleans())
    def alloc(self, throttled: bool) -> object:
        avail = self.pool.navail(throttled)
        iob = self.pool.tryalloc(throttled)
        assert (iob is None) == (avail == 0)
        if iob is not None:
            assert (iob.io_len, iob.io_offset, iob.io_pktlen) == (0, 0, 0)
            self.shadow[iob.index] = b""
            self.heads[iob.index] = iob
        return iob

    @rule(iob=chains, n=st.integers(0, 120), where=st.floats(0, 1))
    def copyin(self, iob: Iob | None, n: int, where: float) -> None:
        if iob is None or iob.index not in self.shadow:
            return
        old = self.shadow[iob.index]
        offset = int(len(old) * where)
        data = self._bytes(n)
        before = snapshot(self.pool)
        try:
            assert self.pool.trycopyin(iob, data, offset) == n
        except IobNoMemory:
            assert snapshot(self.pool) == before
            return
        self.shadow[iob.index] = old[:offset] + data + old[offset + n :]

    @rule(iob=chains, extra=st.integers(1, 10))
    def copyin_past_end(self, iob: Iob | None, extra: int) -> None:
        if iob is None or iob.index not in self.shadow:
            return
        before = snapshot(self.pool)
        with pytest.raises(IobSeekError):
            self.pool.copyin(iob, b"x", len(self.shadow[iob.index]) + extra)
        assert snapshot(self.pool) == before

    @rule(iob=chains, n=st.integers(0, 200), offset=st.integers(0, 200))
    def copyout(self, iob: Iob | None, n: int, offset: int) -> None:
        if iob is None or iob.index not in self.shadow:
            return
        assert self.pool.copyout(iob, n, offset) == self.shadow[iob.index][offset : offset + n]

    @rule(target=chains, iob=consumes(chains), n=st.integers(0, 150))
    def trimhead(self, iob: Iob | None, n: int) -> object:
        if iob is None or iob.index not in self.shadow:
            return iob
        data = self.shadow[iob.index]
        new = self.pool.trimhead(iob, n)
        assert new is not None
        return self._set(iob, new, data[n:])

    @rule(target=chains, iob=consumes(chains), n=st.integers(0, 150))
    def trimtail(self, iob: Iob | None, n: int) -> object:
        if iob is None or iob.index not in self.shadow:
            return iob
        data = self.shadow[iob.index]
        new = self.pool.trimtail(iob, n)
        if n == 0:
            assert new is iob
        return self._set(iob, new, data[: max(0, len(data) - n)])

    @rule(target=chains, iob=consumes(chains))
    def pack(self, iob: Iob | None) -> object:
        if iob is None or iob.index not in self.shadow:
            return iob
        data = self.shadow[iob.index]
        new = self.pool.pack(iob)
        assert (new is None) == (data == b"")
        if new is not None:
            assert new.io_offset == 0
        return self._set(iob, new, data)

    @rule(iob=chains, n=st.integers(0, 32))
    def contig(self, iob: Iob | None, n: int) -> None:
        if iob is None or iob.index not in self.shadow:
            return
        data = self.shadow[iob.index]
        if n > len(data):
            before = snapshot(self.pool)
            with pytest.raises(IobNoSpace):
                self.pool.contig(iob, n)
            assert snapshot(self.pool) == before
            return
        self.pool.contig(iob, n)
        assert iob.io_len >= n
        assert iob.data()[:n] == data[:n]

    @rule(a=chains, b=consumes(chains))
    def concat(self, a: Iob | None, b: Iob | None) -> None:
        if a is None or b is None or a.index == b.index:
            return
        if a.index not in self.shadow or b.index not in self.shadow:
            return
        self.pool.concat(a, b)
        self.shadow[a.index] += self.shadow.pop(b.index)
        del self.heads[b.index]

    @rule(target=chains, a=chains)
    def clone(self, a: Iob | None) -> object:
        if a is None or a.index not in self.shadow:
            return None
        b = self.pool.tryalloc()
        if b is None:
            return None
        before = snapshot(self.pool)
        try:
            self.pool.clone(a, b, timeout=0)
        except IobNoMemory:
            assert snapshot(self.pool) == before
            self.pool.free(b)
            return None
        self.shadow[b.index] = self.shadow[a.index]
        self.heads[b.index] = b
        assert b.io_offset == 0
        return b

    @rule(iob=consumes(chains))
    def free_chain(self, iob: Iob | None) -> None:
        if iob is None or iob.index not in self.shadow:
            return
        self.pool.free_chain(iob)
        del self.shadow[iob.index], self.heads[iob.index]

    @rule(iob=consumes(chains))
    def enqueue(self, iob: Iob | None) -> None:
        if iob is None or iob.index not in self.shadow:
            return
        try:
            self.pool.tryadd_queue(iob, self.queue)
        except IobNoMemory:
            assert self.pool.qentry_navail() == 0
            self.pool.free_chain(iob)
            del self.shadow[iob.index], self.heads[iob.index]
            return
        self.queued.append(iob.index)

    @precondition(lambda self: self.queued)
    @rule(target=chains)
    def dequeue(self) -> object:
        i = self.queued.pop(0)
        assert self.pool.peek_queue(self.queue) is self.heads[i]
        got = self.pool.remove_queue(self.queue)
        assert got is self.heads[i]
        return got

    @invariant()
    def consistent(self) -> None:
        self.pool.check()
        held = 0
        for i, data in self.shadow.items():
            head = self.heads[i]
            assert head.io_pktlen == len(data) == sum(b.io_len for b in head.chain())
            assert packet(self.pool, head) == data
            held += sum(1 for _ in head.chain())
        assert held + self.pool.navail() == self.pool.nbuffers


TestIobMachine = IobMachine.TestCase
TestIobMachine.settings = settings(max_examples=40, stateful_step_count=40, deadline=None)


def test_bench_is_registered() -> None:
    from mmaccel.verif.bench.model import MODEL_BENCHES
    from mmaccel.verif.bench.pools import bench_iob

    assert bench_iob in MODEL_BENCHES
    figures = bench_iob(seconds=0.05)
    ops, packets = figures["iob_ops_per_s"], figures["iob_packets_per_s"]
    assert isinstance(ops, int) and isinstance(packets, int)
    assert packets > 0 and abs(ops - 4 * packets) <= 4


def test_requests_that_can_never_be_met_fail_at_once() -> None:
    """More data than the whole pool can ever hold: IobNoMemory at once (no wait, even without
    a timeout), nothing changed."""
    pool = make(nbuffers=4, bufsize=16, throttle=1)
    iob = pool.alloc()
    assert iob is not None
    before = snapshot(pool)
    with pytest.raises(IobNoMemory, match="can ever give"):
        pool.copyin(iob, b"x" * (16 * 4 + 1))  # 5 buffers' worth; the pool has 4
    with pytest.raises(IobNoMemory, match=r"3 more buffers.*1 kept back"):
        pool.copyin(iob, b"x" * (16 * 4), throttled=True)  # 3 more: throttled get at most 2
    assert snapshot(pool) == before
    assert pool.copyin(iob, b"y" * 48) == 48  # 3 buffers: can be met
    other = pool.alloc()
    assert other is not None
    before = snapshot(pool)
    with pytest.raises(IobNoMemory, match="clone of 48 bytes"):
        pool.clone(iob, other)  # 3 held by the source + the destination, 2 more needed
    assert snapshot(pool) == before
