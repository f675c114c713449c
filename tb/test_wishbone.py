"""WishboneSignature, the Amaranth-simulator bus helpers, and GfaWishbone in Amaranth's simulator
against the model (mmaccel.sw.GranuleAllocator) through the register driver.

The cocotb run of the same checks on the Verilog is tb/test_gfa_wb_cocotb.py.
"""

import random
from typing import Any

import pytest
from amaranth.lib.wiring import Flow
from amaranth.sim import Simulator

from mmaccel.boards.host.regdriver import AsyncGfaRegisterDriver, GfaRegisterDriver
from mmaccel.hdl.bus.wishbone import WishboneSignature
from mmaccel.hdl.gfa.regs import GFA_ID, GFA_REGMAP, GFA_RESULT_NONE
from mmaccel.hdl.gfa.wishbone import GfaWishbone
from mmaccel.sw import GranuleAllocator, MemoryManagerError
from mmaccel.verif.gfa.wishbone_tb import gfa_random_session
from mmaccel.verif.wishbone import WishboneBusError, WishboneTimeout, wb_read, wb_write

R = {r.name: r.word for r in GFA_REGMAP}
OP = dict(GFA_REGMAP["CMD"].field("OP").values)
CODE = dict(GFA_REGMAP["STATUS"].field("CODE").values)


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
    with pytest.raises(ValueError, match=r"addr_width must be in 0..32, not 33"):
        WishboneSignature(33)
    with pytest.raises(ValueError, match="data_width must be 8, 16, 32 or 64, not 24"):
        WishboneSignature(4, 24)
    with pytest.raises(ValueError, match=r"at most data_width \(16\), not 32"):
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
        assert await wb_read(ctx, bus, R["HEAP_BASE"]) == 0x2000
        assert await wb_read(ctx, bus, R["NFREE"]) == 70
        # ERR: write to ro, read of wo, unmapped word (the map has 16 words, all used, so use
        # a wider bus below); nothing changes
        with pytest.raises(WishboneBusError):
            await wb_write(ctx, bus, R["NFREE"], 1)
        with pytest.raises(WishboneBusError):
            await wb_read(ctx, bus, R["CMD"])
        assert await wb_read(ctx, bus, R["OPS"]) == 0
        # a command: BUSY right after the CMD write, RESULT stalls until done
        await wb_write(ctx, bus, R["COUNT"], 3)
        await wb_write(ctx, bus, R["ALIGN"], 0)
        await wb_write(ctx, bus, R["CMD"], OP["ALLOC"])
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
        assert status == {"BUSY": 0, "FAIL": 0, "ERROR": 0, "CODE": CODE["OK"]}
        # a refused command: RESULT all ones, ERROR and CODE set, counters
        await wb_write(ctx, bus, R["COUNT"], 0)
        await wb_write(ctx, bus, R["CMD"], OP["ALLOC"])
        assert await wb_read(ctx, bus, R["RESULT"]) == GFA_RESULT_NONE
        status = GFA_REGMAP["STATUS"].unpack(await wb_read(ctx, bus, R["STATUS"]))
        assert status["ERROR"] == 1 and status["CODE"] == CODE["BAD_COUNT"]
        # raw opcode 7 is BAD_OP
        await wb_write(ctx, bus, R["CMD"], 7)
        assert await wb_read(ctx, bus, R["RESULT"]) == GFA_RESULT_NONE
        status = GFA_REGMAP["STATUS"].unpack(await wb_read(ctx, bus, R["STATUS"]))
        assert status["CODE"] == CODE["BAD_OP"]
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
    with pytest.raises(TypeError, match=r"count must be an int, not 1.5"):
        drv.alloc(1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"count must be in 0..131071 \(COUNT.COUNT\), not -1"):
        drv.alloc(-1)
    with pytest.raises(ValueError, match=r"addr must be in 0..4294967295"):
        drv.free(1 << 32, 1)
    with pytest.raises(ValueError, match="wait must be 'stall' or 'poll', not 'spin'"):
        GfaRegisterDriver(read32, write32, wait="spin")
    assert accesses == []
    with pytest.raises(MemoryManagerError, match="ID register reads 0x00000000"):
        drv.config()


def test_gfa_wb_parameters() -> None:
    with pytest.raises(
        ValueError, match=rf"addr_width must be in {GFA_REGMAP.addr_width}..30, not 3"
    ):
        GfaWishbone(granules=8, addr_width=3)
    with pytest.raises(ValueError, match=r"granules must be in 1..65536, not 0"):
        GfaWishbone(granules=0)


def test_wb_helpers_timeout_and_checks() -> None:
    dut = GfaWishbone(granules=8, log2gran=4)

    async def bench(ctx: Any) -> None:
        with pytest.raises(ValueError, match="does not fit adr"):
            await wb_read(ctx, dut.bus, 1 << GFA_REGMAP.addr_width)
        with pytest.raises(ValueError, match=r"sel must be in 0..0xf"):
            await wb_read(ctx, dut.bus, 0, sel=16)
        with pytest.raises(ValueError, match="does not fit dat_w"):
            await wb_write(ctx, dut.bus, 0, 1 << 32)
        # RESULT stalls while a command is pending: a short timeout expires
        await wb_write(ctx, dut.bus, R["COUNT"], 1)
        await wb_write(ctx, dut.bus, R["CMD"], OP["CLEAR"])
        with pytest.raises(WishboneTimeout):
            await wb_read(ctx, dut.bus, R["RESULT"], timeout=1)
        assert await wb_read(ctx, dut.bus, R["RESULT"]) == 0

    _simulate(dut, bench)


