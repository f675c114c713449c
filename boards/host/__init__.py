"""The host side of a board: the serial link to its UART bridge and the drivers over it.

Modules, bottom up:

- :mod:`~mmaccel.boards.host.link`: :class:`BridgeLink` speaks the UART-to-Wishbone bridge's
  wire protocol over any object with pyserial's ``read(n)`` / ``write(data)``
  (:class:`SerialPort`; :func:`open_serial` opens a real one) and offers ``read32`` /
  ``write32`` at byte addresses;
- :mod:`~mmaccel.boards.host.board`: :func:`read_board_info` reads what the board reports
  about itself (:class:`BoardInfo`);
- :mod:`~mmaccel.boards.host.regdriver`: the register-level driver of the granule allocator,
  for any 32-bit register access (the serial link, a cocotb bench, a model);
- :mod:`~mmaccel.boards.host.gfa`: :class:`SerialGranuleAllocator` offers the methods of the
  model's :class:`~mmaccel.sw.gran.GranuleAllocator`, carried out by the allocator on the board;
- :mod:`~mmaccel.boards.host.mmu`: :class:`SerialMmu` loads page tables into the board's
  page-table memory, sets satp, flushes and translates, with the model's
  :func:`~mmaccel.sw.sv32.translate_sv32` semantics;
- :mod:`~mmaccel.boards.host.selftest`: :func:`selftest`, the randomized check of a board
  against the model behind ``mmaccel hw selftest``.

The board's address map (byte addresses) is ``mmaccel.boards.top.BOARD_MAP``.
"""

from .board import BoardInfo, read_board_info
from .gfa import SerialGranuleAllocator
from .link import BridgeLink, SerialPort, open_serial
from .mmu import SerialMmu
from .selftest import gfa_selftest, mmu_selftest, selftest

__all__ = [
    "BoardInfo",
    "BridgeLink",
    "SerialGranuleAllocator",
    "SerialMmu",
    "SerialPort",
    "gfa_selftest",
    "mmu_selftest",
    "open_serial",
    "read_board_info",
    "selftest",
]
