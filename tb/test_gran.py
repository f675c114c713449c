"""Directed tests of the granule and page allocators (sw/gran.py)."""

from __future__ import annotations

from typing import Any

import pytest

from mmaccel.sw import (
    GranInfo,
    GranuleAllocator,
    GranuleRangeError,
    GranulesInUse,
    GranulesNotInUse,
    InvalidAlignment,
    InvalidArgument,
    InvalidPointer,
    MemoryManagerError,
    PageAllocator,
    PageInfo,
)


def state(g: GranuleAllocator) -> tuple[list[int], GranInfo]:
    return g.table(), g.info()


def test_initialize_rounds_start_and_counts_whole_granules() -> None:
    g = GranuleAllocator(0x1003, 0x1000, log2gran=6, log2align=4)
    assert g.heapstart == 0x1010
    assert g.ngranules == (0x2003 - 0x1010) >> 6
    assert g.info() == GranInfo(6, g.ngranules, g.ngranules, g.ngranules)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"start": 0, "size": 16, "log2gran": 0},
        {"start": 0, "size": 16, "log2gran": 32},
        {"start": 0, "size": 16, "log2gran": 4, "log2align": 5},
        {"start": 0, "size": 15, "log2gran": 4},
        {"start": 0, "size": 65537 << 4, "log2gran": 4},
    ],
)
def test_bad_parameters_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgument):
        GranuleAllocator(**kwargs)


def test_65535_limit_only_with_quirks() -> None:
    assert GranuleAllocator(0, 65536 << 4, 4).ngranules == 65536
    with pytest.raises(InvalidArgument, match="65535"):
        GranuleAllocator(0, 65536 << 4, 4, nuttx_quirks=True)


def test_first_fit_lowest_index_crossing_words() -> None:
    g = GranuleAllocator(0, 128 << 4, 4)
    assert g.alloc_granules(30) == 0
    assert g.alloc_granules(5) == 30  # crosses the word boundary at 32
    g.free_granules(0, 30)
    assert g.alloc_granules(31) == 35  # the 30-granule hole at 0 is too small
    assert g.alloc_granules(30) == 0  # the freed hole is the lowest fit


def test_exact_first_fit_not_best_fit() -> None:
    g = GranuleAllocator(0, 64 << 4, 4)
    assert g.alloc_granules(64) == 0
    g.free_granules(2, 10)  # hole of 10 at 2
    g.free_granules(20, 3)  # hole of 3 at 20
    assert g.alloc_granules(3) == 2  # first fit takes the lower, larger hole


def test_run_ending_at_last_granule_and_full_map() -> None:
    g = GranuleAllocator(0, 100 << 4, 4)  # not a multiple of 32
    assert g.alloc_granules(90) == 0
    assert g.alloc_granules(10) == 90
    assert g.info() == GranInfo(4, 100, 0, 0)
    assert g.alloc_granules(1) is None
    assert g.table()[-1] == (1 << 4) - 1  # granules 96..99 in the last word


def test_no_32_granule_limit_but_quirks_keep_it() -> None:
    g = GranuleAllocator(0, 1000 << 4, 4)
    assert g.alloc(1000 << 4) == 0
    q = GranuleAllocator(0, 1000 << 4, 4, nuttx_quirks=True)
    with pytest.raises(InvalidArgument, match="32"):
        q.alloc(33 << 4)


def test_alignment_counts_from_first_granule() -> None:
    g = GranuleAllocator(0x1010, 256 << 4, 4)
    assert g.alloc(16) == 0x1010
    # 64-byte alignment = 4 granules from the heap's first granule, not from address 0
    assert g.alloc(16, align=64) == 0x1010 + 4 * 16
    assert g.alloc(16, align=8) == 0x1010 + 16  # alignment below a granule is no constraint
    assert g.alloc(32 << 4, align=32 << 4) == 0x1010 + (32 << 4)


@pytest.mark.parametrize("align", [3, 24, -16])
def test_bad_alignment(align: int) -> None:
    g = GranuleAllocator(0, 64 << 4, 4)
    before = state(g)
    with pytest.raises(InvalidAlignment, match=str(align)):
        g.alloc(16, align=align)
    assert state(g) == before


@pytest.mark.parametrize("size", [0, -1, (64 << 4) + 1])
def test_bad_size(size: int) -> None:
    g = GranuleAllocator(0, 64 << 4, 4)
    g.alloc(16)
    before = state(g)
    with pytest.raises(InvalidArgument):
        g.alloc(size)
    assert state(g) == before


