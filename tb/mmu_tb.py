"""cocotb test-bench parts for the MMU: Wishbone memory, request driver, monitor, checker.

One coroutine, :meth:`MmuBench.run_cycles`, advances the simulation a cycle at a time: it drives
the inputs just after the rising edge and samples the settled outputs in the ReadOnly phase, so
every component sees the same cycle. The components are plain classes:

- :class:`PteMemory` answers the walker's Wishbone reads from the model's PhysicalMemory (``ack``
  one cycle after ``stb``, ``err`` for a word outside memory);
- the driver offers queued requests (random bubbles), the monitor takes answers (random
  back-pressure);
- the checker predicts each answer with the model's ``translate_sv32`` when the request is
  accepted and compares the answers in order.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cocotb.triggers import ReadOnly, RisingEdge

from mmaccel.hdl.mmu import FlushCommand
from mmaccel.hdl.mmu_sim import Flush, Request, Response, model_response
from mmaccel.sw.memory import PhysicalMemory


class PteMemory:
    """A registered Wishbone responder over a PhysicalMemory (reads only)."""

    def __init__(self, memory: PhysicalMemory) -> None:
        self.memory = memory
        self.answering = False
        self.reads = 0
        self.errors = 0

    def step(self, cyc: int, stb: int, adr: int) -> tuple[int, int, int]:
        """This cycle's bus request -> (ack, err, dat_r) for the next cycle."""
        if self.answering or not (cyc and stb):
            self.answering = False
            return 0, 0, 0
        self.answering = True
        self.reads += 1
        addr = adr * 4
        if addr + 4 > self.memory.size:
            self.errors += 1
            return 0, 1, 0
        return 1, 0, self.memory.read_u32(addr)


@dataclass
class Expected:
    request: Request
    satp: int
    response: Response
    accepted: int


@dataclass
class MmuBench:
    """Drives an ``Mmu`` top level: ports ``req__*``, ``resp__*``, ``satp``, ``flush*``, ``bus__*``.

    Parameters
    ----------
    dut : cocotb handle
    memory : PhysicalMemory
        The model's memory holding the page tables (read live).
    seed : int
        Seeds the bubbles and back-pressure.
    valid_prob, ready_prob : float
        Probability of offering a request / taking an answer in a cycle.
    """

    dut: Any
    memory: PhysicalMemory
    seed: int = 0
    valid_prob: float = 0.9
    ready_prob: float = 0.85
    cycle: int = 0
    satp: int = 0
    pending: deque[Request] = field(default_factory=deque)
    expected: deque[Expected] = field(default_factory=deque)
    flushes: deque[Flush] = field(default_factory=deque)
    checked: int = 0
    mismatches: list[str] = field(default_factory=list)
    latencies: list[int] = field(default_factory=list)
    #: called with (request, satp, expected answer) when a request is accepted
    observe: Callable[[Request, int, Response], None] | None = None

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.mem = PteMemory(self.memory)
        d = self.dut
        for sig in (d.req__valid, d.resp__ready, d.flush, d.clear_counters, d.bus__ack, d.bus__err):
            sig.value = 0
        d.satp.value = 0
        self._ack = (0, 0, 0)

    @property
    def idle(self) -> bool:
        """No request waiting, none in flight, no flush queued."""
        return not self.pending and not self.expected and not self.flushes

    async def run_cycles(self, limit: int = 1_000_000) -> None:
        """Run until :attr:`idle` (or ``limit`` cycles pass: AssertionError)."""
        d = self.dut
        start = self.cycle
        while not self.idle:
            await RisingEdge(d.clk)
            self.cycle += 1
            if self.cycle - start > limit:
                raise AssertionError(f"MMU stuck: {len(self.expected)} answers missing")
            ack, err, dat = self._ack
            d.bus__ack.value = ack
            d.bus__err.value = err
            d.bus__dat_r.value = dat
            # flushes go out when nothing is in flight (sfence.vma after the remap)
            flushing = bool(self.flushes) and not self.expected and not self.pending
            if flushing:
                f = self.flushes.popleft()
                cmd = FlushCommand.const(
                    {
                        "va": f.va or 0,
                        "asid": f.asid or 0,
                        "use_va": f.va is not None,
                        "use_asid": f.asid is not None,
                    }
                )
                d.flush_cmd.value = int(cmd.as_bits())
            d.flush.value = int(flushing)
            offer = bool(self.pending) and self.rng.random() < self.valid_prob
            d.req__valid.value = int(offer)
            if offer:
                d.req__payload.value = self.pending[0].pack()
            take = self.rng.random() < self.ready_prob
            d.resp__ready.value = int(take)
            d.satp.value = self.satp
            await ReadOnly()
            if offer and d.req__ready.value == 1:
                req = self.pending.popleft()
                want = model_response(self.memory, self.satp, req)
                if self.observe is not None:
                    self.observe(req, self.satp, want)
                self.expected.append(Expected(req, self.satp, want, self.cycle))
            if take and d.resp__valid.value == 1:
                self._check(int(d.resp__payload.value.to_unsigned()))
            self._ack = self.mem.step(
                int(d.bus__cyc.value), int(d.bus__stb.value), int(d.bus__adr.value.to_unsigned())
            )

    def _check(self, bits: int) -> None:
        if not self.expected:
            self.mismatches.append(f"cycle {self.cycle}: an answer with no request")
            return
        exp = self.expected.popleft()
        got = Response.unpack(bits)
        self.checked += 1
        self.latencies.append(self.cycle - exp.accepted)
        if got != exp.response:
            self.mismatches.append(
                f"cycle {self.cycle}: satp {exp.satp:#010x} {exp.request}: MMU {got}, "
                f"model {exp.response}"
            )
