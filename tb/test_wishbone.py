"""WishboneSignature, the Amaranth-simulator bus helpers, and GfaWishbone in Amaranth's simulator
against the model (mmaccel.sw.GranuleAllocator) through the register driver.

The cocotb run of the same checks on the Verilog is tb/test_gfa_wb_cocotb.py.
"""

import random
from typing import Any

import pytest
from amaranth.lib import wiring
from amaranth.lib.wiring import Flow
from amaranth.sim import Simulator

from mmaccel.hdl.gfa import GfaOp, GfaStatus
from mmaccel.hdl.gfa_regs import GFA_ID, GFA_REGMAP, GFA_RESULT_NONE
from mmaccel.hdl.gfa_wb import GfaWishbone
from mmaccel.hdl.wishbone import (
    WishboneBusError,
    WishboneSignature,
    WishboneTimeout,
    wb_read,
    wb_write,
)
from mmaccel.sw import GranuleAllocator, MemoryManagerError
from mmaccel.sw.gfa_driver import AsyncGfaRegisterDriver, GfaRegisterDriver

from gfa_wb_tb import gfa_random_session

R = {r.name: r.word for r in GFA_REGMAP}


def test_signature_members() -> None:
    sig = WishboneSignature(addr_width=10)
    flows = {name: m.flow for name, m in sig.members.items()}
    assert flows == {
        "adr": Flow.Out,
        "dat_w": Flow.Out,
        "dat_r": Flow.In,
        "sel": Flow.Out,
        "cyc": Flow.Out,
        "stb": Flow.Out,
        "we": Flow.Out,
        "ack": Flow.In,
        "err": Flow.In,
    }
    assert sig.members["adr"].shape == 10
    assert sig.members["sel"].shape == 4
    assert WishboneSignature(8, 64, 16).members["sel"].shape == 4
    assert sig == WishboneSignature(10, 32, 8) and sig != WishboneSignature(11)
    assert hash(sig) == hash(WishboneSignature(10))
    assert repr(sig) == "WishboneSignature(addr_width=10, data_width=32, granularity=8)"
    iface = sig.create()
    assert len(iface.dat_w) == 32
    assert sig.flip().members["ack"].flow == Flow.Out


def test_signature_validation() -> None:
    with pytest.raises(TypeError, match="addr_width must be an int, not '8'"):
        WishboneSignature("8")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="addr_width must be in 0..32, not 33"):
        WishboneSignature(33)
    with pytest.raises(ValueError, match="data_width must be 8, 16, 32 or 64, not 24"):
        WishboneSignature(4, 24)
    with pytest.raises(ValueError, match="at most data_width \\(16\\), not 32"):
        WishboneSignature(4, 16, 32)


# -- GfaWishbone in Amaranth's simulator ---------------------------------------------------------


def _simulate(dut: Any, bench: Any) -> None:
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


