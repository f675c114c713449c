"""The SoC's checked workload (``firmware/soc/workload.c``): build, run, decode, check.

The firmware runs one seeded random stream of granule-allocator calls on the hardware back end
(the GFA, through the C driver) and on the software back end (a bitmap in RAM), then builds
Sv32 page tables in RAM and asks the MMU for translations through the probe. Every call's
inputs and results reach the trace port as tagged records (format in docs/soc.md, "Workload";
the tags are :class:`Tag`). :func:`check_records` replays each traced request into the model,
so the checker needs no copy of the firmware's random generator:

- allocator records into one :class:`~mmaccel.sw.GranuleAllocator` per back end (the hardware's
  geometry from :class:`SocConfig`, the software heap's from :class:`WorkloadParams`); the
  model's exceptions become status codes through :func:`mmaccel.hdl.gfa.status.status_of`;
- page-table writes into a :class:`~mmaccel.sw.memory.PhysicalMemory` mirror of the RAM, satp
  writes into the current satp, and each translation into
  :func:`~mmaccel.sw.sv32.translate_sv32` over the mirror (fault, cause and 34-bit PA).

A malformed record (unknown tag, wrong length, a sequence number out of step) and a missing
end record count as mismatches too, so a lost or corrupted trace word never passes.

Example::

    from mmaccel.verif.soc.sim import SocConfig
    from mmaccel.verif.soc.workload import WorkloadParams, run_workload

    summary = run_workload(SocConfig(), WorkloadParams(ops=5000, translations=2500, seed=1))
    summary["mismatches"]  # 0
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

from mmaccel.firmware.driver_build import DRIVER_SOURCES, include_dirs
from mmaccel.firmware.image import build_image
from mmaccel.hdl.gfa.status import status_of
from mmaccel.sw import GranuleAllocator, MemoryManagerError
from mmaccel.sw.errors import TranslationFault
from mmaccel.sw.memory import PhysicalMemory
from mmaccel.sw.sv32 import Access, Priv, translate_sv32

from .sim import DEFAULT_MAX_CYCLES, FirmwareResult, SocConfig, run_firmware

__all__ = [
    "BACKEND_HW",
    "BACKEND_SW",
    "MAGIC",
    "PAYLOAD",
    "Record",
    "RecordDecoder",
    "Tag",
    "WorkloadParams",
    "check_records",
    "check_run",
    "decode",
    "run_workload",
    "workload_image",
]

#: First payload word of the BEGIN record: "WKL1".
MAGIC = 0x574B4C31

#: Back-end field of a header (the driver's GRAN_BACKEND_*).
BACKEND_SW = 1
BACKEND_HW = 2
_BACKEND_NAMES = {BACKEND_HW: "hw", BACKEND_SW: "sw"}

GRAN_OK = 0
GRAN_ENOSPC = 1


class Tag(IntEnum):
    """Record tags (header bits 31:24); the payload of each is in :data:`PAYLOAD`."""

    BEGIN = 0x01
    INIT = 0x02
    PHASE = 0x03
    END = 0x04
    ALLOC = 0x10
    ALLOC_ALIGN = 0x11
    FREE = 0x12
    RESERVE = 0x13
    INFO = 0x14
    SATP = 0x20
    PTE = 0x21
    FLUSH = 0x22
    XLATE = 0x23


#: The payload words of each tag, by name.
PAYLOAD: dict[Tag, tuple[str, ...]] = {
    Tag.BEGIN: ("magic", "seed", "ops", "translations", "sw_start", "sw_size", "sw_log2gran",
                "sw_log2align"),
    Tag.INIT: ("ok", "heapstart", "ngranules", "log2gran"),
    Tag.PHASE: ("phase", "cycles_lo", "cycles_hi"),
    Tag.END: ("records", "hits", "misses", "walks", "faults"),
    Tag.ALLOC: ("size", "align", "result", "status"),
    Tag.ALLOC_ALIGN: ("size", "align", "result", "status"),
    Tag.FREE: ("addr", "size", "ret", "status"),
    Tag.RESERVE: ("addr", "size", "ret", "status"),
    Tag.INFO: ("ret", "status", "log2gran", "ngranules", "nfree", "mxfree"),
    Tag.SATP: ("satp",),
    Tag.PTE: ("addr", "value"),
    Tag.FLUSH: ("form", "va", "asid"),
    Tag.XLATE: ("va", "access", "priv", "ret", "pa", "pah"),
}  # fmt: skip

#: Allocator operations (what ``ops`` counts).
ALLOCATOR_TAGS = frozenset({Tag.ALLOC, Tag.ALLOC_ALIGN, Tag.FREE, Tag.RESERVE, Tag.INFO})

#: Records of one back end (the others have back end 0).
_HEAP_TAGS = ALLOCATOR_TAGS | {Tag.INIT}

#: PHASE record numbers.
PHASES = {1: "hw", 2: "sw", 3: "mmu", 4: "done"}

#: FLUSH forms.
FLUSH_FORMS = {0: "all", 1: "va", 2: "asid", 3: "va+asid"}

#: Mismatches described in full in a summary.
DESCRIBED = 5


@dataclass(frozen=True, slots=True)
class WorkloadParams:
    """What the firmware is built with (``-D`` macros).

    ``ops`` allocator calls per back end (plus an info at each end and the frees of what is
    left), ``translations`` probe requests; the software heap is ``sw_start``/``sw_size``/
    ``sw_log2gran``/``sw_log2align`` (default 512 granules of 64 bytes at 0x2000_0008).
    """

    seed: int = 1
    ops: int = 5000
    translations: int = 2500
    sw_start: int = 0x2000_0004
    sw_size: int = 512 * 64 + 60
    sw_log2gran: int = 6
    sw_log2align: int = 3

    def __post_init__(self) -> None:
        for name in ("seed", "ops", "translations"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} must be an int, not {value!r}")
            if not 0 <= value <= 0xFFFF_FFFF:
                raise ValueError(f"{name} must be in 0..2**32-1, not {value}")
        if self.ops > 10_000_000 or self.translations > 10_000_000:
            raise ValueError(
                f"ops ({self.ops}) and translations ({self.translations}) must be at most "
                "10,000,000"
            )
        # the model refuses a heap the driver would refuse
        self.sw_model()

    def defines(self) -> dict[str, str | int]:
        """The ``-D`` macros of the firmware."""
        return {
            "WL_SEED": f"{self.seed:#x}u",
            "WL_OPS": f"{self.ops}u",
            "WL_XLATES": f"{self.translations}u",
            "WL_SW_START": f"{self.sw_start:#x}u",
            "WL_SW_SIZE": f"{self.sw_size:#x}u",
            "WL_SW_LOG2GRAN": f"{self.sw_log2gran}u",
            "WL_SW_LOG2ALIGN": f"{self.sw_log2align}u",
        }

    def sw_model(self) -> GranuleAllocator:
        """A fresh model of the software back end's heap."""
        return GranuleAllocator(self.sw_start, self.sw_size, self.sw_log2gran, self.sw_log2align)


