"""Quick checks of mmaccel.hdl.gfa.GranuleFrameAllocator in Amaranth's simulator.

A producer and a consumer run concurrently with random back-pressure on both streams; every
response is compared with :class:`mmaccel.verif.gfa.reference.GfaReference` (the model) and the
whole allocation map is read through the debug port and compared with the model's table after every
directed request and every few random ones. The longer regression runs on the Verilog in
cocotb (tb/test_gfa_cocotb.py).
"""

import random
from collections import deque
from pathlib import Path
from typing import Any

import pytest
from amaranth.sim import Simulator

from mmaccel.cli import main
from mmaccel.hdl.gfa import GfaOp, GfaStatus, GranuleFrameAllocator
from mmaccel.verif.gfa.reference import GfaReference, GfaResult, Request, code
from mmaccel.verif.gfa.stimulus import GfaStimulus, directed_requests


def _run(
    dut: GranuleFrameAllocator,
    ref: GfaReference,
    requests: list[tuple[Request, GfaResult]],
    *,
    seed: int,
    check_every: int,
) -> dict[str, Any]:
    """Drive ``requests`` through ``dut``; return mismatches and latencies."""
    rng = random.Random(seed)
    expected: deque[tuple[int, Request, GfaResult]] = deque()
    accepted: dict[int, int] = {}
    out: dict[str, Any] = {"mismatches": [], "latency": {}, "done": 0}
    cycle = [0]
    tables: dict[int, list[int]] = {}
    # the model's table after request i, for the map checks
    shadow = GfaReference(ref.granules, ref.log2gran, ref.base)
    for i, (req, _) in enumerate(requests):
        shadow.apply(*req)
        if (i + 1) % check_every == 0 or i == len(requests) - 1:
            tables[i] = shadow.table()

    async def clock(ctx: Any) -> None:
        async for _ in ctx.tick():
            cycle[0] += 1

    async def producer(ctx: Any) -> None:
        for i, (req, exp) in enumerate(requests):
            for _ in range(rng.choice([0, 0, 0, 1, 3])):
                await ctx.tick()
            op, count, addr, align = req
            ctx.set(dut.req.payload.op.as_value(), op)
            ctx.set(dut.req.payload.count, count)
            ctx.set(dut.req.payload.addr, addr)
            ctx.set(dut.req.payload.align, align)
            ctx.set(dut.req.valid, 1)
            await ctx.tick().until(dut.req.ready)
            accepted[i] = cycle[0]
            expected.append((i, req, exp))
            ctx.set(dut.req.valid, 0)
            if i in tables:
                # wait for the response to be taken and the engine to go idle, then read the map
                while expected or ctx.get(dut.busy):
                    await ctx.tick()
                words = []
                for w in range(dut.words):
                    ctx.set(dut.dbg_addr, w)
                    await ctx.tick()
                    words.append(ctx.get(dut.dbg_data))
                if words != tables[i]:
                    bad = next(w for w in range(len(words)) if words[w] != tables[i][w])
                    out["mismatches"].append(
                        f"after request {i} {req}: GAT word {bad} is {words[bad]:#010x}, "
                        f"model {tables[i][bad]:#010x}"
                    )

    async def consumer(ctx: Any) -> None:
        while out["done"] < len(requests):
            ready = rng.random() < 0.7
            ctx.set(dut.resp.ready, ready)
            _, _, valid, payload = await ctx.tick().sample(dut.resp.valid, dut.resp.payload)
            if ready and valid:
                i, req, exp = expected.popleft()
                status = payload.status
                got = GfaResult(
                    code(status) if isinstance(status, GfaStatus) else int(status),
                    int(payload.addr),
                    int(payload.free_count),
                    int(payload.largest_run),
                )
                if got != exp:
                    out["mismatches"].append(f"request {i} {req}: got {got}, model {exp}")
                out["done"] += 1

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_process(clock)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run()
    return out


def _expected(ref: GfaReference, reqs: list[Request]) -> list[tuple[Request, GfaResult]]:
    return [(req, ref.apply(*req)) for req in reqs]


