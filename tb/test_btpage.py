"""BitThunder's page API over the page-frame allocator (mmaccel.sw.btpage)."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    precondition,
    rule,
)

from mmaccel.sw import (
    BtPages,
    GranuleRangeError,
    GranulesInUse,
    GranulesNotInUse,
    InvalidAlignment,
    InvalidArgument,
    InvalidPointer,
    PageAllocator,
)

PAGE = 4096


def state(bt: BtPages) -> tuple[object, ...]:
    coherent = bt.coherent.gran.free_map if bt.coherent is not None else None
    return (bt.pages.gran.free_map, coherent, bt.bt_page_info())


def test_alloc_rounds_up_to_pages_lowest_first() -> None:
    bt = BtPages(PageAllocator(0x10000, 16 * PAGE))
    a = bt.bt_page_alloc(1)
    b = bt.bt_page_alloc(PAGE + 1)
    c = bt.bt_page_alloc(PAGE)
    assert (a, b, c) == (0x10000, 0x11000, 0x13000)
    info = bt.bt_page_info()
    assert (info.normal_size, info.normal_used) == (16 * PAGE, 4 * PAGE)
    assert (info.coherent_size, info.coherent_used) == (0, 0)
    bt.check()


def test_zero_and_oversized_requests_return_none() -> None:
    bt = BtPages(PageAllocator(0, 4 * PAGE))
    assert bt.bt_page_alloc(0) is None
    assert bt.bt_page_alloc(5 * PAGE) is None
    assert bt.bt_page_alloc(4 * PAGE) == 0
    assert bt.bt_page_alloc(1) is None  # out of pages
    with pytest.raises(InvalidArgument, match="-1"):
        bt.bt_page_alloc(-1)


@pytest.mark.parametrize("order", [0, 1, 3, 5])
def test_aligned_alloc_is_aligned_to_the_address(order: int) -> None:
    # The pool starts at an odd page, so alignment counted from the pool start would be wrong.
    bt = BtPages(PageAllocator(0x3000, 256 * PAGE))
    first = bt.bt_page_alloc(PAGE)
    assert first == 0x3000
    p = bt.bt_page_alloc_aligned(2 * PAGE, order)
    assert p is not None and p % (PAGE << order) == 0
    # it is the lowest such address that is free
    expected = max(0x4000, 0x3000 + (PAGE << order) - 1) & ~((PAGE << order) - 1)
    assert p == expected
    bt.check()


def test_aligned_alloc_bad_order() -> None:
    bt = BtPages(PageAllocator(0, 16 * PAGE))
    before = state(bt)
    with pytest.raises(InvalidAlignment, match="-1"):
        bt.bt_page_alloc_aligned(PAGE, -1)
    with pytest.raises(InvalidAlignment, match="20"):
        bt.bt_page_alloc_aligned(PAGE, 20)
    assert state(bt) == before


def test_freed_pages_coalesce() -> None:
    """BitThunder's free list never merges a block with its predecessor; ours always does."""
    bt = BtPages(PageAllocator(0, 8 * PAGE))
    pages = [bt.bt_page_alloc(PAGE) for _ in range(8)]
    assert pages == [k * PAGE for k in range(8)]
    # free in an order that, in BitThunder, leaves three separate one-page blocks
    for k in (3, 1, 2):
        bt.bt_page_free(k * PAGE, PAGE)
    assert bt.pages.info().mxfree == 3
    assert bt.bt_page_alloc(3 * PAGE) == PAGE
    bt.check()


def test_free_errors_change_nothing() -> None:
    bt = BtPages(PageAllocator(0x8000, 8 * PAGE))
    a = bt.bt_page_alloc(2 * PAGE)
    assert a == 0x8000
    before = state(bt)
    with pytest.raises(GranulesNotInUse, match="not in use"):
        bt.bt_page_free(a, 3 * PAGE)
    with pytest.raises(InvalidPointer, match="0x8010"):
        bt.bt_page_free(a + 0x10, PAGE)
    with pytest.raises(InvalidPointer, match="0x0"):
        bt.bt_page_free(0, PAGE)
    with pytest.raises(GranuleRangeError):
        bt.bt_page_free(a, 9 * PAGE)
    with pytest.raises(InvalidArgument, match="-4"):
        bt.bt_page_free(a, -4)
    assert state(bt) == before
    bt.bt_page_free(a, 0)  # size 0 is ignored, as in BitThunder
    assert state(bt) == before
    bt.bt_page_free(a, 2 * PAGE)
    with pytest.raises(GranulesNotInUse):
        bt.bt_page_free(a, PAGE)


