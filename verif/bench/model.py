"""Throughput of the software model: the benchmarks of ``mmaccel bench model``.

Each benchmark is a function returning a dict of figures, timed with
:func:`~mmaccel.verif.bench.timing.timed`; :data:`MODEL_BENCHES` lists them and
:func:`run_model_benches` merges their results into one object. Every benchmark is
deterministic (seeded) and sized to run in a few seconds.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable

from .pools import bench_iob, bench_slab
from .timing import Figures, timed
from .vm import bench_translate

__all__ = [
    "MODEL_BENCHES",
    "MODEL_TARGETS",
    "Figures",
    "bench_gran",
    "bench_heap",
    "check_targets",
    "run_model_benches",
    "timed",
]


def bench_heap(seed: int = 1, seconds: float = 1.0) -> Figures:
    """malloc/free/realloc mix over a 1 MiB heap holding about 1000 live blocks."""
    from mmaccel.sw.heap import Heap
    from mmaccel.sw.memory import PhysicalMemory

    rng = random.Random(seed)
    mem = PhysicalMemory(1 << 20)
    heap = Heap(mem, 0, 1 << 20)
    live: list[int] = []
    while len(live) < 1000:
        p = heap.malloc(rng.randint(1, 700))
        assert p is not None
        live.append(p)

    def batch() -> int:
        for _ in range(1000):
            r = rng.random()
            i = rng.randrange(len(live))
            if r < 0.45:
                heap.free(live[i])
                live[i] = live[-1]
                live.pop()
                p = heap.malloc(rng.randint(1, 700))
                if p is not None:
                    live.append(p)
            elif r < 0.9:
                p = heap.malloc(rng.randint(1, 700))
                if p is not None:
                    heap.free(live[i])
                    live[i] = p
            else:
                q = heap.realloc(live[i], rng.randint(1, 900))
                if q is not None:
                    live[i] = q
        return 1000

    count, elapsed = timed(batch, seconds)
    heap.check()
    return {"heap_ops_per_s": round(count / elapsed), "heap_live_blocks": len(live)}


def bench_gran(seed: int = 2, seconds: float = 1.0) -> Figures:
    """Alloc/free churn over 65535 granules held at about 50% occupancy."""
    from mmaccel.sw.gran import GranuleAllocator

    rng = random.Random(seed)
    gran = GranuleAllocator(0, 65535 << 4, 4)
    live: list[tuple[int, int]] = []
    target = gran.ngranules // 2
    used = 0
    while used < target:
        n = rng.randint(1, 32)
        first = gran.alloc_granules(n)
        assert first is not None
        live.append((first, n))
        used += n

    def batch() -> int:
        nonlocal used
        for _ in range(500):
            if used > target or (used >= target // 2 and rng.random() < 0.5):
                i = rng.randrange(len(live))
                p, n = live[i]
                live[i] = live[-1]
                live.pop()
                gran.free_granules(p, n)
                used -= n
            else:
                n = rng.randint(1, 32)
                got = gran.alloc_granules(n)
                if got is not None:
                    live.append((got, n))
                    used += n
        return 500

    count, elapsed = timed(batch, seconds)
    gran.check()
    return {
        "gran_ops_per_s": round(count / elapsed),
        "gran_granules": gran.ngranules,
        "gran_occupancy": round(1 - gran.nfree / gran.ngranules, 3),
    }


#: The benchmarks of ``mmaccel bench model``, in the order they run.
MODEL_BENCHES: list[Callable[..., Figures]] = [
    bench_heap,
    bench_gran,
    bench_slab,
    bench_iob,
    bench_translate,
]


#: The model's speed targets: figure -> (comparison, bound). The SLAB's "flat" claim is the
#: ratio of its cost per kmalloc/kfree at 100,000 live blocks to that at 1,000, measured in one
#: run: the algorithm is O(1), so what grows is only Python's memory hierarchy; 100 times the
#: live blocks may cost at most twice per operation.
MODEL_TARGETS: dict[str, tuple[str, float]] = {
    "heap_ops_per_s": (">=", 50_000),
    "gran_ops_per_s": (">=", 20_000),
    "slab_ops_per_s": (">=", 200_000),
    "slab_cost_ratio_100k_to_1k": ("<=", 2.0),
}


def check_targets(figures: Figures) -> dict[str, dict[str, object]]:
    """For each of :data:`MODEL_TARGETS` present in ``figures``: the figure, the target and
    whether it is met."""
    out: dict[str, dict[str, object]] = {}
    for name, (op, bound) in MODEL_TARGETS.items():
        value = figures.get(name)
        if not isinstance(value, int | float):
            continue
        met = value >= bound if op == ">=" else value <= bound
        out[name] = {"value": value, "target": f"{op} {bound:g}", "met": bool(met)}
    return out


def run_model_benches(seconds: float = 1.0, progress: bool = False) -> Figures:
    """Run every benchmark in :data:`MODEL_BENCHES` and merge their figures.

    With ``progress``, each benchmark's name goes to standard error as it starts.
    """
    out: Figures = {}
    for bench in MODEL_BENCHES:
        if progress:
            print(f"bench: {bench.__name__} ...", file=sys.stderr, flush=True)
        out.update(bench(seconds=seconds))
    return out
