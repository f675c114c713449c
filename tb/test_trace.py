"""Golden-trace replay: every NuttX 10.2.0 trace replays with no mismatch; altered ones fail."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mmaccel.cli import main
from mmaccel.sw import TraceFormatError, replay
from mmaccel.sw.trace import GOLDEN_DIR, detect_format, replay_lines

GOLDEN = GOLDEN_DIR
TRACES = sorted(GOLDEN.glob("*.txt"))
OP_WORDS = {"malloc", "zalloc", "memalign", "realloc", "free", "malloc_size", "a", "f"}
STAT_WORDS = {"info", "mi", "i"}


def _count(path: Path) -> tuple[int, int]:
    """Operation and statistics lines of a trace, counted independently of the replayer."""
    ops = stats = 0
    for line in path.read_text().splitlines():
        words = line.split()
        if not words or line.endswith("SKIP"):
            continue
        if words[0] in OP_WORDS:
            ops += 1
        elif words[0] in STAT_WORDS:
            stats += 1
    return ops, stats


def test_all_golden_traces_present() -> None:
    names = {p.name for p in TRACES}
    assert len(names) == 7
    assert {n.split("_")[0] for n in names} == {"gran", "heap", "heaptest"}


@pytest.mark.parametrize("path", TRACES, ids=[p.stem for p in TRACES])
def test_golden_trace_replays_exactly(path: Path) -> None:
    result = replay(path, check=True)  # heap traces also run Heap.check() after every line
    assert result.first_mismatch is None, result.first_mismatch.format()
    assert result.mismatches == 0 and result.ok
    ops, stats = _count(path)
    assert (result.operations, result.checks) == (ops, stats)
    assert ops > 100 and stats > 100
    assert result.format == path.name.split("_")[0]


def _altered(path: Path, pattern: str, repl: str, nth: int) -> tuple[list[str], int]:
    """The trace with the ``nth`` line matching ``pattern`` rewritten; and that line's number."""
    lines = path.read_text().splitlines()
    hits = [i for i, line in enumerate(lines) if re.search(pattern, line)]
    i = hits[nth]
    changed = re.sub(pattern, repl, lines[i])
    assert changed != lines[i]
    lines[i] = changed
    return lines, i + 1


@pytest.mark.parametrize(
    ("name", "pattern", "repl"),
    [
        ("heap_p4_large_128k_shared.txt", r"-> (\d+)$", r"-> 1\1"),  # a result address
        ("heap_p4_small_16k_shared.txt", r"fordblks=(\d+)", r"fordblks=9\1"),  # a mallinfo
        ("heaptest_p8_large_256k.txt", r"mxordblk=(\d+)", r"mxordblk=1\1"),
        ("heaptest_p4_large_1024k.txt", r"^(malloc j=\d+ size=\d+ -> )(\d+)", r"\g<1>16"),
        ("gran_n256_shared.txt", r"-> (\d+)$", r"-> 9\1"),
        ("gran_n256_shared.txt", r"nfree=(\d+)", r"nfree=1\1"),
    ],
)
def test_altered_trace_reports_the_line(name: str, pattern: str, repl: str) -> None:
    lines, lineno = _altered(GOLDEN / name, pattern, repl, 7)
    result = replay_lines(lines, name)
    assert not result.ok and result.mismatches >= 1
    first = result.first_mismatch
    assert first is not None
    assert first.line == lineno and first.text == lines[lineno - 1]
    assert "trace has" in first.message
    numbers = [n for n, _ in first.context]
    assert numbers == list(range(lineno - 3, lineno + 4))
    assert ">" in first.format().splitlines()[4]  # the marked line is in the middle


def test_altered_free_address_is_a_mismatch() -> None:
    lines, lineno = _altered(GOLDEN / "heap_p4_large_128k_shared.txt", r"\((\d+)\)$", r"(8\1)", 3)
    result = replay_lines(lines, "x")
    assert result.first_mismatch is not None and result.first_mismatch.line == lineno
    assert "address of block" in result.first_mismatch.message


