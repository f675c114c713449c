"""The ``mmaccel`` command line.

One module per command declares its leaves as data (``COMMANDS``, a list of
:class:`~mmaccel.cli.command.Command`): :mod:`.model`, :mod:`.bench` (``bench sim`` in
:mod:`.bench_sim`), :mod:`.sim`, :mod:`.verilog`, :mod:`.boards`, :mod:`.build`, :mod:`.sweep`,
:mod:`.fmax`, :mod:`.hw`, :mod:`.regmap`, :mod:`.formal` and :mod:`.plot`. :data:`COMMANDS`
joins them in the order ``mmaccel --help`` lists them; a leaf of two words is a target of a
group (``mmaccel sim gfa``). Run functions import what they need when they run, so the parser
builds without Amaranth, cocotb or the board tools.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from . import (
    bench,
    bench_sim,
    boards,
    build,
    fmax,
    formal,
    hw,
    model,
    plot,
    regmap,
    sim,
    sweep,
    verilog,
)
from .command import Command, guard

__all__ = ["COMMANDS", "GROUPS", "RUN_ALL_GROUPS", "Command", "build_parser", "main"]

#: Every leaf, in the order of ``mmaccel --help`` (groups by their first leaf) and of the
#: targets a group without one runs.
COMMANDS: list[Command] = [
    *model.COMMANDS,
    *bench.COMMANDS,
    *bench_sim.COMMANDS,
    *sim.COMMANDS,
    *verilog.COMMANDS,
    *boards.COMMANDS,
    *build.COMMANDS,
    *sweep.COMMANDS,
    *fmax.COMMANDS,
    *hw.COMMANDS,
    *regmap.COMMANDS,
    *formal.COMMANDS,
    *plot.COMMANDS,
]

#: Help for the command groups.
GROUPS: dict[str, str] = {
    "model": "the software reference model (NuttX / BitThunder memory manager)",
    "bench": "benchmarks that print JSON",
    "regmap": "register maps: C header or Markdown",
    "verilog": "write standalone Verilog for use in other SoCs",
    "sim": "cocotb regressions of the gateware against the model",
    "hw": "talk to a board running the accelerator",
    "plot": "pictures: allocation maps, fragmentation, latency, the size/Fmax sweep (PNG/SVG)",
}

#: Groups that, given no target, run every one of their targets with default arguments.
RUN_ALL_GROUPS = {"sim"}


def _group_description(group: str) -> str:
    text = GROUPS.get(group, "")
    if group in RUN_ALL_GROUPS:
        return f"{text}; with no TARGET, every target runs with its defaults"
    return text


def _add_leaf(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], command: Command
) -> None:
    sub = subparsers.add_parser(
        command.words[-1],
        help=command.help,
        description=command.description or command.help,
    )
    command.configure(sub)
    sub.set_defaults(func=guard(command.words, sub.get_default("func")))


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("mmaccel")
    except metadata.PackageNotFoundError:  # imported from a checkout that is not installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    """Build the full ``mmaccel`` argument parser from :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="mmaccel",
        description=(
            "mmaccel: a hardware granule/page-frame allocator and Sv32 MMU, verified against a "
            "reference model of the NuttX and BitThunder memory managers."
        ),
    )
    parser.add_argument(
        "--version", action="version", version=f"mmaccel {_version()}", help="print the version"
    )
    top = parser.add_subparsers(dest="command", metavar="COMMAND")
    groups: dict[str, argparse._SubParsersAction[argparse.ArgumentParser]] = {}
    for command in COMMANDS:
        if len(command.words) == 1:
            _add_leaf(top, command)
            continue
        group = command.words[0]
        if group not in groups:
            gp = top.add_parser(
                group, help=GROUPS.get(group, ""), description=_group_description(group)
            )
            gp.set_defaults(group_parser=gp, group=group)
            groups[group] = gp.add_subparsers(dest="target", metavar="TARGET")
        _add_leaf(groups[group], command)
    return parser


def _run_group(parser: argparse.ArgumentParser, group: str) -> int:
    """Run every target of ``group`` with its defaults; the worst exit status."""
    status = 0
    for command in COMMANDS:
        if command.words[0] == group and len(command.words) == 2:
            print(f"== mmaccel {' '.join(command.words)}", flush=True)
            args = parser.parse_args([*command.words])
            status = max(status, int(args.func(args)))
    return status


def _silence_stdout() -> None:
    """Point standard output at /dev/null, so that the last flush at exit cannot fail."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (a test's capture)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


#: Exit status when the reader of the output goes away (128 + SIGPIPE, as the shell reports a
#: command that SIGPIPE ended).
EXIT_BROKEN_PIPE = 141


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mmaccel`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        group = getattr(args, "group", None)
        if group in RUN_ALL_GROUPS:
            return _run_group(parser, group)
        (getattr(args, "group_parser", None) or parser).print_help()
        return 2
    try:
        return int(func(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`mmaccel ... | head`): stop quietly, as a shell tool does.
        _silence_stdout()
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
