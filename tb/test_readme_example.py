"""The README's library example runs as written from any folder (the golden traces ship)."""

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_library_example_runs_outside_the_checkout(tmp_path: Path) -> None:
    text = README.read_text()
    section = text[text.index("## The model as a library") :]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None, "no python block under '## The model as a library'"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-c", code.group(1)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "operations=2850, checks=" in proc.stdout and "mismatches=0" in proc.stdout
