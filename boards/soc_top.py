"""The SoC bitstreams: the VexRiscv SoC with its firmware in RAM, the UART on the board's pins.

``mmaccel build --board NAME --soc`` builds :class:`SocBoardTop`: the SoC of
:mod:`mmaccel.hdl.soc.soc` (CPU, RAM initialised with ``firmware/soc/board.c``, sysctl, UART,
the allocator, the MMU and its translation probe) with the registered data bus decoder, on a
clock from the FPGA's PLL (ECP5: ``EHXPLLL``; the iCE40 runs at the board's oscillator).
The firmware prints its results over the UART on the pins the host-link build uses (8N1 at
:attr:`SocBoardConfig.baud`), then PASS or FAIL; the LEDs show it (see :class:`SocBoardCore`).

:class:`SocBoardCore` is the design without pins and clocks (what the cocotb test simulates);
:func:`board_firmware` builds the firmware image for a configuration.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from amaranth.hdl import Cat, ClockDomain, Elaboratable, Instance, Module, Signal
from amaranth.lib import io, wiring
from amaranth.lib.cdc import ResetSynchronizer
from amaranth.lib.wiring import In, Out

from mmaccel.firmware.driver_build import GRAN_SOURCES, MMU_SOURCES, include_dirs
from mmaccel.firmware.image import build_image
from mmaccel.hdl.soc.cpu import VARIANTS
from mmaccel.hdl.soc.memory_map import DEFAULT_GFA_HEAP_BASE
from mmaccel.hdl.soc.soc import Soc
from mmaccel.hdl.uart.transceiver import baud_divisor
from mmaccel.sw.errors import InvalidArgument

from .targets import MAX_GRANULES, TLB_RANGE, BoardTarget
from .top import connect_uart_and_leds

__all__ = [
    "SOC_DEFAULTS",
    "SocBoardConfig",
    "SocBoardCore",
    "SocBoardTop",
    "board_firmware",
    "ecp5_pll",
    "soc_config",
]


@dataclass(frozen=True, slots=True)
class SocBoardConfig:
    """What the SoC bitstream holds.

    Parameters
    ----------
    clock_mhz : float
        The SoC's clock (the PLL's output on the ECP5; the oscillator's on the iCE40).
    variant : str
        VexRiscv variant.
    ram_size : int
        RAM bytes (a power of two; the firmware and its data must fit).
    granules : int
        Allocator granules (1..65536).
    tlb_entries : int
        TLB entries (4..64), or 0 to leave the MMU out.
    gfa_fanout : int
        Fan-out of the allocator's summary tree.
    baud : int
        UART rate.
    ops : int
        Allocator operations the firmware runs on both back ends.
    """

    clock_mhz: float
    variant: str = "standard"
    ram_size: int = 65536
    granules: int = 65536
    tlb_entries: int = 16
    gfa_fanout: int = 4
    baud: int = 115200
    ops: int = 40

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise InvalidArgument(
                f"variant must be one of {', '.join(VARIANTS)}, not {self.variant!r}"
            )
        if not 1 <= self.granules <= MAX_GRANULES:
            raise InvalidArgument(f"granules must be in 1..{MAX_GRANULES}, not {self.granules}")
        lo, hi = TLB_RANGE
        if self.tlb_entries != 0 and not lo <= self.tlb_entries <= hi:
            raise InvalidArgument(
                f"tlb_entries must be 0 (no MMU) or {lo}..{hi}, not {self.tlb_entries}"
            )
        if not self.clock_mhz > 0:
            raise InvalidArgument(f"clock_mhz must be positive, not {self.clock_mhz}")
        if self.ops < 1:
            raise InvalidArgument(f"ops must be positive, not {self.ops}")

    @property
    def clk_hz(self) -> int:
        return round(self.clock_mhz * 1e6)

    def label(self) -> str:
        """A short name for build folders: ``soc-standard-g65536-t16-75mhz``."""
        mhz = f"{self.clock_mhz:g}".replace(".", "p")
        return f"soc-{self.variant}-g{self.granules}-t{self.tlb_entries}-{mhz}mhz"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: Default SoC configuration per board: the clock is the PLL's (ECP5) or the oscillator's.
SOC_DEFAULTS: dict[str, SocBoardConfig] = {
    "ulx3s-85f": SocBoardConfig(clock_mhz=75.0, variant="lite", ram_size=32768),
    # 48 MHz * 5 / 3; 75 MHz itself needs a 3 MHz phase detector input, below the PLL's range
    "orangecrab-85f": SocBoardConfig(clock_mhz=80.0, variant="lite", ram_size=32768),
    # the smallest core, no MMU, 8 KiB of RAM (16 of the 30 block RAMs): see docs/boards.md
    "icebreaker": SocBoardConfig(
        clock_mhz=12.0,
        variant="min",
        ram_size=8192,
        granules=256,
        tlb_entries=0,
        gfa_fanout=2,
        ops=16,
    ),
}


def soc_config(
    target: BoardTarget,
    *,
    clock_mhz: float | None = None,
    granules: int | None = None,
    tlb_entries: int | None = None,
    baud: int | None = None,
    gfa_fanout: int | None = None,
    variant: str | None = None,
) -> SocBoardConfig:
    """The board's SoC defaults with the given values replaced (None keeps the default)."""
    d = SOC_DEFAULTS[target.name]
    return SocBoardConfig(
        clock_mhz=d.clock_mhz if clock_mhz is None else clock_mhz,
        variant=d.variant if variant is None else variant,
        ram_size=d.ram_size,
        granules=d.granules if granules is None else granules,
        tlb_entries=d.tlb_entries if tlb_entries is None else tlb_entries,
        gfa_fanout=d.gfa_fanout if gfa_fanout is None else gfa_fanout,
        baud=d.baud if baud is None else baud,
        ops=d.ops,
    )


