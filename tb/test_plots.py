"""``mmaccel plot``: every plot command on a small case writes a valid PNG of the size its
figure asks for (or valid SVG / GIF), bad input is a usage error, and the pictures' data agree
with the model."""

from __future__ import annotations

import json
import struct
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from mmaccel.cli import main

pytest.importorskip("matplotlib", reason="matplotlib (the plot extra) is not installed")

from mmaccel.boards.sweep import SWEEP_DPI, SWEEP_FIGSIZE
from mmaccel.plots.allocmap import (
    MAP_FIGSIZE,
    MISMATCH_RGB,
    frames_figsize,
    grid_columns,
    map_rgb,
)
from mmaccel.plots.figure import DPI, FREE_RGB, run_rgb
from mmaccel.plots.frag import FRAG_FIGSIZE
from mmaccel.plots.latency import LATENCY_FIGSIZE
from mmaccel.plots.replay import churn, frame_steps, replay_gran, replay_heap
from mmaccel.sw.gran import GranuleAllocator
from mmaccel.sw.trace import GOLDEN_DIR

GOLDEN = GOLDEN_DIR
GRAN_TRACE = GOLDEN / "gran_n256_shared.txt"
HEAP_TRACE = GOLDEN / "heap_p4_small_16k_shared.txt"
SWEEP_JSON = Path(__file__).parent.parent / "docs" / "boards-sweep.json"

#: The output of `mmaccel bench gfa --granules 256 --ops 500 --json` (2026-12-06).
BENCH = {
    "mode": "batch",
    "granules": 256,
    "fanout": 4,
    "ops": 500,
    "mismatches": 0,
    "first_mismatch": "",
    "map_checks": 10,
    "alloc_cycles": {"mean": 19.48, "p99": 26, "max": 26},
    "free_cycles": {"mean": 20.86, "p99": 23, "max": 29},
    "alloc_upto32_cycles": {"mean": 20.28, "p99": 26, "max": 26},
    "free_upto32_cycles": {"mean": 20.78, "p99": 23, "max": 23},
    "other_cycles": {"mean": 0.0, "p99": 0, "max": 0},
    "occupancy_min": 0.0,
    "occupancy_max": 0.93,
    "alloc_free_upto32_max_by_occupancy": {
        f"{10 * k}-{10 * k + 10}%": 26 if k < 9 else 20 for k in range(10)
    },
    "issue_interval_cycles": {"mean": 21.22, "max": 30},
    "seconds": 0.171,
    "wall_seconds": 56.0,
}


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR, after checking the signature and chunk name."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    length, name = struct.unpack(">I4s", data[8:16])
    assert name == b"IHDR" and length == 13
    width, height = struct.unpack(">II", data[16:24])
    assert data[-8:-4] == b"IEND"
    return width, height


def pixels(figsize: tuple[float, float], dpi: int = DPI) -> tuple[int, int]:
    return round(figsize[0] * dpi), round(figsize[1] * dpi)


def assert_svg(path: Path) -> None:
    root = ET.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg", root.tag


