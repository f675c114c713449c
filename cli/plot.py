"""``mmaccel plot``: pictures of the allocator (:mod:`mmaccel.plots`; needs matplotlib).

- ``mmaccel plot map [TRACE]``: the allocation map after a granule trace or a seeded churn
  (``--frames N``: a strip of N snapshots, or an animated GIF; ``--hardware``: the gateware's
  map in simulation, read through its debug port, against the model's);
- ``mmaccel plot frag [TRACE]``: fragmentation over the operations of a trace or churn;
- ``mmaccel plot latency JSON``: cycles per operation and against occupancy from
  ``mmaccel bench gfa --json``;
- ``mmaccel plot sweep JSON``: the size/Fmax sweep (``boards-sweep.json``), one panel per
  FPGA family.

PNG by default; SVG when the output name ends in ``.svg`` or with ``--format svg``. Without
matplotlib each says ``unavailable`` (exit status 2).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mmaccel.sw.errors import MemoryManagerError

from .command import Command, CommandFailed, UsageError, output_path
from .params import non_negative_int

if TYPE_CHECKING:
    from mmaccel.plots.replay import GranHistory

__all__ = ["COMMANDS"]


def _positive_int(text: str) -> int:
    value = non_negative_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be at least 1, not 0")
    return value


def _occupancy(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, not {text!r}") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], not {text}")
    return value


def _add_output(parser: argparse.ArgumentParser, default: str, formats: tuple[str, ...]) -> None:
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help=f"file to write (default {default}.png, or {default}.FORMAT with --format)",
    )
    parser.add_argument(
        "--format",
        choices=formats,
        help="image format (default: from the file name's suffix, else png)",
    )
    parser.set_defaults(output_stem=default, formats=formats)


def _output(args: argparse.Namespace) -> tuple[Path, str]:
    """The checked output file and its format."""
    from mmaccel.plots.figure import output_format

    name = args.output or f"{args.output_stem}.{args.format or 'png'}"
    try:
        fmt = output_format(name, args.format, allowed=args.formats)
    except MemoryManagerError as error:
        raise UsageError(str(error)) from None
    return output_path(name), fmt


def _add_source(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "trace",
        nargs="?",
        metavar="TRACE",
        help=f"a golden trace ({what}); without it, a seeded random churn on the model",
    )
    parser.add_argument(
        "--granules",
        type=_positive_int,
        default=256,
        help="churn: granules of the heap (default %(default)s)",
    )
    parser.add_argument(
        "--ops", type=_positive_int, default=2000, help="churn: operations (default %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=1, help="churn: seed (default %(default)s)")
    parser.add_argument(
        "--occupancy",
        type=_occupancy,
        default=0.75,
        help="churn: fraction of the heap in use past which it frees (default %(default)s)",
    )


def _granule_history(args: argparse.Namespace, frames: int) -> GranHistory:
    from mmaccel.plots.replay import churn, replay_gran

    try:
        if args.trace:
            history = replay_gran(args.trace, frames=frames)
        else:
            history = churn(
                args.granules,
                args.ops,
                args.seed,
                log2gran=getattr(args, "log2gran", 12),
                occupancy=args.occupancy,
                frames=frames,
            )
    except MemoryManagerError as error:
        raise UsageError(str(error)) from None
    if history.mismatches:
        print(
            f"note: {args.trace}: the model differs from the trace on {history.mismatches} "
            "lines (mmaccel model replay shows where); drawing the model",
            file=sys.stderr,
        )
    return history


def _done(path: Path, what: str) -> int:
    print(f"wrote {path} ({what})", flush=True)
    return 0


# -- mmaccel plot map -------------------------------------------------------------------------


def configure_map(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``mmaccel plot map``."""
    _add_source(parser, "gran_*: the granule allocator's")
    parser.add_argument(
        "--frames",
        type=_positive_int,
        default=1,
        help="snapshots spread over the operations: a strip of maps, or an animated GIF "
        "when the output is .gif (default 1: the map at the end)",
    )
    parser.add_argument(
        "--hardware",
        action="store_true",
        help="run the same operations on the allocator's gateware in simulation (Verilator "
        "through cocotb; the first build takes about 20 s), read its map through the debug "
        "port at every frame and draw it: granules where it differs from the model are red",
    )
    parser.add_argument(
        "--fanout",
        type=_positive_int,
        default=4,
        help="--hardware: the summary tree's fan-out (default %(default)s)",
    )
    parser.add_argument(
        "--port",
        help="instead of --hardware: the board on this serial port (a bitstream of mmaccel "
        "build): its allocator is CLEARED, the operations are made on it and its table read "
        "over the link at every frame; the churn uses the board's granule count",
    )
    parser.add_argument(
        "--baud", type=int, default=115200, help="--port: baud rate (default %(default)s)"
    )
    _add_output(parser, "map", ("png", "svg", "gif"))
    parser.set_defaults(func=_run_map)


