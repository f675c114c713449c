"""Run the allocator's cocotb regression from Python: the regression and the benchmark.

Two modes, chosen by :attr:`GfaSimConfig.mode <mmaccel.verif.config.GfaSimConfig>`:

- ``"batch"`` (the default, :func:`run_batch`): :mod:`mmaccel.verif.gfa.batch_tb` on the
  allocator inside :class:`~mmaccel.verif.gfa.player.GfaPlayer`. The model predicts every
  response of a batch up front, the design plays the batch with back-pressure generated in
  hardware, and Python compares the whole batch: no Python per operation in the simulation.
- ``"scoreboard"`` (:func:`run_scoreboard`): :mod:`mmaccel.verif.gfa.streams_tb`, a cocotb
  driver, monitor and scoreboard acting on every handshake: slower, for debugging (every
  operation is visible to Python) and for the directed tests.

Both build with Verilator by default (the scoreboard mode runs on Icarus with ``SIM=icarus``;
the batch mode needs Verilator's ``--timing``, so :func:`run_streams` runs the scoreboard mode
under ``SIM=icarus``; the batch mode's waveform, with ``WAVES=1``, shows the clock as
zero-width pulses: debug with the scoreboard mode) and return the same figures: operations,
mismatches against the model, latency of ALLOC and FREE (``{mean, p99, max}`` cycles from
request accepted to response valid) and the issue interval (cycles from one accepted request to
the next). ``mmaccel sim gfa`` runs the regression (errors and back-pressure); ``mmaccel bench
gfa`` runs a churn trace (allocations of 1..32 granules plus some large ones, frees of live
blocks, occupancy swept 10% -> 95% -> 10%) with no back-pressure, so the figures are the core's
own.

``mutation`` (a name of :data:`mmaccel.verif.formal.gfa_props.GFA_MUTATIONS`) runs a
deliberately broken allocator instead, to show that a mode catches the bug.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mmaccel.hdl.gfa import GranuleFrameAllocator
from mmaccel.verif.config import GfaSimConfig
from mmaccel.verif.runner import self_clocked_build_args

__all__ = [
    "BATCH_DEPTH",
    "BATCH_TEST_MODULE",
    "BUILD_ARGS",
    "TEST_MODULE",
    "run_batch",
    "run_scoreboard",
    "run_streams",
]

#: The cocotb test modules (installed with the package).
TEST_MODULE = "mmaccel.verif.gfa.streams_tb"
BATCH_TEST_MODULE = "mmaccel.verif.gfa.batch_tb"

#: Requests per batch at most (the player's memory depth).
BATCH_DEPTH = 4096

#: Verilator options of the batch build (besides the runner's own): the clock is generated in
#: the design, only the top's ports are visible to VPI. Measured at 32768 granules (checked
#: operations per CPU second): C++ ``-O3`` about 3% faster than ``-O2``; the
#: ``--x-assign``/``--x-initial fast`` pair makes no measurable difference.
BUILD_ARGS = self_clocked_build_args("-O3")


def _core(mutation: str | None) -> tuple[Any, str]:
    """The allocator class to build and a text naming it for the Verilog cache key."""
    if mutation is None:
        return GranuleFrameAllocator, ""
    from mmaccel.verif.formal.gfa_props import GFA_MUTATIONS, _module

    module = _module(mutation)  # ValueError for an unknown name
    return module.GranuleFrameAllocator, repr(GFA_MUTATIONS[mutation])


def _icarus() -> bool:
    return (os.environ.get("SIM") or "verilator").lower() == "icarus"


def _params(config: GfaSimConfig) -> dict[str, int]:
    return {
        "granules": config.granules,
        "log2gran": config.log2gran,
        "base": config.base,
        "fanout": config.fanout,
    }


def watchdog_cycles(granules: int, fanout: int = 4) -> int:
    """Cycles without a handshake after which the player gives up: the allocator's documented
    worst-case latency (:func:`mmaccel.verif.formal.gfa_props.latency_bound`) plus 256."""
    from mmaccel.verif.formal.gfa_props import latency_bound

    return latency_bound(granules, fanout) + 256


def run_streams(
    config: GfaSimConfig,
    *,
    progress: Callable[[int, int, int], None] | None = None,
    waves: bool | None = False,
    mutation: str | None = None,
) -> dict[str, Any]:
    """Run ``config.ops`` requests in ``config.mode`` and return the test bench's figures.

    Parameters
    ----------
    config : GfaSimConfig
        The design's parameters and the run's (its ``events`` path is chosen here).
    progress : callable, optional
        Called as ``progress(done, total, mismatches)`` as the test bench reports (after every
        batch, or every 250 requests in the scoreboard mode).
    waves : bool, optional
        As :func:`mmaccel.verif.runner.run_cocotb` (default: no trace).
    mutation : str, optional
        Build this mutant of the allocator instead (see the module text).

    Returns
    -------
    dict
        The test bench's summary (see :meth:`mmaccel.verif.gfa.batch_tb.BatchBench.summary`).

    Raises
    ------
    TypeError, ValueError
        The allocator's parameters are invalid (raised by the design).
    mmaccel.verif.runner.CocotbFailure
        A mismatch with the model (with ``fail_fast``) or a simulator failure.
    """
    if config.mode == "batch" and not _icarus():
        return run_batch(config, progress=progress, waves=waves, mutation=mutation)
    return run_scoreboard(config, progress=progress, waves=waves, mutation=mutation)


def run_scoreboard(
    config: GfaSimConfig,
    *,
    progress: Callable[[int, int, int], None] | None = None,
    waves: bool | None = False,
    mutation: str | None = None,
) -> dict[str, Any]:
    """:func:`run_streams` in the per-operation scoreboard mode, whatever ``config.mode``."""
    from mmaccel.verif.runner import cached_verilog, run_reporting

    params = _params(config)
    core, described = _core(mutation)
    design = cached_verilog(
        lambda: core(**params), {**params, "mutation": described}, toplevel="gfa_core"
    )
    return run_reporting(
        design,
        config,
        toplevel="gfa_core",
        test_module=TEST_MODULE,
        testcase="random_ops",
        progress=progress,
        waves=waves,
    )


def run_batch(
    config: GfaSimConfig,
    *,
    progress: Callable[[int, int, int], None] | None = None,
    waves: bool | None = False,
    mutation: str | None = None,
) -> dict[str, Any]:
    """:func:`run_streams` in the batch mode, whatever ``config.mode`` (Verilator only).

    Raises
    ------
    mmaccel.verif.runner.SimulatorUnavailable
        ``SIM=icarus`` is set (the batch top needs Verilator's ``--timing``).
    """
    if _icarus():
        from mmaccel.verif.runner import SimulatorUnavailable

        raise SimulatorUnavailable(
            "the GFA batch mode needs Verilator (SIM=icarus is set): use mode='scoreboard'"
        )
    from mmaccel.verif.gfa import player
    from mmaccel.verif.gfa.batch_tb import DEPTH_ENV, WATCHDOG_ENV
    from mmaccel.verif.runner import cached_verilog, run_reporting

    params = _params(config)
    core, described = _core(mutation)
    watchdog = watchdog_cycles(config.granules, config.fanout)
    source = Path(player.__file__).read_bytes()
    key = {
        **params,
        "mutation": described,
        "depth": BATCH_DEPTH,
        "watchdog": watchdog,
        "player": hashlib.sha256(source).hexdigest(),
    }
    verilog = cached_verilog(
        lambda: player.GfaPlayer(**params, depth=BATCH_DEPTH, watchdog=watchdog, core=core),
        key,
        toplevel=player.PLAYER_TOPLEVEL,
        sim="verilator",
    )
    top, names = player.sim_wrapper(verilog, depth=BATCH_DEPTH, words=(config.granules + 31) // 32)
    with tempfile.TemporaryDirectory(prefix="mmaccel-gfa-batch-") as tmp:
        folder = Path(tmp)
        wrapper = folder / f"{player.SIM_TOPLEVEL}.sv"
        wrapper.write_text(top)
        vlt = folder / f"{player.SIM_TOPLEVEL}_ports.vlt"
        vlt.write_text(
            "`verilator_config\n"
            + "".join(
                f'public_flat_rw -module "{player.SIM_TOPLEVEL}" -var "{name}"\n' for name in names
            )
        )
        return run_reporting(
            verilog,
            config,
            toplevel=player.SIM_TOPLEVEL,
            test_module=BATCH_TEST_MODULE,
            testcase="batch_ops",
            progress=progress,
            waves=waves,
            extra_env={DEPTH_ENV: str(BATCH_DEPTH), WATCHDOG_ENV: str(watchdog)},
            extra_sources=[wrapper, vlt],
            extra_build_args=list(BUILD_ARGS),
        )
