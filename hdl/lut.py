"""One 4-input LUT that synthesis may neither merge nor restructure.

Yosys's ABC maps logic for area once the depth it sees is met, and it cannot see which nets
arrive late (a block RAM's output, a wide compare): left alone it folds a late net into a
deeper cone, or chains it through two LUTs where one would do. :func:`lut4` builds a function
of at most four inputs as the FPGA's own LUT cell instead, so the late input passes exactly one
LUT: ``SB_LUT4`` on the iCE40, ``LUT4`` on the ECP5. Anywhere else (simulation, the proofs,
other devices) it is the same function as ordinary logic, so the tests and proofs check the
truth table that the FPGA build uses.
"""

from collections.abc import Callable
from typing import Any

from amaranth.hdl import Const, Instance, Module, Signal, Value
from amaranth.vendor import LatticePlatform, SiliconBluePlatform

__all__ = ["lut4", "lut_cell"]


def lut_cell(platform: object) -> str | None:
    """The LUT cell :func:`lut4` instantiates for ``platform``, or ``None`` (ordinary logic)."""
    if isinstance(platform, SiliconBluePlatform):
        return "SB_LUT4"
    if isinstance(platform, LatticePlatform) and getattr(platform, "family", None) == "ecp5":
        return "LUT4"
    return None


def lut4(
    m: Module,
    platform: object,
    name: str,
    fn: Callable[..., Any],
    *ins: Value,
    keep: bool = False,
) -> Signal:
    """``fn(*ins)`` (one to four 1-bit inputs) on a new 1-bit signal called ``name``.

    ``fn`` may use only ``&``, ``|``, ``^`` and ``~`` (and constants), so that applied to 0/1
    integers it gives the truth table and applied to the inputs the same function as logic.
    With a LUT cell for ``platform`` (:func:`lut_cell`) the signal is that cell's output; else it
    is logic, and ``keep`` puts Yosys's ``keep`` on it (the net survives, though synthesis may
    still map through it). ``ins[k]`` drives pin ``k``: ``I0``-``I3`` on iCE40 (``I3`` is the
    fastest), ``A``-``D`` on ECP5 (``A`` is the fastest, 0.14 against 0.38 ns for ``D`` in
    Yosys's ECP5 timing model).
    """
    if not 1 <= len(ins) <= 4:
        raise ValueError(f"lut4 {name!r}: {len(ins)} inputs; a LUT has 1 to 4")
    cell = lut_cell(platform)
    sig = Signal(name=name, attrs={"keep": 1} if keep or cell else {})
    if cell is None:
        m.d.comb += sig.eq(fn(*ins))
        return sig
    init = sum(1 << idx for idx in range(16) if fn(*((idx >> k) & 1 for k in range(len(ins)))) & 1)
    pins = [*ins, *([Const(0, 1)] * (4 - len(ins)))]
    table = Const(init, 16)
    if cell == "SB_LUT4":
        ports = {f"i_I{k}": pins[k] for k in range(4)} | {"o_O": sig, "p_LUT_INIT": table}
    else:
        ports = {f"i_{'ABCD'[k]}": pins[k] for k in range(4)} | {"o_Z": sig, "p_INIT": table}
    m.submodules[f"{name}_lut"] = Instance(cell, **ports)
    return sig
