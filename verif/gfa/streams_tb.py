"""cocotb test bench of GranuleFrameAllocator's request/response streams (runs in the simulator).

Driver, monitor, reference model and checker, as cocotb's examples arrange them:

- the driver makes each request (directed list or :class:`GfaStimulus`), applies it to the
  model (:class:`GfaReference`) at once, queues the model's response, and presents the request
  after a random gap (back-pressure on ``req``: the DUT's ``ready`` decides when it is taken);
- the monitor takes responses with a random ``resp.ready`` pattern, compares each with the queued
  model response in order, and measures latency (accepted -> response valid, in cycles);
- every ``check_every`` requests (and after every directed one) the driver lets the engine go
  idle and reads the whole allocation map through the debug port, compared with
  ``GranuleAllocator.table()``.

Parameters: one :class:`~mmaccel.verif.config.GfaSimConfig` (set by
:func:`mmaccel.verif.gfa.run.run_streams` or tb/test_gfa_cocotb.py). Progress (every 250
requests) and the summary go out as ``progress`` and ``summary`` events on the configuration's
event file.
"""

import json
import random
from collections import deque
from typing import Any

import cocotb
from amaranth.lib import data
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge
from cocotb.utils import get_sim_time

from mmaccel.hdl.gfa import GfaOp, GfaRequest, GfaResponse
from mmaccel.verif.config import EventWriter, GfaSimConfig
from mmaccel.verif.gfa.latency import latency_figures
from mmaccel.verif.gfa.reference import GfaReference, GfaResult, Request, code
from mmaccel.verif.gfa.stimulus import GfaStimulus, directed_requests

PERIOD_NS = 10
_REQ = data.Layout.cast(GfaRequest)
_RESP = data.Layout.cast(GfaResponse)


def pack_request(req: Request) -> int:
    """The bits of ``req__payload`` for (op, count, addr, align), from GfaRequest's layout."""
    value = 0
    for name, field_value in zip(("op", "count", "addr", "align"), req, strict=True):
        field = _REQ[name]
        value |= (field_value & ((1 << field.width) - 1)) << field.offset
    return value


def unpack_response(bits: int) -> GfaResult:
    """A :class:`GfaResult` from the bits of ``resp__payload``."""

    def get(name: str) -> int:
        field = _RESP[name]
        return (bits >> field.offset) & ((1 << field.width) - 1)

    return GfaResult(get("status"), get("addr"), get("free_count"), get("largest_run"))


