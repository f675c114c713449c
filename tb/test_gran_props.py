"""Property tests of GranuleAllocator against a plain list-of-bools reference."""

from __future__ import annotations

from dataclasses import dataclass

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule

from mmaccel.sw import GranuleAllocator, GranuleRangeError, GranulesInUse, GranulesNotInUse

NGRANULES = 150  # crosses several 32-bit GAT words, ends mid-word
LOG2GRAN = 6
START = 0x4000


@dataclass(frozen=True)
class Run:
    index: int
    count: int


def first_fit(used: list[bool], n: int, align: int) -> int | None:
    """The lowest multiple of ``align`` where ``n`` granules are free (the obvious scan)."""
    for p in range(0, len(used) - n + 1, align):
        if not any(used[p : p + n]):
            return p
    return None


def longest_free(used: list[bool]) -> int:
    best = run = 0
    for u in used:
        run = 0 if u else run + 1
        best = max(best, run)
    return best


class GranMachine(RuleBasedStateMachine):
    """Random alloc/free/reserve, with the whole map compared after every step."""

    runs = Bundle("runs")

    def __init__(self) -> None:
        super().__init__()
        self.gran = GranuleAllocator(START, NGRANULES << LOG2GRAN, LOG2GRAN)
        self.used = [False] * NGRANULES

    def _snapshot(self) -> tuple[list[int], object]:
        return self.gran.table(), self.gran.info()

    @rule(target=runs, n=st.integers(1, 40), align=st.sampled_from([1, 1, 2, 4, 8, 32]))
    def alloc(self, n: int, align: int) -> Run | None:
        want = first_fit(self.used, n, align)
        got = self.gran.alloc_granules(n, align)
        assert got == want
        if got is None:
            return None
        for k in range(got, got + n):
            self.used[k] = True
        return Run(got, n)

    @rule(target=runs, size=st.integers(1, 40 << LOG2GRAN))
    def alloc_bytes(self, size: int) -> Run | None:
        n = -(-size >> LOG2GRAN)
        want = first_fit(self.used, n, 1)
        addr = self.gran.alloc(size)
        assert addr == (None if want is None else START + (want << LOG2GRAN))
        if want is None:
            return None
        for k in range(want, want + n):
            self.used[k] = True
        return Run(want, n)

    @rule(run=consumes(runs))
    def free(self, run: Run | None) -> None:
        if run is None:
            return
        self.gran.free_granules(run.index, run.count)
        for k in range(run.index, run.index + run.count):
            self.used[k] = False

    @rule(index=st.integers(0, NGRANULES - 1), n=st.integers(1, 12))
    def free_of_unused_granules_is_refused(self, index: int, n: int) -> None:
        n = min(n, NGRANULES - index)
        if all(self.used[index : index + n]):
            return
        before = self._snapshot()
        try:
            self.gran.free_granules(index, n)
        except GranulesNotInUse as error:
            assert str(index) in str(error)
        else:
            raise AssertionError("free of granules not in use was accepted")
        assert self._snapshot() == before

    @rule(target=runs, index=st.integers(0, NGRANULES - 1), n=st.integers(1, 12))
    def reserve(self, index: int, n: int) -> Run | None:
        before = self._snapshot()
        if index + n > NGRANULES:
            try:
                self.gran.reserve_granules(index, n)
            except GranuleRangeError:
                assert self._snapshot() == before
                return None
            raise AssertionError("reserve beyond the heap was accepted")
        if any(self.used[index : index + n]):
            try:
                self.gran.reserve_granules(index, n)
            except GranulesInUse:
                assert self._snapshot() == before
                return None
            raise AssertionError("reserve of granules in use was accepted")
        self.gran.reserve_granules(index, n)
        for k in range(index, index + n):
            self.used[k] = True
        return Run(index, n)

    @invariant()
    def matches_reference(self) -> None:
        self.gran.check()
        table = self.gran.table()
        for k, u in enumerate(self.used):
            assert bool(table[k // 32] >> (k % 32) & 1) == u
        info = self.gran.info()
        assert info.nfree == self.used.count(False)
        assert info.mxfree == longest_free(self.used)
        assert info.ngranules == NGRANULES


TestGranProps = GranMachine.TestCase
TestGranProps.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
