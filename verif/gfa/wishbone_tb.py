"""cocotb test bench of GfaWishbone: the register interface driven over Wishbone, compared with
the model (mmaccel.sw.GranuleAllocator) operation by operation.

Bus masters: cocotbext-wishbone's ``WishboneMaster`` (through cocotb-bus) and, as the fallback
that needs nothing else, :class:`mmaccel.verif.wishbone.CocotbWishboneMaster`. Each test runs
with both; the same
driver code (:class:`AsyncGfaRegisterDriver`)
and the same random session (:func:`gfa_random_session`, shared with the Amaranth-simulator
test in test_wishbone.py) run on top of either.

Parameters: one :class:`~mmaccel.verif.config.GfaSimConfig` (granules, log2gran and base of the
design; ``seed`` of the random session; ``ops``, its operations).
"""

import random
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge
from cocotb.utils import get_sim_time

from mmaccel.boards.host.regdriver import AsyncGfaRegisterDriver
from mmaccel.hdl.gfa.regs import GFA_ID, GFA_REGMAP, GFA_RESULT_NONE
from mmaccel.sw import GranuleAllocator, MemoryManagerError
from mmaccel.verif.config import GfaSimConfig
from mmaccel.verif.wishbone import CocotbWishboneMaster, WishboneBusError

PERIOD_NS = 10

Read32 = Callable[[int], Awaitable[int]]
Write32 = Callable[[int, int], Awaitable[None]]


# -- the random session against the model (also used by test_wishbone.py) ----------------------


def _outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    """(exception class name or "ok", return value) of a model call."""
    try:
        return "ok", call()
    except MemoryManagerError as error:
        return type(error).__name__, None


async def _hw_outcome(call: Callable[[], Awaitable[Any]]) -> tuple[str, Any]:
    try:
        return "ok", await call()
    except MemoryManagerError as error:
        return type(error).__name__, None


def _model_free(model: GranuleAllocator, addr: int, n: int) -> None:
    model.free_granules(model.index_of(addr), n)


#: The driver reports BAD_ADDR as GranuleRangeError; the model raises InvalidPointer for an
#: address that is not a granule boundary of the heap (the hardware does not tell them apart).
_SAME = {"InvalidPointer": "GranuleRangeError"}


def bad_sizes(granules: int, log2gran: int) -> list[int]:
    """Byte sizes an ALLOC_SIZE must refuse with BAD_COUNT (that fit 32 bits): 0, the heap
    plus one byte, 0xFFFFFFFF, one byte more than the largest COUNT (the increment carries out
    of COUNT), and 2**(17 + log2gran) + one granule (a count whose low 17 bits are 1)."""
    gsize = 1 << log2gran
    sizes = [0, (granules << log2gran) + 1, 0xFFFF_FFFF, (0x1_FFFF << log2gran) + 1]
    sizes.append((1 << (17 + log2gran)) + gsize)
    return sorted({s for s in sizes if s <= 0xFFFF_FFFF})


def _byte_size(rng: random.Random, n: int, gsize: int) -> int:
    """A byte size of ``n`` granules, not always a multiple of the granule size."""
    return n * gsize - rng.choice([0, 0, rng.randrange(gsize)])


