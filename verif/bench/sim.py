"""How fast the regressions check: the figures behind ``mmaccel bench sim``.

:func:`sim_rates` measures, with the Verilator builds cached (a first run builds them and is
not counted):

- ``gfa``: the allocator's batch regression (:func:`mmaccel.verif.gfa.run.run_batch`, random
  requests with errors and hardware back-pressure, every response and a map check every 5000
  requests compared with the model) at ``granules`` granules. ``ops_per_cpu_second`` divides by
  the simulator process's CPU time (Python and Verilator share its one thread), the figure per
  core that a shared machine does not distort; ``ops_per_second`` divides by the wall time of
  the batches; ``wall_ops_per_second`` by the whole call (simulator start-up included).
- ``gfa_sim_1000``: the wall time of the command ``mmaccel sim gfa --ops 1000`` (a new Python
  process, as a user types it).
- ``mmu`` (optional): the MMU's cocotb regression, translations per second of wall time of the
  whole call.

Each figure is reported with its target (:data:`TARGETS`) and whether it was met.
"""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

from mmaccel.verif.config import GfaSimConfig, MmuSimConfig

__all__ = ["TARGETS", "sim_rates"]

#: The targets: allocator operations and MMU translations per second per core, seconds of wall
#: time of a warm ``mmaccel sim gfa --ops 1000``.
TARGETS = {"gfa_ops_per_second": 20_000, "mmu_per_second": 50_000, "gfa_sim_1000_seconds": 3.0}


def _gfa(granules: int, ops: int, seed: int, base: int) -> dict[str, Any]:
    from mmaccel.verif.gfa.run import run_batch

    warm = GfaSimConfig(granules=granules, base=base, ops=100, check_every=100, seed=seed)
    run_batch(warm)  # builds once, if needed
    config = GfaSimConfig(granules=granules, base=base, ops=ops, check_every=5000, seed=seed)
    t0 = time.monotonic()
    summary = run_batch(config)
    wall = time.monotonic() - t0
    cpu = max(summary["cpu_seconds"], 1e-9)
    seconds = max(summary["seconds"], 1e-9)
    done = summary["ops"]
    return {
        "granules": granules,
        "ops": done,
        "mismatches": summary["mismatches"],
        "map_checks": summary["map_checks"],
        "cycles": summary["cycles"],
        "cpu_seconds": summary["cpu_seconds"],
        "seconds": summary["seconds"],
        "simulation_seconds": summary["simulation_seconds"],
        "wall_seconds": round(wall, 3),
        "ops_per_cpu_second": round(done / cpu),
        "ops_per_second": round(done / seconds),
        "wall_ops_per_second": round(done / wall),
        "cycles_per_second": round(summary["cycles"] / max(summary["simulation_seconds"], 1e-9)),
        "target": TARGETS["gfa_ops_per_second"],
        "met": done / cpu >= TARGETS["gfa_ops_per_second"],
    }


def _sim_gfa_command(ops: int) -> dict[str, Any]:
    command = [sys.executable, "-c", "from mmaccel.cli import main; main()"]
    command += ["sim", "gfa", "--ops", str(ops)]
    subprocess.run(command, capture_output=True, check=False)  # warm: builds if needed
    t0 = time.monotonic()
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.monotonic() - t0
    return {
        "command": f"mmaccel sim gfa --ops {ops}",
        "exit_status": proc.returncode,
        "wall_seconds": round(wall, 3),
        "target": TARGETS["gfa_sim_1000_seconds"],
        "met": proc.returncode == 0 and wall <= TARGETS["gfa_sim_1000_seconds"],
    }


def _mmu(entries: int, accesses: int, seed: int) -> dict[str, Any]:
    from mmaccel.verif.mmu.run import run_regression

    run_regression(MmuSimConfig(entries=entries, accesses=100, seed=seed))  # builds once
    t0 = time.monotonic()
    summary = run_regression(MmuSimConfig(entries=entries, accesses=accesses, seed=seed))
    wall = time.monotonic() - t0
    return {
        "entries": entries,
        "accesses": summary.get("accesses", accesses),
        "mismatches": summary.get("mismatches"),
        "wall_seconds": round(wall, 3),
        "wall_per_second": round(accesses / wall),
        "target": TARGETS["mmu_per_second"],
        "met": accesses / wall >= TARGETS["mmu_per_second"],
    }


def sim_rates(
    *,
    granules: int = 32768,
    base: int = 0,
    ops: int = 100_000,
    seed: int = 1,
    command_ops: int = 1000,
    mmu_accesses: int = 0,
    entries: int = 16,
) -> dict[str, Any]:
    """Measure the regressions' rates (see the module text): the allocator's batch regression
    on ``granules`` granules at ``base`` (``ops`` requests), ``mmaccel sim gfa --ops
    command_ops`` (0 skips it) and the MMU's regression (``mmu_accesses`` translations on
    ``entries`` TLB entries; 0 skips it).

    Raises
    ------
    mmaccel.verif.runner.CocotbFailure
        A mismatch with the model or a simulator failure.
    """
    if not isinstance(ops, int) or ops < 1:
        raise ValueError(f"ops must be a positive int, not {ops!r}")
    figures: dict[str, Any] = {"gfa": _gfa(granules, ops, seed, base)}
    if command_ops:
        figures["gfa_sim_1000"] = _sim_gfa_command(command_ops)
    if mmu_accesses:
        figures["mmu"] = _mmu(entries, mmu_accesses, seed)
    return figures
