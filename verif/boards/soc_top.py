"""The SoC board top on Verilator with cocotbext-uart as the serial peer, and the check of what
its firmware prints against the model.

:func:`run_board_soc` builds :class:`~mmaccel.boards.soc_top.SocBoardCore` (the bitstream's
design without the PLL and the pins) with the board firmware, runs it under cocotb
(:mod:`mmaccel.verif.boards.soc_tb`: a ``UartSink`` on ``tx``, a ``UartSource`` on ``rx``)
until the firmware writes EXIT, and returns what came out of the UART. :func:`check_output`
replays every printed allocator operation on :class:`mmaccel.sw.GranuleAllocator` and every
printed translation on :func:`mmaccel.sw.sv32.translate_sv32` over the page-table entries the
firmware printed, and lists every difference.

Example::

    from mmaccel.boards.soc_top import SocBoardConfig
    from mmaccel.verif.boards.soc_top import check_output, run_board_soc

    config = SocBoardConfig(clock_mhz=75.0, granules=1024, tlb_entries=8)
    run = run_board_soc(config)
    assert check_output(run.uart, config).problems == []
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from mmaccel.boards.soc_top import SocBoardConfig, SocBoardCore, board_firmware
from mmaccel.hdl.gfa.status import status_of
from mmaccel.hdl.soc.cpu import verilog_file
from mmaccel.hdl.soc.memory_map import DEFAULT_GFA_HEAP_BASE, SOC_ID
from mmaccel.hdl.verilog import to_verilog
from mmaccel.sw import GranuleAllocator, PhysicalMemory
from mmaccel.sw.errors import MemoryManagerError, TranslationFault
from mmaccel.sw.sv32 import Access, Priv, translate_sv32
from mmaccel.verif.runner import write_self_clocked_top

__all__ = [
    "CLK_NS",
    "SIM_DIVISOR",
    "BoardRun",
    "OutputCheck",
    "check_output",
    "run_board_soc",
]

#: Clock cycles per UART bit in the simulation (the board uses clock / baud).
SIM_DIVISOR = 8
#: Clock period of the simulation, in ns.
CLK_NS = 10
TOPLEVEL = "soc_board"
SIM_TOPLEVEL = "soc_board_sim"


@dataclass(frozen=True, slots=True)
class BoardRun:
    """One simulated run: the UART text, the exit code and the cycles until EXIT."""

    uart: str
    exit_code: int
    cycles: int
    seconds: float


@dataclass
class OutputCheck:
    """What :func:`check_output` found."""

    problems: list[str] = field(default_factory=list)
    allocs: int = 0
    frees: int = 0
    translations: int = 0
    cycles: dict[str, dict[str, int]] = field(default_factory=dict)


def run_board_soc(
    config: SocBoardConfig, *, max_cycles: int = 3_000_000, registered_bus: bool = True
) -> BoardRun:
    """Simulate the SoC board top with ``config``'s firmware until EXIT (or ``max_cycles``).

    The firmware is built for ``config.clock_mhz`` (it prints it); the UART runs at
    :data:`SIM_DIVISOR` cycles per bit. Raises ``AssertionError`` (from the bench) when the
    firmware does not exit in time, with the UART text so far.
    """
    from mmaccel.verif.runner import run_cocotb
    from mmaccel.verif.soc.sim import BUILD_ARGS

    image = board_firmware(config)
    core = SocBoardCore(config, image, divisor=SIM_DIVISOR, registered_bus=registered_bus)
    verilog = to_verilog(core, TOPLEVEL)
    with tempfile.TemporaryDirectory(prefix="mmaccel-soc-board-") as tmp:
        folder = Path(tmp)
        wrapper, vlt, _ = write_self_clocked_top(
            verilog,
            folder,
            module=TOPLEVEL,
            top=SIM_TOPLEVEL,
            instance="top",
            half_period_ns=CLK_NS // 2,
            vlt_name=f"{SIM_TOPLEVEL}.vlt",
        )
        out = folder / "run.json"
        result = run_cocotb(
            verilog,
            toplevel=SIM_TOPLEVEL,
            test_module="mmaccel.verif.boards.soc_tb",
            testcase="firmware_over_uart",
            extra_env={
                "MMACCEL_SOC_BOARD_OUT": str(out),
                "MMACCEL_SOC_BOARD_MAX_CYCLES": str(max_cycles),
                "MMACCEL_SOC_BOARD_BAUD": str(round(1e9 / (SIM_DIVISOR * CLK_NS))),
                "MMACCEL_SOC_BOARD_CLK_NS": str(CLK_NS),
            },
            waves=False,
            extra_sources=[verilog_file(config.variant), wrapper, vlt],
            extra_build_args=list(BUILD_ARGS),
        )
        info = json.loads(out.read_text())
    return BoardRun(info["uart"], int(info["exit_code"]), int(info["cycles"]), result.run_seconds)


def _code(error: MemoryManagerError) -> int:
    """The status code (GRAN_* / GfaStatus value) of a model exception."""
    return cast(int, status_of(error).value)


_ACCESS = {"L": Access.LOAD, "S": Access.STORE, "F": Access.FETCH}


def check_output(text: str, config: SocBoardConfig) -> OutputCheck:
    """Check the board firmware's UART text against the model; ``problems`` lists mismatches.

    Checked: the banner and the sizes it prints; every ``op`` line (address and status of each
    allocation, status of each free) replayed on ``GranuleAllocator`` (log2gran 12, heap at the
    allocator's BASE); the ``info`` line; every ``tr`` line against ``translate_sv32`` over the
    printed ``pte`` words and ``satp``; the ``cycles`` lines; no ``MISMATCH``; ``PASS`` last.
    """
    check = OutputCheck()
    bad = check.problems.append
    lines = [line.rstrip("\r") for line in text.strip("\n").split("\n")]
    if not lines or not lines[0].startswith("mmaccel SoC: VexRiscv"):
        bad(f"no banner: first line {lines[0] if lines else ''!r}")
    expect_clock = f"clock {config.clk_hz} Hz, ram {config.ram_size} bytes, id {SOC_ID:08x}"
    if expect_clock not in lines:
        bad(f"missing line {expect_clock!r}")
    base = DEFAULT_GFA_HEAP_BASE
    expect_gfa = f"gfa granules {config.granules} log2gran 12 base {base:08x}"
    if expect_gfa not in lines:
        bad(f"missing line {expect_gfa!r}")
    model = GranuleAllocator(base, config.granules << 12, 12, 0)
    memory = PhysicalMemory(config.ram_size)
    satp = None
    for line in lines:
        if "MISMATCH" in line:
            bad(f"the firmware found a mismatch: {line!r}")
        words = line.split()
        if not words:
            continue
        if words[0] == "op" and words[2] == "alloc":
            # op <i> alloc <size> align <align> -> <addr> <status>
            size, align, addr, st = int(words[3]), int(words[5]), int(words[7], 16), int(words[8])
            try:
                got = model.alloc(size, align or None)
                want = (got or 0, 0 if got is not None else 1)
            except MemoryManagerError as error:
                want = (0, _code(error))
            if (addr, st) != want:
                bad(f"{line!r}: the model gives {want[0]:08x} status {want[1]}")
            check.allocs += 1
        elif words[0] == "op" and words[2] == "free":
            # op <i> free <addr> <size> -> <status>
            addr, size, st = int(words[3], 16), int(words[4]), int(words[6])
            try:
                model.free(addr, size)
                want_st = 0
            except MemoryManagerError as error:
                want_st = _code(error)
            if st != want_st:
                bad(f"{line!r}: the model gives status {want_st}")
            check.frees += 1
        elif words[0] == "info":
            info = model.info()
            want_info = f"info nfree {info.nfree} mxfree {info.mxfree}"
            if line != want_info:
                bad(f"{line!r}: the model gives {want_info!r}")
        elif words[0] == "pte":
            memory.write_u32(int(words[1], 16), int(words[2], 16))
        elif words[0] == "satp":
            satp = int(words[1], 16)
        elif words[0] == "tr":
            # tr <va> <L|S|F> <U|S|s> -> pa <pa> | fault <cause>
            if satp is None:
                bad(f"{line!r} before the satp line")
                continue
            va, priv = int(words[1], 16), words[3]
            try:
                pa = translate_sv32(
                    memory,
                    satp,
                    va,
                    _ACCESS[words[2]],
                    Priv.U if priv == "U" else Priv.S,
                    sum=priv == "s",
                )
                want_tr = f"pa {pa & 0xFFFFFFFF:08x}"
            except TranslationFault as fault:
                cause: Any = getattr(fault, "cause", -1)
                want_tr = f"fault {int(cause)}"
            if " ".join(words[5:7]) != want_tr:
                bad(f"{line!r}: the model gives {want_tr!r}")
            check.translations += 1
        elif words[0] == "cycles":
            # cycles <call> <hw|sw> mean <n> min <n> max <n>
            check.cycles.setdefault(words[1], {})[words[2]] = int(words[4])
    if check.allocs + check.frees < config.ops:
        bad(f"{check.allocs + check.frees} operations printed, expected {config.ops}")
    if config.tlb_entries and check.translations == 0:
        bad("no translations printed")
    for call in ("gran_alloc", "gran_free"):
        if set(check.cycles.get(call, {})) != {"hw", "sw"}:
            bad(f"cycle figures of {call} missing: {check.cycles.get(call)}")
    if lines[-1] != "PASS":
        bad(f"last line {lines[-1]!r}, not 'PASS'")
    return check
