"""The blocking paths of the I/O buffer pool, with real threads.

Every wait has a timeout and every join is bounded, so a bug fails the test instead of hanging.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from mmaccel.sw import Iob, IobNoMemory, IobPool, PhysicalMemory

JOIN = 10.0  # seconds a thread may take before the test fails


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """Switch threads every 10 us instead of 5 ms, so the threads really interleave."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(old)


def make(nbuffers: int = 4, bufsize: int = 32, **kw: int) -> IobPool:
    return IobPool(PhysicalMemory(1 << 16), 0x100, nbuffers, bufsize, **kw)


def start(target: Callable[[], None]) -> threading.Thread:
    t = threading.Thread(target=target, daemon=True)
    t.start()
    return t


def join_all(threads: list[threading.Thread]) -> None:
    deadline = time.monotonic() + JOIN
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    stuck = [t.name for t in threads if t.is_alive()]
    assert not stuck, f"threads still running after {JOIN} s: {stuck}"


def wait_for(cond: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + JOIN
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.001)


def drain(pool: IobPool) -> list[Iob]:
    out = []
    while (b := pool.tryalloc()) is not None:
        out.append(b)
    return out


def test_alloc_blocks_until_a_free_and_gets_that_buffer() -> None:
    pool = make()
    held = drain(pool)
    got: list[Iob | None] = []
    t = start(lambda: got.append(pool.alloc(timeout=JOIN)))
    wait_for(lambda: pool.waiting() == 1, "the caller to block")
    assert got == []
    pool.free(held[1])
    join_all([t])
    assert got == [held[1]]
    assert pool.navail() == 0  # handed over, never back in the pool
    assert pool.waiting() == 0
    pool.check()


def test_waiters_are_served_in_arrival_order() -> None:
    pool = make()
    held = drain(pool)
    got: dict[int, Iob | None] = {}
    threads = []

    def waiter(k: int) -> Callable[[], None]:
        return lambda: got.__setitem__(k, pool.alloc(timeout=JOIN))

    for k in range(3):
        threads.append(start(waiter(k)))
        wait_for(lambda: pool.waiting() == len(threads), f"waiter {k}")

    def served(n: int) -> Callable[[], bool]:
        return lambda: len(got) >= n

    for k in range(3):
        pool.free(held[k])
        wait_for(served(k + 1), f"waiter {k} to be served")
        assert got[k] is held[k]
        assert set(got) == set(range(k + 1))  # nobody behind it was served first
    join_all(threads)
    pool.check()


def test_timeout_returns_none_and_changes_nothing() -> None:
    pool = make()
    held = drain(pool)
    t0 = time.monotonic()
    assert pool.alloc(timeout=0.05) is None
    assert time.monotonic() - t0 >= 0.05
    assert pool.waiting() == 0
    pool.free(held[0])
    assert pool.navail() == 1  # no stale waiter took it
    pool.check()


def test_throttled_waiter_does_not_take_the_reserve() -> None:
    pool = make(4, throttle=2)
    held = drain(pool)
    got: dict[str, Iob | None] = {}
    tt = start(lambda: got.__setitem__("throttled", pool.alloc(True, timeout=JOIN)))
    wait_for(lambda: pool.waiting() == 1, "the throttled caller")
    tu = start(lambda: got.__setitem__("plain", pool.alloc(False, timeout=JOIN)))
    wait_for(lambda: pool.waiting() == 2, "the plain caller")
    # the first free would leave the pool below its reserve for the throttled caller:
    # it goes to the plain caller behind it
    pool.free(held[0])
    wait_for(lambda: "plain" in got, "the plain caller to be served")
    assert got["plain"] is held[0] and "throttled" not in got
    pool.free(held[1])  # pool: 1 free, reserve 2: still not for the throttled caller
    pool.free(held[2])  # pool: 2 free: the next may go to the throttled caller
    assert "throttled" not in got and pool.navail() == 2
    pool.free(held[3])
    wait_for(lambda: "throttled" in got, "the throttled caller to be served")
    assert got["throttled"] is held[3]
    assert pool.navail() == 2
    join_all([tt, tu])
    pool.check()


def test_blocking_copyin_and_add_queue() -> None:
    pool = make(4, 16, nchains=1)
    a = pool.tryalloc()
    assert a is not None
    others = drain(pool)
    result: list[int] = []
    t = start(lambda: result.append(pool.copyin(a, bytes(range(40)), timeout=JOIN)))
    wait_for(lambda: pool.waiting() == 1, "copyin to block")
    pool.free(others[0])
    wait_for(lambda: pool.waiting() == 1 and pool.navail() == 0, "copyin to wait again")
    pool.free(others[1])
    join_all([t])
    assert result == [40]
    assert pool.copyout(a, 100) == bytes(range(40))
    q = pool.queue()
    pool.add_queue(others[2], q)
    done: list[bool] = []

    def add() -> None:
        pool.add_queue(a, q, timeout=JOIN)
        done.append(True)

    t = start(add)
    time.sleep(0.02)
    assert done == []
    assert pool.remove_queue(q) is others[2]
    join_all([t])
    assert done == [True] and pool.peek_queue(q) is a
    with pytest.raises(IobNoMemory):
        pool.add_queue(others[2], q, timeout=0.01)
    pool.check()


