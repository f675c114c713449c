"""Simulation glue of the MMU: a driver for Amaranth's simulator, the benchmark, the CLI leaves.

- :class:`MmuSimDriver` runs an :class:`~mmaccel.hdl.mmu.Mmu` in ``amaranth.sim`` with a
  Wishbone memory served from a model :class:`~mmaccel.sw.memory.PhysicalMemory` (``ack`` one
  cycle after ``stb``, ``err`` outside memory), pipelined requests with optional random
  back-pressure, flushes and satp writes. The Amaranth tests and the benchmark use it.
- :func:`model_response` is the reference: ``translate_sv32()`` turned into the MMU's answer.
- ``mmaccel bench mmu``, ``mmaccel sim mmu`` and ``mmaccel verilog mmu`` (see ``sw/cli.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amaranth.sim import Simulator

from mmaccel.sw.errors import AccessFault, PageFault
from mmaccel.sw.memory import PhysicalMemory
from mmaccel.sw.sv32 import Access, Priv, satp_value, translate_sv32

from .mmu import MAX_ENTRIES, MIN_ENTRIES, FlushCommand, Mmu, TranslationRequest

__all__ = [
    "BROKEN_ASID",
    "Flush",
    "MmuSimDriver",
    "Request",
    "Response",
    "Workload",
    "bench_mmu",
    "configure_bench",
    "configure_sim",
    "configure_verilog",
    "model_response",
]


@dataclass(frozen=True, slots=True)
class Request:
    """One translation request (what the ``req`` stream carries)."""

    va: int
    access: int = Access.LOAD
    priv: int = Priv.S
    sum: bool = False
    mxr: bool = False

    def pack(self) -> int:
        """The request as the bits of :class:`~mmaccel.hdl.mmu.TranslationRequest`."""
        return int(
            TranslationRequest.const(
                {
                    "va": self.va,
                    "access": int(self.access),
                    "priv": int(self.priv),
                    "sum": int(self.sum),
                    "mxr": int(self.mxr),
                }
            ).as_bits()
        )


@dataclass(frozen=True, slots=True)
class Response:
    """One answer: ``pa`` when ``cause`` is None, else the fault's mcause value."""

    pa: int | None
    cause: int | None

    @classmethod
    def unpack(cls, bits: int) -> Response:
        """Decode the bits of :class:`~mmaccel.hdl.mmu.TranslationResponse`."""
        pa = bits & ((1 << 34) - 1)
        fault = (bits >> 34) & 1
        cause = (bits >> 35) & 0xF
        return cls(None, cause) if fault else cls(pa, None)

    def __str__(self) -> str:
        return f"pa {self.pa:#011x}" if self.cause is None else f"fault cause {self.cause}"


def model_response(memory: PhysicalMemory, satp: int, req: Request) -> Response:
    """What the model's ``translate_sv32()`` says the MMU must answer to ``req``."""
    try:
        pa = translate_sv32(
            memory, satp, req.va, Access(req.access), Priv(req.priv), sum=req.sum, mxr=req.mxr
        )
    except (PageFault, AccessFault) as fault:
        return Response(None, int(fault.cause))  # type: ignore[call-overload]
    return Response(pa, None)


@dataclass(slots=True)
class Answer:
    """A response with its request and timing (cycle numbers of the simulation)."""

    request: Request
    response: Response
    accepted: int
    answered: int

    @property
    def latency(self) -> int:
        """Cycles from acceptance to the answer (1 for a TLB hit)."""
        return self.answered - self.accepted


Hook = Callable[[Any], None]


