"""The MMU's Verilog on Verilator (cocotb) against the model, on page tables the model builds.

The test bench is :mod:`mmaccel.verif.mmu.tb` (its regression, workload and checks are
described there); :func:`test_mmu_cocotb` builds the Verilog of ``Mmu(entries)`` and runs it
through :func:`mmaccel.verif.mmu.run.run_regression`. ``MMACCEL_SOAK=1`` makes it 10 million
accesses, on 16 and on 4 entries.
"""

from __future__ import annotations

import json
import os

from mmaccel.verif.config import MmuSimConfig
from mmaccel.verif.mmu.run import run_regression

SOAK_ACCESSES = 10_000_000


# -- pytest --


def test_mmu_cocotb() -> None:
    """100,000 accesses per CI run on the default 16-entry TLB.

    ``MMACCEL_SOAK=1``: 10 million accesses, on 16 and on 4 entries. Tracing is off (a long
    run's waveform is large); rerun a failure with ``WAVES=1`` (runs are deterministic).
    """
    soak = os.environ.get("MMACCEL_SOAK") == "1"
    for entries in (16, 4) if soak else (16,):
        accesses = SOAK_ACCESSES if soak else 100_000
        figures = run_regression(
            MmuSimConfig(entries=entries, accesses=accesses, seed=entries),
            waves=None if os.environ.get("WAVES") else False,
        )
        print(f"mmu cocotb, {entries} entries: {json.dumps(figures)}")
        assert figures["accesses"] == accesses and figures["mismatches"] == 0
