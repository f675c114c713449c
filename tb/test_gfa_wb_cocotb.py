"""pytest wrapper of the cocotb Wishbone test bench of GfaWishbone (tb/gfa_wb_tb.py).

Each configuration is converted to Verilog and built once (cached by
:func:`mmaccel.hdl.cocotb_runner.run_cocotb`: Verilator by default, Icarus with ``SIM=icarus``),
then every test case of gfa_wb_tb runs on it with both bus masters (cocotbext-wishbone's and
the project's own). Also: Verilator lint of the generated Verilog.
"""

from pathlib import Path

import pytest

from mmaccel.hdl.cocotb_runner import lint_verilog, run_cocotb
from mmaccel.hdl.gfa_wb import GfaWishbone

HERE = Path(__file__).resolve().parent

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
        test_module="gfa_wb_tb",
        test_dir=HERE,
        extra_env={
            "GFA_GRANULES": str(granules),
            "GFA_LOG2GRAN": str(log2gran),
            "GFA_BASE": str(base),
            "GFA_WB_SEED": str(granules),
        },
        seed=granules,
    )
    # registers_and_errors x 2 masters + random_against_model x 2 masters x 2 waits
    assert result.tests == 6 and not result.failed


def test_gfa_wishbone_lint() -> None:
    # only the runner's LINT_WAIVERS (each with its reason) are silenced
    lint_verilog(_design(100, 4, 0x1000), "gfa_wb")
