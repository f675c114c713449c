"""``mmaccel hw selftest --port PORT``: randomized check of a board against the model."""

from __future__ import annotations

import argparse
import json

from mmaccel.sw.errors import InvalidArgument, MemoryManagerError

from .command import Command, UsageError, print_error

__all__ = ["COMMANDS", "configure_selftest"]


def configure_selftest(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``mmaccel hw selftest``."""
    parser.add_argument(
        "--port", required=True, help="serial port of the board (e.g. /dev/ttyUSB0)"
    )
    parser.add_argument("--baud", type=int, default=115200, help="baud rate (default 115200)")
    parser.add_argument("--ops", type=int, default=500, help="allocator operations (default 500)")
    parser.add_argument(
        "--translations", type=int, default=300, help="MMU translations (default 300)"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(func=_run_selftest)


def _run_selftest(args: argparse.Namespace) -> int:
    from mmaccel.boards.host.link import open_serial
    from mmaccel.boards.host.selftest import selftest

    try:
        port = open_serial(args.port, args.baud)
        report = selftest(
            port,
            seed=args.seed,
            ops=args.ops,
            translations=args.translations,
            log=None if args.json else print,
        )
    except InvalidArgument as error:
        raise UsageError(str(error)) from None
    except MemoryManagerError as error:
        print_error(str(error))
        return 1
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"selftest: {report['checks']} checks, {report['mismatches']} mismatches "
            f"(seed {args.seed})"
        )
    return 0 if report["mismatches"] == 0 else 1


COMMANDS = [
    Command(
        ("hw", "selftest"),
        "randomized check of a board over its serial port against the model",
        configure_selftest,
        "Drive the allocator and the MMU (those the board has) over the board's serial port "
        "with seeded random operations and translations, and compare every answer with "
        "the model's. Exit status 1 on a mismatch or a link error.",
    ),
]
