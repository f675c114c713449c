"""Tests of mmaccel.verif.runner: build cache, pass/fail reporting, waveforms, lint.

The cocotb coroutines (run inside the simulator) and the pytest functions share this file.
The design is a small counter with an enable, so one Verilator build serves every run here.
"""

import os
import shutil
import time
from pathlib import Path
from typing import Any

import cocotb
import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly, RisingEdge, Timer

from mmaccel.hdl.verilog import to_verilog
from mmaccel.verif import runner as cocotb_runner
from mmaccel.verif.runner import (
    CocotbFailure,
    SimulatorUnavailable,
    VerilogLintError,
    lint_verilog,
    run_cocotb,
)

HERE = Path(__file__).resolve().parent


class Counter(wiring.Component):
    """8-bit counter that adds ``step`` on every clock edge while ``en``."""

    def __init__(self) -> None:
        super().__init__({"en": In(1), "step": In(4), "count": Out(8)})

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        with m.If(self.en):
            m.d.sync += self.count.eq(self.count + self.step)
        return m


class Narrowing(wiring.Component):
    """Assigns a 9-bit sum to an 8-bit output (a Verilator WIDTHTRUNC in the Verilog)."""

    def __init__(self) -> None:
        super().__init__({"a": In(8), "b": In(8), "y": Out(8)})

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        m.d.comb += self.y.eq(self.a + self.b)
        return m


class IdleFlags(wiring.Component):
    """Combinational outputs of a register that keeps its reset value until ``go``.

    ``ready`` and ``flags`` come from an ``m.Switch`` on ``state`` (a process in Amaranth's
    Verilog), and ``flags`` is written slice by slice after a default: the shape of the granule
    allocator's ``busy``/``req__ready`` logic that read X on Icarus (``always @*`` never ran)
    and looped at time 0 (``always_comb`` with constant selects).
    """

    def __init__(self) -> None:
        super().__init__({"go": In(1), "ready": Out(1), "flags": Out(8)})

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        state = Signal(2)
        with m.If(self.go):
            m.d.sync += state.eq(state + 1)
        m.d.comb += self.flags.eq(0xA5)
        with m.Switch(state):
            with m.Case(0):
                m.d.comb += [self.ready.eq(1), self.flags[0:4].eq(self.flags[4:8])]
            with m.Case(1):
                m.d.comb += self.flags[4:8].eq(state)
        return m


# -- cocotb side ---------------------------------------------------------------------------------


async def _start(dut: Any) -> None:
    Clock(dut.clk, 10, unit="ns").start()
    dut.rst.value = 1
    dut.en.value = 0
    dut.step.value = 0
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0


@cocotb.test()
async def counter_counts(dut: Any) -> None:
    """The counter adds ``step`` on every enabled edge and wraps at 256."""
    await _start(dut)
    expect = 0
    for i in range(40):
        step = (i * 7) % 16
        dut.step.value = step
        dut.en.value = i % 3 != 0
        await RisingEdge(dut.clk)
        if i % 3 != 0:
            expect = (expect + step) % 256
        await ReadOnly()
        assert dut.count.value.to_unsigned() == expect
        await FallingEdge(dut.clk)


@cocotb.test()
async def counter_fails_on_request(dut: Any) -> None:
    """Fails when MMACCEL_RUNNER_FAIL=1 (to check failure reporting); passes otherwise."""
    await _start(dut)
    dut.en.value = 1
    dut.step.value = 1
    await ClockCycles(dut.clk, 5)
    await ReadOnly()
    wanted = 999 if os.environ.get("MMACCEL_RUNNER_FAIL") == "1" else 4
    assert dut.count.value.to_unsigned() in (wanted, wanted + 1)


@cocotb.test()
async def counter_hangs_on_request(dut: Any) -> None:
    """Blocks the simulator when MMACCEL_RUNNER_HANG=1 (to check the watchdog); else passes."""
    await _start(dut)
    if os.environ.get("MMACCEL_RUNNER_HANG") == "1":
        time.sleep(600)  # a simulator that never returns (no time advance, no waveform growth)


@cocotb.test()
async def idle_outputs_known_from_time_0(dut: Any) -> None:
    """IdleFlags: outputs of the reset state are 0/1 (not X) from time 0, through reset."""
    Clock(dut.clk, 10, unit="ns").start()
    dut.rst.value = 1
    dut.go.value = 0
    await Timer(1, unit="ns")
    seen = [(str(dut.ready.value), str(dut.flags.value))]
    await ClockCycles(dut.clk, 3)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 3)  # state keeps its reset value: nothing changes any input
    await ReadOnly()
    seen.append((str(dut.ready.value), str(dut.flags.value)))
    await FallingEdge(dut.clk)
    dut.go.value = 1
    await RisingEdge(dut.clk)
    await ReadOnly()
    seen.append((str(dut.ready.value), str(dut.flags.value)))
    assert seen == [("1", "10101010"), ("1", "10101010"), ("0", "00010101")], seen


