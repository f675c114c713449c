"""``mmaccel bench``: benchmarks that print their figures (``--json``: one JSON object).

- ``mmaccel bench model``: throughput of the software model
  (:func:`mmaccel.verif.bench.model.run_model_benches`);
- ``mmaccel bench mmu``: the MMU on the model's address spaces in Amaranth's simulator;
- ``mmaccel bench gfa``: a churn trace through the granule allocator on cocotb.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .command import Command
from .params import add_entries_argument, add_gfa_arguments, check_gfa_run, gfa_sim_config
from .progress import ProgressBar

__all__ = ["COMMANDS", "configure_bench_gfa", "configure_bench_mmu", "configure_bench_model"]


# -- mmaccel bench model --------------------------------------------------------------------


def configure_bench_model(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``mmaccel bench model``."""
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--seconds", type=float, default=1.0, help="time per benchmark (default: 1.0)"
    )
    parser.set_defaults(func=_run_bench_model)


def _run_bench_model(args: argparse.Namespace) -> int:
    from mmaccel.verif.bench.model import run_model_benches

    figures = run_model_benches(args.seconds, progress=not args.json)
    if args.json:
        print(json.dumps(figures))
    else:
        width = max(len(k) for k in figures)
        for key, value in figures.items():
            print(f"{key:<{width}}  {value}")
    return 0


# -- mmaccel bench mmu ----------------------------------------------------------------------


def configure_bench_mmu(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``mmaccel bench mmu``."""
    add_entries_argument(parser)
    parser.add_argument("--accesses", type=int, default=4000, help="translations (default 4000)")
    parser.add_argument("--seed", type=int, default=1, help="seed (default 1)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=_run_bench_mmu)


def _run_bench_mmu(args: argparse.Namespace) -> int:
    from mmaccel.verif.mmu.bench import bench_mmu

    figures = bench_mmu(args.entries, args.accesses, args.seed)
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:<20} {value}")
    return 1 if figures["mismatches"] else 0


# -- mmaccel bench gfa ----------------------------------------------------------------------


def configure_bench_gfa(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``mmaccel bench gfa``."""
    add_gfa_arguments(parser, 32768)
    parser.add_argument("--ops", type=int, default=20000, help="requests (default 20000)")
    parser.add_argument("--seed", type=int, default=1, help="seed (default 1)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=_run_bench_gfa)


def _run_bench_gfa(args: argparse.Namespace) -> int:
    from mmaccel.verif.gfa.run import run_streams
    from mmaccel.verif.runner import CocotbFailure, SimulatorUnavailable

    error = check_gfa_run(args)
    if error:
        print(f"mmaccel bench gfa: {error}", file=sys.stderr)
        return 2
    bar = ProgressBar("ops")
    config = gfa_sim_config(args, checked=False, check_every=max(1, args.ops // 10))
    try:
        figures: dict[str, Any] = run_streams(config, progress=None if args.json else bar)
    except (SimulatorUnavailable, CocotbFailure) as failure:
        print(f"mmaccel bench gfa: {failure}", file=sys.stderr)
        return 2
    figures["wall_seconds"] = round(bar.seconds(), 1)
    if args.json:
        print(json.dumps(figures))
    else:
        print(file=sys.stderr)
        for key, value in figures.items():
            print(f"{key:<36} {value}")
    return 0 if figures["mismatches"] == 0 else 1


COMMANDS = [
    Command(
        ("bench", "model"),
        "benchmark the software model (ops/s, JSON)",
        configure_bench_model,
        "Benchmark the software model: operations per second of the heap, the granule "
        "allocator, the SLAB heap, the I/O buffer pool and Sv32 translation, each measured in "
        "CPU time for --seconds. Prints one figure per line, or one JSON object with --json.",
    ),
    Command(
        ("bench", "mmu"),
        "the MMU on the model's address spaces in simulation: latency, hit rate (JSON)",
        configure_bench_mmu,
        "Run the model's address-space workload through the MMU in Amaranth's simulator and "
        "print its figures: hit latency, miss cycles, hit rate, lookups per cycle, PTE reads, "
        "flushes and mismatches against the model (one JSON object with --json). Exit status "
        "1 on a mismatch.",
    ),
    Command(
        ("bench", "gfa"),
        "granule allocator: churn trace in simulation, latency and issue interval (JSON)",
        configure_bench_gfa,
        "Run a churn trace (allocations of 1..32 granules and some large ones, frees of live "
        "blocks, occupancy swept 10% -> 95% -> 10%) through the granule allocator on cocotb, "
        "without back-pressure, and print its figures: ALLOC and FREE latency, issue interval "
        "and mismatches against the model (one JSON object with --json). Exit status 1 on a "
        "mismatch, 2 on bad parameters or a missing simulator.",
    ),
]
