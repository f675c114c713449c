"""Drive an :class:`~mmaccel.hdl.mmu.Mmu` in simulation: the parts every MMU bench shares.

- :class:`PteMemory` answers the walker's Wishbone reads from the model's PhysicalMemory
  (``ack`` ``latency`` cycles after ``stb``, ``err`` for a word outside memory), one step per
  cycle, so the same responder serves Amaranth's simulator and cocotb;
- :func:`flush_command` packs one sfence.vma into the ``flush_cmd`` bits;
- :class:`MmuSimDriver` runs the MMU in ``amaranth.sim`` (pipelined requests with optional
  random back-pressure, flushes, satp writes); the Amaranth tests and ``mmaccel bench mmu``
  use it. The cocotb bench (:mod:`mmaccel.verif.mmu.tb`) uses the same responder and packing.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from amaranth.sim import Simulator

from mmaccel.hdl.mmu import FlushCommand, Mmu
from mmaccel.sw.memory import PhysicalMemory
from mmaccel.verif.mmu.reference import Request, Response

__all__ = ["Answer", "MmuSimDriver", "PteMemory", "flush_command", "run_sim"]


class PteMemory:
    """A registered Wishbone responder over a PhysicalMemory (reads only).

    Parameters
    ----------
    memory : PhysicalMemory
        Word ``adr`` is bytes ``4*adr .. 4*adr+3``; a word outside memory answers ``err``.
    latency : int
        Cycles from ``stb`` to ``ack`` (1 = a registered memory).
    """

    def __init__(self, memory: PhysicalMemory, latency: int = 1) -> None:
        if latency < 1:
            raise ValueError(f"mem_latency must be at least 1, not {latency}")
        self.memory = memory
        self.latency = latency
        self.answering = False
        self.wait = 0
        self.reads = 0
        self.errors = 0

    def step(self, cyc: int, stb: int, adr: int) -> tuple[int, int, int]:
        """This cycle's bus request -> (ack, err, dat_r) for the next cycle."""
        if self.answering or not (cyc and stb):
            self.answering = False
            self.wait = 0
            return 0, 0, 0
        self.wait += 1
        if self.wait < self.latency:
            return 0, 0, 0
        self.answering = True
        self.reads += 1
        addr = adr * 4
        if addr + 4 > self.memory.size:
            self.errors += 1
            return 0, 1, 0
        return 1, 0, self.memory.read_u32(addr)


def flush_command(va: int | None = None, asid: int | None = None) -> int:
    """The ``flush_cmd`` bits of one sfence.vma (``va``/``asid`` None: operand not given)."""
    cmd = FlushCommand.const(
        {
            "va": va or 0,
            "asid": asid or 0,
            "use_va": va is not None,
            "use_asid": asid is not None,
        }
    )
    return int(cmd.as_bits())


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
    rng: random.Random = field(init=False)
    pte_memory: PteMemory = field(init=False)

    def __post_init__(self) -> None:
        self.pte_memory = PteMemory(self.memory, self.mem_latency)
        self.rng = random.Random(self.seed)

    def add_to(self, sim: Simulator) -> None:
        """Add the clock and the Wishbone memory process to ``sim``."""
        sim.add_clock(1e-8)
        sim.add_process(self._memory_process)

    async def _memory_process(self, ctx: Any) -> None:
        bus = self.dut.bus
        async for _, _, cyc, stb, adr in ctx.tick().sample(bus.cyc, bus.stb, bus.adr):
            ack, err, dat = self.pte_memory.step(int(cyc), int(stb), int(adr))
            if ack or err:
                ctx.set(bus.dat_r, dat)
            ctx.set(bus.ack, ack)
            ctx.set(bus.err, err)

    @property
    def pte_reads(self) -> int:
        """PTE reads the walker has made (answered with ``ack`` or ``err``)."""
        return self.pte_memory.reads

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
        ctx.set(self.dut.flush_cmd.as_value(), flush_command(va, asid))
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
