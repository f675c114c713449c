"""``translate_per_s``: Sv32 page-table walks per second of the reference model."""

from __future__ import annotations

import random

from mmaccel.sw import MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, Kernel
from mmaccel.sw.gran import PageAllocator
from mmaccel.sw.memory import PhysicalMemory
from mmaccel.sw.sv32 import PAGE_SIZE, Access, Priv
from mmaccel.verif.bench.timing import Figures
from mmaccel.verif.bench.timing import timed as _timed

__all__ = ["bench_translate"]


def bench_translate(seconds: float = 1.0, seed: int = 4) -> Figures:
    """Translate random addresses of a process: 256 mmap'ed 4 KiB pages and a 4 MiB megapage.

    Every walk reads the page tables from PhysicalMemory, as the hardware MMU does; a quarter
    of the accesses are stores, and every result is checked against the mapping.
    """
    rng = random.Random(seed)
    mem = PhysicalMemory(4 << 20)
    pages = PageAllocator(0, 4 << 20)
    kernel = Kernel(mem, pages)
    proc = kernel.spawn(1, 1)
    space = proc.address_space
    va = proc.mmap(0, 256 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    frames = proc.regions()[0].frames
    io = kernel.ioremap(0x4000_0000, 4 << 20)
    work: list[tuple[int, int, Access, Priv]] = []
    for _ in range(1000):
        if rng.random() < 0.8:
            i = rng.randrange(256)
            off = rng.randrange(PAGE_SIZE)
            work.append((va + i * PAGE_SIZE + off, frames[i] + off, Access.LOAD, Priv.U))
        else:
            off = rng.randrange(4 << 20)
            work.append((io + off, 0x4000_0000 + off, Access.LOAD, Priv.S))
        if rng.random() < 0.25:
            v, p, _, priv = work[-1]
            work[-1] = (v, p, Access.STORE, priv)
    translate = space.translate

    def batch() -> int:
        for v, p, access, priv in work:
            if translate(v, access, priv) != p:
                raise AssertionError(f"translate({v:#x}) != {p:#x}")
        return len(work)

    count, elapsed = _timed(batch, seconds)
    return {"translate_per_s": round(count / elapsed)}
