"""The C driver (firmware/driver): compiles everywhere, and agrees with the model call by call.

- every driver source compiles with ``-std=c99 -Wall -Wextra -Werror`` under the host ``cc`` and
  under zig for RV32 (``generic_rv32+m`` and ``generic_rv32``), with and without the allocator's
  byte-size command registers in ``gfa_regs.h``;
- the software back end, built as a host shared library and driven through ctypes on seeded
  random traces, returns what :class:`mmaccel.sw.GranuleAllocator` returns (addresses, statuses
  mapped through :func:`mmaccel.hdl.gfa.status.status_of`), and its table and info equal the
  model's after every error and at checkpoints;
- the hardware back end runs against a Python stand-in of the allocator's register file (every
  register access of the driver goes through a ctypes callback), itself backed by the model,
  so the register protocol is checked before the SoC exists;
- the MMU driver against a stand-in of the MMU's registers and the translation probe.
"""

from __future__ import annotations

import ctypes
import random
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mmaccel.firmware.driver_build import DRIVER_DIR, GRAN_SOURCES, build_host_library
from mmaccel.firmware.regs import header_text
from mmaccel.firmware.toolchain import C_WARNINGS, INCLUDE_DIR, host_cc, zig_command
from mmaccel.hdl.gfa.status import status_of
from mmaccel.sw import GranuleAllocator, MemoryManagerError

GRAN_OK, GRAN_ENOSPC = 0, 1
SIZE_REGS = "#define GFA_ALLOC_SIZE_OFFSET 0x40u\n#define GFA_FREE_SIZE_OFFSET 0x44u\n"


def _gfa_header(size_regs: bool) -> str:
    """gfa_regs.h as generated, with or without the byte-size command registers."""
    text = header_text("gfa")
    lines = [ln for ln in text.splitlines(keepends=True) if "_SIZE_" not in ln or "REGMAP" in ln]
    text = "".join(lines)
    if size_regs:
        last = text.rstrip().rfind("#endif")
        text = text[:last] + SIZE_REGS + text[last:]
    return text


def _headers(folder: Path, size_regs: bool) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "gfa_regs.h").write_text(_gfa_header(size_regs))
    (folder / "mmu_regs.h").write_text(header_text("mmu"))
    return folder


# -- (a) compiles everywhere ------------------------------------------------------------------


def _sources() -> list[Path]:
    return sorted(DRIVER_DIR.glob("*.c"))


@pytest.mark.parametrize("size_regs", [False, True], ids=["count", "size-regs"])
@pytest.mark.parametrize("compiler", ["host", "generic_rv32+m", "generic_rv32"])
def test_driver_compiles(tmp_path: Path, compiler: str, size_regs: bool) -> None:
    inc = _headers(tmp_path / "gen", size_regs)
    srcs = [str(s) for s in _sources()]
    assert {"gran.c", "gran_sw.c", "gran_hw.c"} <= {Path(s).name for s in srcs}
    flags = [*C_WARNINGS, "-O2", "-I", str(INCLUDE_DIR), "-I", str(inc), "-c"]
    if compiler == "host":
        cmd = [host_cc(), *flags]
    else:
        cmd = [*zig_command(), "cc", "-target", "riscv32-freestanding-none"]
        cmd += [f"-mcpu={compiler}", "-ffreestanding", *flags]
    procs = [
        subprocess.Popen(
            [*cmd, src, "-o", str(tmp_path / (Path(src).stem + ".o"))],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for src in srcs
    ]
    for src, proc in zip(srcs, procs, strict=True):
        out, _ = proc.communicate()
        assert proc.returncode == 0, f"{src}:\n{out}"
        assert out == "", f"{src}:\n{out}"  # not even a warning or a note
    assert len(list(tmp_path.glob("*.o"))) == len(srcs)


# -- the library and its ctypes interface ------------------------------------------------------


class GranInfo(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint32) for n in ("log2gran", "ngranules", "nfree", "mxfree")]


HOOK_C = r"""
#include <stdint.h>
typedef uint32_t (*mmio_rd_fn)(uintptr_t);
typedef void (*mmio_wr_fn)(uintptr_t, uint32_t);
static mmio_rd_fn rd_fn;
static mmio_wr_fn wr_fn;
void mmio_hook_set(mmio_rd_fn r, mmio_wr_fn w) { rd_fn = r; wr_fn = w; }
uint32_t mmaccel_mmio_read(uintptr_t addr) { return rd_fn(addr); }
void mmaccel_mmio_write(uintptr_t addr, uint32_t value) { wr_fn(addr, value); }
"""

