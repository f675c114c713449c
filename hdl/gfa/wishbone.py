"""The granule/page-frame allocator behind a Wishbone register interface (``GFA_REGMAP``).

:class:`GfaWishbone` puts a :class:`~mmaccel.hdl.gfa.GranuleFrameAllocator` behind a
:class:`~mmaccel.hdl.bus.regmap.RegisterBank` generated from
:data:`~mmaccel.hdl.gfa.regs.GFA_REGMAP`, keeps the operation counters, and, with
``streams=True``, also lets a hardware client use the core through its own request/response
streams (arbitrated with the bus).
"""

from typing import Any

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out, connect, flipped

from mmaccel.hdl.bus.regmap import RegisterBank
from mmaccel.hdl.bus.wishbone import WishboneSignature
from mmaccel.hdl.gfa import GfaOp, GfaRequest, GfaResponse, GfaStatus, GranuleFrameAllocator
from mmaccel.hdl.gfa.regs import GFA_ID, GFA_REGMAP, GFA_RESULT_NONE

__all__ = ["GfaWishbone"]

#: The first status code that is an error (not OK, not NO_SPACE).
_BAD_COUNT = GFA_REGMAP["STATUS"].field("CODE").value_of("BAD_COUNT")


class GfaWishbone(wiring.Component):
    """Granule/page-frame allocator with a Wishbone B4 slave and the GFA register map.

    The programming model (write arguments, write CMD, read RESULT which stalls while BUSY, or
    poll STATUS; or one write of a byte size to ALLOC_SIZE / FREE_SIZE, then RESULT) is
    described in :data:`~mmaccel.hdl.gfa.regs.GFA_REGMAP` and
    docs/regmap-gfa.md.

    Latency and throughput (cycles, bus clock = core clock):

    - register access: ``ack`` (or ``err``) 1 cycle after ``cyc & stb``; one access every 2
      cycles. Stalls: RESULT, GAT_DATA and every writable register while BUSY; GAT_DATA adds 1
      cycle (the table's read latency) to every read.
    - command: a write of CMD, ALLOC_SIZE or FREE_SIZE accepted in cycle 0 presents the request
      to the core in cycle 1 (with ``ack``); ALLOC_SIZE/FREE_SIZE turn the byte size into
      COUNT in the write cycle (no extra cycle). A RESULT read waiting for the command is
      accepted in the cycle the core's response is taken, with the response's value, and
      acknowledged in the next; STATUS, FREE, LARGEST and the counters change 1 cycle after the
      core responds. The command write and a RESULT read right behind it take the core's
      latency plus 4 cycles with ``cyc`` high (6 for an INFO).
    - with ``streams=True`` a pending bus command has priority over the stream; both are
      served one request at a time (the core's own throughput).
    - after reset the wrapper issues a CLEAR of its own (the core's table RAM is not reset):
      BUSY, and the stream not ready, for the core's CLEAR latency
      (``words + 8 + sum over the levels 1..L, root included, of (nodes + 2)`` cycles: 188 at
      4096 granules with fan-out 4, 277 with fan-out 2; 1384 at 32768). It is not counted in OPS.

    Parameters
    ----------
    granules, log2gran, base : int
        As for :class:`~mmaccel.hdl.gfa.GranuleFrameAllocator`.
    fanout : int
        The core's summary-tree fan-out (2, 4, 8 or 16).
    addr_width : int, optional
        Width of the bus's word address; default the map's own (5 bits, 32 words).
    streams : bool
        Add ``req``/``resp`` stream ports for a hardware client.

    Members
    -------
    bus : In(WishboneSignature(addr_width))
        Register interface.
    req : In(stream.Signature(GfaRequest))
        (``streams=True``) Requests from a hardware client; not accepted while a bus command
        is pending or a GAT_DATA read waits.
    resp : Out(stream.Signature(GfaResponse))
        (``streams=True``) Responses to the hardware client's requests, in order.

    Raises
    ------
    TypeError, ValueError
        As for the core, or an ``addr_width`` too small for the map.
    """

    def __init__(
        self,
        *,
        granules: int,
        log2gran: int = 12,
        base: int = 0,
        fanout: int = 4,
        addr_width: int | None = None,
        streams: bool = False,
    ) -> None:
        self._MustUse__silence = True  # no "never used" warning if the arguments are refused
        if addr_width is None:
            addr_width = GFA_REGMAP.addr_width
        if not isinstance(addr_width, int) or isinstance(addr_width, bool):
            raise TypeError(f"addr_width must be an int, not {addr_width!r}")
        if not GFA_REGMAP.addr_width <= addr_width <= 30:
            raise ValueError(f"addr_width must be in {GFA_REGMAP.addr_width}..30, not {addr_width}")
        # The core checks granules, log2gran, base and fanout.
        self.core = GranuleFrameAllocator(
            granules=granules, log2gran=log2gran, base=base, fanout=fanout
        )
        self.granules = granules
        self.log2gran = log2gran
        self.base = base
        self.fanout = fanout
        self.words = self.core.words
        self.addr_width = addr_width
        self.streams = bool(streams)
        self._MustUse__silence = False
        members: dict[str, Any] = {"bus": In(WishboneSignature(addr_width))}
        if self.streams:
            members["req"] = In(stream.Signature(GfaRequest))
            members["resp"] = Out(stream.Signature(GfaResponse))
        super().__init__(members)

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        m.submodules.core = core = self.core
        m.submodules.bank = bank = RegisterBank(GFA_REGMAP, addr_width=self.addr_width)
        connect(m, flipped(self.bus), bank.bus)
        regs = bank.regs

        # -- constants --------------------------------------------------------------------------
        config = GFA_REGMAP["CONFIG"].pack(granules=self.granules, log2gran=self.log2gran)
        m.d.comb += [
            regs.id.r_data.eq(GFA_ID),
            regs.config.r_data.eq(config),
            regs.heap_base.r_data.eq(self.base),
        ]

        # -- arguments --------------------------------------------------------------------------
        count = Signal(17)
        addr = Signal(32)
        align = Signal(32)
        op = Signal(GfaOp, init=GfaOp.CLEAR)
        m.d.comb += [
            regs.count.r_data.eq(count),
            regs.addr.r_data.eq(addr),
            regs.align.r_data.eq(align),
        ]
        with m.If(regs.count.w_stb):
            m.d.sync += count.eq(regs.count.w_data[:17])
        with m.If(regs.addr.w_stb):
            m.d.sync += addr.eq(regs.addr.w_data)
        with m.If(regs.align.w_stb):
            m.d.sync += align.eq(regs.align.w_data)

        # -- byte sizes (ALLOC_SIZE, FREE_SIZE) -------------------------------------------------
        # ceil(S / 2**log2gran) in the write cycle: the quotient is S's upper bits (wiring), the
        # round-up is the OR of its lower bits, carried into one 17-bit increment. A count that
        # does not fit COUNT (only possible when 32 - log2gran > 16) saturates to all ones,
        # which is above every allocator's granules, so the core answers BAD_COUNT as for any
        # COUNT above granules; S = 0 gives count 0 (BAD_COUNT too). Both registers are write
        # only, so their ``w_data`` are the same word (``dat_w`` on the selected lanes).
        size = regs.alloc_size.w_data
        quotient = size[self.log2gran :]
        round_up = size[: self.log2gran].any()
        size_count = Signal(18)
        m.d.comb += size_count.eq(quotient[:17] + round_up)
        too_big = Signal()
        m.d.comb += too_big.eq(size_count[17] | (quotient[17:].any() if len(quotient) > 17 else 0))
        size_granules = Signal(17)
        m.d.comb += size_granules.eq(size_count[:17] | too_big.replicate(17))

        # -- command issue and arbitration ------------------------------------------------------
        # The core's table RAM keeps its content over a reset while its registers do not, so
        # the wrapper starts with a CLEAR of its own (not counted, BUSY meanwhile).
        booting = Signal(init=1)
        cmd_pending = Signal(init=1)  # CMD written (or the boot CLEAR), not yet accepted
        bus_inflight = Signal()  # accepted bus command whose response is not yet taken
        owner_bus = Signal()  # the request in the core came from the bus
        busy = Signal()
        m.d.comb += busy.eq(cmd_pending | bus_inflight)
        for name in ("cmd", "count", "addr", "align", "gat_index", "alloc_size", "free_size"):
            m.d.comb += getattr(regs, name).ready.eq(~busy)
        with m.If(regs.cmd.w_stb):
            m.d.sync += [cmd_pending.eq(1), op.eq(regs.cmd.w_data[:3])]
        for name, size_op in (("alloc_size", GfaOp.ALLOC), ("free_size", GfaOp.FREE)):
            with m.If(getattr(regs, name).w_stb):
                m.d.sync += [cmd_pending.eq(1), op.eq(size_op), count.eq(size_granules)]

        gat_wait = Signal()  # a GAT_DATA read is waiting: hold off stream requests
        m.d.comb += gat_wait.eq(regs.gat_data.req & ~regs.gat_data.we)

        bus_req = Signal.like(core.req.payload)
        m.d.comb += [
            bus_req.op.eq(op),
            bus_req.count.eq(count),
            bus_req.addr.eq(addr),
            bus_req.align.eq(align),
        ]
        if self.streams:
            hw_go = Signal()
            m.d.comb += [
                hw_go.eq(self.req.valid & ~cmd_pending & ~gat_wait),
                core.req.valid.eq(cmd_pending | hw_go),
                core.req.payload.eq(Mux(cmd_pending, bus_req, self.req.payload)),
                self.req.ready.eq(core.req.ready & hw_go),
            ]
        else:
            m.d.comb += [core.req.valid.eq(cmd_pending), core.req.payload.eq(bus_req)]
        with m.If(core.req.valid & core.req.ready):
            m.d.sync += owner_bus.eq(cmd_pending)
            with m.If(cmd_pending):
                m.d.sync += [cmd_pending.eq(0), bus_inflight.eq(1)]

        # -- responses --------------------------------------------------------------------------
        if self.streams:
            m.d.comb += [
                self.resp.payload.eq(core.resp.payload),
                self.resp.valid.eq(core.resp.valid & ~owner_bus),
                core.resp.ready.eq(owner_bus | self.resp.ready),
            ]
        else:
            m.d.comb += core.resp.ready.eq(1)

        rsp = core.resp.payload
        code = Signal(GfaStatus)
        result = Signal(32)
        free = Signal(17, init=self.granules)
        largest = Signal(17, init=self.granules)
        ops = Signal(32)
        fails = Signal(32)
        errors = Signal(32)
        # A RESULT read waiting for the bus's command is accepted in the cycle its response is
        # taken (both registers: the core's response is registered), with the response's value.
        finishing = Signal()
        rsp_result = Signal(32)
        m.d.comb += [
            finishing.eq(bus_inflight & core.resp.valid),
            rsp_result.eq(Mux(rsp.status == GfaStatus.OK, rsp.addr, GFA_RESULT_NONE)),
            regs.result.ready.eq(~busy | finishing),
        ]
        with m.If(core.resp.valid & core.resp.ready):
            m.d.sync += [
                free.eq(rsp.free_count),
                largest.eq(rsp.largest_run),
                booting.eq(0),
            ]
            with m.If(~booting):
                m.d.sync += ops.eq(ops + 1)
                with m.If(rsp.status == GfaStatus.NO_SPACE):
                    m.d.sync += fails.eq(fails + 1)
                with m.If(rsp.status.as_value() >= _BAD_COUNT):
                    m.d.sync += errors.eq(errors + 1)
            with m.If(owner_bus):
                m.d.sync += [
                    code.eq(rsp.status),
                    result.eq(rsp_result),
                    bus_inflight.eq(0),
                ]

        status = GFA_REGMAP["STATUS"]
        code_v = code.as_value()
        m.d.comb += [
            regs.status.r_data[status.field("BUSY").lsb].eq(busy),
            regs.status.r_data[status.field("FAIL").lsb].eq(code == GfaStatus.NO_SPACE),
            regs.status.r_data[status.field("ERROR").lsb].eq(code_v >= _BAD_COUNT),
            regs.status.r_data[status.field("CODE").lsb :][:4].eq(code_v),
            regs.result.r_data.eq(Mux(finishing, rsp_result, result)),
            regs.nfree.r_data.eq(free),
            regs.largest.r_data.eq(largest),
            regs.ops.r_data.eq(ops),
            regs.fails.r_data.eq(fails),
            regs.errors.r_data.eq(errors),
        ]

        # -- allocation-table window ------------------------------------------------------------
        gat_index = Signal(16)
        gat_ready = Signal()
        gat_settle = Signal()  # the word of gat_index is being read into gat_q
        gat_q = Signal(32)
        m.d.comb += [
            regs.gat_index.r_data.eq(gat_index),
            core.dbg_addr.eq(gat_index),
            regs.gat_data.ready.eq(gat_ready),
            regs.gat_data.r_data.eq(gat_q),
        ]
        # The table is read with latency 1 and only while the engine is idle, and the word is
        # registered (``gat_q``: the block RAM's slow output feeds nothing else): the read is
        # accepted two cycles after the address was presented with the core idle and no
        # request entering it (bus commands are pending only while BUSY, which stalls this
        # read, and stream requests are held off by gat_wait).
        m.d.sync += gat_q.eq(Mux(gat_index < self.words, core.dbg_data, 0))
        m.d.sync += [
            gat_settle.eq(
                gat_wait & ~busy & ~core.busy & ~core.req.valid & ~gat_settle & ~gat_ready
            ),
            gat_ready.eq(gat_settle),
        ]
        with m.If(regs.gat_index.w_stb):
            m.d.sync += [
                gat_index.eq(regs.gat_index.w_data[:16]),
                gat_settle.eq(0),
                gat_ready.eq(0),
            ]
        with m.If(regs.gat_data.r_stb):
            m.d.sync += gat_index.eq(gat_index + 1)
        return m
