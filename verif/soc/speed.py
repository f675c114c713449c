"""CPU cycles per ``gran_alloc``/``gran_free`` on the SoC, hardware against software back end.

:func:`bench_soc` builds ``firmware/soc/speed.c`` twice (hardware back end, software back end
over a bitmap in RAM with the allocator's geometry) for the ``full`` VexRiscv (``rdcycle``,
``rdinstret``), runs both images on one Verilator build of ``SocConfig(variant="full",
granules=N)`` per heap size, and reads every call from the trace: its arguments, its result,
its raw cycle and instruction counts. It then

- replays every call of each back end on :class:`mmaccel.sw.GranuleAllocator` and counts the
  results that differ (``mismatches``), and compares the two back ends call by call (same
  stream, same geometry, same first-fit: they must return the same addresses);
- subtracts the measured overhead of the timing sequence (two back-to-back ``rdcycle``; the
  instructions between the two ``rdinstret``) and gives, per back end, operation and
  occupancy: calls, mean, p99 (exact, nearest rank), max and min CPU cycles per call, mean and
  max instructions per call; the speedup (software mean / hardware mean) per occupancy and
  over all calls; the raw register costs on the bus; and the issue's targets, met or not.

The stream (see speed.c): requests of 1..32 granules (random byte sizes), frees of uniformly
chosen live blocks, occupancy held near 10%, 20%, ..., 90% of the heap in turn (the heap carries
over), 8 warm-up calls (through the timed path, figures not kept) then ``calls`` timed calls
per occupancy.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmaccel.firmware.driver_build import GRAN_SOURCES, include_dirs
from mmaccel.firmware.image import build_image
from mmaccel.sw import errors
from mmaccel.sw.gran import GranuleAllocator
from mmaccel.verif.soc.sim import FirmwareResult, FirmwareTimeout, SocConfig, run_firmwares

__all__ = [
    "DEFAULT_CALLS",
    "DEFAULT_GRANULES",
    "OCCUPANCIES",
    "QUICK_CALLS",
    "SpeedError",
    "SpeedRun",
    "bench_soc",
    "check_granules",
    "parse_speed_trace",
    "soc_config",
    "speed_images",
    "summarize",
]

#: Heap sizes of the default run.
DEFAULT_GRANULES = (256, 4096, 32768)

#: Timed calls per occupancy of the default run, by heap size (the software back end at 32768
#: granules and 90% costs about 13,000 cycles per allocation: fewer calls there).
DEFAULT_CALLS = {256: 2000, 4096: 2000, 32768: 1000}

#: Timed calls per occupancy of ``--quick``.
QUICK_CALLS = 100

#: Target occupancies in percent.
OCCUPANCIES = tuple(range(10, 100, 10))

#: The CPU variant (the one with ``rdcycle``/``rdinstret`` that runs at the standard's speed).
VARIANT = "full"

#: Untimed calls before the timed ones at each occupancy.
WARMUP = 8

#: Largest request in granules.
MAXRUN = 32

#: The issue's targets.
TARGET_HW_ALLOC_CYCLES = 80
TARGET_HW_ALLOC_GRANULES = 32768
TARGET_SPEEDUP = {4096: 50.0, 32768: 200.0}

_MAGIC = 0x53504431
_OCC = 0x4F430000
_END = 0x454E4421
_BUS = 0x42555321
_BUS_ITEMS = ("id_read", "align_write", "alloc_size_write_result_read", "free_raw")
_HEADER = (
    "magic",
    "backend",
    "granules",
    "log2gran",
    "heapstart",
    "seed",
    "calls",
    "warmup",
    "maxrun",
    "warm",
    "overhead_cycles",
    "overhead_instructions",
)
_FREE = 1 << 31
_TIMED = 1 << 30
_WIDE = 1 << 29

#: The driver's status codes for the model's exceptions (subclasses first).
_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (errors.InvalidAlignment, 4),
    (errors.InvalidArgument, 2),
    (errors.GranulesNotInUse, 5),
    (errors.GranulesInUse, 6),
    (errors.GranuleRangeError, 3),
    (errors.InvalidPointer, 3),
)


class SpeedError(AssertionError):
    """The speed firmware's trace is not what speed.c writes, or the run failed."""


