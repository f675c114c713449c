"""System controller: trace FIFO, 64-bit cycle counter, exit code, ID and bus-error record.

Registers (byte offsets, :data:`~mmaccel.hdl.soc.memory_map.SYSCTL_REGS`):

- 0x00 TRACE (wo): push the word into the trace FIFO; the write stalls while the FIFO is full.
- 0x04 CYCLE (ro): cycle counter bits [31:0]; the read latches bits [63:32] into CYCLEH.
- 0x08 CYCLEH (ro): the high half latched by the last CYCLE read.
- 0x0C EXIT (wo): the firmware has finished; ``done`` rises and ``exit_code`` holds the value.
- 0x10 ID (ro): ``SOC_ID`` ("SOC1").
- 0x14 BUSERR (ro): bus errors answered to the CPU's data bus since reset (``buserr`` input).
- 0x18 BUSERR_ADDR (ro): the byte address of the last one.
- 0x1C RAM_SIZE (ro): the RAM's size in bytes.

Other offsets answer with ``err``; so do a write to a read-only register and a read of a
write-only one.
"""

from typing import Any

from amaranth.hdl import Module, Signal
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from mmaccel.hdl.bus.wishbone import WishboneSignature
from mmaccel.hdl.soc.memory_map import SOC_ID, SYSCTL_REGS

__all__ = ["SysCtl"]

#: Width of the sysctl window's word address (4 KiB).
ADDR_WIDTH = 10


class SysCtl(wiring.Component):
    """The system controller (see the module docstring for the registers).

    Parameters
    ----------
    trace_depth : int
        Words the trace FIFO holds (at least 2).
    ram_size : int
        What RAM_SIZE reads.

    Members
    -------
    bus : In(WishboneSignature(10))
        Register port.
    trace : Out(stream.Signature(32))
        The trace words, in order (the FIFO's read side).
    done : Out(1)
        An EXIT write has happened (held until reset).
    exit_code : Out(32)
        The value of the first EXIT write.
    buserr : In(1)
        Pulse: the CPU's data bus was answered with an error at ``buserr_addr`` (a byte
        address).
    buserr_addr : In(32)
    cycles : Out(64)
        The cycle counter (counts from reset).

    Latency: ``ack`` one cycle after ``cyc & stb`` (TRACE waits while the FIFO is full); one
    access every 2 cycles. A pushed word is at the trace port one cycle after its ``ack``.
    """

    bus: In(WishboneSignature(ADDR_WIDTH))
    trace: Out(stream.Signature(32))
    done: Out(1)
    exit_code: Out(32)
    buserr: In(1)
    buserr_addr: In(32)
    cycles: Out(64)

    def __init__(self, *, trace_depth: int = 256, ram_size: int = 0) -> None:
        self._MustUse__silence = True
        if not isinstance(trace_depth, int) or isinstance(trace_depth, bool):
            raise TypeError(f"trace_depth must be an int, not {trace_depth!r}")
        if trace_depth < 2:
            raise ValueError(f"trace_depth must be at least 2, not {trace_depth}")
        self._trace_depth = trace_depth
        self._ram_size = ram_size
        self._MustUse__silence = False
        super().__init__()

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        m.submodules.fifo = q = fifo.SyncFIFOBuffered(width=32, depth=self._trace_depth)
        bus = self.bus
        ack = Signal()
        err = Signal()
        dat_r = Signal(32)
        cycles = Signal(64)
        cycleh = Signal(32)
        count = Signal(32)
        last = Signal(32)
        m.d.sync += cycles.eq(cycles + 1)
        m.d.comb += [
            self.cycles.eq(cycles),
            bus.ack.eq(ack),
            bus.err.eq(err),
            bus.dat_r.eq(dat_r),
            self.trace.payload.eq(q.r_data),
            self.trace.valid.eq(q.r_rdy),
            q.r_en.eq(self.trace.ready),
            q.w_data.eq(bus.dat_w),
        ]
        with m.If(self.buserr):
            m.d.sync += [count.eq(count + 1), last.eq(self.buserr_addr)]

        start = bus.cyc & bus.stb & ~ack & ~err
        m.d.sync += [ack.eq(0), err.eq(0)]
        regs = SYSCTL_REGS
        with m.If(start), m.Switch(bus.adr):
            with m.Case(regs["TRACE"] // 4):
                with m.If(~bus.we):
                    m.d.sync += err.eq(1)
                with m.Elif(q.w_rdy):
                    m.d.comb += q.w_en.eq(1)
                    m.d.sync += ack.eq(1)
            with m.Case(regs["EXIT"] // 4):
                with m.If(~bus.we):
                    m.d.sync += err.eq(1)
                with m.Else():
                    m.d.sync += ack.eq(1)
                    with m.If(~self.done):
                        m.d.sync += [self.done.eq(1), self.exit_code.eq(bus.dat_w)]
            for name, value in (
                ("CYCLE", cycles[:32]),
                ("CYCLEH", cycleh),
                ("ID", SOC_ID),
                ("BUSERR", count),
                ("BUSERR_ADDR", last),
                ("RAM_SIZE", self._ram_size),
            ):
                with m.Case(regs[name] // 4):
                    with m.If(bus.we):
                        m.d.sync += err.eq(1)
                    with m.Else():
                        m.d.sync += [ack.eq(1), dat_r.eq(value)]
                        if name == "CYCLE":
                            m.d.sync += cycleh.eq(cycles[32:])
            with m.Default():
                m.d.sync += err.eq(1)
        return m
