"""The configurable memory system (mmaccel.sw.system), its TOML loader and ``model stats``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule

from mmaccel.cli import main
from mmaccel.cli.model import exercise
from mmaccel.sw import (
    HeapsConfig,
    InvalidArgument,
    InvalidPointer,
    IobConfig,
    MemoryConfig,
    MemoryRegion,
    MemorySystem,
    RegionConflict,
    UserKernelHeaps,
)
from mmaccel.sw import heaps as bound
from mmaccel.sw.system import example_config_path, parse_size

MiB = 1 << 20


def small_config(**changes: object) -> MemoryConfig:
    cfg = MemoryConfig(
        memory_size=4 * MiB,
        kernel_heap=MemoryRegion(0x10000, 0x30000),
        user_heap=MemoryRegion(0x40000, 0x80000),
        iob=IobConfig(base=0xC0000, nbuffers=12, bufsize=64, nchains=4, throttle=2),
        coherent_pool=MemoryRegion(0x100000, 0x40000),
        page_pool=MemoryRegion(0x200000, 2 * MiB),
    )
    return dataclasses.replace(cfg, **changes)  # type: ignore[arg-type]


def test_example_32mib_board() -> None:
    path = example_config_path()
    assert path.is_file()
    cfg = MemoryConfig.from_toml(path)
    assert cfg.memory_size == 32 * MiB
    names = [n for n, _ in cfg.regions()]
    assert names == ["user_heap", "kernel_heap", "page_pool", "coherent_pool", "iob"]
    system = MemorySystem(cfg)
    system.check()
    info = system.bt_page_info()
    assert info.normal_size == cfg.page_pool.size
    assert info.coherent_size == 1 * MiB
    assert system.iob is not None and system.iob.nbuffers == 64


def test_each_call_uses_its_own_region() -> None:
    cfg = small_config()
    s = MemorySystem(cfg)

    def inside(addr: int | None, r: MemoryRegion) -> bool:
        return addr is not None and r.start <= addr < r.end

    p = s.malloc(100)
    assert inside(p, cfg.user_heap)
    k = s.kmm_malloc(100)
    assert inside(k, cfg.kernel_heap)
    b = s.kmalloc(100)
    assert inside(b, cfg.page_pool)
    c = s.bt.bt_page_alloc_coherent(4096)
    assert cfg.coherent_pool is not None and inside(c, cfg.coherent_pool)
    assert s.iob is not None and cfg.iob is not None
    iob = s.iob.tryalloc()
    assert iob is not None and inside(iob.addr, cfg.iob.region)
    z = s.calloc(4, 8)
    assert z is not None and s.memory.read(z, 32) == bytes(32)
    r = s.realloc(p, 300)
    assert inside(r, cfg.user_heap)
    assert s.mallinfo().aordblks == 3  # start guard + 2 blocks
    s.kmm_free(k)
    s.kfree(b)
    s.check()


def test_heaps_are_a_user_kernel_heaps_of_the_configuration() -> None:
    cfg = small_config()
    s = MemorySystem(cfg)
    assert isinstance(s.heaps, UserKernelHeaps) and s.heaps.memory is s.memory
    assert s.heaps.config == HeapsConfig(0x40000, 0x80000, 0x10000, 0x30000, pointer_size=4)
    assert s.umm is s.heaps.user and s.kmm is s.heaps.kernel
    # the same layout as UserKernelHeaps gives the same regions: control block, then the heap
    alone = UserKernelHeaps(cfg.heaps_config())
    for ours, theirs, region in (
        (s.umm, alone.user, cfg.user_heap),
        (s.kmm, alone.kernel, cfg.kernel_heap),
    ):
        assert (ours.nodelist, ours.regions) == (theirs.nodelist, theirs.regions)
        assert region.start <= ours.nodelist < ours.regions[0][0] < ours.regions[0][1]
        assert ours.regions[0][1] <= region.end
    k = s.kmm_calloc(4, 4)  # calls the system did not have before it shared UserKernelHeaps'
    assert k is not None and s.kmm_malloc_size(k) >= 16
    with s.heaps:  # the bound functions of mmaccel.sw.heaps act on the system's heaps
        p = bound.malloc(32)
    assert p is not None and cfg.user_heap.start <= p < cfg.user_heap.end
    assert s.mallinfo().aordblks == 2  # start guard + p
    s.check()


def test_cross_heap_free_is_refused_and_changes_nothing() -> None:
    s = MemorySystem(small_config())
    p, k = s.malloc(64), s.kmm_malloc(64)

    def state() -> tuple[bytes, object, object]:
        return s.memory.read(0, 0xC0000), s.mallinfo(), s.kmm_mallinfo()

    before = state()
    with pytest.raises(InvalidPointer, match="kernel heap"):
        s.kmm_free(p)
    with pytest.raises(InvalidPointer, match="user heap"):
        s.free(k)
    assert state() == before
    s.check()


def test_heap_region_too_small_for_its_control_block() -> None:
    with pytest.raises(InvalidArgument, match=r"kernel heap .* too small"):
        MemorySystem(small_config(kernel_heap=MemoryRegion(0x10000, 0x100)))


def test_overlapping_regions_are_refused_naming_both() -> None:
    with pytest.raises(RegionConflict, match=r"kernel_heap .* and user_heap .* overlap"):
        small_config(kernel_heap=MemoryRegion(0x10000, 0x40000))
    with pytest.raises(RegionConflict, match=r"user_heap .* and iob .* overlap"):
        small_config(user_heap=MemoryRegion(0x40000, 0x80010))


def test_out_of_range_regions_are_refused() -> None:
    with pytest.raises(RegionConflict, match=r"page_pool .* outside physical memory"):
        small_config(page_pool=MemoryRegion(0x200000, 3 * MiB))
    with pytest.raises(RegionConflict, match=r"kernel_heap .* outside physical memory"):
        small_config(kernel_heap=MemoryRegion(-16, 0x100))
    with pytest.raises(InvalidArgument, match=r"page_pool .* aligned"):
        small_config(page_pool=MemoryRegion(0x200100, MiB))
    with pytest.raises(InvalidArgument, match="positive size"):
        small_config(coherent_pool=MemoryRegion(0x100000, 0))
    with pytest.raises(InvalidArgument, match="throttle below nbuffers"):
        small_config(iob=IobConfig(base=0xC0000, nbuffers=4, throttle=4))


def test_a_bad_configuration_cannot_be_built() -> None:
    with pytest.raises(RegionConflict, match=r"user_heap.*kernel_heap"):
        MemoryConfig(
            memory_size=MiB,
            user_heap=MemoryRegion(0, 0x1000),
            kernel_heap=MemoryRegion(0x800, 0x1000),
            page_pool=MemoryRegion(0x10000, 0x10000),
        )


TOML = """
memory_size = "4MiB"
[kernel_heap]
start = 0x10000
size = "192KiB"
[user_heap]
start = 0x40000
size = 0x80000
[page_pool]
start = 0x200000
size = "2MiB"
[iob]
base = 0xC0000
nbuffers = 8
bufsize = 128
"""


def test_from_toml(tmp_path: Path) -> None:
    f = tmp_path / "board.toml"
    f.write_text(TOML)
    cfg = MemoryConfig.from_toml(f)
    assert cfg.kernel_heap == MemoryRegion(0x10000, 192 * 1024)
    assert cfg.coherent_pool is None
    assert cfg.iob == IobConfig(base=0xC0000, nbuffers=8, bufsize=128)
    s = MemorySystem.from_toml(f)
    s.check()
    with pytest.raises(InvalidArgument, match="no coherent"):
        s.bt.bt_page_alloc_coherent(1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("extra = 1\n" + TOML, "unknown configuration key.*extra"),
        (TOML + "\nextra = 1\n", r"\[iob\]: unknown key.*extra"),
        (TOML.replace('size = "2MiB"', 'size = "2 lots"'), "page_pool.*2 lots"),
        (TOML.replace("[user_heap]", "[user_heapx]"), "unknown.*user_heapx"),
        (TOML.replace('memory_size = "4MiB"', ""), "memory_size"),
        (TOML + "\n[coherent_pool]\nstart = 0x100000\n", "coherent_pool.*start and size"),
        ("memory_size = [", "not valid TOML"),
    ],
)
def test_bad_toml(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(InvalidArgument, match=message):
        MemoryConfig.from_toml(f)


def test_parse_size() -> None:
    assert parse_size("4KiB") == 4096
    assert parse_size("0x10") == 16
    assert parse_size("3M") == 3 * MiB
    assert parse_size(7) == 7
    with pytest.raises(InvalidArgument, match="True"):
        parse_size(True)


def test_stats_and_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = MemorySystem(small_config())
    s.malloc(1000)
    s.kmalloc(100)
    rows = {r.name: r for r in s.stats()}
    assert rows["user_heap"].used == s.mallinfo().uordblks
    assert rows["slab"].size == 4096 and rows["slab"].used == 256
    assert rows["  slab-256"].used == 256
    assert rows["page_pool"].used == 4096
    assert rows["iob"].used == 0
    assert all(r.used + r.free == r.size for r in rows.values())

    assert main(["model", "stats", str(example_config_path()), "--check"]) == 0
    out = capsys.readouterr().out
    for name in ("user_heap", "kernel_heap", "page_pool", "coherent_pool", "slab", "iob"):
        assert name in out
    assert "33554432" in out

    bad = tmp_path / "bad.toml"
    bad.write_text(TOML.replace("start = 0x40000", "start = 0x20000"))
    assert main(["model", "stats", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "kernel_heap" in err and "user_heap" in err and "overlap" in err
    assert main(["model", "stats", str(tmp_path / "missing.toml")]) == 2


def test_stats_after_a_workload(capsys: pytest.CaptureFixture[str]) -> None:
    s = MemorySystem(small_config())
    exercise(s, 400, seed=5)
    s.check()
    rows = {r.name: r for r in s.stats()}
    for name in ("user_heap", "kernel_heap", "page_pool", "slab", "iob"):
        assert rows[name].used > 0, name
    assert rows["user_heap"].used == s.mallinfo().uordblks
    assert rows["kernel_heap"].used == s.kmm_mallinfo().uordblks
    assert main(["model", "stats", "--workload", "300", "--check"]) == 0
    out = capsys.readouterr().out
    assert "slab-" in out


class SystemMachine(RuleBasedStateMachine):
    """Every allocator of one system in random order; MemorySystem.check() after every step."""

    blocks = Bundle("blocks")

    def __init__(self) -> None:
        super().__init__()
        self.s = MemorySystem(small_config())
        self.patterns: dict[tuple[str, int], bytes] = {}
        self.n = 0

    def _fill(self, kind: str, addr: int, size: int) -> tuple[str, int, int]:
        self.n += 1
        data = bytes((self.n + k) % 256 for k in range(min(size, 64)))
        self.s.memory.write(addr, data)
        self.patterns[(kind, addr)] = data
        return (kind, addr, size)

    @rule(target=blocks, kind=st.sampled_from(["umm", "kmm", "slab"]), n=st.integers(1, 5000))
    def alloc(self, kind: str, n: int) -> object:
        fn = {"umm": self.s.malloc, "kmm": self.s.kmm_malloc, "slab": self.s.kmalloc}[kind]
        p = fn(n)
        return None if p is None else self._fill(kind, p, n)

    @rule(target=blocks, n=st.integers(1, 40000))
    def pages(self, n: int) -> object:
        p = self.s.bt.bt_page_alloc(n)
        return None if p is None else self._fill("page", p, n)

    @rule(target=blocks, n=st.integers(1, 300))
    def iob(self, n: int) -> object:
        assert self.s.iob is not None
        iob = self.s.iob.tryalloc()
        if iob is None:
            return None
        self.s.iob.copyin(iob, bytes(n % 64))
        return ("iob", iob.index, n)

    @rule(block=consumes(blocks))
    def free(self, block: tuple[str, int, int] | None) -> None:
        if block is None:
            return
        kind, addr, size = block
        if kind == "iob":
            assert self.s.iob is not None
            self.s.iob.free_chain(self.s.iob._handles[addr])
            return
        data = self.patterns.pop((kind, addr))
        assert self.s.memory.read(addr, len(data)) == data
        if kind == "umm":
            self.s.free(addr)
        elif kind == "kmm":
            self.s.kmm_free(addr)
        elif kind == "slab":
            self.s.kfree(addr)
        else:
            self.s.bt.bt_page_free(addr, size)

    @invariant()
    def check(self) -> None:
        self.s.check()
        for (_, addr), data in self.patterns.items():
            assert self.s.memory.read(addr, len(data)) == data


TestSystemMachine = SystemMachine.TestCase
TestSystemMachine.settings = settings(max_examples=25, stateful_step_count=30, deadline=None)
