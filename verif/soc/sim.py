"""Run firmware on the SoC in cocotb on Verilator: the Python API the tests and the CLI use.

One Verilator build per SoC configuration (:class:`SocConfig`) serves every firmware: the
RAM has a load port and the bench (:mod:`mmaccel.verif.soc.bench`) writes each image through
it while the CPU is held in reset. The build is cached (see :mod:`mmaccel.verif.runner`); only
the top-level ports are visible to VPI (``--no-public-flat-rw`` and a ``.vlt`` file), which
lets Verilator optimise the whole design.

Example::

    from mmaccel.firmware.image import build_image
    from mmaccel.verif.soc.sim import SocConfig, run_firmware

    result = run_firmware(build_image(["smoke.c"]), config=SocConfig(granules=256))
    result.trace, result.exit_code, result.cycles, result.uart
"""

from __future__ import annotations

import dataclasses
import functools
import json
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mmaccel.hdl.soc.cpu import verilog_file
from mmaccel.hdl.soc.memory_map import DEFAULT_GFA_HEAP_BASE, DEFAULT_RAM_SIZE
from mmaccel.hdl.soc.soc import Soc
from mmaccel.hdl.verilog import to_verilog
from mmaccel.verif.runner import (
    CocotbResult,
    run_cocotb,
    self_clocked_build_args,
    write_self_clocked_top,
)

__all__ = [
    "DEFAULT_MAX_CYCLES",
    "FirmwareResult",
    "FirmwareTimeout",
    "SocConfig",
    "build_verilog",
    "run_firmware",
    "run_firmwares",
]

#: Default limit of one run, in CPU cycles.
DEFAULT_MAX_CYCLES = 5_000_000

#: Top-level module name of the SoC's Verilog.
TOPLEVEL = "soc"

#: Verilator options of the SoC build (besides the runner's own): the clock is generated in
#: the simulation top, only its ports are visible to VPI, C++ at ``-O2``.
BUILD_ARGS = self_clocked_build_args("-O2")


@dataclass(frozen=True, slots=True)
class SocConfig:
    """The build parameters of a simulated SoC (see :class:`~mmaccel.hdl.soc.soc.Soc`)."""

    variant: str = "standard"
    ram_size: int = DEFAULT_RAM_SIZE
    granules: int = 4096
    log2gran: int = 12
    gfa_base: int = DEFAULT_GFA_HEAP_BASE
    tlb_entries: int = 8
    uart_divisor: int = 4
    trace_depth: int = 256
    registered_bus: bool = False

    def build(self) -> Soc:
        """A new :class:`Soc` with these parameters and a load port."""
        return Soc(image=None, **dataclasses.asdict(self))


@dataclass(frozen=True, slots=True)
class FirmwareResult:
    """What one firmware run gave.

    Members
    -------
    trace : list of int
        The words written to sysctl TRACE, in order.
    exit_code : int
        The value written to sysctl EXIT.
    cycles : int
        CPU cycles from the release of reset to the EXIT write's effect.
    uart : str
        The bytes sent through the UART (latin-1).
    seconds : float
        Wall time of the run (simulation only, without the build).
    """

    trace: list[int]
    exit_code: int
    cycles: int
    uart: str
    seconds: float


class FirmwareTimeout(AssertionError):
    """The firmware did not write EXIT within ``max_cycles`` (the message shows the last words).

    Attributes
    ----------
    trace : list of int
        The words traced before the limit.
    uart : str
        The UART output before the limit.
    """

    def __init__(self, message: str, trace: list[int], uart: str) -> None:
        super().__init__(message)
        self.trace = trace
        self.uart = uart


@functools.lru_cache(maxsize=8)
def build_verilog(config: SocConfig) -> str:
    """The SoC's Verilog text for ``config`` (cached per process)."""
    return to_verilog(config.build(), TOPLEVEL)


#: Name of the simulation top: the SoC plus a clock generator.
SIM_TOPLEVEL = "soc_sim"

#: Half the clock period of the generated clock, in ns (the bench's PERIOD_NS is twice this).
_HALF_PERIOD_NS = 5


