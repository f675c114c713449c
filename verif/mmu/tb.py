"""cocotb test bench of the MMU: request driver, monitor, checker, and the regression.

One coroutine, :meth:`MmuBench.run_cycles`, advances the simulation a cycle at a time: it drives
the inputs just after the rising edge and samples the settled outputs in the ReadOnly phase, so
every component sees the same cycle. The components are plain classes:

- :class:`~mmaccel.verif.mmu.driver.PteMemory` answers the walker's Wishbone reads from the
  model's PhysicalMemory (``ack`` one cycle after ``stb``, ``err`` for a word outside memory);
- the driver offers queued requests (random bubbles), the monitor takes answers (random
  back-pressure);
- the checker predicts each answer with the model's ``translate_sv32`` when the request is
  accepted and compares the answers in order.

The regression, :func:`random_remaps_against_model`, runs the model's
:class:`~mmaccel.verif.mmu.workload.Workload` (a kernel with global mappings, user processes in
several ASIDs with mmap regions, a user megapage, a shared SysV segment; random accesses with
locality and random remaps through the model, each followed by its sfence.vma) for the
``accesses`` of one :class:`~mmaccel.verif.config.MmuSimConfig`. A stale translation that
survives its flush, or one ASID seeing another's non-global translation, is a mismatch.
Progress and the summary go out as events on the configuration's event file.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

from mmaccel.sw.memory import PhysicalMemory
from mmaccel.verif.config import EventWriter, MmuSimConfig
from mmaccel.verif.mmu.driver import PteMemory, flush_command
from mmaccel.verif.mmu.reference import Request, Response, model_response
from mmaccel.verif.mmu.workload import BROKEN_ASID, Flush, Workload


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
                d.flush_cmd.value = flush_command(f.va, f.asid)
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


# -- the regression --


async def _reset(dut: Any) -> None:
    Clock(dut.clk, 10, unit="ns").start()
    dut.rst.value = 1
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0


@cocotb.test()
async def random_remaps_against_model(dut: Any) -> None:
    """Random accesses in several ASIDs with remaps and their flushes: 0 mismatches."""
    config = MmuSimConfig.from_env()
    events = EventWriter(config.events)
    accesses = config.accesses
    seed = config.seed
    wl = Workload(seed)
    before = PhysicalMemory(wl.memory.size)  # the page tables before the last remap
    before.write(0, wl.memory.read(0, wl.memory.size))
    # How often the comparison would have caught a stale entry (an answer that the tables
    # before the last remap give differently) or a leak between ASIDs (an answer that another
    # process's tables give differently).
    sensitive = {"stale": 0, "other_asid": 0}

    def observe(req: Request, satp: int, want: Response) -> None:
        if model_response(before, satp, req) != want:
            sensitive["stale"] += 1
        asid = (satp >> 22) & 0x1FF
        if asid not in (0, BROKEN_ASID) and req.va < 0xC000_0000:
            other = wl.satp(1 + asid % len(wl.procs))
            if other != satp and model_response(wl.memory, other, req) != want:
                sensitive["other_asid"] += 1

    tb = MmuBench(dut, wl.memory, seed=seed, observe=observe)
    await _reset(dut)
    done = 0
    remaps = 0
    asids = {(wl.satp() >> 22) & 0x1FF}  # the ASID the run starts in, then every switch
    while done < accesses:
        if wl.rng.random() < 0.1:
            asids.add(wl.switch())
        if wl.rng.random() < 0.15:
            before.write(0, wl.memory.read(0, wl.memory.size))
            tb.flushes.extend(wl.mutate())
            remaps += 1
            await tb.run_cycles()  # the flushes go out before the next accesses
        tb.satp = wl.satp()
        n = min(64, accesses - done)
        tb.pending.extend(wl.batch(n))
        done += n
        await tb.run_cycles()
        if tb.mismatches:
            break
        if done % 1024 == 0 or done == accesses:
            events.emit("progress", done=done, total=accesses, mismatches=len(tb.mismatches))
    wl.check()
    hits = sum(1 for x in tb.latencies if x == 1)
    dut._log.info(
        "%d accesses checked, %d remaps, ASIDs %s, %d PTE reads (%d bus errors), hit rate %.3f, "
        "%d cycles; answers that a stale entry / another ASID's tables would change: %s",
        tb.checked,
        remaps,
        sorted(asids),
        tb.mem.reads,
        tb.mem.errors,
        hits / max(1, tb.checked),
        tb.cycle,
        sensitive,
    )
    events.emit(
        "summary",
        entries=config.entries,
        accesses=tb.checked,
        mismatches=len(tb.mismatches),
        remaps=remaps,
        asids=sorted(asids),
        pte_reads=tb.mem.reads,
        bus_errors=tb.mem.errors,
        hit_rate=round(hits / max(1, tb.checked), 4),
        cycles=tb.cycle,
        **{f"sensitive_{k}": v for k, v in sensitive.items()},
    )
    assert not tb.mismatches, "\n".join(tb.mismatches[:20])
    assert tb.checked == accesses
    if accesses >= 20_000:
        # Short runs (a smoke test) may end before the workload remaps or rotates ASIDs.
        assert remaps > 0 and len(asids) > 2, (remaps, sorted(asids))
        assert tb.mem.errors > 0, "no access fault was exercised"
        assert sensitive["stale"] > 100 and sensitive["other_asid"] > 1000, sensitive
