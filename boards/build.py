"""Bitstream builds with the YoWASP tools, and the figures nextpnr reports about them.

:func:`build_board` elaborates :class:`~mmaccel.boards.top.BoardTop` for a target, lets
Amaranth write the build plan, then runs its steps (Yosys, nextpnr, the packer) one by one so
progress can be shown, with each tool's output kept in ``<step>.log`` in the build folder.
nextpnr writes a JSON report (``--report report.json``) from which :func:`parse_report` takes
Fmax per clock and the device utilization; flip-flops and LUTs are counted in Yosys's netlist.

The tools are found through the environment variables Amaranth reads (``YOSYS``,
``NEXTPNR_ICE40``...); :func:`tool_environment` sets them to the YoWASP commands installed
with this package unless the user has set them. YoWASP compiles each tool on first use and
caches it under ``$YOWASP_CACHE_DIR`` (default ``~/.cache/YoWASP``): keep that folder between
CI runs to save about 30 s.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mmaccel.sw.errors import MemoryManagerError

from .soc_top import SocBoardConfig
from .targets import BoardConfig, BoardTarget

__all__ = [
    "SYNTH_PREPARE",
    "BuildError",
    "BuildResult",
    "block_breakdown",
    "build_board",
    "count_cells",
    "parse_report",
    "tool_environment",
]

Progress = Callable[[str], None]

#: Yosys commands run on the design before synthesis, per FPGA family. On the iCE40 every
#: Amaranth state machine (``fsm_state``) is re-encoded one-hot: its state decode is then one
#: flip-flop instead of a LUT tree, which shortens the allocator's control paths (measured on
#: the iCEBreaker: 39.7 / 41.6 / 41.9 MHz one-hot against 39.8 / 39.3 / 40.8 binary, nextpnr
#: seeds 1-3). This relies on the iCE40 platform's power-on reset, which every Amaranth iCE40
#: design has (its block RAMs need it): Yosys drops the state register's init value and the
#: reset puts the machine in its initial state.
SYNTH_PREPARE: dict[str, str] = {
    "ice40": 'setattr -set fsm_encoding "one-hot" w:fsm_state',
    "ecp5": "",
}


class BuildError(MemoryManagerError):
    """A build step failed; the message names the step and the log file to read."""


@dataclass
class BuildResult:
    """Figures of one bitstream build.

    Attributes
    ----------
    board : str
        Target name.
    config : dict
        The sizes built (see :class:`~mmaccel.boards.targets.BoardConfig`).
    bitstream : str
        Path of the bitstream.
    build_dir : str
        Folder with the intermediate files and the tool logs.
    fmax_mhz : dict
        Achieved Fmax per clock domain, in MHz (nextpnr's routed estimate).
    constraint_mhz : dict
        The frequency nextpnr was asked to meet for each clock: the board's oscillator, or
        ``clock_mhz`` when the build was asked for more (nextpnr's timing-driven placement works
        only as hard as the constraint asks, so Fmax is measured with a tight constraint).
    board_clock_mhz : float
        The board's oscillator, which clocks the design on the board.
    timing_met : bool
        Every clock reaches the board's clock (the bitstream works on the board).
    utilization : dict
        nextpnr's ``{cell type: {"used": n, "available": m}}`` for the cell types in use.
    luts, ffs, brams : int
        Logic cells (iCE40 LCs / ECP5 TRELLIS_COMB), flip-flops, block RAMs (EBR / DP16KD).
    seconds : dict
        Wall time of each step.
    design : str
        ``host-link`` (the UART bridge board top) or ``soc`` (the SoC with its firmware).
    clock_mhz : float
        The frequency the design runs at on the board: the oscillator, or the SoC's PLL
        output; ``timing_met`` compares every clock's Fmax with it (SoC: with each clock's
        constraint, which is the frequency it runs at).
    firmware_bytes : int
        Size of the SoC's firmware image (0 for the host-link design).
    """

    board: str
    config: dict[str, Any]
    bitstream: str
    build_dir: str
    fmax_mhz: dict[str, float]
    constraint_mhz: dict[str, float]
    board_clock_mhz: float
    timing_met: bool
    utilization: dict[str, dict[str, int]]
    luts: int
    ffs: int
    brams: int
    seconds: dict[str, float] = field(default_factory=dict)
    design: str = "host-link"
    clock_mhz: float = 0.0
    firmware_bytes: int = 0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return asdict(self)


def _yowasp_command(name: str) -> str:
    """Absolute path of a YoWASP console script, looked up on PATH then beside Python."""
    found = shutil.which(name)
    if found:
        return found
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else name


def tool_environment(target: BoardTarget, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a build: ``base`` (default ``os.environ``) plus the target's tools.

    Variables already set in ``base`` win, so a user can point at a system toolchain.
    """
    env = dict(os.environ if base is None else base)
    for var, command in target.tool_env.items():
        if var not in env:
            env[var] = _yowasp_command(command) if command.startswith("yowasp-") else command
    return env


