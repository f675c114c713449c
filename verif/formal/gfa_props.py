"""Proof harness of the granule allocator core (``mmaccel.hdl.gfa.GranuleFrameAllocator``).

The allocator is proved at a size the solver takes (64 granules by default, two GAT words:
the RTL is the one that manages 65536). Everything is observed through the public ports:

- a shadow map, written in Amaranth inside the harness, follows the request and response
  streams: ALLOC/RESERVE answered OK mark their granules in use, FREE answered OK clears them,
  CLEAR answered OK clears everything, every other answer changes nothing;
- the debug read port, driven with a solver-chosen word (``AnyConst``), must read that word of
  the shadow in every cycle after an idle one, so the real map and the shadow never differ
  (this is what catches a failed or erroneous request that changes the map).

Properties (proved together in one run, ``gfa.all``; see :func:`gfa_proofs`):

``no_overlap``
    An ALLOC answered OK returns a run inside the heap, aligned as asked, whose granules were
    all free: a granule is never handed out while in use. RESERVE answered OK likewise; FREE
    answered OK frees only granules in use.
``free_count``
    ``resp.free_count`` equals the number of free granules of the shadow whenever no request
    is in flight (so from the cycle after every response on).
``unchanged_on_failure``
    The map (debug port) always equals the shadow, which a NO_SPACE or error answer leaves
    as it was; FREE of a free granule answers NOT_IN_USE and RESERVE of a used one IN_USE.
``lowest_fit``
    An ALLOC answered OK returns the lowest aligned fitting run and NO_SPACE is answered only
    when there is none; the "model" is a universally quantified candidate ``q``
    (``AnyConst``): no ``q`` below the answer (or at all, for NO_SPACE) may fit.
``latency``
    Every accepted request is answered within :func:`latency_bound` cycles.

Induction cannot close through the ports alone (the map is in block RAM the harness cannot
relate to its shadow), so every property is proved by bounded model checking to the stated
depth. Deliberately broken variants come from :data:`GFA_MUTATIONS` (text edits applied in
memory by :mod:`.mutate`; hdl/gfa.py is never edited).
"""

from __future__ import annotations

import types

from amaranth.asserts import AnyConst, AnySeq
from amaranth.hdl import Assert, Cat, Const, Module, Mux, Signal, Value

from mmaccel.verif.formal.mutate import Mutation, mutant_module
from mmaccel.verif.formal.sby import FormalHarness, Proof

__all__ = ["GFA_MUTATIONS", "GfaHarness", "gfa_proofs", "latency_bound"]

_GFA = "mmaccel.hdl.gfa.core"

# Operation and status codes of the contract (mmaccel.hdl.gfa.GfaOp / GfaStatus).
_ALLOC, _FREE, _RESERVE, _INFO, _CLEAR = 0, 1, 2, 3, 4
_OK, _NO_SPACE, _NOT_IN_USE, _IN_USE = 0, 1, 5, 6

#: Broken variants of the allocator, by name (text edits of hdl/gfa.py applied in memory).
GFA_MUTATIONS: dict[str, Mutation] = {
    m.name: m
    for m in [
        Mutation(
            "candidate_off_by_one",
            _GFA,
            (
                (
                    "return _sig(self.m, ((value + gmask) & ~gmask)[: self.pos_width], name)",
                    "return _sig(self.m, ((value + gmask + 1) & ~gmask)[: self.pos_width], name)",
                ),
            ),
            "the search tests the run one granule after the first aligned candidate",
        ),
        Mutation(
            "address_off_by_one",
            _GFA,
            (
                (
                    "_respond(GfaStatus.OK, gfa.base + (rstart[:17] << gfa.log2gran)[:32])",
                    "_respond(GfaStatus.OK, gfa.base + ((rstart[:17] + 1) << gfa.log2gran)[:32])",
                ),
            ),
            "ALLOC answers the address one granule after the run it marked",
        ),
        Mutation(
            "free_count_off_by_one",
            _GFA,
            (
                (
                    "m.d.sync += free_count.eq(free_count - count)",
                    "m.d.sync += free_count.eq(free_count - count + 1)",
                ),
            ),
            "ALLOC and RESERVE take one granule too few off the free count",
        ),
        Mutation(
            "check_ignored",
            _GFA,
            (("with m.If(bad):", "with m.If(bad & 0):"),),
            "FREE/RESERVE apply even when a granule is not in use / in use",
        ),
        Mutation(
            "info_hangs",
            _GFA,
            (
                (
                    "with m.If(self.early):\n                self._respond(self.early_status)",
                    "with m.If(self.early & (self.op == GfaOp.INFO)):\n"
                    '                m.next = "Decode"\n'
                    "            with m.Elif(self.early):\n"
                    "                self._respond(self.early_status)",
                ),
            ),
            "INFO is never answered",
        ),
    ]
}


