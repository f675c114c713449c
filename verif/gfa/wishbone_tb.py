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
from cocotb.triggers import ClockCycles

from mmaccel.boards.host.regdriver import AsyncGfaRegisterDriver
from mmaccel.hdl.gfa.regs import GFA_ID, GFA_REGMAP
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


async def gfa_random_session(
    drv: AsyncGfaRegisterDriver, model: GranuleAllocator, rng: random.Random, steps: int
) -> tuple[int, int, int]:
    """Random ALLOC/FREE/RESERVE/INFO/CLEAR with bad arguments mixed in, each compared with
    ``model`` (result or exception class), the whole table compared after every step.

    Returns the (ops, fails, errors) the counters must show.
    """
    granules = model.ngranules
    gsize = 1 << model.log2gran
    live: list[tuple[int, int]] = []
    ops = fails = errors = 0
    for _ in range(steps):
        r = rng.random()
        if r < 0.4:
            if rng.random() < 0.15:  # a bad count or a bad alignment, never both
                n, align = rng.choice([(0, 0), (granules + 1, 0), (1, 3 * gsize), (1, 6)])
            else:
                n = rng.choice([1, 2, 3, rng.randint(1, granules)])
                align = rng.choice([0, 0, 0, 1, gsize, 2 * gsize, 4 * gsize, 16 * gsize])
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
    base = await read32(regs["BASE"].offset)
    assert base == config.base
    bad = [
        (regs.size, None),
        (regs.size + 4, 1),
        (regs["FREE"].offset, 5),
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
    assert await read32(regs["FREE"].offset) == granules  # the refused write changed nothing
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
