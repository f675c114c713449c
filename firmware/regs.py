"""The generated register headers the C driver includes: ``gfa_regs.h`` and ``mmu_regs.h``.

They are written from the register maps (:data:`mmaccel.hdl.gfa.regs.GFA_REGMAP`,
:data:`mmaccel.hdl.mmu.regs.MMU_REGMAP`) into a build folder at build time, with the same text
``mmaccel regmap gfa|mmu --c-header`` prints; they are never committed. Pass the folder as an
include directory when compiling ``driver/*.c``.
"""

from __future__ import annotations

from pathlib import Path

from mmaccel.hdl.bus.regmap import RegisterMap

__all__ = ["HEADERS", "header_text", "write_headers"]

#: Header file name -> block name of its register map.
HEADERS = {"gfa_regs.h": "gfa", "mmu_regs.h": "mmu"}


def _regmap(block: str) -> RegisterMap:
    if block == "gfa":
        from mmaccel.hdl.gfa.regs import GFA_REGMAP

        return GFA_REGMAP
    if block == "mmu":
        from mmaccel.hdl.mmu.regs import MMU_REGMAP

        return MMU_REGMAP
    raise ValueError(f"block must be 'gfa' or 'mmu', not {block!r}")


def header_text(block: str) -> str:
    """The C header of ``block`` ("gfa" or "mmu"), as ``mmaccel regmap <block> --c-header``."""
    from mmaccel.hdl.soc.memory_map import GFA_BASE, MMU_BASE

    example = {"gfa": GFA_BASE, "mmu": MMU_BASE}[block]
    return _regmap(block).c_header(
        command=f"mmaccel regmap {block} --c-header", example_base=example
    )


def write_headers(folder: Path) -> list[Path]:
    """Write ``gfa_regs.h`` and ``mmu_regs.h`` into ``folder`` (created); returns their paths.

    A header whose text is unchanged is not rewritten, so builds that track timestamps stay
    up to date.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, block in HEADERS.items():
        path = folder / name
        text = header_text(block)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        paths.append(path)
    return paths
