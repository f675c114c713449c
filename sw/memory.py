"""Byte-addressed physical memory shared by every part of the model."""

from __future__ import annotations

from .errors import InvalidArgument, MemoryAccessError

__all__ = ["PhysicalMemory"]


class PhysicalMemory:
    """A byte-addressed memory covering ``[0, size)``; little-endian word access.

    Parameters
    ----------
    size : int
        Size in bytes (positive).

    Raises
    ------
    MemoryAccessError
        On any access that does not lie wholly inside ``[0, size)``; nothing is written.
    """

    __slots__ = ("_data", "size")

    def __init__(self, size: int) -> None:
        if not isinstance(size, int) or isinstance(size, bool):
            raise TypeError(f"size must be an int, not {size!r}")
        if size <= 0:
            raise InvalidArgument(f"size must be positive, not {size}")
        self.size = size
        self._data = bytearray(size)

    def __repr__(self) -> str:
        return f"PhysicalMemory(size={self.size:#x})"

    def _check(self, addr: int, n: int) -> None:
        if n < 0:
            raise MemoryAccessError(f"access length must not be negative, not {n}")
        if addr < 0 or addr + n > self.size:
            raise MemoryAccessError(
                f"access of {n} bytes at {addr:#x} is outside physical memory [0, {self.size:#x})"
            )

    def read(self, addr: int, n: int) -> bytes:
        """Return ``n`` bytes starting at ``addr``."""
        self._check(addr, n)
        return bytes(self._data[addr : addr + n])

    def write(self, addr: int, data: bytes | bytearray | memoryview) -> None:
        """Write ``data`` at ``addr``."""
        self._check(addr, len(data))
        self._data[addr : addr + len(data)] = data

    def fill(self, addr: int, n: int, value: int = 0) -> None:
        """Set ``n`` bytes at ``addr`` to ``value``."""
        self._check(addr, n)
        self._data[addr : addr + n] = bytes([value]) * n

    def move(self, dst: int, src: int, n: int) -> None:
        """Copy ``n`` bytes from ``src`` to ``dst`` (the ranges may overlap, like memmove)."""
        self._check(src, n)
        self._check(dst, n)
        self._data[dst : dst + n] = self._data[src : src + n]

    def read_u8(self, addr: int) -> int:
        self._check(addr, 1)
        return self._data[addr]

    def write_u8(self, addr: int, value: int) -> None:
        self._check(addr, 1)
        self._data[addr] = value & 0xFF

    def read_u16(self, addr: int) -> int:
        self._check(addr, 2)
        return int.from_bytes(self._data[addr : addr + 2], "little")

    def write_u16(self, addr: int, value: int) -> None:
        self._check(addr, 2)
        self._data[addr : addr + 2] = (value & 0xFFFF).to_bytes(2, "little")

    def read_u32(self, addr: int) -> int:
        self._check(addr, 4)
        return int.from_bytes(self._data[addr : addr + 4], "little")

    def write_u32(self, addr: int, value: int) -> None:
        self._check(addr, 4)
        self._data[addr : addr + 4] = (value & 0xFFFF_FFFF).to_bytes(4, "little")

    def read_u64(self, addr: int) -> int:
        self._check(addr, 8)
        return int.from_bytes(self._data[addr : addr + 8], "little")

    def write_u64(self, addr: int, value: int) -> None:
        self._check(addr, 8)
        self._data[addr : addr + 8] = (value & 0xFFFF_FFFF_FFFF_FFFF).to_bytes(8, "little")

    def read_uint(self, addr: int, width: int) -> int:
        """Read a little-endian unsigned integer of ``width`` bytes."""
        self._check(addr, width)
        return int.from_bytes(self._data[addr : addr + width], "little")

    def write_uint(self, addr: int, width: int, value: int) -> None:
        """Write ``value`` as a little-endian unsigned integer of ``width`` bytes."""
        self._check(addr, width)
        self._data[addr : addr + width] = (value & ((1 << (8 * width)) - 1)).to_bytes(
            width, "little"
        )
