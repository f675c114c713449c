"""Benchmarks of the SLAB heap and the I/O buffer pool for ``mmaccel bench model``.

``bench_slab`` measures kmalloc/kfree churn with 1,000 and with 100,000 live blocks: the two
costs per operation stay about the same, which shows that allocation and free are O(1) in the
number of live objects. ``bench_iob`` measures a packet workload on the I/O buffer pool.
Both are seeded and deterministic in the work they do.

Both time their work with :func:`mmaccel.verif.bench.timing.timed`: the benchmark thread's CPU time,
``seconds`` of it or four times that of wall-clock time, whichever ends first.
"""

from __future__ import annotations

import random

from mmaccel.sw.btpage import BtPages
from mmaccel.sw.gran import PageAllocator
from mmaccel.sw.iob import IobPool
from mmaccel.sw.memory import PhysicalMemory
from mmaccel.sw.slab import SlabHeap
from mmaccel.verif.bench.timing import Figures, timed

__all__ = ["bench_iob", "bench_slab", "slab_churn"]


def slab_churn(live: int, seconds: float, seed: int = 3) -> tuple[float, SlabHeap]:
    """Hold ``live`` blocks (1..200 bytes) and replace random ones for ``seconds``.

    Returns the mean cost of one kmalloc or kfree in nanoseconds, and the heap.
    """
    rng = random.Random(seed)
    mem_size = max(4 << 20, live * 400)
    mem = PhysicalMemory(mem_size)
    heap = SlabHeap(mem, BtPages(PageAllocator(0, mem_size)))
    blocks: list[int] = []
    for _ in range(live):
        p = heap.kmalloc(rng.randint(1, 200))
        assert p is not None
        blocks.append(p)
    sizes = [rng.randint(1, 200) for _ in range(4096)]
    picks = [rng.randrange(live) for _ in range(4096)]
    kmalloc = heap.kmalloc
    kfree = heap.kfree

    def batch() -> int:
        for k in range(4096):
            i = picks[k]
            kfree(blocks[i])
            p = kmalloc(sizes[k])
            assert p is not None
            blocks[i] = p
        return 2 * 4096

    ops, elapsed = timed(batch, seconds)
    return elapsed * 1e9 / ops, heap


def bench_slab(seconds: float = 1.0) -> Figures:
    """kmalloc/kfree per second, and ns per operation at 1,000 and 100,000 live blocks."""
    ns_1k, heap_1k = slab_churn(1000, seconds / 2)
    ns_100k, heap_100k = slab_churn(100_000, seconds / 2)
    heap_1k.check()
    heap_100k.check()
    return {
        "slab_ops_per_s": round(1e9 / ns_1k),
        "slab_ns_per_op_1k_live": round(ns_1k),
        "slab_ns_per_op_100k_live": round(ns_100k),
        "slab_cost_ratio_100k_to_1k": round(ns_100k / ns_1k, 2),
    }


def bench_iob(seconds: float = 1.0, seed: int = 4) -> Figures:
    """Packets of 1..600 bytes through a 64 x 196-byte pool: alloc, copyin, copyout, free_chain.

    ``iob_ops_per_s`` counts those four calls; ``iob_packets_per_s`` whole packets.
    """
    rng = random.Random(seed)
    mem = PhysicalMemory(1 << 16)
    pool = IobPool(mem, 0, 64, 196, throttle=8)
    payloads = [rng.randbytes(rng.randint(1, 600)) for _ in range(256)]

    def batch() -> int:
        for data in payloads:
            iob = pool.tryalloc()
            assert iob is not None
            pool.copyin(iob, data)
            if pool.copyout(iob, len(data)) != data:
                raise AssertionError("iob bench: data read back differs")
            pool.free_chain(iob)
        return len(payloads)

    packets, elapsed = timed(batch, seconds)
    pool.check()
    return {
        "iob_ops_per_s": round(4 * packets / elapsed),
        "iob_packets_per_s": round(packets / elapsed),
    }