def _run_map(args: argparse.Namespace) -> int:
    from mmaccel.plots.allocmap import draw_animation, draw_frames, draw_map

    out, fmt = _output(args)
    if args.hardware and args.port:
        raise UsageError("--hardware (simulation) and --port (a board) exclude each other")
    board = None
    if args.port:
        from mmaccel.plots.hwmap import board_allocator

        try:
            board = board_allocator(args.port, args.baud)
        except MemoryManagerError as error:
            raise CommandFailed(str(error)) from None
        if not args.trace:
            args.granules, args.log2gran = board.ngranules, board.log2gran
    history = _granule_history(args, args.frames)
    hardware = None
    try:
        if args.hardware:
            from mmaccel.plots.hwmap import hardware_tables

            hardware = hardware_tables(history, fanout=args.fanout)
        elif board is not None:
            from mmaccel.plots.hwmap import replay_on

            hardware = replay_on(board, history)
    except MemoryManagerError as error:
        raise CommandFailed(str(error)) from None
    differ = 0
    if hardware is not None:
        differ = sum(
            ((hardware[s.step] ^ s.free_map) & ((1 << history.ngranules) - 1)).bit_count()
            for s in history.snapshots
        )
        print(
            f"hardware map read at {len(hardware)} steps: "
            + (f"{differ} granules differ from the model" if differ else "same as the model"),
            flush=True,
        )
    name = f"the board on {args.port}" if args.port else "gateware in simulation"
    if fmt == "gif":
        draw_animation(history, out, hardware=hardware, hardware_name=name)
        what = f"{len(history.snapshots)} frames over {history.steps} operations"
    elif args.frames > 1:
        draw_frames(history, out, fmt, hardware=hardware, hardware_name=name)
        what = f"{len(history.snapshots)} maps over {history.steps} operations"
    else:
        draw_map(history, out, fmt, hardware=hardware, hardware_name=name)
        what = f"{history.ngranules} granules after {history.steps} operations"
    _done(out, what)
    if differ:
        raise CommandFailed(f"the hardware's map differs from the model's ({differ} granules)")
    return 0


# -- mmaccel plot frag ------------------------------------------------------------------------


