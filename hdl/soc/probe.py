"""The translation probe: the MMU's request/response streams behind Wishbone registers.

Firmware asks the MMU for one translation at a time (the CPU itself does not translate: the
core runs in machine mode with physical addresses). Registers (byte offsets,
:data:`~mmaccel.hdl.soc.memory_map.PROBE_REGS`):

- 0x00 VA (rw): the virtual address of the next request.
- 0x04 REQ (wo): bits [1:0] access (``Access``: 0 LOAD, 1 STORE, 2 FETCH), bit 2 priv
  (``Priv``: 0 U, 1 S), bit 3 SUM, bit 4 MXR. The write sends the request (VA and these
  fields); it is acknowledged once the MMU has accepted the request.
- 0x08 RESULT (ro): bit 0 fault, bits [7:4] the ``FaultCause`` value when fault (else 0). The
  read waits until the answer to the last request has arrived.
- 0x0C PA (ro): pa[31:0] of the last answer (0 after a fault).
- 0x10 PAH (ro): pa[33:32] of the last answer.

Other offsets, writes to read-only and reads of write-only registers answer with ``err``.
"""

from typing import Any

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from mmaccel.hdl.bus.wishbone import WishboneSignature
from mmaccel.hdl.mmu.types import TranslationRequest, TranslationResponse
from mmaccel.hdl.soc.memory_map import PROBE_REGS

__all__ = ["TranslationProbe"]

#: Width of the probe's word address (8 words).
ADDR_WIDTH = 3


class TranslationProbe(wiring.Component):
    """Wishbone registers that send translation requests and read the answers.

    Members
    -------
    bus : In(WishboneSignature(3))
        Register port.
    req : Out(stream.Signature(TranslationRequest))
        To the MMU.
    resp : In(stream.Signature(TranslationResponse))
        From the MMU (always accepted).

    Latency: ``ack`` one cycle after ``cyc & stb``, and for REQ one cycle after the MMU
    accepts the request; a RESULT read is acknowledged the cycle after the answer arrives (a
    TLB hit: REQ write then RESULT read cost 2 + 3 cycles on the bus).
    """

    bus: In(WishboneSignature(ADDR_WIDTH))
    req: Out(stream.Signature(TranslationRequest))
    resp: In(stream.Signature(TranslationResponse))

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        bus = self.bus
        ack = Signal()
        err = Signal()
        dat_r = Signal(32)
        va = Signal(32)
        waiting = Signal()  # a request has been accepted, its answer has not arrived
        fault = Signal()
        cause = Signal(4)
        pa = Signal(34)
        m.d.comb += [
            bus.ack.eq(ack),
            bus.err.eq(err),
            bus.dat_r.eq(dat_r),
            self.resp.ready.eq(1),
            self.req.payload.va.eq(va),
            self.req.payload.access.eq(bus.dat_w[0:2]),
            self.req.payload.priv.eq(bus.dat_w[2]),
            self.req.payload.sum.eq(bus.dat_w[3]),
            self.req.payload.mxr.eq(bus.dat_w[4]),
        ]
        with m.If(self.resp.valid):
            m.d.sync += [
                waiting.eq(0),
                fault.eq(self.resp.payload.fault),
                cause.eq(self.resp.payload.cause),
                pa.eq(self.resp.payload.pa),
            ]
        start = bus.cyc & bus.stb & ~ack & ~err
        m.d.sync += [ack.eq(0), err.eq(0)]
        regs = PROBE_REGS
        with m.If(start), m.Switch(bus.adr):
            with m.Case(regs["VA"] // 4):
                m.d.sync += [ack.eq(1), dat_r.eq(va)]
                with m.If(bus.we):
                    m.d.sync += va.eq(bus.dat_w)
            with m.Case(regs["REQ"] // 4):
                with m.If(~bus.we):
                    m.d.sync += err.eq(1)
                with m.Elif(~waiting):
                    m.d.comb += self.req.valid.eq(1)
                    with m.If(self.req.ready):
                        m.d.sync += [ack.eq(1), waiting.eq(1)]
            with m.Case(regs["RESULT"] // 4):
                with m.If(bus.we):
                    m.d.sync += err.eq(1)
                with m.Elif(~waiting):
                    m.d.sync += [ack.eq(1), dat_r.eq(Cat(fault, 0, 0, 0, cause))]
            for name, value in (("PA", pa[:32]), ("PAH", pa[32:])):
                with m.Case(regs[name] // 4):
                    with m.If(bus.we):
                        m.d.sync += err.eq(1)
                    with m.Else():
                        m.d.sync += [ack.eq(1), dat_r.eq(value)]
            with m.Default():
                m.d.sync += err.eq(1)
        return m