def hw_model(config: SocConfig) -> GranuleAllocator:
    """A fresh model of the SoC's allocator (its BASE, GRANULES, LOG2GRAN)."""
    return GranuleAllocator(config.gfa_base, config.granules << config.log2gran, config.log2gran)


def workload_image(config: SocConfig, params: WorkloadParams) -> bytes:
    """The workload firmware built for ``config``'s CPU and RAM (cached by build_image)."""
    with tempfile.TemporaryDirectory(prefix="mmaccel-workload-") as tmp:
        return build_image(
            ["workload.c"],
            variant=config.variant,
            extra_sources=list(DRIVER_SOURCES),
            include_dirs=include_dirs(Path(tmp)),
            defines=params.defines(),
            ram_size=config.ram_size,
        )


# -- decoding ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Record:
    """One decoded record: ``index`` (its number in the trace), ``word`` (the header's index
    in the trace words), ``tag``, ``backend`` and the payload by name."""

    index: int
    word: int
    tag: Tag
    backend: int
    values: dict[str, int]

    def __getitem__(self, name: str) -> int:
        return self.values[name]

    def describe(self) -> str:
        fields = ", ".join(f"{k}={v:#x}" for k, v in self.values.items())
        be = _BACKEND_NAMES.get(self.backend)
        return f"{self.tag.name}{f'[{be}]' if be else ''}({fields})"


