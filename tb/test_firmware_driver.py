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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest

from mmaccel.firmware.driver_build import (
    DRIVER_DIR,
    DRIVER_SOURCES,
    GRAN_SOURCES,
    MMU_SOURCES,
    build_host_library,
    include_dirs,
)
from mmaccel.firmware.regs import header_text
from mmaccel.firmware.toolchain import (
    C_WARNINGS,
    INCLUDE_DIR,
    cross_compile,
    host_cc,
    zig_command,
)
from mmaccel.hdl.gfa.status import status_of
from mmaccel.sw import GranuleAllocator, MemoryManagerError
from mmaccel.sw.errors import TranslationFault
from mmaccel.sw.memory import PhysicalMemory
from mmaccel.sw.sv32 import Access, Priv, PteFlags, make_pte, satp_value, translate_sv32

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


LINK_LD = """\
ENTRY(_start)
SECTIONS {
  . = 0;
  .text : { *(.text.start) *(.text*) }
  .rodata : { *(.rodata*) *(.srodata*) }
  .data : { *(.data*) *(.sdata*) }
  .bss : { *(.bss*) *(.sbss*) *(COMMON) }
  /DISCARD/ : { *(.riscv.attributes) *(.comment) *(.eh_frame) }
}
"""

LINK_MAIN = """\
#include <mmaccel/gran.h>
#include <mmaccel/mmu.h>
static struct gran g;
static uint32_t gat[8];
static struct mmu m;
__attribute__((section(".text.start"))) void _start(void)
{
    void *p;
    gran_initialize(&g, gat, 8, 0x1000, 4096, 4, 0);
    p = gran_alloc_align(&g, 100, 64);
    gran_free(&g, p, 100);
    gran_initialize_hw(&g, 0x80010000u);
    mmu_flush_va(mmu_init(&m, 0x80020000u, 0x80030000u), 0x1000u);
    for (;;) {
    }
}
"""


@pytest.mark.parametrize("mcpu", ["generic_rv32+m", "generic_rv32"])
def test_driver_links_for_rv32(tmp_path: Path, mcpu: str) -> None:
    """Every driver source links into a bare-metal image (compiler_rt supplies any helper,
    such as a ctz on a core without Zbb)."""
    (tmp_path / "link.ld").write_text(LINK_LD)
    (tmp_path / "main.c").write_text(LINK_MAIN)
    elf = cross_compile(
        [tmp_path / "main.c", *DRIVER_SOURCES],
        tmp_path / "t.elf",
        linker_script=tmp_path / "link.ld",
        include_dirs=include_dirs(tmp_path / "gen"),
        mcpu=mcpu,
    )
    assert elf.stat().st_size > 0


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
        st = self.status()
        if st == GRAN_OK:
            return (r or 0), st
        assert r is None, f"failed alloc returned {r:#x}"
        return None, st

    def free(self, addr: int, size: int) -> tuple[None, int]:
        st = self.lib.gran_free(self.handle, addr, size)
        assert st == self.status()
        return None, st

    def reserve(self, addr: int, size: int) -> tuple[None, int]:
        st = self.lib.gran_reserve(self.handle, addr, size)
        assert st == self.status()
        return None, st

    def status(self) -> int:
        return int(self.lib.gran_status(self.handle))

    def info(self) -> tuple[tuple[int, int, int, int], int]:
        gi = GranInfo()
        st = self.lib.gran_info(self.handle, ctypes.byref(gi))
        assert st == self.status()
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
        kind = {GRAN_OK: op, GRAN_ENOSPC: f"{op}-nospace"}.get(want[1], f"{op}-error")
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
    kinds = ("alloc", "alloc-nospace", "alloc-error", "free", "free-error", "reserve")
    for kind in (*kinds, "reserve-error", "info"):
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


# -- (c) the hardware back end against a stand-in of the register file ----------------------

GFA_BASE = 0x8001_0000
RESULT_NONE = 0xFFFF_FFFF