@dataclass(slots=True)
class Call:
    """One traced call."""

    free: bool
    size: int  # bytes
    addr: int  # alloc: the result (0 = NULL); free: the address freed
    status: int  # free: the status; alloc: 0
    timed: bool
    cycles: int = 0  # raw
    instructions: int = 0  # raw


@dataclass(slots=True)
class SpeedRun:
    """One back end's parsed trace."""

    header: dict[str, int]
    bus: dict[str, list[int]]
    occupancies: list[tuple[int, int, list[Call]]] = field(default_factory=list)

    @property
    def calls(self) -> list[Call]:
        """Every call, in order."""
        return [c for _, _, calls in self.occupancies for c in calls]


def check_granules(granules: object) -> str | None:
    """An error message for a heap size the bench cannot run, else None."""
    if not isinstance(granules, int) or isinstance(granules, bool):
        return f"granules must be an int, not {granules!r}"
    if not 64 <= granules <= 32768:
        return f"granules must be in 64..32768, not {granules}"
    if granules & (granules - 1):
        return f"granules must be a power of two, not {granules}"
    return None


def speed_images(
    granules: int, calls: int, *, seed: int = 1, warm: bool = True, build: Path | None = None
) -> list[bytes]:
    """The speed firmware for a heap of ``granules``: [hardware image, software image].

    ``warm`` reads the driver's handle (untimed) before each timed call (``SPEED_WARM``)."""
    folder = Path(build) if build is not None else Path(tempfile.mkdtemp(prefix="mmaccel-speed-"))
    incs = include_dirs(folder)
    return [
        build_image(
            ["speed.c"],
            variant=VARIANT,
            extra_sources=GRAN_SOURCES,
            include_dirs=incs,
            defines={
                "SPEED_BACKEND": backend,
                "SPEED_GRANULES": f"{granules}u",
                "SPEED_CALLS": f"{calls}u",
                "SPEED_WARMUP": f"{WARMUP}u",
                "SPEED_SEED": f"{seed}u",
                "SPEED_MAXRUN": f"{MAXRUN}u",
                "SPEED_WARM": int(warm),
            },
        )
        for backend in (0, 1)
    ]


def parse_speed_trace(words: Sequence[int]) -> SpeedRun:
    """Parse speed.c's trace (see its header comment)."""
    if len(words) < len(_HEADER) or words[0] != _MAGIC:
        raise SpeedError(f"speed trace does not start with its header: {list(words[:4])}")
    header = dict(zip(_HEADER, words[: len(_HEADER)], strict=True))
    i = len(_HEADER)
    if words[i] != _BUS:
        raise SpeedError(f"speed trace word {i}: {words[i]:#x}, expected the bus block")
    bus = {name: [words[i + 1 + 2 * k], words[i + 2 + 2 * k]] for k, name in enumerate(_BUS_ITEMS)}
    i += 1 + 2 * len(_BUS_ITEMS)
    run = SpeedRun(header, bus)
    calls: list[Call] = []
    try:
        while True:
            w = words[i]
            if w == _END:
                break
            if w & 0xFFFF0000 == _OCC:
                calls = []
                run.occupancies.append((w & 0xFFFF, words[i + 1], calls))
                i += 2
                continue
            if not run.occupancies:
                raise SpeedError(f"speed trace word {i}: a call before the first occupancy")
            free = bool(w & _FREE)
            timed = bool(w & _TIMED)
            size = w & (_WIDE - 1)
            if free:
                call = Call(True, size, words[i + 1], words[i + 2], timed)
                i += 3
            else:
                call = Call(False, size, words[i + 1], 0, timed)
                i += 2
            if timed and w & _WIDE:
                call.cycles, call.instructions = words[i], words[i + 1]
                i += 2
            elif timed:
                call.cycles, call.instructions = words[i] >> 16, words[i] & 0xFFFF
                i += 1
            calls.append(call)
    except IndexError:
        raise SpeedError(f"speed trace ends without its end marker ({len(words)} words)") from None
    return run


