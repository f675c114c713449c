"""The board top: allocator and MMU behind a Wishbone interconnect, driven over a UART bridge.

::

    UART ─ UARTWishboneBridge ─ buffer ─ decoder ─┬─ 0x0000_0000 board info (BOARD_REGMAP)
                                                  ├─ 0x0100_0000 allocator (GFA_REGMAP)
                                                  ├─ 0x0200_0000 MMU control (MMU_REGMAP)
                                                  ├─ 0x0300_0000 MMU probe (PROBE_REGMAP)
                                                  └─ 0x0400_0000 page-table memory ─┐
         MMU page-table walker ─ buffer ─ decoder (PA 0 .. ptmem) ─── arbiter ──────┴─ buffer ─ RAM

The page-table memory appears at physical address 0 to the MMU's walker and at 0x0400_0000 to
the host, so the host writes page tables built by the model (at the same physical addresses)
and the walker reads them. Any walker read outside it is answered with ``err`` (an access
fault, as the model raises for a PTE outside its PhysicalMemory).

:class:`BoardCore` is the whole design with plain ``rx``/``tx``/``leds`` ports (what the cocotb
test simulates); :class:`BoardTop` puts it on a board's pins.
"""

from __future__ import annotations

from typing import Any

from amaranth.hdl import Cat, ClockSignal, Elaboratable, Instance, Module, Signal
from amaranth.lib import io, stream, wiring
from amaranth.lib.wiring import In, Out

from mmaccel.hdl.bus.interconnect import (
    Window,
    WishboneArbiter,
    WishboneBuffer,
    WishboneDecoder,
    WishboneRAM,
)
from mmaccel.hdl.bus.regmap import (
    Field,
    Register,
    RegisterBank,
    RegisterMap,
    id_config_registers,
)
from mmaccel.hdl.bus.wishbone import WishboneSignature
from mmaccel.hdl.uart.bridge import PING_MAGIC, UARTWishboneBridge
from mmaccel.hdl.uart.transceiver import baud_divisor

from .targets import BoardConfig, BoardTarget

__all__ = [
    "BOARD_MAP",
    "BOARD_REGMAP",
    "PROBE_REGMAP",
    "BoardCore",
    "BoardTop",
    "Ice40SpramRAM",
    "MmuProbe",
    "connect_uart_and_leds",
]

#: Byte address of each block on the bridge's bus.
BOARD_MAP: dict[str, int] = {
    "info": 0x0000_0000,
    "gfa": 0x0100_0000,
    "mmu": 0x0200_0000,
    "probe": 0x0300_0000,
    "ptmem": 0x0400_0000,
}

#: Identification and configuration of the board top, at BOARD_MAP["info"].
BOARD_REGMAP = RegisterMap(
    "BOARD",
    (
        *id_config_registers(
            'Reads 0x43416D6D ("mmAC"), like the bridge\'s PING.',
            (
                Field("HAS_GFA", 0, 1, "the granule allocator is present"),
                Field("HAS_MMU", 1, 1, "the MMU is present"),
                Field("LOG2GRAN", 8, 5, "log2 of the granule size in bytes"),
                Field("TLB_ENTRIES", 16, 7, "TLB entries (0 without MMU)"),
            ),
            "What this bitstream holds.",
        ),
        Register("GRANULES", 0x08, "ro", (), "Granules of the allocator (0 without one)."),
        Register("GFA_BASE", 0x0C, "ro", (), "Byte address of the allocator's first granule."),
        Register(
            "PTMEM_BYTES",
            0x10,
            "ro",
            (),
            "Size of the page-table memory; the walker sees it at physical address 0.",
        ),
        Register("CLK_HZ", 0x14, "ro", (), "Clock frequency of the design in Hz."),
        Register("SCRATCH", 0x18, "rw", (), "Free for the host (link tests)."),
        Register(
            "LEDS",
            0x1C,
            "rw",
            (Field("USER", 0, 8, "LEDs after the alive and error LEDs"),),
            "Host-controlled LEDs.",
        ),
        Register("UPTIME", 0x20, "ro", (), "Clock cycles since reset (wraps at 2^32)."),
        Register(
            "PTMEM_CLEAR",
            0x24,
            "rw",
            (Field("BUSY", 0, 1, "write 1: start zeroing; reads 1 until done"),),
            "Zeroes the whole page-table memory in hardware (one word per two or three cycles), "
            "so the host need only write the words that are not 0.",
        ),
    ),
    "Board identification, sizes and host-controlled LEDs.",
)