def run_firmwares(
    images: Sequence[bytes],
    *,
    config: SocConfig | None = None,
    max_cycles: int = DEFAULT_MAX_CYCLES,
    on_word: Callable[[int, int], None] | None = None,
    flush_every: int = 1024,
    raise_on_timeout: bool = True,
    waves: bool = False,
) -> list[FirmwareResult | FirmwareTimeout]:
    """Run several images one after the other in one simulation (one simulator start).

    Parameters
    ----------
    images : sequence of bytes
        RAM images (:func:`mmaccel.firmware.image.build_image`).
    config : SocConfig
        The SoC to build (default ``SocConfig()``).
    max_cycles : int
        Limit of each run in CPU cycles.
    on_word : callable(job, word), optional
        Called in this thread for every trace word as the simulation goes (in batches of
        ``flush_every`` words, about every half second).
    flush_every : int
        Trace words the bench buffers before the host sees them.
    raise_on_timeout : bool
        Raise :class:`FirmwareTimeout` for the first run that times out (default); otherwise
        return the exception in that run's place.
    waves : bool
        Keep a waveform (slow; the build is a different one).

    Raises
    ------
    FirmwareTimeout
        A run did not exit within ``max_cycles``.
    CocotbFailure
        The build or the simulation failed.
    """
    config = config or SocConfig()
    if not isinstance(max_cycles, int) or max_cycles < 1:
        raise ValueError(f"max_cycles must be a positive int, not {max_cycles!r}")
    if image_too_big := [len(i) for i in images if len(i) > config.ram_size]:
        raise ValueError(f"image of {image_too_big[0]} bytes exceeds ram_size {config.ram_size}")
    verilog = build_verilog(config)
    with tempfile.TemporaryDirectory(prefix="mmaccel-soc-") as tmp:
        folder = Path(tmp)
        jobs = []
        for index, image in enumerate(images):
            path = folder / f"image{index}.bin"
            path.write_bytes(bytes(image))
            jobs.append(
                {
                    "image": str(path),
                    "max_cycles": max_cycles,
                    "trace": str(folder / f"trace{index}.bin"),
                    "result": str(folder / f"result{index}.json"),
                    "flush_every": flush_every,
                }
            )
        jobs_file = folder / "jobs.json"
        jobs_file.write_text(json.dumps(jobs))
        wrapper, vlt, _ = write_self_clocked_top(
            verilog,
            folder,
            module=TOPLEVEL,
            top=SIM_TOPLEVEL,
            instance="soc",
            half_period_ns=_HALF_PERIOD_NS,
            vlt_name=f"{SIM_TOPLEVEL}_ports.vlt",
        )
        failure: list[BaseException] = []
        outcome: list[CocotbResult] = []

        def target() -> None:
            try:
                outcome.append(
                    run_cocotb(
                        verilog,
                        toplevel=SIM_TOPLEVEL,
                        test_module="mmaccel.verif.soc.bench",
                        testcase="run_jobs",
                        extra_env={"MMACCEL_SOC_JOBS": str(jobs_file)},
                        waves=waves,
                        extra_sources=[verilog_file(config.variant), wrapper, vlt],
                        extra_build_args=list(BUILD_ARGS),
                    )
                )
            except BaseException as error:  # re-raised in the caller's thread
                failure.append(error)

        offsets = [0] * len(jobs)

        def follow() -> None:
            if on_word is None:
                return
            for index, job in enumerate(jobs):
                trace = Path(str(job["trace"]))
                if not trace.exists():
                    continue
                data = trace.read_bytes()
                end = len(data) - len(data) % 4
                for (word,) in struct.iter_unpack("<I", data[offsets[index] : end]):
                    on_word(index, word)
                offsets[index] = end

        worker = threading.Thread(target=target, name="soc-cocotb")
        t0 = time.monotonic()
        worker.start()
        while worker.is_alive():
            worker.join(0.5)
            follow()
        follow()
        if failure:
            raise failure[0]
        seconds = outcome[0].run_seconds if outcome else time.monotonic() - t0
        results: list[FirmwareResult | FirmwareTimeout] = []
        for index, job in enumerate(jobs):
            raw = Path(str(job["trace"])).read_bytes()
            words = [w for (w,) in struct.iter_unpack("<I", raw[: len(raw) - len(raw) % 4])]
            info = json.loads(Path(str(job["result"])).read_text())
            if info["status"] != "exit":
                last = ", ".join(f"{w:#010x}" for w in words[-8:]) or "none"
                error = FirmwareTimeout(
                    f"firmware {index} did not exit within {max_cycles} cycles; "
                    f"{len(words)} trace words, the last: {last}; UART: {info['uart'][-200:]!r}",
                    words,
                    info["uart"],
                )
                if raise_on_timeout:
                    raise error
                results.append(error)
                continue
            results.append(
                FirmwareResult(
                    words, int(info["exit_code"]), int(info["cycles"]), info["uart"], seconds
                )
            )
    return results


def run_firmware(
    image: bytes,
    *,
    config: SocConfig | None = None,
    max_cycles: int = DEFAULT_MAX_CYCLES,
    on_word: Callable[[int], None] | None = None,
    flush_every: int = 1024,
    waves: bool = False,
) -> FirmwareResult:
    """Run one image to its EXIT; see :func:`run_firmwares` (``on_word(word)`` here).

    Raises
    ------
    FirmwareTimeout
        It did not exit within ``max_cycles``; the message shows the last trace words.
    """
    callback = None if on_word is None else (lambda _job, word: on_word(word))
    (result,) = run_firmwares(
        [image],
        config=config,
        max_cycles=max_cycles,
        on_word=callback,
        flush_every=flush_every,
        waves=waves,
    )
    assert isinstance(result, FirmwareResult)
    return result
