"""Proof harnesses of the Sv32 MMU (``mmaccel.hdl.mmu``): TLB flushes, ASIDs, permissions.

Two harnesses, both driving every input of the block under proof with ``AnySeq``:

:class:`TlbHarness` (the :class:`~mmaccel.hdl.mmu.Tlb` alone), on the lookup path the
:class:`~mmaccel.hdl.mmu.Mmu` uses (``fast_hit``, ``fast_onehot``, and ``sel_entry`` read out by
that one-hot: per-entry "live" bits computed one cycle ahead from that cycle's ASID, fill and
flush)
    ``flush_covers``: after any of sfence.vma's four forms, no lookup hits an entry the flush
    covered, until a fill brings that translation back. A ghost bit tracks one translation tag
    ``T`` (chosen by the solver, ``AnyConst``): set by a fill of ``T``, cleared by a flush
    covering ``T``; a hit whose single matching entry carries tag ``T`` requires the bit.
    ``asid_isolation``: no hit in a cycle whose lookup ASID differs from the previous cycle's
    (such a request misses, as documented), and a hit whose single matching entry is known
    is global or of the lookup's ASID.

:class:`MmuHarness` (the whole :class:`~mmaccel.hdl.mmu.Mmu`: TLB, walker, permission check)
    The solver picks satp (constant), a watched virtual page ``W`` and the page-table memory
    seen by its walk: the root PTE and its bus error at ``root + 4*VPN[1]``, the second-level
    PTE and its error at ``PPN(root PTE)*4096 + 4*VPN[0]``; every other bus read returns
    anything. ``permission_check``: every answer to a request for page ``W`` equals
    :func:`sv32_reference`, a plain combinational statement of the Sv32 rules (walk faults,
    R/W/X with MXR, U with SUM, A and D), for all requests, PTEs and bus timings, whether the
    request hit or missed. ``flush_no_stale_walk``: the memory may also change at a flush that
    covers ``W`` (as when software edits a PTE and runs sfence.vma); a request accepted after
    that flush must be answered from the new memory, so neither a covered TLB entry nor a walk
    that began before the flush (whose PTE reads are stale) may have refilled the TLB.

Deliberately broken variants are built by :mod:`.mutate` from the modules' sources (see
:data:`MMU_MUTATIONS`); the files themselves are never edited. A mutant of the TLB
(``hdl/mmu/tlb.py``) reaches the :class:`~mmaccel.hdl.mmu.Mmu` too: the harness of the whole MMU
builds it from a copy of ``hdl/mmu/mmu.py`` that imports the mutant ``Tlb``.
"""

from __future__ import annotations

import importlib
import types
from typing import Any

from amaranth.asserts import AnyConst, AnySeq
from amaranth.hdl import Assert, Assume, Cat, Const, Module, Mux, Signal, Value

from mmaccel.verif.formal.mutate import Mutation, mutant_module
from mmaccel.verif.formal.sby import FormalHarness, Proof

__all__ = [
    "MMU_MUTATIONS",
    "MmuHarness",
    "TlbHarness",
    "mmu_proofs",
    "sv32_reference",
]

_TLB = "mmaccel.hdl.mmu.tlb"
_MMU = "mmaccel.hdl.mmu.mmu"

