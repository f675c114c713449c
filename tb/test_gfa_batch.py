"""The allocator's batch regression (the fast mode): it agrees with the model and with the
per-operation scoreboard, and it catches the RTL mutants.

:mod:`mmaccel.verif.gfa.batch_tb` plays whole batches through
:class:`~mmaccel.verif.gfa.player.GfaPlayer` and compares every response with the model's
prediction. The CI tests use 4096 granules (one Verilator build, cached) and one small mutant;
the slow test runs every mutant of :data:`~mmaccel.verif.formal.gfa_props.GFA_MUTATIONS`
through both modes.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from mmaccel.cli import build_parser, main
from mmaccel.sw import GranuleAllocator
from mmaccel.verif.bench.sim import sim_rates
from mmaccel.verif.config import GfaSimConfig, SimConfigError
from mmaccel.verif.formal.gfa_props import GFA_MUTATIONS
from mmaccel.verif.gfa.reference import FreeRuns, GfaReference
from mmaccel.verif.gfa.run import run_batch, run_scoreboard
from mmaccel.verif.gfa.stimulus import GfaStimulus
from mmaccel.verif.runner import CocotbFailure, SimulatorUnavailable


def _ci(**fields: Any) -> GfaSimConfig:
    """The CI configuration (4096 granules of 4 KiB at 0x8000_0000, as tb/test_gfa_cocotb.py)."""
    return GfaSimConfig(granules=4096, log2gran=12, base=0x8000_0000, fanout=4, **fields)


@pytest.mark.parametrize("granules", [1, 33, 1000, 4096])
def test_free_runs_follow_the_model(granules: int) -> None:
    """The reference's incremental longest free run equals the model's own, op after op."""
    ref = GfaReference(granules, 12, 0)
    stim = GfaStimulus(ref, granules, errors=True, period=300)
    for step in range(3000):
        _, result = stim.step()
        info = ref.model.info()
        assert (result.free_count, result.largest_run) == (info.nfree, info.mxfree), step


def test_free_runs_any_change() -> None:
    """Changes that are not one contiguous range (CLEAR, several ranges) are followed too."""
    rng = random.Random(5)
    n = 300
    model = GranuleAllocator(0, n << 4, 4)
    runs = FreeRuns(model.free_map)
    for _ in range(400):
        free = rng.getrandbits(n) if rng.random() < 0.3 else model.free_map
        if rng.random() < 0.5:
            lo = rng.randrange(n)
            hi = rng.randint(lo + 1, n)
            free ^= ((1 << (hi - lo)) - 1) << lo
        model._free = free
        runs.update(free)
        assert runs.longest() == model.longest_free_run()
        assert runs.nfree == model.nfree
    runs.update(0)
    assert (runs.longest(), runs.nfree) == (0, 0)


def test_mode_is_checked() -> None:
    assert GfaSimConfig(granules=8).mode == "batch"
    with pytest.raises(SimConfigError, match="mode must be one of batch, scoreboard"):
        GfaSimConfig(granules=8, mode="fast")


def test_batch_mode_needs_verilator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIM", "icarus")
    with pytest.raises(SimulatorUnavailable, match="batch mode needs Verilator"):
        run_batch(_ci(ops=10))


def test_batch_regression() -> None:
    """20,000 requests with errors and back-pressure: no mismatch, ten map checks, ALLOC of up
    to 32 granules in the documented 7 L + 12 = 40 cycles at 4096 granules (L = 4)."""
    summary = run_batch(_ci(ops=20_000, check_every=2000, seed=3))
    assert summary["ops"] == 20_000
    assert summary["mismatches"] == 0 and summary["first_mismatch"] == ""
    assert summary["map_checks"] == 10
    assert summary["alloc_upto32_cycles"]["max"] == 40
    histogram = {int(c): n for c, n in summary["histograms"]["alloc <= 32"].items()}
    assert max(histogram) == 40 and all(n > 0 for n in histogram.values())
    assert summary["occupancy_max"] > 0.9


def test_batch_agrees_with_scoreboard() -> None:
    """Same seed, same requests: both modes measure the same latencies of every kind."""
    config = _ci(ops=3000, check_every=1000, seed=11)
    batch = run_batch(config)
    board = run_scoreboard(config)
    for key in ("ops", "mismatches", "map_checks", "alloc_cycles", "free_cycles"):
        assert batch[key] == board[key], key
    for key in ("other_cycles", "alloc_free_upto32_max_by_occupancy"):
        assert batch[key] == board[key], key


def test_bench_mode_adds_no_cycle() -> None:
    """Without back-pressure the next request goes in as the response is taken: the issue
    interval is the latency plus one (the allocator's own throughput)."""
    config = _ci(ops=4000, check_every=4000, errors=False, backpressure=False, fail_fast=False)
    summary = run_batch(config)
    assert summary["mismatches"] == 0
    latency = summary["latency_cycles"]["mean"]
    assert abs(summary["issue_interval_cycles"]["mean"] - (latency + 1)) < 0.05


def test_sim_rates() -> None:
    """The figures of ``mmaccel bench sim`` (the allocator part, on the CI configuration)."""
    figures = sim_rates(granules=4096, base=0x8000_0000, ops=3000, command_ops=0)
    gfa = figures["gfa"]
    assert set(figures) == {"gfa"}
    assert gfa["ops"] == 3000 and gfa["mismatches"] == 0 and gfa["map_checks"] == 1
    assert gfa["ops_per_cpu_second"] > 0 and gfa["cycles"] > 3000 * 2
    assert gfa["target"] == 20_000 and isinstance(gfa["met"], bool)
    with pytest.raises(ValueError, match="ops must be a positive int"):
        sim_rates(ops=0)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--ops", "0"], "--ops must be at least 1, not 0"),
        (["--granules", "0"], "--granules must be in 1..65536, not 0"),
        (["--mmu", "-1"], "--mmu must not be negative, not -1"),
    ],
)
def test_bench_sim_arguments(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", "sim", *argv]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("group", ["sim", "bench"])
def test_scoreboard_flag(group: str) -> None:
    parser = build_parser()
    assert parser.parse_args([group, "gfa", "--scoreboard"]).scoreboard is True
    assert parser.parse_args([group, "gfa"]).scoreboard is False


def _failure_text(failure: CocotbFailure) -> str:
    log = Path(failure.result.test_dir) / "sim.log"
    return log.read_text(errors="replace") if log.exists() else str(failure)


def test_batch_catches_a_mutant() -> None:
    """An allocator that answers ALLOC with the address one granule too far fails the batch
    mode at its first ALLOC, named with its index, the request and both responses."""
    config = GfaSimConfig(granules=256, log2gran=12, base=0, ops=500, check_every=500)
    with pytest.raises(CocotbFailure) as caught:
        run_batch(config, mutation="address_off_by_one")
    text = _failure_text(caught.value)
    assert "request 0 (0," in text and "DUT answered GfaResult(status=0, addr=4096" in text


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["batch", "scoreboard"])
@pytest.mark.parametrize("mutation", sorted(GFA_MUTATIONS))
def test_every_mutant_is_caught(mutation: str, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every formal mutant fails both modes (a hang in the scoreboard mode only through the
    simulation timeout; the batch mode's watchdog names the request)."""
    monkeypatch.setenv("MMACCEL_SIM_TIMEOUT", "120")
    config = GfaSimConfig(granules=1000, log2gran=6, base=0x40, ops=5000, check_every=1000)
    run = run_batch if mode == "batch" else run_scoreboard
    with pytest.raises(CocotbFailure) as caught:
        run(config, mutation=mutation)
    if mode == "batch":
        text = _failure_text(caught.value)
        assert "DUT answered" in text or "no response within" in text or "GAT word" in text
