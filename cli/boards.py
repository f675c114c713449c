"""``mmaccel boards [--json]``: the supported FPGA boards and their default sizes."""

from __future__ import annotations

import argparse
import json
from typing import Any

from mmaccel.boards.targets import BOARDS

from .command import Command

__all__ = ["COMMANDS", "configure_boards"]


def configure_boards(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``mmaccel boards``."""
    parser.add_argument("--json", action="store_true", help="print a JSON list")
    parser.set_defaults(func=_run_boards)


def _run_boards(args: argparse.Namespace) -> int:
    rows: list[dict[str, Any]] = []
    for target in BOARDS.values():
        d = target.config()  # what a build with no size options has
        rows.append(
            {
                "board": target.name,
                "description": target.description,
                "family": target.family,
                "granules": d.granules,
                "log2gran": d.log2gran,
                "gfa_fanout": d.gfa_fanout,
                "tlb_entries": d.tlb_entries,
                "ptmem_bytes": d.ptmem_bytes,
                "baud": d.baud,
                "note": target.note,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'board':<16} {'granules':>8} {'fanout':>6} {'tlb':>4} {'ptmem':>7}  description")
    for row in rows:
        print(
            f"{row['board']:<16} {row['granules']:>8} {row['gfa_fanout']:>6} "
            f"{row['tlb_entries']:>4} "
            f"{row['ptmem_bytes'] // 1024:>5}Ki  {row['description']}"
        )
    return 0


COMMANDS = [
    Command(
        ("boards",),
        "list the supported FPGA boards and their default sizes",
        configure_boards,
        "List the supported FPGA boards and what a build with no size options has: granules, "
        "summary fan-out, TLB entries and page-table memory (every field with --json).",
    ),
]
