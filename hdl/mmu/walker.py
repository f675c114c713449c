"""The MMU's page-table walker: an Sv32 walk of at most two PTE reads over Wishbone."""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from mmaccel.hdl.bus.wishbone import WishboneSignature
from mmaccel.hdl.mmu.types import Pte, WalkResult

__all__ = ["PageTableWalker"]


class PageTableWalker(wiring.Component):
    """Sv32 page-table walker: at most two PTE reads through a Wishbone master.

    Members
    -------
    start : In(1)
        Begin a walk of ``vpn`` from the root table ``root_ppn``; held until ``done``. The
        first read is issued in the same cycle (``cyc``/``stb`` are combinational from
        ``start``, which the MMU drives from registers).
    vpn : In(20)
    root_ppn : In(22)
    restart : In(1)
        The TLB was flushed: the walk in flight (if any) forgets what it read and starts again
        from the root when its current bus cycle ends (at once if its result is waiting in
        registers), so no PTE read before the flush can reach the TLB or the answer.
    done : Out(1)
        One-cycle pulse, the cycle after the last ``ack``/``err``: ``result`` is valid (it
        comes from registers). Suppressed by ``restart`` in the same cycle.
    result : Out(WalkResult)
        The decode of the last PTE read (loaded whenever the bus answers): the walk's result
        from ``done`` until the next walk's first read ends.
    busy : Out(1)
        A walk is in flight (a bus cycle is open, or its result is waiting).
    walk_started : Out(1)
        Pulse: a walk (or a restart) issues its first read this cycle.
    bus : Out(WishboneSignature(32))
        Read-only Wishbone classic master; ``adr`` = PTE byte address / 4 (34-bit physical
        addresses, so 32 address bits).

    Fault rules (the model's order): a bus error is an access fault; V = 0 or W = 1 with R = 0
    is a page fault; R or X makes a leaf, otherwise the PTE points to the next table, and a
    pointer at level 0 is a page fault; a level-1 leaf with PPN[0] != 0 (misaligned megapage)
    or a leaf with A = 0 is a page fault. The permission checks (which give the same cause)
    are made by :class:`~mmaccel.hdl.mmu.Mmu` on the leaf.

    Latency: with a memory answering ``ack`` k cycles after ``stb``, ``done`` comes
    levels x (k + 1) cycles after ``start`` (4 for two levels with k = 1); one walk at a time.
    """

    def __init__(self) -> None:
        super().__init__(
            {
                "start": In(1),
                "vpn": In(20),
                "root_ppn": In(22),
                "restart": In(1),
                "done": Out(1),
                "result": Out(WalkResult),
                "busy": Out(1),
                "walk_started": Out(1),
                "bus": Out(WishboneSignature(32)),
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        busy = Signal()  # a walk is in flight (bus cycle open, or its result registered)
        level = Signal()  # 1 = root table, 0 = second level
        adr = Signal(32)
        vpn = Signal(20)
        root = Signal(22)
        stale = Signal()
        ready = Signal()  # the registered result is valid (the bus is idle)
        result = Signal(WalkResult)

        cur_vpn = Mux(busy, vpn, self.vpn)
        cur_root = Mux(busy, root, self.root_ppn)
        root_adr = Cat(cur_vpn[10:], cur_root)
        reading = (busy & ~ready) | (self.start & ~busy)
        cur_level = Mux(busy, level, 1)
        m.d.comb += [
            self.busy.eq(busy),
            self.bus.cyc.eq(reading),
            self.bus.stb.eq(reading),
            self.bus.we.eq(0),
            self.bus.sel.eq(0xF),
            self.bus.dat_w.eq(0),
            self.bus.adr.eq(Mux(busy, adr, root_adr)),
        ]

        pte = Pte(self.bus.dat_r)
        end = reading & (self.bus.ack | self.bus.err)
        again = stale | self.restart
        invalid = ~pte.v | (pte.w & ~pte.r)
        leaf = pte.r | pte.x
        misaligned = cur_level & (pte.ppn0 != 0)
        page_fault = invalid | (leaf & (misaligned | ~pte.a)) | (~leaf & ~cur_level)
        finished = self.bus.err | invalid | leaf | ~cur_level

        m.d.comb += [
            self.result.eq(result),
            self.done.eq(ready & ~self.restart),
            self.walk_started.eq((self.start & ~busy) | (end & again) | (ready & self.restart)),
        ]

        next_adr = Cat(cur_vpn[:10], pte.ppn0, pte.ppn1)
        answered = self.bus.ack | self.bus.err
        store_result = [
            result.pte.eq(pte),
            result.mega.eq(cur_level),
            result.access_fault.eq(self.bus.err),
            result.page_fault.eq(~self.bus.err & page_fault),
        ]
        with m.If(busy):
            with m.If(ready):
                # the result waits one cycle in registers (off the bus-to-TLB path); a flush
                # in that cycle still sends the walk back to the root
                with m.If(self.restart):
                    m.d.sync += [ready.eq(0), level.eq(1), adr.eq(root_adr)]
                with m.Else():
                    m.d.sync += [ready.eq(0), busy.eq(0)]
            with m.Elif(answered):
                with m.If(again):
                    m.d.sync += [level.eq(1), adr.eq(root_adr), stale.eq(0)]
                with m.Elif(finished):
                    m.d.sync += [ready.eq(1), stale.eq(0)]
                with m.Else():
                    m.d.sync += [level.eq(0), adr.eq(next_adr)]
            with m.Else():
                m.d.sync += stale.eq(stale | self.restart)
        with m.Else():
            # Idle: the first read's address, level and operands are loaded whether or not a
            # walk starts (they are used only once busy), so ``start``, which comes from the
            # MMU's answer logic, reaches only busy, ready and stale.
            first_done = answered & ~self.restart
            m.d.sync += [vpn.eq(self.vpn), root.eq(self.root_ppn), busy.eq(self.start)]
            with m.If(first_done & ~finished):
                m.d.sync += [level.eq(0), adr.eq(next_adr)]
            with m.Else():
                m.d.sync += [level.eq(1), adr.eq(root_adr)]
            m.d.sync += [
                ready.eq(self.start & first_done & finished),
                stale.eq(self.start & ~answered & self.restart),
            ]
        # Every PTE read's result is loaded (it counts only once ``ready`` says so), so the
        # load's enable is just "the bus answered" (only a read of this walker can be
        # answered), not the walk's decision logic. Between the result and the next walk no
        # read ends (the next walk needs a new request).
        with m.If(answered):
            m.d.sync += store_result
        return m
