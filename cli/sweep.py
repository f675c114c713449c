"""``mmaccel sweep``: build a grid of boards and sizes; write the docs table and a plot."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mmaccel.boards.targets import BOARDS, get_board
from mmaccel.sw.errors import InvalidArgument, MemoryManagerError

from .command import Command, UsageError, print_error

__all__ = ["COMMANDS", "configure_sweep"]


def configure_sweep(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``mmaccel sweep``."""
    parser.add_argument(
        "--boards", default=",".join(BOARDS), help="comma-separated boards (default: all)"
    )
    parser.add_argument(
        "--granules",
        default="1024,4096,16384,65536",
        help="comma-separated granule counts (0 = without the allocator; default %(default)s)",
    )
    parser.add_argument(
        "--tlb-entries",
        default="0,8,16",
        help="comma-separated TLB sizes (0 = without the MMU; default %(default)s)",
    )
    parser.add_argument(
        "--clock-mhz",
        type=float,
        help="constraint for every build (default: 40 on iCE40, 100 on ECP5, the targets)",
    )
    parser.add_argument(
        "--out", default="docs", help="folder for boards-sweep.md, .json and .png (default docs)"
    )
    parser.add_argument(
        "--build-root",
        default="build/sweep",
        help="build folders go here (default %(default)s)",
    )
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG plot")
    parser.set_defaults(func=_run_sweep)


def _ints(text: str, what: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise MemoryManagerError(f"{what} must be comma-separated integers, not {text!r}") from None


def _run_sweep(args: argparse.Namespace) -> int:
    from mmaccel.boards.sweep import run_sweep

    try:
        boards = [get_board(name.strip()) for name in args.boards.split(",") if name.strip()]
        run_sweep(
            boards,
            _ints(args.granules, "--granules"),
            _ints(args.tlb_entries, "--tlb-entries"),
            out_dir=Path(args.out),
            build_root=Path(args.build_root),
            clock_mhz=args.clock_mhz,
            plot=not args.no_plot,
            progress=lambda text: print(text, file=sys.stderr, flush=True),
        )
    except InvalidArgument as error:
        raise UsageError(str(error)) from None
    except MemoryManagerError as error:
        print_error(str(error))
        return 1
    return 0


COMMANDS = [
    Command(
        ("sweep",),
        "build boards x sizes; write the size/Fmax table and plot into docs/",
        configure_sweep,
        "Build every listed board at every listed granule count and TLB size, and write "
        "the size and Fmax of each build into the --out folder: a Markdown table, the JSON "
        "figures and a plot (boards-sweep.md, .json, .png; points of earlier sweeps are kept).",
    ),
]
