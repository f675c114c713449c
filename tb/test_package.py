"""Packaging and command-line checks: what a user gets from `pip install -e .`."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile

import pytest

from mmaccel.cli import COMMANDS, Command, build_parser, main


def _python(code: str) -> subprocess.CompletedProcess[str]:
    # Run outside the checkout so the current directory does not make sw/ importable.
    with tempfile.TemporaryDirectory() as cwd:
        return subprocess.run(
            [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=False
        )


def test_packages_live_under_mmaccel() -> None:
    ok = _python("import mmaccel.sw, mmaccel.hdl, mmaccel.boards")
    assert ok.returncode == 0, ok.stderr


@pytest.mark.parametrize("name", ["sw", "hdl", "boards"])
def test_no_top_level_modules(name: str) -> None:
    res = _python(f"import {name}")
    assert res.returncode != 0
    assert "ModuleNotFoundError" in res.stderr


def test_every_command_builds() -> None:
    """Every leaf has a configure function whose parser builds and sets a run function."""
    import argparse

    assert COMMANDS
    for command in COMMANDS:
        assert isinstance(command, Command), command
        assert callable(command.configure), command.words
        parser = argparse.ArgumentParser(prog=f"mmaccel {' '.join(command.words)}")
        command.configure(parser)
        assert callable(parser.get_default("func")), command.words
        parser.format_help()
    assert len({c.words for c in COMMANDS}) == len(COMMANDS)


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert command.words[0] in out


def test_command_order() -> None:
    """Groups are listed, and a group's targets run, in this order."""
    groups = list(dict.fromkeys(c.words[0] for c in COMMANDS))
    assert groups == [
        "model", "bench", "sim", "verilog", "boards", "build", "sweep", "fmax", "hw", "regmap",
        "formal", "plot",
    ]  # fmt: skip
    assert [c.words[1] for c in COMMANDS if c.words[0] == "sim"] == ["mmu", "gfa", "soc"]


def test_listing_the_commands_imports_no_gateware() -> None:
    """`mmaccel --help` needs neither Amaranth nor the verification and board tools."""
    code = (
        "import sys\n"
        "from mmaccel.cli import build_parser\n"
        "build_parser().format_help()\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('amaranth', 'cocotb')\n"
        "         or m.startswith(('mmaccel.hdl', 'mmaccel.verif', 'mmaccel.boards.build'))]\n"
        "assert not heavy, heavy\n"
    )
    res = _python(code)
    assert res.returncode == 0, res.stderr


def test_fmax_devices_are_the_measured_ones() -> None:
    from mmaccel.boards.ooc import DEVICES
    from mmaccel.cli.fmax import DEVICES as CLI_DEVICES

    assert set(CLI_DEVICES) == set(DEVICES)


def test_a_missing_tool_is_reported_as_unavailable(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from mmaccel.cli.command import guard

    def run(args: argparse.Namespace) -> int:
        import mmaccel_no_such_tool  # type: ignore[import-not-found]  # noqa: F401

        return 0

    assert guard(("sim", "gfa"), run)(argparse.Namespace()) == 2
    assert capsys.readouterr().err.startswith(
        "mmaccel sim gfa: error: unavailable: No module named"
    )


def test_group_without_target_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench"]) == 2
    assert "model" in capsys.readouterr().out


def test_bench_model_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "model", "--json", "--seconds", "0.05"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["heap_ops_per_s"] > 0
    assert figures["gran_ops_per_s"] > 0
    targets = figures["targets"]
    assert set(targets) == {
        "heap_ops_per_s",
        "gran_ops_per_s",
        "slab_ops_per_s",
        "slab_cost_ratio_100k_to_1k",
    }
    for name, verdict in targets.items():
        assert verdict["value"] == figures[name]
        op, bound = verdict["target"].split()
        assert verdict["met"] == (
            figures[name] >= float(bound) if op == ">=" else figures[name] <= float(bound)
        )


def test_one_documented_exception_tree() -> None:
    """Every error class of the model lives in mmaccel.sw.errors, is exported from mmaccel.sw
    and appears in the errors module's tree."""
    import importlib
    import inspect
    import pkgutil

    import mmaccel.sw
    from mmaccel.sw import errors

    found: dict[str, type] = {}
    for info in pkgutil.iter_modules(mmaccel.sw.__path__):
        module = importlib.import_module(f"mmaccel.sw.{info.name}")
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, errors.MemoryManagerError):
                found[name] = obj
    assert found, "no error classes found"
    tree = errors.__doc__ or ""
    for name, cls in found.items():
        assert cls.__module__ == "mmaccel.sw.errors", f"{name} is defined in {cls.__module__}"
        assert name in errors.__all__ and getattr(mmaccel.sw, name) is cls, name
        assert f" {name} " in tree or f" {name}\n" in tree, f"{name} is missing from the tree"