#: The MMU probe: one translation at a time from the host, at BOARD_MAP["probe"].
PROBE_REGMAP = RegisterMap(
    "MMU_PROBE",
    (
        Register("VA", 0x00, "rw", (), "Virtual address of the next translation."),
        Register(
            "REQUEST",
            0x04,
            "wo",
            (
                Field("ACCESS", 0, 2, "access type", {"LOAD": 0, "STORE": 1, "FETCH": 2}),
                Field("PRIV", 2, 1, "privilege", {"U": 0, "S": 1}),
                Field("SUM", 3, 1, "sstatus.SUM"),
                Field("MXR", 4, 1, "sstatus.MXR"),
            ),
            "Writing sends VA with these attributes to the MMU (the write waits while an "
            "earlier translation is still pending).",
        ),
        Register(
            "STATUS",
            0x08,
            "ro",
            (
                Field("DONE", 0, 1, "the answer to the last REQUEST has arrived"),
                Field("FAULT", 1, 1, "the answer is a fault"),
                Field("CAUSE", 4, 4, "mcause of the fault"),
                Field("PA_HI", 8, 2, "bits 33:32 of the physical address"),
            ),
            "Answer of the last translation. A read waits until the answer has arrived.",
        ),
        Register("PA", 0x0C, "ro", (), "Bits 31:0 of the physical address (0 on a fault)."),
    ),
    "Lets the host translate through the MMU's request/response streams, one at a time.",
)


class _Info(wiring.Component):
    """BOARD_REGMAP registers. Latency: 1 cycle per access (RegisterBank)."""

    def __init__(self, config: BoardConfig, clk_hz: int) -> None:
        self._config = config
        self._clk_hz = clk_hz
        super().__init__(
            {
                "bus": In(WishboneSignature(BOARD_REGMAP.addr_width)),
                "user_leds": Out(8),
                "clear_start": Out(1),
                "clear_busy": In(1),
            }
        )

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        m.submodules.bank = bank = RegisterBank(BOARD_REGMAP)
        wiring.connect(m, wiring.flipped(self.bus), bank.bus)
        regs = bank.regs
        c = self._config
        scratch = Signal(32)
        leds = Signal(8)
        uptime = Signal(32)
        # two 16-bit halves, the upper one stepping with the lower one's wrap (known a cycle
        # ahead): no 32-bit carry chain, which made synthesis deepen the logic elsewhere
        uptime_lo_max = Signal()
        m.d.sync += [uptime[:16].eq(uptime[:16] + 1), uptime_lo_max.eq(uptime[:16] == 0xFFFE)]
        with m.If(uptime_lo_max):
            m.d.sync += uptime[16:].eq(uptime[16:] + 1)
        config_word = BOARD_REGMAP["CONFIG"].pack(
            HAS_GFA=int(c.granules > 0),
            HAS_MMU=int(c.tlb_entries > 0),
            LOG2GRAN=c.log2gran,
            TLB_ENTRIES=c.tlb_entries,
        )
        m.d.comb += [
            regs.id.r_data.eq(PING_MAGIC),
            regs.config.r_data.eq(config_word),
            regs.granules.r_data.eq(c.granules),
            regs.gfa_base.r_data.eq(c.gfa_base),
            regs.ptmem_bytes.r_data.eq(c.ptmem_bytes),
            regs.clk_hz.r_data.eq(self._clk_hz),
            regs.scratch.r_data.eq(scratch),
            regs.leds.r_data.eq(leds),
            regs.uptime.r_data.eq(uptime),
            self.user_leds.eq(leds),
            regs.ptmem_clear.r_data.eq(self.clear_busy),
            self.clear_start.eq(
                regs.ptmem_clear.w_stb & regs.ptmem_clear.w_data[0] & int(c.ptmem_bytes > 0)
            ),
        ]
        with m.If(regs.scratch.w_stb):
            m.d.sync += scratch.eq(regs.scratch.w_data)
        with m.If(regs.leds.w_stb):
            m.d.sync += leds.eq(regs.leds.w_data[:8])
        return m


