"""The SoC's checked workload (firmware/soc/workload.c, mmaccel.verif.soc.workload).

One small run on tb/test_soc.py's SoC build (256 granules, 4-entry TLB): both allocator back
ends and the MMU agree with the model, faults of several kinds happen, and a trace with one
word changed fails the check with the record and both values named. ``mmaccel sim soc``
refuses bad arguments with exit status 2.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mmaccel.cli import COMMANDS, main
from mmaccel.firmware.driver_build import include_dirs
from mmaccel.firmware.image import SOC_DIR
from mmaccel.firmware.toolchain import C_WARNINGS, host_cc
from mmaccel.verif.soc.sim import FirmwareResult, SocConfig, run_firmware
from mmaccel.verif.soc.workload import (
    PAYLOAD,
    Tag,
    WorkloadParams,
    check_run,
    decode,
    workload_image,
)

#: tb/test_soc.py's build: no extra Verilator build.
CONFIG = SocConfig(granules=256, tlb_entries=4)
PARAMS = WorkloadParams(seed=7, ops=400, translations=600)


@pytest.fixture(scope="module")
def run() -> FirmwareResult:
    pytest.importorskip("cocotb_tools.runner", reason="cocotb 2.x is not installed")
    return run_firmware(workload_image(CONFIG, PARAMS), config=CONFIG, max_cycles=20_000_000)


def test_workload_matches_the_model(run: FirmwareResult) -> None:
    assert run.exit_code == 0
    summary = check_run(run.trace, CONFIG, PARAMS)
    assert summary["mismatches"] == 0, summary["first_mismatches"]
    # both back ends: every kind of call, successes, NO_SPACE and every error the API has
    for backend in ("hw", "sw"):
        assert summary["ops"][backend] >= PARAMS.ops
        outcomes = summary["outcomes"][backend]
        for key in (
            "alloc ok",
            "alloc nospace",
            "alloc badcount",
            "alloc badalign",
            "free ok",
            "free badaddr",
            "free notinuse",
            "reserve ok",
            "reserve inuse",
            "reserve badaddr",
            "info",
        ):
            assert outcomes.get(key, 0) > 0, f"{backend}: no {key!r} in {outcomes}"
    assert summary["translations"] == PARAMS.translations
    faults = summary["faults"]
    assert faults.get("ok", 0) > 50
    for cause in ("load_page_fault", "store_page_fault", "instruction_page_fault"):
        assert faults.get(cause, 0) > 10, faults
    assert sum(v for k, v in faults.items() if k.endswith("access_fault")) > 0, faults
    assert set(summary["flushes"]) == {"all", "va", "asid", "va+asid"}
    assert summary["tlb"]["hits"] > 0 and summary["pte_writes"] > 100
    assert set(summary["phase_cycles"]) == {"hw", "sw", "mmu"}


def _first(words: list[int], tag: Tag, **want: int) -> tuple[int, int]:
    """(record index, word index) of the first ``tag`` record whose fields equal ``want``."""
    for rec in decode(words):
        if rec.tag == tag and all(rec[k] == v for k, v in want.items()):
            return rec.index, rec.word
    raise AssertionError(f"no {tag.name} record with {want}")


def test_a_changed_result_is_a_mismatch(run: FirmwareResult) -> None:
    words = list(run.trace)
    index, word = _first(words, Tag.ALLOC, status=0)
    slot = word + 1 + PAYLOAD[Tag.ALLOC].index("result")
    bad = list(words)
    bad[slot] ^= 1 << 12  # another granule
    summary = check_run(bad, CONFIG, PARAMS)
    assert summary["mismatches"] >= 1
    first = summary["first_mismatches"][0]
    assert first.startswith(f"record {index} (word {word}): ALLOC[hw]")
    assert f"result {bad[slot]:#x} (model {words[slot]:#x})" in first

    index, word = _first(words, Tag.XLATE, ret=0)
    slot = word + 1 + PAYLOAD[Tag.XLATE].index("pa")
    bad = list(words)
    bad[slot] ^= 0x10
    summary = check_run(bad, CONFIG, PARAMS)
    assert summary["mismatches"] == 1
    assert summary["first_mismatches"][0].startswith(f"record {index} (word {word}): XLATE")
    assert f"model {(words[slot + 1] << 32 | words[slot]):#x}" in summary["first_mismatches"][0]

    _, word = _first(words, Tag.INFO)
    bad = list(words)
    bad[word + 1 + PAYLOAD[Tag.INFO].index("nfree")] += 1
    assert check_run(bad, CONFIG, PARAMS)["mismatches"] >= 1


def test_a_broken_trace_is_a_mismatch(run: FirmwareResult) -> None:
    words = list(run.trace)
    for bad, text in (
        (words[:-1], "the trace ends inside record"),
        (words[:-6], "no END record"),
        (words[:100] + words[101:], "malformed trace"),
        ([words[0] ^ 1 << 20, *words[1:]], "back end 1 in a BEGIN record"),
    ):
        summary = check_run(bad, CONFIG, PARAMS)
        assert summary["mismatches"] >= 1
        assert any(text in line for line in summary["first_mismatches"]), (
            text,
            summary["first_mismatches"],
        )
    # another seed than the firmware's: BEGIN disagrees
    other = WorkloadParams(seed=8, ops=PARAMS.ops, translations=PARAMS.translations)
    assert "seed 0x7 (model 0x8)" in check_run(words, CONFIG, other)["first_mismatches"][0]


def test_workload_compiles_on_the_host(tmp_path: Path) -> None:
    incs = [SOC_DIR, *include_dirs(tmp_path)]
    cmd = [host_cc(), *C_WARNINGS, "-ffreestanding", "-O2", "-c", "-o", str(tmp_path / "w.o")]
    cmd += [f"-I{i}" for i in incs] + [str(SOC_DIR / "workload.c")]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    ("argv", "text"),
    [
        (["--ops", "-1"], "--ops must be positive, not -1"),
        (["--translations", "-5"], "--translations must not be negative, not -5"),
        (["--seed", "-2"], "--seed must be in 0..4294967295, not -2"),
        (["--variant", "huge"], "--variant must be one of min, "),
    ],
)
def test_cli_refuses_bad_arguments(
    argv: list[str], text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sim", "soc", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mmaccel sim soc: ") and text in err


def test_plain_sim_runs_soc() -> None:
    targets = [c.words[1] for c in COMMANDS if c.words[0] == "sim" and len(c.words) == 2]
    assert "soc" in targets


def test_cli_exits_1_on_a_mismatch(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import mmaccel.verif.soc.workload as workload

    def fake(config: SocConfig, params: WorkloadParams, **_: object) -> dict[str, object]:
        return {
            "ops": {"hw": params.ops, "sw": params.ops},
            "translations": params.translations,
            "faults": {"ok": 1, "load_page_fault": 2},
            "phase_cycles": {"hw": 1, "sw": 2, "mmu": 3},
            "mismatches": 1,
            "first_mismatches": ["record 5 (word 40): ALLOC[hw](...): result 0x1 (model 0x2)"],
            "cpu_cycles": 6,
            "seconds": 0.1,
        }

    monkeypatch.setattr(workload, "run_workload", fake)
    assert main(["sim", "soc", "--ops", "3", "--translations", "3"]) == 1
    out, err = capsys.readouterr()
    assert "soc: mismatch: record 5 (word 40)" in err
    assert "soc: 6 allocator calls (hw 3, sw 3), 3 translations (2 faults), 1 mismatches" in out
