"""``mmaccel bench soc`` in small: the speed firmware on a 256-granule SoC (``full`` VexRiscv).

One Verilator build of the ``full`` variant, one simulation of both images (hardware and
software back end, 60 timed calls per occupancy); the figures' structure, the two back ends'
agreement with each other and with the model, and plausible cycle counts. The trace parser's
errors and the bench's argument checks need no simulation.
"""

import dataclasses
from typing import Any

import pytest

from mmaccel.verif.soc.speed import (
    OCCUPANCIES,
    SpeedError,
    bench_soc,
    check_granules,
    parse_speed_trace,
    soc_config,
)

CALLS = 60


@pytest.fixture(scope="module")
def figures() -> dict[str, Any]:
    pytest.importorskip("cocotb_tools.runner", reason="cocotb 2.x is not installed")
    return bench_soc([256], CALLS)


def test_structure(figures: dict[str, Any]) -> None:
    assert figures["variant"] == "full"
    entry = figures["sizes"]["256"]
    assert entry["calls_per_occupancy"] == CALLS
    keys = [*(str(p) for p in OCCUPANCIES), "all"]
    for backend in ("hw", "sw"):
        for op in ("alloc", "free"):
            table = entry[backend][op]
            assert list(table) == keys
            total = 0
            for key in keys[:-1]:
                s = table[key]
                assert s["calls"] > 0
                assert 0 < s["min"] <= s["mean"] <= s["max"]
                assert s["min"] <= s["p99"] <= s["max"]
                assert s["instructions_mean"] > 0
                total += s["calls"]
            assert table["all"]["calls"] == total
        # every timed call is an alloc or a free: CALLS per occupancy
        calls = sum(entry[backend][op]["all"]["calls"] for op in ("alloc", "free"))
        assert calls == CALLS * len(OCCUPANCIES)
    assert set(entry["speedup"]["alloc"]) == set(keys)
    assert set(entry["bus_cycles_min_max"]) == {
        "id_read",
        "align_write",
        "alloc_size_write_result_read",
        "free_raw",
    }
    # no 32768 or 4096 run: no targets to judge
    assert figures["targets"] == []


def test_backends_agree_with_each_other_and_the_model(figures: dict[str, Any]) -> None:
    entry = figures["sizes"]["256"]
    assert entry["mismatches"] == {"hw_vs_model": 0, "sw_vs_model": 0, "hw_vs_sw": 0}
    assert figures["mismatches"] == 0
    assert entry["calls_checked"]["hw"] == entry["calls_checked"]["sw"]
    assert entry["calls_checked"]["hw"] > CALLS * len(OCCUPANCIES)
    # the same stream: the same number of failed allocations at every occupancy
    for key in entry["hw"]["alloc"]:
        assert entry["hw"]["alloc"][key]["failed"] == entry["sw"]["alloc"][key]["failed"]


def test_cycles_plausible(figures: dict[str, Any]) -> None:
    entry = figures["sizes"]["256"]
    hw, sw = entry["hw"], entry["sw"]
    # the hardware path: a call, a few loads, ALLOC_SIZE write, RESULT read
    assert 15 <= hw["alloc"]["all"]["max"] <= 150
    assert hw["alloc"]["all"]["instructions_max"] <= 30
    assert hw["free"]["all"]["max"] <= 150
    for op in ("alloc", "free"):
        assert hw[op]["all"]["mean"] < sw[op]["all"]["mean"]
        assert entry["speedup"][op]["all"] > 1.5
        # a cycle per instruction at best
        assert sw[op]["all"]["mean"] >= sw[op]["all"]["instructions_mean"]
    # the software search grows with occupancy
    assert sw["alloc"]["90"]["mean"] > sw["alloc"]["10"]["mean"]
    assert entry["overhead"]["cycles"] > 0
    assert entry["sim_cycles"]["sw"] > entry["sim_cycles"]["hw"]


def test_parser_errors() -> None:
    with pytest.raises(SpeedError, match="header"):
        parse_speed_trace([1, 2, 3])
    header = [0x53504431, 0, 256, 12, 0x10000000, 1, 10, 8, 32, 1, 3, 3]
    bus = [0x42555321, *range(8)]
    with pytest.raises(SpeedError, match="bus block"):
        parse_speed_trace([*header, 0])
    with pytest.raises(SpeedError, match="end marker"):
        parse_speed_trace([*header, *bus, 0x4F43000A, 25, 0x40000001, 0x10000000])
    with pytest.raises(SpeedError, match="before the first occupancy"):
        parse_speed_trace([*header, *bus, 0x00000001, 0])
    occupancy = [0x4F43000A, 25]
    timed_alloc = [0x40001000, 0x10000000, 60 << 16 | 18]
    untimed_free = [0x80000800, 0x10000000, 0]
    wide_free = [0xE0000800, 0x10002000, 0, 0x12345, 0x6789]
    words = [*header, *bus, *occupancy, *timed_alloc, *untimed_free, *wide_free, 0x454E4421]
    run = parse_speed_trace(words)
    assert [(p, t, len(c)) for p, t, c in run.occupancies] == [(10, 25, 3)]
    first, second, third = run.calls
    assert (first.free, first.timed, first.size) == (False, True, 0x1000)
    assert (first.cycles, first.instructions) == (60, 18)
    assert (second.free, second.timed, second.status) == (True, False, 0)
    assert (third.free, third.timed, third.size, third.addr) == (True, True, 0x800, 0x10002000)
    assert (third.cycles, third.instructions) == (0x12345, 0x6789)


def test_soc_config() -> None:
    plain, registered = soc_config(256), soc_config(256, registered_bus=True)
    assert (plain.variant, plain.granules) == ("full", 256)
    assert not dataclasses.asdict(plain).get("registered_bus", False)
    # what SocConfig.build passes to Soc
    assert dataclasses.asdict(registered)["registered_bus"] is True
    assert (registered.variant, registered.granules) == ("full", 256)


def test_argument_checks() -> None:
    assert check_granules(4096) is None
    assert "power of two" in str(check_granules(1000))
    assert "64..32768" in str(check_granules(65536))
    assert "int" in str(check_granules("256"))
    with pytest.raises(ValueError, match="calls"):
        bench_soc([256], 0)
    with pytest.raises(ValueError, match="seed"):
        bench_soc([256], 10, seed=0)
    with pytest.raises(ValueError, match="power of two"):
        bench_soc([300], 10)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--granules", "100"], "power of two"),
        (["--granules", "131072"], "64..32768"),
        (["--calls", "0"], "--calls must be in"),
        (["--calls", "10", "--quick"], "exclude each other"),
        (["--seed", "0"], "--seed must be in"),
    ],
)
def test_cli_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    from mmaccel.cli import main

    assert main(["bench", "soc", *argv]) == 2
    assert message in capsys.readouterr().err