@dataclass
class MmuSimDriver:
    """Drives an :class:`~mmaccel.hdl.mmu.Mmu` in Amaranth's simulator.

    Use it inside a testbench coroutine: ``await drv.translate(ctx, requests)``,
    ``await drv.flush(ctx, ...)``, ``drv.set_satp(ctx, value)``. The memory is read live at
    every PTE read, so the caller may change page tables between calls (or in a hook).

    Parameters
    ----------
    dut : Mmu
        The design under test.
    memory : PhysicalMemory
        Serves the walker's reads: word ``adr`` is bytes ``4*adr .. 4*adr+3``; outside
        memory the bus answers ``err``.
    mem_latency : int
        Cycles from ``stb`` to ``ack`` (1 = a registered memory).
    seed : int
        Seeds the random back-pressure.
    """

    dut: Mmu
    memory: PhysicalMemory
    mem_latency: int = 1
    seed: int = 0
    cycle: int = 0
    pte_reads: int = 0
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        if self.mem_latency < 1:
            raise ValueError(f"mem_latency must be at least 1, not {self.mem_latency}")
        self.rng = random.Random(self.seed)

    def add_to(self, sim: Simulator) -> None:
        """Add the clock and the Wishbone memory process to ``sim``."""
        sim.add_clock(1e-8)
        sim.add_process(self._memory_process)

    async def _memory_process(self, ctx: Any) -> None:
        bus = self.dut.bus
        wait = 0
        answering = False
        async for _, _, cyc, stb, adr in ctx.tick().sample(bus.cyc, bus.stb, bus.adr):
            if answering:
                ctx.set(bus.ack, 0)
                ctx.set(bus.err, 0)
                answering = False
                wait = 0
                continue
            if not (cyc and stb):
                wait = 0
                continue
            wait += 1
            if wait < self.mem_latency:
                continue
            addr = int(adr) * 4
            self.pte_reads += 1
            if addr + 4 <= self.memory.size:
                ctx.set(bus.dat_r, self.memory.read_u32(addr))
                ctx.set(bus.ack, 1)
            else:
                ctx.set(bus.dat_r, 0)
                ctx.set(bus.err, 1)
            answering = True

    def set_satp(self, ctx: Any, satp: int) -> None:
        """Write satp (takes effect for requests accepted from the next edge on)."""
        ctx.set(self.dut.satp.as_value(), satp)

    async def flush(self, ctx: Any, *, va: int | None = None, asid: int | None = None) -> None:
        """Issue one sfence.vma (``va``/``asid`` None = operand not given); one cycle."""
        self.set_flush(ctx, va=va, asid=asid)
        await ctx.tick()
        self.cycle += 1
        ctx.set(self.dut.flush, 0)

    def set_flush(self, ctx: Any, *, va: int | None = None, asid: int | None = None) -> None:
        """Drive a flush for the current cycle (the caller ticks and clears ``flush``)."""
        cmd = FlushCommand.const(
            {
                "va": va or 0,
                "asid": asid or 0,
                "use_va": va is not None,
                "use_asid": asid is not None,
            }
        )
        ctx.set(self.dut.flush_cmd, cmd)
        ctx.set(self.dut.flush, 1)

    async def translate(
        self,
        ctx: Any,
        requests: Sequence[Request],
        *,
        ready_prob: float = 1.0,
        valid_prob: float = 1.0,
        hooks: dict[int, Hook] | None = None,
        timeout: int = 1000,
    ) -> list[Answer]:
        """Send ``requests`` back to back and collect every answer, in order.

        ``ready_prob`` / ``valid_prob`` < 1 insert random back-pressure and bubbles.
        ``hooks[k](ctx)`` runs before the k-th cycle of this call (k from 0); a hook may drive
        a flush for that cycle (``set_flush``), which is cleared after it.
        """
        dut = self.dut
        answers: list[Answer] = []
        accepted: list[int] = []
        sent = 0
        idle = 0
        k = 0
        while len(answers) < len(requests):
            flushing = False
            if hooks and k in hooks:
                hooks[k](ctx)
                flushing = True
            offer = sent < len(requests) and self.rng.random() < valid_prob
            if offer:
                ctx.set(dut.req.payload.as_value(), requests[sent].pack())
            ctx.set(dut.req.valid, offer)
            take = self.rng.random() < ready_prob
            ctx.set(dut.resp.ready, take)
            _, _, rdy, rv, payload = await ctx.tick().sample(
                dut.req.ready, dut.resp.valid, dut.resp.payload.as_value()
            )
            if flushing:
                ctx.set(dut.flush, 0)
            if offer and rdy:
                accepted.append(self.cycle)
                sent += 1
            if rv and take:
                i = len(answers)
                answers.append(
                    Answer(requests[i], Response.unpack(int(payload)), accepted[i], self.cycle)
                )
                idle = 0
            else:
                idle += 1
                if idle > timeout:
                    raise TimeoutError(
                        f"no answer for request {len(answers)} ({requests[len(answers)]}) "
                        f"within {timeout} cycles"
                    )
            self.cycle += 1
            k += 1
        ctx.set(dut.req.valid, 0)
        ctx.set(dut.resp.ready, 0)
        return answers

    async def idle(self, ctx: Any, cycles: int = 1) -> None:
        """Let ``cycles`` cycles pass."""
        for _ in range(cycles):
            await ctx.tick()
            self.cycle += 1