@pytest.mark.parametrize(
    ("granules", "log2gran", "base"),
    [(1, 4, 0), (33, 4, 0x1000), (100, 12, 0x8000_0000), (1000, 6, 0x40)],
)
def test_directed(granules: int, log2gran: int, base: int) -> None:
    dut = GranuleFrameAllocator(granules=granules, log2gran=log2gran, base=base)
    ref = GfaReference(granules, log2gran, base)
    reqs = _expected(ref, directed_requests(granules, log2gran, base, dut.fanout))
    out = _run(dut, GfaReference(granules, log2gran, base), reqs, seed=granules, check_every=1)
    assert out["mismatches"] == []


@pytest.mark.parametrize(("granules", "fanout", "seed"), [(77, 2, 1), (300, 4, 2), (2049, 8, 3)])
def test_random(granules: int, fanout: int, seed: int) -> None:
    dut = GranuleFrameAllocator(granules=granules, log2gran=5, base=0x2000, fanout=fanout)
    ref = GfaReference(granules, 5, 0x2000)
    stim = GfaStimulus(ref, seed, period=200)
    reqs = [stim.step() for _ in range(400)]
    out = _run(dut, GfaReference(granules, 5, 0x2000), reqs, seed=seed, check_every=25)
    assert out["mismatches"] == []
    statuses = {exp.status for _, exp in reqs}
    # the run exercises success, failure and errors
    assert {code(GfaStatus.OK), code(GfaStatus.BAD_ADDR)} <= statuses


def test_scoreboard_catches_a_wrong_answer() -> None:
    """A response that differs from the model's is reported (the checker can fail)."""
    dut = GranuleFrameAllocator(granules=40, log2gran=4)
    reqs = _expected(GfaReference(40, 4), [(code(GfaOp.ALLOC), 3, 0, 0)])
    (req, exp) = reqs[0]
    wrong = [(req, GfaResult(exp.status, exp.addr + 16, exp.free_count, exp.largest_run))]
    out = _run(dut, GfaReference(40, 4), wrong, seed=0, check_every=1)
    assert len(out["mismatches"]) == 1


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"granules": 0}, ValueError),
        ({"granules": 65537}, ValueError),
        ({"granules": 10, "log2gran": 0}, ValueError),
        ({"granules": 10, "bus_width": 64}, ValueError),
        ({"granules": 10, "fanout": 3}, ValueError),
        ({"granules": 65536, "log2gran": 16, "base": 1}, ValueError),
        ({"granules": 10.0}, TypeError),
    ],
)
def test_bad_parameters(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error) as info:
        GranuleFrameAllocator(**kwargs)
    bad = next(iter(kwargs.values())) if len(kwargs) == 1 else list(kwargs.values())[-1]
    assert str(bad) in str(info.value) or hex(bad) in str(info.value)


def test_tree_shape() -> None:
    """Levels and node counts: 32768 granules = 1024 words, fan-out 4 -> 5 levels."""
    dut = GranuleFrameAllocator(granules=32768)
    dut._MustUse__silence = True  # inspected, not simulated
    assert dut.words == 1024
    assert dut.level_counts == [1024, 256, 64, 16, 4, 1]
    assert dut.levels == 5
    small = GranuleFrameAllocator(granules=1)
    small._MustUse__silence = True
    assert small.levels == 1
    assert small.empty_summary(0, 0) == (1, 0, 1)
    assert small.pad_word == 0xFFFF_FFFE


def test_cli_verilog(tmp_path: Path) -> None:
    """``mmaccel verilog gfa`` writes a module; bad parameters write nothing and return 2."""
    out = tmp_path / "gfa.v"
    assert main(["verilog", "gfa", "--granules", "100", "--core", "-o", str(out)]) == 0
    text = out.read_text()
    assert "module mmaccel_gfa" in text and "req__payload" in text and "dbg_data" in text
    bad = tmp_path / "bad.v"
    assert main(["verilog", "gfa", "--granules", "70000", "-o", str(bad)]) == 2
    assert not bad.exists()


def test_cli_sim_rejects_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "gfa", "--ops", "0"]) == 2
    assert "--ops must be at least 1, not 0" in capsys.readouterr().err
    assert main(["bench", "gfa", "--granules", "0", "--json"]) == 2
    assert "granules must be in 1..65536, not 0" in capsys.readouterr().err
