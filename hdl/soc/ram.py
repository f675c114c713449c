"""The SoC's RAM: one block RAM with an instruction port, a data port and a load port.

Port A (read only) serves the CPU's instruction bus and the MMU's page-table walker (walker
first, the grant held while the owner's ``cyc`` stays high); port B (read and write, byte
lanes) serves the CPU's data bus. The load port writes whole words (used by a test bench while
the CPU is held in reset), taking the place of port B's writes while ``load.en`` is high.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In

from mmaccel.hdl.bus.wishbone import WishboneSignature

__all__ = ["LoadSignature", "SocRAM"]


class LoadSignature(wiring.Signature):
    """Whole-word writes into the RAM, one per cycle while ``en`` (seen from the writer).

    Members
    -------
    en : Out(1)
    addr : Out(addr_width)
        Word address.
    data : Out(32)
    """

    def __init__(self, addr_width: int) -> None:
        self._addr_width = addr_width
        super().__init__(
            {
                "en": wiring.Out(1),
                "addr": wiring.Out(addr_width),
                "data": wiring.Out(32),
            }
        )

    @property
    def addr_width(self) -> int:
        return self._addr_width

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LoadSignature) and other.addr_width == self.addr_width

    def __hash__(self) -> int:
        return hash((LoadSignature, self._addr_width))

    def __repr__(self) -> str:
        return f"LoadSignature({self._addr_width})"


def _serve(m: Module, bus: Any, cti: Any, rd: Any, name: str) -> tuple[Any, Any]:
    """Answer ``bus`` from read port ``rd``; return (start, ack) of the access."""
    ack = Signal(name=f"{name}_ack")
    start = bus.cyc & bus.stb & ~ack
    # the beat just acknowledged is not the last of an incrementing read burst: the
    # initiator presents the next word address in the next cycle, so read it now
    cont = bus.cyc & bus.stb & ack & (cti == 0b010) & ~bus.we
    m.d.comb += [
        rd.addr.eq(Mux(cont, bus.adr + 1, bus.adr)),
        bus.dat_r.eq(rd.data),
        bus.ack.eq(ack),
        bus.err.eq(0),
    ]
    m.d.sync += ack.eq(start | cont)
    return start, ack


class SocRAM(wiring.Component):
    """Dual-port block RAM of ``size`` bytes for the CPU, the MMU's walker and a loader.

    Parameters
    ----------
    size : int
        Bytes; a power of two, at least 1 KiB.
    init : sequence of int, optional
        Initial words (little-endian image words); the rest are 0.

    Members
    -------
    ibus : In(WishboneSignature(addr_width))
        The CPU's instruction bus (reads only; writes are ignored).
    ibus_cti : In(3)
    walker : In(WishboneSignature(addr_width))
        The MMU walker's reads (it has priority over ``ibus`` on port A).
    dbus : In(WishboneSignature(addr_width))
        The CPU's data bus, with byte-lane writes.
    dbus_cti : In(3)
    load : In(LoadSignature(addr_width))
        Word writes from a loader (overrides ``dbus`` writes while ``en``).

    Latency and throughput: ``ack`` with the read data one cycle after ``cyc & stb``; single
    accesses every 2 cycles; incrementing read bursts (CTI 010) one beat per cycle after the
    first (the next word is read while the current beat is acknowledged). Writes: one every 2
    cycles.
    """

    def __init__(self, *, size: int, init: Sequence[int] = ()) -> None:
        self._MustUse__silence = True
        if not isinstance(size, int) or isinstance(size, bool):
            raise TypeError(f"size must be an int, not {size!r}")
        if size < 1024 or size & (size - 1):
            raise ValueError(f"size must be a power of two of at least 1024 bytes, not {size}")
        depth = size // 4
        if len(init) > depth:
            raise ValueError(f"init holds {len(init)} words, more than the {depth} of the RAM")
        self._size = size
        self._init = list(init)
        aw = (depth - 1).bit_length()
        self._MustUse__silence = False
        super().__init__(
            {
                "ibus": In(WishboneSignature(aw)),
                "ibus_cti": In(3),
                "walker": In(WishboneSignature(aw)),
                "dbus": In(WishboneSignature(aw)),
                "dbus_cti": In(3),
                "load": In(LoadSignature(aw)),
            }
        )

    @property
    def size(self) -> int:
        return self._size

    @property
    def addr_width(self) -> int:
        return (self._size // 4 - 1).bit_length()

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        m.submodules.mem = mem = memory.Memory(shape=32, depth=self._size // 4, init=self._init)
        wr = mem.write_port(granularity=8)
        rd_a = mem.read_port()
        rd_b = mem.read_port()

        # port A: the walker or the instruction bus, the grant held while the owner's cyc is
        # high (no added latency)
        locked = Signal()
        locked_walker = Signal()
        walker_owns = Signal()
        m.d.comb += walker_owns.eq(Mux(locked, locked_walker, self.walker.cyc))
        port_a = WishboneSignature(self.addr_width).create(path=("port_a",))
        cti_a = Signal(3)
        m.d.comb += [
            port_a.cyc.eq(Mux(walker_owns, self.walker.cyc, self.ibus.cyc)),
            port_a.stb.eq(Mux(walker_owns, self.walker.stb, self.ibus.stb)),
            port_a.adr.eq(Mux(walker_owns, self.walker.adr, self.ibus.adr)),
            port_a.we.eq(0),
            cti_a.eq(Mux(walker_owns, 0, self.ibus_cti)),
            self.walker.dat_r.eq(port_a.dat_r),
            self.ibus.dat_r.eq(port_a.dat_r),
            self.walker.ack.eq(port_a.ack & walker_owns),
            self.ibus.ack.eq(port_a.ack & ~walker_owns),
            self.walker.err.eq(0),
            self.ibus.err.eq(0),
        ]
        m.d.sync += [locked.eq(port_a.cyc), locked_walker.eq(walker_owns)]
        _serve(m, port_a, cti_a, rd_a, "a")

        # port B: the data bus, plus the loader's writes
        start_b, _ = _serve(m, self.dbus, self.dbus_cti, rd_b, "b")
        with m.If(self.load.en):
            m.d.comb += [
                wr.addr.eq(self.load.addr),
                wr.data.eq(self.load.data),
                wr.en.eq(0b1111),
            ]
        with m.Else():
            m.d.comb += [wr.addr.eq(self.dbus.adr), wr.data.eq(self.dbus.dat_w)]
            with m.If(start_b & self.dbus.we):
                m.d.comb += wr.en.eq(self.dbus.sel)
        return m
