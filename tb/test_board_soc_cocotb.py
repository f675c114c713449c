"""The SoC board top (the bitstream's design without PLL and pins, with the board firmware) on
Verilator, cocotbext-uart as the serial peer: the firmware prints its banner, an allocator run
on both back ends, MMU translations, cycle figures and PASS; every printed result is checked
against the model (:func:`mmaccel.verif.boards.soc_top.check_output`).

The SoC is the ULX3S bitstream's (VexRiscv ``lite``, 32 KiB of RAM, the registered data bus,
the firmware built for 75 MHz) with a smaller allocator and TLB (1024 granules, 8 entries) for
the build time; ``SOC_BOARD_GRANULES`` / ``SOC_BOARD_TLB`` run other sizes (65536 / 16 is the
bitstream's).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mmaccel.boards.soc_top import SocBoardConfig


def _config() -> SocBoardConfig:
    """The ULX3S bitstream's SoC (CPU variant, RAM, clock the firmware prints), smaller."""
    from dataclasses import replace

    from mmaccel.boards.soc_top import SOC_DEFAULTS

    return replace(
        SOC_DEFAULTS["ulx3s-85f"],
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


def test_ecp5_pll_dividers() -> None:
    from mmaccel.boards.soc_top import ecp5_pll
    from mmaccel.sw.errors import InvalidArgument

    assert ecp5_pll(25.0, 75.0) == (1, 3, 8, 75.0)  # ULX3S: VCO 600 MHz
    clki, clkfb, clkop, out = ecp5_pll(48.0, 80.0)  # OrangeCrab
    assert out == pytest.approx(80.0) and 400 <= out * clkop <= 800 and 48 / clki >= 3.125
    assert clkfb * 48 / clki == pytest.approx(80.0)
    with pytest.raises(InvalidArgument, match="cannot make 1000"):
        ecp5_pll(25.0, 1000.0)


def test_soc_config_defaults_and_errors() -> None:
    from mmaccel.boards.soc_top import SOC_DEFAULTS, SocBoardConfig, soc_config
    from mmaccel.boards.targets import get_board
    from mmaccel.sw.errors import InvalidArgument

    for name in ("ulx3s-85f", "orangecrab-85f"):
        c = SOC_DEFAULTS[name]
        assert c.granules == 65536 and c.tlb_entries == 16 and c.clock_mhz >= 75
    c = soc_config(get_board("ulx3s-85f"), granules=4096, variant="lite", clock_mhz=50.0)
    assert (c.granules, c.variant, c.clock_mhz, c.tlb_entries) == (4096, "lite", 50.0, 16)
    assert c.label() == "soc-lite-g4096-t16-50mhz"
    with pytest.raises(InvalidArgument, match="tlb_entries must be 0"):
        SocBoardConfig(clock_mhz=75.0, tlb_entries=2)
    with pytest.raises(InvalidArgument, match="variant must be one of"):
        SocBoardConfig(clock_mhz=75.0, variant="huge")


@pytest.mark.slow
@pytest.mark.parametrize("board", ["ulx3s-85f", "orangecrab-85f"])
def test_build_soc_ecp5(board: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The SoC bitstreams at their defaults meet timing at 75 MHz or more (about 6 minutes)."""
    import json

    from mmaccel.cli import main

    argv = ["build", "--board", board, "--soc", "--json", "--build-dir", str(tmp_path)]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["design"] == "soc" and out["timing_met"]
    assert out["clock_mhz"] >= 75 and min(out["fmax_mhz"].values()) >= out["clock_mhz"]
    assert out["config"]["granules"] == 65536 and out["config"]["tlb_entries"] == 16


@pytest.mark.slow
def test_build_soc_icebreaker_does_not_fit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The iCEBreaker SoC fails with the cell counts, per block, and no traceback."""
    from mmaccel.cli import main

    argv = ["build", "--board", "icebreaker", "--soc", "--build-dir", str(tmp_path)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "does not fit (ICESTORM_LC" in err and "/5280" in err
    assert "per block" in err and "cpu " in err and "gfa " in err
    assert "Traceback" not in err