#: Broken variants of the MMU, by name (text edits of hdl/mmu/tlb.py or hdl/mmu/mmu.py applied
#: in memory).
MMU_MUTATIONS: dict[str, Mutation] = {
    m.name: m
    for m in [
        Mutation(
            "flush_skips_entry0",
            _TLB,
            (
                ("with m.If(self.flush & kill):", "with m.If(self.flush & kill & (i != 0)):"),
                (
                    "live_r[i].eq(~self.flush & ~kill_r[i] & next_live)",
                    "live_r[i].eq(~(self.flush & (i != 0)) & ~kill_r[i] & next_live)",
                ),
            ),
            "the TLB flush never invalidates entry 0 (neither its valid bit nor its live bit)",
        ),
        Mutation(
            "asid_bit0_ignored",
            _TLB,
            (
                (
                    "own_asid = e.g | (e.asid == self.lookup_asid)",
                    "own_asid = e.g | (e.asid[1:] == self.lookup_asid[1:])",
                ),
                (
                    "fill_asid_ok = fe.g | (fe.asid == self.lookup_asid)",
                    "fill_asid_ok = fe.g | (fe.asid[1:] == self.lookup_asid[1:])",
                ),
            ),
            "the TLB's live bits compare only ASID bits 8..1",
        ),
        Mutation(
            "asid_change_hits",
            _TLB,
            (
                (
                    '"fast_hit",\n            lambda a, b, same, fl: (a | b) & same & ~fl,',
                    '"fast_hit",\n            lambda a, b, same, fl: (a | b) & ~fl,',
                ),
            ),
            "the TLB hits in the cycle the ASID changes (on live bits of the old ASID)",
        ),
        Mutation(
            "live_ignores_flush",
            _TLB,
            (
                (
                    "live_r[i].eq(~self.flush & ~kill_r[i] & next_live)",
                    "live_r[i].eq(~kill_r[i] & next_live)",
                ),
            ),
            "an entry's live bit ignores the flush of its cycle (hit the cycle after a flush)",
        ),
        Mutation(
            "sum_allows_fetch",
            _MMU,
            (
                (
                    "sum_ok_in = self.req.payload.sum & (acc_in != Access.FETCH)",
                    "sum_ok_in = self.req.payload.sum",
                ),
            ),
            "S-mode may execute from a U page when SUM is set",
        ),
        Mutation(
            "hit_skips_permissions",
            _MMU,
            (
                (
                    "m.d.sync += s_allowed.eq(tlb.fast_onehot & allowed_in)",
                    "m.d.sync += s_allowed.eq(tlb.fast_onehot)",
                ),
            ),
            "a TLB hit is allowed whatever the entry's permissions (only walks are checked)",
        ),
        Mutation(
            "restart_ignored",
            _MMU,
            (("ptw.restart.eq(self.flush)", "ptw.restart.eq(0)"),),
            "a flush does not restart the walk in flight (its stale result fills the TLB)",
        ),
    ]
}


def _module(name: str, mutation: str | None) -> types.ModuleType:
    """The MMU's module ``name``, or its copy built on the mutant ``mutation``.

    A mutant of another module reaches ``name`` if ``name`` imports it (a TLB mutant reaches
    the module of the Mmu); see :func:`~.mutate.mutant_module`.
    """
    if mutation is None:
        return importlib.import_module(name)
    if mutation not in MMU_MUTATIONS:
        raise ValueError(f"unknown MMU mutation {mutation!r}; known: {sorted(MMU_MUTATIONS)}")
    return mutant_module(MMU_MUTATIONS[mutation], name)


def _any(m: Module, port: Any) -> None:
    """Drive ``port`` (a signal or a struct view) with a fresh ``AnySeq`` every cycle."""
    value = Value.cast(port)
    m.d.comb += value.eq(AnySeq(len(value)))


def _one_hot(bits: Value) -> Value:
    return (bits != 0) & ((bits & (bits - 1)) == 0)


class _BlockHarness(FormalHarness):
    """A harness of one MMU block: checks and keeps the properties, the size and the mutation.

    Parameters
    ----------
    props : tuple of str
        A subset of :attr:`PROPS`; ValueError naming :attr:`BLOCK` otherwise.
    entries : int
        TLB entries.
    mutation : str, optional
        A key of :data:`MMU_MUTATIONS`: build the broken variant instead.
    """

    BLOCK = ""
    PROPS: tuple[str, ...] = ()

    def __init__(
        self, props: tuple[str, ...], entries: int = 4, mutation: str | None = None
    ) -> None:
        for p in props:
            if p not in self.PROPS:
                raise self.invalid(f"unknown {self.BLOCK} property {p!r}; known: {self.PROPS}")
        super().__init__()
        self.props = props
        self.entries = entries
        self.mutation = mutation


# -- the TLB ----------------------------------------------------------------------------------


