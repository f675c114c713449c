"""The MMU with its control registers on a Wishbone slave (:data:`~.regs.MMU_REGMAP`)."""

from typing import Any

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from mmaccel.hdl.bus.regmap import RegisterBank
from mmaccel.hdl.bus.wishbone import WishboneSignature
from mmaccel.hdl.mmu import FlushCommand, Mmu, Satp, TranslationRequest, TranslationResponse
from mmaccel.hdl.mmu.regs import MMU_ID, MMU_REGMAP

__all__ = ["MmuWishbone"]


class MmuWishbone(wiring.Component):
    """:class:`~.mmu.Mmu` plus its control registers, decoded from :data:`MMU_REGMAP`.

    Parameters
    ----------
    entries : int
        TLB entries, 4 to 64.

    Members
    -------
    ctrl : In(WishboneSignature(MMU_REGMAP.addr_width))
        Control-register slave: ``ack`` one cycle after ``cyc & stb`` (two for a STATUS read),
        ``err`` for an unmapped word, a write to a read-only register or a read of a
        write-only one.
    req : In(stream.Signature(TranslationRequest))
    resp : Out(stream.Signature(TranslationResponse))
        Translation streams (see :class:`~.mmu.Mmu`): a hit answers in the next cycle, one
        request per cycle.
    bus : Out(WishboneSignature(32))
        The page-table walker's Wishbone master.

    Timing of the control writes (the write is accepted in cycle T, ``ack`` is high in T + 1):

    * FLUSH: the flush strobe and command are registered, so the MMU applies the flush in
      T + 1, the cycle of ``ack``. Every request accepted from T + 1 on sees the flush (it is
      treated as a miss and walked, and a walk in flight restarts from the root), so any
      request issued after the write has completed sees it; no PTE read before T + 1 reaches
      the TLB or an answer given after T + 1. A request accepted in T itself (concurrent with
      the write) may still hit an entry the flush then removes.
    * SATP: affects requests accepted from T + 1 on.
    * CTRL.CLEAR_COUNTERS: registered like FLUSH; the counters read 0 from T + 2 on (the
      first cycle a read can be accepted), events of T + 1 are dropped with the old counts.
    * A STATUS read waits one cycle (its word is registered) and returns the state of the
      read's first cycle; LAST_CAUSE follows a faulting answer one cycle later.

    Latency and throughput of the control slave: ``ack``/``err`` one cycle after the access
    (two for a STATUS read), one access every 2 cycles (3 for STATUS); the translation path
    is that of :class:`~.mmu.Mmu`.
    """

    def __init__(self, entries: int = 16) -> None:
        self._mmu = Mmu(entries)
        super().__init__(
            {
                "ctrl": In(WishboneSignature(MMU_REGMAP.addr_width)),
                "req": In(stream.Signature(TranslationRequest)),
                "resp": Out(stream.Signature(TranslationResponse)),
                "bus": Out(WishboneSignature(32)),
            }
        )

    @property
    def entries(self) -> int:
        return self._mmu.entries

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        m.submodules.mmu = mmu = self._mmu
        m.submodules.regs = bank = RegisterBank(MMU_REGMAP)
        wiring.connect(m, wiring.flipped(self.ctrl), bank.bus)
        wiring.connect(m, wiring.flipped(self.req), mmu.req)
        wiring.connect(m, wiring.flipped(self.resp), mmu.resp)
        wiring.connect(m, wiring.flipped(self.bus), mmu.bus)
        regs = bank.regs

        satp = Signal(Satp)
        flush_va = Signal(32)
        flush_asid = Signal(9)
        last_cause = Signal(4)
        m.d.comb += mmu.satp.eq(satp)

        m.d.comb += regs.satp.r_data.eq(satp)
        with m.If(regs.satp.w_stb):
            m.d.sync += satp.eq(regs.satp.w_data)
        m.d.comb += regs.flush_va.r_data.eq(flush_va)
        with m.If(regs.flush_va.w_stb):
            m.d.sync += flush_va.eq(regs.flush_va.w_data)
        m.d.comb += regs.flush_asid.r_data.eq(flush_asid)
        with m.If(regs.flush_asid.w_stb):
            m.d.sync += flush_asid.eq(regs.flush_asid.w_data[:9])

        # The FLUSH and CTRL strobes are registered: the bus decode (address compare, write
        # strobe) then ends at a flip-flop instead of running on into the TLB's per-entry flush
        # match, its live bits and fill enables, the walker's restart and the counters' enables.
        # The flush reaches the MMU in the cycle after the write is accepted, which is the cycle
        # ``ack`` is high (the bank's ack is registered), so every request accepted from the
        # ack's cycle on sees it (the MMU treats a request accepted with the flush as a miss and
        # restarts a walk in flight). FLUSH_VA and FLUSH_ASID cannot change in that cycle: the
        # bank accepts no access while ``ack`` is high.
        flush = Signal()
        use_va = Signal()
        use_asid = Signal()
        clear = Signal()
        word = regs.flush.w_data
        m.d.sync += [
            flush.eq(regs.flush.w_stb),
            clear.eq(
                regs.ctrl.w_stb & regs.ctrl.w_data[MMU_REGMAP["CTRL"].field("CLEAR_COUNTERS").lsb]
            ),
        ]
        with m.If(regs.flush.w_stb):
            m.d.sync += [
                use_va.eq(word[MMU_REGMAP["FLUSH"].field("USE_VA").lsb]),
                use_asid.eq(word[MMU_REGMAP["FLUSH"].field("USE_ASID").lsb]),
            ]
        cmd = Signal(FlushCommand)
        m.d.comb += [
            cmd.va.eq(flush_va),
            cmd.asid.eq(flush_asid),
            cmd.use_va.eq(use_va),
            cmd.use_asid.eq(use_asid),
            mmu.flush.eq(flush),
            mmu.flush_cmd.eq(cmd),
            mmu.clear_counters.eq(clear),
        ]

        # STATUS is registered (the count of valid entries is an adder tree): a read waits one
        # cycle (``ready`` low in its first cycle) and returns the state of that first cycle.
        status = MMU_REGMAP["STATUS"]
        valid_count = sum(mmu.tlb_valid[i] for i in range(self.entries))
        st = Signal(32)
        status_wait = Signal()  # the first cycle of a STATUS read has passed
        m.d.sync += [
            st[status.field("BUSY").lsb].eq(mmu.busy),
            st[status.field("ENTRIES").lsb : status.field("ENTRIES").msb + 1].eq(self.entries),
            st[status.field("VALID").lsb : status.field("VALID").msb + 1].eq(valid_count),
            status_wait.eq(regs.status.req & ~status_wait),
        ]
        m.d.comb += [
            regs.status.ready.eq(status_wait),
            regs.status.r_data.eq(st),
            regs.hits.r_data.eq(mmu.hits),
            regs.misses.r_data.eq(mmu.misses),
            regs.walks.r_data.eq(mmu.walks),
            regs.faults.r_data.eq(mmu.faults),
            regs.last_cause.r_data.eq(last_cause),
            regs.id.r_data.eq(MMU_ID),
        ]
        # LAST_CAUSE follows a faulting answer one cycle later (the answer's fault logic then
        # feeds a register, not the enable of four)
        fault_seen = Signal()
        fault_cause = Signal(4)
        m.d.sync += [
            fault_seen.eq(mmu.resp.valid & mmu.resp.ready & mmu.resp.payload.fault),
            fault_cause.eq(mmu.resp.payload.cause),
        ]
        with m.If(fault_seen):
            m.d.sync += last_cause.eq(fault_cause)
        return m