def parse_report(report: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, float]]:
    """Achieved Fmax and constraint per clock (MHz) from a nextpnr JSON report.

    Clock names lose nextpnr's ``$glbnet$`` prefix, so both families name the system clock
    ``cd_sync.clk`` or after its pin.
    """
    fmax: dict[str, float] = {}
    constraint: dict[str, float] = {}
    for name, figures in report.get("fmax", {}).items():
        clean = name.removeprefix("$glbnet$")
        fmax[clean] = round(float(figures["achieved"]), 2)
        constraint[clean] = round(float(figures["constraint"]), 2)
    return fmax, constraint


def count_cells(netlist: Mapping[str, Any], top: str = "top") -> dict[str, int]:
    """Cell types and their counts in a Yosys JSON netlist's top module (flattened)."""
    counts: dict[str, int] = {}
    for cell in netlist["modules"][top]["cells"].values():
        counts[cell["type"]] = counts.get(cell["type"], 0) + 1
    return counts


def _summary(
    family: str, util: Mapping[str, Mapping[str, int]], cells: Mapping[str, int]
) -> tuple[int, int, int]:
    def used(name: str) -> int:
        return int(util.get(name, {}).get("used", 0))

    if family == "ice40":
        luts = used("ICESTORM_LC")
        ffs = sum(n for t, n in cells.items() if t.startswith("SB_DFF"))
        brams = used("ICESTORM_RAM")
    else:
        luts = used("TRELLIS_COMB")
        ffs = used("TRELLIS_FF")
        brams = used("DP16KD")
    return luts, ffs, brams


def block_breakdown(
    netlist: Mapping[str, Any], prefix: str = "core.soc."
) -> dict[str, dict[str, int]]:
    """Cells of a flattened Yosys netlist per block: ``{block: {"LUT": n, "FF": n, "CARRY": n,
    "RAM": n}}``.

    Yosys names each cell after the net it drives, which carries the hierarchy
    (``core.soc.gfa....``): a cell under ``prefix`` counts for the submodule that follows it,
    cells of ``prefix``'s own module (the interconnect) for ``interconnect``, the rest for
    ``other``. Only LUTs, flip-flops, carries and block RAMs are counted.
    """
    out: dict[str, dict[str, int]] = {}
    for name, cell in netlist["modules"]["top"]["cells"].items():
        kind = cell["type"]
        if kind in ("SB_LUT4", "LUT4"):
            what = "LUT"
        elif kind.startswith(("SB_DFF", "TRELLIS_FF")):
            what = "FF"
        elif kind in ("SB_CARRY", "CCU2C"):
            what = "CARRY"
        elif kind.startswith(("SB_RAM", "DP16KD")):
            what = "RAM"
        else:
            continue
        if name.startswith(prefix):
            rest = name[len(prefix) :].split(".")
            block = rest[0] if len(rest) > 1 else "interconnect"
        else:
            block = "other"
        counts = out.setdefault(block, {"LUT": 0, "FF": 0, "CARRY": 0, "RAM": 0})
        counts[what] += 1
    return out


