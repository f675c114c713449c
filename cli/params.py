"""The designs' parameters as command-line arguments, shared by ``sim``, ``bench`` and ``verilog``.

- the granule allocator's (``mmaccel {sim,bench,verilog} gfa``): :func:`add_gfa_arguments`, and
  :func:`check_gfa` / :func:`check_gfa_run`, which validate them by building the design;
- the MMU's TLB size (``mmaccel {sim,bench,verilog} mmu``): :func:`add_entries_argument`.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mmaccel.verif.config import GfaSimConfig

__all__ = [
    "add_entries_argument",
    "add_gfa_arguments",
    "check_gfa",
    "check_gfa_run",
    "non_negative_int",
    "positive_float",
]


def non_negative_int(text: str) -> int:
    """argparse type: a whole number >= 0 (the error names the value)."""
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, not {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a number > 0 (the error names the value)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, not {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def add_gfa_arguments(parser: argparse.ArgumentParser, granules: int) -> None:
    """``--granules`` (default ``granules``), ``--log2gran``, ``--base``, ``--fanout``."""
    parser.add_argument(
        "--granules", type=int, default=granules, help=f"granules (default {granules})"
    )
    parser.add_argument("--log2gran", type=int, default=12, help="log2 granule size (default 12)")
    parser.add_argument(
        "--base", type=lambda s: int(s, 0), default=0, help="base address (default 0)"
    )
    parser.add_argument("--fanout", type=int, default=4, help="summary tree fan-out (default 4)")


def check_gfa(args: argparse.Namespace) -> str | None:
    """Validate the allocator's parameters by building the design; the error text, or None."""
    from mmaccel.hdl.gfa import GranuleFrameAllocator

    try:
        probe = GranuleFrameAllocator(
            granules=args.granules, log2gran=args.log2gran, base=args.base, fanout=args.fanout
        )
    except (TypeError, ValueError) as error:
        return str(error)
    probe._MustUse__silence = True  # built only to validate the parameters
    return None


def check_gfa_run(args: argparse.Namespace) -> str | None:
    """:func:`check_gfa`, and ``--ops`` of the commands that run the design (sim, bench)."""
    error = check_gfa(args)
    if error is None and args.ops < 1:
        error = f"--ops must be at least 1, not {args.ops}"
    return error


def gfa_sim_config(args: argparse.Namespace, *, checked: bool, check_every: int) -> GfaSimConfig:
    """The stream test bench's run from the parsed gfa arguments, ``--ops`` and ``--seed``.

    ``checked`` runs a regression (deliberate bad requests, random back-pressure, stop at the
    first mismatch); otherwise a measurement (valid requests only, no stalls, run to the end).
    """
    from mmaccel.verif.config import GfaSimConfig

    return GfaSimConfig(
        granules=args.granules,
        log2gran=args.log2gran,
        base=args.base,
        fanout=args.fanout,
        ops=args.ops,
        seed=args.seed,
        errors=checked,
        backpressure=checked,
        check_every=check_every,
        fail_fast=checked,
    )


def _entries(text: str) -> int:
    value = int(text)
    try:
        from mmaccel.hdl.mmu.types import check_entries
    except ImportError:  # the run reports the missing tool
        return value
    try:
        return check_entries(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_entries_argument(parser: argparse.ArgumentParser) -> None:
    """``--entries``: TLB entries, 4 to 64 (default 16), checked as the argument is parsed."""
    parser.add_argument(
        "--entries", type=_entries, default=16, help="TLB entries, 4..64 (default 16)"
    )
