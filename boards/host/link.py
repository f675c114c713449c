"""The serial link to a board: the UART-to-Wishbone bridge's wire protocol, host side.

:class:`BridgeLink` speaks the bridge's protocol (``mmaccel.hdl.uart.bridge``) over any object
with pyserial's ``read(n)`` / ``write(data)`` (a real ``serial.Serial`` from
:func:`open_serial`, or a fake port that a simulation feeds), and offers ``read32`` /
``write32`` at byte addresses. Lost answers are recovered by a resync (wait, PING) and a retry
for reads only; a write is never sent twice.
"""

from __future__ import annotations

import time
from typing import Protocol

from mmaccel.hdl.uart.bridge import PING_MAGIC, BridgeCommand, BridgeStatus
from mmaccel.sw.errors import BoardLinkError, InvalidArgument

__all__ = ["BridgeLink", "SerialPort", "open_serial"]


_STATUSES = frozenset(int(s) for s in BridgeStatus)


class SerialPort(Protocol):
    """What :class:`BridgeLink` needs from a port: pyserial's blocking read and write."""

    def read(self, size: int = 1) -> bytes:
        """Up to ``size`` bytes; fewer only when the port's timeout expires."""
        ...

    def write(self, data: bytes) -> int | None:
        """Send ``data``."""
        ...


def open_serial(path: str, baud: int = 115200, timeout: float = 1.0) -> SerialPort:
    """Open a serial port with pyserial (8N1, no flow control).

    Raises
    ------
    BoardLinkError
        The port cannot be opened (the message names it).
    """
    import serial  # pyserial; imported here so the model never needs it

    try:
        port: SerialPort = serial.Serial(path, baudrate=baud, timeout=timeout)
    except (serial.SerialException, OSError, ValueError) as error:
        raise BoardLinkError(f"cannot open serial port {path!r}: {error}") from error
    return port


def _check_word_addr(addr: int) -> None:
    if not isinstance(addr, int) or isinstance(addr, bool):
        raise TypeError(f"address must be an int, not {addr!r}")
    if not 0 <= addr < 1 << 32 or addr % 4:
        raise InvalidArgument(f"address {addr:#x} is not a word-aligned 32-bit byte address")


class BridgeLink:
    """32-bit register access through the board's UART-to-Wishbone bridge.

    Parameters
    ----------
    port : SerialPort
        An open port (pyserial ``Serial`` or anything with the same ``read``/``write``).
    retries : int
        How many times a read is retried after the link lost track (no or short answer): the
        driver waits ``resync_delay`` seconds so the bridge drops any partial frame, checks the
        link with a PING, and sends the read again. Writes and accesses the board refused (bus
        error) are never retried.
    resync_delay : float
        Seconds to wait before a retry (longer than the bridge's frame timeout).

    Attributes
    ----------
    reads, writes : int
        Accesses done so far.
    """

    def __init__(self, port: SerialPort, *, retries: int = 2, resync_delay: float = 0.05) -> None:
        if retries < 0:
            raise InvalidArgument(f"retries must not be negative, not {retries}")
        self.port = port
        self.retries = retries
        self.resync_delay = resync_delay
        self.reads = 0
        self.writes = 0

    # -- frames ---------------------------------------------------------------------------------

    @staticmethod
    def read_frame(addr: int) -> bytes:
        """The bytes of a READ of the word at byte address ``addr``."""
        _check_word_addr(addr)
        return bytes([BridgeCommand.READ]) + addr.to_bytes(4, "little")

    @staticmethod
    def write_frame(addr: int, value: int) -> bytes:
        """The bytes of a WRITE of ``value`` to the word at byte address ``addr``."""
        _check_word_addr(addr)
        if not isinstance(value, int) or not 0 <= value < 1 << 32:
            raise InvalidArgument(f"value {value!r} is not a 32-bit unsigned int")
        return (
            bytes([BridgeCommand.WRITE]) + addr.to_bytes(4, "little") + value.to_bytes(4, "little")
        )

    def _receive(self, n: int, what: str) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.port.read(n - len(data))
            if not chunk:
                raise BoardLinkError(
                    f"{what}: expected {n} bytes from the board, got {len(data)} "
                    f"({data.hex() or 'nothing'}) before the port timed out"
                )
            data += chunk
        return data

    def _transact(self, frame: bytes, answer: int, what: str, retries: int) -> bytes:
        attempt = 0
        while True:
            try:
                self.port.write(frame)
                reply = self._receive(answer, what)
                if reply[0] not in _STATUSES:
                    raise BoardLinkError(f"{what}: garbled status byte {reply[0]:#04x}")
                return reply
            except BoardLinkError:
                if attempt >= retries:
                    raise
                attempt += 1
                self.resync()

    @staticmethod
    def _check_status(reply: bytes, what: str) -> None:
        status = BridgeStatus(reply[0])
        if status is not BridgeStatus.OK:
            raise BoardLinkError(f"{what}: the bridge answered {status.name}", status=status)

    # -- accesses -------------------------------------------------------------------------------

    def read32(self, addr: int) -> int:
        """Read the 32-bit word at byte address ``addr``.

        Raises
        ------
        InvalidArgument
            ``addr`` is not a word-aligned 32-bit address (nothing is sent).
        BoardLinkError
            No answer after the retries, or the bridge refused the access (``status`` says
            why: an unmapped address answers ``BUS_ERROR``).
        """
        what = f"read of {addr:#010x}" if isinstance(addr, int) else "read"
        reply = self._transact(self.read_frame(addr), 5, what, self.retries)
        self._check_status(reply, what)
        self.reads += 1
        return int.from_bytes(reply[1:5], "little")

    def write32(self, addr: int, value: int) -> None:
        """Write the 32-bit word ``value`` at byte address ``addr`` (errors as :meth:`read32`).

        A write whose answer is lost is not sent again (a register write may start an
        operation): the error is raised.
        """
        what = f"write of {addr:#010x}" if isinstance(addr, int) else "write"
        reply = self._transact(self.write_frame(addr, value), 1, what, 0)
        self._check_status(reply, what)
        self.writes += 1

    def ping(self) -> None:
        """Check that a bridge answers (raises BoardLinkError if not)."""
        self.port.write(bytes([BridgeCommand.PING]))
        reply = self._receive(5, "ping")
        magic = int.from_bytes(reply[1:5], "little")
        if reply[0] != BridgeStatus.OK or magic != PING_MAGIC:
            raise BoardLinkError(
                f"ping: unexpected answer {reply.hex()} (is this an mmaccel board?)"
            )

    def resync(self) -> None:
        """Let the bridge drop any partial frame, discard stale input, and PING it."""
        time.sleep(self.resync_delay)
        reset = getattr(self.port, "reset_input_buffer", None)
        if reset is not None:
            reset()
        self.ping()
