"""``mmaccel formal``: run the SymbiYosys proofs and print a table or JSON.

Exit status 0 when every proof that ran gave its expected verdict (PASS for a proof, FAIL for
a mutant), 1 otherwise, 2 when the tools are missing.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from .command import Command, UsageError

if TYPE_CHECKING:
    from mmaccel.verif.formal.sby import ProofResult

__all__ = ["COMMANDS", "configure_formal", "report"]


def configure_formal(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``mmaccel formal``."""
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--no-mutants",
        action="store_true",
        help="skip the deliberately broken variants (which must FAIL their proofs)",
    )
    parser.add_argument(
        "-k",
        "--only",
        action="append",
        default=[],
        metavar="PATTERN",
        help="run only proofs whose name matches this shell pattern (repeatable), "
        "e.g. 'gfa.*' or '*!*' for the mutants",
    )
    parser.add_argument("-j", "--jobs", type=int, default=2, help="parallel runs (default: 2)")
    parser.add_argument(
        "--budget",
        type=float,
        default=None,
        help="seconds for the whole run; proofs not started by then are SKIPPED "
        "(default: no limit)",
    )
    parser.add_argument(
        "--solver",
        choices=["yices", "z3"],
        default=None,
        help="SMT solver (default: yices if found)",
    )
    parser.add_argument(
        "--keep",
        metavar="DIR",
        default=None,
        help="keep each run's files under DIR/<proof> (default: deleted after the run)",
    )
    parser.add_argument(
        "--deep",
        action="store_true",
        help="larger BMC depths (tens of minutes; the default fits CI's few minutes)",
    )
    parser.add_argument("--list", action="store_true", help="list the proofs and exit")
    parser.set_defaults(func=_run_formal)


def report(results: list[ProofResult], solver: str) -> dict[str, object]:
    """The JSON object of ``mmaccel formal --json``."""
    proofs = [r for r in results if r.expect != "FAIL"]
    mutants = [r for r in results if r.expect == "FAIL"]
    return {
        "solver": solver,
        "proofs": [r.as_dict() for r in proofs],
        "mutants": [r.as_dict() for r in mutants],
        "all_passed": all(r.status == "PASS" for r in proofs),
        "mutants_caught": all(r.status == "FAIL" for r in mutants),
        "all_ok": all(r.ok for r in results),
    }


def _run_formal(args: argparse.Namespace) -> int:
    from mmaccel.verif.formal.proofs import all_proofs, select
    from mmaccel.verif.formal.sby import ToolError, find_tools, run_proofs, summary_table

    proofs = select(all_proofs(mutants=not args.no_mutants, deep=args.deep), args.only)
    if args.list:
        for p in proofs:
            print(f"{p.name:<45} {p.method:<11} {p.depth:>3}  {p.description}")
        return 0
    if not proofs:
        raise UsageError(f"no proof matches {args.only}")
    try:
        tools = find_tools(args.solver)
    except ToolError as error:
        raise UsageError(str(error)) from None

    def progress(r: ProofResult) -> None:
        mark = "ok" if r.ok else "UNEXPECTED"
        print(f"  {r.name}: {r.status} ({r.seconds:.1f}s) {mark}", file=sys.stderr, flush=True)

    results = run_proofs(
        proofs,
        jobs=args.jobs,
        budget=args.budget,
        workdir=args.keep,
        solver=tools.solver,
        progress=None if args.json else progress,
    )
    if args.json:
        print(json.dumps(report(results, tools.solver)))
    else:
        print(summary_table(results))
        for r in results:
            if not r.ok:
                detail = "; ".join(r.failed) or r.log_tail.strip().splitlines()[-1:]
                print(f"{r.name}: expected {r.expect}, got {r.status}: {detail}")
        bad = sum(not r.ok for r in results)
        print(f"solver {tools.solver}: {len(results) - bad} as expected, {bad} not")
    return 0 if all(r.ok for r in results) else 1


COMMANDS = [
    Command(
        ("formal",),
        "SymbiYosys proofs of the allocator's and the MMU's safety properties (table or JSON)",
        configure_formal,
        "Run the SymbiYosys proofs of the allocator's and the MMU's safety properties, and "
        "the deliberately broken variants (mutants) that must fail them, and print a table "
        "(one JSON object with --json). Exit status 0 when every proof gave its expected "
        "verdict, 1 otherwise, 2 when the tools are missing or no proof matches.",
    ),
]
