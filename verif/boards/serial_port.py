"""A simulated serial port for the board top: host code talks to the design's UART pins.

:class:`SimSerialPort` has pyserial's ``read``/``write``, so the real host driver
(``mmaccel.boards.host``) runs unchanged in a thread started with
``cocotb.task.bridge``; each call hands control to a cocotb coroutine that drives ``rx`` bit by
bit, or waits for bytes that a monitor samples from ``tx`` (8N1, ``divisor`` clock cycles per
bit, sampled mid-bit).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from cocotb.task import resume
from cocotb.triggers import FallingEdge, Timer


class SimSerialPort:
    """pyserial-like port on the design's ``rx``/``tx`` pins.

    Parameters
    ----------
    dut : cocotb handle
        The top level, with ``rx`` (input) and ``tx`` (output).
    divisor : int
        Clock cycles per bit.
    clk_ns : int
        Clock period in ns.
    timeout_bytes : int
        How many byte times a ``read`` waits for missing bytes before it returns short (like a
        pyserial timeout).
    """

    def __init__(self, dut: Any, divisor: int, clk_ns: int = 10, timeout_bytes: int = 400) -> None:
        self.dut = dut
        self.bit_ns = divisor * clk_ns
        self.timeout_bytes = timeout_bytes
        self.received: deque[int] = deque()
        self.sent = 0
        self.framing_errors = 0
        dut.rx.value = 1

    async def monitor(self) -> None:
        """Sample every byte the design sends (start with ``cocotb.start_soon``)."""
        tx = self.dut.tx
        while True:
            await FallingEdge(tx)
            await Timer(self.bit_ns // 2, unit="ns")
            if int(tx.value) != 0:
                continue  # a glitch, not a start bit
            value = 0
            for i in range(8):
                await Timer(self.bit_ns, unit="ns")
                value |= int(tx.value) << i
            await Timer(self.bit_ns, unit="ns")
            if int(tx.value) != 1:
                self.framing_errors += 1
                continue
            self.received.append(value)

    async def _send(self, data: bytes) -> None:
        for byte in data:
            for bit in (0, *((byte >> i) & 1 for i in range(8)), 1):
                self.dut.rx.value = bit
                await Timer(self.bit_ns, unit="ns")
        self.sent += len(data)

    async def _receive(self, size: int) -> bytes:
        waited = 0
        while len(self.received) < size and waited < self.timeout_bytes:
            await Timer(10 * self.bit_ns, unit="ns")
            waited += 1
        out = bytearray()
        while self.received and len(out) < size:
            out.append(self.received.popleft())
        return bytes(out)

    def write(self, data: bytes) -> int:
        """Send ``data`` on ``rx`` (blocks the calling bridge thread while the bits go out)."""
        resume(self._send)(bytes(data))
        return len(data)

    def read(self, size: int = 1) -> bytes:
        """Up to ``size`` bytes from ``tx``; fewer if they do not come in time."""
        return resume(self._receive)(size)

    def reset_input_buffer(self) -> None:
        self.received.clear()
