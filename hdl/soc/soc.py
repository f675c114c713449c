"""The SoC: a VexRiscv core, RAM, sysctl, a UART, the allocator, the MMU and its probe.

::

    VexRiscv --iBus------------------------------------------> RAM port A <-- MMU walker
       |                                                                       (RAM only)
       +-----dBus--> decoder --> RAM port B  (below 0x8000_0000: cached by D$ variants)
                          +----> sysctl      0x8000_0000  (trace FIFO, cycles, EXIT, ID)
                          +----> UART        0x8000_1000
                          +----> GFA         0x8001_0000  (GfaWishbone)
                          +----> MMU regs    0x8002_0000  (MmuWishbone.ctrl)
                          +----> probe       0x8003_0000  --req/resp--> MMU
                          +----> anything else: ACK + ERR (counted by sysctl)

The MMU and its probe are optional (``tlb_entries=0`` leaves both out; their windows then
answer with a bus error like any unmapped address). The data bus decoder is combinational by
default; ``registered_bus=True`` (the bitstreams) registers its decode and its answer: see
:class:`Soc` for the latency.

See docs/soc.md and :mod:`mmaccel.hdl.soc.memory_map`.
"""

from collections.abc import Sequence
from typing import Any

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out, connect

from mmaccel.hdl.bus.interconnect import Window, WishboneDecoder
from mmaccel.hdl.bus.wishbone import WishboneSignature
from mmaccel.hdl.gfa.wishbone import GfaWishbone
from mmaccel.hdl.mmu.wishbone import MmuWishbone
from mmaccel.hdl.soc import memory_map as mm
from mmaccel.hdl.soc.cpu import VARIANTS, VexRiscv
from mmaccel.hdl.soc.probe import TranslationProbe
from mmaccel.hdl.soc.ram import LoadSignature, SocRAM
from mmaccel.hdl.soc.sysctl import SysCtl
from mmaccel.hdl.uart.transceiver import UART

__all__ = ["Soc", "SocUart", "image_words"]


def image_words(image: bytes) -> list[int]:
    """The little-endian 32-bit words of ``image`` (padded with zero bytes to a word)."""
    padded = bytes(image) + bytes(-len(image) % 4)
    return [int.from_bytes(padded[i : i + 4], "little") for i in range(0, len(padded), 4)]


