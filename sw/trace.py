"""Replay the golden NuttX traces (shipped in ``mmaccel/sw/golden/``, :data:`GOLDEN_DIR`) against
the model.

Three formats (see golden/README.md):

- ``heap_*``: the standard heap driven by a random operation stream (``id=`` names a block,
  ``info`` lines give mallinfo after each operation);
- ``heaptest_*``: nuttx-apps' heaptest sequence (``j=`` slots, ``mi`` lines, ``SKIP`` and
  ``HEAPTEST-ERROR`` lines);
- ``gran_*``: the granule allocator (``a``/``f``/``i`` lines).

The model is built with ``nuttx_quirks=True`` so that it reproduces 10.2.0 exactly. Each block
name maps to the address the *model* returned, so a trace line that names a block checks both
the trace's address for it and the model's next result. Replay goes on after a mismatch (with
the model's own addresses) and counts every mismatching line.

``mmaccel model replay TRACE...`` replays files with :func:`replay`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from .errors import MemoryManagerError, TraceFormatError
from .gran import GranuleAllocator
from .heap import Heap, MallInfo
from .memory import PhysicalMemory

__all__ = [
    "GOLDEN_DIR",
    "Mismatch",
    "ReplayResult",
    "detect_format",
    "golden_traces",
    "replay",
    "replay_lines",
]

#: The golden traces recorded from NuttX 10.2.0, installed with the package.
GOLDEN_DIR = Path(__file__).resolve().parent / "golden"


def golden_traces() -> list[Path]:
    """Every shipped golden trace (``heap_*``, ``heaptest_*``, ``gran_*``), sorted by name."""
    return sorted(GOLDEN_DIR.glob("*.txt"))


#: Lines of context shown on each side of a mismatch.
CONTEXT = 3


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One trace line where the model did not do what NuttX did.

    Attributes
    ----------
    line : int
        1-based line number in the trace.
    text : str
        The trace line.
    message : str
        What differed (expected vs got), or the error the model raised.
    context : tuple of (int, str)
        Numbered lines around ``line``.
    """

    line: int
    text: str
    message: str
    context: tuple[tuple[int, str], ...] = ()

    def format(self) -> str:
        """The mismatch and its context, one trace line per output line (``>`` marks it)."""
        out = [f"line {self.line}: {self.message}"]
        for n, t in self.context:
            out.append(f"{'>' if n == self.line else ' '} {n:6d}  {t}")
        return "\n".join(out)


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """The outcome of replaying one trace.

    Attributes
    ----------
    path : str
        The trace file (or a name given to :func:`replay_lines`).
    format : str
        ``"heap"``, ``"heaptest"`` or ``"gran"``.
    operations : int
        Operation lines executed (statistics lines not counted).
    checks : int
        Statistics lines (info / mi / i) compared.
    mismatches : int
        Lines where the model differed.
    first_mismatch : Mismatch or None
        The first of them, with context.
    """

    path: str
    format: str
    operations: int
    checks: int
    mismatches: int
    first_mismatch: Mismatch | None = None
    all_mismatches: tuple[Mismatch, ...] = field(default=(), repr=False)

    @property
    def ok(self) -> bool:
        """True when every line matched."""
        return self.mismatches == 0

    def summary(self) -> str:
        """``N operations, M mismatches`` (and the first mismatch with context)."""
        head = f"{self.operations} operations, {self.mismatches} mismatches"
        if self.first_mismatch is None:
            return head
        return f"{head}; first at {self.first_mismatch.format()}"


def detect_format(first_line: str, name: str = "") -> str:
    """The trace format named by a trace's first line (or, failing that, its file name).

    Raises
    ------
    TraceFormatError
        Neither says which format it is.
    """
    if first_line.startswith("#"):
        if "mm_gran" in first_line:
            return "gran"
        if "heaptest" in first_line:
            return "heaptest"
        if "mm_heap" in first_line:
            return "heap"
    base = Path(name).name
    for prefix in ("heaptest", "heap", "gran"):
        if base.startswith(prefix + "_"):
            return prefix
    raise TraceFormatError(
        f"{name or 'trace'}: unknown trace format (first line {first_line[:60]!r}); expected "
        "a heap_*, heaptest_* or gran_* golden trace"
    )


_KV = re.compile(r"(\w+)=(-?\w+)")


def _kv(text: str) -> dict[str, str]:
    return dict(_KV.findall(text))


def _addr(v: int | None) -> int:
    return -1 if v is None else v


