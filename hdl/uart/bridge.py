"""UART-to-Wishbone bridge: the host reads and writes 32-bit words over a serial line.

Wire protocol (all multi-byte fields little-endian; the host speaks first, one frame at a time):

=========  =====================================  ================================
command    host sends                             bridge answers
=========  =====================================  ================================
READ       ``0x52`` addr[4]                       status[1] data[4]
WRITE      ``0x57`` addr[4] data[4]               status[1]
PING       ``0x50``                               status[1] :data:`PING_MAGIC`[4]
other      one byte                               ``BAD_COMMAND``[1]
=========  =====================================  ================================

``addr`` is a byte address (a multiple of 4; otherwise the answer is ``MISALIGNED`` and the bus
is not touched). The bus ``adr`` is ``addr >> 2`` (word addressing, as the project's Wishbone
contract says) and every access uses all four byte lanes. ``data`` in a READ answer is 0 unless
the status is ``OK``.

Recovery: a frame that stops arriving for ``frame_timeout`` clock cycles is dropped, so a host
that lost track waits a little longer than that and starts again with a PING. An access that the
bus does not terminate within ``bus_timeout`` cycles is abandoned (``cyc`` drops) and answered
with ``TIMEOUT``.
"""

from __future__ import annotations

import enum

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from mmaccel.hdl.bus.wishbone import WishboneSignature
from mmaccel.hdl.uart.transceiver import UART

__all__ = [
    "PING_MAGIC",
    "BridgeCommand",
    "BridgeStatus",
    "StreamWishboneBridge",
    "UARTWishboneBridge",
]

#: What a PING answers after its status byte: "mmAC" read as a little-endian word.
PING_MAGIC = 0x43416D6D


class BridgeCommand(enum.IntEnum):
    """First byte of a host frame."""

    PING = 0x50
    READ = 0x52
    WRITE = 0x57


class BridgeStatus(enum.IntEnum):
    """First byte of every answer."""

    OK = 0
    BUS_ERROR = 1  #: the responder answered ``err`` (unmapped address, access not allowed)
    TIMEOUT = 2  #: no ``ack``/``err`` within ``bus_timeout`` cycles
    BAD_COMMAND = 3  #: the command byte is none of :class:`BridgeCommand`
    MISALIGNED = 4  #: the byte address is not a multiple of 4


