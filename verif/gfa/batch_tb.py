"""cocotb batch test bench of GranuleFrameAllocator: the fast mode, the model still the judge.

Runs in the simulator on :data:`mmaccel.verif.gfa.player.SIM_TOPLEVEL` (the allocator inside
:class:`~mmaccel.verif.gfa.player.GfaPlayer`). Per batch (up to the player's depth, ending at
every map check) Python:

1. makes the requests with :class:`GfaStimulus`, which applies each to the model
   (:class:`GfaReference`), so every expected response is known before the batch runs;
2. writes the packed requests to the stimulus file, sets the batch's count, LFSR seed,
   back-pressure and map-check inputs and raises ``start`` (the design loads the file);
3. waits for ``done`` (no Python runs during the batch: the clock is generated in the
   simulation and the player does every handshake), lowers ``start`` (the design writes its
   response, time and map memories to files) and reads them back;
4. compares every response exactly, in order, with the model's (the first mismatch is reported
   with its operation index, the request and both responses) and, at a map check, the whole
   allocation map with ``GranuleAllocator.table()``.

Latency (accept -> response valid, in cycles) and the issue interval come from the cycle stamps
the player records, with the same meaning as in :mod:`mmaccel.verif.gfa.streams_tb`; the
summary has the same keys, plus ``mode``, ``seconds`` (wall time of the batches),
``simulation_seconds`` (the part spent in the simulation and the file transfers),
``cpu_seconds`` (CPU time of the simulator process, Python and Verilator together: the cost per
core on a shared machine), ``cycles``, ``latency_cycles`` (every request) and
``first_mismatch``. A design that stops answering ends the batch through the player's watchdog
and is reported as a mismatch naming the request.

Parameters: one :class:`~mmaccel.verif.config.GfaSimConfig` (``check_every`` is rounded to
batch ends). Progress after every batch and the summary go out on the configuration's event
file.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path
from typing import Any

import cocotb
from amaranth.lib import data
from cocotb.triggers import First, RisingEdge, Timer

from mmaccel.hdl.gfa import GfaOp, GfaRequest, GfaResponse
from mmaccel.verif.config import EventWriter, GfaSimConfig
from mmaccel.verif.gfa.latency import latency_figures, stats
from mmaccel.verif.gfa.player import (
    ACC_FILE,
    MAP_FILE,
    PERIOD_NS,
    RESP_FILE,
    STIM_FILE,
    VALID_FILE,
    read_hex,
    stimulus_text,
)
from mmaccel.verif.gfa.reference import GfaReference, GfaResult, Request, code
from mmaccel.verif.gfa.stimulus import GfaStimulus

#: Environment variables set by :func:`mmaccel.verif.gfa.run.run_batch`.
DEPTH_ENV = "MMACCEL_GFA_BATCH_DEPTH"
WATCHDOG_ENV = "MMACCEL_GFA_BATCH_WATCHDOG"

_REQ = data.Layout.cast(GfaRequest)
_RESP = data.Layout.cast(GfaResponse)
_REQ_FIELDS = [(_REQ[n].offset, (1 << _REQ[n].width) - 1) for n in ("op", "count", "addr", "align")]
_RESP_FIELDS = [
    (_RESP[n].offset, (1 << _RESP[n].width) - 1)
    for n in ("status", "addr", "free_count", "largest_run")
]
_ALLOC = code(GfaOp.ALLOC)
_FREE = code(GfaOp.FREE)


def pack_request(req: Request) -> int:
    """The bits of ``req.payload`` for (op, count, addr, align)."""
    value = 0
    for (offset, mask), field in zip(_REQ_FIELDS, req, strict=True):
        value |= (field & mask) << offset
    return value


def pack_response(res: GfaResult) -> int:
    """The bits of ``resp.payload`` the hardware must give for ``res``."""
    (o0, m0), (o1, m1), (o2, m2), (o3, m3) = _RESP_FIELDS
    return (
        ((res.status & m0) << o0)
        | ((res.addr & m1) << o1)
        | ((res.free_count & m2) << o2)
        | ((res.largest_run & m3) << o3)
    )


def unpack_response(bits: int) -> GfaResult:
    """A :class:`GfaResult` from the bits of ``resp.payload``."""
    status, addr, free, largest = ((bits >> o) & m for o, m in _RESP_FIELDS)
    return GfaResult(status, addr, free, largest)


class BatchBench:
    """Batches of requests through the player, every response compared with the model."""

    def __init__(self, dut: Any, config: GfaSimConfig, depth: int, watchdog: int) -> None:
        self.dut = dut
        self.config = config
        self.depth = depth
        self.watchdog = watchdog
        self.granules = config.granules
        self.words = (config.granules + 31) // 32
        self.ref = GfaReference(config.granules, config.log2gran, config.base)
        self.seeds = random.Random(config.seed * 0x9E3779B1 + 17)
        self.mismatches: list[str] = []  # one description per batch that had any
        self.mismatch_count = 0
        self.latency: dict[str, list[int]] = {"alloc": [], "free": [], "alloc32": [], "free32": []}
        self.other_latency: list[int] = []
        self.all_latency: list[int] = []
        self.by_occupancy: dict[int, list[int]] = {}
        self.occ_seen = [1.0, 0.0]
        self.issue: list[int] = []
        self.map_checks = 0
        self.done = 0
        self.cycles = 0
        self.play_seconds = 0.0  # wall time in play(): the simulation and the file transfers
        self.events = EventWriter(config.events)
        self.folder = Path(os.getcwd())

    def mismatch(self, text: str, count: int = 1) -> None:
        """Count ``count`` mismatches, described by ``text`` (the first of them)."""
        self.mismatches.append(text)
        self.mismatch_count += count
        if self.config.fail_fast:
            raise AssertionError(text)

    async def reset(self) -> None:
        dut = self.dut
        dut.rst.value = 1
        dut.start.value = 0
        dut.count.value = 0
        dut.seed.value = 1
        dut.backpressure.value = 0
        dut.map_check.value = 0
        await Timer(4 * PERIOD_NS, unit="ns")
        dut.rst.value = 0
        await Timer(2 * PERIOD_NS, unit="ns")

    async def play(self, packed: list[int], map_check: bool) -> tuple[bool, int, int]:
        """Run one loaded batch; returns (ended in time and not stuck, issued, taken)."""
        dut = self.dut
        (self.folder / STIM_FILE).write_text(stimulus_text(packed))
        n = len(packed)
        dut.count.value = n
        dut.seed.value = self.seeds.getrandbits(32)
        dut.backpressure.value = int(self.config.backpressure)
        dut.map_check.value = int(map_check)
        dut.start.value = 1
        done = RisingEdge(dut.done)
        limit_cycles = (n + 2) * (self.watchdog + 16) + 2 * self.words + 64
        fired = await First(done, Timer(limit_cycles * PERIOD_NS, unit="ns"))
        finished = fired is done and not int(dut.stuck.value)
        issued, taken = int(dut.issued.value), int(dut.taken.value)
        dut.start.value = 0  # the design writes its memories out at this edge
        await Timer(3 * PERIOD_NS, unit="ns")  # the player sees start low (registered): idle
        return finished, issued, taken

    def record(self, req: Request, cycles: int, occupancy: float) -> None:
        op, count, _, align = req
        self.all_latency.append(cycles)
        if op in (_ALLOC, _FREE) and count <= 32 and align == 0:
            self.by_occupancy.setdefault(min(9, int(occupancy * 10)), []).append(cycles)
        if op == _ALLOC and align == 0:
            self.latency["alloc"].append(cycles)
            if count <= 32:
                self.latency["alloc32"].append(cycles)
        elif op == _FREE:
            self.latency["free"].append(cycles)
            if count <= 32:
                self.latency["free32"].append(cycles)
        else:
            self.other_latency.append(cycles)

    async def run(self, ops: int) -> None:
        config = self.config
        stim = GfaStimulus(self.ref, config.seed, errors=config.errors, period=max(200, ops // 4))
        granules = self.granules
        check_every = config.check_every
        while self.done < ops:
            start = self.done
            next_check = (start // check_every + 1) * check_every
            n = min(self.depth, ops - start, next_check - start)
            reqs: list[Request] = []
            expected: list[int] = []
            occupancy: list[float] = []
            for _ in range(n):
                occupancy.append(stim.used / granules)
                req, exp = stim.step()
                reqs.append(req)
                expected.append(pack_response(exp))
            self.occ_seen = [
                min(self.occ_seen[0], *occupancy),
                max(self.occ_seen[1], *occupancy),
            ]
            map_check = start + n == next_check or start + n == ops
            packed = [pack_request(r) for r in reqs]
            t0 = time.monotonic()
            finished, issued, taken = await self.play(packed, map_check)
            self.play_seconds += time.monotonic() - t0
            folder = self.folder
            got = read_hex(folder / RESP_FILE, taken)
            if got != expected[:taken]:
                bad = [i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b]
                k = bad[0]
                self.mismatch(
                    f"request {start + k} {reqs[k]}: DUT answered {unpack_response(got[k])}, "
                    f"model {unpack_response(expected[k])}",
                    len(bad),
                )
            accepted = read_hex(folder / ACC_FILE, taken)
            valid = read_hex(folder / VALID_FILE, taken)
            for i in range(taken):
                self.record(reqs[i], valid[i] - accepted[i] - 1, occupancy[i])
            self.issue.extend(accepted[i] - accepted[i - 1] for i in range(1, taken))
            if taken:
                self.cycles += valid[taken - 1] - accepted[0]
            self.done += taken
            if not finished:
                self.mismatch(
                    f"request {start + taken} {reqs[min(taken, n - 1)]}: no response within "
                    f"{self.watchdog} cycles of the last handshake (the DUT accepted {issued} "
                    f"and answered {taken} of the batch's {n} requests)"
                )
                break
            if map_check:
                table = self.ref.table()
                gat = read_hex(folder / MAP_FILE, self.words)
                if gat != table:
                    w = next(i for i, (a, b) in enumerate(zip(gat, table, strict=True)) if a != b)
                    self.mismatch(
                        f"after request {start + n - 1} {reqs[-1]}: GAT word {w} is "
                        f"{gat[w]:#010x}, model {table[w]:#010x}"
                    )
                self.map_checks += 1
            self.events.emit("progress", done=self.done, total=ops, mismatches=self.mismatch_count)

    def summary(self, ops: int, seconds: float) -> dict[str, Any]:
        return {
            "mode": "batch",
            "granules": self.granules,
            "fanout": self.config.fanout,
            "ops": self.done,
            "mismatches": self.mismatch_count,
            "first_mismatch": self.mismatches[0] if self.mismatches else "",
            "map_checks": self.map_checks,
            **latency_figures(
                self.latency, self.other_latency, self.by_occupancy, self.occ_seen, self.issue
            ),
            "latency_cycles": stats(self.all_latency),
            "seconds": round(seconds, 3),
            "simulation_seconds": round(self.play_seconds, 3),
            "cycles": self.cycles,
        }


@cocotb.test()
async def batch_ops(dut: Any) -> None:
    """``ops`` random requests in batches, every response and map check compared."""
    config = GfaSimConfig.from_env()
    depth = int(os.environ[DEPTH_ENV])
    watchdog = int(os.environ[WATCHDOG_ENV])
    tb = BatchBench(dut, config, depth, watchdog)
    await tb.reset()
    t0, c0 = time.monotonic(), time.process_time()
    try:
        await tb.run(config.ops)
    finally:
        summary = tb.summary(config.ops, time.monotonic() - t0)
        # the simulator and Python share this process and its one thread: the CPU it used
        summary["cpu_seconds"] = round(time.process_time() - c0, 3)
        tb.events.emit("summary", **summary)
        dut._log.info("batch: %s", json.dumps(summary))
    assert not tb.mismatches, summary["first_mismatch"]