class SocUart(wiring.Component):
    """A UART on Wishbone: DATA (write sends, read takes the received byte) and STATUS.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit (at least 4).

    Members
    -------
    bus : In(WishboneSignature(10))
    tx : Out(1)
    rx : In(1)
    tap : Out(stream.Signature(8))
        Each byte the transmitter takes, for one cycle (``ready`` is ignored): a simulation
        reads the text here instead of decoding ``tx``.

    Latency: ``ack`` one cycle after ``cyc & stb``; a DATA write waits while the transmitter
    sends the previous byte (10 bit times per byte).
    """

    bus: In(WishboneSignature(10))
    tx: Out(1, init=1)
    rx: In(1, init=1)
    tap: Out(stream.Signature(8))

    def __init__(self, *, divisor: int) -> None:
        self._MustUse__silence = True
        self._uart = UART(divisor=divisor)
        self._MustUse__silence = False
        super().__init__()

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        m.submodules.uart = uart = self._uart
        bus = self.bus
        ack = Signal()
        err = Signal()
        dat_r = Signal(32)
        rx_byte = Signal(8)
        rx_full = Signal()
        m.d.comb += [
            uart.rx.eq(self.rx),
            self.tx.eq(uart.tx),
            bus.ack.eq(ack),
            bus.err.eq(err),
            bus.dat_r.eq(dat_r),
            uart.tx_data.payload.eq(bus.dat_w[:8]),
            uart.rx_data.ready.eq(~rx_full),
            self.tap.payload.eq(bus.dat_w[:8]),
            self.tap.valid.eq(uart.tx_data.valid & uart.tx_data.ready),
        ]
        with m.If(uart.rx_data.valid & ~rx_full):
            m.d.sync += [rx_byte.eq(uart.rx_data.payload), rx_full.eq(1)]
        start = bus.cyc & bus.stb & ~ack & ~err
        m.d.sync += [ack.eq(0), err.eq(0)]
        with m.If(start), m.Switch(bus.adr):
            with m.Case(mm.UART_REGS["DATA"] // 4):
                with m.If(bus.we):
                    m.d.comb += uart.tx_data.valid.eq(1)
                    with m.If(uart.tx_data.ready):
                        m.d.sync += ack.eq(1)
                with m.Else():
                    m.d.sync += [ack.eq(1), dat_r.eq(rx_byte), rx_full.eq(0)]
            with m.Case(mm.UART_REGS["STATUS"] // 4):
                with m.If(bus.we):
                    m.d.sync += err.eq(1)
                with m.Else():
                    m.d.sync += [ack.eq(1), dat_r.eq(Cat(uart.tx_data.ready, rx_full))]
            with m.Default():
                m.d.sync += err.eq(1)
        return m


class Soc(wiring.Component):
    """The whole SoC (see the module docstring).

    Parameters
    ----------
    variant : str
        The VexRiscv variant (:data:`~mmaccel.hdl.soc.cpu.VARIANTS`).
    ram_size : int
        RAM bytes (a power of two, at least 1 KiB, at most 1 GiB).
    image : bytes, optional
        Initial RAM contents (a bitstream's firmware). Without one the RAM starts at 0 and
        the ``load`` port is added: a test bench writes the image through it while ``rst`` is
        high, so one simulator build runs every firmware.
    granules, log2gran, gfa_base : int
        The allocator's parameters (:class:`~mmaccel.hdl.gfa.wishbone.GfaWishbone`).
    tlb_entries : int
        The MMU's TLB size; 0 leaves the MMU and the translation probe out (small FPGAs).
    uart_divisor : int
        Clock cycles per UART bit.
    trace_depth : int
        Words in the trace FIFO.
    gfa_fanout : int
        Fan-out of the allocator's summary tree (2, 4, 8 or 16; 2 is the smallest in logic).
    registered_bus : bool
        Register the data bus decoder's window decode and its answer (``WishboneDecoder`` with
        ``registered=True``), as the bitstreams do: the 30-bit window compares and the answer
        multiplexer then lie between flip-flops instead of on the path from the CPU's address
        through the responder's ``ack`` into the CPU's stall logic (the path that kept the
        ECP5 below 75 MHz). Latency: every data bus access (RAM below the cache, sysctl, UART,
        allocator, MMU, probe) takes two cycles more, and a data cache refill burst takes four
        cycles per beat instead of one (the decoder answers one beat at a time); an unmapped
        access gets ACK+ERR three cycles after the request instead of one. The MMU walker's
        decoder is registered too (two cycles more per PTE read): the block RAM's output,
        slow out of an ECP5 DP16KD, then reaches flip-flops, not the walker's PTE checks.
        Instruction fetches (straight to the RAM) are unchanged. Same results either way.

    Members
    -------
    trace : Out(stream.Signature(32))
        Words the firmware wrote to sysctl TRACE.
    done : Out(1)
        The firmware wrote EXIT.
    exit_code : Out(32)
        The value it wrote.
    uart_tx : Out(1)
    uart_rx : In(1)
    uart_tap : Out(stream.Signature(8))
        Each byte sent, valid for one cycle (``ready`` ignored).
    load : In(LoadSignature(ram address width))
        (without ``image``) Word writes into the RAM.

    Reset: the ``sync`` domain's reset holds the CPU (and everything else) in reset; the RAM
    keeps its contents.
    """

    def __init__(
        self,
        *,
        variant: str = "standard",
        ram_size: int = mm.DEFAULT_RAM_SIZE,
        image: bytes | None = None,
        granules: int = 4096,
        log2gran: int = 12,
        gfa_base: int = mm.DEFAULT_GFA_HEAP_BASE,
        tlb_entries: int = 8,
        uart_divisor: int = 4,
        trace_depth: int = 256,
        gfa_fanout: int = 4,
        registered_bus: bool = False,
    ) -> None:
        self._MustUse__silence = True
        if not isinstance(ram_size, int) or isinstance(ram_size, bool):
            raise TypeError(f"ram_size must be an int, not {ram_size!r}")
        if ram_size > mm.MMIO_BASE // 2:
            raise ValueError(f"ram_size must be at most 1 GiB, not {ram_size:#x}")
        if image is not None and not isinstance(image, (bytes, bytearray)):
            raise TypeError(f"image must be bytes or None, not {type(image).__name__}")
        init: Sequence[int] = image_words(image) if image is not None else ()
        if len(init) * 4 > ram_size:
            raise ValueError(f"image of {len(image or b'')} bytes exceeds ram_size {ram_size}")
        self.cpu = VexRiscv(variant=variant, reset_vector=mm.RAM_BASE)
        self.ram = SocRAM(size=ram_size, init=init)
        self.sysctl = SysCtl(trace_depth=trace_depth, ram_size=ram_size)
        self.uart = SocUart(divisor=uart_divisor)
        if not isinstance(registered_bus, bool):
            raise TypeError(f"registered_bus must be a bool, not {registered_bus!r}")
        if not isinstance(tlb_entries, int) or isinstance(tlb_entries, bool):
            raise TypeError(f"tlb_entries must be an int, not {tlb_entries!r}")
        self.gfa = GfaWishbone(
            granules=granules, log2gran=log2gran, base=gfa_base, fanout=gfa_fanout
        )
        self.mmu = MmuWishbone(entries=tlb_entries) if tlb_entries else None
        self.probe = TranslationProbe() if tlb_entries else None
        self.variant = VARIANTS[variant]
        self.ram_size = ram_size
        self.granules = granules
        self.log2gran = log2gran
        self.gfa_base = gfa_base
        self.tlb_entries = tlb_entries
        self.gfa_fanout = gfa_fanout
        self.registered_bus = registered_bus
        self.has_load = image is None
        self._MustUse__silence = False
        members: dict[str, Any] = {
            "trace": Out(stream.Signature(32)),
            "done": Out(1),
            "exit_code": Out(32),
            "uart_tx": Out(1, init=1),
            "uart_rx": In(1, init=1),
            "uart_tap": Out(stream.Signature(8)),
        }
        if self.has_load:
            members["load"] = In(LoadSignature(self.ram.addr_width))
        super().__init__(members)

    def windows(self) -> list[Window]:
        """The data bus decoder's windows."""

        def aw(bus: Any) -> int:
            return int(bus.signature.addr_width)

        windows = [
            Window("ram", mm.RAM_BASE, self.ram.addr_width),
            Window("sysctl", mm.SYSCTL_BASE, aw(self.sysctl.bus)),
            Window("uart", mm.UART_BASE, aw(self.uart.bus)),
            Window("gfa", mm.GFA_BASE, aw(self.gfa.bus)),
        ]
        if self.mmu is not None and self.probe is not None:
            windows += [
                Window("mmu", mm.MMU_BASE, aw(self.mmu.ctrl)),
                Window("probe", mm.PROBE_BASE, aw(self.probe.bus)),
            ]
        return windows

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        m.submodules.cpu = cpu = self.cpu
        m.submodules.ram = ram = self.ram
        m.submodules.sysctl = sysctl = self.sysctl
        m.submodules.uart = uart = self.uart
        m.submodules.gfa = gfa = self.gfa
        m.submodules.dec = dec = WishboneDecoder(
            addr_width=30, windows=self.windows(), registered=self.registered_bus
        )

        # instruction bus: straight to RAM port A (addresses wrap inside the RAM)
        m.d.comb += [
            ram.ibus.adr.eq(cpu.ibus.adr),
            ram.ibus.cyc.eq(cpu.ibus.cyc),
            ram.ibus.stb.eq(cpu.ibus.stb),
            ram.ibus.we.eq(0),
            ram.ibus.sel.eq(cpu.ibus.sel),
            ram.ibus_cti.eq(cpu.ibus_cti),
            cpu.ibus.dat_r.eq(ram.ibus.dat_r),
            cpu.ibus.ack.eq(ram.ibus.ack),
            cpu.ibus.err.eq(0),
        ]
        # data bus: through the decoder; its errors come with ACK (VexRiscv ignores ERR)
        m.d.comb += [
            dec.bus.adr.eq(cpu.dbus.adr),
            dec.bus.dat_w.eq(cpu.dbus.dat_w),
            dec.bus.sel.eq(cpu.dbus.sel),
            dec.bus.cyc.eq(cpu.dbus.cyc),
            dec.bus.stb.eq(cpu.dbus.stb),
            dec.bus.we.eq(cpu.dbus.we),
            cpu.dbus.dat_r.eq(dec.bus.dat_r),
            cpu.dbus.ack.eq(dec.bus.ack | dec.bus.err),
            cpu.dbus.err.eq(dec.bus.err),
            ram.dbus_cti.eq(cpu.dbus_cti),
            sysctl.buserr.eq(dec.bus.err),
            sysctl.buserr_addr.eq(Cat(0, 0, cpu.dbus.adr)),
        ]
        connect(m, dec.ram, ram.dbus)
        connect(m, dec.sysctl, sysctl.bus)
        connect(m, dec.uart, uart.bus)
        connect(m, dec.gfa, gfa.bus)
        if self.mmu is not None and self.probe is not None:
            m.submodules.mmu = mmu = self.mmu
            m.submodules.probe = probe = self.probe
            # the MMU walker reads RAM only (34-bit physical addresses as 32-bit word addresses)
            m.submodules.walker_dec = wdec = WishboneDecoder(
                addr_width=32,
                windows=[Window("ram", mm.RAM_BASE, ram.addr_width)],
                registered=self.registered_bus,
            )
            connect(m, dec.mmu, mmu.ctrl)
            connect(m, dec.probe, probe.bus)
            connect(m, probe.req, mmu.req)
            connect(m, mmu.resp, probe.resp)
            connect(m, mmu.bus, wdec.bus)
            connect(m, wdec.ram, ram.walker)

        m.d.comb += [
            self.trace.payload.eq(sysctl.trace.payload),
            self.trace.valid.eq(sysctl.trace.valid),
            sysctl.trace.ready.eq(self.trace.ready),
            self.done.eq(sysctl.done),
            self.exit_code.eq(sysctl.exit_code),
            self.uart_tx.eq(uart.tx),
            uart.rx.eq(self.uart_rx),
            self.uart_tap.payload.eq(uart.tap.payload),
            self.uart_tap.valid.eq(uart.tap.valid),
        ]
        if self.has_load:
            m.d.comb += [
                ram.load.en.eq(self.load.en),
                ram.load.addr.eq(self.load.addr),
                ram.load.data.eq(self.load.data),
            ]
        return m