class MmuProbe(wiring.Component):
    """PROBE_REGMAP: the host's window onto the MMU's translation streams.

    Members
    -------
    bus : In(WishboneSignature(PROBE_REGMAP.addr_width))
        Register slave.
    req : Out(stream.Signature(TranslationRequest))
        To the MMU.
    resp : In(stream.Signature(TranslationResponse))
        From the MMU (always ready).

    Latency: the request is offered the cycle after the REQUEST write; a STATUS read is
    answered one cycle after the response arrives (or after the access, if it already has).
    """

    def __init__(self) -> None:
        from mmaccel.hdl.mmu import TranslationRequest, TranslationResponse

        super().__init__(
            {
                "bus": In(WishboneSignature(PROBE_REGMAP.addr_width)),
                "req": Out(stream.Signature(TranslationRequest)),
                "resp": In(stream.Signature(TranslationResponse)),
            }
        )

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        m.submodules.bank = bank = RegisterBank(PROBE_REGMAP)
        wiring.connect(m, wiring.flipped(self.bus), bank.bus)
        regs = bank.regs
        request = PROBE_REGMAP["REQUEST"]
        status_reg = PROBE_REGMAP["STATUS"]
        va = Signal(32)
        pending = Signal()  # a request is offered or waits for its answer
        done = Signal()
        fault = Signal()
        cause = Signal(4)
        pa = Signal(34)

        m.d.comb += [regs.va.r_data.eq(va), self.resp.ready.eq(1)]
        with m.If(regs.va.w_stb):
            m.d.sync += va.eq(regs.va.w_data)

        word = regs.request.w_data
        m.d.comb += regs.request.ready.eq(~pending)
        with m.If(regs.request.w_stb):
            m.d.sync += [
                self.req.valid.eq(1),
                self.req.payload.va.eq(va),
                self.req.payload.access.eq(word[request.field("ACCESS").lsb :][:2]),
                self.req.payload.priv.eq(word[request.field("PRIV").lsb]),
                self.req.payload.sum.eq(word[request.field("SUM").lsb]),
                self.req.payload.mxr.eq(word[request.field("MXR").lsb]),
                pending.eq(1),
                done.eq(0),
            ]
        with m.If(self.req.valid & self.req.ready):
            m.d.sync += self.req.valid.eq(0)
        with m.If(self.resp.valid & pending & ~self.req.valid):
            m.d.sync += [
                pending.eq(0),
                done.eq(1),
                fault.eq(self.resp.payload.fault),
                cause.eq(self.resp.payload.cause),
                pa.eq(self.resp.payload.pa),
            ]

        st = Signal(32)
        m.d.comb += [
            st[status_reg.field("DONE").lsb].eq(done),
            st[status_reg.field("FAULT").lsb].eq(fault),
            st[status_reg.field("CAUSE").lsb :][:4].eq(cause),
            st[status_reg.field("PA_HI").lsb :][:2].eq(pa[32:34]),
            regs.status.r_data.eq(st),
            regs.status.ready.eq(~pending),
            regs.pa.r_data.eq(pa[:32]),
        ]
        return m


class _MemoryClear(wiring.Component):
    """Writes 0 to every word of a memory, one Wishbone write after another.

    Latency: ``depth`` writes of the responder's latency plus one cycle each; ``busy`` is high
    from the cycle after ``start`` until the last write is acknowledged.
    """

    def __init__(self, *, depth: int, addr_width: int) -> None:
        self._depth = depth
        super().__init__(
            {"start": In(1), "busy": Out(1), "bus": Out(WishboneSignature(addr_width))}
        )

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        adr = Signal(range(self._depth + 1))
        m.d.comb += [self.bus.adr.eq(adr), self.bus.sel.eq(0b1111), self.bus.we.eq(1)]
        with m.FSM():
            with m.State("Idle"), m.If(self.start):
                m.d.sync += adr.eq(0)
                m.next = "Write"
            with m.State("Write"):
                m.d.comb += [self.busy.eq(1), self.bus.cyc.eq(1), self.bus.stb.eq(1)]
                with m.If(self.bus.ack | self.bus.err):
                    m.d.sync += adr.eq(adr + 1)
                    m.next = "Gap"
            with m.State("Gap"):  # classic Wishbone: stb drops for a cycle after each ack
                m.d.comb += self.busy.eq(1)
                with m.If(adr == self._depth):
                    m.next = "Idle"
                with m.Else():
                    m.next = "Write"
        return m


