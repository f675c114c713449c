"""The progress display of the long simulations: terminal bar, plain log lines, rate."""

import io

import pytest

from mmaccel.cli import progress as progress_module
from mmaccel.cli.progress import ProgressBar


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    fake = _Clock()
    monkeypatch.setattr(progress_module.time, "monotonic", fake)
    return fake


def test_rate_excludes_the_time_before_the_first_report(clock: _Clock) -> None:
    out = io.StringIO()
    bar = ProgressBar("ops", stream=out)
    clock.now += 60.0  # the build and elaboration: not in the rate
    bar(250, 1000, 0)
    clock.now += 2.0
    bar(1000, 1000, 0)
    assert bar.rate() == pytest.approx(375.0)
    assert bar.seconds() == pytest.approx(62.0)


def test_log_gets_plain_periodic_lines_and_one_final_line(clock: _Clock) -> None:
    out = io.StringIO()
    bar = ProgressBar("ops", stream=out)
    for done in range(100, 1001, 100):
        clock.now += 3.0
        bar(done, 1000, 0)
    bar(1000, 1000, 0)  # the caller's final call repeats the last report
    bar.end()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert lines[0].startswith("[###.") and "100/1000 ops" in lines[0]
    # one line per 10 s interval, then the last state once
    assert [line.split("]")[1].split(",")[0] for line in lines] == [
        " 100/1000 ops",
        " 500/1000 ops",
        " 900/1000 ops",
        " 1000/1000 ops",
    ]
    assert lines[-1].endswith("33 ops/s")


def test_terminal_bar_redraws_in_place_without_repeating_the_end(clock: _Clock) -> None:
    out = _Terminal()
    bar = ProgressBar("accesses", stream=out)
    bar(10, 20, 0)
    clock.now += 1.0
    bar(20, 20, 1)
    bar(20, 20, 1)
    bar.end()
    text = out.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n")
    assert "20/20 accesses, 1 mismatches, 10 accesses/s" in text


def test_phase_line_ends_a_drawn_bar(clock: _Clock) -> None:
    out = _Terminal()
    bar = ProgressBar("ops", stream=out)
    bar(1, 2, 0)
    bar.phase("building the simulation")
    assert out.getvalue().endswith("\nops: building the simulation\n")


def test_reports_read_late_use_their_own_times(
    clock: _Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reports read in one batch (the event file is polled) still give the simulation's rate."""
    monkeypatch.setattr(progress_module.time, "time", lambda: 5000.0)
    bar = ProgressBar("ops", stream=io.StringIO())
    bar(250, 1000, 0, at=4996.0)
    bar(1000, 1000, 0, at=4999.0)
    assert bar.rate() == pytest.approx(250.0)
