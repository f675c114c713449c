"""``mmaccel bench``: benchmarks that print their figures (``--json``: one JSON object).

- ``mmaccel bench model``: throughput of the software model
  (:func:`mmaccel.verif.bench.model.run_model_benches`);
- ``mmaccel bench mmu``: the MMU on the model's address spaces in Amaranth's simulator;
- ``mmaccel bench gfa``: a churn trace through the granule allocator on cocotb;
- ``mmaccel bench soc``: CPU cycles per ``gran_alloc``/``gran_free`` call on the SoC, hardware
  against software back end (:func:`mmaccel.verif.soc.speed.bench_soc`).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .command import Command, CommandFailed, UsageError
from .params import (
    add_entries_argument,
    add_gfa_arguments,
    check_gfa_run,
    gfa_sim_config,
    positive_float,
)
from .progress import ProgressBar

__all__ = [
    "COMMANDS",
    "configure_bench_gfa",
    "configure_bench_mmu",
    "configure_bench_model",
    "configure_bench_soc",
]


# -- mmaccel bench model --------------------------------------------------------------------


def configure_bench_model(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``mmaccel bench model``."""
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--seconds", type=positive_float, default=1.0, help="time per benchmark (default: 1.0)"
    )
    parser.set_defaults(func=_run_bench_model)


def _run_bench_model(args: argparse.Namespace) -> int:
    from mmaccel.verif.bench.model import check_targets, run_model_benches

    figures = run_model_benches(args.seconds, progress=not args.json)
    targets = check_targets(figures)
    if args.json:
        print(json.dumps({**figures, "targets": targets}))
    else:
        width = max(len(k) for k in figures)
        for key, value in figures.items():
            verdict = ""
            if key in targets:
                goal = targets[key]
                verdict = f"  (target {goal['target']}: {'met' if goal['met'] else 'NOT met'})"
            print(f"{key:<{width}}  {value}{verdict}")
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
    parser.add_argument(
        "--scoreboard",
        action="store_true",
        help="per-operation cocotb scoreboard instead of the batch mode (slower; for debugging)",
    )
    parser.set_defaults(func=_run_bench_gfa)


