"""``mmaccel bench sim``: how fast the regressions check, against the targets (JSON).

Prints the figures of :func:`mmaccel.verif.bench.sim.sim_rates`: the allocator's batch
regression (every response compared with the model) in checked operations per CPU second of
the simulator process at 32768 granules, the wall time of a warm ``mmaccel sim gfa --ops
1000`` and, with ``--mmu N``, the MMU regression's translations per second; each with its
target and whether it was met.
"""

from __future__ import annotations

import argparse
import json
import sys

from .command import Command, CommandFailed, UsageError

__all__ = ["COMMANDS", "configure_bench_sim"]


def configure_bench_sim(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``mmaccel bench sim``."""
    parser.add_argument(
        "--ops", type=int, default=100_000, help="allocator requests (default 100000)"
    )
    parser.add_argument(
        "--granules", type=int, default=32768, help="allocator granules (default 32768)"
    )
    parser.add_argument(
        "--mmu",
        type=int,
        default=0,
        metavar="ACCESSES",
        help="also time the MMU regression with this many translations (default: not)",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed (default 1)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=_run_bench_sim)


def _run_bench_sim(args: argparse.Namespace) -> int:
    from mmaccel.hdl.gfa import MAX_GRANULES
    from mmaccel.verif.bench.sim import sim_rates
    from mmaccel.verif.runner import CocotbFailure, SimulatorUnavailable

    if args.ops < 1:
        raise UsageError(f"--ops must be at least 1, not {args.ops}")
    if not 1 <= args.granules <= MAX_GRANULES:
        raise UsageError(f"--granules must be in 1..{MAX_GRANULES}, not {args.granules}")
    if args.mmu < 0:
        raise UsageError(f"--mmu must not be negative, not {args.mmu}")
    if not args.json:
        print("bench sim: measuring (builds first if needed) ...", file=sys.stderr, flush=True)
    try:
        figures = sim_rates(
            granules=args.granules, ops=args.ops, seed=args.seed, mmu_accesses=args.mmu
        )
    except SimulatorUnavailable as failure:
        raise UsageError(str(failure)) from None
    except CocotbFailure as failure:
        raise CommandFailed(f"the regression failed: {failure}") from None
    if args.json:
        print(json.dumps(figures))
    else:
        for part, values in figures.items():
            for key, value in values.items():
                print(f"{part + '.' + key:<32} {value}")
    mismatched = any(values.get("mismatches") for values in figures.values())
    failed = figures.get("gfa_sim_1000", {}).get("exit_status", 0) != 0
    return 1 if mismatched or failed else 0


COMMANDS = [
    Command(
        ("bench", "sim"),
        "regression speed: checked allocator ops per second, warm sim gfa time (JSON)",
        configure_bench_sim,
        "Measure how fast the regressions check against the targets: the allocator's batch "
        "regression at --granules (errors, hardware back-pressure, every response and a map "
        "check every 5000 requests compared with the model) in operations per CPU second of "
        "the simulator process (the figure per core, which a shared machine does not distort), "
        "per wall second of the batches and of the whole call; the wall time of a warm "
        "`mmaccel sim gfa --ops 1000`; with --mmu N the MMU regression's translations per "
        "second. Builds are made first and not counted. One figure per line, or one JSON "
        "object with --json; exit status 1 on a mismatch.",
    ),
]