def plot(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``mmaccel plot ARGS``: exit status, standard output, standard error."""
    try:
        status = main(["plot", *args])
    except SystemExit as exit:  # argparse's own errors
        status = int(exit.code or 0)
    out = capsys.readouterr()
    return status, out.out, out.err


# -- the commands, one small case each ----------------------------------------------------------


def test_map_of_a_golden_trace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "map.png"
    status, text, err = plot(["map", str(GRAN_TRACE), "-o", str(out)], capsys)
    assert status == 0, err
    assert png_size(out) == pixels(MAP_FIGSIZE)
    assert "256 granules" in text


def test_map_of_a_churn_as_svg(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "map.svg"
    status, _, err = plot(["map", "--granules", "4096", "--ops", "1500", "-o", str(out)], capsys)
    assert status == 0, err
    assert_svg(out)
    fmt = tmp_path / "churn"
    status, _, err = plot(["map", "--ops", "300", "--format", "svg", "-o", str(fmt)], capsys)
    assert status == 0, err
    assert_svg(fmt)


def test_map_frames_strip_and_gif(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    strip = tmp_path / "strip.png"
    status, _, err = plot(["map", str(GRAN_TRACE), "--frames", "6", "-o", str(strip)], capsys)
    assert status == 0, err
    assert png_size(strip) == pixels(frames_figsize(6))
    gif = tmp_path / "anim.gif"
    status, text, err = plot(["map", "--ops", "400", "--frames", "3", "-o", str(gif)], capsys)
    assert status == 0, err
    from PIL import Image

    with Image.open(gif) as image:
        assert image.format == "GIF"
        assert image.size == pixels(MAP_FIGSIZE)
        assert getattr(image, "n_frames", 1) == 3
    assert "3 frames" in text


@pytest.mark.parametrize("trace", [GRAN_TRACE, HEAP_TRACE, GOLDEN / "heaptest_p4_large_256k.txt"])
def test_frag(trace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "frag.png"
    status, _, err = plot(["frag", str(trace), "-o", str(out)], capsys)
    assert status == 0, err
    assert png_size(out) == pixels(FRAG_FIGSIZE)


def test_frag_of_a_churn_default_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    status, _, err = plot(["frag", "--ops", "500", "--format", "svg"], capsys)
    assert status == 0, err
    assert_svg(tmp_path / "frag.svg")


def test_latency(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "gfa.json"
    data.write_text(json.dumps(BENCH))
    out = tmp_path / "latency.png"
    status, _, err = plot(["latency", str(data), "-o", str(out)], capsys)
    assert status == 0, err
    assert png_size(out) == pixels(LATENCY_FIGSIZE)
    # With per-cycle counts the left panel is a histogram.
    data.write_text(json.dumps({**BENCH, "histograms": {"alloc": {"19": 40, "26": 3}}}))
    status, _, err = plot(["latency", str(data), "-o", str(tmp_path / "h.svg")], capsys)
    assert status == 0, err
    assert_svg(tmp_path / "h.svg")


def test_sweep(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sweep.png"
    status, text, err = plot(["sweep", str(SWEEP_JSON), "-o", str(out)], capsys)
    assert status == 0, err
    assert png_size(out) == pixels(SWEEP_FIGSIZE, SWEEP_DPI)
    assert "15 builds" in text


# -- bad input ----------------------------------------------------------------------------------


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["latency", "/no/such/file.json"], "cannot read"),
        (["latency", "NOTJSON"], "is not JSON"),
        (["latency", "LIST"], "expected the JSON object"),
        (["latency", "OTHER"], "not a mmaccel bench gfa --json result"),
        (["sweep", "NOTJSON"], "is not JSON"),
        (["sweep", "OTHER"], "expected a list of sweep points"),
        (["map", "-o", "OUT.jpg"], "cannot tell the format"),
        (["map", "--format", "bmp"], "invalid choice"),
        (["frag", "--format", "gif"], "invalid choice"),
        (["map", str(HEAP_TRACE)], "needs a granule"),
        (["map", "/no/such/trace.txt"], "cannot read trace"),
        (["frag", "NOTJSON"], "unknown trace format"),
        (["map", "-o", "/no/such/folder/map.png"], "does not exist"),
        (["map", "--frames", "0"], "must be at least 1"),
        (["frag", "--occupancy", "1.5"], "must be in (0, 1]"),
    ],
)
def test_bad_input_is_a_usage_error(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {
        "NOTJSON": _write(tmp_path / "x.txt", "hello\n"),
        "LIST": _write(tmp_path / "l.json", "[1, 2]"),
        "OTHER": _write(tmp_path / "o.json", '{"granules": 4}'),
        "OUT.jpg": str(tmp_path / "out.jpg"),
    }
    args = [files.get(a, a) for a in args]
    if args[0] == "sweep" and args[1] == files["OTHER"]:
        args[1] = _write(tmp_path / "o2.json", "[{}]")
    status, _, err = plot(args, capsys)
    assert status == 2
    assert f"mmaccel plot {args[0]}: error: " in err, err
    assert message in err, err


def test_without_matplotlib(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    out = tmp_path / "map.png"
    status, _, err = plot(["map", "--ops", "50", "-o", str(out)], capsys)
    assert status == 2
    assert err.startswith("mmaccel plot map: error: unavailable: "), err
    assert "matplotlib" in err
    assert not out.exists()


# -- the data behind the pictures ---------------------------------------------------------------


def test_frame_steps() -> None:
    assert frame_steps(100, 1) == [100]
    assert frame_steps(100, 4) == [25, 50, 75, 100]
    assert frame_steps(3, 10) == [1, 2, 3]
    assert frame_steps(0, 3) == [0]


def test_gran_history_matches_the_trace_and_the_map() -> None:
    """The golden trace replays without a mismatch; the map's cells are the model's state."""
    history = replay_gran(GRAN_TRACE, frames=5)
    assert history.mismatches == 0
    assert [s.step for s in history.snapshots][-1] == history.steps
    assert len(history.nfree) == history.steps + 1  # the start and after every operation
    # The same operations on a fresh model give the same free map at the end.
    gran = GranuleAllocator(0x10000, 256 << 4, 4)
    for op in history.ops:
        if op.kind == "alloc":
            assert gran.alloc_granules(op.count) == (None if op.index < 0 else op.index)
        else:
            gran.free_granules(op.index, op.count)
    last = history.snapshots[-1]
    assert gran.free_map == last.free_map
    assert gran.nfree == history.nfree[-1] and gran.longest_free_run() == history.mxfree[-1]
    rgb, bad = map_rgb(history.ngranules, last)
    assert bad == 0
    cols = grid_columns(256)
    cells = rgb.reshape(-1, 3)
    for k in range(256):
        if gran.is_free(k):
            assert tuple(cells[k]) == FREE_RGB, k
    for run in last.runs:
        for k in range(run.index, run.index + run.count):
            assert tuple(cells[k]) == pytest.approx(run_rgb(run.serial)), k
    assert rgb.shape == (256 // cols, cols, 3)


def test_hardware_mismatch_is_drawn_red() -> None:
    history = churn(64, 200, 3)
    last = history.snapshots[-1]
    wrong = last.free_map ^ 0b1001  # two granules the "hardware" sees differently
    rgb, bad = map_rgb(64, last, hardware_free=wrong)
    assert bad == 2
    cells = rgb.reshape(-1, 3)
    assert tuple(cells[0]) == MISMATCH_RGB and tuple(cells[3]) == MISMATCH_RGB
    assert tuple(cells[1]) != MISMATCH_RGB


def test_churn_is_seeded() -> None:
    a, b, c = churn(256, 500, 7), churn(256, 500, 7), churn(256, 500, 8)
    assert a.ops == b.ops and a.snapshots == b.snapshots
    assert a.ops != c.ops
    assert max(256 - f for f in a.nfree) >= 0.75 * 256 * 0.8  # it gets near the occupancy


def test_heap_history_is_the_traces_mallinfo() -> None:
    """Every ``info`` line of the trace equals the recorded mallinfo after that operation."""
    history = replay_heap(HEAP_TRACE)
    assert history.mismatches == 0
    ops = 0
    compared = 0
    for line in HEAP_TRACE.read_text().splitlines():
        word = line.split()[0] if line.strip() else "#"
        if word in ("malloc", "zalloc", "memalign", "realloc", "free", "malloc_size"):
            ops += 1
        elif word == "info":  # mallinfo after ``ops`` operations: info[ops] (info[0]: start)
            want = dict(kv.split("=") for kv in line.split()[1:])
            got = history.info[ops]
            assert int(want["fordblks"]) == got.fordblks, line
            assert int(want["mxordblk"]) == got.mxordblk, line
            assert int(want["ordblks"]) == got.ordblks, line
            compared += 1
    assert len(history.info) == ops + 1
    assert compared > 700


def test_hardware_map_is_the_models(tmp_path: Path) -> None:
    """The gateware replays a churn and its table, read through the debug port at each frame,
    is the model's; the strip draws it. (1000 granules of 64 bytes at 0x40: the core that
    tb/test_gfa_cocotb.py builds, so the Verilator build is shared.)"""
    from mmaccel.plots.allocmap import draw_frames
    from mmaccel.plots.hwmap import hardware_tables, table_to_free_map

    assert table_to_free_map([0b101, 0xFFFF_FFFF], 40) == ((1 << 40) - 1) & ~(0xFF << 32 | 0b101)
    history = churn(1000, 600, 5, log2gran=6, frames=3)
    hardware = hardware_tables(history, base=0x40)
    assert sorted(hardware) == [s.step for s in history.snapshots] == [200, 400, 600]
    for snap in history.snapshots:
        assert hardware[snap.step] == snap.free_map, snap.step
        assert snap.free_map != (1 << 1000) - 1  # something is allocated
    out = tmp_path / "hw.png"
    draw_frames(history, out, "png", hardware=hardware)
    assert png_size(out) == pixels(frames_figsize(3))


def test_diagrams_are_the_committed_ones(tmp_path: Path) -> None:
    """docs/*-diagram.svg are what plots.diagrams writes (regenerate with
    ``python -m mmaccel.plots.diagrams docs``), valid SVG, and the walk drawn ends at the
    model's first fit."""
    from mmaccel.plots.diagrams import tree_example, write_diagrams

    docs = Path(__file__).parent.parent / "docs"
    for path in write_diagrams(tmp_path):
        assert_svg(path)
        assert path.read_text() == (docs / path.name).read_text(), f"{path.name} is stale"
    ex = tree_example()
    assert ex.gran.find_granules(ex.count) == ex.found
    assert all(ex.gran.is_free(k) for k in range(ex.found, ex.found + ex.count))
    leaf = ex.path[-1]
    assert leaf.start <= ex.found and ex.found + ex.count <= leaf.start + leaf.length
    assert [n.level for n in ex.path] == list(range(len(ex.levels) - 1, -1, -1))
    root = ex.levels[-1][0]
    assert root.max == ex.gran.longest_free_run()


def test_latency_marks_only_the_targeted_misses() -> None:
    """Only the kinds the target is for (<= 32 granules) are marked, and only over 48 cycles."""
    from mmaccel.plots.figure import pyplot
    from mmaccel.plots.latency import _stats_panel

    data = {
        **BENCH,
        "alloc_cycles": {"mean": 45, "p99": 66, "max": 134},  # large allocations: no target
        "alloc_upto32_cycles": {"mean": 40, "p99": 47, "max": 60},  # over the target
    }
    plt = pyplot()
    fig, ax = plt.subplots()
    try:
        _stats_panel(ax, data)
        hatched = sorted(
            (round(b.get_x() + b.get_width() / 2), b.get_height())
            for b in ax.patches
            if b.get_hatch()
        )
    finally:
        plt.close(fig)
    assert hatched == [(2, 60.0)]  # the max bar of "alloc <= 32" (third group) alone


def test_replay_on_an_allocator_with_the_models_methods() -> None:
    """replay_on (what --port does with the board's SerialGranuleAllocator) on a model
    allocator: the free maps are the snapshots; a wrong answer or size is an error."""
    from mmaccel.plots.hwmap import HardwareMapError, replay_on

    history = churn(128, 300, 2, frames=3)
    target = GranuleAllocator(0x1000_0000, 128 << 12, 12)
    target.alloc_granules(5)  # replay_on clears it first
    tables = replay_on(target, history)
    assert tables == {s.step: s.free_map for s in history.snapshots}

    class Faulty(GranuleAllocator):
        def alloc_granules(self, n: int, align: int = 1) -> int | None:
            got = super().alloc_granules(n, align)
            return None if got is not None and got > 64 else got

    with pytest.raises(HardwareMapError, match="answered none, the model"):
        replay_on(Faulty(0, 128 << 12, 12), history)
    with pytest.raises(HardwareMapError, match="manages 64 granules"):
        replay_on(GranuleAllocator(0, 64 << 12, 12), history)


def test_map_port_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "m.png")
    status, _, err = plot(["map", "--port", str(tmp_path / "ttyNONE"), "-o", out], capsys)
    assert status == 1
    assert err.startswith("mmaccel plot map: error: cannot open serial port"), err
    status, _, err = plot(["map", "--port", "x", "--hardware", "-o", out], capsys)
    assert status == 2 and "exclude each other" in err, err
