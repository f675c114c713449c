"""Board discovery: what a board running the accelerator reports about itself.

The board's address map (byte addresses) is ``mmaccel.boards.top.BOARD_MAP``; its
identification registers are ``mmaccel.boards.top.BOARD_REGMAP`` at ``BOARD_MAP["info"]``.
"""

from __future__ import annotations

from dataclasses import dataclass

from mmaccel.boards.top import BOARD_MAP, BOARD_REGMAP
from mmaccel.hdl.uart.bridge import PING_MAGIC
from mmaccel.sw.errors import BoardLinkError

from .link import BridgeLink

__all__ = ["BoardInfo", "read_board_info"]


@dataclass(frozen=True, slots=True)
class BoardInfo:
    """What the board top reports about itself (BOARD_REGMAP)."""

    granules: int
    log2gran: int
    gfa_base: int
    tlb_entries: int
    ptmem_bytes: int
    clk_hz: int

    @property
    def has_gfa(self) -> bool:
        return self.granules > 0

    @property
    def has_mmu(self) -> bool:
        return self.tlb_entries > 0


def read_board_info(link: BridgeLink, base: int | None = None) -> BoardInfo:
    """Read the board's identification registers.

    Raises
    ------
    BoardLinkError
        The ID register does not hold the mmaccel magic.
    """
    at = BOARD_MAP["info"] if base is None else base

    def reg(name: str) -> int:
        return link.read32(at + BOARD_REGMAP[name].offset)

    ident = reg("ID")
    if ident != PING_MAGIC:
        raise BoardLinkError(f"board ID register reads {ident:#010x}, not {PING_MAGIC:#010x}")
    config = BOARD_REGMAP["CONFIG"].unpack(reg("CONFIG"))
    return BoardInfo(
        granules=reg("GRANULES"),
        log2gran=config["LOG2GRAN"],
        gfa_base=reg("GFA_BASE"),
        tlb_entries=config["TLB_ENTRIES"] if config["HAS_MMU"] else 0,
        ptmem_bytes=reg("PTMEM_BYTES"),
        clk_hz=reg("CLK_HZ"),
    )