class TraceFormatError(ValueError):
    """The trace words do not form records (the message names the word and its index)."""


@dataclass
class RecordDecoder:
    """Decode trace words into :class:`Record` as they arrive (:meth:`feed`).

    Raises :class:`TraceFormatError` on an unknown tag or back end, a length that is not the
    tag's, or a sequence number out of step.
    """

    records: int = 0
    words: int = 0
    _pending: list[int] = field(default_factory=list)
    _need: int = 0
    _head: tuple[int, Tag, int] | None = None

    def feed(self, word: int) -> Record | None:
        """Take one word; the record it completes, if any."""
        index = self.words
        self.words += 1
        if self._head is None:
            tag_value, backend, n, seq = word >> 24, (word >> 20) & 0xF, (word >> 16) & 0xF, word
            try:
                tag = Tag(tag_value)
            except ValueError:
                raise TraceFormatError(
                    f"word {index} ({word:#010x}): unknown record tag {tag_value:#x}"
                ) from None
            if n != len(PAYLOAD[tag]):
                raise TraceFormatError(
                    f"word {index} ({word:#010x}): {tag.name} with {n} payload words, "
                    f"expected {len(PAYLOAD[tag])}"
                )
            if backend not in ((BACKEND_SW, BACKEND_HW) if tag in _HEAP_TAGS else (0,)):
                raise TraceFormatError(
                    f"word {index} ({word:#010x}): back end {backend} in a {tag.name} record"
                )
            if seq & 0xFFFF != self.records & 0xFFFF:
                raise TraceFormatError(
                    f"word {index} ({word:#010x}): record number {seq & 0xFFFF}, expected "
                    f"{self.records & 0xFFFF}"
                )
            self._head = (index, tag, backend)
            self._pending = []
            self._need = n
        else:
            self._pending.append(word)
        if len(self._pending) < self._need:
            return None
        start, tag, backend = self._head
        self._head = None
        record = Record(
            self.records, start, tag, backend, dict(zip(PAYLOAD[tag], self._pending, strict=True))
        )
        self.records += 1
        return record

    @property
    def partial(self) -> bool:
        """A record has begun and not ended."""
        return self._head is not None


def decode(words: Iterable[int]) -> list[Record]:
    """Every record of ``words`` (raises :class:`TraceFormatError`, also for a cut record)."""
    decoder = RecordDecoder()
    out = [r for w in words if (r := decoder.feed(w)) is not None]
    if decoder.partial:
        raise TraceFormatError(f"the trace ends inside record {decoder.records}")
    return out


# -- checking ---------------------------------------------------------------------------------


def model_alloc_call(model: GranuleAllocator, tag: Tag, rec: Record) -> tuple[int, int]:
    """What the driver must answer for an allocator record: (result, status).

    ``result`` is the pointer for ALLOC/ALLOC_ALIGN (0 for NULL) and the return code for
    FREE/RESERVE (the status for INFO: every gran_info returns GRAN_OK).
    """
    try:
        if tag in (Tag.ALLOC, Tag.ALLOC_ALIGN):
            align = rec["align"] if tag == Tag.ALLOC_ALIGN and rec["align"] else None
            value = model.alloc(rec["size"], align)
            return (0, GRAN_ENOSPC) if value is None else (value, GRAN_OK)
        if tag == Tag.FREE:
            model.free(rec["addr"], rec["size"])
        else:
            model.reserve(rec["addr"], rec["size"])
        return GRAN_OK, GRAN_OK
    except MemoryManagerError as exc:
        code = int(status_of(exc).value)
        return (0 if tag in (Tag.ALLOC, Tag.ALLOC_ALIGN) else code), code


def model_translation(memory: PhysicalMemory, satp: int, rec: Record) -> tuple[int, int | None]:
    """(0, 34-bit PA) or (1 + fault cause, None) for an XLATE record under ``satp``."""
    access = rec["access"]
    try:
        pa = translate_sv32(
            memory,
            satp,
            rec["va"],
            Access(access & 3),
            Priv(rec["priv"] & 1),
            sum=bool(access & 0x08),
            mxr=bool(access & 0x10),
        )
    except TranslationFault as exc:
        return 1 + int(exc.cause), None  # type: ignore[attr-defined]
    return 0, pa