def _module(mutation: str | None) -> types.ModuleType:
    if mutation is None:
        import mmaccel.hdl.gfa.core as gfa

        return gfa
    if mutation not in GFA_MUTATIONS:
        raise ValueError(f"unknown GFA mutation {mutation!r}; known: {sorted(GFA_MUTATIONS)}")
    return mutant_module(GFA_MUTATIONS[mutation])


def latency_bound(granules: int, fanout: int = 4) -> int:
    """Cycles from acceptance to response the docstring of hdl/gfa.py allows, at most.

    Its formulas, maximised over operations for this size, with ``k`` the words touched (at
    most all of them) and the update ``sum(nodes + 2) + 1`` over every level: decode (2), the
    walk (4 per group evaluated; with alignment each node is entered at most once and left at
    most once, 1 + 4 cycles), the word search (5 per word searched, 1 to leave it), Found (1),
    the word pass (``k + 4``); FREE/RESERVE check the range's end (1) and their words first
    (``k + 4``); CLEAR rewrites every word.
    """
    words = (granules + 31) // 32
    counts = [words]
    while len(counts) < 2 or counts[-1] > 1:
        counts.append((counts[-1] + fanout - 1) // fanout)
    k = words  # a range touches at most every word
    update = sum(c + 2 for c in counts[1:]) + 1
    walk = 4 + 9 * sum(counts[1:-1]) + 10 * words
    alloc = 2 + walk + 1 + (k + 4) + update
    free = 3 + (k + 4) + (k + 4) + update
    clear = 2 + words + 4 + update
    return max(alloc, free, clear)


class GfaHarness(FormalHarness):
    """Properties of the granule allocator against a shadow map (see the module docstring).

    Parameters
    ----------
    props : tuple of str
        A subset of :attr:`PROPS`.
    granules : int
        Heap size in granules (64 by default; any value the block accepts, up to 256 here).
    log2gran : int
        log2 of the granule size (small, so addresses stay small; same RTL).
    mutation : str, optional
        A key of :data:`GFA_MUTATIONS`.
    """

    PROPS = ("no_overlap", "free_count", "unchanged_on_failure", "lowest_fit", "latency")

    def __init__(
        self,
        props: tuple[str, ...],
        granules: int = 64,
        log2gran: int = 4,
        mutation: str | None = None,
    ) -> None:
        for p in props:
            if p not in self.PROPS:
                raise self.invalid(f"unknown allocator property {p!r}; known: {self.PROPS}")
        if not 1 <= granules <= 256:
            raise self.invalid(f"granules must be in 1..256 for a proof, not {granules}")
        super().__init__()
        self.props = props
        self.granules = granules
        self.log2gran = log2gran
        self.mutation = mutation

    def elaborate_harness(self, m: Module) -> None:
        mod = _module(self.mutation)
        g = self.granules
        lg = self.log2gran
        words = (g + 31) // 32
        m.submodules.gfa = dut = mod.GranuleFrameAllocator(granules=g, log2gran=lg)

        req = dut.req.payload
        m.d.comb += [
            dut.req.valid.eq(AnySeq(1)),
            Value.cast(req).eq(AnySeq(len(Value.cast(req)))),
            dut.resp.ready.eq(AnySeq(1)),
        ]
        watch = Signal(range(max(words, 2)))
        m.d.comb += [watch.eq(AnyConst(len(watch))), dut.dbg_addr.eq(watch)]

        # -- the request in flight ---------------------------------------------------------
        accept = dut.req.valid & dut.req.ready
        pending = Signal()  # accepted, response not yet produced
        answered = Signal()  # response produced, not yet taken
        op = Signal(3)
        count = Signal(17)
        addr = Signal(32)
        align = Signal(32)
        bound = latency_bound(g)
        waited = Signal(range(bound + 2))  # cycles since acceptance, saturating past the bound
        resp = dut.resp.payload
        status = Value.cast(resp.status)
        new = dut.resp.valid & pending  # the first cycle of a response
        with m.If(new):
            m.d.sync += [pending.eq(0), answered.eq(~dut.resp.ready)]
        with m.Elif(pending & (waited <= bound)):
            m.d.sync += waited.eq(waited + 1)
        # (a request accepted in the cycle its predecessor's response is taken wins)
        with m.If(accept):
            m.d.sync += [
                pending.eq(1),
                op.eq(Value.cast(req.op)),
                count.eq(req.count),
                addr.eq(req.addr),
                align.eq(req.align),
                waited.eq(1),
            ]
        with m.If(dut.resp.valid & dut.resp.ready & ~new):
            m.d.sync += answered.eq(0)
        m.d.comb += Assert(~dut.resp.valid | pending | answered, "no response without a request")

        # -- the shadow map: bit k = granule k in use --------------------------------------
        shadow = Signal(g)
        nb = (2 * g).bit_length()  # granule indices and counts below 2g fit in nb bits

        def small(value: Value) -> tuple[Value, Value]:
            """(value below 2**nb, its low nb bits): keeps the masks' arithmetic narrow."""
            return value[nb:] == 0, value[:nb]

        def run_mask(first: Value, n: Value) -> Value:
            # Granules first .. first+n-1 (those below g), first and n narrow.
            ones = (Const(1, 2 * g + 1) << n) - 1
            return (ones << first)[:g]

        count_small, n_lo = small(count)
        index_small, index = small(addr >> lg)
        in_heap = (addr[:lg] == 0) & index_small & count_small & (index + n_lo <= g)
        range_mask = run_mask(index, n_lo)
        got_small, got = small(resp.addr >> lg)
        got_mask = run_mask(got, n_lo)
        is_ok = status == _OK
        after = Signal(g)
        m.d.comb += after.eq(shadow)
        with m.If(new & is_ok), m.Switch(op):
            with m.Case(_ALLOC):
                m.d.comb += after.eq(shadow | got_mask)
            with m.Case(_RESERVE):
                m.d.comb += after.eq(shadow | range_mask)
            with m.Case(_FREE):
                m.d.comb += after.eq(shadow & ~range_mask)
            with m.Case(_CLEAR):
                m.d.comb += after.eq(0)
        with m.If(new):
            m.d.sync += shadow.eq(after)

        def free_granules(bits: Value) -> Value:
            # Population count of the free bits as a balanced adder tree.
            terms: list[Value] = [~bits[i] for i in range(g)]
            while len(terms) > 1:
                pairs = [terms[j] + terms[j + 1] for j in range(0, len(terms) - 1, 2)]
                terms = pairs + ([terms[-1]] if len(terms) % 2 else [])
            return terms[0]

        valid_count = (count >= 1) & (count <= g)
        align_ok = (align & (align - 1)) == 0

        def aligned(byte_addr: Value) -> Value:  # base 0: offsets are addresses
            return (byte_addr & (align - 1)) == 0

        if "no_overlap" in self.props:
            alloc_ok = new & is_ok & (op == _ALLOC)
            m.d.comb += Assert(
                ~alloc_ok
                | (
                    valid_count
                    & (resp.addr[:lg] == 0)
                    & got_small
                    & (got + n_lo <= g)
                    & ((shadow & got_mask) == 0)
                    & ((align == 0) | aligned(resp.addr))
                ),
                "ALLOC hands out free granules inside the heap, aligned",
            )
            m.d.comb += Assert(
                ~(new & is_ok & (op == _RESERVE)) | (in_heap & ((shadow & range_mask) == 0)),
                "RESERVE marks only free granules",
            )
            m.d.comb += Assert(
                ~(new & is_ok & (op == _FREE)) | (in_heap & ((shadow & range_mask) == range_mask)),
                "FREE clears only granules in use",
            )

        if "free_count" in self.props:
            # Checked whenever no request is in flight (from the cycle after each response on);
            # the counter is the register every response carries.
            m.d.comb += Assert(
                pending | (resp.free_count == free_granules(shadow)),
                "free_count == free granules whenever no request is in flight",
            )

        if "unchanged_on_failure" in self.props:
            idle_before = Signal()
            m.d.sync += idle_before.eq(~dut.busy & ~pending)
            word = Cat(shadow, Const(0, 32 * max(words, 2) - g)).word_select(watch, 32)
            m.d.comb += Assert(
                ~idle_before | (dut.dbg_data == word),
                "the map equals the shadow (failures and errors change nothing)",
            )
            checked = new & valid_count & in_heap
            m.d.comb += Assert(
                ~(checked & (op == _FREE))
                | ((status == _NOT_IN_USE) == ((shadow & range_mask) != range_mask)),
                "FREE answers NOT_IN_USE exactly when a granule is free",
            )
            m.d.comb += Assert(
                ~(checked & (op == _RESERVE))
                | ((status == _IN_USE) == ((shadow & range_mask) != 0)),
                "RESERVE answers IN_USE exactly when a granule is in use",
            )

        if "lowest_fit" in self.props:
            q = Signal(range(g))
            m.d.comb += q.eq(AnyConst(len(q)))
            q_fits = (
                (q + n_lo <= g)
                & ((shadow & run_mask(q, n_lo)) == 0)
                & ((align == 0) | aligned(q << lg))
            )
            alloc_valid = new & (op == _ALLOC) & valid_count & align_ok
            m.d.comb += Assert(
                ~(alloc_valid & is_ok) | (got_small & ~(q_fits & (q < got))),
                "ALLOC returns the lowest fitting run",
            )
            m.d.comb += Assert(
                ~alloc_valid | (status != _NO_SPACE) | ~q_fits,
                "NO_SPACE only when no run fits",
            )
            m.d.comb += Assert(
                ~alloc_valid | is_ok | (status == _NO_SPACE),
                "a valid ALLOC answers OK or NO_SPACE",
            )

        if "latency" in self.props:
            # INFO and the errors found from the fields alone (BAD_OP, a zero count): latency 2,
            # so the response is valid while ``waited`` (1 in the cycle after acceptance) is 3.
            counted = (op == _ALLOC) | (op == _FREE) | (op == _RESERVE)
            quick = (op == _INFO) | (op >= 5) | (counted & (count == 0))
            m.d.comb += Assert(
                ~pending | (waited <= Mux(quick, 3, bound)),
                f"every request answered within its bound (3 or {bound} cycles)",
            )


#: Steps of the allocator's bounded proofs (one complete FREE from the empty map, and margin).
BMC_DEPTH = 20


def gfa_proofs(granules: int = 64, deep: bool = False) -> list[Proof]:
    """The allocator's proofs (expected PASS) and its mutants (expected FAIL).

    The five properties are proved in one run, ``gfa.all`` (the design's own cost, most of
    the solver's time, is then paid once). Depth :data:`BMC_DEPTH` covers any sequence of short
    requests and one complete ALLOC, FREE or RESERVE from the empty map (FREE: 17 cycles at 64
    granules, answered in the 19th step); ``deep=True`` proves each property in its own run to 32
    cycles (two complete operations; tens of minutes). Each mutant runs with the one property
    it breaks.
    """
    everything = GfaHarness.PROPS
    if deep:
        proofs = [
            Proof(
                f"gfa.{p}",
                lambda p=p: GfaHarness((p,), granules=granules),  # type: ignore[misc]
                "bmc",
                32,
                f"granule allocator, {granules} granules: {p}",
                timeout=7200,
            )
            for p in everything
        ]
    else:
        proofs = [
            Proof(
                "gfa.all",
                lambda: GfaHarness(everything, granules=granules),
                "bmc",
                BMC_DEPTH,
                f"granule allocator, {granules} granules: " + ", ".join(everything),
                timeout=900,
            )
        ]
    mutants = [
        ("no_overlap", "address_off_by_one"),
        ("free_count", "free_count_off_by_one"),
        ("unchanged_on_failure", "check_ignored"),
        ("lowest_fit", "candidate_off_by_one"),
        ("latency", "info_hangs"),
    ]
    proofs += [
        Proof(
            f"gfa.{p}!{bug}",
            lambda p=p, bug=bug: GfaHarness((p,), granules=granules, mutation=bug),  # type: ignore[misc]
            "bmc",
            BMC_DEPTH,
            GFA_MUTATIONS[bug].description,
            expect="FAIL",
        )
        for p, bug in mutants
    ]
    return proofs