def _driver(ctx: Any, dut: GfaWishbone, wait: str = "stall") -> AsyncGfaRegisterDriver:
    async def read32(offset: int) -> int:
        return await wb_read(ctx, dut.bus, offset // 4)

    async def write32(offset: int, value: int) -> None:
        await wb_write(ctx, dut.bus, offset // 4, value)

    return AsyncGfaRegisterDriver(read32, write32, wait=wait)


def test_gfa_wb_registers_and_protocol() -> None:
    dut = GfaWishbone(granules=70, log2gran=5, base=0x2000)

    async def bench(ctx: Any) -> None:
        bus = dut.bus
        assert await wb_read(ctx, bus, R["ID"]) == GFA_ID
        cfg = GFA_REGMAP["CONFIG"].unpack(await wb_read(ctx, bus, R["CONFIG"]))
        assert cfg == {"GRANULES": 70, "LOG2GRAN": 5}
        assert await wb_read(ctx, bus, R["BASE"]) == 0x2000
        assert await wb_read(ctx, bus, R["FREE"]) == 70
        # ERR: write to ro, read of wo, unmapped word (the map has 16 words, all used, so use
        # a wider bus below); nothing changes
        with pytest.raises(WishboneBusError):
            await wb_write(ctx, bus, R["FREE"], 1)
        with pytest.raises(WishboneBusError):
            await wb_read(ctx, bus, R["CMD"])
        assert await wb_read(ctx, bus, R["OPS"]) == 0
        # a command: BUSY right after the CMD write, RESULT stalls until done
        await wb_write(ctx, bus, R["COUNT"], 3)
        await wb_write(ctx, bus, R["ALIGN"], 0)
        await wb_write(ctx, bus, R["CMD"], GfaOp.ALLOC.value)
        status = GFA_REGMAP["STATUS"].unpack(await wb_read(ctx, bus, R["STATUS"]))
        assert status["BUSY"] == 1
        ctx.set(bus.adr, R["RESULT"])
        ctx.set(bus.cyc, 1)
        ctx.set(bus.stb, 1)
        waited = 0
        while True:
            _, _, ack = await ctx.tick().sample(bus.ack)
            if ack:
                break
            waited += 1
        result = ctx.get(bus.dat_r)
        ctx.set(bus.cyc, 0)
        ctx.set(bus.stb, 0)
        assert waited > 0  # the read was stalled while BUSY
        assert result == 0x2000
        status = GFA_REGMAP["STATUS"].unpack(await wb_read(ctx, bus, R["STATUS"]))
        assert status == {"BUSY": 0, "FAIL": 0, "ERROR": 0, "CODE": GfaStatus.OK.value}
        # a refused command: RESULT all ones, ERROR and CODE set, counters
        await wb_write(ctx, bus, R["COUNT"], 0)
        await wb_write(ctx, bus, R["CMD"], GfaOp.ALLOC.value)
        assert await wb_read(ctx, bus, R["RESULT"]) == GFA_RESULT_NONE
        status = GFA_REGMAP["STATUS"].unpack(await wb_read(ctx, bus, R["STATUS"]))
        assert status["ERROR"] == 1 and status["CODE"] == GfaStatus.BAD_COUNT.value
        # raw opcode 7 is BAD_OP
        await wb_write(ctx, bus, R["CMD"], 7)
        assert await wb_read(ctx, bus, R["RESULT"]) == GFA_RESULT_NONE
        status = GFA_REGMAP["STATUS"].unpack(await wb_read(ctx, bus, R["STATUS"]))
        assert status["CODE"] == GfaStatus.BAD_OP.value
        assert [await wb_read(ctx, bus, R[n]) for n in ("OPS", "FAILS", "ERRORS")] == [3, 0, 2]
        # GAT window with auto-increment; past the end reads 0
        await wb_write(ctx, bus, R["GAT_INDEX"], 0)
        words = [await wb_read(ctx, bus, R["GAT_DATA"]) for _ in range(4)]
        assert words == [0b111, 0, 0, 0]
        assert await wb_read(ctx, bus, R["GAT_INDEX"]) == 4

    _simulate(dut, bench)


def test_gfa_wb_unmapped_word_errs() -> None:
    dut = GfaWishbone(granules=8, log2gran=4, addr_width=6)

    async def bench(ctx: Any) -> None:
        with pytest.raises(WishboneBusError, match="0x10"):
            await wb_read(ctx, dut.bus, 0x10)
        with pytest.raises(WishboneBusError, match="0x3f"):
            await wb_write(ctx, dut.bus, 0x3F, 1)
        assert await wb_read(ctx, dut.bus, R["ID"]) == GFA_ID

    _simulate(dut, bench)


@pytest.mark.parametrize(
    ("granules", "log2gran", "base", "wait", "seed"),
    [(100, 4, 0x1000, "stall", 1), (33, 12, 0x8000_0000, "poll", 2), (1, 2, 0, "stall", 3)],
)
def test_gfa_wb_against_model(
    granules: int, log2gran: int, base: int, wait: str, seed: int
) -> None:
    dut = GfaWishbone(granules=granules, log2gran=log2gran, base=base)
    model = GranuleAllocator(base, granules << log2gran, log2gran)

    async def bench(ctx: Any) -> None:
        drv = _driver(ctx, dut, wait)
        ops, fails, errors = await gfa_random_session(drv, model, random.Random(seed), 60)
        counters = await drv.counters()
        assert (counters.ops, counters.fails, counters.errors) == (ops, fails, errors)

    _simulate(dut, bench)


def test_driver_refuses_bad_arguments_before_the_bus() -> None:
    accesses: list[tuple[int, int | None]] = []

    def read32(offset: int) -> int:
        accesses.append((offset, None))
        return 0

    def write32(offset: int, value: int) -> None:
        accesses.append((offset, value))

    drv = GfaRegisterDriver(read32, write32)
    with pytest.raises(TypeError, match="count must be an int, not 1.5"):
        drv.alloc(1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="count must be in 0..131071 \\(COUNT.COUNT\\), not -1"):
        drv.alloc(-1)
    with pytest.raises(ValueError, match="addr must be in 0..4294967295"):
        drv.free(1 << 32, 1)
    with pytest.raises(ValueError, match="wait must be 'stall' or 'poll', not 'spin'"):
        GfaRegisterDriver(read32, write32, wait="spin")
    assert accesses == []
    with pytest.raises(MemoryManagerError, match="ID register reads 0x00000000"):
        drv.config()


def test_gfa_wb_parameters() -> None:
    with pytest.raises(ValueError, match="addr_width must be in 4..30, not 3"):
        GfaWishbone(granules=8, addr_width=3)
    with pytest.raises(ValueError, match="granules must be in 1..65536, not 0"):
        GfaWishbone(granules=0)


def test_wb_helpers_timeout_and_checks() -> None:
    dut = GfaWishbone(granules=8, log2gran=4)

    async def bench(ctx: Any) -> None:
        with pytest.raises(ValueError, match="does not fit adr"):
            await wb_read(ctx, dut.bus, 16)
        with pytest.raises(ValueError, match="sel must be in 0..0xf"):
            await wb_read(ctx, dut.bus, 0, sel=16)
        with pytest.raises(ValueError, match="does not fit dat_w"):
            await wb_write(ctx, dut.bus, 0, 1 << 32)
        # RESULT stalls while a command is pending: a short timeout expires
        await wb_write(ctx, dut.bus, R["COUNT"], 1)
        await wb_write(ctx, dut.bus, R["CMD"], GfaOp.CLEAR.value)
        with pytest.raises(WishboneTimeout):
            await wb_read(ctx, dut.bus, R["RESULT"], timeout=1)
        assert await wb_read(ctx, dut.bus, R["RESULT"]) == 0

    _simulate(dut, bench)
