"""Board targets, the build flow and its report parsing; real bitstreams with the YoWASP tools.

The iCEBreaker bitstream is built in the default suite (about a minute with a warm YoWASP
cache, 30 s more with a cold one); the ECP5 boards are ``slow`` (``pytest -m slow``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mmaccel.boards.build import BuildError, _retarget_clock, count_cells, parse_report
from mmaccel.boards.sweep import markdown_table
from mmaccel.boards.targets import BOARDS, BoardConfig, get_board
from mmaccel.cli import main
from mmaccel.cli.boards import configure_boards
from mmaccel.sw.errors import InvalidArgument

# -- targets and configurations -------------------------------------------------------------


def test_boards_listed() -> None:
    assert {"icebreaker", "ulx3s-85f", "orangecrab-85f"} <= set(BOARDS)
    assert get_board("icebreaker").family == "ice40"
    assert get_board("ulx3s-85f").family == "ecp5"
    with pytest.raises(InvalidArgument, match=r"unknown board 'nope'.*icebreaker"):
        get_board("nope")


def test_boards_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["boards", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by_name = {r["board"]: r for r in rows}
    assert by_name["icebreaker"]["granules"] == BOARDS["icebreaker"].defaults.granules
    assert by_name["ulx3s-85f"]["tlb_entries"] == BOARDS["ulx3s-85f"].defaults.tlb_entries
    assert callable(configure_boards)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"granules": 65537}, "granules must be"),
        ({"granules": -1}, "granules must be"),
        ({"tlb_entries": 3}, "tlb_entries must be"),
        ({"tlb_entries": 65}, "tlb_entries must be"),
        ({"ptmem_bytes": 100}, "multiple of 4096"),
        ({"granules": 0, "tlb_entries": 0}, "needs the allocator, the MMU or both"),
        ({"baud": 0}, "baud must be positive"),
        ({"gfa_fanout": 3}, "gfa_fanout must be one of 2, 4, 8, 16, not 3"),
    ],
)
def test_config_rejects(kwargs: dict[str, int], message: str) -> None:
    target = get_board("icebreaker")
    before = target.defaults
    with pytest.raises(InvalidArgument, match=message):
        target.config(**kwargs)
    assert target.defaults == before  # the defaults are untouched


def test_config_overrides() -> None:
    target = get_board("ulx3s-85f")
    config = target.config(granules=1024, tlb_entries=0)
    assert (config.granules, config.tlb_entries) == (1024, 0)
    assert config.ptmem_bytes == 0  # page tables only with the MMU, unless asked for
    assert target.config(tlb_entries=0, ptmem_bytes=8192).ptmem_bytes == 8192
    assert target.config(granules=0).ptmem_bytes == target.defaults.ptmem_bytes
    assert config.label() == "g1024-t0"
    assert target.config(gfa_fanout=2).label() == "g65536-t16-f2"
    assert target.config(gfa_fanout=2).gfa_fanout == 2 and target.defaults.gfa_fanout == 4
    with pytest.raises(TypeError):
        BoardConfig(granules=1.5, tlb_entries=8, ptmem_bytes=0)  # type: ignore[arg-type]


def test_build_cli_rejects_bad_size(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status = main(["build", "--board", "icebreaker", "--granules", "70000",
                   "--build-dir", str(tmp_path / "b")])  # fmt: skip
    assert status == 2  # a usage error
    err = capsys.readouterr().err
    assert err.startswith("mmaccel build: error: ") and "granules must be" in err
    assert not (tmp_path / "b").exists()  # nothing was built


# -- report parsing -------------------------------------------------------------------------


def test_parse_report() -> None:
    report = {
        "fmax": {
            "$glbnet$cd_sync.clk": {"achieved": 103.456, "constraint": 100.0},
            "other": {"achieved": 50.0, "constraint": 25.0},
        },
        "utilization": {"TRELLIS_COMB": {"used": 10, "available": 20}},
    }
    fmax, constraint = parse_report(report)
    assert fmax == {"cd_sync.clk": 103.46, "other": 50.0}
    assert constraint == {"cd_sync.clk": 100.0, "other": 25.0}
    netlist = {"modules": {"top": {"cells": {"a": {"type": "SB_DFF"}, "b": {"type": "SB_DFF"},
                                             "c": {"type": "SB_LUT4"}}}}}  # fmt: skip
    assert count_cells(netlist) == {"SB_DFF": 2, "SB_LUT4": 1}


def test_retarget_clock(tmp_path: Path) -> None:
    (tmp_path / "top.pcf").write_text("set_io a 1\nset_frequency clk12_0__io 12.0\n")
    _retarget_clock(tmp_path, "ice40", 40.0)
    assert "set_frequency clk12_0__io 40.0\n" in (tmp_path / "top.pcf").read_text()
    (tmp_path / "top.lpf").write_text('FREQUENCY PORT "clk25_0__io" 25000000.0 HZ;\n')
    _retarget_clock(tmp_path, "ecp5", 100.0)
    assert 'FREQUENCY PORT "clk25_0__io" 100000000.0 HZ;' in (tmp_path / "top.lpf").read_text()
    (tmp_path / "top.pcf").write_text("set_io a 1\n")
    with pytest.raises(BuildError, match="found 0"):
        _retarget_clock(tmp_path, "ice40", 40.0)


def test_markdown_table() -> None:
    rows = [
        {"board": "icebreaker", "granules": 4096, "tlb_entries": 0, "clock_mhz": 40.0,
         "luts": 100, "ffs": 50, "brams": 2, "fmax_mhz": 41.23, "target_met": True,
         "timing_met": True},
        {"board": "ulx3s-85f", "granules": 0, "tlb_entries": 16, "clock_mhz": 100.0,
         "error": "nextpnr failed: does not fit (TRELLIS_COMB 9/8); log: /tmp/x"},
    ]  # fmt: skip
    table = markdown_table(rows)
    assert "| icebreaker | 4096 | - | 100 | 50 | 2 | 41.2 | 40 | yes | yes |" in table
    assert "| does not fit (TRELLIS_COMB 9/8) |" in table and "/tmp/x" not in table


# -- real builds ----------------------------------------------------------------------------


def _check_build(
    board: str, args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> dict[str, Any]:
    status = main(["build", "--board", board, *args, "--build-dir", str(tmp_path), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert status == 0
    assert out["board"] == board
    assert Path(out["bitstream"]).stat().st_size > 10_000
    assert out["timing_met"] is True
    assert out["luts"] > 100 and out["ffs"] > 100
    assert all(mhz > out["board_clock_mhz"] for mhz in out["fmax_mhz"].values())
    assert set(out) >= {"board", "bitstream", "fmax_mhz", "utilization", "timing_met"}
    result: dict[str, Any] = out
    return result


def test_build_icebreaker(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An iCEBreaker bitstream in CI: the MMU with 4 entries and the SPRAM page-table memory
    (the allocator's iCE40 build takes several minutes; it is the slow test below)."""
    out = _check_build("icebreaker", ["--granules", "0", "--tlb-entries", "4"], tmp_path, capsys)
    assert out["config"]["tlb_entries"] == 4
    # the state machines were re-encoded one-hot (SYNTH_PREPARE), the bridge's among them
    assert "using `one-hot' encoding" in (tmp_path / "top.rpt").read_text()
    assert out["utilization"]["ICESTORM_SPRAM"]["used"] == 2
    assert out["utilization"]["ICESTORM_LC"]["used"] <= 5280


