"""``mmaccel build --board NAME [sizes] [--json]``: build a board's bitstream and report it."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mmaccel.boards.targets import BOARDS, BoardTarget, get_board
from mmaccel.sw.errors import InvalidArgument, MemoryManagerError

from .command import Command, UsageError, print_error

__all__ = ["COMMANDS", "configure_build"]


def configure_build(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``mmaccel build``."""
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
        "its oscillator; default: the board's clock)",
    )
    parser.add_argument(
        "--soc",
        action="store_true",
        help="build the RISC-V SoC (VexRiscv, the allocator, the MMU) with its firmware, which "
        "prints its results over the board's UART, instead of the host-link design; "
        "--clock-mhz then sets the PLL's output (default per board: docs/boards.md)",
    )
    parser.add_argument(
        "--variant",
        choices=["min", "lite", "standard", "full", "imac"],
        help="with --soc: the VexRiscv variant (default per board)",
    )
    parser.add_argument("--seed", type=int, help="nextpnr placement seed (default: nextpnr's)")
    parser.add_argument(
        "--build-dir", help="build folder (default: build/<board>-<sizes> in the current folder)"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.set_defaults(func=_run_build)


def _run_build(args: argparse.Namespace) -> int:
    from mmaccel.boards.build import build_board

    try:
        target = get_board(args.board)
        if args.soc:
            return _run_soc_build(args, target)
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
    except InvalidArgument as error:
        raise UsageError(str(error)) from None
    except MemoryManagerError as error:
        print_error(str(error))
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


def _run_soc_build(args: argparse.Namespace, target: BoardTarget) -> int:
    from mmaccel.boards.build import build_board
    from mmaccel.boards.soc_top import soc_config
    from mmaccel.firmware.toolchain import ToolchainError

    if args.ptmem_bytes is not None:
        raise UsageError("--ptmem-bytes is not for --soc: the MMU's walker reads the SoC's RAM")
    config = soc_config(
        target,
        clock_mhz=args.clock_mhz,
        granules=args.granules,
        tlb_entries=args.tlb_entries,
        baud=args.baud,
        gfa_fanout=args.fanout,
        variant=args.variant,
    )
    build_dir = args.build_dir or str(Path("build") / f"{target.name}-{config.label()}")

    def progress(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    try:
        result = build_board(target, config, build_dir=build_dir, progress=progress, seed=args.seed)
    except (ValueError, ToolchainError) as error:  # the firmware does not fit the RAM, say
        lines = [line for line in str(error).splitlines() if "error" in line] or [str(error)]
        print_error(
            f"the board firmware does not build for {config.label()} ({config.ram_size} bytes "
            f"of RAM): " + " / ".join(line.strip() for line in lines[-3:])
        )
        return 1
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return 0 if result.timing_met else 3
    print(f"board        {result.board} (SoC: {config.label()})")
    print(f"bitstream    {result.bitstream}")
    print(f"firmware     {result.firmware_bytes} bytes in {config.ram_size} bytes of RAM")
    print(f"logic cells  {result.luts}")
    print(f"flip-flops   {result.ffs}")
    print(f"block RAMs   {result.brams}")
    for clock, mhz in result.fmax_mhz.items():
        print(f"Fmax         {mhz:.2f} MHz on {clock} (runs at {result.constraint_mhz[clock]} MHz)")
    print(f"UART         {config.baud} baud 8N1 on the board's serial port")
    print(f"timing met   {'yes' if result.timing_met else 'NO'}")
    return 0 if result.timing_met else 3


COMMANDS = [
    Command(
        ("build",),
        "build a board's bitstream (YoWASP) and report size, Fmax and timing",
        configure_build,
        "Build a board's bitstream with the YoWASP tools (Yosys, nextpnr) and report its size "
        "(logic cells, flip-flops, block RAMs), Fmax and whether timing is met at the board "
        "clock. Sizes not given are the board's defaults (see `mmaccel boards`). With --soc, "
        "the RISC-V SoC (VexRiscv, allocator, MMU, UART) with its board firmware in RAM. "
        "Exit status 2 for a size or option the board rejects, 1 when a tool fails or the "
        "design does not fit, 3 when timing is not met.",
    ),
]