async def gfa_random_session(
    drv: AsyncGfaRegisterDriver, model: GranuleAllocator, rng: random.Random, steps: int
) -> tuple[int, int, int]:
    """Random ALLOC/FREE/RESERVE/INFO/CLEAR with bad arguments mixed in, each compared with
    ``model`` (result or exception class), the whole table compared after every step. About
    half of the ALLOCs and FREEs go through the byte-size registers (ALLOC_SIZE, FREE_SIZE:
    ``drv.alloc_bytes``/``drv.free_bytes`` against the model's ``alloc(size, align)`` /
    ``free(addr, size)``), the others through COUNT and CMD.

    Returns the (ops, fails, errors) the counters must show.
    """
    granules = model.ngranules
    gsize = 1 << model.log2gran
    sizes_bad = bad_sizes(granules, model.log2gran)
    live: list[tuple[int, int]] = []
    ops = fails = errors = 0
    for _ in range(steps):
        r = rng.random()
        by_size = rng.random() < 0.5
        if r < 0.4:
            if rng.random() < 0.15:  # a bad count or a bad alignment, never both
                n, align = rng.choice([(0, 0), (granules + 1, 0), (1, 3 * gsize), (1, 6)])
                size = rng.choice(sizes_bad) if n != 1 else _byte_size(rng, 1, gsize)
            else:
                n = rng.choice([1, 2, 3, rng.randint(1, granules)])
                align = rng.choice([0, 0, 0, 1, gsize, 2 * gsize, 4 * gsize, 16 * gsize])
                size = _byte_size(rng, n, gsize)
            if by_size:
                want = _outcome(partial(model.alloc, size, align or None))
                got = await _hw_outcome(partial(drv.alloc_bytes, size, align))
                assert got == want, ("alloc_bytes", size, align, got, want)
            else:
                want = _outcome(partial(model.alloc, n * gsize, align or None))
                got = await _hw_outcome(partial(drv.alloc, n, align))
                assert got == want, ("alloc", n, align, got, want)
            if want[0] != "ok":
                errors += 1
            elif want[1] is None:
                fails += 1
            else:
                live.append((want[1], n))
        elif r < 0.65 and live:
            addr, n = live.pop(rng.randrange(len(live)))
            if rng.random() < 0.2:  # a double free, or a range that is not a block
                addr += rng.choice([0, gsize, gsize // 2])
                n += rng.choice([0, 1])
            if by_size:
                size = _byte_size(rng, n, gsize)
                if rng.random() < 0.05:  # BAD_COUNT, or a range past the heap's end
                    size = rng.choice(
                        [0, 0xFFFF_FFFF, min((granules << model.log2gran) + 1, 0xFFFF_FFFF)]
                    )
                want = _outcome(partial(model.free, addr, size))
                got = await _hw_outcome(partial(drv.free_bytes, addr, size))
                assert got[0] == _SAME.get(want[0], want[0]), ("free_bytes", addr, size, got, want)
            else:
                want = _outcome(partial(_model_free, model, addr, n))
                got = await _hw_outcome(partial(drv.free, addr, n))
                assert got[0] == _SAME.get(want[0], want[0]), ("free", addr, n, got, want)
            errors += want[0] != "ok"
        elif r < 0.85:
            idx = rng.randrange(granules)
            n = rng.randint(1, min(4, granules - idx) + 1)  # may leave the heap
            addr = model.address_of(idx)
            want = _outcome(partial(model.reserve_granules, idx, n))
            got = await _hw_outcome(partial(drv.reserve, addr, n))
            assert got[0] == want[0], ("reserve", addr, n, got, want)
            errors += want[0] != "ok"
        elif r < 0.97:
            assert await drv.info() == model.info()
        else:
            await drv.clear()
            model.clear()
            live.clear()
        ops += 1
        assert await drv.table() == model.table()
    assert await drv.info() == model.info()
    return ops + 1, fails, errors


# -- bus masters ---------------------------------------------------------------------------------


def _cocotbext_master(dut: Any) -> tuple[Read32, Write32]:
    """read32/write32 over cocotbext-wishbone's WishboneMaster on the ``bus__*`` ports."""
    from cocotbext.wishbone.driver import WBOp, WishboneMaster

    master = WishboneMaster(
        dut,
        "bus",
        dut.clk,
        width=32,
        timeout=100_000,
        bus_separator="__",
        signals_dict={
            "cyc": "cyc",
            "stb": "stb",
            "we": "we",
            "adr": "adr",
            "datwr": "dat_w",
            "datrd": "dat_r",
            "ack": "ack",
        },
    )

    async def access(offset: int, data: int | None) -> int:
        (res,) = await master.send_cycle([WBOp(adr=offset // 4, dat=data)])
        if res.ack == 2:
            raise WishboneBusError(offset // 4, data is not None)
        if res.ack != 1:
            raise AssertionError(f"unexpected Wishbone reply code {res.ack} at {offset:#x}")
        return 0 if data is not None else int(res.datrd.to_unsigned())

    async def read32(offset: int) -> int:
        return await access(offset, None)

    async def write32(offset: int, value: int) -> None:
        await access(offset, value)

    return read32, write32


def _own_master(dut: Any) -> tuple[Read32, Write32]:
    master = CocotbWishboneMaster(dut, "bus", dut.clk)

    async def read32(offset: int) -> int:
        return await master.read(offset // 4)

    async def write32(offset: int, value: int) -> None:
        await master.write(offset // 4, value)

    return read32, write32


MASTERS = {"cocotbext": _cocotbext_master, "own": _own_master}


async def _start(dut: Any, master: str) -> tuple[Read32, Write32]:
    Clock(dut.clk, PERIOD_NS, unit="ns").start()
    dut.rst.value = 1
    # Drive the bus lines with scheduled writes first: Icarus drops the Immediate writes that
    # cocotbext-wishbone's constructor makes to undriven inputs at time 0, leaving them Z.
    for name in ("cyc", "stb", "we", "adr", "dat_w"):
        getattr(dut, f"bus__{name}").value = 0
    bus = MASTERS[master](dut)
    await ClockCycles(dut.clk, 3)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 1)
    return bus


# -- tests ---------------------------------------------------------------------------------------


async def _registers_and_errors(dut: Any, master: str) -> None:
    """Identification, configuration, ERR for unmapped words / ro writes / wo reads (no effect),
    a stalled RESULT read right after CMD, and the GAT window."""
    config = GfaSimConfig.from_env()
    read32, write32 = await _start(dut, master)
    regs = GFA_REGMAP
    assert await read32(regs["ID"].offset) == GFA_ID
    cfg = regs["CONFIG"].unpack(await read32(regs["CONFIG"].offset))
    granules, log2gran = cfg["GRANULES"], cfg["LOG2GRAN"]
    assert granules == config.granules and log2gran == config.log2gran
    base = await read32(regs["HEAP_BASE"].offset)
    assert base == config.base
    bad = [
        (regs.size, None),
        (regs.size + 4, 1),
        (regs["NFREE"].offset, 5),
        (regs["CMD"].offset, None),
    ]
    for offset, data in bad:
        try:
            if data is None:
                await read32(offset)
            else:
                await write32(offset, data)
        except WishboneBusError:
            pass
        else:
            raise AssertionError(f"no ERR for {'read' if data is None else 'write'} at {offset:#x}")
    assert await read32(regs["NFREE"].offset) == granules  # the refused write changed nothing
    assert await read32(regs["OPS"].offset) == 0
    # write CMD, then read RESULT straight away: the bus stalls until the command is done
    await write32(regs["COUNT"].offset, 2)
    await write32(regs["ALIGN"].offset, 0)
    await write32(
        regs["CMD"].offset, regs["CMD"].pack(op=regs["CMD"].field("OP").value_of("ALLOC"))
    )
    assert await read32(regs["RESULT"].offset) == base
    status = regs["STATUS"].unpack(await read32(regs["STATUS"].offset))
    assert status == {"BUSY": 0, "FAIL": 0, "ERROR": 0, "CODE": 0}
    await write32(regs["GAT_INDEX"].offset, 0)
    assert await read32(regs["GAT_DATA"].offset) == 0b11
    assert await read32(regs["GAT_INDEX"].offset) == 1


async def _random_against_model(dut: Any, master: str, wait: str) -> None:
    """A random session through the register driver, compared with the model step by step."""
    config = GfaSimConfig.from_env()
    read32, write32 = await _start(dut, master)
    drv = AsyncGfaRegisterDriver(read32, write32, wait=wait)
    cfg = await drv.config()
    model = GranuleAllocator(cfg.base, cfg.granules << cfg.log2gran, cfg.log2gran)
    seed = config.seed + (master == "own") + 2 * (wait == "poll")
    ops, fails, errors = await gfa_random_session(drv, model, random.Random(seed), config.ops)
    counters = await drv.counters()
    assert (counters.ops, counters.fails, counters.errors) == (ops, fails, errors)
    dut._log.info(
        "%s master, %s: %d commands (%d NO_SPACE, %d refused) matched the model",
        master,
        wait,
        ops,
        fails,
        errors,
    )


async def _byte_size_edges(dut: Any, master: str) -> None:
    """ALLOC_SIZE and FREE_SIZE at their edges against the model: sizes 0, the heap, the heap
    plus one, 0xFFFFFFFF, counts that overflow COUNT, non-multiples of the granule size, with
    ALIGN set and a bad ALIGN; COUNT after each write, and the state (table, FREE, LARGEST,
    counters) unchanged after every refusal. Then an ALLOC_SIZE written while BUSY (stalled)."""
    config = GfaSimConfig.from_env()
    read32, write32 = await _start(dut, master)
    drv = AsyncGfaRegisterDriver(read32, write32)
    cfg = await drv.config()
    log2gran, granules = cfg.log2gran, cfg.granules
    gsize, heap = 1 << log2gran, cfg.granules << cfg.log2gran
    model = GranuleAllocator(cfg.base, heap, log2gran)
    regs = GFA_REGMAP
    count_max = (1 << regs["COUNT"].field("COUNT").width) - 1
    ops = fails = errors = 0

    async def check_state() -> None:
        nonlocal ops
        assert await drv.table() == model.table()
        assert await drv.info() == model.info()
        ops += 1  # the INFO
        counters = await drv.counters()
        assert (counters.ops, counters.fails, counters.errors) == (ops, fails, errors)

    async def step(kind: str, size: int, arg: int = 0) -> tuple[str, Any]:
        """One ALLOC_SIZE (arg = align) or FREE_SIZE (arg = addr), compared with the model."""
        nonlocal ops, fails, errors
        if kind == "alloc":
            want = _outcome(partial(model.alloc, size, arg or None))
            got = await _hw_outcome(partial(drv.alloc_bytes, size, arg))
            assert got == want, (kind, size, arg, got, want)
        else:
            want = _outcome(partial(model.free, arg, size))
            got = await _hw_outcome(partial(drv.free_bytes, arg, size))
            assert got[0] == _SAME.get(want[0], want[0]), (kind, size, arg, got, want)
        ops += 1
        fails += want == ("ok", None) and kind == "alloc"
        errors += want[0] != "ok"
        count = -(-size // gsize)
        assert await read32(regs["COUNT"].offset) == min(count, count_max), (kind, size)
        await check_state()  # also after every refusal: nothing changed
        return want

    await check_state()
    for size in bad_sizes(granules, log2gran):
        assert (await step("alloc", size))[0] == "InvalidArgument", size
        assert (await step("free", size, cfg.base))[0] != "ok", size
    # the whole heap, exactly and one byte short, then freed with the same sizes
    for size in (heap, heap - 1):
        if heap <= 0xFFFF_FFFF and size > 0:
            assert await step("alloc", size) == ("ok", cfg.base)
            assert await step("alloc", 1) == ("ok", None)  # NO_SPACE
            assert await step("free", size, cfg.base) == ("ok", None)
    # sizes that are not multiples of the granule size, aligned and not
    rng = random.Random(config.seed)
    live: list[tuple[int, int]] = []
    for i in range(24):
        n = rng.randint(1, max(1, granules // 8))
        size = n * gsize - rng.choice([0, 1, gsize - 1, rng.randrange(gsize)])
        align = [0, 0, gsize, 4 * gsize, 1, 2, 3 * gsize][i % 7]
        outcome, addr = await step("alloc", size, align)
        if outcome == "ok" and addr is not None:
            live.append((addr, size))
    for addr, size in live[::2]:
        await step("free", size + gsize, addr)  # one granule more: refused unless it is in use
        await step("free", size, addr)
        assert (await step("free", size, addr))[0] == "GranulesNotInUse"  # freed already
    # ALLOC_SIZE written while a command is running: the write stalls until it is done
    await write32(regs["COUNT"].offset, 1)
    await write32(regs["ALIGN"].offset, 0)
    await write32(
        regs["CMD"].offset, regs["CMD"].pack(op=regs["CMD"].field("OP").value_of("ALLOC"))
    )
    await write32(regs["ALLOC_SIZE"].offset, 3 * gsize - 1)
    first = model.alloc(gsize)
    second = model.alloc(3 * gsize - 1)
    result = await read32(regs["RESULT"].offset)
    assert result == (GFA_RESULT_NONE if second is None else second), (first, second, result)
    assert await read32(regs["COUNT"].offset) == 3
    ops += 2
    fails += (first is None) + (second is None)
    await check_state()
    dut._log.info("%s master: byte-size edges matched the model (%d commands)", master, ops)


async def _bus_cycles(dut: Any) -> None:
    """Bus cycles (``cyc`` high, back-to-back accesses of the project's master) of a 1-granule
    ALLOC on an empty allocator: ALLOC_SIZE + RESULT versus COUNT + CMD + RESULT, and of an
    INFO (core latency 2): CMD + RESULT."""
    read32, write32 = await _start(dut, "own")
    regs = GFA_REGMAP
    op = regs["CMD"].field("OP")

    async def cycles(seq: list[tuple[str, int | None]]) -> tuple[int, int]:
        await FallingEdge(dut.clk)
        start = get_sim_time("ns")
        value = 0
        for name, data in seq:
            if data is None:
                value = await read32(regs[name].offset)
            else:
                await write32(regs[name].offset, data)
        # from the falling edge before the first strobe to the one after the last ACK, plus the
        # half cycles on either side: every cycle with ``cyc`` high
        return round((get_sim_time("ns") - start) / PERIOD_NS) + 1, value

    base = await read32(regs["HEAP_BASE"].offset)
    while regs["STATUS"].unpack(await read32(regs["STATUS"].offset))["BUSY"]:
        pass  # the boot CLEAR
    by_size, result = await cycles([("ALLOC_SIZE", 1), ("RESULT", None)])
    assert result == base
    await write32(regs["FREE_SIZE"].offset, 1)  # ADDR is still 0: not a block; refused
    await write32(regs["ADDR"].offset, base)
    await write32(regs["FREE_SIZE"].offset, 1)
    assert await read32(regs["RESULT"].offset) == 0
    by_cmd, result = await cycles(
        [("COUNT", 1), ("CMD", regs["CMD"].pack(op=op.value_of("ALLOC"))), ("RESULT", None)]
    )
    assert result == base
    info, result = await cycles(
        [("CMD", regs["CMD"].pack(op=op.value_of("INFO"))), ("RESULT", None)]
    )
    assert result == 0
    dut._log.info(
        "bus cycles: ALLOC_SIZE + RESULT %d, COUNT + CMD + RESULT %d, INFO CMD + RESULT %d",
        by_size,
        by_cmd,
        info,
    )
    # a write takes 2 cycles (registered ACK); an INFO answers 2 cycles after the core accepts
    # it, which is 1 cycle after the CMD write; the RESULT read is accepted in that cycle.
    assert info == 2 + 1 + 2 + 1, info
    assert by_cmd == by_size + 2, (by_cmd, by_size)


@cocotb.test()
async def byte_size_edges(dut: Any) -> None:
    """ALLOC_SIZE / FREE_SIZE edge cases against the model (the project's own master)."""
    await _byte_size_edges(dut, "own")


@cocotb.test()
async def byte_size_edges_cocotbext(dut: Any) -> None:
    """The same through cocotbext-wishbone's WishboneMaster."""
    await _byte_size_edges(dut, "cocotbext")


@cocotb.test()
async def bus_cycles(dut: Any) -> None:
    """Bus cycles of a command and its RESULT read, with the project's own master."""
    await _bus_cycles(dut)


@cocotb.test()
async def registers_and_errors(dut: Any) -> None:
    """Identification, configuration, ERR for unmapped words / ro writes / wo reads (no effect),
    a stalled RESULT read right after CMD, and the GAT window (the project's own master)."""
    await _registers_and_errors(dut, "own")


@cocotb.test()
async def registers_and_errors_cocotbext(dut: Any) -> None:
    """The same through cocotbext-wishbone's WishboneMaster."""
    await _registers_and_errors(dut, "cocotbext")


@cocotb.test()
@cocotb.parametrize(wait=["stall", "poll"])
async def random_against_model(dut: Any, wait: str) -> None:
    """A random session through the register driver, compared with the model step by step
    (the project's own master)."""
    await _random_against_model(dut, "own", wait)


@cocotb.test()
@cocotb.parametrize(wait=["stall", "poll"])
async def random_against_model_cocotbext(dut: Any, wait: str) -> None:
    """The same through cocotbext-wishbone's WishboneMaster."""
    await _random_against_model(dut, "cocotbext", wait)