# -- pytest side ---------------------------------------------------------------------------------


def _unused(design: Any) -> Any:
    """Silence Amaranth's UnusedElaboratable for a design a test expects to be refused."""
    design._MustUse__silence = True
    return design


def _run(**kwargs: Any) -> cocotb_runner.CocotbResult:
    return run_cocotb(
        _unused(Counter()),
        toplevel="counter",
        test_module="test_cocotb_runner",
        test_dir=HERE,
        **kwargs,
    )


def test_verilog_is_systemverilog_always_comb() -> None:
    text = to_verilog(Narrowing(), "narrowing")
    assert "module narrowing" in text
    assert "always_comb" in text or "assign" in text
    with pytest.raises(ValueError, match="Verilog identifier"):
        to_verilog(_unused(Narrowing()), "bad name")


def test_pass_then_cached_build(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WAVES", raising=False)
    first = _run(testcase="counter_counts")
    assert first.tests == 1 and first.failed == []
    assert first.waveform is None and not first.test_dir.exists()  # passing: waveform deleted
    second = _run(testcase=["counter_counts", "counter_fails_on_request"], seed=5)
    assert second.tests == 2 and second.failed == []
    assert not second.built  # same design, same simulator: no rebuild
    assert second.build_dir == first.build_dir


def test_failure_keeps_waveform(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.delenv("WAVES", raising=False)
    with pytest.raises(CocotbFailure) as info:
        _run(testcase="counter_fails_on_request", extra_env={"MMACCEL_RUNNER_FAIL": "1"})
    result = info.value.result
    assert result.failed == ["counter_fails_on_request"]
    assert result.waveform is not None and result.waveform.stat().st_size > 0
    assert str(result.waveform) in str(info.value)
    assert str(result.waveform) in capsys.readouterr().err
    shutil.rmtree(result.test_dir)


def test_waves_env_keeps_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAVES", "1")
    result = _run(testcase="counter_counts")
    assert result.failed == []
    assert result.waveform is not None and result.waveform.exists()
    shutil.rmtree(result.test_dir)


def test_missing_icarus_skips_with_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(pytest.skip.Exception, match="iverilog"):
        _run(sim="icarus")
    monkeypatch.delenv("PYTEST_CURRENT_TEST")
    with pytest.raises(SimulatorUnavailable, match="iverilog"):
        _run(sim="icarus")


def test_bad_simulator_name() -> None:
    with pytest.raises(ValueError, match="'modelsim'"):
        _run(sim="modelsim")


def test_lint_clean_and_waivers(monkeypatch: pytest.MonkeyPatch) -> None:
    lint_verilog(Counter(), "counter")
    lint_verilog(Narrowing(), "narrowing")  # an unused carry bit: UNUSEDSIGNAL is waived
    assert all(reason for reason in cocotb_runner.LINT_WAIVERS.values())
    monkeypatch.setattr(cocotb_runner, "LINT_WAIVERS", {})
    with pytest.raises(VerilogLintError, match="%Warning-UNUSEDSIGNAL") as info:
        lint_verilog(Narrowing(), "narrowing")
    assert info.value.warnings
    with pytest.raises(ValueError, match="reason"):
        lint_verilog(Narrowing(), "narrowing", waivers={"WIDTHTRUNC": ""})


def test_watchdog_stops_a_hung_simulation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMACCEL_SIM_TIMEOUT", "4")
    monkeypatch.delenv("WAVES", raising=False)
    start = time.monotonic()
    with pytest.raises(CocotbFailure, match="killed: timeout after 4 s") as info:
        _run(testcase="counter_hangs_on_request", extra_env={"MMACCEL_RUNNER_HANG": "1"})
    assert time.monotonic() - start < 120
    shutil.rmtree(info.value.result.test_dir)


def test_icarus_verilog_has_no_combinational_process() -> None:
    """The Icarus form keeps clocked blocks only; combinational logic is continuous assigns."""
    text = to_verilog(IdleFlags(), "idle_flags", sv=False)
    assert "module idle_flags" in text
    assert "always @(posedge clk)" in text
    assert "always @*" not in text and "always_comb" not in text
    assert "always_comb" in to_verilog(IdleFlags(), "idle_flags")  # the Verilator form


@pytest.mark.parametrize("sim", ["verilator", "icarus"])
def test_reset_state_outputs_not_x(sim: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Comb outputs of a never-changing register are known on both simulators (Icarus is
    skipped, with the reason, when iverilog is not installed)."""
    monkeypatch.delenv("WAVES", raising=False)
    result = run_cocotb(
        IdleFlags(),
        toplevel="idle_flags",
        test_module="test_cocotb_runner",
        test_dir=HERE,
        sim=sim,
        testcase="idle_outputs_known_from_time_0",
    )
    assert result.tests == 1 and result.failed == []


def test_cache_root_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("MMACCEL_CACHE", raising=False)
    monkeypatch.delenv("MMACCEL_SIM_BUILD", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cocotb_runner.default_build_root() == tmp_path / "xdg" / "mmaccel" / "sim"
    monkeypatch.setenv("MMACCEL_CACHE", str(tmp_path / "mine"))
    assert cocotb_runner.default_build_root() == tmp_path / "mine" / "sim"
    monkeypatch.setenv("MMACCEL_SIM_BUILD", str(tmp_path / "builds"))
    assert cocotb_runner.default_build_root() == tmp_path / "builds"


def test_build_key_ignores_the_python_executable(monkeypatch: pytest.MonkeyPatch) -> None:
    """``mmaccel`` and ``python -m pytest`` of one installation share their builds; the key
    names the cocotb library folder the binary links to, not the interpreter's path."""
    import sys

    identity = cocotb_runner._toolchain_identity("verilator")
    monkeypatch.setattr(sys, "executable", "/elsewhere/bin/python3")
    assert cocotb_runner._toolchain_identity("verilator") == identity
    assert str(Path(cocotb.__file__).resolve().parent) in identity


def _fake_build(root: Path, name: str, size: int, used: float) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "Vtop").write_bytes(b"\0" * size)
    stamp = folder / "mmaccel.stamp"
    stamp.write_text(name)
    os.utime(stamp, (used, used))
    (root / f".{name}.lock").write_text("")
    return folder


def test_prune_removes_least_recently_used_first(tmp_path: Path) -> None:
    now = 1_000_000.0
    day = 86_400.0
    old = _fake_build(tmp_path, "a-old", 4000, now - 3 * day)
    mid = _fake_build(tmp_path, "b-mid", 4000, now - 2 * day)
    new = _fake_build(tmp_path, "c-new", 4000, now - 1 * day)
    recent = _fake_build(tmp_path, "d-recent", 4000, now - 60)  # in use: never removed
    removed = cocotb_runner.prune_builds(tmp_path, 9000, keep=new, now=now)
    assert removed == [old, mid]
    assert not old.exists() and not mid.exists() and not (tmp_path / ".a-old.lock").exists()
    assert new.exists() and recent.exists()
    # under the bound: nothing to do
    assert cocotb_runner.prune_builds(tmp_path, 9000, now=now) == []


def test_cache_size_bound_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMACCEL_CACHE_MAX_MB", "lots")
    with pytest.raises(ValueError, match="'lots'"):
        cocotb_runner._cache_max_bytes()
    monkeypatch.setenv("MMACCEL_CACHE_MAX_MB", "0")
    with pytest.raises(ValueError, match="positive, not 0"):
        cocotb_runner._cache_max_bytes()
    monkeypatch.setenv("MMACCEL_CACHE_MAX_MB", "2")
    assert cocotb_runner._cache_max_bytes() == 2 << 20


def test_cached_verilog_elaborates_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MMACCEL_CACHE", str(tmp_path))
    monkeypatch.delenv("SIM", raising=False)
    made: list[int] = []

    def make() -> Counter:
        made.append(1)
        return Counter()

    first = cocotb_runner.cached_verilog(make, {"width": 8}, toplevel="counter")
    assert first == to_verilog(Counter(), "counter", sv=True)
    again = cocotb_runner.cached_verilog(make, {"width": 8}, toplevel="counter")
    assert again == first and len(made) == 1  # no second elaboration
    cocotb_runner.cached_verilog(make, {"width": 9}, toplevel="counter")
    assert len(made) == 2  # other parameters: another design
    icarus = cocotb_runner.cached_verilog(make, {"width": 8}, toplevel="counter", sim="icarus")
    assert len(made) == 3 and icarus == to_verilog(Counter(), "counter", sv=False)
    assert len(list((tmp_path / "verilog").glob("*.v"))) == 3
