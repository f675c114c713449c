"""cocotb side of ``mmaccel plot map --hardware`` (runs in the simulator).

The allocator core (``gfa_core``) is driven through its request stream with the operations of a
:class:`~mmaccel.plots.replay.GranHistory` (written as JSON by :mod:`mmaccel.plots.hwmap`),
using the allocator's stream bench (:class:`mmaccel.verif.gfa.streams_tb.StreamBench`: driver,
monitor, every response compared with the model). At each step asked for, the engine is let go
idle and the whole allocation table is read through the debug port (``dbg_addr`` /
``dbg_data``, one 32-bit word per cycle); the words go out in the ``summary`` event.
"""

import json
import os
from pathlib import Path
from typing import Any

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge

from mmaccel.hdl.gfa import GfaOp
from mmaccel.verif.config import GfaSimConfig
from mmaccel.verif.gfa.reference import code
from mmaccel.verif.gfa.streams_tb import StreamBench

#: Environment variable naming the JSON file of operations and steps.
OPS_ENV = "MMACCEL_PLOT_MAP_OPS"


async def read_table(tb: StreamBench) -> list[int]:
    """The allocation table (GAT) through the debug port, once the engine is idle."""
    await tb.drain()
    dut = tb.dut
    words: list[int] = []
    dut.dbg_addr.value = 0
    await RisingEdge(dut.clk)
    for w in range(tb.words):
        dut.dbg_addr.value = min(w + 1, tb.words - 1)
        await ReadOnly()
        words.append(int(dut.dbg_data.value))
        await RisingEdge(dut.clk)
    return words


@cocotb.test()
async def replay_map(dut: Any) -> None:
    """The operations of the history, with the table read at the steps asked for."""
    config = GfaSimConfig.from_env()
    spec = json.loads(Path(os.environ[OPS_ENV]).read_text())
    ops: list[list[Any]] = spec["ops"]
    keep = set(spec["steps"])
    tb = StreamBench(dut, config)
    await tb.start()
    cocotb.start_soon(tb.monitor(len(ops)))
    tables: dict[str, list[int]] = {}
    disagree: list[str] = []
    if 0 in keep:
        tables["0"] = await read_table(tb)
    alloc, free = code(GfaOp.ALLOC), code(GfaOp.FREE)
    for step, (kind, count, index) in enumerate(ops, 1):
        if kind == "alloc":
            req = (alloc, count, 0, 0)
        else:
            req = (free, count, tb.base + (index << tb.log2gran), 0)
        exp = tb.ref.apply(*req)
        if kind == "alloc" and (exp.addr - tb.base) >> tb.log2gran != index and index >= 0:
            disagree.append(f"step {step}: the plot's history says {index}, model {exp}")
        await tb.send(step, req, exp)
        if step in keep:
            tables[str(step)] = await read_table(tb)
    await tb.drain()
    tb.events.emit(
        "summary",
        ops=len(ops),
        mismatches=len(tb.mismatches) + len(disagree),
        first_mismatch=(tb.mismatches + disagree)[:1],
        tables=tables,
    )
