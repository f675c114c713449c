"""The C toolchains: ``ziglang`` from PyPI for bare-metal RV32, and the host's ``cc`` for tests.

``zig cc`` is clang with its own libc headers and compiler_rt, so a freestanding RV32 image needs
nothing outside PyPI. :func:`cross_compile` builds an ELF from sources and a linker script, and
:func:`objcopy_binary` turns it into the raw image the SoC's RAM is loaded with.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

__all__ = [
    "C_WARNINGS",
    "FIRMWARE_ROOT",
    "INCLUDE_DIR",
    "ToolchainError",
    "cross_compile",
    "host_cc",
    "objcopy_binary",
    "zig_command",
]

#: The warning set every shipped C file must compile cleanly with (host and cross).
C_WARNINGS = ("-std=c99", "-Wall", "-Wextra", "-Werror")

#: The installed folder of the C sources (``include/``, ``driver/``, ``soc/``).
FIRMWARE_ROOT = Path(str(resources.files("mmaccel.firmware")))

#: The public headers: ``#include <mmaccel/gran.h>``.
INCLUDE_DIR = FIRMWARE_ROOT / "include"


class ToolchainError(RuntimeError):
    """A compiler is missing, or a compile or link step failed (the message holds its output)."""


def zig_command() -> list[str]:
    """The command that runs zig: ``python -m ziglang`` of this interpreter.

    Raises :class:`ToolchainError` when the ``ziglang`` package is not installed.
    """
    try:
        import ziglang  # noqa: F401
    except ImportError as exc:  # pragma: no cover - ziglang is a base dependency
        raise ToolchainError(
            "the RISC-V cross-compiler comes from the 'ziglang' package: pip install ziglang"
        ) from exc
    return [sys.executable, "-m", "ziglang"]


def host_cc() -> str:
    """The host C compiler: ``$CC``, else ``cc``, ``gcc`` or ``clang`` from PATH."""
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return name
    raise ToolchainError("no host C compiler found: set CC or install cc, gcc or clang")


def _run(cmd: Sequence[str], what: str) -> None:
    proc = subprocess.run(list(cmd), capture_output=True, text=True)
    if proc.returncode != 0:
        raise ToolchainError(
            f"{what} failed (exit {proc.returncode}):\n  {' '.join(cmd)}\n"
            f"{proc.stdout}{proc.stderr}"
        )


def cross_compile(
    sources: Sequence[Path],
    output: Path,
    *,
    linker_script: Path | None = None,
    include_dirs: Sequence[Path] = (),
    defines: dict[str, str | int] | None = None,
    mcpu: str = "generic_rv32+m",
    opt: str = "-O2",
    compile_only: bool = False,
) -> Path:
    """Compile ``sources`` for bare-metal RV32 with ``zig cc`` into ``output``.

    With ``compile_only`` the single source becomes an object file; otherwise the sources are
    linked with ``linker_script`` into an ELF. compiler_rt is kept (no ``-nostdlib``) so RV32
    code that divides still links; no libc is used (``-ffreestanding``).
    """
    cmd = [
        *zig_command(),
        "cc",
        "-target",
        "riscv32-freestanding-none",
        f"-mcpu={mcpu}",
        *C_WARNINGS,
        opt,
        # Frame pointers cost two instructions and a stack slot in every leaf call: the
        # driver's hardware gran_alloc is 13 instructions without them.
        "-fomit-frame-pointer",
        "-ffreestanding",
        "-fno-builtin",
        "-g0",
        "-I",
        str(INCLUDE_DIR),
    ]
    for inc in include_dirs:
        cmd += ["-I", str(inc)]
    for key, value in (defines or {}).items():
        cmd.append(f"-D{key}={value}")
    if compile_only:
        cmd += ["-c", *map(str, sources), "-o", str(output)]
    else:
        if linker_script is None:
            raise ToolchainError("linking an image needs a linker script")
        cmd += [f"-T{linker_script}", "-Wl,--gc-sections", *map(str, sources), "-o", str(output)]
    output.parent.mkdir(parents=True, exist_ok=True)
    _run(cmd, "zig cc")
    return output


def objcopy_binary(elf: Path, output: Path) -> bytes:
    """``objcopy -O binary`` of ``elf`` into ``output``; returns the image's bytes."""
    _run([*zig_command(), "objcopy", "-O", "binary", str(elf), str(output)], "zig objcopy")
    return output.read_bytes()