def _run_bench_gfa(args: argparse.Namespace) -> int:
    from mmaccel.verif.gfa.run import run_streams
    from mmaccel.verif.runner import CocotbFailure, SimulatorUnavailable

    error = check_gfa_run(args)
    if error:
        raise UsageError(error)
    bar = ProgressBar("ops")
    config = gfa_sim_config(args, checked=False, check_every=max(1, args.ops // 10))
    if args.scoreboard:
        from dataclasses import replace

        config = replace(config, mode="scoreboard")
    try:
        figures: dict[str, Any] = run_streams(config, progress=None if args.json else bar)
    except SimulatorUnavailable as failure:
        raise UsageError(str(failure)) from None
    except CocotbFailure as failure:
        raise CommandFailed(f"the benchmark failed: {failure}") from None
    figures["wall_seconds"] = round(bar.seconds(), 1)
    if args.json:
        print(json.dumps(figures))
    else:
        print(file=sys.stderr)
        for key, value in figures.items():
            print(f"{key:<36} {value}")
    return 0 if figures["mismatches"] == 0 else 1


# -- mmaccel bench soc ----------------------------------------------------------------------


def _granule_list(text: str) -> list[int]:
    try:
        return [int(part, 0) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected heap sizes separated by commas (256,4096), not {text!r}"
        ) from None


def configure_bench_soc(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``mmaccel bench soc``."""
    parser.add_argument(
        "--granules",
        type=_granule_list,
        default=None,
        help="heap sizes, comma-separated powers of two in 64..32768 (default 256,4096,32768)",
    )
    parser.add_argument(
        "--calls",
        type=int,
        default=None,
        help="timed calls per occupancy and back end (default 2000 at 256 and 4096 granules, "
        "1000 at 32768)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="100 timed calls per occupancy (a short check)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the stream (default 1)")
    parser.add_argument(
        "--cold",
        action="store_true",
        help="do not read the driver's handle before each timed call (the harness's "
        "bookkeeping may have evicted it from the data cache)",
    )
    parser.add_argument(
        "--registered-bus",
        action="store_true",
        help="the bitstreams' registered data-bus decoder (two cycles more per bus access)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=_run_bench_soc)


def _soc_table(figures: dict[str, Any]) -> None:
    print(
        f"CPU cycles per call on the SoC ({figures['variant']} VexRiscv"
        f"{', registered bus' if figures['registered_bus'] else ''}), mean/p99/max; "
        f"speedup = software mean / hardware mean; sw instr = software instructions per call"
    )
    for size, entry in figures["sizes"].items():
        print(
            f"\n{size} granules, {entry['calls_per_occupancy']} timed calls per occupancy; "
            + ", ".join(
                f"{key.replace('_', ' ')} {value}"
                for key, value in entry["mismatches"].items()
                if isinstance(value, int)
            )
            + " mismatches"
        )
        for key, value in entry["mismatches"].items():
            if isinstance(value, str):
                print(f"  {key.replace('_', ' ')}: {value}")
        head = (
            f"{'occ':>4} | {'hw alloc':>14} {'sw alloc':>18} {'x':>6} {'sw instr':>8} | "
            f"{'hw free':>14} {'sw free':>16} {'x':>5}"
        )
        print(head)
        print("-" * len(head))
        for key in [*(str(p) for p in figures["occupancies_percent"]), "all"]:
            cells = []
            for op, wide in (("alloc", (14, 18)), ("free", (14, 16))):
                for backend, width in zip(("hw", "sw"), wide, strict=True):
                    s = entry[backend][op][key]
                    text = f"{s['mean']:.0f}/{s['p99']}/{s['max']}" if s["calls"] else "-"
                    cells.append(f"{text:>{width}}")
                x = entry["speedup"][op].get(key)
                cells.append(f"{x:>{6 if op == 'alloc' else 5}.1f}" if x else " " * 5 + "-")
                if op == "alloc":
                    si = entry["sw"]["alloc"][key]
                    cells.append(f"{si.get('instructions_mean', 0):>8.0f}")
            label = f"{key}%" if key != "all" else "all"
            print(f"{label:>4} | {' '.join(cells[:4])} | {' '.join(cells[4:])}")
    print()
    for target in figures["targets"]:
        mark = "met" if target["met"] else "NOT met"
        print(f"{mark:>7}: {target['target']}: {target['value']}")
    print(f"mismatches {figures['mismatches']}, {figures['wall_seconds']} s")


def _run_bench_soc(args: argparse.Namespace) -> int:
    from mmaccel.verif.runner import CocotbFailure, SimulatorUnavailable
    from mmaccel.verif.soc.speed import (
        DEFAULT_GRANULES,
        QUICK_CALLS,
        SpeedError,
        bench_soc,
        check_granules,
    )

    granules = args.granules if args.granules is not None else list(DEFAULT_GRANULES)
    error = None
    if not granules:
        error = "--granules names no heap size"
    for n in granules:
        error = error or check_granules(n)
    if args.calls is not None and args.quick:
        error = error or "--calls and --quick exclude each other"
    if args.calls is not None and not 1 <= args.calls <= 1_000_000:
        error = error or f"--calls must be in 1..1000000, not {args.calls}"
    if not 1 <= args.seed < 2**32:
        error = error or f"--seed must be in 1..4294967295, not {args.seed}"
    if error:
        raise UsageError(error)
    calls = QUICK_CALLS if args.quick else args.calls
    bars: dict[int, ProgressBar] = {}

    def progress(size: int, done: int, total: int) -> None:
        if size not in bars:
            bars[size] = ProgressBar("trace words")
        bars[size](done, max(total, done), 0)

    def phase(text: str) -> None:
        for bar in bars.values():
            bar.end()
        print(f"bench soc: {text}", file=sys.stderr, flush=True)

    try:
        figures = bench_soc(
            granules,
            calls,
            seed=args.seed,
            warm=not args.cold,
            registered_bus=args.registered_bus,
            progress=progress,
            phase=phase,
        )
    except (SimulatorUnavailable, CocotbFailure, SpeedError) as failure:
        raise UsageError(str(failure)) from None
    for bar in bars.values():
        bar.end()
    if args.json:
        print(json.dumps(figures))
    else:
        _soc_table(figures)
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
    Command(
        ("bench", "soc"),
        "CPU cycles per gran_alloc/gran_free on the SoC, hardware vs software (JSON)",
        configure_bench_soc,
        "Run firmware on the SoC (full VexRiscv, Verilator) that times every gran_alloc and "
        "gran_free call of the C driver with rdcycle/rdinstret, on the hardware back end and "
        "on the software one, under churn at 10%..90% occupancy of heaps of 256, 4096 and "
        "32768 granules; check every call against the model and the back ends against each "
        "other; print mean, p99 and max cycles, instructions per call, the speedup and the "
        "targets (one JSON object with --json). Exit status 1 on a mismatch, 2 on bad "
        "parameters or a failed build or run. Progress on standard error.",
    ),
]
