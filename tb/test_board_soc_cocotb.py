"""The SoC board top (the bitstream's design without PLL and pins, with the board firmware) on
Verilator, cocotbext-uart as the serial peer: the firmware prints its banner, an allocator run
on both back ends, MMU translations, cycle figures and PASS; every printed result is checked
against the model (:func:`mmaccel.verif.boards.soc_top.check_output`).

Sizes are smaller than the bitstreams' (1024 granules, 8 TLB entries) for the build time;
``SOC_BOARD_GRANULES`` / ``SOC_BOARD_TLB`` run other sizes (65536 / 16 is the bitstream's).
"""

from __future__ import annotations

import os

import pytest

from mmaccel.boards.soc_top import SocBoardConfig


def _config() -> SocBoardConfig:
    return SocBoardConfig(
        clock_mhz=75.0,
        granules=int(os.environ.get("SOC_BOARD_GRANULES", "1024")),
        tlb_entries=int(os.environ.get("SOC_BOARD_TLB", "8")),
    )


def test_board_soc_prints_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    from mmaccel.verif.boards.soc_top import check_output, run_board_soc

    monkeypatch.setenv("MAKEFLAGS", "CFG_CXXFLAGS_PCH_I=-include")
    config = _config()
    run = run_board_soc(config)
    print(run.uart)
    check = check_output(run.uart, config)
    assert check.problems == [], "\n".join(check.problems)
    assert run.exit_code == 0
    assert check.allocs > 0 and check.frees > 0
    assert check.translations == 11
    # the hardware back end is the faster one
    assert check.cycles["gran_alloc"]["hw"] < check.cycles["gran_alloc"]["sw"]


def test_check_output_finds_a_wrong_address() -> None:
    """The check is not vacuous: a changed address, a changed status and a missing PASS."""
    from mmaccel.verif.boards.soc_top import check_output

    config = SocBoardConfig(clock_mhz=75.0, granules=64, tlb_entries=0, ops=2)
    head = (
        "mmaccel SoC: VexRiscv + granule allocator + Sv32 MMU\n"
        "clock 75000000 Hz, ram 65536 bytes, id 534f4331\n"
        "gfa granules 64 log2gran 12 base 10000000\n"
    )
    tail = (
        "info nfree 63 mxfree 63\n"
        "cycles gran_alloc hw mean 40 min 40 max 40\ncycles gran_alloc sw mean 90 min 90 max 90\n"
        "cycles gran_free hw mean 40 min 40 max 40\ncycles gran_free sw mean 90 min 90 max 90\n"
    )
    good = head + "op 0 alloc 100 align 0 -> 10000000 0\nop 1 free 10003000 4096 -> 5\n" + tail
    assert check_output(good + "PASS\n", config).problems == []
    wrong_addr = good.replace("-> 10000000 0", "-> 10001000 0")
    assert check_output(wrong_addr + "PASS\n", config).problems
    wrong_status = good.replace("-> 5", "-> 3")
    assert check_output(wrong_status + "PASS\n", config).problems
    assert check_output(good + "FAIL\n", config).problems
