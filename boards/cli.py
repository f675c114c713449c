"""Command-line glue: ``mmaccel boards``, ``build``, ``sweep`` and ``hw selftest``.

Each ``configure_*`` function adds its arguments to the parser ``mmaccel.sw.cli`` gives it and
sets ``func`` to the function that runs the command and returns the exit status.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mmaccel.sw.errors import MemoryManagerError

from .targets import BOARDS, get_board

__all__ = ["configure_boards", "configure_build", "configure_selftest", "configure_sweep"]


def _err(text: str) -> None:
    print(f"mmaccel: {text}", file=sys.stderr)


# -- mmaccel boards -------------------------------------------------------------------------


def configure_boards(parser: argparse.ArgumentParser) -> None:
    """``mmaccel boards [--json]``: the supported boards and their default sizes."""
    parser.add_argument("--json", action="store_true", help="print a JSON list")
    parser.set_defaults(func=_run_boards)


def _run_boards(args: argparse.Namespace) -> int:
    rows: list[dict[str, Any]] = []
    for target in BOARDS.values():
        d = target.config()  # what a build with no size options has
        rows.append(
            {
                "board": target.name,
                "description": target.description,
                "family": target.family,
                "granules": d.granules,
                "log2gran": d.log2gran,
                "gfa_fanout": d.gfa_fanout,
                "tlb_entries": d.tlb_entries,
                "ptmem_bytes": d.ptmem_bytes,
                "baud": d.baud,
                "note": target.note,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'board':<16} {'granules':>8} {'fanout':>6} {'tlb':>4} {'ptmem':>7}  description")
    for row in rows:
        print(
            f"{row['board']:<16} {row['granules']:>8} {row['gfa_fanout']:>6} "
            f"{row['tlb_entries']:>4} "
            f"{row['ptmem_bytes'] // 1024:>5}Ki  {row['description']}"
        )
    return 0


# -- mmaccel build --------------------------------------------------------------------------


def configure_build(parser: argparse.ArgumentParser) -> None:
    """``mmaccel build --board NAME [--granules N] [--tlb-entries E] [--json]``."""
    parser.add_argument("--board", required=True, choices=sorted(BOARDS), help="target board")
    parser.add_argument(
        "--granules", type=int, help="allocator granules (0 = no allocator; default per board)"
    )
    parser.add_argument(
        "--tlb-entries", type=int, help="MMU TLB entries (0 = no MMU; default per board)"
    )
    parser.add_argument(
        "--ptmem-bytes",
        type=int,
        help="page-table memory in bytes (default: the board's with the MMU, 0 without it)",
    )
    parser.add_argument("--baud", type=int, help="host link baud rate (default 115200)")
    parser.add_argument(
        "--fanout",
        type=int,
        help="fan-out of the allocator's summary tree, 2/4/8/16 (default per board: 2 on the "
        "iCE40, the smallest; 4 on the ECP5, the fewest cycles)",
    )
    parser.add_argument(
        "--clock-mhz",
        type=float,
        help="constrain the clock to this frequency to measure Fmax (the board still runs at "
        "its oscillator)",
    )
    parser.add_argument("--seed", type=int, help="nextpnr placement seed")
    parser.add_argument(
        "--build-dir", help="build folder (default: build/<board>-<sizes> in the current folder)"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.set_defaults(func=_run_build)


def _run_build(args: argparse.Namespace) -> int:
    from .build import build_board

    try:
        target = get_board(args.board)
        config = target.config(
            granules=args.granules,
            tlb_entries=args.tlb_entries,
            ptmem_bytes=args.ptmem_bytes,
            baud=args.baud,
            gfa_fanout=args.fanout,
        )
        build_dir = args.build_dir or str(Path("build") / f"{target.name}-{config.label()}")

        def progress(text: str) -> None:
            print(text, file=sys.stderr, flush=True)

        result = build_board(
            target,
            config,
            build_dir=build_dir,
            progress=progress,
            seed=args.seed,
            clock_mhz=args.clock_mhz,
        )
    except MemoryManagerError as error:
        _err(str(error))
        return 1
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return 0
    print(f"board        {result.board} ({config.label()})")
    print(f"bitstream    {result.bitstream}")
    print(f"logic cells  {result.luts}")
    print(f"flip-flops   {result.ffs}")
    print(f"block RAMs   {result.brams}")
    for clock, mhz in result.fmax_mhz.items():
        print(
            f"Fmax         {mhz:.2f} MHz on {clock} (constraint {result.constraint_mhz[clock]} "
            f"MHz, board clock {result.board_clock_mhz} MHz)"
        )
    print(f"timing met   {'yes' if result.timing_met else 'NO'} (at the board clock)")
    return 0 if result.timing_met else 3


# -- mmaccel sweep --------------------------------------------------------------------------


def configure_sweep(parser: argparse.ArgumentParser) -> None:
    """``mmaccel sweep``: build a grid of boards and sizes, write the docs table and a plot."""
    parser.add_argument(
        "--boards", default=",".join(BOARDS), help="comma-separated boards (default: all)"
    )
    parser.add_argument(
        "--granules",
        default="1024,4096,16384,65536",
        help="comma-separated granule counts (0 = without the allocator)",
    )
    parser.add_argument(
        "--tlb-entries", default="0,8,16", help="comma-separated TLB sizes (0 = without the MMU)"
    )
    parser.add_argument(
        "--clock-mhz",
        type=float,
        help="constraint for every build (default: 40 on iCE40, 100 on ECP5, the targets)",
    )
    parser.add_argument(
        "--out", default="docs", help="folder for boards-sweep.md, .json and .png (default docs)"
    )
    parser.add_argument("--build-root", default="build/sweep", help="build folders go here")
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG plot")
    parser.set_defaults(func=_run_sweep)


def _ints(text: str, what: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise MemoryManagerError(f"{what} must be comma-separated integers, not {text!r}") from None


def _run_sweep(args: argparse.Namespace) -> int:
    from .sweep import run_sweep

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
    except MemoryManagerError as error:
        _err(str(error))
        return 1
    return 0


# -- mmaccel hw selftest --------------------------------------------------------------------


def configure_selftest(parser: argparse.ArgumentParser) -> None:
    """``mmaccel hw selftest --port /dev/ttyUSB0``: randomized check of a board vs the model."""
    parser.add_argument(
        "--port", required=True, help="serial port of the board (e.g. /dev/ttyUSB0)"
    )
    parser.add_argument("--baud", type=int, default=115200, help="baud rate (default 115200)")
    parser.add_argument("--ops", type=int, default=500, help="allocator operations (default 500)")
    parser.add_argument(
        "--translations", type=int, default=300, help="MMU translations (default 300)"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(func=_run_selftest)


def _run_selftest(args: argparse.Namespace) -> int:
    from mmaccel.sw.serial_driver import open_serial, selftest

    try:
        port = open_serial(args.port, args.baud)
        report = selftest(
            port,
            seed=args.seed,
            ops=args.ops,
            translations=args.translations,
            log=None if args.json else print,
        )
    except MemoryManagerError as error:
        _err(str(error))
        return 1
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"selftest: {report['checks']} checks, {report['mismatches']} mismatches "
            f"(seed {args.seed})"
        )
    return 0 if report["mismatches"] == 0 else 1
