"""``mmaccel sim``: cocotb regressions of the gateware against the model.

- ``mmaccel sim mmu``: the MMU's regression on Verilator (random translations over remapped
  address spaces, every answer compared with the model's);
- ``mmaccel sim gfa``: the granule allocator's stream regression (random requests with errors
  and back-pressure, the whole map compared every 1000).

Both draw a progress bar on standard error and print one summary line; ``mmaccel sim`` with no
target runs both with their defaults.
"""

from __future__ import annotations

import argparse
import os
import sys

from .command import Command
from .params import add_entries_argument, add_gfa_arguments, check_gfa_run, gfa_sim_config
from .progress import ProgressBar

__all__ = ["COMMANDS", "configure_sim_gfa", "configure_sim_mmu"]


# -- mmaccel sim mmu ------------------------------------------------------------------------


def configure_sim_mmu(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``mmaccel sim mmu``."""
    add_entries_argument(parser)
    parser.add_argument("--accesses", type=int, default=20000, help="translations (default 20000)")
    parser.add_argument("--seed", type=int, default=1, help="seed (default 1)")
    parser.add_argument(
        "--soak", action="store_true", help="10 million accesses (what MMACCEL_SOAK=1 runs)"
    )
    parser.set_defaults(func=_run_sim_mmu)


def _run_sim_mmu(args: argparse.Namespace) -> int:
    from mmaccel.verif.config import MmuSimConfig
    from mmaccel.verif.mmu.run import run_regression
    from mmaccel.verif.runner import CocotbFailure

    accesses = 10_000_000 if args.soak else args.accesses
    if accesses <= 0:
        print(f"mmaccel sim mmu: --accesses must be positive, not {accesses}", file=sys.stderr)
        return 2
    print(
        f"mmu: {accesses} accesses on {args.entries} TLB entries, seed {args.seed} "
        "(cocotb on Verilator; the first build takes a minute)",
        flush=True,
    )
    bar = ProgressBar("accesses")
    try:
        figures = run_regression(
            MmuSimConfig(entries=args.entries, accesses=accesses, seed=args.seed),
            progress=bar,
            waves=None if os.environ.get("WAVES") else False,
        )
    except CocotbFailure as failure:
        bar.end()
        print(f"mmu: FAILED: {failure}", file=sys.stderr)
        return 1
    bar(figures["accesses"], accesses, figures["mismatches"])
    bar.end()
    print(
        f"mmu: {figures['accesses']} accesses in {len(figures['asids'])} ASIDs on "
        f"{args.entries} entries, {figures['mismatches']} mismatches, {figures['remaps']} remaps, "
        f"hit rate {figures['hit_rate']:.3f}, "
        f"{figures['cycles'] / max(1, figures['accesses']):.2f} cycles per access, "
        f"{bar.seconds():.1f} s"
    )
    return 1 if figures["mismatches"] else 0


# -- mmaccel sim gfa ------------------------------------------------------------------------


def configure_sim_gfa(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``mmaccel sim gfa``."""
    add_gfa_arguments(parser, 4096)
    parser.add_argument("--ops", type=int, default=10000, help="random requests (default 10000)")
    parser.add_argument("--seed", type=int, default=1, help="seed (default 1)")
    parser.set_defaults(func=_run_sim_gfa)


def _run_sim_gfa(args: argparse.Namespace) -> int:
    from mmaccel.verif.gfa.run import run_streams
    from mmaccel.verif.runner import CocotbFailure, SimulatorUnavailable

    error = check_gfa_run(args)
    if error:
        print(f"mmaccel sim gfa: {error}", file=sys.stderr)
        return 2
    bar = ProgressBar("ops")
    config = gfa_sim_config(args, checked=True, check_every=1000)
    try:
        summary = run_streams(config, progress=bar)
    except SimulatorUnavailable as failure:
        print(f"\nmmaccel sim gfa: {failure}", file=sys.stderr)
        return 2
    except CocotbFailure as failure:
        print(f"\nmmaccel sim gfa: FAILED: {failure}", file=sys.stderr)
        return 1
    ops = summary["ops"]
    bar(ops, ops, summary["mismatches"])
    bar.end()
    print(
        f"gfa: {ops} operations on {summary['granules']} granules, "
        f"{summary['mismatches']} mismatches, {summary['map_checks']} map checks, "
        f"{summary['issue_interval_cycles']['mean']} cycles per operation "
        f"(alloc mean {summary['alloc_cycles']['mean']}, free mean "
        f"{summary['free_cycles']['mean']}), {bar.seconds():.1f} s"
    )
    return 0 if summary["mismatches"] == 0 else 1


COMMANDS = [
    Command(
        ("sim", "mmu"),
        "MMU regressions: Amaranth simulator and cocotb on Verilator against the model",
        configure_sim_mmu,
        "The MMU's cocotb regression on Verilator against the model: random translations in "
        "several address spaces whose page tables are remapped as it runs, every answer "
        "compared with the model's. Draws a progress bar on standard error and prints one "
        "summary line; exit status 1 on a mismatch. WAVES=1 in the environment keeps the "
        "waveform.",
    ),
    Command(
        ("sim", "gfa"),
        "granule allocator: cocotb stream regression against the model (progress, summary)",
        configure_sim_gfa,
        "The granule allocator's cocotb stream regression against the model: random requests "
        "with invalid ones and back-pressure, the whole map compared every 1000 requests, "
        "stopping at the first mismatch. Draws a progress bar on standard error and prints one "
        "summary line; exit status 1 on a mismatch, 2 on bad parameters or a missing simulator.",
    ),
]
