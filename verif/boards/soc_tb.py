"""cocotb side of :func:`mmaccel.verif.boards.soc_top.run_board_soc`: the SoC board top with
cocotbext-uart's ``UartSink`` on ``tx`` and ``UartSource`` on ``rx``.

Environment: ``MMACCEL_SOC_BOARD_OUT`` (JSON file written at the end: ``uart``, ``exit_code``,
``cycles``), ``MMACCEL_SOC_BOARD_MAX_CYCLES``, ``MMACCEL_SOC_BOARD_BAUD`` (the UART's rate in
the simulation's time), ``MMACCEL_SOC_BOARD_CLK_NS`` (the clock period the top generates).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import cocotb
from cocotb.triggers import ClockCycles, Timer
from cocotbext.uart import UartSink, UartSource

#: Cycles between two looks at ``done``.
POLL = 20_000


@cocotb.test()
async def firmware_over_uart(dut: Any) -> None:
    """Reset, run until EXIT, let the last byte out, write what the UART carried."""
    baud = int(os.environ["MMACCEL_SOC_BOARD_BAUD"])
    clk_ns = int(os.environ["MMACCEL_SOC_BOARD_CLK_NS"])
    max_cycles = int(os.environ["MMACCEL_SOC_BOARD_MAX_CYCLES"])
    sink = UartSink(dut.tx, baud=baud, bits=8, stop_bits=1)
    source = UartSource(dut.rx, baud=baud, bits=8, stop_bits=1)  # idles rx high
    for name in (dut.tx._path, dut.rx._path):  # one log line per byte otherwise
        logging.getLogger(f"cocotb.{name}").setLevel(logging.WARNING)
    del source
    dut.rst.value = 1
    await ClockCycles(dut.clk, 8)
    dut.rst.value = 0
    cycles = 0
    text = bytearray()
    while not int(dut.done.value) and cycles < max_cycles:
        await ClockCycles(dut.clk, POLL)
        cycles += POLL
        text += sink.read_nowait()
    # the last byte (and a few more bit times) leaves the transmitter after EXIT
    await Timer(12 * 10 * round(1e9 / baud / clk_ns) * clk_ns, unit="ns")
    text += sink.read_nowait()
    uart = text.decode("latin-1")
    Path(os.environ["MMACCEL_SOC_BOARD_OUT"]).write_text(
        json.dumps({"uart": uart, "exit_code": int(dut.exit_code.value), "cycles": cycles})
    )
    assert int(dut.done.value), f"no EXIT within {max_cycles} cycles; UART so far:\n{uart}"