def test_gfa_wb_streams_share_the_core_with_the_bus() -> None:
    """A hardware client on the stream port and a CPU on the bus allocate and free at the same
    time: every allocation is disjoint from every other live one, each side's table view is
    consistent, and the counters see both sides' commands."""
    dut = GfaWishbone(granules=64, log2gran=4, base=0x400, streams=True)
    gsize = 16
    rng = random.Random(7)
    hw_live: list[tuple[int, int]] = []
    bus_live: list[tuple[int, int]] = []
    done = {"hw": 0, "bus": 0}

    def check_disjoint() -> None:
        used: set[int] = set()
        for addr, n in hw_live + bus_live:
            granules = {(addr - 0x400) // gsize + i for i in range(n)}
            assert not used & granules, (hw_live, bus_live)
            used |= granules

    async def hw_client(ctx: Any) -> None:
        ctx.set(dut.resp.ready, 1)
        for _ in range(40):
            if hw_live and rng.random() < 0.4:
                addr, n = hw_live.pop(rng.randrange(len(hw_live)))
                op, count, a = "FREE", n, addr
            else:
                op, count, a = "ALLOC", rng.randint(1, 6), 0
            ctx.set(dut.req.payload.op, OP[op])
            ctx.set(dut.req.payload.count, count)
            ctx.set(dut.req.payload.addr, a)
            ctx.set(dut.req.payload.align, 0)
            ctx.set(dut.req.valid, 1)
            await ctx.tick().until(dut.req.ready)
            ctx.set(dut.req.valid, 0)
            status, addr_out = (
                await ctx.tick()
                .sample(dut.resp.payload.status, dut.resp.payload.addr)
                .until(dut.resp.valid)
            )
            status_v = status.value if hasattr(status, "value") else int(status)
            if op == "ALLOC" and status_v == CODE["OK"]:
                hw_live.append((int(addr_out), count))
            else:
                assert status_v in (CODE["OK"], CODE["NO_SPACE"]), status
            check_disjoint()
            done["hw"] += 1
            for _ in range(rng.randint(0, 3)):
                await ctx.tick()

    async def cpu(ctx: Any) -> None:
        drv = _driver(ctx, dut)
        for _ in range(40):
            if bus_live and rng.random() < 0.4:
                addr, n = bus_live.pop(rng.randrange(len(bus_live)))
                await drv.free(addr, n)
            else:
                n = rng.randint(1, 6)
                addr_out = await drv.alloc(n)
                if addr_out is not None:
                    bus_live.append((addr_out, n))
            check_disjoint()
            done["bus"] += 1
        while done["hw"] < 40:
            await ctx.tick()
        # the table is the union of both sides' live allocations
        want = [0, 0]
        for addr, n in hw_live + bus_live:
            for i in range(n):
                g = (addr - 0x400) // gsize + i
                want[g // 32] |= 1 << (g % 32)
        assert await drv.table() == want
        counters = await drv.counters()
        assert counters.ops == 80 and counters.errors == 0

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(hw_client)
    sim.add_testbench(cpu)
    sim.run()
    assert done == {"hw": 40, "bus": 40}


def test_sync_driver_protocol() -> None:
    """The synchronous driver's bus accesses for ALLOC, in both waiting modes, and the mapping
    of a refused command's code to the model's exception."""
    status = GFA_REGMAP["STATUS"]
    log: list[tuple[str, int, int | None]] = []
    replies: dict[int, list[int]] = {}

    def read32(offset: int) -> int:
        log.append(("r", offset, None))
        return replies[offset].pop(0)

    def write32(offset: int, value: int) -> None:
        log.append(("w", offset, value))

    off = {r.name: r.offset for r in GFA_REGMAP}
    replies = {off["RESULT"]: [0x1230], off["STATUS"]: [status.pack(code=CODE["OK"])]}
    assert GfaRegisterDriver(read32, write32).alloc(3, 64) == 0x1230
    assert log == [
        ("w", off["COUNT"], 3),
        ("w", off["ALIGN"], 64),
        ("w", off["CMD"], OP["ALLOC"]),
        ("r", off["RESULT"], None),
        ("r", off["STATUS"], None),
    ]
    log.clear()
    busy = status.pack(busy=1)
    replies = {
        off["STATUS"]: [busy, busy, status.pack(code=CODE["IN_USE"])],
        off["RESULT"]: [GFA_RESULT_NONE],
    }
    with pytest.raises(MemoryManagerError, match="RESERVE of 2 granules at 0x40 refused") as info:
        GfaRegisterDriver(read32, write32, wait="poll").reserve(0x40, 2)
    assert type(info.value).__name__ == "GranulesInUse"
    assert [a for a in log if a[0] == "r"] == [("r", off["STATUS"], None)] * 3 + [
        ("r", off["RESULT"], None)
    ]
