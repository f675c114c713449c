"""Verilog from an Amaranth design: the form other SoCs take, and the forms the simulators need.

:func:`to_verilog` is what ``mmaccel verilog gfa`` writes and what the cocotb runner
(:mod:`mmaccel.verif.runner`) builds: SystemVerilog for Verilator and for other SoCs, or a
Verilog-2005 netlist with no combinational process for Icarus.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["to_verilog"]

#: Attributes that carry no meaning for simulation (Amaranth strips the same ones).
_STRIP_ATTRS = ("generator", "top", "src", "amaranth.hierarchy", "amaranth.decoding")


def to_verilog(design: Any, toplevel: str, *, sv: bool = True) -> str:
    """Verilog text of an Amaranth ``design`` (a ``wiring.Component``), module ``toplevel``.

    With ``sv=True`` (the default, for Verilator and lint) the Verilog is what Amaranth's own
    ``verilog.convert`` writes with ``write_verilog -sv``: combinational logic stays in
    processes, which become ``always_comb`` (evaluated at time 0 by every simulator).

    With ``sv=False`` (for Icarus) it is plain Verilog-2005 with no combinational process at
    all: Yosys runs its full ``proc`` (with ``proc_mux``) instead of Amaranth's ``proc -nomux``,
    so every ``m.If``/``m.Switch``/FSM becomes ``$mux``/``$pmux`` cells, written as continuous
    ``assign`` statements (a ``$pmux`` as a small function), and only the clocked
    ``always @(posedge clk)`` blocks remain. Neither process form works on Icarus 11 under
    ``-g2012`` (which cocotb's runner always passes):

    - ``always @*``: Yosys makes each one read a trigger register declared
      ``reg $auto$verilog_backend...$1 = 0;`` so that the initialisation wakes every block at
      time 0. In SystemVerilog mode Icarus performs declaration initialisers before time 0
      without an event (IEEE 1800 semantics), so a block runs only when one of its inputs
      changes: outputs that depend on registers which keep their initial value (``busy``,
      ``req__ready`` of the granule allocator after reset) stay X (amaranth issues 594, 1629).
    - ``always_comb``: Icarus 11 makes a process that assigns bit slices of a vector
      sensitive to the whole vector ("sorry: constant selects in always_* processes are not
      currently supported"), so the default-then-override assignments re-trigger it forever
      at time 0.

    Continuous assignments are evaluated at time 0 and whenever an operand changes, so the
    netlist form has neither problem. Internal (``$``) names become ``_N_`` (Yosys'
    ``-norename`` would write ``$pmux`` functions under names Icarus cannot parse); every
    named Amaranth signal keeps its name.
    """
    from amaranth.back import rtlil, verilog

    if not isinstance(toplevel, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", toplevel):
        raise ValueError(f"toplevel must be a Verilog identifier, not {toplevel!r}")
    rtlil_text = rtlil.convert(design, name=toplevel, emit_src=False)
    if sv:
        text: str = verilog._convert_rtlil_text(
            rtlil_text, strip_internal_attrs=True, write_verilog_opts=["-sv"]
        )
        return text
    from amaranth._toolchain.yosys import find_yosys

    strip = " ".join(f"-remove {name}" for name in _STRIP_ATTRS)
    script = [
        f"read_rtlil <<rtlil\n{rtlil_text}\nrtlil",
        "proc -norom",
        "memory_collect",
        f"attrmap {strip}",
        f"attrmap -modattr {strip}",
        "write_verilog",
    ]
    yosys = find_yosys(lambda version: version >= (0, 40))
    netlist: str = yosys.run(["-q", "-"], "\n".join(script), ignore_warnings=True)
    if re.search(r"\balways\s*@\s*\*|\balways_comb\b", netlist):
        raise RuntimeError(f"Yosys left a combinational process in the Verilog of {toplevel}")
    return netlist
