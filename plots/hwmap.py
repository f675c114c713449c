"""The allocation map of the gateware: a :class:`GranHistory`'s operations run on the allocator
core in simulation (Verilator through cocotb), its table read through the debug port.

:func:`hardware_tables` builds the core with the history's granule count and granule size
(:class:`~mmaccel.hdl.gfa.GranuleFrameAllocator`, cached Verilog as ``mmaccel sim gfa``
builds it), replays every operation through the request stream with the stream bench
(:mod:`.hwmap_tb`; every response is compared with the model) and returns the free map read
from the hardware at each snapshot step. A first build costs about 20 s; replays of a few
thousand operations a few seconds more.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from mmaccel.sw.errors import MemoryManagerError

from .replay import GranHistory

__all__ = ["TEST_MODULE", "HardwareMapError", "hardware_tables", "table_to_free_map"]

#: The cocotb test module (installed with the package).
TEST_MODULE = "mmaccel.plots.hwmap_tb"


class HardwareMapError(MemoryManagerError):
    """The simulation could not run, or the hardware answered differently from the model."""


def table_to_free_map(words: list[int], ngranules: int) -> int:
    """The free map (bit k = granule k free) of a GAT read as 32-bit words (1 = in use)."""
    used = 0
    for w, word in enumerate(words):
        used |= (word & 0xFFFF_FFFF) << (32 * w)
    return ((1 << ngranules) - 1) & ~used


def hardware_tables(history: GranHistory, *, fanout: int = 4, base: int = 0) -> dict[int, int]:
    """The hardware's free map at each snapshot step of ``history`` (step -> free map).

    ``fanout`` and ``base`` (the address of granule 0) are build parameters of the core; they
    change no index of the map.

    Raises
    ------
    HardwareMapError
        No simulator (Verilator), the simulation failed, or a response differed from the model.
    """
    from mmaccel.hdl.gfa import GranuleFrameAllocator
    from mmaccel.verif.config import GfaSimConfig
    from mmaccel.verif.runner import (
        CocotbFailure,
        SimulatorUnavailable,
        cached_verilog,
        run_reporting,
    )

    from .hwmap_tb import OPS_ENV

    params = {
        "granules": history.ngranules,
        "log2gran": history.log2gran,
        "base": base,
        "fanout": fanout,
    }
    config = GfaSimConfig(
        granules=history.ngranules,
        log2gran=history.log2gran,
        base=base,
        fanout=fanout,
        ops=max(1, history.steps),
        errors=False,
        backpressure=False,
        fail_fast=False,
        mode="scoreboard",
    )
    steps = [s.step for s in history.snapshots]
    with tempfile.TemporaryDirectory(prefix="mmaccel-plot-map-") as tmp:
        spec = Path(tmp) / "ops.json"
        spec.write_text(
            json.dumps({"ops": [[o.kind, o.count, o.index] for o in history.ops], "steps": steps})
        )
        try:
            design = cached_verilog(
                lambda: GranuleFrameAllocator(**params),
                {**params, "mutation": ""},
                toplevel="gfa_core",
            )
            summary = run_reporting(
                design,
                config,
                toplevel="gfa_core",
                test_module=TEST_MODULE,
                testcase="replay_map",
                extra_env={OPS_ENV: str(spec)},
            )
        except (SimulatorUnavailable, CocotbFailure, RuntimeError) as error:
            raise HardwareMapError(f"the hardware map could not be read: {error}") from None
    if summary["mismatches"]:
        raise HardwareMapError(
            f"the hardware differed from the model {summary['mismatches']} times; first: "
            f"{summary['first_mismatch']}"
        )
    return {
        int(step): table_to_free_map(words, history.ngranules)
        for step, words in summary["tables"].items()
    }
