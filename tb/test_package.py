"""Packaging and command-line checks: what a user gets from `pip install -e .`."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile

import pytest

from mmaccel.sw.cli import COMMANDS, build_parser, main


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


def test_every_command_is_importable() -> None:
    """A broken module behind a command shows up here, not only when a user runs it."""
    import importlib

    for words, target, _ in COMMANDS:
        module_name, func_name = target.split(":")
        module = importlib.import_module(module_name)
        assert callable(getattr(module, func_name)), words


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for words, _, _ in COMMANDS:
        assert words[0] in out


def test_group_without_target_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench"]) == 2
    assert "model" in capsys.readouterr().out


def test_bench_model_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "model", "--json", "--seconds", "0.05"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["heap_ops_per_s"] > 0
    assert figures["gran_ops_per_s"] > 0