def configure_frag(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``mmaccel plot frag``."""
    _add_source(parser, "gran_*, heap_* or heaptest_*")
    _add_output(parser, "frag", ("png", "svg"))
    parser.set_defaults(func=_run_frag)


def _run_frag(args: argparse.Namespace) -> int:
    from mmaccel.plots.frag import draw_frag
    from mmaccel.plots.replay import HeapHistory, read_trace, replay_heap

    out, fmt = _output(args)
    history: GranHistory | HeapHistory
    if args.trace:
        try:
            kind, _ = read_trace(args.trace)
            history = replay_heap(args.trace) if kind != "gran" else _granule_history(args, 1)
        except MemoryManagerError as error:
            raise UsageError(str(error)) from None
        if isinstance(history, HeapHistory) and history.mismatches:
            print(
                f"note: {args.trace}: the model differs from the trace on "
                f"{history.mismatches} lines; drawing the model",
                file=sys.stderr,
            )
    else:
        history = _granule_history(args, 1)
    draw_frag(history, out, fmt)
    steps = len(history.info) - 1 if isinstance(history, HeapHistory) else history.steps
    return _done(out, f"{steps} operations")


# -- mmaccel plot latency ---------------------------------------------------------------------


def configure_latency(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``mmaccel plot latency``."""
    parser.add_argument(
        "json", metavar="JSON", help="a file holding the output of mmaccel bench gfa --json"
    )
    _add_output(parser, "latency", ("png", "svg"))
    parser.set_defaults(func=_run_latency)


def _run_latency(args: argparse.Namespace) -> int:
    from mmaccel.plots.latency import draw_latency, read_bench

    out, fmt = _output(args)
    try:
        data = read_bench(args.json)
    except MemoryManagerError as error:
        raise UsageError(str(error)) from None
    draw_latency(data, out, fmt, name=Path(args.json).name)
    return _done(out, f"{data['granules']} granules")


# -- mmaccel plot sweep -----------------------------------------------------------------------


def configure_sweep_plot(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``mmaccel plot sweep``."""
    parser.add_argument(
        "json", metavar="JSON", help="the figures of mmaccel sweep (docs/boards-sweep.json)"
    )
    _add_output(parser, "sweep", ("png", "svg"))
    parser.set_defaults(func=_run_sweep_plot)


def _run_sweep_plot(args: argparse.Namespace) -> int:
    from mmaccel.boards.sweep import plot_sweep, read_sweep

    out, fmt = _output(args)
    try:
        rows = read_sweep(Path(args.json))
        plot_sweep(rows, out, fmt=fmt)
    except MemoryManagerError as error:
        raise UsageError(str(error)) from None
    return _done(out, f"{len(rows)} builds")


_COMMON = (
    " PNG by default; SVG when the output name ends in .svg or with --format svg. Needs "
    "matplotlib (the plot or dev extra)."
)

COMMANDS = [
    Command(
        ("plot", "map"),
        "allocation map of a granule allocator (model, simulated gateware or a board)",
        configure_map,
        "Draw the allocation map of a granule allocator: one cell per granule, row by row, "
        "each live allocation in its own colour, free granules light grey. The model "
        "replays TRACE (a gran_* golden trace, as mmaccel model replay does) or, without "
        "one, a seeded random churn (allocations of 1..32 granules, some larger, and frees "
        "of random live blocks around --occupancy). --frames N draws N snapshots spread over "
        "the operations side by side, or as an animated GIF when the output ends in .gif. "
        "--hardware runs the same operations on the gateware in simulation and draws its map, "
        "read through the debug port (exit status 1 if it differs from the model's)." + _COMMON,
    ),
    Command(
        ("plot", "frag"),
        "fragmentation over a trace: free space, largest free block, free runs",
        configure_frag,
        "Replay TRACE on the model (or a seeded churn without one) and draw, after every "
        "operation, the free space and the largest free block (top), their ratio (middle) "
        "and the number of free runs (bottom): granules for a gran_* trace or the churn, "
        "the heap's mallinfo fields fordblks, mxordblk and ordblks for a heap_* or "
        "heaptest_* trace." + _COMMON,
    ),
    Command(
        ("plot", "latency"),
        "allocator cycles per operation and against occupancy from bench gfa --json",
        configure_latency,
        "Draw the allocator's latency from a saved `mmaccel bench gfa --json` result "
        "(mmaccel bench gfa --granules 256 --ops 500 --json > gfa.json): mean, p99 and max "
        "cycles per kind of operation, and the longest alloc/free of <= 32 granules in each "
        "tenth of occupancy, with the 48-cycle target drawn over the kinds it is for (<= 32 "
        "granules); their bars over it are hatched red. A `histograms` object in the JSON "
        "(kind -> {cycles: count}) is drawn as a histogram instead of the summary bars." + _COMMON,
    ),
    Command(
        ("plot", "sweep"),
        "the size/Fmax sweep of mmaccel sweep, one panel per FPGA family",
        configure_sweep_plot,
        "Redraw the size/Fmax plot from the figures of `mmaccel sweep` (boards-sweep.json): "
        "one column per FPGA family (their logic cells are different units), Fmax and logic "
        "cells against granules, the 40 MHz (iCE40) and 100 MHz (ECP5) targets drawn, points "
        "that miss their target circled in red and failed builds marked x." + _COMMON,
    ),
]
