"""A normal install runs the main job: wheel, fresh virtualenv outside the checkout, `mmaccel sim`.

Slow (a virtualenv from PyPI and two Verilator builds, about 5 minutes): deselected by default,
run by CI (.ci/run) and by ``python -m pytest -m slow tb/test_wheel.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(cmd: list[str | Path], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, check=False, **kw)  # type: ignore[call-overload]


@pytest.mark.slow
def test_wheel_runs_the_main_job(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, REPO])
    assert built.returncode == 0, built.stderr
    (wheel,) = dist.glob("mmaccel-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    # the test benches ship in the package; the pytest suite does not
    assert "mmaccel/verif/gfa/streams_tb.py" in names and "mmaccel/verif/mmu/tb.py" in names
    assert not any(n.startswith(("tb/", "mmaccel/tb/")) for n in names)

    venv = tmp_path / "venv"
    assert _run([sys.executable, "-m", "venv", venv]).returncode == 0
    installed = _run([venv / "bin" / "python", "-m", "pip", "install", "-q", wheel])
    assert installed.returncode == 0, installed.stderr

    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join([str(venv / "bin"), env.get("PATH", "")])
    where = _run(
        [venv / "bin" / "python", "-c", "import mmaccel.verif; print(mmaccel.verif.__file__)"],
        cwd=empty,
        env=env,
    )
    assert str(venv) in where.stdout, where.stdout + where.stderr  # not the checkout
    for args, line in (
        (["sim", "gfa", "--ops", "500"], "gfa: 500 operations on 4096 granules, 0 mismatches"),
        (["sim", "mmu", "--accesses", "500"], "mmu: 500 accesses in"),
    ):
        res = _run([venv / "bin" / "mmaccel", *args], cwd=empty, env=env)
        assert res.returncode == 0, res.stdout + res.stderr
        assert line in res.stdout, res.stdout
        assert " 0 mismatches" in res.stdout, res.stdout
    assert list(empty.iterdir()) == []  # nothing written into the working directory