class _Checker:
    def __init__(self, config: SocConfig, params: WorkloadParams) -> None:
        self.config = config
        self.params = params
        self.models = {BACKEND_HW: hw_model(config), BACKEND_SW: params.sw_model()}
        self.memory = PhysicalMemory(config.ram_size)
        self.satp = 0
        self.mismatches = 0
        self.described: list[str] = []
        self.ops: Counter[str] = Counter()
        self.outcomes: dict[str, Counter[str]] = {"hw": Counter(), "sw": Counter()}
        self.translations = 0
        self.faults: Counter[str] = Counter()
        self.flushes: Counter[str] = Counter()
        self.pte_writes = 0
        self.satp_writes = 0
        self.phases: dict[str, int] = {}
        self.end: Record | None = None
        self.begin: Record | None = None
        self.inits: set[int] = set()

    def mismatch(self, rec: Record | None, what: str) -> None:
        self.mismatches += 1
        if len(self.described) < DESCRIBED:
            where = "trace" if rec is None else f"record {rec.index} (word {rec.word})"
            self.described.append(f"{where}: {what}")

    def compare(self, rec: Record, got: dict[str, int], want: dict[str, int]) -> None:
        if got != want:
            diff = ", ".join(
                f"{k} {got[k]:#x} (model {want[k]:#x})" for k in want if got[k] != want[k]
            )
            self.mismatch(rec, f"{rec.describe()}: {diff}")

    def record(self, rec: Record) -> None:
        tag = rec.tag
        if self.end is not None:
            self.mismatch(rec, f"{rec.describe()} after the END record")
        if tag in ALLOCATOR_TAGS:
            self.allocator(rec)
        elif tag == Tag.XLATE:
            self.translate(rec)
        elif tag == Tag.PTE:
            self.pte_writes += 1
            addr, value = rec["addr"], rec["value"]
            if addr & 3 or addr + 4 > self.memory.size:
                self.mismatch(rec, f"PTE write at {addr:#x}, outside RAM or unaligned")
            else:
                self.memory.write_u32(addr, value)
        elif tag == Tag.SATP:
            self.satp_writes += 1
            self.satp = rec["satp"]
        elif tag == Tag.FLUSH:
            self.flushes[FLUSH_FORMS.get(rec["form"], str(rec["form"]))] += 1
        elif tag == Tag.PHASE:
            self.phases[PHASES.get(rec["phase"], str(rec["phase"]))] = (
                rec["cycles_hi"] << 32 | rec["cycles_lo"]
            )
        elif tag == Tag.BEGIN:
            self.check_begin(rec)
        elif tag == Tag.INIT:
            self.check_init(rec)
        else:
            self.end = rec
            if rec["records"] != rec.index:
                self.mismatch(
                    rec, f"END counts {rec['records']} records, the trace has {rec.index}"
                )
            faults = sum(v for k, v in self.faults.items() if k != "ok")
            if rec["faults"] != faults:
                self.mismatch(rec, f"the MMU counted {rec['faults']} faults, the model {faults}")

    def check_begin(self, rec: Record) -> None:
        p = self.params
        want = {
            "magic": MAGIC,
            "seed": p.seed,
            "ops": p.ops,
            "translations": p.translations,
            "sw_start": p.sw_start,
            "sw_size": p.sw_size,
            "sw_log2gran": p.sw_log2gran,
            "sw_log2align": p.sw_log2align,
        }
        if rec.index != 0:
            self.mismatch(rec, "BEGIN is not the first record")
        self.begin = rec
        self.compare(rec, rec.values, want)

    def check_init(self, rec: Record) -> None:
        model = self.models.get(rec.backend)
        if model is None:
            self.mismatch(rec, f"{rec.describe()}: INIT without a back end")
            return
        self.inits.add(rec.backend)
        want = {
            "ok": 1,
            "heapstart": model.heapstart,
            "ngranules": model.ngranules,
            "log2gran": model.log2gran,
        }
        self.compare(rec, rec.values, want)

    def allocator(self, rec: Record) -> None:
        model = self.models.get(rec.backend)
        name = _BACKEND_NAMES.get(rec.backend)
        if model is None or name is None or rec.backend not in self.inits:
            self.mismatch(rec, f"{rec.describe()}: no initialised back end")
            return
        self.ops[name] += 1
        tag = rec.tag
        if tag == Tag.INFO:
            info = model.info()
            want = {
                "ret": GRAN_OK,
                "status": GRAN_OK,
                "log2gran": info.log2gran,
                "ngranules": info.ngranules,
                "nfree": info.nfree,
                "mxfree": info.mxfree,
            }
            self.outcomes[name]["info"] += 1
            self.compare(rec, rec.values, want)
            return
        if tag == Tag.ALLOC and rec["align"] != 0:
            self.mismatch(rec, f"{rec.describe()}: gran_alloc with an alignment")
        result, status = model_alloc_call(model, tag, rec)
        key = "result" if tag in (Tag.ALLOC, Tag.ALLOC_ALIGN) else "ret"
        kind = tag.name.lower().replace("_align", "")
        self.outcomes[name][f"{kind} {_status_name(status)}"] += 1
        self.compare(
            rec,
            {key: rec[key], "status": rec["status"]},
            {key: result, "status": status},
        )

    def translate(self, rec: Record) -> None:
        self.translations += 1
        want_ret, want_pa = model_translation(self.memory, self.satp, rec)
        got_ret = rec["ret"]
        self.faults["ok" if want_ret == 0 else _cause_name(want_ret - 1)] += 1
        if got_ret != want_ret:
            self.mismatch(
                rec,
                f"{rec.describe()} under satp {self.satp:#010x}: return {got_ret} "
                f"({_ret_name(got_ret)}), model {want_ret} ({_ret_name(want_ret)})",
            )
        elif want_pa is not None:
            got_pa = (rec["pah"] & 3) << 32 | rec["pa"]
            if got_pa != want_pa or rec["pah"] > 3:
                self.mismatch(
                    rec,
                    f"{rec.describe()} under satp {self.satp:#010x}: PA {got_pa:#x}, "
                    f"model {want_pa:#x}",
                )


