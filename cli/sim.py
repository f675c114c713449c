"""``mmaccel sim``: cocotb regressions of the gateware against the model.

- ``mmaccel sim mmu``: the MMU's regression on Verilator (random translations over remapped
  address spaces, every answer compared with the model's);
- ``mmaccel sim gfa``: the granule allocator's regression (random requests with errors and
  back-pressure, every response and, every 1000, the whole map compared with the model), in
  the batch mode (``--scoreboard``: one request at a time from Python);
- ``mmaccel sim soc``: the SoC's firmware workload (the C driver's calls on both back ends and
  MMU translations through the probe, every traced result checked against the model).

Each draws a progress bar on standard error and prints one summary line; ``mmaccel sim`` with no
target runs every one with its defaults.
"""

from __future__ import annotations

import argparse
import os
import sys

from .command import Command, CommandFailed, UsageError
from .params import add_entries_argument, add_gfa_arguments, check_gfa_run, gfa_sim_config
from .progress import ProgressBar

__all__ = ["COMMANDS", "configure_sim_gfa", "configure_sim_mmu", "configure_sim_soc"]


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
        raise UsageError(f"--accesses must be positive, not {accesses}")
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
        raise CommandFailed(f"the regression failed: {failure}") from None
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
    parser.add_argument(
        "--scoreboard",
        action="store_true",
        help="per-operation cocotb scoreboard instead of the batch mode (slower; for debugging)",
    )
    parser.set_defaults(func=_run_sim_gfa)


def _run_sim_gfa(args: argparse.Namespace) -> int:
    from mmaccel.verif.gfa.run import run_streams
    from mmaccel.verif.runner import CocotbFailure, SimulatorUnavailable

    error = check_gfa_run(args)
    if error:
        raise UsageError(error)
    bar = ProgressBar("ops")
    config = gfa_sim_config(args, checked=True, check_every=1000)
    if args.scoreboard:
        from dataclasses import replace

        config = replace(config, mode="scoreboard")
    try:
        summary = run_streams(config, progress=bar)
    except SimulatorUnavailable as failure:
        bar.end()
        raise UsageError(str(failure)) from None
    except CocotbFailure as failure:
        bar.end()
        raise CommandFailed(f"the regression failed: {failure}") from None
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


# -- mmaccel sim soc ------------------------------------------------------------------------


def configure_sim_soc(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``mmaccel sim soc``."""
    parser.add_argument(
        "--ops", type=int, default=5000, help="allocator calls per back end (default 5000)"
    )
    parser.add_argument(
        "--translations", type=int, default=2500, help="MMU translations (default 2500)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed (default 1)")
    parser.add_argument("--variant", default="standard", help="VexRiscv variant (default standard)")
    parser.set_defaults(func=_run_sim_soc)


def _check_sim_soc(args: argparse.Namespace) -> str | None:
    from mmaccel.hdl.soc.cpu import VARIANTS

    if args.ops <= 0:
        return f"--ops must be positive, not {args.ops}"
    if args.ops > 1_000_000:
        return f"--ops must be at most 1000000, not {args.ops}"
    if args.translations < 0:
        return f"--translations must not be negative, not {args.translations}"
    if args.translations > 1_000_000:
        return f"--translations must be at most 1000000, not {args.translations}"
    if not 0 <= args.seed <= 0xFFFF_FFFF:
        return f"--seed must be in 0..4294967295, not {args.seed}"
    if args.variant not in VARIANTS:
        return f"--variant must be one of {', '.join(VARIANTS)}, not {args.variant!r}"
    return None


def _run_sim_soc(args: argparse.Namespace) -> int:
    error = _check_sim_soc(args)
    if error:
        raise UsageError(error)
    from mmaccel.firmware.toolchain import ToolchainError
    from mmaccel.verif.runner import CocotbFailure, SimulatorUnavailable
    from mmaccel.verif.soc.sim import FirmwareTimeout, SocConfig
    from mmaccel.verif.soc.workload import WorkloadParams, run_workload

    config = SocConfig(variant=args.variant)
    params = WorkloadParams(seed=args.seed, ops=args.ops, translations=args.translations)
    print(
        f"soc: {args.ops} allocator calls per back end ({config.granules} granules in the GFA, "
        f"{params.sw_model().ngranules} in the software heap), {args.translations} "
        f"translations, seed {args.seed}, {args.variant} VexRiscv (cocotb on Verilator; the "
        "first build takes a minute)",
        flush=True,
    )
    bar = ProgressBar("calls")
    try:
        summary = run_workload(config, params, progress=bar)
    except SimulatorUnavailable as failure:
        bar.end()
        raise UsageError(str(failure)) from None
    except (CocotbFailure, FirmwareTimeout, ToolchainError) as failure:
        bar.end()
        raise CommandFailed(f"the workload failed: {failure}") from None
    ops = summary["ops"]
    done = ops["hw"] + ops["sw"] + summary["translations"]
    bar(done, done, summary["mismatches"])
    bar.end()
    for line in summary["first_mismatches"]:
        print(f"soc: mismatch: {line}", file=sys.stderr)
    faults = sum(n for k, n in summary["faults"].items() if k != "ok")
    phases = ", ".join(f"{k} {v}" for k, v in summary["phase_cycles"].items())
    print(
        f"soc: {ops['hw'] + ops['sw']} allocator calls (hw {ops['hw']}, sw {ops['sw']}), "
        f"{summary['translations']} translations ({faults} faults), "
        f"{summary['mismatches']} mismatches, {summary['cpu_cycles']} CPU cycles ({phases}), "
        f"simulation {summary['seconds']:.1f} s, {bar.seconds():.1f} s"
    )
    return 1 if summary["mismatches"] else 0


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
        "granule allocator: cocotb regression against the model (progress, summary)",
        configure_sim_gfa,
        "The granule allocator's cocotb regression against the model: random requests with "
        "invalid ones and back-pressure, every response and (every 1000 requests) the whole map "
        "compared, stopping at the first mismatch. By default in the batch mode (the model "
        "predicts a batch, a player in the simulation runs it with back-pressure made in "
        "hardware, Python compares the whole batch); --scoreboard drives and checks one request "
        "at a time, for debugging with waveforms. Draws a progress bar on standard error and "
        "prints one summary line; exit status 1 on a mismatch, 2 on bad parameters or a missing "
        "simulator.",
    ),
    Command(
        ("sim", "soc"),
        "the SoC's firmware workload: both driver back ends and the MMU against the model",
        configure_sim_soc,
        "Runs firmware/soc/workload.c on the VexRiscv SoC in cocotb on Verilator: a seeded "
        "random stream of gran_* calls (aligned and unaligned allocations, frees, reserves, "
        "infos, deliberate errors) on the hardware allocator and on the software back end, "
        "then Sv32 page tables in RAM (two ASIDs, 4 KiB pages, megapages, a global mapping, "
        "remaps with sfence.vma forms) and translations through the probe. Every traced "
        "result is checked against the model. Draws a progress bar on standard error and "
        "prints one summary line; exit status 1 on a mismatch, 2 on bad arguments.",
    ),
]