class TlbHarness(_BlockHarness):
    """Properties of the TLB's flush and ASID matching (see the module docstring).

    Parameters
    ----------
    props : tuple of str
        A subset of :attr:`PROPS`.
    entries : int
        TLB entries (4 is enough to cover every flush form; the RTL is the same for 64).
    mutation : str, optional
        A key of :data:`MMU_MUTATIONS`: build the broken variant instead.
    """

    BLOCK = "TLB"
    PROPS = ("flush_covers", "asid_isolation")

    def elaborate_harness(self, m: Module) -> None:
        mod = _module(_TLB, self.mutation)
        m.submodules.tlb = tlb = mod.Tlb(self.entries)
        for port in (
            tlb.lookup_vpn,
            tlb.lookup_asid,
            tlb.touch,
            tlb.fill,
            tlb.fill_entry,
            tlb.flush,
            tlb.flush_cmd,
        ):
            _any(m, port)

        def tag(e: Any) -> Value:
            return Cat(e.vpn0, e.vpn1, e.mega, e.asid, e.g)

        # The lookup path the Mmu uses: ``fast_hit`` (which already includes "the ASID equals
        # the previous cycle's") with a single matching entry, and that entry.
        hit_one = tlb.fast_hit & _one_hot(tlb.fast_onehot)
        m.d.comb += tlb.sel.eq(tlb.fast_onehot)
        hit = tlb.sel_entry

        if "flush_covers" in self.props:
            t = Signal(len(tag(hit)))
            m.d.comb += t.eq(AnyConst(len(t)))
            t_vpn0, t_vpn1, t_mega = t[0:10], t[10:20], t[20]
            t_asid, t_g = t[21:30], t[30]
            cmd = tlb.flush_cmd
            # sfence.vma: rs1 given -> only translations of that page (a megapage: its 4 MiB);
            # rs2 given -> only non-global translations of that ASID.
            va_hit = (t_vpn1 == cmd.va[22:32]) & (t_mega | (t_vpn0 == cmd.va[12:22]))
            covered = (~cmd.use_va | va_hit) & (~cmd.use_asid | (~t_g & (t_asid == cmd.asid)))
            present = Signal()  # a fill of T since the last flush that covered T
            with m.If(tlb.flush & covered):
                m.d.sync += present.eq(0)
            with m.Elif(tlb.fill & tlb.fill_entry.valid & (tag(tlb.fill_entry) == t)):
                m.d.sync += present.eq(1)
            m.d.comb += Assert(
                ~(hit_one & (tag(hit) == t)) | present,
                "no lookup hits a translation that a flush covered",
            )

        if "asid_isolation" in self.props:
            # The live bits are computed one cycle ahead from that cycle's ASID, so a lookup
            # whose ASID differs from the previous cycle's must miss (documented in Tlb).
            prev_asid = Signal(9)  # the lookup ASID of the previous cycle (0 at reset, as asid_r)
            m.d.sync += prev_asid.eq(tlb.lookup_asid)
            m.d.comb += Assert(
                ~tlb.fast_hit | (tlb.lookup_asid == prev_asid),
                "no hit in a cycle whose ASID differs from the previous cycle's",
            )
            m.d.comb += Assert(
                ~hit_one | hit.g | (hit.asid == tlb.lookup_asid),
                "a hit is global or of the current ASID",
            )


# -- the whole MMU ----------------------------------------------------------------------------

# mcause values of the faults (RISC-V privileged specification).
_LOAD, _STORE, _FETCH = 0, 1, 2
_PAGE_FAULT = {_LOAD: 13, _STORE: 15, _FETCH: 12}
_ACCESS_FAULT = {_LOAD: 5, _STORE: 7, _FETCH: 1}


def sv32_reference(
    *,
    bare: Value,
    va: Value,
    access: Value,
    priv_s: Value,
    sum_: Value,
    mxr: Value,
    pte1: Value,
    err1: Value,
    pte0: Value,
    err0: Value,
) -> tuple[Value, Value, Value]:
    """Sv32 translation of ``va`` as the privileged specification states it.

    ``pte1``/``err1`` are the root-level PTE and whether reading it failed, ``pte0``/``err0``
    the second-level ones (used only if ``pte1`` points to a table). No hardware A/D update:
    A = 0, or a store with D = 0, is a page fault. Returns ``(fault, cause, pa)`` with ``cause``
    the mcause value (0 without a fault) and ``pa`` 34 bits (0 with a fault).
    """

    def bits(pte: Value) -> dict[str, Value]:
        names = ["v", "r", "w", "x", "u", "g", "a", "d"]
        out = {n: pte[i] for i, n in enumerate(names)}
        out["ppn0"] = pte[10:20]
        out["ppn1"] = pte[20:32]
        return out

    p1, p0 = bits(pte1), bits(pte0)

    def invalid(p: dict[str, Value]) -> Value:
        return ~p["v"] | (p["w"] & ~p["r"])

    def leaf(p: dict[str, Value]) -> Value:
        return p["r"] | p["x"]

    def allowed(p: dict[str, Value]) -> Value:
        kind = Mux(
            access == _LOAD,
            p["r"] | (mxr & p["x"]),
            Mux(access == _STORE, p["w"] & p["d"], p["x"]),
        )
        # U-mode: only U pages. S-mode: U pages only with SUM, and never to execute.
        mode = Mux(priv_s, ~p["u"] | (sum_ & (access != _FETCH)), p["u"])
        return kind & mode & p["a"]

    mega = leaf(p1)
    access_fault = err1 | (~err1 & ~invalid(p1) & ~mega & err0)
    page_fault_1 = invalid(p1) | (mega & ((p1["ppn0"] != 0) | ~allowed(p1)))
    page_fault_0 = invalid(p0) | ~leaf(p0) | ~allowed(p0)
    page_fault = ~access_fault & (page_fault_1 | (~mega & page_fault_0))
    fault = ~bare & (access_fault | page_fault)

    def cause_of(table: dict[int, int]) -> Value:
        return Mux(
            access == _LOAD, table[_LOAD], Mux(access == _STORE, table[_STORE], table[_FETCH])
        )

    cause = Mux(fault, Mux(access_fault, cause_of(_ACCESS_FAULT), cause_of(_PAGE_FAULT)), 0)
    pa_mega = Cat(va[0:22], p1["ppn1"])
    pa_page = Cat(va[0:12], p0["ppn0"], p0["ppn1"])
    pa = Mux(fault, 0, Mux(bare, Cat(va, Const(0, 2)), Mux(mega, pa_mega, pa_page)))
    return fault, cause, pa


