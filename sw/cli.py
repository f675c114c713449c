"""The ``mmaccel`` command line.

Subcommands are declared once in :data:`COMMANDS`; each leaf is provided by a module elsewhere in
the package (the model, the gateware, the boards) through a ``configure(parser)`` function that
adds its arguments and sets ``parser.set_defaults(func=run)``, where ``run(args) -> int`` returns
the exit status. A leaf whose module fails to import (a missing optional tool, say) is still
listed, and running it reports why.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence

__all__ = ["COMMANDS", "build_parser", "main"]

#: (command words, "module:configure function", one-line help)
COMMANDS: list[tuple[tuple[str, ...], str, str]] = [
    (
        ("model", "replay"),
        "mmaccel.sw.trace:configure_cli",
        "replay golden NuttX traces against the model",
    ),
    (
        ("bench", "model"),
        "mmaccel.sw.bench:configure_cli",
        "benchmark the software model (ops/s, JSON)",
    ),
    (
        ("model", "stats"),
        "mmaccel.sw.cli_model:configure_stats",
        "build a memory system from a TOML configuration and print every pool's use",
    ),
    (
        ("sim", "mmu"),
        "mmaccel.hdl.mmu_sim:configure_sim",
        "MMU regressions: Amaranth simulator and cocotb on Verilator against the model",
    ),
    (
        ("bench", "mmu"),
        "mmaccel.hdl.mmu_sim:configure_bench",
        "the MMU on the model's address spaces in simulation: latency, hit rate (JSON)",
    ),
    (
        ("verilog", "mmu"),
        "mmaccel.hdl.mmu_sim:configure_verilog",
        "Verilog of the Sv32 MMU with its Wishbone control registers",
    ),
    (
        ("boards",),
        "mmaccel.boards.cli:configure_boards",
        "list the supported FPGA boards and their default sizes",
    ),
    (
        ("build",),
        "mmaccel.boards.cli:configure_build",
        "build a board's bitstream (YoWASP) and report size, Fmax and timing",
    ),
    (
        ("sweep",),
        "mmaccel.boards.cli:configure_sweep",
        "build boards x sizes; write the size/Fmax table and plot into docs/",
    ),
    (
        ("fmax",),
        "mmaccel.boards.ooc:configure_fmax",
        "Fmax and size of the allocator or the MMU alone, out of context (yosys + nextpnr, JSON)",
    ),
    (
        ("hw", "selftest"),
        "mmaccel.boards.cli:configure_selftest",
        "randomized check of a board over its serial port against the model",
    ),
    (
        ("sim", "gfa"),
        "mmaccel.hdl.gfa_sim:configure_sim",
        "granule allocator: cocotb stream regression against the model (progress, summary)",
    ),
    (
        ("bench", "gfa"),
        "mmaccel.hdl.gfa_sim:configure_bench",
        "granule allocator: churn trace in simulation, latency and issue interval (JSON)",
    ),
    (
        ("verilog", "gfa"),
        "mmaccel.hdl.gfa_sim:configure_verilog",
        "Verilog of the granule allocator (Wishbone and stream ports)",
    ),
    (
        ("regmap", "gfa"),
        "mmaccel.hdl.cli_regmap:configure_gfa",
        "granule allocator registers: --c-header (default) or --markdown",
    ),
    (
        ("regmap", "mmu"),
        "mmaccel.hdl.cli_regmap:configure_mmu",
        "MMU registers: --c-header (default) or --markdown",
    ),
    (
        ("formal",),
        "mmaccel.hdl.formal.cli:configure_cli",
        "SymbiYosys proofs of the allocator's and the MMU's safety properties (table or JSON)",
    ),
]

#: Help for the command groups.
GROUPS: dict[str, str] = {
    "model": "the software reference model (NuttX / BitThunder memory manager)",
    "bench": "benchmarks that print JSON",
    "regmap": "register maps: C header or Markdown",
    "verilog": "write standalone Verilog for use in other SoCs",
    "sim": "cocotb regressions of the gateware against the model",
    "hw": "talk to a board running the accelerator",
}

#: Groups that, given no target, run every one of their targets with default arguments.
RUN_ALL_GROUPS = {"sim"}


def _unavailable(
    words: tuple[str, ...], error: BaseException
) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        print(f"mmaccel {' '.join(words)}: unavailable: {error}", file=sys.stderr)
        return 2

    return run


def _configure(parser: argparse.ArgumentParser, words: tuple[str, ...], target: str) -> None:
    module_name, func_name = target.split(":")
    try:
        configure = getattr(importlib.import_module(module_name), func_name)
    except (ImportError, AttributeError) as error:  # keep the rest of the CLI usable
        parser.set_defaults(func=_unavailable(words, error))
        return
    configure(parser)


def build_parser() -> argparse.ArgumentParser:
    """Build the full ``mmaccel`` argument parser from :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="mmaccel",
        description=(
            "mmaccel: a hardware granule/page-frame allocator and Sv32 MMU, verified against a "
            "reference model of the NuttX and BitThunder memory managers."
        ),
    )
    top = parser.add_subparsers(dest="command", metavar="COMMAND")
    groups: dict[str, argparse._SubParsersAction[argparse.ArgumentParser]] = {}
    group_parsers: dict[str, argparse.ArgumentParser] = {}
    for words, target, help_text in COMMANDS:
        if len(words) == 1:
            sub = top.add_parser(words[0], help=help_text, description=help_text)
            _configure(sub, words, target)
            continue
        group, leaf = words
        if group not in groups:
            gp = top.add_parser(group, help=GROUPS.get(group, ""), description=GROUPS.get(group))
            groups[group] = gp.add_subparsers(dest="target", metavar="TARGET")
            group_parsers[group] = gp
        sub = groups[group].add_parser(leaf, help=help_text, description=help_text)
        _configure(sub, words, target)
    for group, gp in group_parsers.items():
        gp.set_defaults(group_parser=gp, group=group)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mmaccel`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        group = getattr(args, "group", None)
        if group in RUN_ALL_GROUPS:
            status = 0
            for words, _, _ in COMMANDS:
                if words[0] == group and len(words) == 2:
                    print(f"== mmaccel {' '.join(words)}", flush=True)
                    sub_args = parser.parse_args([*words])
                    status = max(status, int(sub_args.func(sub_args)))
            return status
        (getattr(args, "group_parser", None) or parser).print_help()
        return 2
    try:
        return int(func(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`mmaccel ... | head`): stop quietly, as a shell tool does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
