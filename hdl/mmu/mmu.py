"""The MMU block: request and response streams around the TLB and the page-table walker."""

from amaranth.hdl import Cat, Module, Mux, Signal, Value
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from mmaccel.hdl.bus.wishbone import WishboneSignature
from mmaccel.hdl.mmu.tlb import Tlb
from mmaccel.hdl.mmu.types import (
    Access,
    FaultCause,
    FlushCommand,
    Priv,
    Satp,
    TlbEntry,
    TranslationRequest,
    TranslationResponse,
    check_entries,
)
from mmaccel.hdl.mmu.walker import PageTableWalker

__all__ = ["Mmu"]


class Mmu(wiring.Component):
    """Sv32 MMU: TLB, page-table walker, satp, sfence.vma flushes and event counters.

    Parameters
    ----------
    entries : int
        TLB entries, 4 to 64 (default 16).

    Members
    -------
    req : In(stream.Signature(TranslationRequest))
        Translation requests. Accepted one per cycle while the answers flow.
    resp : Out(stream.Signature(TranslationResponse))
        One answer per request, in order.
    satp : In(Satp)
        The current satp. Its ASID and root are sampled when a request is accepted; changing
        the ASID flushes nothing. A request accepted in the very cycle the ASID changes is
        treated as a miss (walked), because the TLB precomputes each entry's ASID match one
        cycle ahead. MODE = 0 (bare) answers pa = va without faults.
    flush : In(1)
        Apply ``flush_cmd`` at the clock edge (one flush per cycle, always accepted). A
        request accepted in the same cycle or the next misses, and a walk in flight restarts
        from the root, so every request accepted from the flush's cycle on sees the flush.
    flush_cmd : In(FlushCommand)
    bus : Out(WishboneSignature(32))
        The walker's Wishbone master (PTE reads only).
    busy : Out(1)
        A request is being translated (a walk is in flight or an answer waits).
    clear_counters : In(1)
        Set the four counters to 0.
    hits, misses, walks, faults : Out(32)
        Lookups that hit, lookups that missed, PTE walks started (a flush restart counts as a
        new walk), answers that were faults; each counts one cycle after its event.
    tlb_valid : Out(entries)
        Valid bits of the TLB entries.

    Latency and throughput: a hit answers in the cycle after it is accepted (``resp.valid``
    comes from registers), one request per cycle. A miss answers after the walk: with a
    memory whose ``ack`` follows ``stb`` by one cycle, 6 cycles after acceptance for a 4 KiB
    page (2 PTE reads of 2 cycles each, plus 2), 4 for a megapage or a fault at the root.
    Requests wait (``req.ready`` = 0) while a miss is resolved.
    """

    def __init__(self, entries: int = 16) -> None:
        self._entries = check_entries(entries)
        super().__init__(
            {
                "req": In(stream.Signature(TranslationRequest)),
                "resp": Out(stream.Signature(TranslationResponse)),
                "satp": In(Satp),
                "flush": In(1),
                "flush_cmd": In(FlushCommand),
                "bus": Out(WishboneSignature(32)),
                "busy": Out(1),
                "clear_counters": In(1),
                "hits": Out(32),
                "misses": Out(32),
                "walks": Out(32),
                "faults": Out(32),
                "tlb_valid": Out(entries),
            }
        )

    @property
    def entries(self) -> int:
        return self._entries

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.tlb = tlb = Tlb(self._entries)
        m.submodules.ptw = ptw = PageTableWalker()
        wiring.connect(m, wiring.flipped(self.bus), ptw.bus)

        # Stage 1 register: the accepted request and what is known about its translation.
        s_valid = Signal()
        s_hitflag = Signal()  # the lookup hit (written only at acceptance: a short D path)
        s_req = Signal(TranslationRequest)
        s_asid = Signal(9)
        s_root = Signal(22)
        s_bare = Signal()
        s_hit = Signal(TlbEntry)  # the hit's entry, read out of the TLB by ``s_touch``
        s_walked = Signal()  # the answer comes from the walk (whose result stays registered)
        s_touch = Signal(self._entries)  # the lookup's one-hot match, loaded at acceptance
        s_touch_en = Signal()  # the previous cycle accepted a lookup that hit
        looked_up = Signal()  # a translated (not bare) request was accepted last cycle

        s_done = Signal()  # the answer is known (hit, bare, or walk finished)
        m.d.comb += s_done.eq(s_hitflag | s_bare | s_walked)

        m.d.comb += [
            tlb.lookup_vpn.eq(self.req.payload.va[12:]),
            tlb.lookup_asid.eq(self.satp.asid),
            tlb.flush.eq(self.flush),
            tlb.flush_cmd.eq(self.flush_cmd),
            self.tlb_valid.eq(tlb.valid),
            self.busy.eq(s_valid),
        ]

        accept = Signal()
        m.d.comb += [
            self.req.ready.eq(~s_valid | (s_done & self.resp.ready)),
            accept.eq(self.req.valid & self.req.ready),
        ]
        bare = ~self.satp.mode
        # The shallow lookup path: a request accepted in the cycle satp's ASID changes misses
        # (the TLB's per-entry ASID matches are precomputed one cycle ahead).
        lookup_hit = tlb.fast_hit  # 0 in a flush's cycle
        with m.If(accept):
            m.d.sync += [
                s_valid.eq(1),
                s_hitflag.eq(lookup_hit),
                s_req.eq(self.req.payload),
                s_asid.eq(self.satp.asid),
                s_root.eq(self.satp.ppn),
                s_bare.eq(bare),
                s_walked.eq(0),
                s_touch.eq(tlb.fast_onehot),
            ]
        with m.Elif(self.resp.valid & self.resp.ready):
            m.d.sync += s_valid.eq(0)
        m.d.sync += looked_up.eq(accept & ~bare)
        m.d.comb += s_touch_en.eq(looked_up & s_hitflag)
        m.d.comb += tlb.touch.eq(Mux(s_touch_en, s_touch, 0))
        # A hit's entry is read out in the answer's cycles, from the registered one-hot, so the
        # lookup's cycle ends at the match. The entry cannot change in between: only a fill
        # writes entries, after a walk, and none runs while a hit waits to be answered (a
        # flush clears valid bits only, which the answer does not use).
        m.d.comb += [tlb.sel.eq(s_touch), s_hit.eq(tlb.sel_entry)]

        # Miss: walk, then fill the TLB with a usable leaf and answer.
        res = ptw.result
        walk_ok = ~res.access_fault & ~res.page_fault
        m.d.comb += [
            ptw.start.eq(s_valid & ~s_done),
            ptw.vpn.eq(s_req.va[12:]),
            ptw.root_ppn.eq(s_root),
            ptw.restart.eq(self.flush),
        ]
        leaf = Signal(TlbEntry)
        m.d.comb += [
            leaf.valid.eq(1),
            leaf.vpn0.eq(s_req.va[12:22]),
            leaf.vpn1.eq(s_req.va[22:]),
            leaf.mega.eq(res.mega),
            leaf.asid.eq(s_asid),
            leaf.g.eq(res.pte.g),
            leaf.ppn.eq(Cat(res.pte.ppn0, res.pte.ppn1)),
            leaf.r.eq(res.pte.r),
            leaf.w.eq(res.pte.w),
            leaf.x.eq(res.pte.x),
            leaf.u.eq(res.pte.u),
            leaf.a.eq(res.pte.a),
            leaf.d.eq(res.pte.d),
            tlb.fill.eq(ptw.done & walk_ok),
            tlb.fill_entry.eq(leaf),
        ]
        with m.If(ptw.done):
            m.d.sync += s_walked.eq(1)

        # The translation being answered: the hit's entry (read out by ``s_touch``), or the walk's
        # result, which stays in the walker's registers until the next walk (that needs a new
        # request, so not before this answer has left).
        s_ent = Signal(TlbEntry)
        m.d.comb += s_ent.eq(Mux(s_walked, leaf, s_hit))

        # Answer: permission checks, none left in the answer's cycle but an OR. The request is
        # decoded at acceptance (``*_in``) and registered (``s_*``). A hit's verdict is made for
        # every entry at acceptance, beside the lookup (entry bits and request decode are ready
        # before the match), and only the matching entry's is kept (``s_allowed``); a walk's is
        # registered when the walk ends (``ptw.done``, the cycle before ``s_walked``).
        s_load = Signal()
        s_store = Signal()
        s_fetch = Signal()
        s_user = Signal()
        s_sum_ok = Signal()  # SUM lets S-mode load and store (never fetch) on U pages
        s_page_cause = Signal(4)
        s_access_cause = Signal(4)
        acc_in = self.req.payload.access
        load_in = acc_in == Access.LOAD
        store_in = acc_in == Access.STORE
        fetch_in = acc_in == Access.FETCH
        user_in = self.req.payload.priv == Priv.U
        sum_ok_in = self.req.payload.sum & (acc_in != Access.FETCH)
        with m.If(accept):
            m.d.sync += [
                s_load.eq(load_in),
                s_store.eq(store_in),
                s_fetch.eq(fetch_in),
                s_user.eq(user_in),
                s_sum_ok.eq(sum_ok_in),
            ]
            with m.Switch(acc_in):
                with m.Case(Access.LOAD):
                    m.d.sync += [
                        s_page_cause.eq(FaultCause.LOAD_PAGE_FAULT),
                        s_access_cause.eq(FaultCause.LOAD_ACCESS_FAULT),
                    ]
                with m.Case(Access.STORE):
                    m.d.sync += [
                        s_page_cause.eq(FaultCause.STORE_PAGE_FAULT),
                        s_access_cause.eq(FaultCause.STORE_ACCESS_FAULT),
                    ]
                with m.Default():
                    m.d.sync += [
                        s_page_cause.eq(FaultCause.INSTRUCTION_PAGE_FAULT),
                        s_access_cause.eq(FaultCause.INSTRUCTION_ACCESS_FAULT),
                    ]

        def denied(
            ent: Value,
            load: Value,
            store: Value,
            fetch: Value,
            user: Value,
            sum_ok: Value,
            mxr: Value,
        ) -> Value:
            """The leaf ``ent`` does not allow the access so decoded (a page fault)."""
            e = TlbEntry(ent)
            readable = e.r | (mxr & e.x)
            type_ok = (load & readable) | (store & e.w & e.d) | (fetch & e.x)
            priv_ok = Mux(user, e.u, ~e.u | sum_ok)
            return ~type_ok | ~priv_ok | ~e.a

        s_allowed = Signal(self._entries)  # the lookup's match, where that entry allows it
        allowed_in = Cat(
            ~denied(
                tlb.table[i], load_in, store_in, fetch_in, user_in, sum_ok_in, self.req.payload.mxr
            )
            for i in range(self._entries)
        )
        with m.If(accept):
            m.d.sync += s_allowed.eq(tlb.fast_onehot & allowed_in)

        s_walk_fault = Signal()  # the walk's verdict, registered at ptw.done
        s_walk_afault = Signal()  # ... and whether it was an access fault
        walk_denied = denied(leaf, s_load, s_store, s_fetch, s_user, s_sum_ok, s_req.mxr)
        with m.If(ptw.done):
            m.d.sync += [
                s_walk_fault.eq(res.access_fault | res.page_fault | walk_denied),
                s_walk_afault.eq(res.access_fault),
            ]
        fault = Signal()
        m.d.comb += fault.eq(~s_bare & Mux(s_walked, s_walk_fault, ~s_allowed.any()))
        cause = Mux(s_walked & s_walk_afault, s_access_cause, s_page_cause)
        va = s_req.va
        pa = Mux(
            s_bare,
            va,
            Mux(s_ent.mega, Cat(va[:22], s_ent.ppn[10:]), Cat(va[:12], s_ent.ppn)),
        )
        m.d.comb += [
            self.resp.valid.eq(s_valid & s_done),
            self.resp.payload.fault.eq(fault),
            self.resp.payload.cause.eq(Mux(fault, cause, 0)),
            self.resp.payload.pa.eq(Mux(fault, 0, pa)),
        ]

        # Counters: the events are registered first (off the lookup and permission paths), so
        # a counter moves one cycle after its event.
        events = Signal(4)
        m.d.sync += events.eq(
            Cat(
                looked_up & s_hitflag,
                looked_up & ~s_hitflag,
                ptw.walk_started,
                self.resp.valid & self.resp.ready & fault,
            )
        )
        # Each counter is two 16-bit halves: the upper half steps with the lower one's wrap,
        # known one step ahead (``lo_max``: the lower half is 0xFFFF), so no carry chain is
        # longer than 16 bits (a 32-bit chain made synthesis deepen the logic elsewhere to
        # match it) and the 32-bit value is exact in every cycle.
        names = ("hits", "misses", "walks", "faults")
        for i, counter in enumerate((self.hits, self.misses, self.walks, self.faults)):
            lo, hi = counter[:16], counter[16:]
            lo_max = Signal(name=f"{names[i]}_lo_max")
            with m.If(self.clear_counters):
                m.d.sync += [counter.eq(0), lo_max.eq(0)]
            with m.Elif(events[i]):
                m.d.sync += [lo.eq(lo + 1), lo_max.eq(lo == 0xFFFE)]
                with m.If(lo_max):
                    m.d.sync += hi.eq(hi + 1)
        return m