class MmuHarness(_BlockHarness):
    """Translation properties of the whole MMU against :func:`sv32_reference`.

    Parameters
    ----------
    props : tuple of str
        A subset of :attr:`PROPS`: ``permission_check`` (memory fixed) or
        ``flush_no_stale_walk`` (memory may change at covering flushes).
    entries : int
        TLB entries.
    mutation : str, optional
        A key of :data:`MMU_MUTATIONS`.
    """

    BLOCK = "MMU"
    PROPS = ("permission_check", "flush_no_stale_walk")

    def elaborate_harness(self, m: Module) -> None:
        mod = _module(_MMU, self.mutation)
        m.submodules.mmu = mmu = mod.Mmu(self.entries)
        changes = "flush_no_stale_walk" in self.props

        satp = Signal(32)
        m.d.comb += satp.eq(AnyConst(32))
        root_ppn, asid, mode = satp[0:22], satp[22:31], satp[31]
        m.d.comb += Value.cast(mmu.satp).eq(satp)
        for port in (
            mmu.req.valid,
            mmu.req.payload,
            mmu.resp.ready,
            mmu.flush,
            mmu.flush_cmd,
            mmu.clear_counters,
        ):
            _any(m, port)
        req = mmu.req.payload
        m.d.comb += Assume(Value.cast(req.access) != 3)  # 3 is not an access type

        # The page-table memory of the watched page W: two PTEs and their bus errors.
        w = Signal(20)
        m.d.comb += w.eq(AnyConst(20))
        mem = Signal(66)  # pte1, err1, pte0, err0
        mem_reg = Signal(66)
        first = Signal(66)
        m.d.comb += first.eq(AnyConst(66))
        fresh = Signal(init=1)
        m.d.comb += mem.eq(Mux(fresh, first, mem_reg))
        pte1, err1, pte0, err0 = mem[0:32], mem[32], mem[33:65], mem[65]
        root_adr = Cat(w[10:20], root_ppn)
        l2_adr = Cat(w[0:10], pte1[10:32])

        bus = mmu.bus
        answer = Signal()
        m.d.comb += answer.eq(AnySeq(1))  # memory latency: any number of cycles
        at_root = bus.adr == root_adr
        at_l2 = bus.adr == l2_adr
        other_data = Signal(32)
        other_err = Signal()
        m.d.comb += [other_data.eq(AnySeq(32)), other_err.eq(AnySeq(1))]
        data = Mux(at_root, pte1, Mux(at_l2, pte0, other_data))
        err = Mux(at_root, err1, Mux(at_l2, err0, other_err))
        strobe = bus.cyc & bus.stb & answer
        m.d.comb += [
            bus.dat_r.eq(data),
            bus.ack.eq(strobe & ~err),
            bus.err.eq(strobe & err),
        ]
        # Where the second-level PTE sits at the root PTE's address, memory holds one word.
        pte0_seen = Mux(l2_adr == root_adr, pte1, pte0)
        err0_seen = Mux(l2_adr == root_adr, err1, err0)

        # Memory changes: only at a flush that covers W for this ASID (software edits a PTE,
        # then runs sfence.vma); the walker's reads in the flush cycle still see the old word.
        change = Signal()
        new = Signal(66)
        m.d.comb += [change.eq(AnySeq(1) if changes else 0), new.eq(AnySeq(66))]
        cmd = mmu.flush_cmd
        nonglobal = ~pte1[5] & ~pte0[5] & ~new[5] & ~new[33 + 5]
        covers = (~cmd.use_va | (cmd.va[12:32] == w)) & (
            ~cmd.use_asid | ((cmd.asid == asid) & nonglobal)
        )
        m.d.comb += Assume(~change | (mmu.flush & covers))
        with m.If(change):
            m.d.sync += [mem_reg.eq(new), fresh.eq(0)]
        with m.Elif(fresh):
            m.d.sync += [mem_reg.eq(first), fresh.eq(0)]

        # The request in flight (the MMU answers in order, one at a time).
        accept = mmu.req.valid & mmu.req.ready
        done = mmu.resp.valid & mmu.resp.ready
        pending = Signal()
        clean = Signal()  # no memory change since the request was accepted
        p_req = Signal(len(Value.cast(req)))
        with m.If(accept):
            m.d.sync += [pending.eq(1), clean.eq(~change), p_req.eq(Value.cast(req))]
        with m.Elif(done):
            m.d.sync += pending.eq(0)
        with m.If(change & ~accept):
            m.d.sync += clean.eq(0)
        m.d.comb += Assert(~mmu.resp.valid | pending, "no answer without a request")

        p = mod.TranslationRequest(p_req)
        fault, cause, pa = sv32_reference(
            bare=~mode,
            va=p.va,
            access=Value.cast(p.access),
            priv_s=Value.cast(p.priv),
            sum_=p.sum,
            mxr=p.mxr,
            pte1=pte1,
            err1=err1,
            pte0=pte0_seen,
            err0=err0_seen,
        )
        watched = p.va[12:32] == w
        resp = mmu.resp.payload
        check = mmu.resp.valid & pending & clean & watched
        m.d.comb += Assert(
            ~check | ((resp.fault == fault) & (Value.cast(resp.cause) == cause) & (resp.pa == pa)),
            "the answer equals the Sv32 reference"
            + (" after the last covering flush" if changes else ""),
        )


