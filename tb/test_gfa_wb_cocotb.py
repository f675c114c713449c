"""pytest wrapper of the cocotb Wishbone test bench of GfaWishbone (mmaccel.verif.gfa.wishbone_tb).

Each configuration is converted to Verilog and built once (cached by
:func:`mmaccel.verif.runner.run_cocotb`: Verilator by default, Icarus with ``SIM=icarus``),
then every test case of the bench runs on it with both bus masters (cocotbext-wishbone's and
the project's own): the registers and bus errors, random sessions against the model (COUNT+CMD
mixed with the byte-size registers ALLOC_SIZE/FREE_SIZE), the byte-size edge cases, and the bus
cycles of a command. Also: Verilator lint of the generated Verilog.
"""

import pytest

from mmaccel.hdl.gfa.wishbone import GfaWishbone
from mmaccel.verif.config import GfaSimConfig
from mmaccel.verif.runner import lint_verilog, run_cocotb

#: (granules, log2gran, base): a small odd size, and a page allocator on a 16 MiB pool.
CONFIGS = [(100, 4, 0x1000), (4096, 12, 0x8000_0000)]


def _design(granules: int, log2gran: int, base: int) -> GfaWishbone:
    # addr_width 5: 16 unmapped words above the map, to check ERR on the bus
    return GfaWishbone(granules=granules, log2gran=log2gran, base=base, addr_width=5)


@pytest.mark.parametrize(("granules", "log2gran", "base"), CONFIGS)
def test_gfa_wishbone_cocotb(granules: int, log2gran: int, base: int) -> None:
    pytest.importorskip("cocotb_tools.runner", reason="cocotb 2.x is not installed")
    result = run_cocotb(
        _design(granules, log2gran, base),
        toplevel="gfa_wb",
        test_module="mmaccel.verif.gfa.wishbone_tb",
        extra_env=GfaSimConfig(
            granules=granules, log2gran=log2gran, base=base, seed=granules, ops=80
        ).to_env(),
        seed=granules,
    )
    # registers_and_errors x 2 masters + random_against_model x 2 masters x 2 waits
    # + byte_size_edges x 2 masters + bus_cycles
    assert result.tests == 9 and not result.failed


def test_gfa_wishbone_lint() -> None:
    # only the runner's LINT_WAIVERS (each with its reason) are silenced
    lint_verilog(_design(100, 4, 0x1000), "gfa_wb")