RD_FN = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_size_t)
WR_FN = ctypes.CFUNCTYPE(None, ctypes.c_size_t, ctypes.c_uint32)


def _declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    p, sz, u32, i = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint32, ctypes.c_int
    sigs: dict[str, tuple[Any, list[Any]]] = {
        "gran_initialize": (p, [p, ctypes.POINTER(u32), sz, sz, sz, ctypes.c_uint, ctypes.c_uint]),
        "gran_initialize_hw": (p, [p, sz]),
        "gran_release": (None, [p]),
        "gran_alloc": (p, [p, sz]),
        "gran_alloc_align": (p, [p, sz, sz]),
        "gran_free": (i, [p, p, sz]),
        "gran_reserve": (i, [p, sz, sz]),
        "gran_info": (i, [p, ctypes.POINTER(GranInfo)]),
        "gran_status": (i, [p]),
        "gran_table": (sz, [p, ctypes.POINTER(u32), sz]),
    }
    for name, (res, args) in sigs.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    return lib


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("driver")


@pytest.fixture(scope="module")
def swlib(build: Path) -> ctypes.CDLL:
    hook = build / "hook.c"
    hook.write_text(HOOK_C)
    lib = build_host_library(
        build / "sw", "gran_sw", sources=(*GRAN_SOURCES, hook), defines={"MMACCEL_MMIO_HOOK": 1}
    )
    return _declare(ctypes.CDLL(str(lib)))


class CGran:
    """One C allocator handle (either back end) with the model's byte-level interface, but
    answering with (value, status) instead of raising."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        self.lib = lib
        self.handle = ctypes.create_string_buffer(256)
        self.gat: Any = None

    def init_sw(self, start: int, size: int, log2gran: int, log2align: int, words: int) -> bool:
        self.gat = (ctypes.c_uint32 * max(words, 1))()
        h = self.lib.gran_initialize(self.handle, self.gat, words, start, size, log2gran, log2align)
        return bool(h)

    def init_hw(self, regs: int) -> bool:
        return bool(self.lib.gran_initialize_hw(self.handle, regs))

    def alloc(self, size: int, align: int = 0) -> tuple[int | None, int]:
        if align == 0 and size & 1:  # both entry points get used
            r = self.lib.gran_alloc(self.handle, size)
        else:
            r = self.lib.gran_alloc_align(self.handle, size, align)
        st = self.lib.gran_status(self.handle)
        if st == GRAN_OK:
            return (r or 0), st
        assert r is None, f"failed alloc returned {r:#x}"
        return None, st

    def free(self, addr: int, size: int) -> tuple[None, int]:
        st = self.lib.gran_free(self.handle, addr, size)
        assert st == self.lib.gran_status(self.handle)
        return None, st

    def reserve(self, addr: int, size: int) -> tuple[None, int]:
        st = self.lib.gran_reserve(self.handle, addr, size)
        assert st == self.lib.gran_status(self.handle)
        return None, st

    def info(self) -> tuple[tuple[int, int, int, int], int]:
        gi = GranInfo()
        st = self.lib.gran_info(self.handle, ctypes.byref(gi))
        return (gi.log2gran, gi.ngranules, gi.nfree, gi.mxfree), st

    def table(self, words: int) -> list[int]:
        out = (ctypes.c_uint32 * words)()
        n = self.lib.gran_table(self.handle, out, words)
        assert n == words
        return list(out)


def model_call(model: GranuleAllocator, op: str, args: tuple[int, ...]) -> tuple[Any, int]:
    """The model's answer as (value, status): what the driver must return."""
    try:
        if op == "alloc":
            size, align = args
            value = model.alloc(size, align if align else None)
            return (value, GRAN_OK) if value is not None else (None, GRAN_ENOSPC)
        if op == "free":
            model.free(*args)
            return None, GRAN_OK
        if op == "reserve":
            model.reserve(*args)
            return None, GRAN_OK
        i = model.info()
        return (i.log2gran, i.ngranules, i.nfree, i.mxfree), GRAN_OK
    except MemoryManagerError as exc:
        return None, int(status_of(exc).value)


