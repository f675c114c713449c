"""Histories for the plots: the model stepped through a golden trace or a seeded random churn.

A granule history (:class:`GranHistory`) keeps, after every operation, the free granules, the
longest free run and the number of free runs, plus full snapshots (free map and live runs) at
the steps asked for. A heap history (:class:`HeapHistory`) keeps ``mallinfo()`` after every
operation. Golden traces are replayed by :mod:`mmaccel.sw.trace`'s own replayers (the same code
as ``mmaccel model replay``), recorded after each line; their mismatch count is kept.
"""

from __future__ import annotations

import random
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from mmaccel.sw.errors import InvalidArgument, TraceFormatError
from mmaccel.sw.gran import GranuleAllocator
from mmaccel.sw.heap import MallInfo
from mmaccel.sw.trace import _GranReplayer, _HeapReplayer, detect_format

__all__ = [
    "GranHistory",
    "GranOp",
    "HeapHistory",
    "Run",
    "Snapshot",
    "churn",
    "frame_steps",
    "free_runs",
    "read_trace",
    "replay_gran",
    "replay_heap",
]

#: Heap start of the churn's model (granule aligned; the plots show granule indices).
CHURN_BASE = 0x1000_0000


@dataclass(frozen=True, slots=True)
class Run:
    """One live allocation: its serial number (order of allocation), first granule, length."""

    serial: int
    index: int
    count: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The allocator after ``step`` operations: free map (bit k = granule k free) and runs."""

    step: int
    free_map: int
    runs: tuple[Run, ...]


@dataclass(frozen=True, slots=True)
class GranOp:
    """One operation of a granule history: ``alloc`` of ``count`` granules (``index`` is the
    model's answer, -1 for none) or ``free`` of ``count`` granules at ``index``."""

    kind: str
    count: int
    index: int


@dataclass
class GranHistory:
    """A granule allocator over a sequence of operations (see the module docstring)."""

    name: str
    ngranules: int
    log2gran: int
    ops: list[GranOp] = field(default_factory=list)
    nfree: list[int] = field(default_factory=list)
    mxfree: list[int] = field(default_factory=list)
    nruns: list[int] = field(default_factory=list)
    snapshots: list[Snapshot] = field(default_factory=list)
    mismatches: int = 0

    @property
    def steps(self) -> int:
        """Operations made."""
        return len(self.ops)


@dataclass
class HeapHistory:
    """``mallinfo()`` of the model heap after each operation of a heap trace."""

    name: str
    info: list[MallInfo] = field(default_factory=list)
    mismatches: int = 0


def free_runs(free_map: int) -> int:
    """Number of maximal runs of set bits in ``free_map``."""
    return (free_map & ~(free_map << 1)).bit_count()


def frame_steps(total: int, frames: int) -> list[int]:
    """``frames`` steps spread evenly over ``1..total`` operations, the last one included.

    Raises
    ------
    InvalidArgument
        ``frames`` is below 1.
    """
    if frames < 1:
        raise InvalidArgument(f"frames must be at least 1, not {frames}")
    if total <= 0:
        return [0]
    return sorted({max(1, round(k * total / frames)) for k in range(1, frames + 1)})


class _Recorder:
    """Follows a :class:`GranuleAllocator` as operations are made, for a :class:`GranHistory`."""

    def __init__(self, history: GranHistory, keep: Collection[int]) -> None:
        self.history = history
        self.keep = set(keep)
        self.live: dict[str, Run] = {}
        self.serial = 0

    def record(self, gran: GranuleAllocator) -> None:
        h = self.history
        free = gran.free_map
        h.nfree.append(free.bit_count())
        h.mxfree.append(gran.longest_free_run())
        h.nruns.append(free_runs(free))
        if h.steps in self.keep:
            runs = tuple(sorted(self.live.values(), key=lambda r: r.index))
            used = 0
            for r in runs:
                used |= ((1 << r.count) - 1) << r.index
            if used != ((1 << gran.ngranules) - 1) & ~free:
                raise AssertionError(f"step {h.steps}: the live runs do not cover the used map")
            h.snapshots.append(Snapshot(h.steps, free, runs))

    def alloc(self, gran: GranuleAllocator, block: str, count: int, index: int | None) -> None:
        self.history.ops.append(GranOp("alloc", count, -1 if index is None else index))
        if index is not None:
            self.live[block] = Run(self.serial, index, count)
            self.serial += 1
        self.record(gran)

    def free(self, gran: GranuleAllocator, block: str) -> None:
        run = self.live.pop(block, None)
        if run is not None:
            self.history.ops.append(GranOp("free", run.count, run.index))
            self.record(gran)


class _GranTrace(_GranReplayer):
    """The trace module's granule replayer, recording after every operation line."""

    def __init__(self, name: str, lines: list[str], recorder: _Recorder) -> None:
        super().__init__(name, lines, check=False)
        self.recorder = recorder
        self.gran: GranuleAllocator | None = None

    def step(self, gran: GranuleAllocator, line: str) -> None:
        if self.gran is None:
            self.gran = gran
            h = self.recorder.history
            h.ngranules, h.log2gran = gran.ngranules, gran.log2gran
            self.recorder.record(gran)
        parts = line.split()
        super().step(gran, line)
        if parts[0] == "a":
            pos = self.blocks[parts[1]][0]
            self.recorder.alloc(gran, parts[1], int(parts[2]), None if pos < 0 else pos)
        elif parts[0] == "f":
            self.recorder.free(gran, parts[1])


def read_trace(path: str | Path) -> tuple[str, list[str]]:
    """The format (``gran``, ``heap`` or ``heaptest``) and lines of a golden trace.

    Raises
    ------
    TraceFormatError
        The file cannot be read, is empty or is not a known trace format.
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise TraceFormatError(f"{path}: cannot read trace: {error}") from None
    if not lines:
        raise TraceFormatError(f"{path}: empty trace")
    return detect_format(lines[0], str(path)), lines


def _op_count(lines: list[str]) -> int:
    """Operation lines that change the map (``f ID skip`` frees nothing)."""
    count = 0
    for line in lines:
        parts = line.split()
        if parts[:1] == ["a"] or (parts[:1] == ["f"] and parts[-1] != "skip"):
            count += 1
    return count


def replay_gran(path: str | Path, *, frames: int = 1) -> GranHistory:
    """Replay a ``gran_*`` golden trace on the model; ``frames`` snapshots (the last at the end).

    Raises
    ------
    TraceFormatError
        Not a readable granule trace.
    """
    fmt, lines = read_trace(path)
    if fmt != "gran":
        raise TraceFormatError(f"{path}: a {fmt} trace; this needs a granule (gran_*) trace")
    history = GranHistory(Path(path).name, 0, 0)
    recorder = _Recorder(history, frame_steps(_op_count(lines), frames))
    replayer = _GranTrace(str(path), lines, recorder)
    replayer.run()
    history.mismatches = len(replayer.mismatches)
    if replayer.gran is None:
        raise TraceFormatError(f"{path}: no operations")
    return history


def churn(
    granules: int,
    ops: int,
    seed: int,
    *,
    log2gran: int = 12,
    occupancy: float = 0.75,
    frames: int = 1,
) -> GranHistory:
    """A seeded random churn on the model (``nuttx_quirks=False``, the hardware's contract).

    Allocations of 1..32 granules (one in twenty up to an eighth of the heap) are made until
    ``occupancy`` of the heap is in use; past it, and at random three times in ten, a random
    live block is freed whole. Allocations that find no run stay in the history (index -1).

    Raises
    ------
    InvalidArgument
        ``granules``, ``ops`` or ``occupancy`` out of range (the model checks the heap).
    """
    if ops < 1:
        raise InvalidArgument(f"ops must be at least 1, not {ops}")
    if not 0.0 < occupancy <= 1.0:
        raise InvalidArgument(f"occupancy must be in (0, 1], not {occupancy}")
    if granules < 1:
        raise InvalidArgument(f"granules must be at least 1, not {granules}")
    gran = GranuleAllocator(CHURN_BASE, granules << log2gran, log2gran)
    history = GranHistory(f"churn of {granules} granules, seed {seed}", granules, log2gran)
    recorder = _Recorder(history, frame_steps(ops, frames))
    recorder.record(gran)
    rng = random.Random(seed)
    for i in range(ops):
        used = granules - gran.nfree
        if recorder.live and (used >= occupancy * granules or rng.random() < 0.3):
            block = rng.choice(sorted(recorder.live, key=int))
            run = recorder.live[block]
            gran.free_granules(run.index, run.count)
            recorder.free(gran, block)
            continue
        if rng.random() < 0.05:
            count = rng.randint(1, max(1, granules // 8))
        else:
            count = rng.randint(1, min(32, granules))
        recorder.alloc(gran, str(i), count, gran.alloc_granules(count))
    return history


class _HeapTrace(_HeapReplayer):
    """The trace module's heap replayer, recording ``mallinfo()`` after every operation."""

    def __init__(self, name: str, lines: list[str], heaptest: bool, history: HeapHistory) -> None:
        super().__init__(name, lines, heaptest=heaptest, check=False, quirks=True)
        self.history = history

    def step(self, line: str) -> None:
        before = self.operations
        super().step(line)
        if self.heap is not None and (self.operations != before or not self.history.info):
            self.history.info.append(self.heap.mallinfo())


def replay_heap(path: str | Path) -> HeapHistory:
    """Replay a ``heap_*`` or ``heaptest_*`` golden trace on the model (NuttX 10.2.0 quirks on,
    as ``mmaccel model replay``): ``mallinfo()`` at the start and after every operation.

    Raises
    ------
    TraceFormatError
        Not a readable heap trace.
    """
    fmt, lines = read_trace(path)
    if fmt == "gran":
        raise TraceFormatError(f"{path}: a granule trace; this needs a heap trace")
    history = HeapHistory(Path(path).name)
    replayer = _HeapTrace(str(path), lines, fmt == "heaptest", history)
    replayer.run()
    history.mismatches = len(replayer.mismatches)
    if not history.info:
        raise TraceFormatError(f"{path}: no operations")
    return history