def board_firmware(config: SocBoardConfig, *, clk_hz: int | None = None) -> bytes:
    """The image of ``firmware/soc/board.c`` (with the C driver) for ``config``.

    The iCE40's small RAM gets ``-Os``; the others ``-O2``. Raises ``ValueError`` when the
    image does not fit ``config.ram_size``.
    """
    small = config.ram_size < 32768
    with tempfile.TemporaryDirectory(prefix="mmaccel-board-fw-") as tmp:
        incs = include_dirs(Path(tmp))
        sources = [*GRAN_SOURCES, *(MMU_SOURCES if config.tlb_entries else ())]
        return build_image(
            ["board.c"],
            variant=config.variant,
            extra_sources=sources,
            include_dirs=incs,
            defines={
                "BOARD_CLK_HZ": config.clk_hz if clk_hz is None else clk_hz,
                "BOARD_OPS": config.ops,
                "BOARD_GAT_WORDS": (config.granules + 31) // 32,
                "BOARD_HAS_MMU": int(config.tlb_entries > 0),
                "BOARD_TIMED": 4 if small else 16,
            },
            opt="-Os" if small else "-O2",
            ram_size=config.ram_size,
        )


class SocBoardCore(wiring.Component):
    """The SoC with its firmware and plain ports: what goes on the board besides clocks and pins.

    Parameters
    ----------
    config : SocBoardConfig
        Sizes, CPU variant and UART rate.
    image : bytes
        The RAM image (:func:`board_firmware`).
    divisor : int, optional
        Clock cycles per UART bit (default from ``config.clock_mhz`` and ``config.baud``;
        simulations pass a small one).
    registered_bus : bool
        The SoC's registered data bus decoder (see :class:`~mmaccel.hdl.soc.soc.Soc`).

    Members
    -------
    rx : In(1)
    tx : Out(1)
        The UART (8N1).
    leds : Out(3)
        0: alive (toggles about every 0.35 s at the board clock, 2^24 cycles at 48 MHz);
        1: the firmware ended with FAIL; 2: it ended with PASS.
    done : Out(1)
    exit_code : Out(32)
        The firmware wrote EXIT, and the value (0 = PASS).

    The trace port is always ready (the firmware does not trace); latency and throughput are the
    SoC's.
    """

    def __init__(
        self,
        config: SocBoardConfig,
        image: bytes,
        *,
        divisor: int | None = None,
        registered_bus: bool = True,
    ) -> None:
        self._MustUse__silence = True
        if not isinstance(config, SocBoardConfig):
            raise TypeError(f"config must be a SocBoardConfig, not {config!r}")
        self.config = config
        self.divisor = baud_divisor(config.clk_hz, config.baud) if divisor is None else divisor
        self.soc = Soc(
            variant=config.variant,
            ram_size=config.ram_size,
            image=image,
            granules=config.granules,
            gfa_base=DEFAULT_GFA_HEAP_BASE,
            tlb_entries=config.tlb_entries,
            uart_divisor=self.divisor,
            trace_depth=4,
            gfa_fanout=config.gfa_fanout,
            registered_bus=registered_bus,
        )
        self._MustUse__silence = False
        super().__init__(
            {
                "rx": In(1, init=1),
                "tx": Out(1, init=1),
                "leds": Out(3),
                "done": Out(1),
                "exit_code": Out(32),
            }
        )

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        m.submodules.soc = soc = self.soc
        alive = Signal(24)
        m.d.sync += alive.eq(alive + 1)
        m.d.comb += [
            soc.uart_rx.eq(self.rx),
            self.tx.eq(soc.uart_tx),
            soc.trace.ready.eq(1),
            self.done.eq(soc.done),
            self.exit_code.eq(soc.exit_code),
            self.leds.eq(
                Cat(alive[-1], soc.done & (soc.exit_code != 0), soc.done & (soc.exit_code == 0))
            ),
        ]
        return m


