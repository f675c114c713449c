"""A workload for the MMU built by the model: address spaces, vmalloc, mmap, shm, kernel globals.

:class:`Workload` gives streams of accesses with locality and remaps made through the model,
each with the sfence.vma operations (:class:`Flush`) that make the TLB agree.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from mmaccel.sw import (
    IPC_CREAT,
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
    Kernel,
    PageAllocator,
    SharedMemory,
)
from mmaccel.sw.memory import PhysicalMemory
from mmaccel.sw.sv32 import Access, Priv, satp_value
from mmaccel.sw.sv32 import PteFlags as F
from mmaccel.sw.vm import KERNEL_BASE
from mmaccel.verif.mmu.reference import Request

__all__ = ["BROKEN_ASID", "Flush", "Workload"]


@dataclass(frozen=True, slots=True)
class Flush:
    """One sfence.vma: ``va``/``asid`` None when that operand is not given."""

    va: int | None = None
    asid: int | None = None


#: The ASID of :class:`Workload`'s address space whose root table is outside memory.
BROKEN_ASID = 511


class Workload:
    """Page tables built by the model, a stream of accesses with locality, and remaps.

    A kernel (ASID 0) with a global direct-mapped megapage, vmalloc areas and an ioremap; user
    processes (ASIDs 1..``processes``) with mmap regions, a user megapage and a SysV shared
    segment attached in two of them. :meth:`batch` gives accesses in one address space (80%
    to a small working set of pages, the rest anywhere, a few to unmapped addresses);
    :meth:`mutate` changes mappings through the model (munmap + mmap, mprotect, vfree +
    vmalloc, shmdt + shmat, exit + respawn) and returns the sfence.vma operations that make
    the TLB agree.

    Parameters
    ----------
    seed : int
        Everything is derived from it.
    processes : int
        User address spaces, 1..8.
    broken : bool
        Sometimes switch to :data:`BROKEN_ASID`, whose root table lies beyond memory (every
        walk is an access fault).
    """

    def __init__(self, seed: int = 1, processes: int = 4, *, broken: bool = True) -> None:
        if not 1 <= processes <= 8:
            raise ValueError(f"processes must be in 1..8, not {processes}")
        self.rng = random.Random(seed)
        self.broken = broken
        self.memory = PhysicalMemory(4 << 20)
        self.pages = PageAllocator(1 << 20, 3 << 20, 12)
        self.kernel = Kernel(self.memory, self.pages, asid=0)
        self.kernel.space.map(KERNEL_BASE, 0, 4 << 20, F.R | F.W | F.X | F.A | F.D)
        self.vmallocs = [v for v in (self.kernel.vmalloc(3 * 4096) for _ in range(3)) if v]
        self.kernel.ioremap(0x2_0000_0000, 0x3000)
        self.shm = SharedMemory(self.memory, self.pages)
        self.shmid = 0
        self.procs = {}
        for asid in range(1, processes + 1):
            self.procs[asid] = self._spawn(asid)
        self.shmid = self.shm.shmget(self.procs[1], 0x5EED, 2 * 4096, IPC_CREAT | 0o666)
        for asid in list(self.procs)[:2]:
            self.shm.shmat(self.procs[asid], self.shmid)
        self.current = 1
        self.working: list[int] = []

    def _spawn(self, asid: int) -> Any:
        p = self.kernel.spawn(100 + asid, asid)
        for prot in (PROT_READ | PROT_WRITE, PROT_READ | PROT_EXEC, PROT_READ):
            p.mmap(0, self.rng.randint(1, 4) * 4096, prot, MAP_PRIVATE | MAP_ANONYMOUS)
        # a user megapage at 4 MiB (read/execute), device-like physical address above memory
        p.address_space.map(0x0040_0000, 0x1_0000_0000, 4 << 20, F.R | F.X | F.U | F.A)
        return p

    def satp(self, asid: int | None = None) -> int:
        """satp of ``asid`` (the current address space by default).

        ASID :data:`BROKEN_ASID` has its root table beyond the end of memory: every walk ends
        with a bus error (an access fault).
        """
        a = self.current if asid is None else asid
        if a == BROKEN_ASID:
            return satp_value(BROKEN_ASID, (1 << 22) - 1)
        return int(self.kernel.space.satp if a == 0 else self.procs[a].address_space.satp)

    def _mapped(self, asid: int) -> list[int]:
        if asid == BROKEN_ASID:  # user range only: kernel VAs are global, cached from others
            return [0x1000_0000, 0x0040_0000, 0x8000_0000]
        space = self.kernel.space if asid == 0 else self.procs[asid].address_space
        vas = [m.va for m in space.mappings()]
        if asid:
            vas += [m.va for m in self.kernel.space.mappings()]
        return vas

    def switch(self) -> int:
        """Pick another current address space (sometimes the kernel's); return its ASID."""
        choices = [0, *self.procs]
        if self.broken and self.rng.random() < 0.2:
            choices.append(BROKEN_ASID)
        self.current = self.rng.choice(choices)
        pages = self._mapped(self.current)
        self.working = [self.rng.choice(pages) for _ in range(6)]
        return self.current

    def mutate(self) -> list[Flush]:
        """Change some mappings through the model; return the flushes that make them visible.

        The working set then drops the pages that are no longer mapped (a program touches
        what it has mapped).
        """
        flushes = self._mutate()
        pages = self._mapped(self.current)
        live = set(pages)
        self.working = [va if va in live else self.rng.choice(pages) for va in self.working]
        return flushes

    def batch(self, n: int) -> list[Request]:
        """``n`` accesses in the current address space."""
        rng = self.rng
        if not self.working:
            self.switch()
        pages = self._mapped(self.current)
        out = []
        for _ in range(n):
            r = rng.random()
            if r < 0.8:
                va = rng.choice(self.working) + rng.randrange(4096)
            elif r < 0.95:
                va = rng.choice(pages) + rng.randrange(4096)
            else:
                # anywhere (in a space without the kernel's globals: below the kernel range)
                va = rng.randrange(0xC000_0000 if self.current == BROKEN_ASID else 1 << 32)
            out.append(
                Request(
                    va,
                    rng.choice((Access.LOAD, Access.LOAD, Access.STORE, Access.FETCH)),
                    Priv.S if self.current == 0 or rng.random() < 0.2 else Priv.U,
                    rng.random() < 0.3,
                    rng.random() < 0.2,
                )
            )
        return out

    def _mutate(self) -> list[Flush]:
        rng = self.rng
        kind = rng.randrange(5)
        asid = rng.choice(list(self.procs))
        p = self.procs[asid]
        if kind == 0 and p.regions():  # munmap + mmap: flush each page, in that ASID
            reg = rng.choice(p.regions())
            p.munmap(reg.start, reg.size)
            p.mmap(0, rng.randint(1, 4) * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
            return [Flush(reg.start + i, asid) for i in range(0, reg.size, 4096)]
        if kind == 1 and p.regions():  # mprotect: flush the whole ASID
            reg = rng.choice(p.regions())
            prot = rng.choice([PROT_READ, PROT_READ | PROT_WRITE, PROT_READ | PROT_EXEC])
            p.mprotect(reg.start, reg.size, prot)
            return [Flush(None, asid)]
        if kind == 2 and self.vmallocs:  # vfree + vmalloc: global pages, flush va everywhere
            va = self.vmallocs.pop(rng.randrange(len(self.vmallocs)))
            frames = self.kernel.vmalloc_frames(va)
            self.kernel.vfree(va)
            new = self.kernel.vmalloc(rng.randint(1, 3) * 4096)
            if new:
                self.vmallocs.append(new)
            return [Flush(va + i * 4096, None) for i in range(len(frames))]
        if kind == 3 and p.shm_attachments:  # shmdt + shmat
            va = next(iter(p.shm_attachments))
            self.shm.shmdt(p, va)
            self.shm.shmat(p, self.shmid)
            return [Flush(va + i, asid) for i in range(0, 2 * 4096, 4096)]
        # exit + respawn with the same ASID: flush that ASID
        for attach in list(p.shm_attachments):
            self.shm.shmdt(p, attach)
        p.exit()
        self.procs[asid] = self._spawn(asid)
        if rng.random() < 0.5:
            self.shm.shmat(self.procs[asid], self.shmid)
        return [Flush(None, asid)] if rng.random() < 0.8 else [Flush()]

    def check(self) -> None:
        """The model's own invariants (page allocator, address spaces)."""
        for p in self.procs.values():
            p.check()
