"""Run the allocator's cocotb stream test bench from Python: the regression and the benchmark.

:func:`run_streams` builds :class:`~mmaccel.hdl.gfa.GranuleFrameAllocator` (Verilator by default,
Icarus with ``SIM=icarus``), runs ``tb/gfa_streams_tb.py`` and returns the figures the test bench
writes: operations, mismatches against the model, latency of ALLOC and FREE (``{mean, p99, max}``
cycles from request accepted to response valid) and the issue interval (cycles from one accepted
request to the next). :func:`bench_gfa` is ``mmaccel bench gfa``: a churn trace (allocations of
1..32 granules plus some large ones, frees of live blocks, occupancy swept 10% -> 95% -> 10%)
with no back-pressure, so the figures are the core's own.
"""

import json
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .gfa import GranuleFrameAllocator

__all__ = ["TB_DIR", "bench_gfa", "run_streams"]

#: Where the cocotb test module lives (the repository's tb/ folder).
TB_DIR = Path(__file__).resolve().parent.parent / "tb"


def run_streams(
    *,
    granules: int,
    ops: int,
    seed: int = 1,
    log2gran: int = 12,
    base: int = 0,
    fanout: int = 4,
    errors: bool = True,
    backpressure: bool = True,
    check_every: int = 1000,
    progress: Callable[[int, int, int], None] | None = None,
    waves: bool | None = False,
) -> dict[str, Any]:
    """Run ``ops`` random requests through the cocotb stream bench and return its figures.

    Parameters
    ----------
    granules, log2gran, base, fanout : int
        The allocator's parameters.
    ops : int
        Requests to run (at least 1).
    seed : int
        Seed of the request generator and of the back-pressure pattern.
    errors : bool
        Mix in invalid requests, alignment, RESERVE, INFO and CLEAR (the regression) or run
        plain alloc/free churn (the benchmark).
    backpressure : bool
        Random gaps on ``req.valid`` and random ``resp.ready``.
    check_every : int
        Compare the whole map through the debug port every this many requests.
    progress : callable, optional
        Called as ``progress(done, total, mismatches)`` about every second.
    waves : bool, optional
        As :func:`mmaccel.hdl.cocotb_runner.run_cocotb` (default: no trace).

    Returns
    -------
    dict
        The test bench's summary (see tb/gfa_streams_tb.py).

    Raises
    ------
    ValueError
        ``ops`` below 1 or ``check_every`` below 1.
    mmaccel.hdl.cocotb_runner.CocotbFailure
        A mismatch with the model (regression mode) or a simulator failure.
    """
    from .cocotb_runner import run_cocotb

    if ops < 1:
        raise ValueError(f"ops must be at least 1, not {ops}")
    if check_every < 1:
        raise ValueError(f"check_every must be at least 1, not {check_every}")
    design = GranuleFrameAllocator(granules=granules, log2gran=log2gran, base=base, fanout=fanout)
    with tempfile.TemporaryDirectory(prefix="mmaccel-gfa-") as tmp:
        out = Path(tmp) / "summary.json"
        prog = Path(tmp) / "progress.txt"
        env = {
            "GFA_GRANULES": str(granules),
            "GFA_LOG2GRAN": str(log2gran),
            "GFA_BASE": str(base),
            "GFA_FANOUT": str(fanout),
            "GFA_OPS": str(ops),
            "GFA_SEED": str(seed),
            "GFA_CHECK_EVERY": str(check_every),
            "GFA_ERRORS": "1" if errors else "0",
            "GFA_BP": "1" if backpressure else "0",
            "GFA_PROGRESS": str(prog),
            "GFA_OUT": str(out),
            # the benchmark counts mismatches; the regression stops at the first one
            "GFA_FAIL_FAST": "1" if errors else "0",
        }
        failure: list[BaseException] = []

        def target() -> None:
            try:
                run_cocotb(
                    design,
                    toplevel="gfa_core",
                    test_module="gfa_streams_tb",
                    test_dir=TB_DIR,
                    testcase="random_ops",
                    extra_env=env,
                    seed=seed,
                    waves=waves,
                )
            except BaseException as error:  # re-raised in the caller's thread
                failure.append(error)

        worker = threading.Thread(target=target, name="gfa-cocotb")
        worker.start()
        while worker.is_alive():
            worker.join(1.0)
            if progress is not None and prog.exists():
                try:
                    done, total, bad = (int(x) for x in prog.read_text().split())
                except ValueError:
                    continue
                progress(done, total, bad)
        if failure:
            raise failure[0]
        summary: dict[str, Any] = json.loads(out.read_text())
    return summary


def bench_gfa(
    granules: int = 32768, ops: int = 20000, seed: int = 1, fanout: int = 4
) -> dict[str, Any]:
    """``mmaccel bench gfa``: churn trace through the stream bench, figures as a dict."""
    start = time.monotonic()
    figures = run_streams(
        granules=granules,
        ops=ops,
        seed=seed,
        fanout=fanout,
        errors=False,
        backpressure=False,
        check_every=max(1, ops // 10),
    )
    figures["wall_seconds"] = round(time.monotonic() - start, 1)
    return figures