def ecp5_pll(f_in_mhz: float, f_out_mhz: float) -> tuple[int, int, int, float]:
    """EHXPLLL dividers (CLKI_DIV, CLKFB_DIV, CLKOP_DIV) and the exact output frequency.

    The feedback is CLKOP, so ``f_out = f_in * CLKFB_DIV / CLKI_DIV`` and the VCO runs at
    ``f_out * CLKOP_DIV``, chosen nearest 600 MHz. Limits (ECP5 data sheet): phase detector
    input 3.125..400 MHz, VCO 400..800 MHz, output 3.125..400 MHz.

    Raises
    ------
    InvalidArgument
        No divider set reaches ``f_out_mhz`` within 0.5 %.
    """
    best: tuple[float, int, int, int, float] | None = None
    for clki in range(1, 129):
        pfd = f_in_mhz / clki
        if not 3.125 <= pfd <= 400:
            continue
        for clkfb in range(1, 81):
            out = pfd * clkfb
            if not 3.125 <= out <= 400:
                continue
            # the output divider putting the VCO nearest the middle of its range
            clkop = min(128, max(1, round(600 / out)))
            if 400 <= out * clkop <= 800:
                error = abs(out - f_out_mhz)
                if best is None or error < best[0]:
                    best = (error, clki, clkfb, clkop, out)
    if best is None or best[0] > 0.005 * f_out_mhz:
        raise InvalidArgument(
            f"the ECP5 PLL cannot make {f_out_mhz} MHz from {f_in_mhz} MHz"
            + (f" (nearest {best[4]:.3f} MHz)" if best else "")
        )
    return best[1], best[2], best[3], best[4]


class SocBoardTop(Elaboratable):
    """:class:`SocBoardCore` on a board: PLL clock, reset until lock, the UART pins, the LEDs.

    Parameters
    ----------
    target : BoardTarget
        The board (its ``uart`` resource is the SoC's UART, its LEDs show alive/FAIL/PASS).
    config : SocBoardConfig
    image : bytes
        The firmware (:func:`board_firmware`).
    """

    def __init__(self, target: BoardTarget, config: SocBoardConfig, image: bytes) -> None:
        self.target = target
        self.config = config
        self.image = image

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        core = SocBoardCore(self.config, self.image)
        if self.target.family == "ecp5":
            m.domains.sync = sync = ClockDomain("sync")
            osc = platform.request(platform.default_clk, dir="-")
            m.submodules.osc_buffer = osc_buffer = io.Buffer("i", osc)
            f_in = float(platform.default_clk_frequency) / 1e6
            clki, clkfb, clkop, f_out = ecp5_pll(f_in, self.config.clock_mhz)
            pll_clk = Signal()
            locked = Signal()
            m.submodules.pll = Instance(
                "EHXPLLL",
                a_FREQUENCY_PIN_CLKI=f"{f_in:g}",
                a_FREQUENCY_PIN_CLKOP=f"{f_out:g}",
                a_ICP_CURRENT="12",
                a_LPF_RESISTOR="8",
                a_MFG_ENABLE_FILTEROPAMP="1",
                a_MFG_GMCREF_SEL="2",
                p_PLLRST_ENA="DISABLED",
                p_INTFB_WAKE="DISABLED",
                p_STDBY_ENABLE="DISABLED",
                p_DPHASE_SOURCE="DISABLED",
                p_OUTDIVIDER_MUXA="DIVA",
                p_OUTDIVIDER_MUXB="DIVB",
                p_OUTDIVIDER_MUXC="DIVC",
                p_OUTDIVIDER_MUXD="DIVD",
                p_CLKI_DIV=clki,
                p_CLKOP_ENABLE="ENABLED",
                p_CLKOP_DIV=clkop,
                p_CLKOP_CPHASE=clkop - 1,
                p_CLKOP_FPHASE=0,
                p_FEEDBK_PATH="CLKOP",
                p_CLKFB_DIV=clkfb,
                i_RST=0,
                i_STDBY=0,
                i_CLKI=osc_buffer.i,
                o_CLKOP=pll_clk,
                i_CLKFB=pll_clk,
                i_PHASESEL0=0,
                i_PHASESEL1=0,
                i_PHASEDIR=1,
                i_PHASESTEP=1,
                i_PHASELOADREG=1,
                i_PLLWAKESYNC=0,
                i_ENCLKOP=0,
                o_LOCK=locked,
            )
            # nextpnr derives the output's constraint from the input's and the dividers
            m.d.comb += sync.clk.eq(pll_clk)
            m.submodules.reset_sync = ResetSynchronizer(~locked, domain="sync")
        m.submodules.core = core
        # green: alive, red: FAIL, blue: PASS (on an RGB LED)
        connect_uart_and_leds(m, platform, self.target, core)
        return m