def test_free_errors_leave_map_unchanged() -> None:
    g = GranuleAllocator(0x100, 64 << 4, 4)
    a = g.alloc(4 << 4)
    assert a == 0x100
    before = state(g)
    with pytest.raises(GranulesNotInUse, match="granule 4"):
        g.free(a, 5 << 4)  # one granule past the block is free
    with pytest.raises(InvalidPointer, match="0x108"):
        g.free(0x108, 16)  # not a granule boundary
    with pytest.raises(GranuleRangeError, match="0x500"):
        g.free(0x100 + (64 << 4), 16)  # past the heap
    with pytest.raises(GranuleRangeError, match="0x0"):
        g.free(0x0, 16)  # below the heap
    with pytest.raises(TypeError, match="addr must be an int, not None"):
        g.free(None, 16)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="size must be an int, not '16'"):
        g.free(a, "16")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"addr must be an int, not 1\.5"):
        g.reserve(1.5, 16)  # type: ignore[arg-type]
    with pytest.raises(GranuleRangeError):
        g.free_granules(62, 4)  # range leaves the heap
    assert state(g) == before
    g.free(a, 4 << 4)
    with pytest.raises(GranulesNotInUse):  # double free
        g.free(a, 4 << 4)


def test_reserve_and_its_errors() -> None:
    g = GranuleAllocator(0x1000, 64 << 4, 4)
    g.reserve(0x1010, 0x30)  # granules 1..3
    assert g.table()[0] == 0b1110
    before = state(g)
    with pytest.raises(GranulesInUse, match="granule 3"):
        g.reserve(0x1030, 0x20)
    with pytest.raises(GranuleRangeError):
        g.reserve(0x1000 + (63 << 4), 0x20)
    assert state(g) == before
    assert g.alloc(16) == 0x1000
    assert g.alloc(16) == 0x1040


def test_reserve_quirk_marks_one_more_granule() -> None:
    # NuttX 10.2.0: reserve(0x1010, 0x30) with 16-byte granules marks granules 1..4
    q = GranuleAllocator(0x1000, 64 << 4, 4, nuttx_quirks=True)
    q.reserve(0x1010, 0x30)
    assert q.table()[0] == 0b11110
    # ... but not when start+size-1 is itself granule aligned
    q2 = GranuleAllocator(0x1000, 64 << 4, 4, nuttx_quirks=True)
    q2.reserve(0x1010, 0x31)
    assert q2.table()[0] == 0b11110


def test_info_longest_free_run() -> None:
    g = GranuleAllocator(0, 300 << 4, 4)
    assert g.alloc_granules(300) == 0
    g.free_granules(5, 7)
    g.free_granules(40, 100)
    g.free_granules(150, 99)
    assert g.info() == GranInfo(4, 300, 206, 100)
    g.free_granules(140, 10)
    assert g.info().mxfree == 209


def test_table_layout_and_clear() -> None:
    g = GranuleAllocator(0, 70 << 4, 4)
    g.reserve_granules(31, 3)
    assert g.table() == [1 << 31, 0b11, 0]
    g.clear()
    assert g.table() == [0, 0, 0]
    assert g.nfree == 70


def test_errors_are_memory_manager_errors() -> None:
    g = GranuleAllocator(0, 16 << 4, 4)
    with pytest.raises(MemoryManagerError):
        g.free(0, 16)


def test_page_allocator() -> None:
    pages = PageAllocator(0x8000_0000, 64 << 12)
    assert pages.info() == PageInfo(64, 64, 64)
    a = pages.alloc(3)
    b = pages.alloc(4, align_pages=4)
    assert a == 0x8000_0000
    assert b == 0x8000_4000
    pages.reserve(0x8000_3000, 1)
    assert pages.alloc(1) == 0x8000_8000
    pages.free(a, 3)
    assert pages.alloc(2) == a
    assert pages.info() == PageInfo(64, 64 - 2 - 4 - 1 - 1, 64 - 9)
    with pytest.raises(GranulesNotInUse):
        pages.free(0x8001_0000, 1)
    pages.check()


def test_page_allocator_names_its_own_parameter() -> None:
    from mmaccel.sw import PageAllocator

    with pytest.raises(InvalidArgument, match=r"page_shift must be in 1\.\.31, not 0"):
        PageAllocator(0x1000, 0x10000, page_shift=0)
    with pytest.raises(TypeError, match="page_shift must be an int, not '12'"):
        PageAllocator(0x1000, 0x10000, page_shift="12")  # type: ignore[arg-type]
