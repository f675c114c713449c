"""Building the C driver: its sources, include folders, and a host shared library for tests.

The driver (``driver/*.c``) includes ``<mmaccel/gran.h>``/``<mmaccel/mmu.h>`` from
:data:`~mmaccel.firmware.toolchain.INCLUDE_DIR` and the generated ``gfa_regs.h``/``mmu_regs.h``
(:func:`mmaccel.firmware.regs.write_headers`) from a build folder. Firmware adds
:data:`DRIVER_SOURCES` to its own sources and :func:`include_dirs` to its include path.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from .regs import write_headers
from .toolchain import C_WARNINGS, FIRMWARE_ROOT, INCLUDE_DIR, ToolchainError, host_cc

__all__ = [
    "DRIVER_DIR",
    "DRIVER_SOURCES",
    "GRAN_SOURCES",
    "MMU_SOURCES",
    "build_host_library",
    "include_dirs",
]

#: The driver's C sources.
DRIVER_DIR = FIRMWARE_ROOT / "driver"

#: The granule driver: entry points, software back end, hardware back end.
GRAN_SOURCES = (DRIVER_DIR / "gran.c", DRIVER_DIR / "gran_sw.c", DRIVER_DIR / "gran_hw.c")

#: The MMU driver.
MMU_SOURCES = (DRIVER_DIR / "mmu.c",)

#: Every driver source.
DRIVER_SOURCES = GRAN_SOURCES + MMU_SOURCES


def include_dirs(build: Path) -> list[Path]:
    """Write the generated register headers into ``build`` and return the include folders
    (public headers, the driver's private headers, ``build``)."""
    write_headers(build)
    return [INCLUDE_DIR, DRIVER_DIR, Path(build)]


def build_host_library(
    build: Path,
    name: str,
    *,
    sources: Sequence[Path] = DRIVER_SOURCES,
    defines: Mapping[str, str | int] | None = None,
    extra_include_dirs: Sequence[Path] = (),
    generated: Path | None = None,
    opt: str = "-O2",
) -> Path:
    """Compile ``sources`` with the host ``cc`` into the shared library ``build/lib<name>.so``.

    Warnings are errors (:data:`~mmaccel.firmware.toolchain.C_WARNINGS`). The generated
    headers are written into ``build`` first, unless ``generated`` names a folder that holds
    them already (a test's variant of a header). Returns the library's path (for ``ctypes``).
    """
    build = Path(build)
    build.mkdir(parents=True, exist_ok=True)
    if generated is None:
        incs = [*include_dirs(build), *extra_include_dirs]
    else:
        incs = [INCLUDE_DIR, DRIVER_DIR, Path(generated), *extra_include_dirs]
    out = build / f"lib{name}.so"
    cmd = [host_cc(), *C_WARNINGS, opt, "-shared", "-fPIC", "-o", str(out)]
    for inc in incs:
        cmd += ["-I", str(inc)]
    for key, value in (defines or {}).items():
        cmd.append(f"-D{key}={value}")
    cmd += [str(s) for s in sources]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ToolchainError(
            f"host cc failed (exit {proc.returncode}):\n  {' '.join(cmd)}\n{proc.stdout}"
            f"{proc.stderr}"
        )
    return out