def run_sim(
    dut: Mmu,
    memory: PhysicalMemory,
    scenario: Callable[[Any, MmuSimDriver], Awaitable[None]],
    *,
    mem_latency: int = 1,
    seed: int = 0,
    vcd: str | None = None,
) -> MmuSimDriver:
    """Run ``scenario(ctx, driver)`` as a testbench; return the driver (cycle counts)."""
    sim = Simulator(dut)
    drv = MmuSimDriver(dut, memory, mem_latency=mem_latency, seed=seed)
    drv.add_to(sim)

    async def bench(ctx: Any) -> None:
        await scenario(ctx, drv)

    sim.add_testbench(bench)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    return drv


# -- a workload built by the model: address spaces, vmalloc, mmap, shm, kernel globals --


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
        from mmaccel.sw.gran import PageAllocator
        from mmaccel.sw.shm import IPC_CREAT, SharedMemory
        from mmaccel.sw.sv32 import PteFlags as F
        from mmaccel.sw.vm import KERNEL_BASE, Kernel

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
        from mmaccel.sw.sv32 import PteFlags as F
        from mmaccel.sw.vm import MAP_ANONYMOUS, MAP_PRIVATE, PROT_EXEC, PROT_READ, PROT_WRITE

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
        from mmaccel.sw.vm import MAP_ANONYMOUS, MAP_PRIVATE, PROT_EXEC, PROT_READ, PROT_WRITE

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


# -- benchmark --


def bench_mmu(
    entries: int = 16, accesses: int = 4000, seed: int = 1, mem_latency: int = 1
) -> dict[str, Any]:
    """Run the :class:`Workload` trace through the MMU in Amaranth's simulator.

    Returns the figures printed by ``mmaccel bench mmu --json``: ``entries``, ``accesses``,
    ``mismatches`` (answers that differ from the model's ``translate_sv32``),
    ``hit_latency_cycles`` (max over hits), ``miss_cycles`` (``mean``/``max`` from acceptance
    to answer), ``hit_rate``, ``lookups_per_cycle`` (a burst of hits), ``pte_reads``,
    ``flushes``.
    """
    wl = Workload(seed, broken=False)
    dut = Mmu(entries)
    figures: dict[str, Any] = {}
    answers: list[Answer] = []
    mismatches = 0
    flushes = 0

    async def scenario(ctx: Any, drv: MmuSimDriver) -> None:
        nonlocal mismatches, flushes
        done = 0
        while done < accesses:
            if wl.rng.random() < 0.1:
                wl.switch()
            if wl.rng.random() < 0.05:
                for f in wl.mutate():
                    await drv.flush(ctx, va=f.va, asid=f.asid)
                    flushes += 1
            satp = wl.satp()
            drv.set_satp(ctx, satp)
            reqs = wl.batch(min(50, accesses - done))
            got = await drv.translate(ctx, reqs)
            for a in got:
                if a.response != model_response(wl.memory, satp, a.request):
                    mismatches += 1
            answers.extend(got)
            done += len(reqs)
        # throughput: the same page again and again
        good = [a.request for a in answers[-50:] if a.response.cause is None] or [Request(0)]
        drv.set_satp(ctx, satp if good[-1].va else 0)
        hot = [
            Request(
                good[-1].va & ~0xFFF | (i * 4 & 0xFFF),
                good[-1].access,
                good[-1].priv,
                good[-1].sum,
                good[-1].mxr,
            )
            for i in range(64)
        ]
        burst = (await drv.translate(ctx, hot))[1:]
        figures["lookups_per_cycle"] = round(
            len(burst) / (burst[-1].accepted - burst[0].accepted + 1), 3
        )

    drv = run_sim(dut, wl.memory, scenario, mem_latency=mem_latency, seed=seed)
    hits = [a.latency for a in answers if a.latency == 1]
    misses = [a.latency for a in answers if a.latency > 1]
    figures = {
        "entries": entries,
        "accesses": len(answers),
        "mismatches": mismatches,
        "hit_latency_cycles": max(hits) if hits else None,
        "miss_cycles": {
            "mean": round(sum(misses) / len(misses), 3) if misses else None,
            "max": max(misses) if misses else None,
        },
        "hit_rate": round(len(hits) / len(answers), 4),
        "pte_reads": drv.pte_reads,
        "flushes": flushes,
        "mem_latency_cycles": mem_latency,
        "cycles": drv.cycle,
        **figures,
    }
    return figures


# -- command line --