@dataclass
class Trace:
    """A seeded random workload over one heap: allocs (aligned or not), frees of live blocks,
    partial and double frees, bogus addresses, reserves, infos and deliberate errors."""

    model: GranuleAllocator
    rng: random.Random
    live: dict[int, int] = field(default_factory=dict)
    dead: list[tuple[int, ...]] = field(default_factory=list)
    big_aligns: bool = True

    def size(self) -> int:
        g = self.model.granule_size
        r = self.rng.random()
        if r < 0.55:
            return self.rng.randint(1, 4 * g)
        if r < 0.8:
            return self.rng.randint(1, 40) * g - self.rng.choice((0, 0, 1, g // 2))
        if r < 0.95:
            return self.rng.randint(1, max(1, self.model.ngranules // 4)) * g
        return self.rng.randint(1, self.model.ngranules) * g

    def align(self) -> int:
        r = self.rng.random()
        if r < 0.5:
            return 0
        top = self.model.log2gran + 10 if self.big_aligns else 31
        return 1 << self.rng.randint(0, min(top, 31))

    def addr(self) -> int:
        m = self.model
        g = m.granule_size
        pick = self.rng.choice(
            (
                m.heapstart - g,
                m.heapstart - 1,
                m.heapend,
                m.heapend + g,
                m.heapstart + self.rng.randrange(m.ngranules) * g + self.rng.randint(1, g - 1),
                m.heapstart + self.rng.randrange(m.ngranules) * g,
                m.heapstart + (m.ngranules - 1) * g,
                self.rng.randrange(0, 1 << 32),
            )
        )
        return max(0, pick)

    def next(self) -> tuple[str, tuple[int, ...]]:
        m, rng = self.model, self.rng
        full = 1 - m.nfree / m.ngranules
        r = rng.random()
        if r < 0.04:  # deliberate errors
            return rng.choice(
                (
                    ("alloc", (0, self.align())),
                    ("alloc", ((m.ngranules + rng.randint(1, 9)) * m.granule_size, 0)),
                    ("alloc", (rng.randint(1, 64), rng.choice((3, 6, 12, 0x30, 0xFFFFFFFF)))),
                    ("alloc", (0, 3)),
                    ("alloc", (1 << 40, 3)),
                    ("free", (self.addr(), rng.randint(0, 3 * m.granule_size))),
                    ("free", (m.heapstart, 0)),
                    ("reserve", (m.heapstart, 0)),
                    ("free", (m.heapstart, (m.ngranules + 1) * m.granule_size)),
                )
            )
        if r < 0.09 and self.dead:  # double free
            return "free", rng.choice(self.dead)
        if r < 0.12 and self.live:  # free of the wrong size (more than the block)
            a, s = rng.choice(list(self.live.items()))
            return "free", (a, s + m.granule_size * rng.randint(1, 3))
        if r < 0.16:
            base = self.addr() if rng.random() < 0.5 else rng.randrange(m.heapstart, m.heapend)
            return "reserve", (base, rng.randint(1, 6 * m.granule_size))
        if r < 0.19:
            return "info", ()
        if self.live and rng.random() < 0.25 + 0.7 * full:
            a, s = rng.choice(list(self.live.items()))
            return "free", (a, s)
        return "alloc", (self.size(), self.align())

    def record(self, op: str, args: tuple[int, ...], value: Any, status: int) -> None:
        if status != GRAN_OK:
            return
        if op == "alloc":
            self.live[value] = args[0]
        elif op == "free":
            self.live.pop(args[0], None)
            self.dead.append(args)
            if len(self.dead) > 64:
                self.dead.pop(0)


# Geometries: (start, size, log2gran, log2align); granule counts 37 .. 65536, odd starts.
GEOMETRIES = [
    (0x1000_0000, 37 << 4, 4, 0),
    (0x2000_0003, (256 << 6) + 17, 6, 3),
    (0x8000_0001, (300 << 5) + 100, 5, 0),
    (0x4000_0000, 4096 << 12, 12, 12),
    (0x1234_5677, (1000 << 9) + 3, 9, 7),
    (0x0001_0000, 32768 << 5, 5, 5),
    (0x3000_0008, (65536 << 4), 4, 2),
    (0x0000_0000, 100 << 8, 8, 8),
]


def run_trace(c: CGran, model: GranuleAllocator, seed: int, ops: int) -> dict[str, int]:
    """Drive c and model with the same seeded trace; assert every answer agrees."""
    words = (model.ngranules + 31) // 32
    trace = Trace(model, random.Random(seed))
    counts: dict[str, int] = {}
    for step in range(ops):
        op, args = trace.next()
        before = (model.free_map, model.info())
        want = model_call(model, op, args)
        got = getattr(c, op)(*args)
        assert got == want, f"seed {seed} step {step}: {op}{args}: C {got} != model {want}"
        trace.record(op, args, *want)
        kind = op if want[1] in (GRAN_OK, GRAN_ENOSPC) else f"{op}-error"
        counts[kind] = counts.get(kind, 0) + 1
        if want[1] not in (GRAN_OK, GRAN_ENOSPC):
            assert (model.free_map, model.info()) == before, "the model changed on an error"
        if want[1] not in (GRAN_OK,) or step % 64 == 0:
            assert c.table(words) == model.table(), f"seed {seed} step {step}: tables differ"
            assert c.info()[0] == model_call(model, "info", ())[0]
    assert c.table(words) == model.table()
    model.check()
    return counts


def test_sw_matches_model_on_random_traces(swlib: ctypes.CDLL) -> None:
    t0 = time.perf_counter()
    total: dict[str, int] = {}
    for k, (start, size, l2g, l2a) in enumerate(GEOMETRIES):
        model = GranuleAllocator(start, size, l2g, l2a)
        c = CGran(swlib)
        assert c.init_sw(start, size, l2g, l2a, (model.ngranules + 31) // 32)
        ops = 1500 if model.ngranules > 30000 else 3000
        for kind, n in run_trace(c, model, seed=1000 + k, ops=ops).items():
            total[kind] = total.get(kind, 0) + n
    n_ops = sum(total.values())
    print(f"sw back end: {n_ops} operations, 0 mismatches, {time.perf_counter() - t0:.1f} s")
    print("  " + ", ".join(f"{k} {v}" for k, v in sorted(total.items())))
    assert n_ops >= 15000
    for kind in ("alloc", "free", "reserve", "info", "alloc-error", "free-error", "reserve-error"):
        assert total.get(kind, 0) > 20, f"the traces hardly exercise {kind}: {total}"


def test_sw_fills_and_fragments_exactly(swlib: ctypes.CDLL) -> None:
    """Fill a heap granule by granule, free every other one, then ask for runs and alignments
    across word boundaries; also long runs over many whole words."""
    model = GranuleAllocator(0x1000, 200 << 4, 4)
    c = CGran(swlib)
    assert c.init_sw(0x1000, 200 << 4, 4, 0, 7)
    for _ in range(201):
        assert c.alloc(16) == model_call(model, "alloc", (16, 0))
    for i in range(0, 200, 2):
        assert c.free(0x1000 + 16 * i, 16) == model_call(model, "free", (0x1000 + 16 * i, 16))
    for size, align in [(16, 0), (32, 0), (16, 64), (16, 512), (33, 0)]:
        assert c.alloc(size, align) == model_call(model, "alloc", (size, align))
    for a in range(0x1000 + 64 * 16, 0x1000 + 190 * 16, 32):
        c.free(a + 16, 16)
        model_call(model, "free", (a + 16, 16))
    for size, align in [(100 * 16, 0), (64 * 16, 1024), (126 * 16, 0), (127 * 16, 0)]:
        assert c.alloc(size, align) == model_call(model, "alloc", (size, align))
    assert c.info() == model_call(model, "info", ())
    assert c.table(7) == model.table()


@pytest.mark.parametrize(
    ("start", "size", "l2g", "l2a"),
    [(0, 16, 0, 0), (0, 16, 32, 0), (0, 16, 4, 5), (0, 15, 4, 0), (0, 65537 << 4, 4, 0),
     (0x1001, 0x10, 4, 4), (0, 0, 4, 0)],
)  # fmt: skip
def test_sw_initialize_refuses_what_the_model_refuses(
    swlib: ctypes.CDLL, start: int, size: int, l2g: int, l2a: int
) -> None:
    with pytest.raises(MemoryManagerError):
        GranuleAllocator(start, size, l2g, l2a)
    assert not CGran(swlib).init_sw(start, size, l2g, l2a, 4096)


def test_sw_initialize_needs_a_long_enough_table(swlib: ctypes.CDLL) -> None:
    assert not CGran(swlib).init_sw(0, 100 << 4, 4, 0, 3)
    assert CGran(swlib).init_sw(0, 100 << 4, 4, 0, 4)