def test_heaptest_p8_differs_without_quirks_only_at_the_misaligned_memalign() -> None:
    path = GOLDEN / "heaptest_p8_large_256k.txt"
    result = replay(path, nuttx_quirks=False)
    assert not result.ok
    first = result.first_mismatch
    assert first is not None
    assert first.text.startswith("memalign j=11 align=32 size=12 -> 688")
    assert "HEAPTEST-ERROR misaligned" in first.format()
    # the 4-byte-pointer heaptest traces have no misaligned result: the default matches them
    assert replay(GOLDEN / "heaptest_p4_large_256k.txt", nuttx_quirks=False).ok


def test_format_errors(tmp_path: Path) -> None:
    with pytest.raises(TraceFormatError, match="cannot read"):
        replay(tmp_path / "missing.txt")
    bad = tmp_path / "notes.txt"
    bad.write_text("# just notes\nhello\n")
    with pytest.raises(TraceFormatError, match="unknown trace format"):
        replay(bad)
    with pytest.raises(TraceFormatError, match="empty"):
        replay_lines([], "e")
    binary = tmp_path / "heap_bin.txt"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(TraceFormatError, match="cannot read"):
        replay(binary)
    head = (GOLDEN / "heap_p4_large_128k_shared.txt").read_text().splitlines()[:3]
    with pytest.raises(TraceFormatError, match="unknown operation 'mallox'"):
        replay_lines([*head, "mallox id=1 size=3 -> 352"], "m")
    with pytest.raises(TraceFormatError, match="malformed"):
        replay_lines([*head, "malloc id=1 size=zz -> 352"], "m")
    with pytest.raises(TraceFormatError, match="before the region"):
        replay_lines([head[0], "malloc id=1 size=3 -> 352"], "m")


def test_detect_format() -> None:
    assert detect_format("# golden trace: NuttX 10.2.0 mm_gran compiled") == "gran"
    assert detect_format("# ... heaptest sequence ... mm_heap") == "heaptest"
    assert detect_format("# NuttX 10.2.0 mm_heap compiled") == "heap"
    assert detect_format("x", "dir/heaptest_p9.txt") == "heaptest"
    with pytest.raises(TraceFormatError):
        detect_format("# nothing", "foo.txt")