@pytest.mark.slow
def test_build_icebreaker_default(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The iCEBreaker at its default sizes (the allocator with 4096 granules, fan-out 2)."""
    out = _check_build("icebreaker", [], tmp_path, capsys)
    assert out["config"]["granules"] == BOARDS["icebreaker"].defaults.granules
    assert out["brams"] >= 1


@pytest.mark.slow
@pytest.mark.parametrize("board", ["ulx3s-85f", "orangecrab-85f"])
def test_build_ecp5_defaults(
    board: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The ECP5 boards at their default sizes (65536 granules, 16 TLB entries)."""
    out = _check_build(board, [], tmp_path, capsys)
    assert "TRELLIS_COMB" in out["utilization"]
    assert out["config"]["granules"] == 65536 and out["config"]["tlb_entries"] == 16


def test_plot_needs_matplotlib(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without matplotlib the plot fails with a clear message; with it, a PNG is written."""
    import sys

    from mmaccel.boards.sweep import plot_sweep
    from mmaccel.sw.errors import MemoryManagerError

    rows = [
        {"board": "icebreaker", "granules": g, "tlb_entries": t, "fmax_mhz": f, "luts": n}
        for g, t, f, n in ((1024, 0, 50.0, 900), (4096, 0, 40.0, 2000), (0, 8, 30.0, 2500))
    ]
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "matplotlib", None)
        with pytest.raises(MemoryManagerError, match="pip install matplotlib"):
            plot_sweep(rows, tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()
    pytest.importorskip("matplotlib", reason="matplotlib (the plot extra) is not installed")
    plot_sweep(rows, tmp_path / "sweep.png")
    assert (tmp_path / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_selftest_cli_without_board(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    port = str(tmp_path / "ttyNOPE")
    assert main(["hw", "selftest", "--port", port]) == 1
    assert f"cannot open serial port {port!r}" in capsys.readouterr().err


def test_sweep_writes_and_merges(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The sweep's bookkeeping, with the builds replaced by a stand-in (real builds are slow)."""
    from mmaccel.boards import build as build_module
    from mmaccel.boards.build import BuildResult
    from mmaccel.boards.sweep import run_sweep

    def fake_build(target, config, *, build_dir, progress, clock_mhz):  # type: ignore[no-untyped-def]
        if config.granules == 4096 and config.tlb_entries:
            raise BuildError("place and route failed: no BELs remaining")
        return BuildResult(
            board=target.name, config={"granules": config.granules}, bitstream="x",
            build_dir=str(build_dir), fmax_mhz={"clk": 10.0 + config.granules / 1024},
            constraint_mhz={"clk": clock_mhz}, board_clock_mhz=12.0, timing_met=True,
            utilization={}, luts=100 + config.granules, ffs=10, brams=1,
        )  # fmt: skip

    monkeypatch.setattr(build_module, "build_board", fake_build)
    ice = get_board("icebreaker")
    rows = run_sweep([ice], [0, 4096], [0, 8], out_dir=tmp_path, build_root=tmp_path, plot=False)
    assert [(r["granules"], r["tlb_entries"]) for r in rows] == [(0, 8), (4096, 0), (4096, 8)]
    assert "error" in rows[2] and rows[1]["luts"] == 4196 and rows[1]["clock_mhz"] == 40.0
    assert rows[1]["target_met"] is False  # 14 MHz against 40
    # a second sweep of another point keeps the first ones
    run_sweep([ice], [1024], [0], out_dir=tmp_path, build_root=tmp_path, plot=False)
    saved = json.loads((tmp_path / "boards-sweep.json").read_text())
    assert len(saved) == 4
    assert "| icebreaker | 1024 | - | 1124 |" in (tmp_path / "boards-sweep.md").read_text()
    with pytest.raises(InvalidArgument):
        run_sweep([ice], [], [0], out_dir=tmp_path, build_root=tmp_path, plot=False)


def test_fmax_out_of_context(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``mmaccel fmax``: the MMU with 4 entries placed and routed alone on the iCE40 (~15 s)."""
    folder = tmp_path / "ooc"
    assert main(["fmax", "mmu", "--device", "ice40", "--entries", "4", "--json",
                 "--folder", str(folder)]) == 0  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert out["block"] == "mmu" and out["entries"] == 4 and out["device"] == "ice40"
    assert out["fmax_mhz"] > 10
    assert 500 < out["utilization"]["ICESTORM_LC"] < 5280
    assert (folder / "report.json").exists()
    assert out["timing_met"] == (out["fmax_mhz"] >= out["constraint_mhz"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["fmax", "gfa", "--device", "ice40", "--granules", "70000"], "granules must be in"),
        (["fmax", "gfa", "--device", "ice40", "--fanout", "3"], "fanout must be 2, 4, 8 or 16"),
    ],
)
def test_fmax_rejects_bad_sizes(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad size is a usage error, reported before any tool starts."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("mmaccel fmax: error: ") and message in err
    assert "[fmax]" not in err


def test_fmax_fanout_defaults_to_the_family() -> None:
    from mmaccel.boards.ooc import DEFAULT_FANOUT
    from mmaccel.boards.targets import get_board

    assert DEFAULT_FANOUT["ice40"] == get_board("icebreaker").config().gfa_fanout == 2
    assert DEFAULT_FANOUT["ecp5"] == get_board("ulx3s-85f").config().gfa_fanout == 4
