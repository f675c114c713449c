"""The smoke firmware (``firmware/soc/smoke.c``): its build and the trace it must produce."""

from __future__ import annotations

from mmaccel.firmware.image import build_image
from mmaccel.hdl.gfa.regs import GFA_ID, GFA_REGMAP
from mmaccel.hdl.soc.memory_map import SOC_ID
from mmaccel.verif.soc.sim import FirmwareResult, SocConfig

__all__ = ["SMOKE_UART", "check_smoke", "expected_smoke_trace", "gfa_defines", "smoke_image"]

_OP = GFA_REGMAP["CMD"].field("OP")

#: What smoke.c prints.
SMOKE_UART = "smoke: hello\nsmoke: ok\n"


def gfa_defines() -> dict[str, str | int]:
    """``-D`` macros with the allocator's register offsets and operation codes."""
    defs: dict[str, str | int] = {
        f"GFA_{name}": f"{GFA_REGMAP[name].offset:#x}u"
        for name in ("ID", "CMD", "COUNT", "ADDR", "ALIGN", "STATUS", "RESULT", "NFREE")
    }
    defs["GFA_OP_ALLOC"] = f"{_OP.value_of('ALLOC')}u"
    defs["GFA_OP_FREE"] = f"{_OP.value_of('FREE')}u"
    return defs


def smoke_image(config: SocConfig) -> bytes:
    """The smoke firmware built for ``config``'s CPU and RAM."""
    return build_image(
        ["smoke.c"], variant=config.variant, defines=gfa_defines(), ram_size=config.ram_size
    )


def expected_smoke_trace(config: SocConfig) -> list[int]:
    """The words smoke.c traces on an SoC built with ``config``."""
    return [
        0x5A5A0001,
        SOC_ID,
        GFA_ID,
        0,  # MMU SATP after reset
        config.gfa_base,  # ALLOC of 2 granules: granule 0
        0,  # STATUS: OK, not busy
        0,  # FREE's RESULT
        config.granules,  # FREE register: everything free again
        0xBEEF2211,  # bytes 0x11 0x22 then the halfword 0xBEEF
        0x88776655,
        1,  # two CYCLE reads increase
        0,  # CYCLEH
        1,  # BUSERR after one unmapped read
        0x90000000,  # BUSERR_ADDR
        config.ram_size,
        0x5A5A00FF,
    ]


def check_smoke(result: FirmwareResult, config: SocConfig) -> None:
    """Raise AssertionError naming the first difference from the expected run."""
    expected = expected_smoke_trace(config)
    for index, (got, want) in enumerate(zip(result.trace, expected, strict=False)):
        if got != want:
            raise AssertionError(f"smoke trace word {index}: {got:#010x}, expected {want:#010x}")
    if len(result.trace) != len(expected):
        raise AssertionError(f"smoke traced {len(result.trace)} words, expected {len(expected)}")
    if result.exit_code != 0:
        raise AssertionError(f"smoke exited with {result.exit_code}, expected 0")
    if result.uart != SMOKE_UART:
        raise AssertionError(f"smoke printed {result.uart!r}, expected {SMOKE_UART!r}")
