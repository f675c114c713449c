"""Run the MMU's cocotb regression from Python (``mmaccel sim mmu`` and the pytest wrapper).

:func:`run_regression` builds :class:`~mmaccel.hdl.mmu.Mmu` (Verilator by default, Icarus with
``SIM=icarus``), runs :func:`mmaccel.verif.mmu.tb.random_remaps_against_model` with one
:class:`~mmaccel.verif.config.MmuSimConfig` and returns the summary the test bench reports:
accesses checked, mismatches, remaps, ASIDs, PTE reads, bus errors, hit rate, cycles.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mmaccel.hdl.mmu import Mmu
from mmaccel.verif.config import MmuSimConfig

__all__ = ["TEST_MODULE", "run_regression"]

#: The cocotb test module (installed with the package).
TEST_MODULE = "mmaccel.verif.mmu.tb"


def run_regression(
    config: MmuSimConfig,
    *,
    progress: Callable[[int, int, int], None] | None = None,
    waves: bool | None = False,
) -> dict[str, Any]:
    """Run ``config.accesses`` translations on ``Mmu(config.entries)``; return the summary.

    Parameters
    ----------
    config : MmuSimConfig
        TLB entries, accesses and seed (its ``events`` path is chosen here).
    progress : callable, optional
        Called as ``progress(done, total, mismatches)`` as the test bench reports.
    waves : bool, optional
        As :func:`mmaccel.verif.runner.run_cocotb` (default: no trace).

    Raises
    ------
    mmaccel.verif.runner.CocotbFailure
        A mismatch with the model or a simulator failure.
    RuntimeError
        The test bench passed without reporting a summary.
    """
    from mmaccel.verif.runner import cached_verilog, run_reporting

    params = {"entries": config.entries}
    return run_reporting(
        cached_verilog(lambda: Mmu(**params), params, toplevel="mmaccel_mmu"),
        config,
        toplevel="mmaccel_mmu",
        test_module=TEST_MODULE,
        testcase="random_remaps_against_model",
        progress=progress,
        waves=waves,
    )
