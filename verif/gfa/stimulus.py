"""Requests for the allocator's test benches: random (:class:`GfaStimulus`) and directed.

Each request is applied to a :class:`~mmaccel.verif.gfa.reference.GfaReference` as it is made,
so the expected response travels with it.
"""

from __future__ import annotations

import random

from mmaccel.hdl.gfa import GfaOp, GfaStatus
from mmaccel.verif.gfa.reference import GfaReference, GfaResult, Request, code

__all__ = ["GfaStimulus", "directed_requests"]

_ALLOC, _FREE, _RESERVE, _INFO, _CLEAR = (
    code(op) for op in (GfaOp.ALLOC, GfaOp.FREE, GfaOp.RESERVE, GfaOp.INFO, GfaOp.CLEAR)
)
_OK = code(GfaStatus.OK)


class GfaStimulus:
    """Random requests for the regression, applied to a :class:`GfaReference` as they are made.

    Allocations are mostly 1..32 granules with some large ones (up to the whole heap); frees
    release live blocks whole or in part; the target occupancy sweeps up and down between 10%
    and 95%. With ``errors`` true about one request in twelve is invalid or answered with an
    error (bad counts, addresses, alignments, op codes, double frees, reservations of used
    granules), and a few are aligned allocations, RESERVE, INFO and CLEAR.

    Parameters
    ----------
    ref : GfaReference
        The model to drive; :meth:`step` applies each request to it.
    seed : int
        Seed of the random generator (same seed, same requests).
    errors : bool
        Mix in error cases, alignment, RESERVE, INFO and CLEAR (else plain alloc/free churn).
    period : int
        Requests per occupancy sweep (10% -> 95% -> 10%).
    """

    def __init__(
        self, ref: GfaReference, seed: int, *, errors: bool = True, period: int = 4000
    ) -> None:
        self.ref = ref
        self.rng = random.Random(seed)
        self.errors = errors
        self.period = max(2, period)
        self.live: list[tuple[int, int]] = []  # (granule index, count) blocks in use
        self._where: dict[int, int] = {}  # granule index of a live block -> its place in live
        self.used = 0
        self.steps = 0

    def target(self) -> float:
        """Target occupancy of the current step (a triangle wave between 0.10 and 0.95)."""
        phase = (self.steps % self.period) / self.period
        tri = 2 * phase if phase < 0.5 else 2 - 2 * phase
        return 0.10 + 0.85 * tri

    def _size(self) -> int:
        n = self.ref.granules
        r = self.rng.random()
        if r < 0.94:
            return self.rng.randint(1, min(32, n))
        if r < 0.995:
            return self.rng.randint(1, max(1, min(n, 1024)))
        return self.rng.randint(1, n)

    def _addr(self, index: int) -> int:
        return self.ref.base + (index << self.ref.log2gran)

    def _request(self) -> Request:
        ref = self.ref
        n = ref.granules
        rng = self.rng
        if self.errors and rng.random() < 0.12:
            kind = rng.randrange(12)
            gsize = 1 << ref.log2gran
            if kind == 0:
                return (_ALLOC, rng.choice([0, n + 1, n + rng.randint(1, 9999)]), 0, 0)
            if kind == 1:
                bad = rng.choice([3, 6, 0x30, 0xFFFF_FFFF, (1 << 31) + 1])
                return (_ALLOC, rng.randint(1, 8), 0, bad)
            if kind == 2:
                align = 1 << rng.randint(0, min(31, ref.log2gran + n.bit_length() + 1))
                return (_ALLOC, self._size(), 0, align)
            if kind in (3, 4):
                op = rng.choice([_FREE, _RESERVE])
                index = rng.randint(-2, n + 2)
                addr = (self._addr(0) + index * gsize + rng.choice([0, 0, 0, 1, gsize // 2])) & (
                    0xFFFF_FFFF
                )
                return (op, rng.choice([0, 1, 2, rng.randint(1, 64), n, n + 1]), addr, 0)
            if kind in (5, 6) and self.live:
                index, count = rng.choice(self.live)
                # a range overlapping a live block: FREE succeeds only if all in use, RESERVE fails
                start = max(0, index + rng.randint(-3, count))
                op = rng.choice([_FREE, _RESERVE])
                return (op, rng.randint(1, count + 3), self._addr(start), 0)
            if kind == 7:
                return (_INFO, rng.randint(0, 3), 0, 0)
            if kind == 8 and rng.random() < 0.05:
                return (_CLEAR, 0, 0, 0)
            if kind == 9:
                return (rng.randint(5, 7), rng.randint(0, 9), 0, 0)
            if kind == 10:
                start = rng.randrange(n)
                return (_RESERVE, rng.randint(1, 16), self._addr(start), 0)
            align = 1 << rng.randint(0, min(31, ref.log2gran + 6))
            return (_ALLOC, rng.randint(1, 40), 0, align)
        want_alloc = self.used < self.target() * n or not self.live
        if want_alloc:
            return (_ALLOC, self._size(), 0, 0)
        i = rng.randrange(len(self.live))
        index, count = self.live[i]
        if count > 1 and rng.random() < 0.1:
            part = rng.randint(1, count - 1)
            return (_FREE, part, self._addr(index + (count - part)), 0)
        return (_FREE, count, self._addr(index), 0)

    def step(self) -> tuple[Request, GfaResult]:
        """Make one request, apply it to the model, and return it with the expected response."""
        req = self._request()
        op, count, addr, _ = req
        result = self.ref.apply(*req)
        self.steps += 1
        if result.status == _OK:
            gshift = self.ref.log2gran
            if op == _ALLOC:
                self._add(((result.addr - self.ref.base) >> gshift, count))
            elif op == _RESERVE:
                self._add(((addr - self.ref.base) >> gshift, count))
            elif op == _FREE:
                self._forget((addr - self.ref.base) >> gshift, count)
            elif op == _CLEAR:
                self.live.clear()
                self._where.clear()
            self.used = self.ref.granules - result.free_count
        return req, result

    def _add(self, block: tuple[int, int]) -> None:
        self._where[block[0]] = len(self.live)
        self.live.append(block)

    def _forget(self, index: int, count: int) -> None:
        """Drop granules ``index .. index+count-1`` (all in use) from the live blocks."""
        at = self._where.get(index)
        if at is not None and self.live[at][1] == count:  # a whole block: O(1)
            last = self.live.pop()
            del self._where[index]
            if at < len(self.live):
                self.live[at] = last
                self._where[last[0]] = at
            return
        end = index + count
        kept: list[tuple[int, int]] = []
        for start, n in self.live:
            stop = start + n
            if stop <= index or start >= end:
                kept.append((start, n))
                continue
            if start < index:
                kept.append((start, index - start))
            if stop > end:
                kept.append((end, stop - end))
        self.live = kept
        self._where = {start: i for i, (start, _) in enumerate(kept)}


def directed_requests(
    granules: int, log2gran: int = 12, base: int = 0, fanout: int = 4
) -> list[Request]:
    """The directed edge cases, in order, for a heap of ``granules`` granules.

    Empty and full map, n = N, a run ending at the last granule, runs crossing word and tree
    node boundaries, every alignment, and every error case (each followed, in the test benches,
    by a comparison of the whole map). Expected responses come from :class:`GfaReference`.
    """
    n = granules
    g = 1 << log2gran
    ALLOC, FREE, RESERVE, INFO, CLEAR = (
        code(op) for op in (GfaOp.ALLOC, GfaOp.FREE, GfaOp.RESERVE, GfaOp.INFO, GfaOp.CLEAR)
    )

    def at(index: int) -> int:
        return base + index * g

    reqs: list[Request] = [
        (INFO, 0, 0, 0),
        (ALLOC, n, 0, 0),  # n = N on an empty map
        (ALLOC, 1, 0, 0),  # full map: NO_SPACE
        (INFO, 0, 0, 0),
        (RESERVE, 1, at(n - 1), 0),  # IN_USE on a full map
        (FREE, n, at(0), 0),
        (FREE, 1, at(0), 0),  # NOT_IN_USE on an empty map
        (ALLOC, n, 0, 0),
        (FREE, 1, at(n - 1), 0),
        (ALLOC, 1, 0, 0),  # the last granule
        (ALLOC, 1, 0, 0),
        (CLEAR, 0, 0, 0),
    ]
    if n > 5:
        reqs += [(RESERVE, n - 5, at(0), 0), (ALLOC, 5, 0, 0), (ALLOC, 1, 0, 0), (CLEAR, 0, 0, 0)]
    # runs crossing word and tree-node boundaries: leave 3 free before the boundary, 6 after
    span = 32
    while span < n:
        for before in (3, 1):
            if span - before - 1 > 0 and span + 8 <= n:
                reqs += [
                    (RESERVE, span - before - 1, at(0), 0),
                    (ALLOC, before + 6, 0, 0),
                    (ALLOC, 2, 0, 0),
                    (CLEAR, 0, 0, 0),
                ]
        span *= fanout
    # every alignment from none to beyond the heap
    top = min(31, log2gran + n.bit_length() + 1)
    for k in range(top + 1):
        reqs += [
            (RESERVE, 1, at(0), 0),
            (ALLOC, 1, 0, 1 << k),
            (ALLOC, 3, 0, 1 << k),
            (ALLOC, min(n, 33), 0, 1 << k),
            (CLEAR, 0, 0, 0),
        ]
    # aligned search that must back out of a word: granules 3..12 are free (a run of 10, too
    # short for 6 at a multiple of 8), the answer is 40
    if n >= 48:
        reqs += [
            (RESERVE, 3, at(0), 0),
            (RESERVE, 27, at(13), 0),
            (ALLOC, 6, 0, 8 * g),
            (ALLOC, 2, 0, 4 * g),
            (CLEAR, 0, 0, 0),
        ]
    # errors, each leaving the map as it was (a few blocks are in use meanwhile)
    reqs += [(ALLOC, min(n, 7), 0, 0), (RESERVE, 1, at(n - 1), 0)]
    reqs += [
        (ALLOC, 0, 0, 0),
        (ALLOC, n + 1, 0, 0),
        (ALLOC, (1 << 17) - 1, 0, 0),
        (ALLOC, 1, 0, 3),
        (ALLOC, 1, 0, 0x30),
        (ALLOC, 1, 0, 0xFFFF_FFFF),
        (FREE, 0, at(0), 0),
        (FREE, 1, at(0) + g // 2, 0),
        (FREE, 1, at(n), 0),
        (FREE, 2, at(n - 1), 0),
        (FREE, n + 1, at(0), 0),
        (FREE, 1, (base - g) & 0xFFFF_FFFF, 0),
        (FREE, 1, 0xFFFF_FFFF, 0),
        (FREE, 1, at(n - 2), 0) if n > 8 else (FREE, 1, at(n - 1) + 1, 0),
        (RESERVE, 0, at(0), 0),
        (RESERVE, 1, at(0), 0),
        (RESERVE, 1, at(n - 1), 0),
        (RESERVE, 1, at(0) + 1, 0),
        (RESERVE, 2, at(n - 1), 0),
        (RESERVE, n + 1, at(0), 0),
        (RESERVE, 1, (base - g) & 0xFFFF_FFFF, 0),
        (5, 1, 0, 0),
        (6, 1, 0, 0),
        (7, 1, 0, 0),
        (INFO, 0, 0, 0),
        (FREE, min(n, 7), at(0), 0),
        (FREE, 1, at(n - 1), 0),
        (INFO, 0, 0, 0),
    ]
    return reqs