class GfaRegisterFile:
    """The allocator's registers (GFA_REGMAP) in Python, backed by the model at granule level.

    It applies the hardware's checks in the hardware's order (COUNT 0, then ALIGN, then COUNT
    too large; FREE/RESERVE: COUNT 0, then the range) and records every access, and every
    breach of the protocol: a read of a write-only register or a write to a read-only one, a
    RESULT read with no command since the last one, an ALIGN write that changes nothing.
    """

    NAMES: ClassVar[dict[int, str]] = {
        0x00: "ID", 0x04: "CONFIG", 0x08: "HEAP_BASE", 0x0C: "CMD", 0x10: "COUNT", 0x14: "ADDR",
        0x18: "ALIGN", 0x1C: "STATUS", 0x20: "RESULT", 0x24: "NFREE", 0x28: "LARGEST",
        0x2C: "OPS", 0x30: "FAILS", 0x34: "ERRORS", 0x38: "GAT_INDEX", 0x3C: "GAT_DATA",
        0x40: "ALLOC_SIZE", 0x44: "FREE_SIZE",
    }  # fmt: skip
    WRITABLE: ClassVar[set[str]] = {
        "CMD",
        "COUNT",
        "ADDR",
        "ALIGN",
        "GAT_INDEX",
        "ALLOC_SIZE",
        "FREE_SIZE",
    }
    READABLE: ClassVar[set[str]] = set(NAMES.values()) - {"CMD", "ALLOC_SIZE", "FREE_SIZE"}

    def __init__(self, model: GranuleAllocator, size_regs: bool) -> None:
        self.model = model
        self.size_regs = size_regs
        self.rw = {"COUNT": 0, "ADDR": 0, "ALIGN": 0, "GAT_INDEX": 0}
        self.result = 0
        self.code = 0
        self.ops = self.fails = self.errors = 0
        self.pending = False  # a command has started and RESULT has not been read
        self.log: list[tuple[str, str, int]] = []
        self.breaches: list[str] = []

    def _name(self, addr: int) -> str:
        off = addr - GFA_BASE
        name = self.NAMES.get(off)
        if name is None or (name.endswith("_SIZE") and not self.size_regs):
            self.breaches.append(f"access to {addr:#x}: no register there")
            return "?"
        return name

    def read(self, addr: int) -> int:
        name = self._name(addr)
        if name not in self.READABLE:
            self.breaches.append(f"read of {name}")
            return 0
        value = self._read(name)
        self.log.append(("r", name, value))
        return value

    def _read(self, name: str) -> int:
        m = self.model
        if name == "ID":
            return 0x4746_4131
        if name == "CONFIG":
            return (m.log2gran << 24) | m.ngranules
        if name == "HEAP_BASE":
            return m.heapstart
        if name == "RESULT":
            if not self.pending:
                self.breaches.append("RESULT read with no command since the last read")
            self.pending = False
            return self.result
        if name == "STATUS":
            c = self.code
            return (c << 4) | (int(c >= 2) << 2) | (int(c == 1) << 1)
        if name == "NFREE":
            return m.nfree
        if name == "LARGEST":
            return m.longest_free_run()
        if name in ("OPS", "FAILS", "ERRORS"):
            return {"OPS": self.ops, "FAILS": self.fails, "ERRORS": self.errors}[name]
        if name == "GAT_DATA":
            i = self.rw["GAT_INDEX"]
            self.rw["GAT_INDEX"] = (i + 1) & 0xFFFF
            table = m.table()
            return table[i] if i < len(table) else 0
        return self.rw[name]

    def write(self, addr: int, value: int) -> None:
        name = self._name(addr)
        self.log.append(("w", name, value))
        if name not in self.WRITABLE:
            self.breaches.append(f"write of {name}")
            return
        if name == "ALIGN" and value == self.rw["ALIGN"]:
            self.breaches.append(f"ALIGN rewritten with its value {value:#x}")
        if name == "CMD":
            self._command(value & 7, self.rw["COUNT"])
        elif name in ("ALLOC_SIZE", "FREE_SIZE"):
            count = -(-value // self.model.granule_size)
            self._command(0 if name == "ALLOC_SIZE" else 1, count)
        elif name == "COUNT":
            self.rw[name] = value & 0x1_FFFF
        else:
            self.rw[name] = value

    def _command(self, op: int, count: int) -> None:
        m = self.model
        self.pending = True
        self.ops += 1
        value: int | None = 0
        code = 0
        try:
            if op == 0:
                align = self.rw["ALIGN"]
                if count == 0:
                    code = 2
                elif align & (align - 1):
                    code = 4
                elif count > m.ngranules:
                    code = 2
                else:
                    p = m.alloc_granules(count, max(1, align >> m.log2gran))
                    value = None if p is None else m.address_of(p)
                    code = 1 if p is None else 0
            elif op in (1, 2):
                if count == 0:
                    code = 2
                elif op == 1:
                    m.free_granules(m.index_of(self.rw["ADDR"]), count)
                else:
                    m.reserve_granules(m.index_of(self.rw["ADDR"]), count)
            elif op == 3:
                pass
            else:
                code = 7
        except MemoryManagerError as exc:
            code = int(status_of(exc).value)
        self.code = code
        self.fails += code == 1
        self.errors += code >= 2
        self.result = (
            value if code == 0 and value is not None else (0 if code == 0 else RESULT_NONE)
        )


@pytest.fixture(scope="module", params=[False, True], ids=["count", "size-regs"])
def hwlib(request: pytest.FixtureRequest, build: Path) -> Iterator[tuple[ctypes.CDLL, bool]]:
    size_regs: bool = request.param
    folder = build / ("hw-size" if size_regs else "hw-count")
    gen = _headers(folder / "gen", size_regs)
    hook = folder / "hook.c"
    hook.write_text(HOOK_C)
    lib = build_host_library(
        folder,
        "gran_hw",
        sources=(*GRAN_SOURCES, hook),
        defines={"MMACCEL_MMIO_HOOK": 1},
        generated=gen,
    )
    yield _declare(ctypes.CDLL(str(lib))), size_regs


class HwGran(CGran):
    """A C handle on the hardware back end, its register accesses served by ``regs``."""

    def __init__(self, lib: ctypes.CDLL, regs: GfaRegisterFile) -> None:
        super().__init__(lib)
        self.regs = regs
        # ctypes callbacks must outlive the calls: keep them on the object
        self._rd = RD_FN(regs.read)
        self._wr = WR_FN(regs.write)
        lib.mmio_hook_set.argtypes = [RD_FN, WR_FN]
        lib.mmio_hook_set(self._rd, self._wr)
        self.op_log: list[tuple[str, str, int]] = []

    def status(self) -> int:
        """gran_status, after keeping the accesses of the call before it (``op_log``)."""
        self.op_log = list(self.regs.log)
        self.regs.log.clear()
        return super().status()


HW_GEOMETRIES = [(0x1000_0000, 37, 4), (0x1000_0000, 256, 6), (0x2000_0000, 4096, 12),
                 (0x1000_0000, 32768, 5), (0x4000_0000, 65536, 4)]  # fmt: skip


def _check_protocol(op: str, log: list[tuple[str, str, int]], size_regs: bool) -> None:
    """The accesses of one call, in order, are the protocol's and no more: alloc writes ALIGN
    (only when it changes), starts the command and reads RESULT, nothing else; free and reserve
    write ADDR, start the command, read RESULT, and STATUS only when RESULT is 0xFFFFFFFF."""
    seq = [(k, n) for k, n, _ in log]
    result = [v for k, n, v in log if (k, n) == ("r", "RESULT")]
    assert len(result) == 1, seq
    status = [("r", "STATUS")] if result[0] == RESULT_NONE else []
    if op == "alloc":
        head = [("w", "ALIGN")] if seq and seq[0] == ("w", "ALIGN") else []
        cmd = [("w", "ALLOC_SIZE")] if size_regs else [("w", "COUNT"), ("w", "CMD")]
        assert seq == [*head, *cmd, ("r", "RESULT")], seq
    elif op == "free":
        cmd = [("w", "FREE_SIZE")] if size_regs else [("w", "COUNT"), ("w", "CMD")]
        assert seq == [("w", "ADDR"), *cmd, ("r", "RESULT"), *status], seq
    elif op == "reserve":
        cmd = [("w", "COUNT"), ("w", "CMD")]
        assert seq == [("w", "ADDR"), *cmd, ("r", "RESULT"), *status], seq
    else:
        assert seq == [("w", "CMD"), ("r", "RESULT"), ("r", "NFREE"), ("r", "LARGEST")], seq


def test_hw_matches_model_through_the_registers(hwlib: tuple[ctypes.CDLL, bool]) -> None:
    lib, size_regs = hwlib
    t0 = time.perf_counter()
    total: dict[str, int] = {}
    accesses: dict[str, list[int]] = {}
    for k, (base, ngran, l2g) in enumerate(HW_GEOMETRIES):
        backing = GranuleAllocator(base, ngran << l2g, l2g, l2g)
        ref = GranuleAllocator(base, ngran << l2g, l2g, l2g)
        regs = GfaRegisterFile(backing, size_regs)
        c = HwGran(lib, regs)
        assert c.init_hw(GFA_BASE)
        assert not regs.breaches
        trace = Trace(ref, random.Random(2000 + k))
        words = (ngran + 31) // 32
        for step in range(700):
            op, args = trace.next()
            regs.log.clear()
            want = model_call(ref, op, args)
            got = getattr(c, op)(*args)
            assert got == want, f"{ngran} granules, step {step}: {op}{args}: C {got} != {want}"
            assert not regs.breaches, f"step {step}: {op}{args}: {regs.breaches}"
            _check_protocol(op, c.op_log, size_regs)
            trace.record(op, args, *want)
            total[op] = total.get(op, 0) + 1
            accesses.setdefault(op, []).append(len(c.op_log))
            if step % 100 == 0:
                assert backing.free_map == ref.free_map
        assert c.table(words) == ref.table()
        regs.pending = False
    n_ops = sum(total.values())
    mean = {op: sum(v) / len(v) for op, v in accesses.items()}
    print(
        f"hw back end ({'size registers' if size_regs else 'COUNT+CMD'}): {n_ops} operations, "
        f"0 mismatches, {time.perf_counter() - t0:.1f} s; register accesses per call: "
        + ", ".join(f"{op} {m:.2f}" for op, m in sorted(mean.items()))
    )
    assert n_ops == 700 * len(HW_GEOMETRIES)
    # alloc: one command write (two without the size registers), one RESULT read, and ALIGN
    # only when the alignment changes
    assert mean["alloc"] < (3.0 if size_regs else 4.0)


def test_hw_align_is_written_only_when_it_changes(hwlib: tuple[ctypes.CDLL, bool]) -> None:
    lib, size_regs = hwlib
    regs = GfaRegisterFile(GranuleAllocator(0x1000_0000, 64 << 4, 4, 4), size_regs)
    c = HwGran(lib, regs)
    assert c.init_hw(GFA_BASE)
    for align, writes in [(0, 0), (0, 0), (64, 1), (64, 0), (0, 1), (256, 1), (3, 1), (3, 0)]:
        c.alloc(16, align)
        assert sum(1 for k, n, _ in c.op_log if (k, n) == ("w", "ALIGN")) == writes
    assert not regs.breaches


def test_hw_initialize_reads_the_geometry(hwlib: tuple[ctypes.CDLL, bool]) -> None:
    lib, size_regs = hwlib
    model = GranuleAllocator(0x2000_0000, 100 << 7, 7, 7)
    regs = GfaRegisterFile(model, size_regs)
    c = HwGran(lib, regs)
    assert c.init_hw(GFA_BASE)
    assert c.info() == ((7, 100, 100, 100), GRAN_OK)
    assert c.alloc(1) == (0x2000_0000, GRAN_OK)
    assert c.alloc(129, 1024) == (0x2000_0400, GRAN_OK)
    regs2 = GfaRegisterFile(model, size_regs)
    c2 = HwGran(lib, regs2)
    regs2._read = lambda name: 0 if name == "ID" else GfaRegisterFile._read(regs2, name)  # type: ignore[method-assign]
    assert not c2.init_hw(GFA_BASE)  # not an allocator: no handle


# -- the MMU driver against a stand-in of the MMU's registers and the translation probe -------

MMU_BASE, PROBE_BASE = 0x8002_0000, 0x8003_0000


class MmuRegisterFile:
    """MMU_REGMAP's registers and the probe's, answered by translate_sv32 over ``memory``."""

    REGS: ClassVar[dict[int, str]] = {
        0x00: "SATP", 0x04: "FLUSH_VA", 0x08: "FLUSH_ASID", 0x0C: "FLUSH", 0x10: "STATUS",
        0x14: "HITS", 0x18: "MISSES", 0x1C: "WALKS", 0x20: "FAULTS", 0x24: "CTRL",
        0x28: "LAST_CAUSE",
    }  # fmt: skip
    PROBE: ClassVar[dict[int, str]] = {
        0x00: "VA",
        0x04: "REQ",
        0x08: "RESULT",
        0x0C: "PA",
        0x10: "PAH",
    }
    WO: ClassVar[set[str]] = {"FLUSH", "CTRL", "REQ"}

    def __init__(self, memory: PhysicalMemory) -> None:
        self.memory = memory
        self.values: dict[str, int] = {"SATP": 0, "FLUSH_VA": 0, "FLUSH_ASID": 0, "VA": 0}
        self.values.update(STATUS=(16 << 8) | (5 << 16), HITS=11, MISSES=22, WALKS=33, FAULTS=44)
        self.values.update(LAST_CAUSE=0, RESULT=0, PA=0, PAH=0)
        self.flushes: list[tuple[int, int, int]] = []  # (FLUSH, FLUSH_VA, FLUSH_ASID)
        self.cleared = 0
        self.breaches: list[str] = []

    def _name(self, addr: int) -> str:
        table, off = (
            (self.PROBE, addr - PROBE_BASE) if addr >= PROBE_BASE else (self.REGS, addr - MMU_BASE)
        )
        name = table.get(off)
        if name is None:
            self.breaches.append(f"no register at {addr:#x}")
            return "?"
        return name

    def read(self, addr: int) -> int:
        name = self._name(addr)
        if name in self.WO:
            self.breaches.append(f"read of {name}")
        return self.values.get(name, 0)

    def write(self, addr: int, value: int) -> None:
        name = self._name(addr)
        if name in ("STATUS", "HITS", "MISSES", "WALKS", "FAULTS", "LAST_CAUSE", "RESULT", "PA"):
            self.breaches.append(f"write of {name}")
            return
        if name == "FLUSH":
            v = self.values
            self.flushes.append((value, v["FLUSH_VA"], v["FLUSH_ASID"]))
        elif name == "CTRL":
            self.cleared += value & 1
        elif name == "REQ":
            self._translate(value)
        else:
            self.values[name] = value

    def _translate(self, req: int) -> None:
        v = self.values
        try:
            pa = translate_sv32(
                self.memory, v["SATP"], v["VA"], Access(req & 3), Priv((req >> 2) & 1),
                sum=bool(req & 8), mxr=bool(req & 16),
            )  # fmt: skip
            v.update(RESULT=0, PA=pa & 0xFFFF_FFFF, PAH=pa >> 32)
        except TranslationFault as exc:
            cause = int(exc.cause)  # type: ignore[attr-defined]
            v.update(RESULT=1 | (cause << 4), LAST_CAUSE=cause)


@pytest.fixture(scope="module")
def mmulib(build: Path) -> ctypes.CDLL:
    folder = build / "mmu"
    folder.mkdir()
    hook = folder / "hook.c"
    hook.write_text(HOOK_C)
    lib = ctypes.CDLL(
        str(
            build_host_library(
                folder, "mmu", sources=(*MMU_SOURCES, hook), defines={"MMACCEL_MMIO_HOOK": 1}
            )
        )
    )
    p, u32 = ctypes.c_void_p, ctypes.c_uint32
    pu32 = ctypes.POINTER(u32)
    for name, res, args in [
        ("mmu_init", p, [p, ctypes.c_size_t, ctypes.c_size_t]),
        ("mmu_set_satp", None, [p, u32]),
        ("mmu_get_satp", u32, [p]),
        ("mmu_flush_all", None, [p]),
        ("mmu_flush_va", None, [p, u32]),
        ("mmu_flush_asid", None, [p, u32]),
        ("mmu_flush_va_asid", None, [p, u32, u32]),
        ("mmu_get_counters", None, [p, pu32]),
        ("mmu_clear_counters", None, [p]),
        ("mmu_last_cause", u32, [p]),
        ("mmu_tlb_entries", u32, [p]),
        ("mmu_tlb_valid", u32, [p]),
        ("mmu_translate", ctypes.c_int, [p, u32, ctypes.c_uint, ctypes.c_uint, pu32]),
        ("mmu_translate34", ctypes.c_int, [p, u32, ctypes.c_uint, ctypes.c_uint, pu32, pu32]),
        ("mmio_hook_set", None, [RD_FN, WR_FN]),
    ]:
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    return lib


def _flags(rng: random.Random) -> int:
    """Mostly valid leaf flags (A, D, R set; W, X, U, G at random), sometimes anything."""
    if rng.random() < 0.25:
        return rng.randrange(256)
    flags = PteFlags.V | PteFlags.R | PteFlags.A | PteFlags.D
    for extra in (PteFlags.W, PteFlags.X, PteFlags.U, PteFlags.G):
        if rng.random() < 0.5:
            flags |= extra
    return int(flags)


def _page_tables(rng: random.Random) -> tuple[PhysicalMemory, list[int]]:
    """Random Sv32 tables: a root at 0x1000 with megapages (some misaligned), pointers to
    three level-0 tables of 4 KiB pages, invalid entries; flags drawn at random."""
    mem = PhysicalMemory(0x10000)
    vpn1s = []
    for slot in range(24):
        vpn1 = rng.randrange(1024)
        vpn1s.append(vpn1)
        if slot < 3:
            table = 0x2000 + slot * 0x1000
            mem.write_u32(0x1000 + 4 * vpn1, make_pte(table >> 12, PteFlags.V))
            for vpn0 in range(1024):
                if rng.random() < 0.7:
                    flags = _flags(rng)
                    mem.write_u32(table + 4 * vpn0, make_pte(rng.randrange(1 << 22), flags))
        else:
            ppn = rng.randrange(1 << 12) << 10 | (rng.randrange(1024) if rng.random() < 0.2 else 0)
            mem.write_u32(0x1000 + 4 * vpn1, make_pte(ppn, _flags(rng)))
    return mem, vpn1s


def test_mmu_translates_like_the_model(mmulib: ctypes.CDLL) -> None:
    rng = random.Random(77)
    mem, vpn1s = _page_tables(rng)
    regs = MmuRegisterFile(mem)
    rd, wr = RD_FN(regs.read), WR_FN(regs.write)
    mmulib.mmio_hook_set(rd, wr)
    m = ctypes.create_string_buffer(64)
    assert mmulib.mmu_init(m, MMU_BASE, PROBE_BASE)
    satp = satp_value(5, 1)
    mmulib.mmu_set_satp(m, satp)
    assert mmulib.mmu_get_satp(m) == satp
    pa, pah = ctypes.c_uint32(), ctypes.c_uint32()
    outcomes: dict[str, int] = {}
    for _ in range(3000):
        va = (
            (rng.choice(vpn1s) << 22 | rng.randrange(1 << 22))
            if rng.random() < 0.9
            else rng.randrange(1 << 32)
        )
        access, priv = rng.randrange(3), rng.randrange(2)
        flags = rng.choice((0, 0, 8, 16, 24))
        want: tuple[int, int | None]
        try:
            want = (
                0,
                translate_sv32(
                    mem,
                    satp,
                    va,
                    Access(access),
                    Priv(priv),
                    sum=bool(flags & 8),
                    mxr=bool(flags & 16),
                ),
            )
        except TranslationFault as exc:
            want = (1 + int(exc.cause), None)  # type: ignore[attr-defined]
        if rng.random() < 0.5:
            r = mmulib.mmu_translate34(
                m, va, access | flags, priv, ctypes.byref(pa), ctypes.byref(pah)
            )
            got = (r, (pah.value << 32 | pa.value) if r == 0 else None)
        else:
            r = mmulib.mmu_translate(m, va, access | flags, priv, ctypes.byref(pa))
            got = (r, pa.value if r == 0 else None)
            want = (want[0], None if want[1] is None else want[1] & 0xFFFF_FFFF)
        assert got == want, f"va {va:#x} access {access} priv {priv} flags {flags}"
        outcomes["ok" if r == 0 else f"cause {r - 1}"] = (
            outcomes.get("ok" if r == 0 else f"cause {r - 1}", 0) + 1
        )
        if r:
            assert mmulib.mmu_last_cause(m) == r - 1
    assert not regs.breaches
    print("mmu: 3000 translations, 0 mismatches:", dict(sorted(outcomes.items())))
    assert outcomes.get("ok", 0) > 200 and len(outcomes) >= 4


def test_mmu_flush_forms_and_counters(mmulib: ctypes.CDLL) -> None:
    regs = MmuRegisterFile(PhysicalMemory(0x1000))
    rd, wr = RD_FN(regs.read), WR_FN(regs.write)
    mmulib.mmio_hook_set(rd, wr)
    m = ctypes.create_string_buffer(64)
    mmulib.mmu_init(m, MMU_BASE, PROBE_BASE)
    mmulib.mmu_flush_va(m, 0x1234_5000)
    mmulib.mmu_flush_asid(m, 0x1FF)
    mmulib.mmu_flush_va_asid(m, 0xABCD_E000, 7)
    mmulib.mmu_flush_all(m)
    assert [f for f, _, _ in regs.flushes] == [1, 2, 3, 0]
    assert regs.flushes[0][1] == 0x1234_5000
    assert regs.flushes[1][2] == 0x1FF
    assert regs.flushes[2][1:] == (0xABCD_E000, 7)
    counters = (ctypes.c_uint32 * 4)()
    mmulib.mmu_get_counters(m, counters)
    assert list(counters) == [11, 22, 33, 44]
    mmulib.mmu_clear_counters(m)
    assert regs.cleared == 1
    assert (mmulib.mmu_tlb_entries(m), mmulib.mmu_tlb_valid(m)) == (16, 5)
    assert not regs.breaches