# -- the proof list ---------------------------------------------------------------------------


def mmu_proofs(deep: bool = False) -> list[Proof]:
    """The MMU's proofs (expected PASS) and its mutants (expected FAIL).

    BMC depths (cycles): the TLB 6 (fill every entry, flush, look up), the MMU 8 (a miss
    walked, filled and answered, then hits); ``deep=True``: 8 and 10 (minutes each).
    """
    d_tlb = 8 if deep else 6
    d_mmu = 10 if deep else 8
    cases: list[tuple[str, str, int, str, str | None]] = [
        (
            "tlb.asid_isolation",
            "asid_isolation",
            1,
            "a TLB hit is global or tagged with the lookup's ASID",
            None,
        ),
        (
            "tlb.flush_covers",
            "flush_covers",
            d_tlb,
            "after any sfence.vma form, no lookup hits an entry the flush covered",
            None,
        ),
        (
            "mmu.permission_check",
            "permission_check",
            d_mmu,
            "every answer (hit or walk) equals the combinational Sv32 rules",
            None,
        ),
        (
            "mmu.flush_no_stale_walk",
            "flush_no_stale_walk",
            d_mmu,
            "after a covering flush no answer comes from a flushed entry or an older walk",
            None,
        ),
        ("tlb.asid_isolation!asid_bit0_ignored", "asid_isolation", 4, "", "asid_bit0_ignored"),
        ("tlb.asid_isolation!asid_change_hits", "asid_isolation", 4, "", "asid_change_hits"),
        ("tlb.flush_covers!flush_skips_entry0", "flush_covers", d_tlb, "", "flush_skips_entry0"),
        ("tlb.flush_covers!live_ignores_flush", "flush_covers", d_tlb, "", "live_ignores_flush"),
        (
            "mmu.permission_check!sum_allows_fetch",
            "permission_check",
            d_mmu,
            "",
            "sum_allows_fetch",
        ),
        (
            "mmu.permission_check!hit_skips_permissions",
            "permission_check",
            d_mmu,
            "",
            "hit_skips_permissions",
        ),
        (
            "mmu.flush_no_stale_walk!restart_ignored",
            "flush_no_stale_walk",
            d_mmu,
            "",
            "restart_ignored",
        ),
    ]
    out = []
    for name, prop, depth, text, mutation in cases:
        harness = TlbHarness if name.startswith("tlb.") else MmuHarness

        inductive = mutation is None and prop == "asid_isolation"

        def build(
            harness: type[TlbHarness | MmuHarness] = harness,
            prop: str = prop,
            mutation: str | None = mutation,
            inductive: bool = inductive,
        ) -> FormalHarness:
            return harness((prop,), mutation=mutation)

        if mutation is None:
            method = "k-induction" if inductive else "bmc"
            out.append(Proof(name, build, method, depth, text))  # type: ignore[arg-type]
        else:
            text = MMU_MUTATIONS[mutation].description
            out.append(Proof(name, build, "bmc", depth, text, expect="FAIL"))
    return out