def _check_cycles(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {value!r}")
    if value < 2:
        raise ValueError(f"{name} must be at least 2 cycles, not {value}")


class StreamWishboneBridge(wiring.Component):
    """The bridge's protocol engine over byte streams (no UART): frames in, Wishbone, answers out.

    Parameters
    ----------
    addr_width : int
        Width of the bus ``adr`` (word address), 1..30. Higher address bits sent by the host
        must be 0, otherwise the access is answered with ``BUS_ERROR`` without touching the bus.
    frame_timeout : int
        Cycles without a byte after which a partial frame is dropped.
    bus_timeout : int
        Cycles a bus access may take before it is abandoned.

    Members
    -------
    rx : In(stream.Signature(8))
        Bytes from the host.
    tx : Out(stream.Signature(8))
        Bytes to the host.
    bus : Out(WishboneSignature(addr_width))
        The initiator port.
    access : Out(1)
        Pulses for one cycle when a bus access ends (for an activity LED).
    error : Out(1)
        Pulses for one cycle on any answer other than ``OK``.

    Latency: the bus access starts the cycle after the last byte of a frame is taken, and the
    first answer byte is offered the cycle after the access ends; the engine takes one frame at
    a time, so its throughput is bounded by the serial line.
    """

    def __init__(
        self, *, addr_width: int = 30, frame_timeout: int = 1 << 20, bus_timeout: int = 1 << 16
    ) -> None:
        # An argument error below must not also warn that the object was never used.
        self._MustUse__silence = True
        if not isinstance(addr_width, int) or isinstance(addr_width, bool):
            raise TypeError(f"addr_width must be an int, not {addr_width!r}")
        if not 1 <= addr_width <= 30:
            raise ValueError(f"addr_width must be in 1..30, not {addr_width}")
        _check_cycles("frame_timeout", frame_timeout)
        _check_cycles("bus_timeout", bus_timeout)
        self._addr_width = addr_width
        self._frame_timeout = frame_timeout
        self._bus_timeout = bus_timeout
        self._MustUse__silence = False
        super().__init__(
            {
                "rx": In(stream.Signature(8)),
                "tx": Out(stream.Signature(8)),
                "bus": Out(WishboneSignature(addr_width)),
                "access": Out(1),
                "error": Out(1),
            }
        )

    @property
    def addr_width(self) -> int:
        return self._addr_width

    @property
    def frame_timeout(self) -> int:
        return self._frame_timeout

    @property
    def bus_timeout(self) -> int:
        return self._bus_timeout

    def elaborate(self, platform: object) -> Module:
        m = Module()
        args = Signal(64)  # bytes shift in from the top: after 4 bytes the address is [32:64]
        left = Signal(range(9))  # argument bytes still to come
        idle_timer = Signal(range(self._frame_timeout))
        bus_timer = Signal(range(self._bus_timeout))
        status = Signal(8)
        rdata = Signal(32)
        reply = Signal(40)  # status, then data, sent LSB first
        reply_len = Signal(range(6))

        is_write = Signal()  # registered: cmd == WRITE, kept off the bus's combinational paths
        addr = Signal(32)
        wdata = Signal(32)
        m.d.comb += [
            addr.eq(args[0:32]),
            wdata.eq(args[32:64]),
        ]
        with m.If(~is_write):
            m.d.comb += addr.eq(args[32:64])
        high_bits = addr[2 + self._addr_width :] if self._addr_width < 30 else Const(0, 1)

        m.d.comb += [
            self.bus.adr.eq(addr[2 : 2 + self._addr_width]),
            self.bus.dat_w.eq(wdata),
            self.bus.sel.eq(0b1111),
            self.bus.we.eq(is_write),
            self.tx.payload.eq(reply[0:8]),
        ]

        with m.FSM():
            with m.State("Command"):
                m.d.comb += self.rx.ready.eq(1)
                with m.If(self.rx.valid):
                    m.d.sync += [
                        is_write.eq(self.rx.payload == BridgeCommand.WRITE),
                        idle_timer.eq(0),
                    ]
                    with m.Switch(self.rx.payload):
                        with m.Case(BridgeCommand.READ):
                            m.d.sync += left.eq(4)
                            m.next = "Arguments"
                        with m.Case(BridgeCommand.WRITE):
                            m.d.sync += left.eq(8)
                            m.next = "Arguments"
                        with m.Case(BridgeCommand.PING):
                            m.d.sync += [
                                reply.eq(Cat(Const(BridgeStatus.OK, 8), Const(PING_MAGIC, 32))),
                                reply_len.eq(5),
                            ]
                            m.next = "Reply"
                        with m.Default():
                            m.d.sync += [
                                reply.eq(BridgeStatus.BAD_COMMAND),
                                reply_len.eq(1),
                            ]
                            m.d.comb += self.error.eq(1)
                            m.next = "Reply"
            with m.State("Arguments"):
                m.d.comb += self.rx.ready.eq(1)
                with m.If(self.rx.valid):
                    m.d.sync += [
                        args.eq(Cat(args[8:], self.rx.payload)),
                        left.eq(left - 1),
                        idle_timer.eq(0),
                    ]
                    with m.If(left == 1):
                        m.next = "Check"
                with m.Elif(idle_timer == self._frame_timeout - 1):
                    m.next = "Command"  # the host went quiet mid-frame: drop it
                with m.Else():
                    m.d.sync += idle_timer.eq(idle_timer + 1)
            with m.State("Check"):
                m.d.sync += [bus_timer.eq(0), rdata.eq(0)]
                with m.If(addr[0:2] != 0):
                    m.d.sync += status.eq(BridgeStatus.MISALIGNED)
                    m.next = "Answer"
                with m.Elif(high_bits != 0):
                    m.d.sync += status.eq(BridgeStatus.BUS_ERROR)
                    m.next = "Answer"
                with m.Else():
                    m.next = "Bus"
            with m.State("Bus"):
                m.d.comb += [self.bus.cyc.eq(1), self.bus.stb.eq(1)]
                m.d.sync += bus_timer.eq(bus_timer + 1)
                with m.If(self.bus.ack):
                    m.d.sync += [status.eq(BridgeStatus.OK), rdata.eq(self.bus.dat_r)]
                    m.d.comb += self.access.eq(1)
                    m.next = "Answer"
                with m.Elif(self.bus.err):
                    m.d.sync += status.eq(BridgeStatus.BUS_ERROR)
                    m.d.comb += self.access.eq(1)
                    m.next = "Answer"
                with m.Elif(bus_timer == self._bus_timeout - 1):
                    m.d.sync += status.eq(BridgeStatus.TIMEOUT)
                    m.next = "Answer"
            with m.State("Answer"):
                m.d.sync += [reply.eq(Cat(status, rdata)), reply_len.eq(5)]
                with m.If(is_write):
                    m.d.sync += reply_len.eq(1)
                m.d.comb += self.error.eq(status != BridgeStatus.OK)
                m.next = "Reply"
            with m.State("Reply"):
                m.d.comb += self.tx.valid.eq(1)
                with m.If(self.tx.ready):
                    m.d.sync += [reply.eq(reply >> 8), reply_len.eq(reply_len - 1)]
                    with m.If(reply_len == 1):
                        m.next = "Command"
        return m


class UARTWishboneBridge(wiring.Component):
    """The bridge on a serial line: a :class:`~mmaccel.hdl.uart.transceiver.UART` and a
    :class:`StreamWishboneBridge`.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit (see :func:`mmaccel.hdl.uart.transceiver.baud_divisor`).
    addr_width : int
        Width of the bus ``adr`` (word address), 1..30.
    frame_timeout : int or None
        Cycles of silence that drop a partial frame; None (default) means 2000 bit times
        (about 17 ms at 115200 baud).
    bus_timeout : int
        Cycles a bus access may take before it is answered with ``TIMEOUT``.

    Members
    -------
    rx : In(1)
        Serial input from the host (idle high).
    tx : Out(1)
        Serial output to the host (idle high).
    bus : Out(WishboneSignature(addr_width))
        The initiator port.
    access, error : Out(1)
        Activity and error pulses (see :class:`StreamWishboneBridge`); ``error`` also pulses on
        a UART framing error or overrun.

    Latency: a READ costs 10 bytes on the line (5 each way), a WRITE 10 (9 + 1): at 115200 baud
    about 0.87 ms each plus the host's USB latency; the bus access itself takes a few cycles.
    """

    def __init__(
        self,
        *,
        divisor: int,
        addr_width: int = 30,
        frame_timeout: int | None = None,
        bus_timeout: int = 1 << 16,
    ) -> None:
        # An argument error below must not also warn that the object was never used.
        self._MustUse__silence = True
        self._uart = UART(divisor=divisor)
        self._engine = StreamWishboneBridge(
            addr_width=addr_width,
            frame_timeout=2000 * divisor if frame_timeout is None else frame_timeout,
            bus_timeout=bus_timeout,
        )
        self._MustUse__silence = False
        super().__init__(
            {
                "rx": In(1, init=1),
                "tx": Out(1, init=1),
                "bus": Out(WishboneSignature(addr_width)),
                "access": Out(1),
                "error": Out(1),
            }
        )

    @property
    def divisor(self) -> int:
        return self._uart.divisor

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.uart = uart = self._uart
        m.submodules.engine = engine = self._engine
        m.d.comb += [
            uart.rx.eq(self.rx),
            self.tx.eq(uart.tx),
            self.access.eq(engine.access),
            self.error.eq(engine.error | uart.overrun | uart.framing_error),
        ]
        wiring.connect(m, uart.rx_data, engine.rx)
        wiring.connect(m, engine.tx, uart.tx_data)
        wiring.connect(m, engine.bus, wiring.flipped(self.bus))
        return m
