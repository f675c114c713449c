"""Firmware images for the SoC: crt0 + program sources, cross-compiled with ``zig cc``.

:func:`build_image` compiles and links, then returns the raw RAM image (``objcopy -O binary``
of the ELF, starting at address 0). Images are cached under ``$MMACCEL_FIRMWARE_CACHE`` (default
``<tmp>/mmaccel-firmware``), keyed by a hash of every input's bytes and the options, so a
test that builds the same firmware twice compiles it once.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from mmaccel.firmware.toolchain import FIRMWARE_ROOT, INCLUDE_DIR, cross_compile, objcopy_binary
from mmaccel.hdl.soc.cpu import VARIANTS
from mmaccel.hdl.soc.memory_map import DEFAULT_RAM_SIZE

__all__ = ["SOC_DIR", "build_image", "cache_root", "soc_source"]

#: The SoC's C sources: crt0.S, link.ld, soc.h, smoke.c, ...
SOC_DIR = FIRMWARE_ROOT / "soc"

_RECIPE = "2"

#: The line of link.ld that sets the RAM size (replaced by the build's own).
_RAM_SIZE_LINE = "SOC_RAM_SIZE = DEFINED(SOC_RAM_SIZE) ? SOC_RAM_SIZE : 0x10000;"


def cache_root() -> Path:
    """``$MMACCEL_FIRMWARE_CACHE`` or ``<tmp>/mmaccel-firmware``."""
    root = os.environ.get("MMACCEL_FIRMWARE_CACHE")
    return Path(root) if root else Path(tempfile.gettempdir()) / "mmaccel-firmware"


def soc_source(name: str) -> Path:
    """The path of a shipped SoC source file (``"smoke.c"``)."""
    path = SOC_DIR / name
    if not path.exists():
        raise FileNotFoundError(f"no firmware source {name!r} in {SOC_DIR}")
    return path


def build_image(
    sources: Sequence[str | os.PathLike[str]],
    *,
    variant: str = "standard",
    extra_sources: Sequence[str | os.PathLike[str]] = (),
    include_dirs: Sequence[str | os.PathLike[str]] = (),
    defines: Mapping[str, str | int] | None = None,
    opt: str = "-O2",
    ram_size: int = DEFAULT_RAM_SIZE,
) -> bytes:
    """Build a RAM image: crt0.S + ``sources`` + ``extra_sources``, linked with link.ld.

    Parameters
    ----------
    sources : paths
        The program (a file name without a folder is looked up in the SoC's sources).
    variant : str
        The CPU variant; it chooses ``-mcpu``.
    extra_sources : paths
        More C files (a driver's, say).
    include_dirs : paths
        More ``-I`` folders (the SoC's folder and ``firmware/include`` are always there).
    defines : mapping
        ``-D`` macros.
    opt : str
        Optimisation flag.
    ram_size : int
        The RAM size the stack top is placed at.

    Returns
    -------
    bytes
        The image, from address 0.

    Raises
    ------
    ValueError
        An unknown variant, or an image larger than ``ram_size``.
    ToolchainError
        The compiler or linker failed (the message holds its output).
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, not {variant!r}")
    mcpu = VARIANTS[variant].mcpu
    paths = [
        Path(s) if Path(s).parent != Path(".") else soc_source(str(s))
        for s in [*sources, *extra_sources]
    ]
    files = [soc_source("crt0.S"), *paths]
    incs = [SOC_DIR, INCLUDE_DIR, *(Path(i) for i in include_dirs)]
    defs = {**(defines or {}), "SOC_RAM_SIZE_BYTES": ram_size}
    h = hashlib.sha256(f"{_RECIPE}\n{mcpu}\n{opt}\n{sorted(defs.items())}\n".encode())
    for f in [*files, soc_source("link.ld")]:
        h.update(f"{f.name}\n".encode() + f.read_bytes())
    for inc in incs:
        if inc.is_dir():
            for header in sorted(inc.rglob("*.h")):
                h.update(f"{header.relative_to(inc)}\n".encode() + header.read_bytes())
    key = h.hexdigest()[:20]
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    out = root / f"{paths[0].stem if paths else 'crt0'}-{variant}-{key}"
    binary = out.with_suffix(".bin")
    if binary.exists():
        return binary.read_bytes()
    with open(root / f".{out.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if binary.exists():
            return binary.read_bytes()
        elf = out.with_suffix(".elf")
        linker = Path(tempfile.mkdtemp(prefix="ld-", dir=root)) / "link.ld"
        script = soc_source("link.ld").read_text()
        if _RAM_SIZE_LINE not in script:
            raise RuntimeError(f"link.ld lost its line {_RAM_SIZE_LINE!r}")
        linker.write_text(script.replace(_RAM_SIZE_LINE, f"SOC_RAM_SIZE = {ram_size:#x};"))
        cross_compile(
            files, elf, linker_script=linker, include_dirs=incs, defines=defs, mcpu=mcpu, opt=opt
        )
        tmp = binary.with_suffix(".bin.tmp")
        data = objcopy_binary(elf, tmp)
        if len(data) > ram_size:
            raise ValueError(f"image of {len(data)} bytes does not fit in {ram_size} bytes of RAM")
        tmp.replace(binary)
    return data