def _status_name(code: int) -> str:
    names = ["ok", "nospace", "badcount", "badaddr", "badalign", "notinuse", "inuse", "badop"]
    return names[code] if 0 <= code < len(names) else str(code)


def _cause_name(cause: int) -> str:
    from mmaccel.sw.sv32 import FaultCause

    try:
        return FaultCause(cause).name.lower()
    except ValueError:
        return f"cause {cause}"


def _ret_name(ret: int) -> str:
    return "ok" if ret == 0 else _cause_name(ret - 1)


def check_records(
    records: Sequence[Record], config: SocConfig, params: WorkloadParams
) -> dict[str, Any]:
    """Check decoded records against the model; the summary (see :func:`check_run`)."""
    checker = _Checker(config, params)
    for rec in records:
        checker.record(rec)
    return _summary(checker)


def _summary(checker: _Checker) -> dict[str, Any]:
    if checker.begin is None:
        checker.mismatch(None, "no BEGIN record")
    if checker.end is None:
        checker.mismatch(None, "no END record: the trace is cut short")
    for backend, name in _BACKEND_NAMES.items():
        if backend not in checker.inits:
            checker.mismatch(None, f"no INIT record of the {name} back end")
    ph = checker.phases
    cycles = {
        name: ph[nxt] - ph[name]
        for name, nxt in (("hw", "sw"), ("sw", "mmu"), ("mmu", "done"))
        if name in ph and nxt in ph
    }
    end = checker.end
    return {
        "ops": {"hw": checker.ops["hw"], "sw": checker.ops["sw"]},
        "outcomes": {k: dict(sorted(v.items())) for k, v in checker.outcomes.items()},
        "translations": checker.translations,
        "faults": dict(sorted(checker.faults.items())),
        "pte_writes": checker.pte_writes,
        "satp_writes": checker.satp_writes,
        "flushes": dict(sorted(checker.flushes.items())),
        "tlb": (
            {k: end[k] for k in ("hits", "misses", "walks", "faults")} if end is not None else {}
        ),
        "phase_cycles": cycles,
        "mismatches": checker.mismatches,
        "first_mismatches": checker.described,
    }