class Ice40SpramRAM(wiring.Component):
    """Page-table memory in the iCE40UP5K's single-port RAMs: two SB_SPRAM256KA side by side.

    16384 words of 32 bits (64 KiB) at most, without using any block RAM (EBR), which the
    allocator needs. Same bus behaviour as :class:`~mmaccel.hdl.bus.interconnect.WishboneRAM`:
    ``ack`` with the read data one cycle after ``cyc & stb``, byte lanes honoured (SPRAM
    write masks are per nibble, two nibbles per byte), ``err`` at or beyond ``depth``.

    Only for iCE40UP5K builds; simulations of the board top use WishboneRAM instead.
    """

    def __init__(self, *, depth: int) -> None:
        if not 1 <= depth <= 16384:
            raise ValueError(f"depth must be in 1..16384 words, not {depth}")
        self._depth = depth
        super().__init__({"bus": In(WishboneSignature(max(1, (depth - 1).bit_length())))})

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        bus = self.bus
        ack = Signal()
        err = Signal()
        start = bus.cyc & bus.stb & ~ack & ~err
        inside = bus.adr < self._depth
        write = Signal()
        m.d.comb += [bus.ack.eq(ack), bus.err.eq(err), write.eq(start & inside & bus.we)]
        m.d.sync += [ack.eq(start & inside), err.eq(start & ~inside)]
        address = Signal(14)
        m.d.comb += address.eq(bus.adr)
        for half in range(2):
            data_out = Signal(16, name=f"spram{half}_data")
            sel = bus.sel[2 * half : 2 * half + 2]
            m.submodules[f"spram{half}"] = Instance(
                "SB_SPRAM256KA",
                i_ADDRESS=address,
                i_DATAIN=bus.dat_w[16 * half : 16 * half + 16],
                i_MASKWREN=Cat(sel[0], sel[0], sel[1], sel[1]),
                i_WREN=write,
                i_CHIPSELECT=1,
                i_CLOCK=ClockSignal(),
                i_STANDBY=0,
                i_SLEEP=0,
                i_POWEROFF=1,
                o_DATAOUT=data_out,
            )
            m.d.comb += bus.dat_r[16 * half : 16 * half + 16].eq(data_out)
        return m