def test_cli_replay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = [str(p) for p in TRACES]
    assert main(["model", "replay", *paths]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(paths) + 1
    total = 0
    for path, line in zip(paths, out[:-1], strict=True):
        ops, _ = _count(Path(path))
        total += ops
        assert line == f"{path}: {ops} operations, 0 mismatches"
    assert out[-1].startswith(f"total: {len(paths)} traces, {total} operations, ")
    assert out[-1].endswith(" checks, 0 mismatches")

    lines, lineno = _altered(GOLDEN / "gran_n256_shared.txt", r"-> (\d+)$", r"-> 9\1", 2)
    altered = tmp_path / "gran_altered.txt"
    altered.write_text("\n".join(lines) + "\n")
    assert main(["model", "replay", str(altered)]) == 1
    text = capsys.readouterr().out
    assert f"first at line {lineno}:" in text and lines[lineno - 1] in text

    unknown = tmp_path / "other.txt"
    unknown.write_text("hello\n")
    assert main(["model", "replay", str(unknown), paths[0]]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("mmaccel model replay: error: ")
    assert "unknown trace format" in captured.err
    assert "0 mismatches" in captured.out  # the good file still ran
    assert captured.out.splitlines()[-1].endswith("0 mismatches, 1 unreadable")


def test_model_errors_are_mismatches_not_crashes() -> None:
    head = (GOLDEN / "heap_p4_large_128k_shared.txt").read_text().splitlines()[:3]
    result = replay_lines([*head, "malloc id=1 size=-1 -> -1", "malloc id=2 size=8 -> 352"], "x")
    assert result.mismatches == 1 and result.operations == 2
    assert result.first_mismatch is not None
    assert "InvalidArgument" in result.first_mismatch.message and result.first_mismatch.line == 4
    gran = (GOLDEN / "gran_n256_shared.txt").read_text().splitlines()[:1]
    result = replay_lines([*gran, "a 1 0 -> -1", "a 2 1 -> 0", "f 2 @0"], "g")
    assert result.mismatches == 1 and result.operations == 3
    with pytest.raises(TraceFormatError, match="unknown line"):
        replay_lines([*gran, "q 1 2"], "g")
    with pytest.raises(TraceFormatError, match="ngranules"):
        replay_lines(["# golden trace: mm_gran"], "g")


def test_heaptest_verdicts_are_checked() -> None:
    path = GOLDEN / "heaptest_p4_large_256k.txt"
    lines = path.read_text().splitlines()
    i = lines.index("  HEAPTEST-ERROR")  # follows a realloc that returned NULL
    assert lines[i - 1].endswith("-> -1")
    moved = [*lines[:i], *lines[i + 1 :]]
    assert moved[4].startswith("malloc j=20") and not moved[4].endswith("-1")
    moved.insert(5, "  HEAPTEST-ERROR")  # now after a malloc that succeeded
    result = replay_lines(moved, path.name)
    assert result.mismatches == 1 and result.first_mismatch is not None
    assert "unexpected NULL" in result.first_mismatch.message
    p8 = (GOLDEN / "heaptest_p8_large_256k.txt").read_text().splitlines()
    p8.insert(5, "  HEAPTEST-ERROR misaligned")  # after a malloc, not a misaligned memalign
    result = replay_lines(p8, "heaptest_p8")
    assert result.mismatches == 1 and result.first_mismatch is not None
    assert result.first_mismatch.line == 6 and "misaligned" in result.first_mismatch.message


@pytest.mark.parametrize("path", [p for p in TRACES if p.name.startswith("heap")], ids=str)
def test_build_constants_match_golden_headers(path: Path) -> None:
    from mmaccel.sw import Heap, PhysicalMemory

    head = path.read_text().splitlines()[:2]
    pointer_size = int(re.findall(r"pointer size (\d+)", head[0])[0])
    heap = Heap(
        PhysicalMemory(1 << 16), 0, 1 << 15, pointer_size=pointer_size, small="small" in head[0]
    )
    consts = dict(re.findall(r"(\w+)=(\d+)", head[1]))
    ours = {
        "MM_MIN_SHIFT": heap.min_shift,
        "MM_MIN_CHUNK": heap.min_chunk,
        "MM_MAX_SHIFT": heap.max_shift,
        "MM_NNODES": heap.nnodes,
        "SIZEOF_MM_ALLOCNODE": heap.allocnode,
        "SIZEOF_MM_FREENODE": heap.freenode,
    }
    shared = set(consts) & set(ours)
    assert {"MM_MIN_CHUNK", "SIZEOF_MM_ALLOCNODE"} <= shared
    for key in shared:
        assert ours[key] == int(consts[key]), key


def test_cli_exits_quietly_on_a_closed_pipe() -> None:
    # `mmaccel model replay ... | head -1`: the reader is gone before the first line is written
    # (deterministic: the pipe's read end is closed before the command starts).
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "mmaccel.cli", "model", "replay", *map(str, TRACES[:2])],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ, "PYTHONUNBUFFERED": ""},  # block-buffered stdout, as by default
        )
    finally:
        os.close(write_end)
    assert proc.stderr == ""  # no BrokenPipeError traceback, no "Exception ignored" at exit
    assert proc.returncode == 141  # 128 + SIGPIPE, what the shell reports for `cat | head`


@pytest.mark.parametrize("name", ["gran_n256_shared.txt", "heaptest_p4_large_256k.txt"])
def test_failed_model_check_is_a_mismatch(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from mmaccel.sw import GranuleAllocator, Heap, HeapCorruption

    lines = (GOLDEN / name).read_text().splitlines()
    calls = 0

    def failing_check(self: object) -> None:
        nonlocal calls
        calls += 1
        if calls == 5:
            raise (AssertionError if name.startswith("gran") else HeapCorruption)("broken")

    monkeypatch.setattr(
        GranuleAllocator if name.startswith("gran") else Heap, "check", failing_check
    )
    assert replay_lines(lines, name).ok and calls == 0  # check() runs only with check=True
    result = replay_lines(lines, name, check=True)
    assert result.mismatches == 1 and result.first_mismatch is not None
    assert "broken" in result.first_mismatch.message
    assert calls >= result.operations + result.checks  # after every line, not only the first