class _Replayer:
    def __init__(self, name: str, lines: list[str], check: bool) -> None:
        self.name = name
        self.lines = lines
        self.check = check
        self.mismatches: list[Mismatch] = []
        self.operations = 0
        self.checks = 0
        self.lineno = 0

    def replay_lines(
        self,
        step: Callable[[str], None],
        check_model: Callable[[], None],
        ignore: Container[str] = (),
    ) -> None:
        """Run ``step`` on every line but blanks, comments and ``ignore``d lines.

        With ``self.check``, ``check_model`` runs after every line. An error of the model or a
        failed check is a mismatch (and replay goes on); a malformed line ends the replay with
        a TraceFormatError.
        """
        for lineno, raw in enumerate(self.lines, 1):
            self.lineno = lineno
            line = raw.strip()
            if not line or line.startswith("#") or line in ignore:
                continue
            try:
                step(line)
                if self.check:
                    check_model()
            except AssertionError as error:  # GranuleAllocator.check()
                self.mismatch(f"the model's check() failed: {error}")
            except TraceFormatError:
                raise
            except MemoryManagerError as error:
                self.mismatch(f"the model raised {type(error).__name__}: {error}")
            except (KeyError, ValueError, IndexError) as error:
                raise self.bad(f"malformed line ({error})") from None

    def mismatch(self, message: str) -> None:
        n = self.lineno
        lo, hi = max(1, n - CONTEXT), min(len(self.lines), n + CONTEXT)
        ctx = tuple((i, self.lines[i - 1]) for i in range(lo, hi + 1))
        self.mismatches.append(Mismatch(n, self.lines[n - 1], message, ctx))

    def expect(self, what: str, want: int, got: int) -> None:
        if want != got:
            self.mismatch(f"{what}: trace has {want}, model gives {got}")

    def bad(self, why: str) -> TraceFormatError:
        return TraceFormatError(
            f"{self.name}:{self.lineno}: {why}: {self.lines[self.lineno - 1]!r}"
        )


class _HeapReplayer(_Replayer):
    def __init__(
        self, name: str, lines: list[str], heaptest: bool, check: bool, quirks: bool
    ) -> None:
        super().__init__(name, lines, check)
        self.quirks = quirks
        self.heaptest = heaptest
        self.pointer_size = 4
        self.small = False
        self.heap: Heap | None = None
        self.blocks: dict[str, int | None] = {}
        # The last operation's result and (for memalign) alignment, which HEAPTEST-ERROR
        # lines judge.
        self.last: int | None = None
        self.last_align = 0

    def run(self) -> None:
        m = re.search(r"pointer size (\d+) bytes", self.lines[0])
        if m is None:
            self.lineno = 1
            raise self.bad("the header does not give the pointer size")
        self.pointer_size = int(m.group(1))
        self.small = "small memory model" in self.lines[0]
        self.replay_lines(self.step, self.check_heap, ignore=("TEST COMPLETE",))

    def check_heap(self) -> None:
        if self.heap is not None:
            self.heap.check()

    def the_heap(self) -> Heap:
        if self.heap is None:
            raise self.bad("operation before the region line")
        return self.heap

    def block(self, name: str, trace_addr: int) -> int | None:
        """The model's address for block ``name``, checked against the trace's."""
        have = self.blocks.get(name)
        self.expect(f"address of block {name}", trace_addr, _addr(have))
        return have

    def step(self, line: str) -> None:
        word, _, rest = line.partition(" ")
        kv = _kv(rest)
        if word == "region":
            start, size = (int(x, 0) for x in rest.split())
            if self.heap is None:
                mem = PhysicalMemory(max(start + size, 1 << 20))
                self.heap = Heap(
                    mem,
                    start,
                    size,
                    pointer_size=self.pointer_size,
                    small=self.small,
                    nuttx_quirks=self.quirks,
                )
            else:
                self.heap.add_region(start, size)
            r = self.heap.regions[-1]
            self.expect("region start", start, r[0])
            self.expect("region size", size, r[1] - r[0])
            return
        if word in ("info", "mi"):
            self.checks += 1
            mi = self.the_heap().mallinfo()
            for f in MallInfo.__dataclass_fields__:
                self.expect(f"mallinfo.{f}", int(kv[f]), getattr(mi, f))
            return
        if word == "HEAPTEST-ERROR":
            # The test's own verdict on the previous line; confirm that it holds for the model.
            if rest.strip() == "misaligned":
                if self.last is None or not self.last_align or self.last % self.last_align == 0:
                    self.mismatch("heaptest saw a misaligned memalign; the model's was not")
            elif self.last is not None:
                self.mismatch(f"heaptest saw an unexpected NULL; the model gave {self.last}")
            return
        heap = self.the_heap()
        name = kv.get("j") if self.heaptest else kv.get("id")
        if name is None:
            raise self.bad("no block name")
        if rest.endswith("SKIP"):
            return
        self.operations += 1
        self.last_align = 0
        result = None
        if "->" in rest:
            result = int(rest.rsplit("->", 1)[1], 0)
        if word in ("malloc", "zalloc"):
            got = (heap.malloc if word == "malloc" else heap.zalloc)(int(kv["size"]))
            self.expect(f"{word} result", self.need(result), _addr(got))
            self.blocks[name] = got
            self.last = got
        elif word == "memalign":
            align = int(kv["align"])
            got = heap.memalign(align, int(kv["size"]))
            self.expect("memalign result", self.need(result), _addr(got))
            self.blocks[name] = got
            self.last, self.last_align = got, align
        elif word == "realloc":
            if self.heaptest:
                frm = int(kv["from"])
                m = re.search(r"\d+->(\d+)", rest)
                if m is None:
                    raise self.bad("no OLD->NEW sizes")
                size = int(m.group(1))
            else:
                m = re.search(r"from (-?\d+)", rest)
                if m is None:
                    raise self.bad("no from address")
                frm = int(m.group(1))
                size = int(kv["size"])
            old = self.block(name, frm)
            got = heap.realloc(old, size)
            self.expect("realloc result", self.need(result), _addr(got))
            self.last = got
            if got is not None:
                self.blocks[name] = got
            elif size == 0:
                self.blocks.pop(name, None)
        elif word == "free":
            if self.heaptest:
                at = int(kv["at"])
            else:
                m = re.search(r"\((-?\d+)\)", rest)
                if m is None:
                    raise self.bad("no address")
                at = int(m.group(1))
            heap.free(self.block(name, at))
            self.blocks.pop(name, None)
        elif word == "malloc_size":
            got_size = heap.malloc_size(self.blocks.get(name))
            self.expect("malloc_size", self.need(result), got_size)
        else:
            raise self.bad(f"unknown operation {word!r}")

    def need(self, value: int | None) -> int:
        if value is None:
            raise self.bad("no result")
        return value


