"""Run the allocator's cocotb stream test bench from Python: the regression and the benchmark.

:func:`run_streams` builds :class:`~mmaccel.hdl.gfa.GranuleFrameAllocator` (Verilator by
default, Icarus with ``SIM=icarus``), runs :mod:`mmaccel.verif.gfa.streams_tb` on it with one
:class:`~mmaccel.verif.config.GfaSimConfig` and returns the figures the test bench reports:
operations, mismatches against the model, latency of ALLOC and FREE (``{mean, p99, max}``
cycles from request accepted to response valid) and the issue interval (cycles from one
accepted request to the next). ``mmaccel sim gfa`` runs the regression (errors and
back-pressure); ``mmaccel bench gfa`` runs a churn trace (allocations of 1..32 granules plus
some large ones, frees of live blocks, occupancy swept 10% -> 95% -> 10%) with no
back-pressure, so the figures are the core's own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mmaccel.hdl.gfa import GranuleFrameAllocator
from mmaccel.verif.config import GfaSimConfig

__all__ = ["TEST_MODULE", "run_streams"]

#: The cocotb test module (installed with the package).
TEST_MODULE = "mmaccel.verif.gfa.streams_tb"


def run_streams(
    config: GfaSimConfig,
    *,
    progress: Callable[[int, int, int], None] | None = None,
    waves: bool | None = False,
) -> dict[str, Any]:
    """Run ``config.ops`` requests through the cocotb stream bench and return its figures.

    Parameters
    ----------
    config : GfaSimConfig
        The design's parameters and the run's (its ``events`` path is chosen here).
    progress : callable, optional
        Called as ``progress(done, total, mismatches)`` as the test bench reports (every 250
        requests).
    waves : bool, optional
        As :func:`mmaccel.verif.runner.run_cocotb` (default: no trace).

    Returns
    -------
    dict
        The test bench's summary (see :meth:`mmaccel.verif.gfa.streams_tb.StreamBench.summary`).

    Raises
    ------
    TypeError, ValueError
        The allocator's parameters are invalid (raised by the design).
    mmaccel.verif.runner.CocotbFailure
        A mismatch with the model (with ``fail_fast``) or a simulator failure.
    """
    from mmaccel.verif.runner import cached_verilog, run_reporting

    params = {
        "granules": config.granules,
        "log2gran": config.log2gran,
        "base": config.base,
        "fanout": config.fanout,
    }
    design = cached_verilog(lambda: GranuleFrameAllocator(**params), params, toplevel="gfa_core")
    return run_reporting(
        design,
        config,
        toplevel="gfa_core",
        test_module=TEST_MODULE,
        testcase="random_ops",
        progress=progress,
        waves=waves,
    )