class StreamBench:
    """Driver, monitor and scoreboard around one DUT."""

    def __init__(self, dut: Any, config: GfaSimConfig) -> None:
        self.dut = dut
        self.config = config
        self.granules = config.granules
        self.log2gran = config.log2gran
        self.base = config.base
        self.fanout = config.fanout
        self.words = (self.granules + 31) // 32
        self.seed = config.seed
        self.backpressure = config.backpressure
        self.rng = random.Random(self.seed)
        self.ref = GfaReference(self.granules, self.log2gran, self.base)
        self.expected: deque[tuple[int, Request, GfaResult, float, float]] = deque()
        self.mismatches: list[str] = []
        self.fail_fast = config.fail_fast
        self.done = 0
        self.latency: dict[str, list[int]] = {"alloc": [], "free": [], "alloc32": [], "free32": []}
        self.occupancy = 0.0  # fraction of granules in use when the current request was made
        self.occ_seen = [1.0, 0.0]
        self.by_occupancy: dict[int, list[int]] = {}  # decile -> latencies of alloc/free <= 32
        self.other_latency: list[int] = []
        self.issue: list[int] = []
        self.map_checks = 0
        self.events = EventWriter(config.events)

    @staticmethod
    def now() -> float:
        return get_sim_time(unit="ns") / PERIOD_NS

    async def start(self) -> None:
        dut = self.dut
        Clock(dut.clk, PERIOD_NS, unit="ns").start()
        dut.rst.value = 1
        dut.req__valid.value = 0
        dut.req__payload.value = 0  # every input driven at time 0 (Icarus)
        dut.resp__ready.value = 0
        dut.dbg_addr.value = 0
        await ClockCycles(dut.clk, 3)
        dut.rst.value = 0
        await RisingEdge(dut.clk)

    def mismatch(self, text: str) -> None:
        self.mismatches.append(text)
        if self.fail_fast:
            raise AssertionError(text)

    async def send(self, index: int, req: Request, exp: GfaResult) -> float:
        """Present one request and wait until the DUT takes it."""
        dut = self.dut
        if self.backpressure:
            gap = self.rng.choice([0, 0, 0, 0, 1, 2, 5])
            if gap:
                await ClockCycles(dut.clk, gap)
        dut.req__payload.value = pack_request(req)
        dut.req__valid.value = 1
        await ReadOnly()
        while not dut.req__ready.value:
            await RisingEdge(dut.req__ready)
            await ReadOnly()
        await RisingEdge(dut.clk)  # the handshake edge
        accepted = self.now()
        self.expected.append((index, req, exp, accepted, self.occupancy))
        dut.req__valid.value = 0
        return accepted

    async def monitor(self, total: int) -> None:
        dut = self.dut
        rng = self.rng
        ready = (not self.backpressure) or rng.random() < 0.6
        dut.resp__ready.value = int(ready)
        while self.done < total:
            await ReadOnly()
            if not dut.resp__valid.value:
                await RisingEdge(dut.resp__valid)
                await ReadOnly()
            seen = self.now()
            got = unpack_response(int(dut.resp__payload.value))
            if not ready:
                await ClockCycles(dut.clk, rng.choice([1, 1, 2, 3, 7]))
                dut.resp__ready.value = 1
            await RisingEdge(dut.clk)  # the response is taken at this edge
            ready = (not self.backpressure) or rng.random() < 0.6
            dut.resp__ready.value = int(ready)
            index, req, exp, accepted, occupancy = self.expected.popleft()
            self.record(req, seen - accepted, occupancy)
            if got != exp:
                self.mismatch(f"request {index} {req}: DUT answered {got}, model {exp}")
            self.done += 1

    def record(self, req: Request, cycles: float, occupancy: float) -> None:
        op, count = req[0], req[1]
        c = round(cycles)
        if op in (code(GfaOp.ALLOC), code(GfaOp.FREE)) and count <= 32 and req[3] == 0:
            self.by_occupancy.setdefault(min(9, int(occupancy * 10)), []).append(c)
        if op == code(GfaOp.ALLOC) and req[3] == 0:
            self.latency["alloc"].append(c)
            if count <= 32:
                self.latency["alloc32"].append(c)
        elif op == code(GfaOp.FREE):
            self.latency["free"].append(c)
            if count <= 32:
                self.latency["free32"].append(c)
        else:
            self.other_latency.append(c)

    async def drain(self) -> None:
        """Wait until every response is taken and the engine is idle."""
        dut = self.dut
        while self.expected:
            await RisingEdge(dut.clk)
        await ReadOnly()
        while dut.busy.value or dut.resp__valid.value:
            await RisingEdge(dut.clk)
            await ReadOnly()
        await RisingEdge(dut.clk)

    async def check_map(self, after: str) -> None:
        """Read the whole GAT through the debug port and compare it with the model's table."""
        await self.drain()
        dut = self.dut
        table = self.ref.table()
        dut.dbg_addr.value = 0
        await RisingEdge(dut.clk)
        for w in range(self.words):
            dut.dbg_addr.value = min(w + 1, self.words - 1)
            await ReadOnly()
            word = int(dut.dbg_data.value)
            if word != table[w]:
                self.mismatch(
                    f"after {after}: GAT word {w} is {word:#010x}, model {table[w]:#010x}"
                )
                break
            await RisingEdge(dut.clk)
        self.map_checks += 1

    def report_progress(self, total: int) -> None:
        self.events.emit("progress", done=self.done, total=total, mismatches=len(self.mismatches))

    def summary(self, ops: int) -> dict[str, Any]:
        return {
            "granules": self.granules,
            "fanout": self.fanout,
            "ops": ops,
            "mismatches": len(self.mismatches),
            "map_checks": self.map_checks,
            **latency_figures(
                self.latency, self.other_latency, self.by_occupancy, self.occ_seen, self.issue
            ),
        }


@cocotb.test()
async def directed(dut: Any) -> None:
    """Edge cases of the contract; the whole map is compared after every request."""
    tb = StreamBench(dut, GfaSimConfig.from_env())
    tb.fail_fast = True
    await tb.start()
    reqs = directed_requests(tb.granules, tb.log2gran, tb.base, tb.fanout)
    cocotb.start_soon(tb.monitor(len(reqs)))
    for i, req in enumerate(reqs):
        exp = tb.ref.apply(*req)
        await tb.send(i, req, exp)
        await tb.check_map(f"request {i} {req}")
    assert tb.done == len(reqs)
    dut._log.info("directed: %d requests, %d map checks, 0 mismatches", len(reqs), tb.map_checks)


@cocotb.test()
async def random_ops(dut: Any) -> None:
    """``ops`` random requests (errors included) with random back-pressure on both streams."""
    config = GfaSimConfig.from_env()
    tb = StreamBench(dut, config)
    await tb.start()
    ops = config.ops
    check_every = config.check_every
    stim = GfaStimulus(tb.ref, tb.seed, errors=config.errors, period=max(200, ops // 4))
    cocotb.start_soon(tb.monitor(ops))
    last: float | None = None
    for i in range(ops):
        tb.occupancy = stim.used / tb.granules
        tb.occ_seen = [min(tb.occ_seen[0], tb.occupancy), max(tb.occ_seen[1], tb.occupancy)]
        req, exp = stim.step()
        accepted = await tb.send(i, req, exp)
        if last is not None:
            tb.issue.append(round(accepted - last))
        last = accepted
        if (i + 1) % check_every == 0 or i == ops - 1:
            await tb.check_map(f"request {i} {req}")
            last = None  # the pause for the map read is not an issue interval
        if (i + 1) % 250 == 0 or i == ops - 1:
            tb.report_progress(ops)
    await tb.drain()
    summary = tb.summary(ops)
    tb.events.emit("summary", **summary)
    dut._log.info("random: %s", json.dumps(summary))
    assert not tb.mismatches, tb.mismatches[:5]
