"""The command line's common surface: one error form, exit statuses, output files, --version."""

from pathlib import Path

import pytest

from mmaccel.cli import main


def _error(capsys: pytest.CaptureFixture[str], words: str) -> str:
    err = capsys.readouterr().err
    assert f"mmaccel {words}: error: " in err, err
    return err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("mmaccel ")


@pytest.mark.parametrize(
    "argv",
    [
        ["verilog", "gfa", "--granules", "64", "-o", "/no/such/dir/x.v"],
        ["verilog", "mmu", "-o", "/no/such/dir/x.v"],
        ["regmap", "gfa", "-o", "/no/such/dir/x.h"],
        ["regmap", "mmu", "--markdown", "-o", "/no/such/dir/x.md"],
    ],
)
def test_a_missing_output_folder_is_a_usage_error(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = _error(capsys, " ".join(argv[:2]))
    assert "/no/such/dir does not exist" in err and "Traceback" not in err


def test_verilog_writes_to_stdout_or_a_file_with_a_module_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verilog", "mmu", "--entries", "4", "--name", "my_mmu"]) == 0
    assert "module my_mmu(" in capsys.readouterr().out
    out = tmp_path / "gfa.v"
    assert main(["verilog", "gfa", "--granules", "64", "--name", "my_gfa", "-o", str(out)]) == 0
    assert "module my_gfa(" in out.read_text()
    assert main(["verilog", "mmu", "--name", "9lives"]) == 2
    assert "--name must be a Verilog identifier, not '9lives'" in _error(capsys, "verilog mmu")


def test_model_stats_surface(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model", "stats", "--workload", "200", "--check"]) == 0
    out = capsys.readouterr().out.splitlines()
    slab = [line for line in out if line.lstrip().startswith("slab")]
    assert slab and all(line.split()[1] == "-" for line in slab)  # slabs are pages anywhere
    assert out[-1].startswith("check: ") and "passed" in out[-1]
    with pytest.raises(SystemExit) as info:
        main(["model", "stats", "--workload", "-5"])
    assert info.value.code == 2
    assert "--workload: must not be negative, not -5" in _error(capsys, "model stats")
    assert main(["model", "stats", "/no/such/board.toml"]) == 2
    assert "no such file: /no/such/board.toml" in _error(capsys, "model stats")
