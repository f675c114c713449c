"""The SoC on Verilator: smoke firmware, bus errors, the cycle counter, a firmware that hangs.

One SoC build (256 granules, 4-entry TLB, the default CPU) runs every firmware of this module
in one simulation (:func:`mmaccel.verif.soc.sim.run_firmwares`).
"""

import re
from pathlib import Path

import pytest

from mmaccel.firmware.image import SOC_DIR, build_image
from mmaccel.firmware.toolchain import ToolchainError
from mmaccel.hdl.soc.memory_map import c_defines
from mmaccel.verif.soc.sim import FirmwareResult, FirmwareTimeout, SocConfig, run_firmwares
from mmaccel.verif.soc.smoke import check_smoke, smoke_image

CONFIG = SocConfig(granules=256, tlb_entries=4)

#: Reads the 64-bit counter many times (checking it in firmware), then makes two bus errors.
COUNTER_C = r"""
#include "soc.h"
int main(void)
{
    uint64_t last = cycles64();
    uint32_t bad = 0;
    for (int i = 0; i < 200; i++) {
        uint64_t now = cycles64();
        if (now <= last) bad++;
        last = now;
    }
    trace(bad);
    trace((uint32_t)last != 0);
    SOC_REG(0xA0000000u, 0) = 1;                 /* unmapped write */
    trace(SOC_REG(SOC_SYSCTL_BASE, SYSCTL_BUSERR));
    trace(SOC_REG(SOC_SYSCTL_BASE, SYSCTL_BUSERR_ADDR));
    trace(SOC_REG(0x80040000u, 0));              /* unmapped I/O read: reads as 0 */
    trace(SOC_REG(SOC_SYSCTL_BASE, SYSCTL_BUSERR));
    trace(SOC_REG(SOC_SYSCTL_BASE, SYSCTL_BUSERR_ADDR));
    return 7;
}
"""

#: Bare translation, then a megapage in a page table in RAM (read by the MMU's walker).
PROBE_C = r"""
#include "soc.h"
static uint32_t root[1024] __attribute__((aligned(4096)));
static void probe(uint32_t va, uint32_t req)
{
    SOC_REG(SOC_PROBE_BASE, PROBE_VA) = va;
    SOC_REG(SOC_PROBE_BASE, PROBE_REQ) = req;
    trace(SOC_REG(SOC_PROBE_BASE, PROBE_RESULT));
    trace(SOC_REG(SOC_PROBE_BASE, PROBE_PA));
    trace(SOC_REG(SOC_PROBE_BASE, PROBE_PAH));
}
int main(void)
{
    probe(0x12345678u, 4u);                          /* satp bare: pa = va */
    root[0x100] = (0x80000u << 10) | 0xC7u;          /* VA 0x4000_0000 -> PA 0x8000_0000 */
    SOC_REG(SOC_MMU_BASE, 0x00u) = (1u << 31) | (3u << 22) | ((uint32_t)root >> 12);
    probe(0x40001234u, 4u);                          /* load, S */
    probe(0x00400000u, 4u);                          /* invalid: load page fault */
    return 0;
}
"""

#: Traces three words, then never exits.
HANG_C = r"""
#include "soc.h"
int main(void)
{
    for (uint32_t i = 0; i < 3; i++) trace(0xC0DE0000u + i);
    for (;;) {
    }
}
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[FirmwareResult | FirmwareTimeout]:
    pytest.importorskip("cocotb_tools.runner", reason="cocotb 2.x is not installed")
    folder = tmp_path_factory.mktemp("fw")
    images = [smoke_image(CONFIG)]
    for name, text in (("counter.c", COUNTER_C), ("hang.c", HANG_C), ("probe.c", PROBE_C)):
        (folder / name).write_text(text)
        images.append(build_image([folder / name], variant=CONFIG.variant))
    return run_firmwares(images, config=CONFIG, max_cycles=50_000, raise_on_timeout=False)


def test_smoke(runs: list[FirmwareResult | FirmwareTimeout]) -> None:
    result = runs[0]
    assert isinstance(result, FirmwareResult)
    check_smoke(result, CONFIG)
    assert 0 < result.cycles < 10_000


def test_counter_and_bus_errors(runs: list[FirmwareResult | FirmwareTimeout]) -> None:
    result = runs[1]
    assert isinstance(result, FirmwareResult)
    assert result.exit_code == 7
    assert result.trace == [0, 1, 1, 0xA0000000, 0, 2, 0x80040000]


def test_hang_times_out(runs: list[FirmwareResult | FirmwareTimeout]) -> None:
    error = runs[2]
    assert isinstance(error, FirmwareTimeout)
    assert error.trace == [0xC0DE0000, 0xC0DE0001, 0xC0DE0002]
    assert "did not exit within 50000 cycles" in str(error)
    assert "0xc0de0002" in str(error)


def test_probe_and_walker(runs: list[FirmwareResult | FirmwareTimeout]) -> None:
    result = runs[3]
    assert isinstance(result, FirmwareResult)
    assert result.exit_code == 0
    load_page_fault = 13
    assert result.trace == [
        *(0, 0x12345678, 0),
        *(0, 0x80001234, 0),
        *(1 | load_page_fault << 4, 0, 0),
    ]


def test_soc_header_matches_memory_map() -> None:
    text = (SOC_DIR / "soc.h").read_text()
    found = {
        name: int(value, 16)
        for name, value in re.findall(r"^#define (\w+)\s+0x([0-9A-Fa-f]+)u?\s*$", text, re.M)
    }
    for name, value in c_defines().items():
        assert found.get(name) == value, f"soc.h: {name} is {found.get(name)}, expected {value:#x}"


def test_image_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="variant must be one of"):
        build_image(["smoke.c"], variant="huge")
    big = tmp_path / "big.c"
    big.write_text(
        "const unsigned char blob[8192] = {1};\n"
        "int main(void) { return ((volatile const unsigned char *)blob)[100]; }\n"
    )
    # the linker refuses it (RAM region overflow), or the image check does
    with pytest.raises((ValueError, ToolchainError)):
        build_image([big], ram_size=4096)


def test_soc_with_image_has_no_load_port() -> None:
    from mmaccel.hdl.soc.soc import Soc
    from mmaccel.hdl.verilog import to_verilog

    config = SocConfig(granules=64, tlb_entries=4, ram_size=4096)
    image = smoke_image(config)
    soc = Soc(image=image, granules=64, tlb_entries=4, ram_size=4096)
    assert not soc.has_load
    text = to_verilog(soc, "soc_rom")
    header = text[text.index("module soc_rom(") :].split(";", 1)[0]
    assert "load__" not in header and "trace__payload" in header
    first = int.from_bytes(image[:4], "little")
    assert f"mem[0] = 32'd{first};" in text
    with pytest.raises(ValueError, match="exceeds ram_size"):
        Soc(image=bytes(8192), ram_size=4096)
    with pytest.raises(ValueError, match="variant must be one of"):
        Soc(variant="big")
