"""The allocation map of the gateware: a :class:`GranHistory`'s operations run on the allocator
core in simulation (Verilator through cocotb), its table read through the debug port; or on a
board's allocator over the serial link (:func:`board_allocator`, :func:`replay_on`).

:func:`hardware_tables` builds the core with the history's granule count and granule size
(:class:`~mmaccel.hdl.gfa.GranuleFrameAllocator`, cached Verilog as ``mmaccel sim gfa``
builds it), replays every operation through the request stream with the stream bench
(:mod:`.hwmap_tb`; every response is compared with the model) and returns the free map read
from the hardware at each snapshot step. A first build costs about 20 s; replays of a few
thousand operations a few seconds more.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from mmaccel.sw.errors import MemoryManagerError

from .replay import GranHistory

if TYPE_CHECKING:
    from mmaccel.boards.host.gfa import SerialGranuleAllocator

__all__ = [
    "TEST_MODULE",
    "HardwareMapError",
    "MapTarget",
    "board_allocator",
    "hardware_tables",
    "replay_on",
    "table_to_free_map",
]

#: The cocotb test module (installed with the package).
TEST_MODULE = "mmaccel.plots.hwmap_tb"


class HardwareMapError(MemoryManagerError):
    """The simulation could not run, or the hardware answered differently from the model."""


def table_to_free_map(words: list[int], ngranules: int) -> int:
    """The free map (bit k = granule k free) of a GAT read as 32-bit words (1 = in use)."""
    used = 0
    for w, word in enumerate(words):
        used |= (word & 0xFFFF_FFFF) << (32 * w)
    return ((1 << ngranules) - 1) & ~used


def hardware_tables(history: GranHistory, *, fanout: int = 4, base: int = 0) -> dict[int, int]:
    """The hardware's free map at each snapshot step of ``history`` (step -> free map).

    ``fanout`` and ``base`` (the address of granule 0) are build parameters of the core; they
    change no index of the map.

    Raises
    ------
    HardwareMapError
        No simulator (Verilator), the simulation failed, or a response differed from the model.
    """
    from mmaccel.hdl.gfa import GranuleFrameAllocator
    from mmaccel.verif.config import GfaSimConfig
    from mmaccel.verif.runner import (
        CocotbFailure,
        SimulatorUnavailable,
        cached_verilog,
        run_reporting,
    )

    from .hwmap_tb import OPS_ENV

    params = {
        "granules": history.ngranules,
        "log2gran": history.log2gran,
        "base": base,
        "fanout": fanout,
    }
    config = GfaSimConfig(
        granules=history.ngranules,
        log2gran=history.log2gran,
        base=base,
        fanout=fanout,
        ops=max(1, history.steps),
        errors=False,
        backpressure=False,
        fail_fast=False,
        mode="scoreboard",
    )
    steps = [s.step for s in history.snapshots]
    with tempfile.TemporaryDirectory(prefix="mmaccel-plot-map-") as tmp:
        spec = Path(tmp) / "ops.json"
        spec.write_text(
            json.dumps({"ops": [[o.kind, o.count, o.index] for o in history.ops], "steps": steps})
        )
        try:
            design = cached_verilog(
                lambda: GranuleFrameAllocator(**params),
                {**params, "mutation": ""},
                toplevel="gfa_core",
            )
            summary = run_reporting(
                design,
                config,
                toplevel="gfa_core",
                test_module=TEST_MODULE,
                testcase="replay_map",
                extra_env={OPS_ENV: str(spec)},
            )
        except (SimulatorUnavailable, CocotbFailure, RuntimeError) as error:
            raise HardwareMapError(f"the hardware map could not be read: {error}") from None
    if summary["mismatches"]:
        raise HardwareMapError(
            f"the hardware differed from the model {summary['mismatches']} times; first: "
            f"{summary['first_mismatch']}"
        )
    return {
        int(step): table_to_free_map(words, history.ngranules)
        for step, words in summary["tables"].items()
    }


class MapTarget(Protocol):
    """What :func:`replay_on` needs: the granule-level methods of ``GranuleAllocator`` (the
    board's :class:`~mmaccel.boards.host.gfa.SerialGranuleAllocator` has them too)."""

    ngranules: int

    def clear(self) -> None: ...

    def alloc_granules(self, n: int, align: int = 1) -> int | None: ...

    def free_granules(self, index: int, n: int) -> None: ...

    @property
    def free_map(self) -> int: ...


def replay_on(target: MapTarget, history: GranHistory) -> dict[int, int]:
    """Clear ``target``, make the operations of ``history`` on it and read its free map at each
    snapshot step (step -> free map).

    Raises
    ------
    HardwareMapError
        ``target`` manages another number of granules, or an allocation answered differently
        from the model.
    """
    if target.ngranules != history.ngranules:
        raise HardwareMapError(
            f"the allocator manages {target.ngranules} granules, the operations are for "
            f"{history.ngranules}"
        )
    keep = {s.step for s in history.snapshots}
    target.clear()
    tables: dict[int, int] = {}
    if 0 in keep:
        tables[0] = target.free_map
    for step, op in enumerate(history.ops, 1):
        if op.kind == "alloc":
            got = target.alloc_granules(op.count)
            if (-1 if got is None else got) != op.index:
                raise HardwareMapError(
                    f"operation {step}: alloc of {op.count} granules answered "
                    f"{'none' if got is None else got}, the model {op.index}"
                )
        else:
            target.free_granules(op.index, op.count)
        if step in keep:
            tables[step] = target.free_map
    return tables


def board_allocator(port: str, baud: int = 115200) -> SerialGranuleAllocator:
    """The allocator of the board on serial port ``port`` (``mmaccel build --board``'s top).

    Raises
    ------
    BoardLinkError
        The port cannot be opened, or no mmaccel board answers on it.
    HardwareMapError
        The board was built without the allocator.
    """
    from mmaccel.boards.host.board import read_board_info
    from mmaccel.boards.host.gfa import SerialGranuleAllocator
    from mmaccel.boards.host.link import BridgeLink, open_serial

    link = BridgeLink(open_serial(port, baud))
    link.ping()
    if not read_board_info(link).has_gfa:
        raise HardwareMapError(f"the board on {port} was built without the allocator")
    return SerialGranuleAllocator(link)