def _entries(text: str) -> int:
    value = int(text)
    if not MIN_ENTRIES <= value <= MAX_ENTRIES:
        raise argparse.ArgumentTypeError(
            f"entries must be between {MIN_ENTRIES} and {MAX_ENTRIES}, not {value}"
        )
    return value


def configure_bench(parser: argparse.ArgumentParser) -> None:
    """``mmaccel bench mmu``: the MMU on the model's workload, figures as JSON."""
    parser.add_argument("--entries", type=_entries, default=16, help="TLB entries (4..64)")
    parser.add_argument("--accesses", type=int, default=4000, help="translations (default 4000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=_run_bench)


def _run_bench(args: argparse.Namespace) -> int:
    figures = bench_mmu(args.entries, args.accesses, args.seed)
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:<20} {value}")
    return 1 if figures["mismatches"] else 0


def configure_verilog(parser: argparse.ArgumentParser) -> None:
    """``mmaccel verilog mmu``: standalone Verilog of the MMU with its control registers."""
    parser.add_argument("--entries", type=_entries, default=16, help="TLB entries (4..64)")
    parser.add_argument(
        "--bare", action="store_true", help="the Mmu core only, without the register slave"
    )
    parser.add_argument("-o", "--output", default="-", help="output file (default: stdout)")
    parser.set_defaults(func=_run_verilog)


def _run_verilog(args: argparse.Namespace) -> int:
    from amaranth.back import verilog

    from .mmu_wb import MmuWishbone

    design = Mmu(args.entries) if args.bare else MmuWishbone(args.entries)
    name = "mmaccel_mmu" if args.bare else "mmaccel_mmu_wb"
    text = verilog.convert(design, name=name, emit_src=False)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text)
        print(f"wrote {args.output} ({name}, {args.entries} TLB entries)", file=sys.stderr)
    return 0


def configure_sim(parser: argparse.ArgumentParser) -> None:
    """``mmaccel sim mmu``: the MMU's cocotb regression on Verilator against the model."""
    parser.add_argument("--entries", type=_entries, default=16, help="TLB entries (default 16)")
    parser.add_argument("--accesses", type=int, default=20000, help="translations (default 20000)")
    parser.add_argument("--seed", type=int, default=1, help="seed (default 1)")
    parser.add_argument(
        "--soak", action="store_true", help="10 million accesses (what MMACCEL_SOAK=1 runs)"
    )
    parser.set_defaults(func=_run_sim)


def _run_sim(args: argparse.Namespace) -> int:
    import tempfile
    import time

    from .cocotb_runner import CocotbFailure, run_cocotb

    tb_dir = Path(__file__).resolve().parent.parent / "tb"
    if not (tb_dir / "test_mmu_cocotb.py").exists():
        print(
            f"mmaccel sim mmu: the test bench is not at {tb_dir} (needs a source checkout)",
            file=sys.stderr,
        )
        return 2
    accesses = 10_000_000 if args.soak else args.accesses
    if accesses <= 0:
        print(f"mmaccel sim mmu: --accesses must be positive, not {accesses}", file=sys.stderr)
        return 2
    print(
        f"mmu: {accesses} accesses on {args.entries} TLB entries, seed {args.seed} "
        "(cocotb on Verilator; the first build takes a minute)",
        flush=True,
    )
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        summary = Path(tmp) / "summary.json"
        try:
            run_cocotb(
                Mmu(args.entries),
                toplevel="mmaccel_mmu",
                test_module="test_mmu_cocotb",
                test_dir=tb_dir,
                testcase="random_remaps_against_model",
                extra_env={
                    "MMU_ACCESSES": str(accesses),
                    "MMU_SEED": str(args.seed),
                    "MMU_SUMMARY": str(summary),
                },
                seed=args.seed,
                waves=None if os.environ.get("WAVES") else False,
            )
        except CocotbFailure as failure:
            print(f"mmu: FAILED: {failure}", file=sys.stderr)
            return 1
        figures = json.loads(summary.read_text())
    print(
        f"mmu: {figures['accesses']} accesses in {len(figures['asids'])} ASIDs on "
        f"{args.entries} entries, {figures['mismatches']} mismatches, {figures['remaps']} remaps, "
        f"hit rate {figures['hit_rate']:.3f}, "
        f"{figures['cycles'] / max(1, figures['accesses']):.2f} cycles per access, "
        f"{time.perf_counter() - start:.1f} s"
    )
    return 1 if figures["mismatches"] else 0