def _soc_breakdown(folder: Path) -> str:
    """`` Per block (Yosys): cpu 1081 LUT4 ...`` for a failed SoC build, or ``""``."""
    netlist = folder / "top.json"
    if not netlist.exists():
        return ""
    blocks = block_breakdown(json.loads(netlist.read_text()))
    parts = [
        f"{name} {c['LUT']} LUTs + {c['CARRY']} carries, {c['FF']} FFs, {c['RAM']} block RAMs"
        for name, c in sorted(blocks.items(), key=lambda item: -item[1]["LUT"])
    ]
    return "\nper block (Yosys netlist): " + "; ".join(parts)


def _overfull(folder: Path) -> str:
    """``: does not fit (ICESTORM_LC 5565/5280)`` when nextpnr's log shows a resource over 100 %."""
    tim = folder / "top.tim"
    if not tim.exists():
        return ""
    over = re.findall(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+(\d+)%", tim.read_text(), re.MULTILINE)
    full = [f"{cell} {used}/{avail}" for cell, used, avail, pct in over if int(pct) > 100]
    return f": does not fit ({', '.join(full)})" if full else ""


def _retarget_clock(folder: Path, family: str, mhz: float) -> None:
    """Rewrite the clock constraint Amaranth wrote (top.pcf / top.lpf) to ``mhz``."""
    if not mhz > 0:
        raise BuildError(f"clock_mhz must be positive, not {mhz}")
    if family == "ice40":
        path = folder / "top.pcf"
        pattern, repl = r"^(set_frequency \S+) \S+$", rf"\g<1> {mhz}"
    else:
        path = folder / "top.lpf"
        pattern, repl = r'^(FREQUENCY PORT "[^"]+") \S+ HZ;$', rf"\g<1> {mhz * 1e6} HZ;"
    text = path.read_text()
    new, count = re.subn(pattern, repl, text, flags=re.MULTILINE)
    if count != 1:
        raise BuildError(f"expected one clock constraint in {path}, found {count}")
    path.write_text(new)


def _step_name(tool: str) -> str:
    if tool == "yosys":
        return "synthesis (yosys)"
    if tool.startswith("nextpnr"):
        return f"place and route ({tool})"
    return f"bitstream ({tool})"


def build_board(
    target: BoardTarget,
    config: BoardConfig | SocBoardConfig,
    *,
    build_dir: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
    seed: int | None = None,
    clock_mhz: float | None = None,
) -> BuildResult:
    """Build ``target``'s bitstream with ``config`` and return the figures.

    Parameters
    ----------
    build_dir : path, optional
        Where to build (created; default: a new folder under the system's temp dir).
    progress : callable, optional
        Called with one line of text per step started and finished.
    seed : int, optional
        nextpnr placement seed.
    clock_mhz : float, optional
        Constrain the system clock to this frequency instead of the board's oscillator, so
        nextpnr shows the Fmax the design can reach (the bitstream still runs at the
        oscillator's frequency). Not for a :class:`SocBoardConfig`, whose ``clock_mhz`` is
        the frequency its PLL makes.

    A :class:`~mmaccel.boards.soc_top.SocBoardConfig` builds the SoC
    (:class:`~mmaccel.boards.soc_top.SocBoardTop`) with its firmware instead of the host-link
    board top.

    Raises
    ------
    BuildError
        A tool failed (the message names the step and its log file), or the report is
        missing.
    """
    from .soc_top import SocBoardTop, board_firmware
    from .top import BoardTop

    soc = isinstance(config, SocBoardConfig)
    if soc and clock_mhz is not None:
        raise BuildError("clock_mhz is not for the SoC build: set SocBoardConfig.clock_mhz")
    say = progress or (lambda text: None)
    folder = Path(
        build_dir
        if build_dir is not None
        else tempfile.mkdtemp(prefix=f"mmaccel-{target.name}-{config.label()}-")
    )
    folder.mkdir(parents=True, exist_ok=True)
    env = tool_environment(target)
    platform = target.platform()
    nextpnr_opts = ["--report", "report.json", "--timing-allow-fail"]
    if seed is not None:
        nextpnr_opts += ["--seed", str(seed)]
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    say(f"[{target.name} {config.label()}] elaborating the design")
    # Amaranth checks for the board's tools while preparing; the same environment is used.
    saved = dict(os.environ)
    os.environ.update({k: v for k, v in env.items() if k in target.tool_env})
    image = b""
    top: Any
    if isinstance(config, SocBoardConfig):
        say(f"[{target.name} {config.label()}] building the firmware")
        image = board_firmware(config)
        top = SocBoardTop(target, config, image)
    else:
        top = BoardTop(target, config)
    try:
        plan = platform.prepare(
            top,
            name="top",
            nextpnr_opts=nextpnr_opts,
            script_after_read=SYNTH_PREPARE[target.family],
        )
    finally:
        os.environ.clear()
        os.environ.update(saved)
    plan.extract(str(folder))
    board_mhz = round(float(platform.default_clk_frequency) / 1e6, 2)
    if clock_mhz is not None:
        _retarget_clock(folder, target.family, clock_mhz)
    seconds["elaborate"] = round(time.perf_counter() - start, 2)
    commands = json.loads((folder / "build_top.json").read_text())["commands"]
    for index, argv in enumerate(commands, 1):
        tool = argv[0]
        var = tool.upper().replace("-", "_")
        exe = env.get(var, tool)
        name = _step_name(tool)
        log = folder / f"{tool}.log"
        say(f"[{target.name} {config.label()}] step {index}/{len(commands)}: {name} ...")
        t0 = time.perf_counter()
        with open(log, "wb") as out:
            proc = subprocess.run(
                [exe, *argv[1:]], cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        seconds[tool] = round(time.perf_counter() - t0, 2)
        if proc.returncode != 0:
            tail = log.read_text(errors="replace").strip().splitlines()[-15:]
            raise BuildError(
                f"{name} failed for {target.name} ({config.label()}) with exit status "
                f"{proc.returncode}{_overfull(folder)}; log: {log}"
                + (_soc_breakdown(folder) if soc and _overfull(folder) else "")
                + "\n"
                + "\n".join(tail)
            )
        say(f"[{target.name} {config.label()}]   done in {seconds[tool]:.1f} s")
    report_path = folder / "report.json"
    if not report_path.exists():
        raise BuildError(f"nextpnr wrote no report at {report_path}")
    report = json.loads(report_path.read_text())
    fmax, constraint = parse_report(report)
    util = {k: dict(v) for k, v in report.get("utilization", {}).items() if v.get("used")}
    cells = count_cells(json.loads((folder / "top.json").read_text()))
    luts, ffs, brams = _summary(target.family, util, cells)
    bitstream = folder / ("top.bin" if target.family == "ice40" else "top.bit")
    if not bitstream.exists():
        raise BuildError(f"no bitstream at {bitstream}")
    if isinstance(config, SocBoardConfig):
        run_mhz = config.clock_mhz
        config_dict = config.to_dict()
        met = bool(fmax) and all(f >= constraint[c] for c, f in fmax.items())
    else:
        run_mhz = board_mhz
        config_dict = {
            "granules": config.granules,
            "tlb_entries": config.tlb_entries,
            "ptmem_bytes": config.ptmem_bytes,
            "log2gran": config.log2gran,
            "baud": config.baud,
            "gfa_fanout": config.gfa_fanout,
        }
        met = bool(fmax) and all(f >= board_mhz for f in fmax.values())
    return BuildResult(
        board=target.name,
        config=config_dict,
        bitstream=str(bitstream),
        build_dir=str(folder),
        fmax_mhz=fmax,
        constraint_mhz=constraint,
        board_clock_mhz=board_mhz,
        timing_met=met,
        utilization=util,
        luts=luts,
        ffs=ffs,
        brams=brams,
        seconds=seconds,
        design="soc" if soc else "host-link",
        clock_mhz=run_mhz,
        firmware_bytes=len(image),
    )
