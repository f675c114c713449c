"""An 8N1 UART: transmitter and receiver with byte streams, for the board's host link.

Both halves count a fixed number of clock cycles per bit (``divisor``): at 12 MHz and 115200
baud that is 104 cycles (0.16 % fast, well inside the ~2 % an 8N1 link tolerates). Use
:func:`baud_divisor` to compute it and check the error.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

__all__ = ["UART", "UARTReceiver", "UARTTransmitter", "baud_divisor"]

#: Largest baud-rate error (relative) that :func:`baud_divisor` accepts.
MAX_BAUD_ERROR = 0.02


def baud_divisor(clk_freq: float, baud: int) -> int:
    """Clock cycles per bit for ``baud`` at ``clk_freq`` Hz, rounded to the nearest integer.

    Raises
    ------
    ValueError
        ``baud`` is not positive, the divisor would be below 4, or the rounded rate misses
        ``baud`` by more than 2 %.
    """
    if not isinstance(baud, int) or isinstance(baud, bool):
        raise TypeError(f"baud must be an int, not {baud!r}")
    if baud <= 0:
        raise ValueError(f"baud must be positive, not {baud}")
    divisor = round(clk_freq / baud)
    if divisor < 4:
        raise ValueError(
            f"baud {baud} is too fast for a {clk_freq / 1e6:g} MHz clock (divisor {divisor} < 4)"
        )
    error = abs(clk_freq / divisor - baud) / baud
    if error > MAX_BAUD_ERROR:
        raise ValueError(
            f"baud {baud} is off by {error:.1%} with a {clk_freq / 1e6:g} MHz clock "
            f"(divisor {divisor}); at most {MAX_BAUD_ERROR:.0%} is allowed"
        )
    return divisor


def _check_divisor(divisor: int) -> None:
    if not isinstance(divisor, int) or isinstance(divisor, bool):
        raise TypeError(f"divisor must be an int, not {divisor!r}")
    if divisor < 4:
        raise ValueError(f"divisor must be at least 4 clock cycles per bit, not {divisor}")


class UARTTransmitter(wiring.Component):
    """8N1 transmitter: one start bit, 8 data bits LSB first, one stop bit.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit (at least 4).

    Members
    -------
    data : In(stream.Signature(8))
        Bytes to send. ``ready`` is high while the line is idle; a byte is taken in the cycle
        ``valid`` and ``ready`` are both high.
    tx : Out(1)
        The serial line (idle high).

    Timing: the start bit begins the cycle after the byte is taken; a byte occupies the line
    for ``10 * divisor`` cycles and the next byte is accepted in the cycle after its stop bit,
    so back-to-back bytes run at the full baud rate.
    """

    def __init__(self, *, divisor: int) -> None:
        # An argument error below must not also warn that the object was never used.
        self._MustUse__silence = True
        _check_divisor(divisor)
        self._divisor = divisor
        self._MustUse__silence = False
        super().__init__({"data": In(stream.Signature(8)), "tx": Out(1, init=1)})

    @property
    def divisor(self) -> int:
        return self._divisor

    def elaborate(self, platform: object) -> Module:
        m = Module()
        shreg = Signal(10, init=0x3FF)  # stop, d7..d0, start; shifted out LSB first
        bits = Signal(range(11))  # bits left to send, 0 = idle
        timer = Signal(range(self._divisor))

        m.d.comb += [self.tx.eq(shreg[0]), self.data.ready.eq(bits == 0)]
        with m.If(bits == 0), m.If(self.data.valid):
            m.d.sync += [
                shreg.eq(1 << 9 | self.data.payload << 1),
                bits.eq(10),
                timer.eq(self._divisor - 1),
            ]
        with m.Else():
            with m.If(timer == 0):
                m.d.sync += [
                    shreg.eq(1 << 9 | shreg >> 1),
                    bits.eq(bits - 1),
                    timer.eq(self._divisor - 1),
                ]
            with m.Else():
                m.d.sync += timer.eq(timer - 1)
        return m


class UARTReceiver(wiring.Component):
    """8N1 receiver with a two-flip-flop synchronizer and mid-bit sampling.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit (at least 4).

    Members
    -------
    rx : In(1)
        The serial line (idle high); it may be asynchronous to the clock.
    data : Out(stream.Signature(8))
        Received bytes. ``valid`` rises about 9.5 bit times after the start edge (plus 2 cycles
        of synchronizer) and stays up until the byte is taken.
    overrun : Out(1)
        Pulses for one cycle when a byte arrives while the previous one was still not taken
        (the new byte replaces it).
    framing_error : Out(1)
        Pulses for one cycle when a stop bit is low; that byte is dropped.

    Throughput: one byte per ``10 * divisor`` cycles; the consumer has one byte time to take each
    byte.
    """

    def __init__(self, *, divisor: int) -> None:
        # An argument error below must not also warn that the object was never used.
        self._MustUse__silence = True
        _check_divisor(divisor)
        self._divisor = divisor
        self._MustUse__silence = False
        super().__init__(
            {
                "rx": In(1, init=1),
                "data": Out(stream.Signature(8)),
                "overrun": Out(1),
                "framing_error": Out(1),
            }
        )

    @property
    def divisor(self) -> int:
        return self._divisor

    def elaborate(self, platform: object) -> Module:
        m = Module()
        rx = Signal(init=1)
        m.submodules.sync = FFSynchronizer(self.rx, rx, init=1)

        timer = Signal(range(self._divisor))
        bits = Signal(range(9))
        shreg = Signal(8)

        with m.If(self.data.valid & self.data.ready):
            m.d.sync += self.data.valid.eq(0)

        with m.FSM():
            with m.State("Idle"), m.If(~rx):
                m.d.sync += timer.eq(self._divisor // 2 - 1)
                m.next = "Start"
            with m.State("Start"):
                with m.If(timer == 0):
                    with m.If(rx):  # a glitch, not a start bit
                        m.next = "Idle"
                    with m.Else():
                        m.d.sync += [timer.eq(self._divisor - 1), bits.eq(8)]
                        m.next = "Data"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            with m.State("Data"):
                with m.If(timer == 0):
                    m.d.sync += [
                        shreg.eq(rx << 7 | shreg >> 1),
                        bits.eq(bits - 1),
                        timer.eq(self._divisor - 1),
                    ]
                    with m.If(bits == 1):
                        m.next = "Stop"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            with m.State("Stop"):
                with m.If(timer == 0):
                    with m.If(rx):
                        m.d.sync += [self.data.payload.eq(shreg), self.data.valid.eq(1)]
                        m.d.comb += self.overrun.eq(self.data.valid & ~self.data.ready)
                        m.next = "Idle"
                    with m.Else():
                        m.d.comb += self.framing_error.eq(1)
                        m.next = "Break"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            # After a framing error, wait for the line to return high before the next start.
            with m.State("Break"), m.If(rx):
                m.next = "Idle"
        return m


class UART(wiring.Component):
    """A receiver and a transmitter sharing one divisor.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit (at least 4).

    Members
    -------
    rx : In(1)
        Serial input (idle high).
    tx : Out(1)
        Serial output (idle high).
    rx_data : Out(stream.Signature(8))
        Received bytes (see :class:`UARTReceiver`).
    tx_data : In(stream.Signature(8))
        Bytes to send (see :class:`UARTTransmitter`).
    overrun, framing_error : Out(1)
        The receiver's error pulses.
    """

    def __init__(self, *, divisor: int) -> None:
        # An argument error below must not also warn that the object was never used.
        self._MustUse__silence = True
        _check_divisor(divisor)
        self._divisor = divisor
        self._MustUse__silence = False
        super().__init__(
            {
                "rx": In(1, init=1),
                "tx": Out(1, init=1),
                "rx_data": Out(stream.Signature(8)),
                "tx_data": In(stream.Signature(8)),
                "overrun": Out(1),
                "framing_error": Out(1),
            }
        )

    @property
    def divisor(self) -> int:
        return self._divisor

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.receiver = receiver = UARTReceiver(divisor=self._divisor)
        m.submodules.transmitter = transmitter = UARTTransmitter(divisor=self._divisor)
        m.d.comb += [
            receiver.rx.eq(self.rx),
            self.tx.eq(transmitter.tx),
            self.overrun.eq(receiver.overrun),
            self.framing_error.eq(receiver.framing_error),
        ]
        wiring.connect(m, receiver.data, wiring.flipped(self.rx_data))
        wiring.connect(m, wiring.flipped(self.tx_data), transmitter.data)
        return m
