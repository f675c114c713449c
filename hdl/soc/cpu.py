"""VexRiscv, the SoC's RISC-V core: pre-generated Verilog from ``pythondata-cpu-vexriscv``.

The core enters the design as an Amaranth ``Instance`` of module ``VexRiscv``; every variant's
Verilog names its module ``VexRiscv``, so one design holds one variant, and the Verilog file
(:func:`verilog_file`) is a source of the build (added to the platform when there is one, and
passed to Verilator by :mod:`mmaccel.verif.soc.sim`).

Facts the SoC relies on (read from the Verilog of pythondata-cpu-vexriscv 1.0.1):

- reset is synchronous and active high; the first fetch is at ``externalResetVector``;
- ``iBusWishbone_*`` and ``dBusWishbone_*`` are classic Wishbone with word addresses (30 bits),
  ``CTI`` and ``BTE`` (always 00, linear). The instruction cache of every variant but ``min``
  refills 32-byte lines as 8-beat incrementing bursts (CTI 010, the last beat 111); the data
  cache of ``standard``, ``full`` and ``imac`` (write-through) does the same below
  0x8000_0000, while accesses at or above it are single uncached accesses (CTI 000);
- the bus bridges wait for ``ACK`` and ignore ``ERR``: a responder that answers with ``ERR``
  alone hangs the core, so the SoC raises ``ACK`` with every ``ERR`` it gives the core;
- ``min``, ``lite`` and ``standard`` have no cycle counter (``rdcycle`` reads 0 without a
  trap); ``full`` and ``imac`` have ``mcycle``/``minstret`` (and ``rdcycle``/``rdinstret``).
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amaranth.hdl import ClockSignal, Const, Instance, Module, ResetSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from mmaccel.hdl.bus.wishbone import WishboneSignature

__all__ = ["VARIANTS", "CpuVariant", "VexRiscv", "verilog_file"]


@dataclass(frozen=True, slots=True)
class CpuVariant:
    """One pre-generated VexRiscv configuration.

    Members
    -------
    name : str
        The name the SoC takes (``variant=``).
    file : str
        The Verilog file in ``pythondata_cpu_vexriscv/verilog``.
    mcpu : str
        The ``-mcpu`` of ``zig cc`` for code that runs on it.
    dcache : bool
        It has a (write-through) data cache, refilled by bursts below 0x8000_0000.
    counters : bool
        It has ``mcycle``/``minstret`` (``rdcycle``, ``rdinstret``).
    summary : str
        One line for the documentation.
    """

    name: str
    file: str
    mcpu: str
    dcache: bool
    counters: bool
    summary: str


#: The variants the SoC can be built with, by name.
VARIANTS: dict[str, CpuVariant] = {
    v.name: v
    for v in (
        CpuVariant(
            "min",
            "VexRiscv_Min.v",
            "generic_rv32",
            False,
            False,
            "RV32I, no caches, no multiplier; the smallest",
        ),
        CpuVariant(
            "lite",
            "VexRiscv_Lite.v",
            "generic_rv32+m",
            False,
            False,
            "RV32IM, 2 KiB instruction cache, no data cache",
        ),
        CpuVariant(
            "standard",
            "VexRiscv.v",
            "generic_rv32+m",
            True,
            False,
            "RV32IM, barrel shifter, bypassing, 4 KiB I$ and D$",
        ),
        CpuVariant(
            "full",
            "VexRiscv_Full.v",
            "generic_rv32+m",
            True,
            True,
            "RV32IM as standard plus mcycle/minstret and exceptions",
        ),
        CpuVariant(
            "imac",
            "VexRiscv_IMAC.v",
            "generic_rv32+m+a+c",
            True,
            True,
            "RV32IMAC with caches and counters",
        ),
    )
}


def _variant(name: object) -> CpuVariant:
    if not isinstance(name, str):
        raise TypeError(f"variant must be a str, not {name!r}")
    if name not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, not {name!r}")
    return VARIANTS[name]


def verilog_file(variant: str) -> Path:
    """The path of ``variant``'s Verilog file (module ``VexRiscv``)."""
    import pythondata_cpu_vexriscv

    path = Path(pythondata_cpu_vexriscv.data_location) / _variant(variant).file
    if not path.exists():
        raise FileNotFoundError(f"VexRiscv variant {variant!r}: {path} is missing")
    return path


