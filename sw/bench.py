"""``mmaccel bench model``: throughput of the software model, printed as JSON.

Each benchmark is a function returning a dict of figures; :data:`MODEL_BENCHES` lists them as
``"module:function"`` and ``mmaccel bench model --json`` merges their results into one object.
Every benchmark is deterministic (seeded) and sized to run in a few seconds.
"""

from __future__ import annotations

import argparse
import importlib
import json
import random
import sys
import time
from collections.abc import Callable

__all__ = ["MODEL_BENCHES", "Figures", "bench_gran", "bench_heap", "run_model_benches", "timed"]

#: What a benchmark returns: figure name -> value.
Figures = dict[str, float | int | str]

#: The benchmarks of ``mmaccel bench model``, in the order they run.
MODEL_BENCHES: list[str] = [
    "mmaccel.sw.bench:bench_heap",
    "mmaccel.sw.bench:bench_gran",
    "mmaccel.sw.bench_slab:bench_slab",
    "mmaccel.sw.bench_slab:bench_iob",
    "mmaccel.sw.bench_vm:bench_translate",
]


def timed(ops: Callable[[], int], min_seconds: float) -> tuple[int, float]:
    """Run ``ops`` (which returns how many operations it did) for ``min_seconds``.

    Every benchmark of ``mmaccel bench model`` measures through this one loop. Time is this
    thread's CPU time (``time.thread_time``), not wall-clock time: the machine is shared, and a
    model benchmark measures the model, not the other processes. The loop also stops after four
    times ``min_seconds`` of wall-clock time. ``ops`` runs at least once.

    Returns
    -------
    count : int
        The operations done (the sum of what ``ops`` returned).
    elapsed : float
        The CPU seconds they took (never 0).
    """
    count = 0
    start = time.thread_time()
    wall_end = time.perf_counter() + 4 * min_seconds
    while True:
        count += ops()
        elapsed = time.thread_time() - start
        if elapsed >= min_seconds or time.perf_counter() >= wall_end:
            return count, max(elapsed, 1e-9)


# The name that sw/bench_vm.py imports; new code uses `timed`.
_timed = timed


def bench_heap(seed: int = 1, seconds: float = 1.0) -> Figures:
    """malloc/free/realloc mix over a 1 MiB heap holding about 1000 live blocks."""
    from .heap import Heap
    from .memory import PhysicalMemory

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
    from .gran import GranuleAllocator

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


def run_model_benches(seconds: float = 1.0, progress: bool = False) -> Figures:
    """Run every benchmark in :data:`MODEL_BENCHES` and merge their figures."""
    out: Figures = {}
    for target in MODEL_BENCHES:
        module_name, func_name = target.split(":")
        func = getattr(importlib.import_module(module_name), func_name)
        if progress:
            print(f"bench: {func_name} ...", file=sys.stderr, flush=True)
        out.update(func(seconds=seconds))
    return out


def configure_cli(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--seconds", type=float, default=1.0, help="time per benchmark (default: 1.0)"
    )
    parser.set_defaults(func=_run_cli)


def _run_cli(args: argparse.Namespace) -> int:
    figures = run_model_benches(args.seconds, progress=not args.json)
    if args.json:
        print(json.dumps(figures))
    else:
        width = max(len(k) for k in figures)
        for key, value in figures.items():
            print(f"{key:<{width}}  {value}")
    return 0
