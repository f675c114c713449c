"""Wishbone bus masters for test benches, on :class:`mmaccel.hdl.bus.wishbone.WishboneSignature`.

- :func:`wb_read` / :func:`wb_write`: coroutines for Amaranth's own simulator
  (``amaranth.sim``, ``ctx`` testbench API);
- :class:`CocotbWishboneMaster`: a minimal cocotb 2.x master, the fallback when
  cocotbext-wishbone cannot be used. It imports cocotb only when it is instantiated.

Both expect a responder that answers with ``ack`` or ``err`` (never both), as every responder
of this project does.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CocotbWishboneMaster",
    "WishboneBusError",
    "WishboneTimeout",
    "wb_read",
    "wb_write",
]


class WishboneBusError(Exception):
    """A Wishbone access was answered with ``err`` (unmapped register or access not allowed).

    Parameters
    ----------
    adr : int
        The word address of the access.
    write : bool
        Whether the access was a write.
    """

    def __init__(self, adr: int, write: bool) -> None:
        self.adr = adr
        self.write = write
        kind = "write" if write else "read"
        super().__init__(f"Wishbone {kind} at word address {adr:#x} answered with ERR")


class WishboneTimeout(Exception):
    """A Wishbone access got neither ``ack`` nor ``err`` within the allowed cycles."""


def _check_sel(sel: int | None, bus: Any) -> int:
    lanes = len(bus.sel)
    full = (1 << lanes) - 1
    if sel is None:
        return full
    if not 0 <= sel <= full:
        raise ValueError(f"sel must be in 0..{full:#x}, not {sel!r}")
    return sel


async def _wb_access(
    ctx: Any, bus: Any, adr: int, data: int | None, sel: int | None, timeout: int
) -> int:
    if not 0 <= adr < (1 << len(bus.adr)):
        raise ValueError(f"word address {adr:#x} does not fit adr ({len(bus.adr)} bits)")
    sel_v = _check_sel(sel, bus)
    ctx.set(bus.adr, adr)
    ctx.set(bus.sel, sel_v)
    ctx.set(bus.we, data is not None)
    ctx.set(bus.dat_w, 0 if data is None else data)
    ctx.set(bus.cyc, 1)
    ctx.set(bus.stb, 1)
    try:
        for _ in range(timeout):
            _, _, ack, err, dat_r = await ctx.tick().sample(bus.ack, bus.err, bus.dat_r)
            if err:
                raise WishboneBusError(adr, data is not None)
            if ack:
                return int(dat_r)
        raise WishboneTimeout(
            f"no ack/err for {'write' if data is not None else 'read'} at {adr:#x} "
            f"within {timeout} cycles"
        )
    finally:
        ctx.set(bus.cyc, 0)
        ctx.set(bus.stb, 0)
        ctx.set(bus.we, 0)


async def wb_read(
    ctx: Any, bus: Any, adr: int, *, sel: int | None = None, timeout: int = 10_000
) -> int:
    """Read one word over ``bus`` in an Amaranth simulator testbench.

    Holds ``cyc``/``stb`` until ``ack`` or ``err`` (sampled at a clock edge), then releases
    them. Takes 2 cycles against a responder with a registered ack, plus its stall cycles.

    Parameters
    ----------
    ctx : amaranth.sim.SimulatorContext
        The testbench context.
    bus : interface of a WishboneSignature
        The bus, seen from the initiator.
    adr : int
        Word address.
    sel : int, optional
        Byte enables (all lanes by default).
    timeout : int
        Cycles to wait for a termination.

    Returns
    -------
    int
        ``dat_r`` at ``ack``.

    Raises
    ------
    WishboneBusError
        The responder answered with ``err``.
    WishboneTimeout
        No termination within ``timeout`` cycles.
    """
    return await _wb_access(ctx, bus, adr, None, sel, timeout)


async def wb_write(
    ctx: Any,
    bus: Any,
    adr: int,
    data: int,
    *,
    sel: int | None = None,
    timeout: int = 10_000,
) -> None:
    """Write one word over ``bus`` in an Amaranth simulator testbench.

    Same timing and errors as :func:`wb_read`.
    """
    if not 0 <= data < (1 << len(bus.dat_w)):
        raise ValueError(f"data {data:#x} does not fit dat_w ({len(bus.dat_w)} bits)")
    await _wb_access(ctx, bus, adr, data, sel, timeout)


class CocotbWishboneMaster:
    """A minimal classic Wishbone master for cocotb 2.x test benches.

    The fallback for cocotbext-wishbone: one access at a time, ``cyc``/``stb`` held until
    ``ack`` or ``err``. Signals are found as ``<prefix>__<member>`` (Amaranth's flattened port
    names, e.g. ``bus__adr``) or ``<prefix>_<member>``.

    Parameters
    ----------
    dut : cocotb handle
        The top-level handle.
    prefix : str
        Port name prefix, ``"bus"`` for a port named ``bus``.
    clock : cocotb handle
        The bus clock.
    timeout : int
        Cycles to wait for ``ack``/``err``.
    """

    def __init__(self, dut: Any, prefix: str, clock: Any, timeout: int = 100_000) -> None:
        self._clock = clock
        self._timeout = timeout
        self._sig: dict[str, Any] = {}
        for member in ("adr", "dat_w", "dat_r", "sel", "cyc", "stb", "we", "ack", "err"):
            for name in (f"{prefix}__{member}", f"{prefix}_{member}"):
                handle = getattr(dut, name, None)
                if handle is not None:
                    self._sig[member] = handle
                    break
            else:
                raise AttributeError(f"no signal {prefix}__{member} or {prefix}_{member} on dut")
        for member in ("cyc", "stb", "we", "adr", "dat_w"):
            self._sig[member].value = 0
        self._sig["sel"].value = (1 << len(self._sig["sel"])) - 1
        self.accesses = 0

    async def _access(self, adr: int, data: int | None, sel: int | None) -> int:
        from cocotb.triggers import ReadOnly, RisingEdge

        s = self._sig
        lanes = (1 << len(s["sel"])) - 1
        s["adr"].value = adr
        s["sel"].value = lanes if sel is None else sel
        s["we"].value = 0 if data is None else 1
        s["dat_w"].value = 0 if data is None else data
        s["cyc"].value = 1
        s["stb"].value = 1
        try:
            for _ in range(self._timeout):
                await RisingEdge(self._clock)
                await ReadOnly()
                if s["err"].value == 1:
                    raise WishboneBusError(adr, data is not None)
                if s["ack"].value == 1:
                    self.accesses += 1
                    return int(s["dat_r"].value.to_unsigned())
            raise WishboneTimeout(f"no ack/err at word address {adr:#x} in {self._timeout} cycles")
        finally:
            await _release(self._clock, s)

    async def read(self, adr: int, sel: int | None = None) -> int:
        """Read the word at word address ``adr``; raises WishboneBusError on ``err``."""
        return await self._access(adr, None, sel)

    async def write(self, adr: int, data: int, sel: int | None = None) -> None:
        """Write ``data`` at word address ``adr``; raises WishboneBusError on ``err``."""
        await self._access(adr, data, sel)


async def _release(clock: Any, s: dict[str, Any]) -> None:
    # Leave the ReadOnly phase (writes are illegal there) before dropping the strobes; the
    # drop then takes effect before the next rising edge.
    from cocotb.triggers import FallingEdge

    await FallingEdge(clock)
    s["cyc"].value = 0
    s["stb"].value = 0
    s["we"].value = 0