def _model_status(model: GranuleAllocator, addr: int, size: int) -> int:
    try:
        model.free(addr, size)
    except errors.MemoryManagerError as error:
        for cls, code in _STATUS:
            if isinstance(error, cls):
                return code
        raise
    return 0


def model_mismatches(run: SpeedRun) -> tuple[int, str | None]:
    """Replay ``run``'s calls on the model: (mismatches, the first one described)."""
    h = run.header
    model = GranuleAllocator(h["heapstart"], h["granules"] << h["log2gran"], h["log2gran"])
    bad = 0
    first = None
    for index, call in enumerate(run.calls):
        if call.free:
            want = _model_status(model, call.addr, call.size)
            got = call.status
        else:
            result = model.alloc(call.size)
            want = 0 if result is None else result
            got = call.addr
        if got != want:
            bad += 1
            if first is None:
                op = "free" if call.free else "alloc"
                first = f"call {index} ({op} of {call.size} bytes): {got:#x}, model {want:#x}"
    return bad, first


def backend_mismatches(hw: SpeedRun, sw: SpeedRun) -> tuple[int, str | None]:
    """Calls whose arguments or results differ between the two back ends (and the first)."""
    a, b = hw.calls, sw.calls
    bad = abs(len(a) - len(b))
    first = None if not bad else f"{len(a)} hardware calls, {len(b)} software calls"
    for index, (x, y) in enumerate(zip(a, b, strict=False)):
        if (x.free, x.size, x.addr, x.status) != (y.free, y.size, y.addr, y.status):
            bad += 1
            if first is None:
                first = f"call {index}: hardware {x!r}, software {y!r}"
    return bad, first


def _stats(calls: Sequence[Call], oc: int, oi: int) -> dict[str, Any]:
    cyc = sorted(c.cycles - oc for c in calls)
    ins = [c.instructions - oi for c in calls]
    n = len(cyc)
    if n == 0:
        return {"calls": 0}
    return {
        "calls": n,
        "mean": round(sum(cyc) / n, 2),
        "p99": cyc[math.ceil(0.99 * n) - 1],
        "max": cyc[-1],
        "min": cyc[0],
        "instructions_mean": round(sum(ins) / n, 2),
        "instructions_max": max(ins),
        "failed": sum(1 for c in calls if not c.free and c.addr == 0),
    }


def summarize(runs: dict[str, SpeedRun]) -> dict[str, Any]:
    """Figures of one heap size from its parsed runs (``{"hw": ..., "sw": ...}``)."""
    out: dict[str, Any] = {}
    for name, run in runs.items():
        oc, oi = run.header["overhead_cycles"], run.header["overhead_instructions"]
        per: dict[str, Any] = {}
        for op, is_free in (("alloc", False), ("free", True)):
            table: dict[str, Any] = {}
            everything: list[Call] = []
            for pct, _target, calls in run.occupancies:
                timed = [c for c in calls if c.timed and c.free == is_free]
                table[str(pct)] = _stats(timed, oc, oi)
                everything += timed
            table["all"] = _stats(everything, oc, oi)
            per[op] = table
        out[name] = per
    if "hw" in runs and "sw" in runs:
        speedup: dict[str, Any] = {}
        for op in ("alloc", "free"):
            hw, sw = out["hw"][op], out["sw"][op]
            speedup[op] = {
                key: round(sw[key]["mean"] / hw[key]["mean"], 1)
                for key in hw
                if hw[key].get("mean") and key in sw and sw[key].get("mean") is not None
            }
        out["speedup"] = speedup
    return out