class BoardCore(wiring.Component):
    """Everything on the board except pins and clocks: bridge, interconnect, blocks, LEDs.

    Parameters
    ----------
    config : BoardConfig
        Sizes of the allocator, MMU and page-table memory.
    clk_hz : int
        Clock frequency in Hz (sets the UART divisor and the LED timing).
    divisor : int or None
        Clock cycles per UART bit; None computes it from ``clk_hz`` and ``config.baud``
        (simulations pass a small value to run fast).
    spram : bool
        Put the page-table memory in iCE40UP5K SPRAM (:class:`Ice40SpramRAM`) rather than
        block RAM; only for iCE40UP5K builds.

    Members
    -------
    rx : In(1)
        Serial line from the host.
    tx : Out(1)
        Serial line to the host.
    leds : Out(10)
        Bit 0: alive (toggles every 0.25 to 0.5 s, flickers on each bus access); bit 1: error
        (lit for about 0.1 to 0.2 s after any refused access or a bad frame); bits 2..9: the
        LEDS register.

    The bus accesses of the host cost what each block documents, plus two cycles for the
    registered decoder, two for the register stage in front of it and one for the arbiter in
    front of the page-table memory.
    """

    def __init__(
        self, config: BoardConfig, *, clk_hz: int, divisor: int | None = None, spram: bool = False
    ) -> None:
        if not isinstance(config, BoardConfig):
            raise TypeError(f"config must be a BoardConfig, not {config!r}")
        if not isinstance(clk_hz, int) or clk_hz <= 0:
            raise ValueError(f"clk_hz must be a positive int, not {clk_hz!r}")
        self._config = config
        self._clk_hz = clk_hz
        self._divisor = baud_divisor(clk_hz, config.baud) if divisor is None else divisor
        self._spram = spram
        if spram and config.ptmem_bytes > 65536:
            raise ValueError(f"SPRAM holds at most 65536 bytes, not {config.ptmem_bytes}")
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "leds": Out(10)})

    @property
    def config(self) -> BoardConfig:
        return self._config

    @property
    def divisor(self) -> int:
        return self._divisor

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        c = self._config
        m.submodules.bridge = bridge = UARTWishboneBridge(divisor=self._divisor, addr_width=30)
        m.d.comb += [bridge.rx.eq(self.rx), self.tx.eq(bridge.tx)]

        m.submodules.info = info = _Info(c, self._clk_hz)
        windows = [Window("info", BOARD_MAP["info"], BOARD_REGMAP.addr_width)]
        slaves: list[tuple[str, Any]] = [("info", info.bus)]

        if c.granules:
            from mmaccel.hdl.gfa.wishbone import GfaWishbone

            gfa = GfaWishbone(
                granules=c.granules, log2gran=c.log2gran, base=c.gfa_base, fanout=c.gfa_fanout
            )
            m.submodules.gfa = gfa
            windows.append(Window("gfa", BOARD_MAP["gfa"], gfa.bus.signature.addr_width))
            slaves.append(("gfa", gfa.bus))

        # The page-table memory: the host (initiator 0), the clear engine (1) and, with the
        # MMU, the page-table walker (2) share it through an arbiter.
        arbiter = None
        if c.ptmem_bytes:
            depth = c.ptmem_bytes // 4
            ram: Ice40SpramRAM | WishboneRAM = (
                Ice40SpramRAM(depth=depth) if self._spram else WishboneRAM(depth=depth)
            )
            m.submodules.ptmem = ram
            ram_aw = ram.bus.signature.addr_width
            m.submodules.ptmem_arbiter = arbiter = WishboneArbiter(
                addr_width=ram_aw, count=3 if c.tlb_entries else 2
            )
            # A register stage between the arbiter and the RAM (two cycles more per access):
            # the RAM's write enable, which reaches every block RAM of the memory (32 DP16KD
            # on the ECP5 at 64 KiB), then comes from flip-flops, not from the arbiter's choice.
            m.submodules.ptmem_buffer = ram_buffer = WishboneBuffer(addr_width=ram_aw)
            wiring.connect(m, arbiter.bus, ram_buffer.initiator)
            wiring.connect(m, ram_buffer.responder, ram.bus)
            m.submodules.ptmem_clear = clearer = _MemoryClear(depth=depth, addr_width=ram_aw)
            wiring.connect(m, clearer.bus, arbiter.initiators[1])
            # the start is registered: the register decode does not reach the clear engine
            m.d.sync += clearer.start.eq(info.clear_start)
            m.d.comb += info.clear_busy.eq(clearer.busy)
            windows.append(Window("ptmem", BOARD_MAP["ptmem"], ram_aw))
            slaves.append(("ptmem", arbiter.initiators[0]))

        if c.tlb_entries:
            from mmaccel.hdl.mmu.regs import MMU_REGMAP
            from mmaccel.hdl.mmu.wishbone import MmuWishbone

            m.submodules.mmu = mmu = MmuWishbone(c.tlb_entries)
            m.submodules.probe = probe = MmuProbe()
            wiring.connect(m, probe.req, mmu.req)
            wiring.connect(m, mmu.resp, probe.resp)
            windows.append(Window("mmu", BOARD_MAP["mmu"], MMU_REGMAP.addr_width))
            windows.append(Window("probe", BOARD_MAP["probe"], PROBE_REGMAP.addr_width))
            slaves += [("mmu", mmu.ctrl), ("probe", probe.bus)]
            walker_windows = [Window("ptmem", 0, ram_aw)] if arbiter is not None else []
            # The decode and the answer are registered (two cycles more per PTE read): the
            # 32-bit address compare then feeds flip-flops, not the arbiter and the RAM's write
            # enable.
            m.submodules.walker_decoder = walker_decoder = WishboneDecoder(
                addr_width=mmu.bus.signature.addr_width, windows=walker_windows, registered=True
            )
            # A register stage keeps the walker's address logic and its PTE decode apart from
            # the decoder, the arbiter and the RAM (two cycles more per PTE read).
            walker_aw = mmu.bus.signature.addr_width
            m.submodules.walker_buffer = buffer = WishboneBuffer(addr_width=walker_aw)
            wiring.connect(m, mmu.bus, buffer.initiator)
            wiring.connect(m, buffer.responder, walker_decoder.bus)
            if arbiter is not None:
                wiring.connect(m, walker_decoder.ptmem, arbiter.initiators[2])

        # The host's accesses are few and slow: a register stage costs nothing and keeps the
        # bridge's logic out of the blocks' register decode, and the registered decoder (two
        # cycles more) keeps the 30-bit window compares and the answer multiplexer out of it.
        m.submodules.decoder = decoder = WishboneDecoder(
            addr_width=30, windows=windows, registered=True
        )
        m.submodules.host_buffer = host_buffer = WishboneBuffer(addr_width=30)
        wiring.connect(m, bridge.bus, host_buffer.initiator)
        wiring.connect(m, host_buffer.responder, decoder.bus)
        for name, port in slaves:
            wiring.connect(m, getattr(decoder, name), port)

        # LEDs, timed by a free-running prescaler (plain increments: no wide compare on the
        # critical path): one tick every 2**w cycles, about 4..8 ms.
        w = max(1, (self._clk_hz // 256).bit_length())
        prescaler = Signal(w)
        tick = Signal()
        beats = Signal(7)
        flash = Signal(2)  # ticks the alive LED stays inverted after an access
        error_hold = Signal(5)  # ticks the error LED stays lit
        m.d.sync += [prescaler.eq(prescaler + 1), tick.eq(prescaler.all())]
        with m.If(tick):
            m.d.sync += beats.eq(beats + 1)
        alive = beats[-1]  # toggles every 64 ticks: 0.25..0.5 s
        # the bridge's pulses are registered first (off its frame decode)
        access = Signal()
        error = Signal()
        m.d.sync += [access.eq(bridge.access), error.eq(bridge.error)]
        with m.If(access):
            m.d.sync += flash.eq(2)
        with m.Elif(tick & (flash != 0)):
            m.d.sync += flash.eq(flash - 1)
        with m.If(error):
            m.d.sync += error_hold.eq(24)
        with m.Elif(tick & (error_hold != 0)):
            m.d.sync += error_hold.eq(error_hold - 1)
        m.d.comb += self.leds.eq(Cat(alive ^ (flash != 0), error_hold != 0, info.user_leds))
        return m


def connect_uart_and_leds(m: Module, platform: Any, target: BoardTarget, core: Any) -> None:
    """Put ``core``'s ``rx``/``tx`` on the board's UART pins and its ``leds`` bits on the
    board's LEDs, in order, until the bits run out (an RGB LED takes three: green, red,
    blue)."""
    uart = platform.request(*target.uart, dir="-")
    m.submodules.uart_rx = rx = io.Buffer("i", uart.rx)
    m.submodules.uart_tx = tx = io.Buffer("o", uart.tx)
    m.d.comb += [core.rx.eq(rx.i), tx.o.eq(core.tx)]
    bit = 0
    for name, number in target.leds:
        if bit >= len(core.leds):
            break
        led = platform.request(name, number, dir="-")
        if name == "rgb_led":
            for colour, index in (("g", 0), ("r", 1), ("b", 2)):
                buffer = io.Buffer("o", getattr(led, colour))
                m.submodules[f"led_{colour}"] = buffer
                m.d.comb += buffer.o.eq(core.leds[index])
            bit += 3
        else:
            buffer = io.Buffer("o", led)
            m.submodules[f"{name}_{number}"] = buffer
            m.d.comb += buffer.o.eq(core.leds[bit])
            bit += 1


class BoardTop(Elaboratable):
    """:class:`BoardCore` on a board's pins: clock, reset, the host UART and the LEDs.

    Parameters
    ----------
    target : BoardTarget
        The board.
    config : BoardConfig
        Sizes (usually ``target.config(...)``).
    """

    def __init__(self, target: BoardTarget, config: BoardConfig) -> None:
        self.target = target
        self.config = config

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        clk_hz = int(platform.default_clk_frequency)
        m.submodules.core = core = BoardCore(
            self.config, clk_hz=clk_hz, spram=self.target.family == "ice40"
        )
        connect_uart_and_leds(m, platform, self.target, core)
        return m
