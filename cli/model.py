"""``mmaccel model``: the software reference model.

- ``mmaccel model replay TRACE...``: replay golden NuttX traces against the model
  (:func:`mmaccel.sw.trace.replay`), one line per file;
- ``mmaccel model stats [CONFIG.toml]``: build a memory system and print every pool's use.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from mmaccel.sw.errors import MemoryManagerError, TraceFormatError
from mmaccel.sw.system import MemoryConfig, MemorySystem, PoolStats, example_config_path

from .command import Command, CommandFailed, UsageError, print_error
from .params import non_negative_int

__all__ = ["COMMANDS", "configure_replay", "configure_stats", "exercise", "format_stats"]


# -- mmaccel model replay -------------------------------------------------------------------


def configure_replay(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``mmaccel model replay``."""
    parser.add_argument(
        "traces",
        nargs="*",
        metavar="TRACE",
        help="golden trace files (default: every trace shipped with mmaccel, "
        "mmaccel.sw.trace.GOLDEN_DIR)",
    )
    parser.add_argument(
        "--check", action="store_true", help="run the model's full check() after every line"
    )
    parser.add_argument(
        "--no-quirks",
        action="store_true",
        help="replay heap traces on the default model (memalign always aligned)",
    )
    parser.set_defaults(func=_run_replay)


def _run_replay(args: argparse.Namespace) -> int:
    from mmaccel.sw.trace import golden_traces, replay

    if not args.traces:
        args.traces = [str(path) for path in golden_traces()]
    status = 0
    files = ops = checks = mismatches = unreadable = 0
    for path in args.traces:
        try:
            result = replay(path, check=args.check, nuttx_quirks=not args.no_quirks)
        except TraceFormatError as error:
            print_error(str(error))
            status = max(status, 2)
            unreadable += 1
            continue
        # Flushed line by line, so that a closed pipe is seen here and not at exit.
        print(f"{path}: {result.summary()}", flush=True)
        files += 1
        ops += result.operations
        checks += result.checks
        mismatches += result.mismatches
        if not result.ok:
            status = max(status, 1)
    print(
        f"total: {files} traces, {ops} operations, {checks} checks, {mismatches} mismatches"
        + (f", {unreadable} unreadable" if unreadable else ""),
        flush=True,
    )
    return status


# -- mmaccel model stats --------------------------------------------------------------------


def exercise(system: MemorySystem, ops: int, seed: int = 1) -> None:
    """Run a seeded mix of ``ops`` allocations and frees over every pool of ``system``.

    About two thirds of the operations allocate, so the pools end partly used (what
    ``model stats --workload`` shows). Allocation failures (a full pool) are skipped.
    """
    rng = random.Random(seed)
    live: list[tuple[str, int, int]] = []
    for _ in range(ops):
        if live and rng.random() < 0.35:
            kind, addr, size = live.pop(rng.randrange(len(live)))
            if kind == "umm":
                system.free(addr)
            elif kind == "kmm":
                system.kmm_free(addr)
            elif kind == "slab":
                system.kfree(addr)
            elif kind == "page":
                system.bt.bt_page_free(addr, size)
            elif system.iob is not None:
                system.iob.free_chain(system.iob.chain_at(addr))
            continue
        kind = rng.choice(["umm", "kmm", "slab", "page", "iob"])
        size = rng.randint(1, 2000)
        got: int | None = None
        if kind == "umm":
            got = system.malloc(size)
        elif kind == "kmm":
            got = system.kmm_malloc(size)
        elif kind == "slab":
            got = system.kmalloc(size)
        elif kind == "page":
            size *= 8
            got = system.bt.bt_page_alloc(size)
        elif system.iob is not None:
            iob = system.iob.tryalloc()
            if iob is not None:
                try:
                    system.iob.trycopyin(iob, bytes(size % 500))
                except MemoryManagerError:
                    system.iob.free_chain(iob)
                    continue
                got = iob.addr
        if got is not None:
            live.append((kind, got, size))


def format_stats(rows: list[PoolStats]) -> str:
    """The stats rows as a fixed-width text table."""
    head = ("pool", "start", "size", "used", "free", "use", "detail")
    lines = [
        (
            r.name,
            "-" if r.start is None else f"{r.start:#010x}",
            str(r.size),
            str(r.used),
            str(r.free),
            f"{100 * r.used / r.size:.1f}%" if r.size else "-",
            r.detail,
        )
        for r in rows
    ]
    widths = [max(len(x[k]) for x in [head, *lines]) for k in range(len(head) - 1)]

    def fmt(cols: tuple[str, ...]) -> str:
        cells = [
            c.ljust(w) if k == 0 else c.rjust(w)
            for k, (c, w) in enumerate(zip(cols[:-1], widths, strict=True))
        ]
        return "  ".join([*cells, cols[-1]]).rstrip()

    return "\n".join([fmt(head), *(fmt(x) for x in lines)])


def configure_stats(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``mmaccel model stats``."""
    parser.add_argument(
        "config",
        nargs="?",
        help="memory-system configuration (TOML); default: the shipped 32 MiB board",
    )
    parser.add_argument(
        "--workload",
        type=non_negative_int,
        default=0,
        metavar="N",
        help="first run a seeded mix of N allocations and frees over every pool (default: 0)",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of --workload (default: 1)")
    parser.add_argument(
        "--check", action="store_true", help="also run MemorySystem.check() before printing"
    )
    parser.set_defaults(func=_run_stats)


def _run_stats(args: argparse.Namespace) -> int:
    path = Path(args.config) if args.config else example_config_path()
    try:
        config = MemoryConfig.from_toml(path)
        system = MemorySystem(config)
        exercise(system, args.workload, args.seed)
        if args.check:
            system.check()
    except FileNotFoundError:
        raise UsageError(f"no such file: {path}") from None
    except MemoryManagerError as e:
        raise CommandFailed(f"{path}: {e}") from None
    print(f"{path.name}: {config.memory_size} bytes of physical memory")
    print(format_stats(system.stats()))
    if args.check:
        print("check: every pool's structures are consistent (MemorySystem.check() passed)")
    return 0


COMMANDS = [
    Command(
        ("model", "replay"),
        "replay golden NuttX traces against the model",
        configure_replay,
        "Replay golden NuttX traces (default: the ones shipped with mmaccel: heap_*, "
        "heaptest_*, gran_*) against the model "
        "built with NuttX 10.2.0's quirks, and print one line per file: its operations and "
        "mismatches, with the first mismatch in context. Exit status 1 on any mismatch, 2 when "
        "a file cannot be read or has an unknown format.",
    ),
    Command(
        ("model", "stats"),
        "build a memory system from a TOML configuration and print every pool's use",
        configure_stats,
        "Build a memory system from a TOML configuration (default: the shipped 32 MiB board) "
        "and print every pool's start, size, use and detail. Exit status 1 when the "
        "configuration is invalid or the model's check fails, 2 when the file is missing.",
    ),
]
