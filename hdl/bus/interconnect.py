"""A small Wishbone interconnect: address decoder, arbiter and a block-RAM responder.

Everything speaks the project's :class:`~mmaccel.hdl.bus.wishbone.WishboneSignature` (word
addresses, 32-bit data, byte lanes). Windows are given in *byte* addresses, like the register
maps, and must be aligned to their size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from amaranth.hdl import Module, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from mmaccel.hdl.bus.wishbone import WishboneSignature

__all__ = ["Window", "WishboneArbiter", "WishboneBuffer", "WishboneDecoder", "WishboneRAM"]


def _check_int(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class Window:
    """One responder's place in the address space.

    Parameters
    ----------
    name : str
        Port name on the decoder (a Python identifier).
    base : int
        Byte address of the first word; a multiple of the window size.
    addr_width : int
        Width of the responder's ``adr`` (word address): the window spans ``4 << addr_width``
        bytes.
    """

    name: str
    base: int
    addr_width: int

    @property
    def size(self) -> int:
        """Size of the window in bytes."""
        return 4 << self.addr_width


class WishboneDecoder(wiring.Component):
    """Routes one initiator to several responders by address; unmapped accesses get ``err``.

    Parameters
    ----------
    addr_width : int
        Width of the initiator's ``adr`` (word address).
    windows : sequence of Window
        Non-overlapping windows inside the initiator's address space.
    registered : bool
        Register the decode and the answer (default False): the window hits are computed from
        the address of one cycle and used in the next, and the responder's ``ack``/``err``/
        ``dat_r`` reach the initiator through registers, so neither the wide address compares
        nor the answer multiplexer adds to the logic on either side. The initiator must hold
        ``adr`` while ``stb`` is high (classic Wishbone); each access costs two cycles more.

    Members
    -------
    bus : In(WishboneSignature(addr_width))
        From the initiator.
    <window name> : Out(WishboneSignature(window.addr_width))
        One port per window, named after it.

    Raises
    ------
    TypeError, ValueError
        A window whose name is not an identifier, is used twice or is ``bus``, whose base is not
        aligned to its size, that leaves the address space, or that overlaps another.

    Latency: the decode is combinational, so a responder's ``ack`` reaches the initiator in the
    same cycle (no added latency); an unmapped access is answered with ``err`` one cycle after
    ``cyc & stb``. With ``registered``, the responder sees the access one cycle after the
    initiator starts it, its answer reaches the initiator one cycle after it gives it (two
    cycles more per access), and an unmapped access gets ``err`` three cycles after
    ``cyc & stb``.
    """

    def __init__(
        self, *, addr_width: int, windows: Sequence[Window], registered: bool = False
    ) -> None:
        # An argument error below must not also warn that the object was never used.
        self._MustUse__silence = True
        _check_int("addr_width", addr_width)
        if not 1 <= addr_width <= 32:
            raise ValueError(f"addr_width must be in 1..32, not {addr_width}")
        seen: dict[str, Window] = {}
        for window in windows:
            if not isinstance(window, Window):
                raise TypeError(f"windows must hold Window objects, not {window!r}")
            if not window.name.isidentifier() or window.name == "bus":
                raise ValueError(f"window name {window.name!r} is not a usable port name")
            if window.name in seen:
                raise ValueError(f"window name {window.name!r} is used twice")
            _check_int("window base", window.base)
            _check_int("window addr_width", window.addr_width)
            if not 0 <= window.addr_width <= addr_width:
                raise ValueError(
                    f"window {window.name!r}: addr_width must be in 0..{addr_width}, "
                    f"not {window.addr_width}"
                )
            if window.base < 0 or window.base % window.size:
                raise ValueError(
                    f"window {window.name!r}: base {window.base:#x} is not a multiple of its "
                    f"size {window.size:#x}"
                )
            if window.base + window.size > 4 << addr_width:  # byte addresses are 2 bits wider
                raise ValueError(
                    f"window {window.name!r} [{window.base:#x}, +{window.size:#x}) leaves the "
                    f"{4 << addr_width:#x}-byte address space"
                )
            for other in seen.values():
                if window.base < other.base + other.size and other.base < window.base + window.size:
                    raise ValueError(f"window {window.name!r} overlaps window {other.name!r}")
            seen[window.name] = window
        if not isinstance(registered, bool):
            raise TypeError(f"registered must be a bool, not {registered!r}")
        self._addr_width = addr_width
        self._windows = tuple(windows)
        self._registered = registered
        members = {"bus": In(WishboneSignature(addr_width))}
        for window in self._windows:
            members[window.name] = Out(WishboneSignature(window.addr_width))
        self._MustUse__silence = False
        super().__init__(members)

    @property
    def addr_width(self) -> int:
        return self._addr_width

    @property
    def windows(self) -> tuple[Window, ...]:
        return self._windows

    @property
    def registered(self) -> bool:
        return self._registered

    def elaborate(self, platform: object) -> Module:
        m = Module()
        bus = self.bus
        hits = []
        # registered decode: ``settled`` says the hits (computed from the previous cycle's
        # address) belong to the access in progress, which started at least a cycle ago and has
        # not been answered yet (neither by the responder nor, registered, to the initiator)
        settled = Signal()
        ack = Signal()  # the answer, from the responder (or the unmapped-access error)
        err = Signal()
        dat_r = Signal(32)
        if self._registered:
            m.d.sync += settled.eq(bus.cyc & bus.stb & ~ack & ~err & ~bus.ack & ~bus.err)
        for window in self._windows:
            port = getattr(self, window.name)
            top = self._addr_width
            low = window.addr_width
            match = Signal(name=f"match_{window.name}")
            hit = Signal(name=f"hit_{window.name}")
            if low < top:
                m.d.comb += match.eq(bus.adr[low:top] == (window.base >> 2) >> low)
            else:
                m.d.comb += match.eq(1)
            if self._registered:
                match_r = Signal(name=f"match_{window.name}_r")
                m.d.sync += match_r.eq(match)
                m.d.comb += hit.eq(match_r & settled)
            else:
                m.d.comb += hit.eq(match)
            hits.append((hit, port))
            m.d.comb += [
                port.adr.eq(bus.adr[:low]),
                port.dat_w.eq(bus.dat_w),
                port.sel.eq(bus.sel),
                port.we.eq(bus.we),
                port.cyc.eq(bus.cyc & hit),
                port.stb.eq(bus.stb & hit),
            ]
        any_hit = Signal()
        unmapped_err = Signal()
        m.d.comb += any_hit.eq(0)
        for hit, _ in hits:
            with m.If(hit):
                m.d.comb += any_hit.eq(1)
        decoded = settled if self._registered else 1
        m.d.sync += unmapped_err.eq(bus.cyc & bus.stb & decoded & ~any_hit & ~unmapped_err)
        # The windows do not overlap, so at most one hit is set: OR the answers together.
        m.d.comb += err.eq(unmapped_err)
        for hit, port in hits:
            with m.If(hit):
                m.d.comb += [ack.eq(port.ack), err.eq(port.err), dat_r.eq(port.dat_r)]
        if self._registered:
            # the initiator sees the answer a cycle later; the responder, which has answered,
            # is deselected meanwhile (``settled`` drops), so it does not see the access again
            m.d.sync += [bus.ack.eq(ack), bus.err.eq(err), bus.dat_r.eq(dat_r)]
        else:
            m.d.comb += [bus.ack.eq(ack), bus.err.eq(err), bus.dat_r.eq(dat_r)]
        return m


class WishboneArbiter(wiring.Component):
    """Shares one responder between several initiators, round robin, one bus cycle at a time.

    Parameters
    ----------
    addr_width : int
        Width of every port's ``adr`` (word address).
    count : int
        Number of initiators (at least 1).

    Members
    -------
    bus : Out(WishboneSignature(addr_width))
        To the responder.
    initiators : In(WishboneSignature(addr_width)).array(count)
        From the initiators; ``initiators[i]``.

    Latency: a request from an idle arbiter is granted the cycle after ``cyc`` rises (one extra
    cycle); the grant is held while the owner keeps ``cyc`` high and then passes to the next
    requester after the owner, so no initiator starves.
    """

    def __init__(self, *, addr_width: int, count: int) -> None:
        # An argument error below must not also warn that the object was never used.
        self._MustUse__silence = True
        _check_int("addr_width", addr_width)
        _check_int("count", count)
        if not 0 <= addr_width <= 32:
            raise ValueError(f"addr_width must be in 0..32, not {addr_width}")
        if count < 1:
            raise ValueError(f"count must be at least 1, not {count}")
        self._addr_width = addr_width
        self._count = count
        self._MustUse__silence = False
        super().__init__(
            {
                "bus": Out(WishboneSignature(addr_width)),
                "initiators": In(WishboneSignature(addr_width)).array(count),
            }
        )

    @property
    def count(self) -> int:
        return self._count

    def elaborate(self, platform: object) -> Module:
        m = Module()
        n = self._count
        owner = Signal(range(n))
        granted = Signal()
        ports = list(self.initiators)

        with m.If(~granted):
            # Round robin: look at owner+1, owner+2, ... owner (the last owner comes last).
            for step in reversed(range(1, n + 1)):
                for current in range(n):
                    candidate = (current + step) % n
                    with m.If((owner == current) & ports[candidate].cyc):
                        m.d.sync += [owner.eq(candidate), granted.eq(1)]
        with m.Else():
            for i, port in enumerate(ports):
                with m.If((owner == i) & ~port.cyc):
                    m.d.sync += granted.eq(0)

        for i, port in enumerate(ports):
            with m.If(granted & (owner == i)):
                m.d.comb += [
                    self.bus.adr.eq(port.adr),
                    self.bus.dat_w.eq(port.dat_w),
                    self.bus.sel.eq(port.sel),
                    self.bus.we.eq(port.we),
                    self.bus.cyc.eq(port.cyc),
                    self.bus.stb.eq(port.stb),
                    port.ack.eq(self.bus.ack),
                    port.err.eq(self.bus.err),
                ]
            m.d.comb += port.dat_r.eq(self.bus.dat_r)
        return m


class WishboneRAM(wiring.Component):
    """A block RAM of 32-bit words on a Wishbone responder port, with byte-lane writes.

    Parameters
    ----------
    depth : int
        Number of 32-bit words (at least 1); the port's ``adr`` is ``ceil(log2(depth))`` bits
        wide and accesses at or beyond ``depth`` words are answered with ``err``.
    init : sequence of int
        Initial words (the rest are 0).

    Members
    -------
    bus : In(WishboneSignature(addr_width))
        The responder port.

    Latency: ``ack`` (with the read data) one cycle after ``cyc & stb``; one access every two
    cycles.
    """

    def __init__(self, *, depth: int, init: Sequence[int] = ()) -> None:
        # An argument error below must not also warn that the object was never used.
        self._MustUse__silence = True
        _check_int("depth", depth)
        if depth < 1:
            raise ValueError(f"depth must be at least 1 word, not {depth}")
        if len(init) > depth:
            raise ValueError(f"init holds {len(init)} words, more than depth {depth}")
        self._depth = depth
        self._init = list(init)
        addr_width = max(1, (depth - 1).bit_length())
        self._MustUse__silence = False
        super().__init__({"bus": In(WishboneSignature(addr_width))})

    @property
    def depth(self) -> int:
        return self._depth

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.mem = mem = memory.Memory(shape=32, depth=self._depth, init=self._init)
        rd = mem.read_port()
        wr = mem.write_port(granularity=8)
        bus = self.bus
        inside = bus.adr < self._depth
        ack = Signal()
        err = Signal()
        start = bus.cyc & bus.stb & ~ack & ~err
        m.d.comb += [
            rd.addr.eq(bus.adr),
            wr.addr.eq(bus.adr),
            wr.data.eq(bus.dat_w),
            bus.dat_r.eq(rd.data),
            bus.ack.eq(ack),
            bus.err.eq(err),
        ]
        with m.If(start & inside & bus.we):
            m.d.comb += wr.en.eq(bus.sel)
        m.d.sync += [ack.eq(start & inside), err.eq(start & ~inside)]
        return m


class WishboneBuffer(wiring.Component):
    """A register stage between an initiator and a responder, cutting every combinational path.

    The request (adr, dat_w, sel, we) is captured in registers before it reaches the
    responder, and the answer (ack/err, dat_r) is registered before it reaches the initiator,
    so neither side's logic depth adds to the other's.

    Parameters
    ----------
    addr_width : int
        Width of ``adr`` on both sides (word address).

    Members
    -------
    initiator : In(WishboneSignature(addr_width))
        From the initiator.
    responder : Out(WishboneSignature(addr_width))
        To the responder.

    Latency: 2 cycles more than the responder's (one to capture the request, one to return
    the answer); one access at a time.
    """

    def __init__(self, *, addr_width: int) -> None:
        # An argument error below must not also warn that the object was never used.
        self._MustUse__silence = True
        _check_int("addr_width", addr_width)
        if not 0 <= addr_width <= 32:
            raise ValueError(f"addr_width must be in 0..32, not {addr_width}")
        self._MustUse__silence = False
        super().__init__(
            {
                "initiator": In(WishboneSignature(addr_width)),
                "responder": Out(WishboneSignature(addr_width)),
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        up = self.initiator
        down = self.responder
        ack = Signal()
        err = Signal()
        dat_r = Signal(32)
        m.d.comb += [up.ack.eq(ack), up.err.eq(err), up.dat_r.eq(dat_r)]
        m.d.sync += [ack.eq(0), err.eq(0)]
        with m.FSM():
            with m.State("Idle"):
                # the request is loaded in every idle cycle (the responder ignores it while
                # ``cyc`` is low), so the initiator's strobe, which comes through decoders and
                # arbiters, drives two enables and the state, not one per request bit
                m.d.sync += [
                    down.adr.eq(up.adr),
                    down.dat_w.eq(up.dat_w),
                    down.sel.eq(up.sel),
                    down.we.eq(up.we),
                ]
                with m.If(up.cyc & up.stb & ~ack & ~err):
                    m.d.sync += [down.cyc.eq(1), down.stb.eq(1)]
                    m.next = "Busy"
            with m.State("Busy"):
                # dat_r is loaded in every busy cycle (it counts only with ack), so the
                # responder's ack does not drive its 32 enables
                m.d.sync += dat_r.eq(down.dat_r)
                with m.If(down.ack | down.err | ~up.cyc):
                    m.d.sync += [
                        down.cyc.eq(0),
                        down.stb.eq(0),
                        ack.eq(down.ack & up.cyc),
                        err.eq(down.err & up.cyc),
                    ]
                    m.next = "Idle"
        return m