@pytest.mark.parametrize(
    ("throttled_0", "throttled_1"), [(False, False), (False, True), (True, True)]
)
@pytest.mark.usefixtures("fast_switching")
def test_nuttx_apps_race(throttled_0: bool, throttled_1: bool) -> None:
    """apps/testing/mm/iob: two threads each alloc and trycopyin a whole pool's worth of data;
    one may fail with -ENOMEM, data that went in comes out intact, nothing is lost."""
    nbuffers, bufsize, throttle = 8, 64, 2
    pool = make(nbuffers, bufsize, throttle=throttle)
    counts = {0: [0, 0], 1: [0, 0]}
    errors: list[BaseException] = []

    def worker(idx: int, throttled: bool) -> None:
        size = bufsize * (nbuffers - (throttle if throttled else 0))
        try:
            for i in range(150):
                iob = pool.alloc(throttled, timeout=JOIN)
                assert iob is not None, "alloc timed out"
                data = bytes((i & j) & 0xFF for j in range(size))
                try:
                    pool.trycopyin(iob, data, 0, throttled)
                except IobNoMemory:
                    counts[idx][0] += 1
                    pool.free_chain(iob)
                    continue
                counts[idx][1] += 1
                assert pool.copyout(iob, size) == data
                pool.free_chain(iob)
        except BaseException as e:  # report in the main thread
            errors.append(e)

    threads = [start(lambda: worker(0, throttled_0)), start(lambda: worker(1, throttled_1))]
    join_all(threads)
    assert not errors, errors
    assert counts[0][1] + counts[1][1] > 0
    assert pool.navail() == nbuffers
    pool.check()


@pytest.mark.usefixtures("fast_switching")
def test_stress_producers_and_consumers() -> None:
    """Several producers and consumers share a small pool and queue for a bounded time: no
    buffer is ever held twice, every packet arrives intact, none is lost."""
    pool = make(8, 24, nchains=3, throttle=2)
    q = pool.queue()
    held: set[int] = set()
    lock = threading.Lock()
    problems: list[str] = []
    sent: list[int] = []
    received: list[int] = []
    producers_done = threading.Event()
    per_producer = 120

    def take(iob: Iob) -> None:
        with lock:
            for b in iob.chain():
                if b.index in held:
                    problems.append(f"buffer #{b.index} held twice")
                held.add(b.index)

    def give_back(iob: Iob) -> None:
        with lock:
            for b in iob.chain():
                held.discard(b.index)
        pool.free_chain(iob)

    def producer(pid: int) -> None:
        try:
            for seq in range(per_producer):
                iob = pool.alloc(throttled=pid % 2 == 1, timeout=JOIN)
                if iob is None:
                    problems.append(f"producer {pid}: alloc timed out")
                    return
                tag = pid * 10_000 + seq
                body = tag.to_bytes(4, "little") * (1 + (seq % 12))
                pool.copyin(iob, body, timeout=JOIN)
                take(iob)
                pool.add_queue(iob, q, timeout=JOIN)
                with lock:
                    sent.append(tag)
        except Exception as e:
            problems.append(f"producer {pid}: {e!r}")

    def consumer() -> None:
        try:
            while True:
                iob = pool.remove_queue(q)
                if iob is None:
                    if producers_done.is_set() and len(q) == 0:
                        return
                    time.sleep(0.0005)
                    continue
                data = pool.copyout(iob, 1 << 16)
                tag = int.from_bytes(data[:4], "little")
                if data != tag.to_bytes(4, "little") * (len(data) // 4) or len(data) % 4:
                    problems.append(f"packet {tag} corrupted")
                with lock:
                    received.append(tag)
                give_back(iob)
        except Exception as e:
            problems.append(f"consumer: {e!r}")

    prods = [threading.Thread(target=producer, args=(p,), daemon=True) for p in range(4)]
    cons = [threading.Thread(target=consumer, daemon=True) for _ in range(3)]
    for t in [*prods, *cons]:
        t.start()
    join_all(prods)
    producers_done.set()
    join_all(cons)
    assert not problems, problems[:5]
    assert sorted(sent) == sorted(received)
    assert len(received) == 4 * per_producer
    assert not held
    assert pool.navail() == pool.nbuffers and pool.qentry_navail() == pool.nchains
    assert pool.waiting() == 0
    assert pool.total_waits > 0, "no producer ever had to wait: the test did not contend"
    pool.check()