def soc_config(granules: int, registered_bus: bool = False) -> SocConfig:
    """The SoC the bench runs on: ``full`` CPU, ``granules``, optionally the registered bus
    decoder of the bitstreams (``Soc(registered_bus=True)``: two cycles more per data-bus
    access)."""
    return SocConfig(variant=VARIANT, granules=granules, registered_bus=registered_bus)


def _max_cycles(granules: int, calls: int) -> int:
    """A generous limit of one image's run."""
    return 20_000_000 + 9 * (calls + WARMUP) * (400 + granules) + granules * granules // 16


def _words_estimate(granules: int, calls: int) -> int:
    return 2 * (len(OCCUPANCIES) * ((calls + WARMUP) * 4 + 4) + granules // 6 + 30)


def bench_soc(
    granules: Sequence[int] = DEFAULT_GRANULES,
    calls: int | dict[int, int] | None = None,
    *,
    seed: int = 1,
    warm: bool = True,
    registered_bus: bool = False,
    progress: Callable[[int, int, int], None] | None = None,
    phase: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the speed firmware at each heap size and return the figures (one JSON object).

    Parameters
    ----------
    granules : sequence of int
        Heap sizes (powers of two, 64..32768); one Verilator build each.
    calls : int or dict, optional
        Timed calls per occupancy (default :data:`DEFAULT_CALLS`, 1000 for other sizes).
    seed : int
        Seed of the stream (1..2**32-1).
    warm : bool
        Read the driver's handle (untimed) before each timed call, so the harness's own
        bookkeeping (larger than the 4 KiB direct-mapped data cache) does not leave it evicted
        (a refill costs about 13 cycles a line). False measures with whatever the cache holds.
    registered_bus : bool
        Build the SoC with the bitstreams' registered data-bus decoder (two cycles more per
        data-bus access) instead of the simulation default.
    progress : callable(granules, words, words_expected), optional
        Called as trace words arrive.
    phase : callable(str), optional
        Told what starts (a build and run per heap size).

    Raises
    ------
    ValueError
        A bad heap size, call count or seed.
    SpeedError
        A run timed out, ended without its trace's end marker, or with a non-zero exit code.
    """
    for n in granules:
        error = check_granules(n)
        if error:
            raise ValueError(error)
    if not 1 <= seed < 2**32:
        raise ValueError(f"seed must be in 1..2**32-1, not {seed}")
    per_size: dict[int, int] = {}
    for n in granules:
        c = calls.get(n, 1000) if isinstance(calls, dict) else calls
        c = DEFAULT_CALLS.get(n, 1000) if c is None else c
        if not isinstance(c, int) or isinstance(c, bool) or not 1 <= c <= 1_000_000:
            raise ValueError(f"calls must be an int in 1..1000000, not {c!r}")
        per_size[n] = c
    t0 = time.monotonic()
    figures: dict[str, Any] = {
        "variant": VARIANT,
        "seed": seed,
        "warmup_calls_per_occupancy": WARMUP,
        "handle_cached": warm,
        "registered_bus": registered_bus,
        "request_granules": [1, MAXRUN],
        "occupancies_percent": list(OCCUPANCIES),
        "method": (
            "per call: rdinstret, rdcycle, gran_alloc/gran_free, rdcycle, rdinstret; "
            "cycles minus two back-to-back rdcycle, instructions minus the same sequence "
            "around nothing; p99 exact (nearest rank); handle_cached: the handle is read "
            "(untimed) before each timed call"
        ),
        "sizes": {},
    }
    total_mismatches = 0
    with tempfile.TemporaryDirectory(prefix="mmaccel-speed-") as tmp:
        for n in granules:
            c = per_size[n]
            t1 = time.monotonic()
            if phase:
                phase(f"{n} granules: building the firmware and the simulation, {c} calls")
            images = speed_images(n, c, seed=seed, warm=warm, build=Path(tmp) / str(n))
            expected = _words_estimate(n, c)
            seen = [0]

            def on_word(
                _job: int, _word: int, n: int = n, expected: int = expected, seen: list[int] = seen
            ) -> None:
                seen[0] += 1
                if progress and seen[0] % 256 == 0:
                    progress(n, seen[0], expected)

            try:
                results = run_firmwares(
                    images,
                    config=soc_config(n, registered_bus),
                    max_cycles=_max_cycles(n, c),
                    on_word=on_word,
                )
            except FirmwareTimeout as timeout:
                raise SpeedError(f"speed firmware at {n} granules: {timeout}") from None
            runs: dict[str, SpeedRun] = {}
            sim_cycles: dict[str, int] = {}
            for name, result in zip(("hw", "sw"), results, strict=True):
                assert isinstance(result, FirmwareResult)
                if result.exit_code != 0:
                    raise SpeedError(
                        f"{name} speed firmware at {n} granules exited with "
                        f"{result.exit_code} (handle set-up failed)"
                    )
                runs[name] = parse_speed_trace(result.trace)
                sim_cycles[name] = result.cycles
            if phase:
                phase(f"{n} granules: checking every call against the model")
            entry: dict[str, Any] = {
                "calls_per_occupancy": c,
                "granule_bytes": 1 << runs["hw"].header["log2gran"],
                "overhead": {
                    "cycles": runs["hw"].header["overhead_cycles"],
                    "instructions": runs["hw"].header["overhead_instructions"],
                },
                "bus_cycles_min_max": runs["hw"].bus,
            }
            entry.update(summarize(runs))
            mismatches: dict[str, Any] = {}
            for name, run in runs.items():
                bad, first = model_mismatches(run)
                mismatches[f"{name}_vs_model"] = bad
                if first:
                    mismatches[f"{name}_first"] = first
                total_mismatches += bad
            bad, first = backend_mismatches(runs["hw"], runs["sw"])
            mismatches["hw_vs_sw"] = bad
            if first:
                mismatches["hw_vs_sw_first"] = first
            total_mismatches += bad
            entry["calls_checked"] = {name: len(run.calls) for name, run in runs.items()}
            entry["mismatches"] = mismatches
            entry["sim_cycles"] = sim_cycles
            entry["wall_seconds"] = round(time.monotonic() - t1, 1)
            figures["sizes"][str(n)] = entry
    figures["targets"] = _targets(figures["sizes"])
    figures["mismatches"] = total_mismatches
    figures["wall_seconds"] = round(time.monotonic() - t0, 1)
    return figures


def _targets(sizes: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    key = str(TARGET_HW_ALLOC_GRANULES)
    if key in sizes:
        alloc = sizes[key]["hw"]["alloc"]
        occ = [alloc[str(p)] for p in OCCUPANCIES if alloc[str(p)].get("calls")]
        worst_max = max(s["max"] for s in occ)
        worst_p99 = max(s["p99"] for s in occ)
        out.append(
            {
                "target": f"hardware gran_alloc <= {TARGET_HW_ALLOC_CYCLES} CPU cycles at {key} "
                "granules, every occupancy (max)",
                "value": worst_max,
                "p99": worst_p99,
                "mean": alloc["all"]["mean"],
                "met": worst_max <= TARGET_HW_ALLOC_CYCLES,
            }
        )
    for n, limit in TARGET_SPEEDUP.items():
        if str(n) in sizes:
            value = sizes[str(n)]["speedup"]["alloc"]["all"]
            out.append(
                {
                    "target": f"gran_alloc speedup (software mean / hardware mean) >= {limit:g}x "
                    f"at {n} granules",
                    "value": value,
                    "worst_occupancy": min(
                        v for k, v in sizes[str(n)]["speedup"]["alloc"].items() if k != "all"
                    ),
                    "met": value >= limit,
                }
            )
    return out
