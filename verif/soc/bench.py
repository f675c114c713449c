"""cocotb bench of the SoC: load firmware images, run each to its EXIT, collect trace and UART.

It runs in the simulator (started by :mod:`mmaccel.verif.soc.sim`) and reads its jobs from the
JSON file named by ``$MMACCEL_SOC_JOBS``: a list of ``{"image", "max_cycles", "trace", "result",
"flush_every"}``. For each job it holds the SoC in reset, writes the image through the RAM's
load port (one word per cycle), releases reset and waits for ``done`` or for ``max_cycles``.
Python is off the per-cycle path: the clock is generated inside the simulation top
(``soc_sim``), and the bench wakes only on a rising ``trace.valid`` (then reads the words while
``valid`` stays high, ``ready`` held at 1), on a UART byte, on ``done`` and on the timeout.
Trace words are appended to the job's ``trace`` file (little-endian 32-bit words, flushed every
``flush_every`` words so the host can follow); the ``result`` file receives
``{"status": "exit"|"timeout", "exit_code", "cycles", "uart", "words"}``.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any, BinaryIO

import cocotb
from cocotb.triggers import First, ReadOnly, RisingEdge, Timer
from cocotb.utils import get_sim_time

#: Clock period in ns (only the ratio to time matters: cycles are time / period).
PERIOD_NS = 10


class _TraceSink:
    def __init__(self, path: Path, flush_every: int) -> None:
        self.file: BinaryIO = open(path, "wb")  # noqa: SIM115 - closed by close()
        self.flush_every = max(1, flush_every)
        self.count = 0

    def push(self, word: int) -> None:
        self.file.write(struct.pack("<I", word))
        self.count += 1
        if self.count % self.flush_every == 0:
            self.file.flush()

    def close(self) -> None:
        self.file.close()


async def _collect_trace(dut: Any, sink: _TraceSink) -> None:
    valid = dut.trace__valid
    data = dut.trace__payload
    clk = dut.clk
    while True:
        await RisingEdge(valid)
        await ReadOnly()
        while valid.value:
            sink.push(int(data.value))
            await RisingEdge(clk)
            await ReadOnly()


async def _collect_uart(dut: Any, out: bytearray) -> None:
    valid = dut.uart_tap__valid
    data = dut.uart_tap__payload
    while True:
        await RisingEdge(valid)
        await ReadOnly()
        out.append(int(data.value))


async def _load(dut: Any, image: bytes) -> None:
    padded = image + bytes(-len(image) % 4)
    clk = dut.clk
    dut.load__en.value = 1
    for index in range(len(padded) // 4):
        dut.load__addr.value = index
        dut.load__data.value = int.from_bytes(padded[4 * index : 4 * index + 4], "little")
        await RisingEdge(clk)
    dut.load__en.value = 0


@cocotb.test()
async def run_jobs(dut: Any) -> None:
    """Run every job of ``$MMACCEL_SOC_JOBS`` in order."""
    jobs = json.loads(Path(os.environ["MMACCEL_SOC_JOBS"]).read_text())
    dut.rst.value = 1
    dut.trace__ready.value = 1
    dut.uart_tap__ready.value = 1
    dut.uart_rx.value = 1
    dut.load__en.value = 0
    # the simulation top generates its clock (period PERIOD_NS)
    clk = dut.clk
    for job in jobs:
        dut.rst.value = 1
        await RisingEdge(clk)
        await _load(dut, Path(job["image"]).read_bytes())
        await RisingEdge(clk)
        dut.rst.value = 0
        start = get_sim_time("ns")
        sink = _TraceSink(Path(job["trace"]), int(job.get("flush_every", 1024)))
        uart = bytearray()
        tasks = [
            cocotb.start_soon(_collect_trace(dut, sink)),
            cocotb.start_soon(_collect_uart(dut, uart)),
        ]
        max_cycles = int(job["max_cycles"])
        done = RisingEdge(dut.done)
        fired = await First(done, Timer(max_cycles * PERIOD_NS, unit="ns"))
        finished = fired is done
        end = get_sim_time("ns")
        # let the last trace words (pushed before EXIT) and bytes through
        for _ in range(8):
            await RisingEdge(clk)
        await ReadOnly()
        exit_code = int(dut.exit_code.value) if finished else None
        for task in tasks:
            task.cancel()
        sink.close()
        await RisingEdge(clk)
        result = {
            "status": "exit" if finished else "timeout",
            "exit_code": exit_code,
            "cycles": round((end - start) / PERIOD_NS),
            "uart": uart.decode("latin-1"),
            "words": sink.count,
        }
        Path(job["result"]).write_text(json.dumps(result))
