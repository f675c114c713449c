"""``mmaccel verilog``: standalone Verilog of a block, for use in other SoCs.

- ``mmaccel verilog mmu``: the Sv32 MMU with its Wishbone control registers (``--bare``: the
  core alone), Amaranth's ``verilog.convert``;
- ``mmaccel verilog gfa``: the granule allocator with a Wishbone slave and the request/response
  streams (``--core``: the stream core alone, with its debug port),
  :func:`mmaccel.hdl.verilog.to_verilog`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .command import Command
from .params import add_entries_argument, add_gfa_arguments, check_gfa

__all__ = ["COMMANDS", "configure_verilog_gfa", "configure_verilog_mmu"]


# -- mmaccel verilog mmu --------------------------------------------------------------------


def configure_verilog_mmu(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``mmaccel verilog mmu``."""
    add_entries_argument(parser)
    parser.add_argument(
        "--bare", action="store_true", help="the Mmu core only, without the register slave"
    )
    parser.add_argument("-o", "--output", default="-", help="output file (default: stdout)")
    parser.set_defaults(func=_run_verilog_mmu)


def _run_verilog_mmu(args: argparse.Namespace) -> int:
    from amaranth.back import verilog

    from mmaccel.hdl.mmu import Mmu
    from mmaccel.hdl.mmu.wishbone import MmuWishbone

    design = Mmu(args.entries) if args.bare else MmuWishbone(args.entries)
    name = "mmaccel_mmu" if args.bare else "mmaccel_mmu_wb"
    text = verilog.convert(design, name=name, emit_src=False)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text)
        print(f"wrote {args.output} ({name}, {args.entries} TLB entries)", file=sys.stderr)
    return 0


# -- mmaccel verilog gfa --------------------------------------------------------------------


def configure_verilog_gfa(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``mmaccel verilog gfa``."""
    add_gfa_arguments(parser, 4096)
    parser.add_argument("-o", "--output", required=True, help="Verilog file to write")
    parser.add_argument("--name", default="mmaccel_gfa", help="module name (default mmaccel_gfa)")
    parser.add_argument(
        "--core", action="store_true", help="the stream core only, without the Wishbone wrapper"
    )
    parser.set_defaults(func=_run_verilog_gfa)


def _run_verilog_gfa(args: argparse.Namespace) -> int:
    from mmaccel.hdl.gfa import GranuleFrameAllocator
    from mmaccel.hdl.gfa.wishbone import GfaWishbone
    from mmaccel.hdl.verilog import to_verilog

    error = check_gfa(args)
    if error:
        print(f"mmaccel verilog gfa: {error}", file=sys.stderr)
        return 2
    params = {
        "granules": args.granules,
        "log2gran": args.log2gran,
        "base": args.base,
        "fanout": args.fanout,
    }
    design: Any
    if args.core:
        design = GranuleFrameAllocator(**params)
        kind = "stream core"
    else:
        design = GfaWishbone(**params, streams=True)
        kind = "Wishbone slave and request/response streams"
    try:
        text = to_verilog(design, args.name)
    except ValueError as failure:
        print(f"mmaccel verilog gfa: {failure}", file=sys.stderr)
        return 2
    out = Path(args.output)
    out.write_text(text)
    print(f"wrote {out} ({kind}, module {args.name}, {args.granules} granules)", file=sys.stderr)
    return 0


COMMANDS = [
    Command(
        ("verilog", "mmu"),
        "Verilog of the Sv32 MMU with its Wishbone control registers",
        configure_verilog_mmu,
        "Write standalone Verilog of the Sv32 MMU with its Wishbone control registers "
        "(module mmaccel_mmu_wb), or of the MMU core alone with --bare (module mmaccel_mmu).",
    ),
    Command(
        ("verilog", "gfa"),
        "Verilog of the granule allocator (Wishbone and stream ports)",
        configure_verilog_gfa,
        "Write standalone Verilog of the granule allocator with a Wishbone slave and the "
        "request/response streams, or of the stream core alone (with its debug port) with "
        "--core. Exit status 2 on bad parameters or module name.",
    ),
]
