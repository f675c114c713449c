"""pytest wrapper of the cocotb regression of GranuleFrameAllocator.

The directed edge cases run in the per-operation scoreboard mode
(:mod:`mmaccel.verif.gfa.streams_tb`, the whole map compared after every request); the random
runs in the batch mode (:mod:`mmaccel.verif.gfa.batch_tb`: the model predicts whole batches,
the design plays them with back-pressure generated in hardware; every response compared), or
in the scoreboard mode with ``SIM=icarus`` (the batch mode needs Verilator).

Each configuration is built once per mode (cached). The random runs add up to 100,000 requests
per CI run; ``MMACCEL_SOAK=1`` runs 10.2 million (in chunks of different seeds). A failing
directed run keeps its waveform and prints where it is (traced only when ``WAVES=1``: on a
failure it is re-run traced, so the kept waveform ends at the first mismatch). A failing random
run names the request, its index and both responses; ``mmaccel sim gfa --scoreboard --seed N``
with ``WAVES=1`` replays the same requests one by one with a waveform.
"""

import os

import pytest

from mmaccel.hdl.gfa import GranuleFrameAllocator
from mmaccel.verif.config import GfaSimConfig
from mmaccel.verif.gfa.run import TEST_MODULE, run_batch
from mmaccel.verif.runner import CocotbFailure, CocotbResult, lint_verilog, run_cocotb

#: Verilator warnings silenced for the allocator's Verilog (on top of the runner's list).
GFA_LINT_WAIVERS = {
    "PROCASSINIT": (
        "Yosys declares every register with its reset value as initial value (Amaranth's "
        "init, the FPGA power-on value) and also assigns it in always_ff; intended."
    ),
    "CASEINCOMPLETE": (
        "Amaranth's m.Switch/FSM become case statements listing only the values used; each "
        "always_comb assigns the default before the case, so no latch and no X."
    ),
}

#: Requests of the soak (``MMACCEL_SOAK=1``), at least, and of each of its seeded chunks.
SOAK_OPS = 10_000_000
SOAK_CHUNK = 340_000  # one simulator start per chunk (about 16 s each in the batch mode)

#: (granules, log2gran, base, fanout, random requests in CI)
CONFIGS = [
    (4096, 12, 0x8000_0000, 4, 40_000),
    (1000, 6, 0x40, 4, 30_000),
    (32768, 12, 0, 4, 30_000),  # the target size of the latency goal
]


def _soak_chunks() -> int:
    """Seeded chunks per configuration in the soak: at least SOAK_OPS in all (10: 10.2 M)."""
    per_config = -(-SOAK_OPS // len(CONFIGS))
    return -(-per_config // SOAK_CHUNK)


def _run(
    config: tuple[int, int, int, int],
    testcase: str,
    seed: int = 1,
    ops: int = GfaSimConfig.ops,
    check_every: int = GfaSimConfig.check_every,
) -> CocotbResult:
    """Run ``testcase`` untraced (one build per configuration); re-run it traced on failure.

    The traced re-run uses the same seed, so it fails at the same request and keeps its
    waveform (the runner prints where). ``WAVES=1`` traces the first run and keeps it.
    """
    granules, log2gran, base, fanout = config
    sim_config = GfaSimConfig(
        granules=granules,
        log2gran=log2gran,
        base=base,
        fanout=fanout,
        seed=seed,
        ops=ops,
        check_every=check_every,
    )

    def run(waves: bool | None) -> CocotbResult:
        design = GranuleFrameAllocator(
            granules=granules, log2gran=log2gran, base=base, fanout=fanout
        )
        return run_cocotb(
            design,
            toplevel="gfa_core",
            test_module=TEST_MODULE,
            testcase=testcase,
            extra_env=sim_config.to_env(),
            seed=seed,
            waves=waves,
        )

    if os.environ.get("WAVES", "") not in ("", "0"):
        return run(True)
    try:
        return run(False)
    except CocotbFailure:
        run(None)  # raises again, keeping the waveform of the failing run
        raise


@pytest.mark.parametrize(("granules", "log2gran", "base", "fanout", "ops"), CONFIGS)
def test_directed(granules: int, log2gran: int, base: int, fanout: int, ops: int) -> None:
    result = _run((granules, log2gran, base, fanout), "directed")
    assert result.tests == 1 and not result.failed


@pytest.mark.parametrize(("granules", "log2gran", "base", "fanout", "ops"), CONFIGS)
def test_random(granules: int, log2gran: int, base: int, fanout: int, ops: int) -> None:
    """Random requests with back-pressure, every response compared with the model; 100,000 in
    all, 10.2 million with MMACCEL_SOAK=1 (batch mode; scoreboard mode with SIM=icarus)."""
    chunks = [(granules, ops)]
    if os.environ.get("MMACCEL_SOAK") == "1":
        chunks = [(seed, SOAK_CHUNK) for seed in range(1, _soak_chunks() + 1)]
    if (os.environ.get("SIM") or "verilator").lower() == "icarus":
        for seed, count in chunks:
            result = _run(
                (granules, log2gran, base, fanout),
                "random_ops",
                seed=seed,
                ops=count,
                check_every=1000,
            )
            assert result.tests == 1 and not result.failed
        return
    for seed, count in chunks:
        config = GfaSimConfig(
            granules=granules,
            log2gran=log2gran,
            base=base,
            fanout=fanout,
            seed=seed,
            ops=count,
            check_every=1000,
        )
        summary = run_batch(config)
        assert summary["ops"] == count and summary["mismatches"] == 0
        assert summary["map_checks"] == -(-count // 1000)


def test_ci_total_is_100k() -> None:
    assert sum(c[-1] for c in CONFIGS) >= 100_000
    assert _soak_chunks() * SOAK_CHUNK * len(CONFIGS) >= SOAK_OPS


@pytest.mark.parametrize("granules", [1, 1000, 65536])
def test_verilator_lint(granules: int) -> None:
    lint_verilog(
        GranuleFrameAllocator(granules=granules, base=0x1000 if granules < 65536 else 0),
        "gfa_core",
        waivers=GFA_LINT_WAIVERS,
    )