def check_run(words: Sequence[int], config: SocConfig, params: WorkloadParams) -> dict[str, Any]:
    """Decode and check a run's trace words.

    Returns a summary dict: ``ops`` ({"hw", "sw"}: allocator calls checked), ``outcomes`` (per
    back end, call and status), ``translations``, ``faults`` (model outcome counts: "ok" and
    the fault causes), ``pte_writes``, ``satp_writes``, ``flushes`` (per form), ``tlb`` (the
    MMU's counters at the end), ``phase_cycles`` (CPU cycles of the hw, sw and mmu parts,
    tracing included), ``mismatches`` and ``first_mismatches`` (up to five, each naming the
    record's index, its word index, the traced values and the model's). A trace that stops
    decoding counts one mismatch at the word where it breaks.
    """
    checker = _Checker(config, params)
    decoder = RecordDecoder()
    try:
        for word in words:
            rec = decoder.feed(word)
            if rec is not None:
                checker.record(rec)
        if decoder.partial:
            raise TraceFormatError(f"the trace ends inside record {decoder.records}")
    except TraceFormatError as error:
        checker.mismatch(None, f"malformed trace: {error}")
    summary = _summary(checker)
    summary["trace_words"] = len(words)
    return summary


def run_workload(
    config: SocConfig | None = None,
    params: WorkloadParams | None = None,
    *,
    progress: Callable[[int, int, int], None] | None = None,
    max_cycles: int | None = None,
) -> dict[str, Any]:
    """Build and run the workload on the simulated SoC and check every record.

    ``progress(done, total, 0)`` is called as trace words arrive (``done`` counts allocator
    calls and translations the CPU has made). Returns :func:`check_run`'s summary plus
    ``exit_code``, ``cpu_cycles``, ``seconds`` (simulation) and ``build_seconds``; a non-zero
    exit code counts as a mismatch.

    Raises
    ------
    FirmwareTimeout
        The firmware did not finish within ``max_cycles`` (default: an estimate from the
        counts, at least :data:`~mmaccel.verif.soc.sim.DEFAULT_MAX_CYCLES`).
    """
    config = config or SocConfig()
    params = params or WorkloadParams()
    t0 = time.monotonic()
    image = workload_image(config, params)
    build_seconds = time.monotonic() - t0
    total = 2 * params.ops + params.translations
    if max_cycles is None:
        # about 1,500 cycles per call on the cached variants; min (no caches, no M) about 16x more
        slow = {"min": 20, "lite": 3}.get(config.variant, 1)
        calls = 2 * params.ops + params.translations + 500
        max_cycles = max(DEFAULT_MAX_CYCLES, 4000 * slow * calls)
    on_word = None
    if progress is not None:
        decoder = RecordDecoder()
        done = [0]
        broken = [False]

        def on_word(word: int) -> None:
            if broken[0]:
                return
            try:
                rec = decoder.feed(word)
            except TraceFormatError:
                broken[0] = True
                return
            if rec is not None and (rec.tag in ALLOCATOR_TAGS or rec.tag == Tag.XLATE):
                done[0] += 1
                if done[0] % 256 == 0:
                    progress(min(done[0], total), total, 0)

    result: FirmwareResult = run_firmware(
        image, config=config, max_cycles=max_cycles, on_word=on_word
    )
    summary = check_run(result.trace, config, params)
    if result.exit_code != 0:
        summary["mismatches"] += 1
        if len(summary["first_mismatches"]) < DESCRIBED:
            summary["first_mismatches"].append(f"firmware exit code {result.exit_code}, not 0")
    summary.update(
        exit_code=result.exit_code,
        cpu_cycles=result.cycles,
        seconds=round(result.seconds, 2),
        build_seconds=round(build_seconds, 2),
    )
    return summary


def _iter_words(records: Iterable[Record]) -> Iterator[int]:
    """The trace words of ``records`` (for tests that build traces by hand)."""
    for rec in records:
        n = len(PAYLOAD[rec.tag])
        yield rec.tag << 24 | rec.backend << 20 | n << 16 | (rec.index & 0xFFFF)
        yield from (rec.values[name] for name in PAYLOAD[rec.tag])