class VexRiscv(wiring.Component):
    """A VexRiscv core (``Instance`` of the ``VexRiscv`` Verilog module), interrupts tied off.

    Parameters
    ----------
    variant : str
        A key of :data:`VARIANTS`.
    reset_vector : int
        Byte address of the first instruction.

    Members
    -------
    ibus, dbus : Out(WishboneSignature(30))
        Instruction and data buses (word addresses).
    ibus_cti, dbus_cti : Out(3)
        Their Wishbone cycle type identifiers (000 classic, 010 incrementing burst, 111 last
        beat); BTE is always linear.

    Raises
    ------
    TypeError, ValueError
        An unknown variant, or a reset vector that is not a word address in 32 bits.
    """

    ibus: Out(WishboneSignature(30))
    dbus: Out(WishboneSignature(30))
    ibus_cti: Out(3)
    dbus_cti: Out(3)

    def __init__(self, *, variant: str = "lite", reset_vector: int = 0) -> None:
        self._MustUse__silence = True
        self._variant = _variant(variant)
        if not isinstance(reset_vector, int) or isinstance(reset_vector, bool):
            raise TypeError(f"reset_vector must be an int, not {reset_vector!r}")
        if not 0 <= reset_vector < 1 << 32 or reset_vector % 4:
            raise ValueError(
                f"reset_vector must be a word address in 32 bits, not {reset_vector:#x}"
            )
        self._reset_vector = reset_vector
        self._MustUse__silence = False
        super().__init__()

    @property
    def variant(self) -> CpuVariant:
        return self._variant

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        if platform is not None and hasattr(platform, "add_file"):
            path = verilog_file(self._variant.name)
            platform.add_file(f"vexriscv/{path.name}", path.read_text())
        ibte = Signal(2)
        dbte = Signal(2)
        m.submodules.core = Instance(
            "VexRiscv",
            i_clk=ClockSignal(),
            i_reset=ResetSignal(),
            i_externalResetVector=Const(self._reset_vector, 32),
            i_timerInterrupt=Const(0, 1),
            i_softwareInterrupt=Const(0, 1),
            i_externalInterruptArray=Const(0, 32),
            o_iBusWishbone_CYC=self.ibus.cyc,
            o_iBusWishbone_STB=self.ibus.stb,
            i_iBusWishbone_ACK=self.ibus.ack,
            o_iBusWishbone_WE=self.ibus.we,
            o_iBusWishbone_ADR=self.ibus.adr,
            i_iBusWishbone_DAT_MISO=self.ibus.dat_r,
            o_iBusWishbone_DAT_MOSI=self.ibus.dat_w,
            o_iBusWishbone_SEL=self.ibus.sel,
            i_iBusWishbone_ERR=self.ibus.err,
            o_iBusWishbone_CTI=self.ibus_cti,
            o_iBusWishbone_BTE=ibte,
            o_dBusWishbone_CYC=self.dbus.cyc,
            o_dBusWishbone_STB=self.dbus.stb,
            i_dBusWishbone_ACK=self.dbus.ack,
            o_dBusWishbone_WE=self.dbus.we,
            o_dBusWishbone_ADR=self.dbus.adr,
            i_dBusWishbone_DAT_MISO=self.dbus.dat_r,
            o_dBusWishbone_DAT_MOSI=self.dbus.dat_w,
            o_dBusWishbone_SEL=self.dbus.sel,
            i_dBusWishbone_ERR=self.dbus.err,
            o_dBusWishbone_CTI=self.dbus_cti,
            o_dBusWishbone_BTE=dbte,
        )
        return m