class _GranReplayer(_Replayer):
    def __init__(self, name: str, lines: list[str], check: bool) -> None:
        super().__init__(name, lines, check)
        self.blocks: dict[str, tuple[int, int]] = {}

    def run(self) -> None:
        head = self.lines[0]
        mn = re.search(r"ngranules (\d+)", head)
        ml = re.search(r"log2gran (\d+)", head)
        ms = re.search(r"heap start (0x[0-9a-fA-F]+|\d+)", head)
        if mn is None or ml is None:
            self.lineno = 1
            raise self.bad("the header does not give ngranules and log2gran")
        n, log2gran = int(mn.group(1)), int(ml.group(1))
        start = int(ms.group(1), 0) if ms else 0x10000
        gran = GranuleAllocator(start, n << log2gran, log2gran, nuttx_quirks=True)
        self.replay_lines(partial(self.step, gran), gran.check)

    def step(self, gran: GranuleAllocator, line: str) -> None:
        parts = line.split()
        if parts[0] == "a" and len(parts) == 5 and parts[3] == "->":
            self.operations += 1
            count = int(parts[2])
            got = gran.alloc_granules(count)
            self.expect("gran_alloc position", int(parts[4]), _addr(got))
            self.blocks[parts[1]] = (_addr(got), count)
        elif parts[0] == "f" and len(parts) == 3:
            self.operations += 1
            pos, count = self.blocks.pop(parts[1], (-1, 0))
            if parts[2] == "skip":
                self.expect(f"position of block {parts[1]}", -1, pos)
                return
            self.expect(f"position of block {parts[1]}", int(parts[2].lstrip("@")), pos)
            if pos >= 0:
                gran.free_granules(pos, count)
        elif parts[0] == "i":
            self.checks += 1
            kv = _kv(line)
            info = gran.info()
            self.expect("ngranules", int(kv["ngr"]), info.ngranules)
            self.expect("nfree", int(kv["nfree"]), info.nfree)
            self.expect("mxfree", int(kv["mxfree"]), info.mxfree)
        else:
            raise self.bad("unknown line")


def replay_lines(
    lines: list[str], name: str = "<trace>", *, check: bool = False, nuttx_quirks: bool = True
) -> ReplayResult:
    """Replay a trace given as lines (without newlines); see :func:`replay`."""
    if not lines:
        raise TraceFormatError(f"{name}: empty trace")
    fmt = detect_format(lines[0], name)
    r: _Replayer
    if fmt == "gran":
        g = _GranReplayer(name, lines, check)
        g.run()
        r = g
    else:
        h = _HeapReplayer(name, lines, heaptest=fmt == "heaptest", check=check, quirks=nuttx_quirks)
        h.run()
        r = h
    ms = tuple(r.mismatches)
    return ReplayResult(name, fmt, r.operations, r.checks, len(ms), ms[0] if ms else None, ms)


def replay(path: str | Path, *, check: bool = False, nuttx_quirks: bool = True) -> ReplayResult:
    """Replay the golden trace at ``path`` against the model.

    With ``check=True`` the model's own ``check()`` also runs after every line.
    ``nuttx_quirks=False`` replays a heap trace on the default model (whose memalign always
    honours the alignment) instead.

    Returns
    -------
    ReplayResult
        Operation count, mismatch count and the first mismatch with context.

    Raises
    ------
    TraceFormatError
        The file cannot be read, is not text, or is not a known trace format.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise TraceFormatError(f"{path}: cannot read trace: {error}") from None
    return replay_lines(text.splitlines(), str(path), check=check, nuttx_quirks=nuttx_quirks)
