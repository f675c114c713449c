"""``mmaccel verilog``: standalone Verilog of a block, for use in other SoCs.

- ``mmaccel verilog mmu``: the Sv32 MMU with its Wishbone control registers (``--bare``: the
  core alone), Amaranth's ``verilog.convert``;
- ``mmaccel verilog gfa``: the granule allocator with a Wishbone slave and the request/response
  streams (``--core``: the stream core alone, with its debug port),
  :func:`mmaccel.hdl.verilog.to_verilog`.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

from .command import Command, UsageError, output_path, write_output
from .params import add_entries_argument, add_gfa_arguments, check_gfa

__all__ = ["COMMANDS", "configure_verilog_gfa", "configure_verilog_mmu"]


# -- mmaccel verilog mmu --------------------------------------------------------------------


def _add_output_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument(
        "-o", "--output", default="-", help="Verilog file to write (default: standard output)"
    )
    parser.add_argument("--name", default=name, help=f"module name (default {name})")


def _emit(args: argparse.Namespace, text: str, what: str) -> int:
    """Write ``text`` to ``args.output`` (``-``: standard output) and say what was written."""
    if args.output == "-":
        sys.stdout.write(text)
    else:
        out = write_output(args.output, text)
        print(f"wrote {out} ({what})", file=sys.stderr)
    return 0


def _check_name(name: str) -> None:
    if not _IDENTIFIER.fullmatch(name):
        raise UsageError(f"--name must be a Verilog identifier, not {name!r}")


#: A plain Verilog identifier: a letter or underscore, then letters, digits, ``_`` or ``$``.
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


def configure_verilog_mmu(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``mmaccel verilog mmu``."""
    add_entries_argument(parser)
    parser.add_argument(
        "--bare", action="store_true", help="the Mmu core only, without the register slave"
    )
    parser.add_argument(
        "-o", "--output", default="-", help="Verilog file to write (default: standard output)"
    )
    parser.add_argument(
        "--name", help="module name (default mmaccel_mmu_wb, or mmaccel_mmu with --bare)"
    )
    parser.set_defaults(func=_run_verilog_mmu)


def _run_verilog_mmu(args: argparse.Namespace) -> int:
    from amaranth.back import verilog

    from mmaccel.hdl.mmu import Mmu
    from mmaccel.hdl.mmu.wishbone import MmuWishbone

    name = args.name or ("mmaccel_mmu" if args.bare else "mmaccel_mmu_wb")
    _check_name(name)
    try:
        design = Mmu(args.entries) if args.bare else MmuWishbone(args.entries)
    except (TypeError, ValueError) as error:
        raise UsageError(str(error)) from None
    text = verilog.convert(design, name=name, emit_src=False)
    return _emit(args, text, f"module {name}, {args.entries} TLB entries")


# -- mmaccel verilog gfa --------------------------------------------------------------------


def configure_verilog_gfa(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``mmaccel verilog gfa``."""
    add_gfa_arguments(parser, 4096)
    _add_output_arguments(parser, "mmaccel_gfa")
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
        raise UsageError(error)
    _check_name(args.name)
    if args.output != "-":
        output_path(args.output)  # before the conversion, which takes a while
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
        raise UsageError(str(failure)) from None
    return _emit(args, text, f"{kind}, module {args.name}, {args.granules} granules")


COMMANDS = [
    Command(
        ("verilog", "mmu"),
        "Verilog of the Sv32 MMU with its Wishbone control registers",
        configure_verilog_mmu,
        "Write standalone Verilog of the Sv32 MMU with its Wishbone control registers "
        "(module mmaccel_mmu_wb), or of the MMU core alone with --bare (module mmaccel_mmu), "
        "to standard output or -o FILE. Exit status 2 on bad parameters, module name or "
        "output folder.",
    ),
    Command(
        ("verilog", "gfa"),
        "Verilog of the granule allocator (Wishbone and stream ports)",
        configure_verilog_gfa,
        "Write standalone Verilog of the granule allocator with a Wishbone slave and the "
        "request/response streams, or of the stream core alone (with its debug port) with "
        "--core, to standard output or -o FILE. Exit status 2 on bad parameters, module name "
        "or output folder.",
    ),
]
