"""Software driver of the hardware granule allocator, generated from its register map.

:class:`GfaRegisterDriver` runs ALLOC, FREE, RESERVE, INFO and CLEAR (and reads the allocation
table and the counters) through two functions, ``read32(offset)`` and ``write32(offset,
value)`` with byte offsets of :data:`mmaccel.hdl.gfa.regs.GFA_REGMAP`, so the same code drives
the Wishbone slave from a cocotb bench, a board through its UART bridge, or a model.
:class:`AsyncGfaRegisterDriver` is the same driver for ``async`` transports (cocotb bus
masters). Both run one protocol, written once as generators that yield bus accesses.

The protocol is the map's: write the arguments, write CMD (or one byte size to ALLOC_SIZE or
FREE_SIZE: ``alloc_bytes``, ``free_bytes``), then read RESULT (which the bus stalls until the
command is done; ``wait="poll"`` polls STATUS.BUSY first instead) and STATUS. Refused
commands raise the reference model's exceptions, so a test can compare the hardware with
:class:`mmaccel.sw.GranuleAllocator` exception for exception (the table is
:mod:`mmaccel.hdl.gfa.status`):

=============  ===========================================
status         exception
=============  ===========================================
NO_SPACE       none: ``alloc`` returns None (as the model)
BAD_COUNT      InvalidArgument
BAD_ADDR       GranuleRangeError (not a granule boundary, or outside the heap)
BAD_ALIGN      InvalidAlignment
NOT_IN_USE     GranulesNotInUse
IN_USE         GranulesInUse
BAD_OP         InvalidArgument
=============  ===========================================

Every exception raised for a refused command has ``status`` (the code's name) and ``code``.
Arguments that do not fit their register raise TypeError/ValueError before any bus access.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Literal

from mmaccel.hdl.gfa.regs import GFA_ID, GFA_REGMAP
from mmaccel.hdl.gfa.status import error_class
from mmaccel.sw.errors import MemoryManagerError
from mmaccel.sw.gran import GranInfo

__all__ = [
    "OP_CODES",
    "STATUS_CODES",
    "AsyncGfaRegisterDriver",
    "GfaConfig",
    "GfaCounters",
    "GfaRegisterDriver",
]

#: Operation name -> CMD.OP value, from the register map.
OP_CODES: dict[str, int] = dict(GFA_REGMAP["CMD"].field("OP").values)
#: STATUS.CODE value -> name, from the register map.
STATUS_CODES: dict[int, str] = {v: k for k, v in GFA_REGMAP["STATUS"].field("CODE").values}

# A bus access yielded by the protocol: ("r", offset) or ("w", offset, value); a read is
# answered by sending the word back into the generator.
_Access = tuple[str, int] | tuple[str, int, int]
_Proto = Generator[_Access, int | None, object]

_OFF = {r.name: r.offset for r in GFA_REGMAP}


@dataclass(frozen=True, slots=True)
class GfaConfig:
    """What the CONFIG and BASE registers say about the allocator."""

    granules: int
    log2gran: int
    base: int


@dataclass(frozen=True, slots=True)
class GfaCounters:
    """The OPS, FAILS and ERRORS counters."""

    ops: int
    fails: int
    errors: int


def _check_field(reg: str, field: str, name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {value!r}")
    f = GFA_REGMAP[reg].field(field)
    if not 0 <= value < (1 << f.width):
        raise ValueError(f"{name} must be in 0..{(1 << f.width) - 1} ({reg}.{field}), not {value}")
    return value


def _read(reg: str) -> Generator[_Access, int | None, int]:
    word = yield ("r", _OFF[reg])
    assert word is not None
    return word


def _write(reg: str, value: int) -> Generator[_Access, int | None, None]:
    yield ("w", _OFF[reg], value)


def _command(
    op: str,
    wait: str,
    *,
    count: int | None = None,
    addr: int | None = None,
    align: int = 0,
    size: int | None = None,
) -> Generator[_Access, int | None, tuple[str, int]]:
    """Issue one command; returns (status name, RESULT).

    With ``size`` (ALLOC or FREE) the command is started by a write of the byte size to
    ALLOC_SIZE or FREE_SIZE instead of COUNT and CMD.
    """
    if count is not None:
        yield from _write("COUNT", count)
    if addr is not None:
        yield from _write("ADDR", addr)
    if op == "ALLOC":
        yield from _write("ALIGN", align)
    if size is not None:
        yield from _write(f"{op}_SIZE", size)
    else:
        yield from _write("CMD", GFA_REGMAP["CMD"].pack(op=OP_CODES[op]))
    status_reg = GFA_REGMAP["STATUS"]
    if wait == "poll":
        while True:
            status = yield from _read("STATUS")
            if not status_reg.field("BUSY").decode(status):
                break
        result = yield from _read("RESULT")
    else:
        result = yield from _read("RESULT")  # stalled by the bus until the command is done
        status = yield from _read("STATUS")
    code = status_reg.field("CODE").decode(status)
    return STATUS_CODES.get(code, f"CODE_{code}"), result


def _raise(op: str, status: str, what: str) -> None:
    error = error_class(status)(f"hardware {op} {what} refused with {status}")
    error.status = status  # type: ignore[attr-defined]
    error.code = dict(GFA_REGMAP["STATUS"].field("CODE").values).get(status, -1)  # type: ignore[attr-defined]
    raise error


def _p_alloc(count: int, align: int, wait: str) -> Generator[_Access, int | None, int | None]:
    _check_field("COUNT", "COUNT", "count", count)
    _check_field("ALIGN", "ALIGN", "align", align)
    status, result = yield from _command("ALLOC", wait, count=count, align=align)
    if status == "NO_SPACE":
        return None
    if status != "OK":
        _raise("ALLOC", status, f"of {count} granules (align {align:#x})")
    return result


def _p_alloc_bytes(size: int, align: int, wait: str) -> Generator[_Access, int | None, int | None]:
    _check_field("ALLOC_SIZE", "ALLOC_SIZE", "size", size)
    _check_field("ALIGN", "ALIGN", "align", align)
    status, result = yield from _command("ALLOC", wait, size=size, align=align)
    if status == "NO_SPACE":
        return None
    if status != "OK":
        _raise("ALLOC", status, f"of {size} bytes (align {align:#x})")
    return result


def _p_free_bytes(addr: int, size: int, wait: str) -> _Proto:
    _check_field("ADDR", "ADDR", "addr", addr)
    _check_field("FREE_SIZE", "FREE_SIZE", "size", size)
    status, _ = yield from _command("FREE", wait, addr=addr, size=size)
    if status != "OK":
        _raise("FREE", status, f"of {size} bytes at {addr:#x}")
    return None


def _p_range(op: str, addr: int, count: int, wait: str) -> _Proto:
    _check_field("ADDR", "ADDR", "addr", addr)
    _check_field("COUNT", "COUNT", "count", count)
    status, _ = yield from _command(op, wait, count=count, addr=addr)
    if status != "OK":
        _raise(op, status, f"of {count} granules at {addr:#x}")
    return None


def _p_info(wait: str) -> Generator[_Access, int | None, GranInfo]:
    status, _ = yield from _command("INFO", wait)
    if status != "OK":
        _raise("INFO", status, "")
    cfg = yield from _p_config()
    free = yield from _read("NFREE")
    largest = yield from _read("LARGEST")
    return GranInfo(
        cfg.log2gran,
        cfg.granules,
        GFA_REGMAP["NFREE"].field("COUNT").decode(free),
        GFA_REGMAP["LARGEST"].field("RUN").decode(largest),
    )


def _p_clear(wait: str) -> _Proto:
    status, _ = yield from _command("CLEAR", wait)
    if status != "OK":
        _raise("CLEAR", status, "")
    return None


def _p_config() -> Generator[_Access, int | None, GfaConfig]:
    ident = yield from _read("ID")
    if ident != GFA_ID:
        raise MemoryManagerError(
            f"ID register reads {ident:#010x}, not {GFA_ID:#010x}: no allocator at this address"
        )
    cfg = GFA_REGMAP["CONFIG"].unpack((yield from _read("CONFIG")))
    base = yield from _read("HEAP_BASE")
    return GfaConfig(cfg["GRANULES"], cfg["LOG2GRAN"], base)


def _p_table(words: int) -> Generator[_Access, int | None, list[int]]:
    yield from _write("GAT_INDEX", 0)
    out: list[int] = []
    for _ in range(words):
        out.append((yield from _read("GAT_DATA")))
    return out


def _p_counters() -> Generator[_Access, int | None, GfaCounters]:
    ops = yield from _read("OPS")
    fails = yield from _read("FAILS")
    errors = yield from _read("ERRORS")
    return GfaCounters(ops, fails, errors)


def _run_sync(
    proto: Generator[_Access, int | None, object],
    read32: Callable[[int], int],
    write32: Callable[[int, int], None],
) -> object:
    reply: int | None = None
    try:
        while True:
            access = proto.send(reply)
            if access[0] == "r":
                reply = read32(access[1])
            else:
                write32(access[1], access[2])  # type: ignore[misc]
                reply = None
    except StopIteration as stop:
        return stop.value


async def _run_async(
    proto: Generator[_Access, int | None, object],
    read32: Callable[[int], Awaitable[int]],
    write32: Callable[[int, int], Awaitable[None]],
) -> object:
    reply: int | None = None
    try:
        while True:
            access = proto.send(reply)
            if access[0] == "r":
                reply = await read32(access[1])
            else:
                await write32(access[1], access[2])  # type: ignore[misc]
                reply = None
    except StopIteration as stop:
        return stop.value


def _check_wait(wait: str) -> Literal["stall", "poll"]:
    if wait not in ("stall", "poll"):
        raise ValueError(f"wait must be 'stall' or 'poll', not {wait!r}")
    return "stall" if wait == "stall" else "poll"


class GfaRegisterDriver:
    """Drive the allocator's registers through ``read32``/``write32`` (byte offsets).

    Parameters
    ----------
    read32 : callable(offset) -> int
        Reads the register at byte ``offset`` of GFA_REGMAP.
    write32 : callable(offset, value)
        Writes it.
    wait : {"stall", "poll"}
        How a command's end is awaited: read RESULT (the bus stalls until done) or poll
        STATUS.BUSY (for buses with a short timeout).

    Every operation costs a handful of accesses: ALLOC 5 (COUNT, ALIGN, CMD, RESULT, STATUS),
    FREE/RESERVE 5, ``alloc_bytes``/``free_bytes`` 4 (ALIGN or ADDR, ALLOC_SIZE or FREE_SIZE,
    RESULT, STATUS), INFO 8, CLEAR 3, ``table()`` 1 + words.
    """

    def __init__(
        self,
        read32: Callable[[int], int],
        write32: Callable[[int, int], None],
        *,
        wait: str = "stall",
    ) -> None:
        self._read32 = read32
        self._write32 = write32
        self.wait = _check_wait(wait)

    def _run(self, proto: Generator[_Access, int | None, object]) -> object:
        return _run_sync(proto, self._read32, self._write32)

    def config(self) -> GfaConfig:
        """Granules, granule size and base (checks the ID register first)."""
        result = self._run(_p_config())
        assert isinstance(result, GfaConfig)
        return result

    def alloc(self, count: int, align: int = 0) -> int | None:
        """ALLOC ``count`` granules, ``align`` bytes aligned from granule 0 (0 = none).

        Returns the byte address, or None when no run fits (NO_SPACE).
        """
        result = self._run(_p_alloc(count, align, self.wait))
        assert result is None or isinstance(result, int)
        return result

    def free(self, addr: int, count: int) -> None:
        """FREE ``count`` granules at byte address ``addr``."""
        self._run(_p_range("FREE", addr, count, self.wait))

    def alloc_bytes(self, size: int, align: int = 0) -> int | None:
        """ALLOC of ``size`` bytes (rounded up to granules) through ALLOC_SIZE.

        As :meth:`alloc` otherwise; the model's ``alloc(size, align or None)``.
        """
        result = self._run(_p_alloc_bytes(size, align, self.wait))
        assert result is None or isinstance(result, int)
        return result

    def free_bytes(self, addr: int, size: int) -> None:
        """FREE of ``size`` bytes (rounded up to granules) at ``addr`` through FREE_SIZE."""
        self._run(_p_free_bytes(addr, size, self.wait))

    def reserve(self, addr: int, count: int) -> None:
        """RESERVE ``count`` granules at byte address ``addr``."""
        self._run(_p_range("RESERVE", addr, count, self.wait))

    def info(self) -> GranInfo:
        """INFO: granule size, count, free granules, longest free run (as the model's)."""
        result = self._run(_p_info(self.wait))
        assert isinstance(result, GranInfo)
        return result

    def clear(self) -> None:
        """CLEAR: free every granule."""
        self._run(_p_clear(self.wait))

    def table(self, words: int | None = None) -> list[int]:
        """The allocation table as 32-bit words (as ``GranuleAllocator.table()``)."""
        if words is None:
            words = (self.config().granules + 31) // 32
        result = self._run(_p_table(words))
        assert isinstance(result, list)
        return result

    def counters(self) -> GfaCounters:
        """The OPS, FAILS and ERRORS counters."""
        result = self._run(_p_counters())
        assert isinstance(result, GfaCounters)
        return result


class AsyncGfaRegisterDriver:
    """:class:`GfaRegisterDriver` for ``async`` ``read32``/``write32`` (cocotb bus masters).

    Same methods, as coroutines.
    """

    def __init__(
        self,
        read32: Callable[[int], Awaitable[int]],
        write32: Callable[[int, int], Awaitable[None]],
        *,
        wait: str = "stall",
    ) -> None:
        self._read32 = read32
        self._write32 = write32
        self.wait = _check_wait(wait)

    async def _run(self, proto: Generator[_Access, int | None, object]) -> object:
        return await _run_async(proto, self._read32, self._write32)

    async def config(self) -> GfaConfig:
        """See :meth:`GfaRegisterDriver.config`."""
        result = await self._run(_p_config())
        assert isinstance(result, GfaConfig)
        return result

    async def alloc(self, count: int, align: int = 0) -> int | None:
        """See :meth:`GfaRegisterDriver.alloc`."""
        result = await self._run(_p_alloc(count, align, self.wait))
        assert result is None or isinstance(result, int)
        return result

    async def free(self, addr: int, count: int) -> None:
        """See :meth:`GfaRegisterDriver.free`."""
        await self._run(_p_range("FREE", addr, count, self.wait))

    async def alloc_bytes(self, size: int, align: int = 0) -> int | None:
        """See :meth:`GfaRegisterDriver.alloc_bytes`."""
        result = await self._run(_p_alloc_bytes(size, align, self.wait))
        assert result is None or isinstance(result, int)
        return result

    async def free_bytes(self, addr: int, size: int) -> None:
        """See :meth:`GfaRegisterDriver.free_bytes`."""
        await self._run(_p_free_bytes(addr, size, self.wait))

    async def reserve(self, addr: int, count: int) -> None:
        """See :meth:`GfaRegisterDriver.reserve`."""
        await self._run(_p_range("RESERVE", addr, count, self.wait))

    async def info(self) -> GranInfo:
        """See :meth:`GfaRegisterDriver.info`."""
        result = await self._run(_p_info(self.wait))
        assert isinstance(result, GranInfo)
        return result

    async def clear(self) -> None:
        """See :meth:`GfaRegisterDriver.clear`."""
        await self._run(_p_clear(self.wait))

    async def table(self, words: int | None = None) -> list[int]:
        """See :meth:`GfaRegisterDriver.table`."""
        if words is None:
            words = ((await self.config()).granules + 31) // 32
        result = await self._run(_p_table(words))
        assert isinstance(result, list)
        return result

    async def counters(self) -> GfaCounters:
        """See :meth:`GfaRegisterDriver.counters`."""
        result = await self._run(_p_counters())
        assert isinstance(result, GfaCounters)
        return result
