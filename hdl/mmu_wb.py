"""The MMU with its control registers on a Wishbone slave (:data:`~.mmu_regs.MMU_REGMAP`)."""

from typing import Any

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .mmu import FlushCommand, Mmu, Satp, TranslationRequest, TranslationResponse
from .mmu_regs import MMU_REGMAP
from .regmap import RegisterBank
from .wishbone import WishboneSignature

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
        Control-register slave: ``ack`` one cycle after ``cyc & stb``, ``err`` for an unmapped
        word, a write to a read-only register or a read of a write-only one.
    req : In(stream.Signature(TranslationRequest))
    resp : Out(stream.Signature(TranslationResponse))
        Translation streams (see :class:`~.mmu.Mmu`): a hit answers in the next cycle, one
        request per cycle.
    bus : Out(WishboneSignature(32))
        The page-table walker's Wishbone master.

    A write to FLUSH issues the flush in the cycle the write is accepted; a write to SATP
    affects requests accepted from the next cycle on.
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

        cmd = Signal(FlushCommand)
        word = regs.flush.w_data
        m.d.comb += [
            cmd.va.eq(flush_va),
            cmd.asid.eq(flush_asid),
            cmd.use_va.eq(word[MMU_REGMAP["FLUSH"].field("USE_VA").lsb]),
            cmd.use_asid.eq(word[MMU_REGMAP["FLUSH"].field("USE_ASID").lsb]),
            mmu.flush.eq(regs.flush.w_stb),
            mmu.flush_cmd.eq(cmd),
            mmu.clear_counters.eq(
                regs.ctrl.w_stb & regs.ctrl.w_data[MMU_REGMAP["CTRL"].field("CLEAR_COUNTERS").lsb]
            ),
        ]

        status = MMU_REGMAP["STATUS"]
        valid_count = sum(mmu.tlb_valid[i] for i in range(self.entries))
        st = Signal(32)
        m.d.comb += [
            st[status.field("BUSY").lsb].eq(mmu.busy),
            st[status.field("ENTRIES").lsb : status.field("ENTRIES").msb + 1].eq(self.entries),
            st[status.field("VALID").lsb : status.field("VALID").msb + 1].eq(valid_count),
            regs.status.r_data.eq(st),
            regs.hits.r_data.eq(mmu.hits),
            regs.misses.r_data.eq(mmu.misses),
            regs.walks.r_data.eq(mmu.walks),
            regs.faults.r_data.eq(mmu.faults),
            regs.last_cause.r_data.eq(last_cause),
        ]
        with m.If(mmu.resp.valid & mmu.resp.ready & mmu.resp.payload.fault):
            m.d.sync += last_cause.eq(mmu.resp.payload.cause)
        return m
