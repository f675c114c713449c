"""``mmaccel fmax {gfa,mmu} --device {ecp5,ice40}``: Fmax and size of one block out of context.

The measurement is :func:`mmaccel.boards.ooc.measure_fmax` (Yosys and nextpnr on the block
behind a two-pin wrapper).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mmaccel.sw.errors import InvalidArgument

from .command import Command, CommandFailed, UsageError

__all__ = ["COMMANDS", "DEVICES", "configure_fmax"]

#: The FPGA families of ``--device``: the keys of :data:`mmaccel.boards.ooc.DEVICES`, named here
#: so that listing the commands does not import the gateware.
DEVICES = ("ecp5", "ice40")


def configure_fmax(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``mmaccel fmax``."""
    parser.add_argument("block", choices=("gfa", "mmu"), help="the block to measure")
    parser.add_argument("--device", required=True, choices=DEVICES, help="FPGA family")
    parser.add_argument(
        "--granules", type=int, default=4096, help="allocator granules (default 4096)"
    )
    parser.add_argument(
        "--fanout",
        type=int,
        help="allocator summary fan-out, 2/4/8/16 (default: the family's, as mmaccel build "
        "uses: 2 on iCE40, 4 on ECP5)",
    )
    parser.add_argument("--entries", type=int, default=16, help="MMU TLB entries (default 16)")
    parser.add_argument("--seed", type=int, default=1, help="nextpnr placement seed (default 1)")
    parser.add_argument(
        "--clock-mhz", type=float, help="constraint (default: 100 on ECP5, 40 on iCE40)"
    )
    parser.add_argument(
        "--folder",
        help="keep the netlists and logs here (default: a temporary folder, removed afterwards)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=_run_fmax)


def _run_fmax(args: argparse.Namespace) -> int:
    from mmaccel.boards.build import BuildError
    from mmaccel.boards.ooc import DEFAULT_FANOUT, check_request, measure_fmax

    fanout = DEFAULT_FANOUT[args.device] if args.fanout is None else args.fanout
    try:
        check_request(
            args.block, args.device, granules=args.granules, fanout=fanout, entries=args.entries
        )
    except InvalidArgument as error:
        raise UsageError(str(error)) from None
    if args.clock_mhz is not None and args.clock_mhz <= 0:
        raise UsageError(f"--clock-mhz must be positive, not {args.clock_mhz}")
    folder = Path(args.folder) if args.folder else None
    if folder is not None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UsageError(f"cannot make the folder {folder}: {error.strerror}") from None
    size = (
        f"{args.granules} granules, fan-out {fanout}"
        if args.block == "gfa"
        else f"{args.entries} TLB entries"
    )
    print(
        f"[fmax] {args.block} ({size}) on {args.device}: yosys + nextpnr ...",
        file=sys.stderr,
        flush=True,
    )
    try:
        result = measure_fmax(
            args.block,
            args.device,
            granules=args.granules,
            fanout=fanout,
            entries=args.entries,
            seed=args.seed,
            mhz=args.clock_mhz,
            folder=folder,
        )
    except BuildError as error:
        raise CommandFailed(str(error)) from None
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        met = "met" if result["timing_met"] else "NOT met"
        print(
            f"{result['block']} on {result['device']}: {result['fmax_mhz']} MHz "
            f"(constraint {result['constraint_mhz']} MHz, {met})"
        )
        for name, used in sorted(result["utilization"].items()):
            print(f"  {name:<16} {used}")
    return 0


COMMANDS = [
    Command(
        ("fmax",),
        "Fmax and size of the allocator or the MMU alone, out of context (yosys + nextpnr, JSON)",
        configure_fmax,
        "Synthesise, place and route the allocator or the MMU alone, behind a wrapper that "
        "needs two pins, on an FPGA family (Yosys and nextpnr of YoWASP), and print its Fmax "
        "and utilisation (every figure with --json). The wrapper adds about inputs + 2 x "
        "outputs flip-flops; every path between two registers of the block is its own. Exit "
        "status 2 when a size is rejected, 1 when a tool fails.",
    ),
]