def test_reserve_rounds_outward_and_refuses_used_pages() -> None:
    bt = BtPages(PageAllocator(0, 8 * PAGE))
    bt.bt_page_reserve(PAGE + 0x800, PAGE)  # touches pages 1 and 2
    assert [bt.pages.gran.is_free(k) for k in range(4)] == [True, False, False, True]
    before = state(bt)
    with pytest.raises(GranulesInUse, match="granule 2"):
        bt.bt_page_reserve(2 * PAGE, 2 * PAGE)
    with pytest.raises(GranuleRangeError):
        bt.bt_page_reserve(7 * PAGE, 2 * PAGE)
    assert state(bt) == before
    assert bt.bt_page_alloc(2 * PAGE) == 3 * PAGE


def test_carve_coherent_pool_like_bitthunder() -> None:
    pool = PageAllocator(0x40000, 4 << 20)
    bt = BtPages.carve(pool, 1 << 20)
    assert bt.coherent is not None
    assert bt.coherent.start % (1 << 20) == 0  # order 8: 1 MiB aligned
    assert bt.coherent.start == 0x100000
    info = bt.bt_page_info()
    assert info.normal_used == 1 << 20 and info.coherent_size == 1 << 20
    c = bt.bt_page_alloc_coherent(3 * PAGE)
    assert c == bt.coherent.start
    assert bt.bt_page_info().coherent_used == 3 * PAGE
    before = state(bt)
    with pytest.raises(InvalidPointer, match="coherent pool"):
        bt.bt_page_free(c, PAGE)
    assert state(bt) == before
    bt.bt_page_free_coherent(c, 3 * PAGE)
    assert bt.bt_page_info().coherent_used == 0
    bt.bt_page_reserve_coherent(bt.coherent.start, PAGE)
    assert bt.bt_page_info().coherent_used == PAGE
    # main-pool allocations avoid the carved range
    low = bt.bt_page_alloc(0xC0000)
    assert low == 0x40000
    nxt = bt.bt_page_alloc(PAGE)
    assert nxt == 0x200000
    bt.check()


def test_no_coherent_pool() -> None:
    bt = BtPages.carve(PageAllocator(0, 16 * PAGE), 0)
    with pytest.raises(InvalidArgument, match="no coherent"):
        bt.bt_page_alloc_coherent(PAGE)
    with pytest.raises(InvalidArgument, match="coherent_size"):
        BtPages.carve(PageAllocator(0, 16 * PAGE), 100)
    with pytest.raises(InvalidArgument, match="coherent pool"):
        BtPages.carve(PageAllocator(0, 16 * PAGE), 1 << 20)


def test_page_size_must_be_4k() -> None:
    with pytest.raises(InvalidArgument, match="8192"):
        BtPages(PageAllocator(0, 1 << 20, page_shift=13))


class PageMachine(RuleBasedStateMachine):
    """Random alloc / aligned alloc / free / reserve, with a shadow of every page's owner."""

    blocks = Bundle("blocks")

    def __init__(self) -> None:
        super().__init__()
        self.bt = BtPages.carve(PageAllocator(0x3000, 96 * PAGE), 0)
        self.owner: dict[int, int] = {}  # page address -> block address
        self.freed: list[tuple[int, int]] = []

    def _take(self, p: int | None, size: int) -> tuple[int, int] | None:
        if p is None:
            return None
        n = -(-size // PAGE)
        for k in range(n):
            assert p + k * PAGE not in self.owner, "page handed out twice"
            self.owner[p + k * PAGE] = p
        return (p, size)

    @rule(target=blocks, size=st.integers(1, 12 * PAGE))
    def alloc(self, size: int) -> object:
        got = self._take(self.bt.bt_page_alloc(size), size)
        if got is None:
            free = self.bt.pages.info().mxfree
            assert free * PAGE < size
        return got

    @rule(target=blocks, size=st.integers(1, 6 * PAGE), order=st.integers(0, 4))
    def alloc_aligned(self, size: int, order: int) -> object:
        p = self.bt.bt_page_alloc_aligned(size, order)
        if p is not None:
            assert p % (PAGE << order) == 0
        return self._take(p, size)

    @rule(block=consumes(blocks))
    def free(self, block: tuple[int, int] | None) -> None:
        if block is None:
            return
        p, size = block
        self.bt.bt_page_free(p, size)
        for k in range(-(-size // PAGE)):
            del self.owner[p + k * PAGE]
        self.freed.append(block)

    @precondition(lambda self: self.freed)
    @rule(data=st.data())
    def double_free_is_refused(self, data: st.DataObject) -> None:
        block = data.draw(st.sampled_from(self.freed))
        if block[0] in self.owner:
            return  # reallocated since
        before = state(self.bt)
        with pytest.raises(GranulesNotInUse):
            self.bt.bt_page_free(*block)
        assert state(self.bt) == before

    @invariant()
    def consistent(self) -> None:
        self.bt.check()
        info = self.bt.bt_page_info()
        assert info.normal_used == len(self.owner) * PAGE


TestPageMachine = PageMachine.TestCase
TestPageMachine.settings = settings(max_examples=40, stateful_step_count=40, deadline=None)
