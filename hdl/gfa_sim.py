"""Command-line glue of the allocator: ``mmaccel sim gfa``, ``mmaccel bench gfa``, ``mmaccel
verilog gfa``.

- ``mmaccel sim gfa [--ops N] [--seed S] [--granules N]``: the cocotb stream regression against
  the model (random requests with errors and back-pressure, the whole map compared every 1000),
  a progress bar on stderr and one summary line.
- ``mmaccel bench gfa [--granules N] [--ops N] [--json]``: the churn benchmark, figures as JSON.
- ``mmaccel verilog gfa --granules N -o FILE``: standalone Verilog of the allocator with a
  Wishbone slave and the request/response streams (``mmaccel.hdl.gfa_wb.GfaWishbone`` with
  ``streams=True``); ``--core`` writes the stream core alone (with its debug port).
"""

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["configure_bench", "configure_sim", "configure_verilog"]


def _common(parser: argparse.ArgumentParser, granules: int) -> None:
    parser.add_argument(
        "--granules", type=int, default=granules, help=f"granules (default {granules})"
    )
    parser.add_argument("--log2gran", type=int, default=12, help="log2 granule size (default 12)")
    parser.add_argument("--base", type=lambda s: int(s, 0), default=0, help="base address")
    parser.add_argument("--fanout", type=int, default=4, help="summary tree fan-out (default 4)")


def _check(args: argparse.Namespace) -> str | None:
    """Validate the parameters by building the component; the error text, or None."""
    from .gfa import GranuleFrameAllocator

    try:
        probe = GranuleFrameAllocator(
            granules=args.granules, log2gran=args.log2gran, base=args.base, fanout=args.fanout
        )
    except (TypeError, ValueError) as error:
        return str(error)
    probe._MustUse__silence = True  # built only to validate the parameters
    return None


def _check_run(args: argparse.Namespace) -> str | None:
    """:func:`_check`, and ``--ops`` of the commands that run the bench (sim, bench)."""
    error = _check(args)
    if error is None and args.ops < 1:
        error = f"--ops must be at least 1, not {args.ops}"
    return error


# -- mmaccel sim gfa ------------------------------------------------------------------------


def configure_sim(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``mmaccel sim gfa``."""
    _common(parser, 4096)
    parser.add_argument("--ops", type=int, default=10000, help="random requests (default 10000)")
    parser.add_argument("--seed", type=int, default=1, help="seed (default 1)")
    parser.set_defaults(func=_run_sim)


def _bar(done: int, total: int, bad: int, start: float) -> None:
    width = 30
    filled = width * done // max(total, 1)
    rate = done / max(time.monotonic() - start, 1e-9)
    print(
        f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} ops, {bad} mismatches, "
        f"{rate:.0f} ops/s",
        end="",
        file=sys.stderr,
        flush=True,
    )


def _run_sim(args: argparse.Namespace) -> int:
    from .cocotb_runner import CocotbFailure, SimulatorUnavailable
    from .gfa_bench import run_streams

    error = _check_run(args)
    if error:
        print(f"mmaccel sim gfa: {error}", file=sys.stderr)
        return 2
    start = time.monotonic()
    try:
        summary = run_streams(
            granules=args.granules,
            ops=args.ops,
            seed=args.seed,
            log2gran=args.log2gran,
            base=args.base,
            fanout=args.fanout,
            progress=lambda d, t, b: _bar(d, t, b, start),
        )
    except SimulatorUnavailable as failure:
        print(f"\nmmaccel sim gfa: {failure}", file=sys.stderr)
        return 2
    except CocotbFailure as failure:
        print(f"\nmmaccel sim gfa: FAILED: {failure}", file=sys.stderr)
        return 1
    _bar(summary["ops"], summary["ops"], summary["mismatches"], start)
    print(file=sys.stderr)
    ops = summary["ops"]
    print(
        f"gfa: {ops} operations on {summary['granules']} granules, "
        f"{summary['mismatches']} mismatches, {summary['map_checks']} map checks, "
        f"{summary['issue_interval_cycles']['mean']} cycles per operation "
        f"(alloc mean {summary['alloc_cycles']['mean']}, free mean "
        f"{summary['free_cycles']['mean']}), {time.monotonic() - start:.1f} s"
    )
    return 0 if summary["mismatches"] == 0 else 1


# -- mmaccel bench gfa -----------------------------------------------------------------------


def configure_bench(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``mmaccel bench gfa``."""
    _common(parser, 32768)
    parser.add_argument("--ops", type=int, default=20000, help="requests (default 20000)")
    parser.add_argument("--seed", type=int, default=1, help="seed (default 1)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=_run_bench)


def _run_bench(args: argparse.Namespace) -> int:
    from .cocotb_runner import CocotbFailure, SimulatorUnavailable
    from .gfa_bench import run_streams

    error = _check_run(args)
    if error:
        print(f"mmaccel bench gfa: {error}", file=sys.stderr)
        return 2
    start = time.monotonic()
    try:
        figures: dict[str, Any] = run_streams(
            granules=args.granules,
            ops=args.ops,
            seed=args.seed,
            log2gran=args.log2gran,
            base=args.base,
            fanout=args.fanout,
            errors=False,
            backpressure=False,
            check_every=max(1, args.ops // 10),
            progress=None if args.json else (lambda d, t, b: _bar(d, t, b, start)),
        )
    except (SimulatorUnavailable, CocotbFailure) as failure:
        print(f"mmaccel bench gfa: {failure}", file=sys.stderr)
        return 2
    figures["wall_seconds"] = round(time.monotonic() - start, 1)
    if args.json:
        print(json.dumps(figures))
    else:
        print(file=sys.stderr)
        for key, value in figures.items():
            print(f"{key:<36} {value}")
    return 0 if figures["mismatches"] == 0 else 1


# -- mmaccel verilog gfa ---------------------------------------------------------------------


def configure_verilog(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``mmaccel verilog gfa``."""
    _common(parser, 4096)
    parser.add_argument("-o", "--output", required=True, help="Verilog file to write")
    parser.add_argument("--name", default="mmaccel_gfa", help="module name (default mmaccel_gfa)")
    parser.add_argument(
        "--core", action="store_true", help="the stream core only, without the Wishbone wrapper"
    )
    parser.set_defaults(func=_run_verilog)


def _run_verilog(args: argparse.Namespace) -> int:
    from .cocotb_runner import to_verilog
    from .gfa import GranuleFrameAllocator

    error = _check(args)
    if error:
        print(f"mmaccel verilog gfa: {error}", file=sys.stderr)
        return 2
    design: Any = None
    kind = "stream core"
    if not args.core:
        try:
            from .gfa_wb import GfaWishbone  # engineer D2's wrapper

            design = GfaWishbone(
                granules=args.granules,
                log2gran=args.log2gran,
                base=args.base,
                fanout=args.fanout,
                streams=True,
            )
            kind = "Wishbone slave and request/response streams"
        except ImportError:
            design = None
    if design is None:
        design = GranuleFrameAllocator(
            granules=args.granules, log2gran=args.log2gran, base=args.base, fanout=args.fanout
        )
    try:
        text = to_verilog(design, args.name)
    except ValueError as failure:
        print(f"mmaccel verilog gfa: {failure}", file=sys.stderr)
        return 2
    out = Path(args.output)
    out.write_text(text)
    print(f"wrote {out} ({kind}, module {args.name}, {args.granules} granules)", file=sys.stderr)
    return 0
