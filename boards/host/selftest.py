"""``mmaccel hw selftest``: a randomized check of a board against the model.

:func:`selftest` reads the board's configuration and runs :func:`gfa_selftest` (random
alloc/free/reserve/info on the board's allocator and the model's, results and exception
classes compared) and :func:`mmu_selftest` (random page tables built by the model's address
spaces, translated by the board and by :func:`~mmaccel.sw.sv32.translate_sv32`). Both are
deterministic for a given seed and board configuration.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from mmaccel.sw.errors import MemoryManagerError, TranslationFault
from mmaccel.sw.gran import GranuleAllocator, PageAllocator
from mmaccel.sw.memory import PhysicalMemory
from mmaccel.sw.sv32 import (
    MEGAPAGE_SIZE,
    PAGE_SIZE,
    Access,
    Priv,
    PteFlags,
    make_pte,
    translate_sv32,
)
from mmaccel.sw.vm import AddressSpace

from .board import BoardInfo, read_board_info
from .gfa import SerialGranuleAllocator
from .link import BridgeLink, SerialPort
from .mmu import SerialMmu

__all__ = ["Log", "gfa_selftest", "mmu_selftest", "selftest"]

Log = Callable[[str], None]

#: Leaf permissions the MMU check maps with (V is added by the model; some lack A or D on
#: purpose, which the MMU must answer with page faults).
_PERMS = (
    PteFlags.R | PteFlags.A,
    PteFlags.R | PteFlags.W | PteFlags.A | PteFlags.D,
    PteFlags.R | PteFlags.W | PteFlags.A,
    PteFlags.X | PteFlags.A,
    PteFlags.R | PteFlags.X | PteFlags.A,
    PteFlags.R | PteFlags.U | PteFlags.A,
    PteFlags.R | PteFlags.W | PteFlags.U | PteFlags.A | PteFlags.D,
    PteFlags.X | PteFlags.U | PteFlags.A,
    PteFlags.R | PteFlags.W | PteFlags.X | PteFlags.A | PteFlags.D,
    PteFlags.R,
)


def _expected(
    memory: PhysicalMemory, satp: int, va: int, access: Access, priv: Priv, sum_: bool, mxr: bool
) -> tuple[str, int]:
    try:
        return ("pa", translate_sv32(memory, satp, va, access, priv, sum=sum_, mxr=mxr))
    except TranslationFault as fault:
        return ("fault", int(getattr(fault, "cause", -1)))


def _observed(
    mmu: SerialMmu, va: int, access: Access, priv: Priv, sum_: bool, mxr: bool
) -> tuple[str, int]:
    try:
        return ("pa", mmu.translate(va, access, priv, sum=sum_, mxr=mxr))
    except TranslationFault as fault:
        return ("fault", int(getattr(fault, "cause", -1)))


def mmu_selftest(
    link: BridgeLink, info: BoardInfo, rng: random.Random, translations: int, log: Log
) -> tuple[int, int]:
    """Random page tables from the model's address spaces, translated by the board and the model.

    Address spaces with distinct ASIDs get 4 KiB pages and megapages with assorted permissions
    (some without A or D); raw PTEs that must fault are planted in spare root slots (W without
    R, a misaligned megapage, a pointer to a table outside the page-table memory, a non-leaf
    PTE at level 0). Translations switch between spaces through satp (no flush: the TLB is
    ASID-tagged) and use random access types, privileges, SUM and MXR. Every so often a
    mapping's permissions or frame change, the tables are reloaded and a random flush form
    that covers the change is issued. Returns (checks, mismatches).
    """
    memory = PhysicalMemory(info.ptmem_bytes)
    pages = PageAllocator(0, info.ptmem_bytes)
    mmu = SerialMmu(link, info.ptmem_bytes)
    nspaces = max(1, min(3, pages.npages // 3))
    spaces = [AddressSpace(memory, pages, asid) for asid in rng.sample(range(1, 512), nspaces)]
    leaves: dict[int, list[tuple[int, int]]] = {s.asid: [] for s in spaces}
    for space in spaces:
        slot = rng.randrange(0x100)  # 4 KiB pages share one level-0 table per space
        for _ in range(rng.randint(4, 10)):
            va = slot << 22 | rng.randrange(1024) << 12
            try:
                space.map(
                    va, rng.randrange(1 << 22) << 12, PAGE_SIZE, rng.choice(_PERMS), megapage=False
                )
            except MemoryManagerError:
                continue
            leaves[space.asid].append((va, PAGE_SIZE))
        mslot = rng.randrange(0x100, 0x200)
        try:
            space.map(
                mslot << 22,
                rng.randrange(1 << 12) << 22,
                MEGAPAGE_SIZE,
                rng.choice(_PERMS),
                megapage=True,
            )
            leaves[space.asid].append((mslot << 22, MEGAPAGE_SIZE))
        except MemoryManagerError:
            pass
    # Planted faults in root slots 0x200.. (never used by map above).
    planted: list[int] = []
    first = spaces[0]
    beyond = (info.ptmem_bytes >> 12) + 3  # a page outside the page-table memory
    raw = [
        make_pte(5, PteFlags.W | PteFlags.A),  # W without R
        make_pte(0x401, PteFlags.R | PteFlags.A),  # misaligned megapage (PPN[0] = 1)
        make_pte(beyond, 0),  # table outside memory: the level-0 read is an access fault
    ]
    for i, pte in enumerate(raw):
        memory.write_u32(first.root + 4 * (0x200 + i), pte | PteFlags.V)
        planted.append((0x200 + i) << 22)
    small = sorted({m.va >> 22 for m in first.mappings() if m.size == PAGE_SIZE})
    if small:  # a non-leaf PTE at level 0, in a spare entry of the level-0 table
        slot_of = small[0]
        table = (memory.read_u32(first.root + 4 * slot_of) >> 10) << 12
        for index in range(1024):
            if memory.read_u32(table + 4 * index) == 0:
                memory.write_u32(table + 4 * index, make_pte(7, PteFlags.V))
                planted.append(slot_of << 22 | index << 12)
                break

    def sync() -> int:
        used = [p << 12 for p in range(pages.npages) if not pages.gran.is_free(p)]
        return mmu.load(memory, pages=used)

    mmu.clear_memory()
    written = sync()
    log(
        f"mmu: {nspaces} address spaces, {sum(map(len, leaves.values()))} leaves, "
        f"{written} page-table words loaded"
    )
    checks = mismatches = 0
    current = None
    for i in range(translations):
        space = rng.choice(spaces)
        if space is not current:
            mmu.satp = space.satp
            current = space
        r = rng.random()
        if r < 0.6 and leaves[space.asid]:
            base, size = rng.choice(leaves[space.asid])
            va = base + rng.randrange(size)
        elif r < 0.75 and space is first:
            va = rng.choice(planted) + rng.randrange(PAGE_SIZE)
        else:
            va = rng.getrandbits(32)
        access = rng.choice(list(Access))
        priv = rng.choice(list(Priv))
        sum_, mxr = rng.random() < 0.3, rng.random() < 0.3
        want = _expected(memory, space.satp, va, access, priv, sum_, mxr)
        got = _observed(mmu, va, access, priv, sum_, mxr)
        checks += 1
        if want != got:
            mismatches += 1
            log(
                f"mmu mismatch: asid {space.asid} va {va:#010x} {access.name} {priv.name} "
                f"sum={sum_} mxr={mxr}: model {want}, board {got}"
            )
        if i % 25 == 24:
            mismatches += _mutate(rng, memory, spaces, leaves, mmu, sync)
    return checks, mismatches


def _mutate(
    rng: random.Random,
    memory: PhysicalMemory,
    spaces: list[AddressSpace],
    leaves: dict[int, list[tuple[int, int]]],
    mmu: SerialMmu,
    sync: Callable[[], int],
) -> int:
    """Change one mapping (permissions or frame), reload the tables, flush what covers it."""
    space = rng.choice(spaces)
    if not leaves[space.asid]:
        return 0
    va, size = rng.choice(leaves[space.asid])
    perms = rng.choice(_PERMS)
    try:
        if rng.random() < 0.5:
            space.protect(va, size, perms)
        else:
            space.unmap(va, size)
            frame = (
                rng.randrange(1 << 22) << 12 if size == PAGE_SIZE else rng.randrange(1 << 12) << 22
            )
            space.map(va, frame, size, perms, megapage=size == MEGAPAGE_SIZE)
    except MemoryManagerError:
        pass  # the model refused (no page for a table): what it did do is still checked
    sync()
    form = rng.randrange(4)
    if form == 0:
        mmu.flush()
    elif form == 1:
        mmu.flush(asid=space.asid)
    elif form == 2:
        mmu.flush(va=va)
    else:
        mmu.flush(va=va, asid=space.asid)
    return 0


def selftest(
    port: SerialPort,
    *,
    seed: int = 1,
    ops: int = 500,
    translations: int = 300,
    log: Log | None = None,
) -> dict[str, int]:
    """``mmaccel hw selftest``: a randomized check of a board against the model.

    Reads the board's configuration, then runs :func:`gfa_selftest` (if the board has the
    allocator) and :func:`mmu_selftest` (if it has the MMU and a page-table memory of at least
    two pages). Deterministic for a given ``seed`` and board configuration.

    Returns
    -------
    dict
        ``checks`` and ``mismatches`` (0 on a good board), and the board's sizes.

    Raises
    ------
    BoardLinkError
        The board does not answer, or is not an mmaccel board.
    """
    say = log or (lambda text: None)
    rng = random.Random(seed)
    link = BridgeLink(port)
    link.ping()
    info = read_board_info(link)
    say(
        f"board: {info.granules} granules of {1 << info.log2gran} bytes at {info.gfa_base:#x}, "
        f"{info.tlb_entries} TLB entries, {info.ptmem_bytes} bytes of page-table memory, "
        f"{info.clk_hz / 1e6:g} MHz"
    )
    checks = mismatches = 0
    if info.has_gfa and ops > 0:
        c, mm = gfa_selftest(link, info, rng, ops, say)
        checks, mismatches = checks + c, mismatches + mm
    if info.has_mmu and info.ptmem_bytes >= 2 * PAGE_SIZE and translations > 0:
        c, mm = mmu_selftest(link, info, rng, translations, say)
        checks, mismatches = checks + c, mismatches + mm
    return {
        "checks": checks,
        "mismatches": mismatches,
        "granules": info.granules,
        "tlb_entries": info.tlb_entries,
        "ptmem_bytes": info.ptmem_bytes,
        "reads": link.reads,
        "writes": link.writes,
    }


def gfa_selftest(
    link: BridgeLink, info: BoardInfo, rng: random.Random, ops: int, log: Log
) -> tuple[int, int]:
    """Random alloc/free/reserve/info on board and model; returns (checks, mismatches).

    The board's allocator is cleared first. Operations: allocations of random sizes (some too
    large, to reach NO_SPACE) with random alignments, frees of live blocks (and now and then a
    double free, a misaligned or an out-of-heap free), reservations of random ranges (some in
    use), and INFO. Every result, and every exception class, is compared with the model's;
    the whole allocation table is compared every 64 operations and at the end.
    """
    hw = SerialGranuleAllocator(link)
    model = GranuleAllocator(hw.heapstart, hw.ngranules << hw.log2gran, hw.log2gran)
    hw.clear()
    gsize = 1 << hw.log2gran
    live: list[tuple[int, int]] = []
    checks = mismatches = 0

    def outcome(call: Callable[..., object], *args: object) -> tuple[str, object]:
        try:
            return ("ok", call(*args))
        except MemoryManagerError as error:
            return ("error", type(error).__name__)

    def compare(what: str, want: tuple[str, object], got: tuple[str, object]) -> None:
        nonlocal checks, mismatches
        checks += 1
        if want != got:
            mismatches += 1
            log(f"gfa mismatch: {what}: model {want}, board {got}")

    def compare_tables() -> None:
        compare("allocation table", ("ok", model.table()), ("ok", hw.table()))

    for i in range(ops):
        r = rng.random()
        if r < 0.45 or not live:
            big = rng.random() < 0.1
            limit = hw.ngranules if big else max(1, hw.ngranules // 16)
            size = rng.randint(1, limit * gsize)
            align = rng.choice([None, None, gsize, 2 * gsize, 4 * gsize, 16 * gsize, 3 * gsize])
            want = outcome(model.alloc, size, align)
            got = outcome(hw.alloc, size, align)
            compare(f"alloc({size:#x}, {align})", want, got)
            if want[0] == "ok" and want[1] is not None:
                live.append((int(want[1]), size))  # type: ignore[call-overload]
        elif r < 0.8:
            k = rng.randrange(len(live))
            addr, size = live[k]
            oddity = rng.random()
            if oddity < 0.04:  # free of a block already freed (or never allocated)
                addr, size = rng.choice(live)
                model_first = outcome(model.free, addr, size)
                hw_first = outcome(hw.free, addr, size)
                compare(f"free({addr:#x}, {size:#x})", model_first, hw_first)
                live = [b for b in live if b != (addr, size)]
            elif oddity < 0.06:
                addr += 1 + rng.randrange(gsize - 1) if gsize > 1 else 0
            elif oddity < 0.08:
                addr = model.heapend + gsize * rng.randrange(4)
            want = outcome(model.free, addr, size)
            got = outcome(hw.free, addr, size)
            compare(f"free({addr:#x}, {size:#x})", want, got)
            if want[0] == "ok":
                live = [b for b in live if b[0] != addr]
        elif r < 0.9:
            first = rng.randrange(hw.ngranules + 2)
            n = rng.randint(1, max(1, hw.ngranules // 32))
            addr = (
                hw.heapstart + first * gsize + (rng.randrange(gsize) if rng.random() < 0.2 else 0)
            )
            size = n * gsize - rng.randrange(gsize)
            want = outcome(model.reserve, addr, size)
            got = outcome(hw.reserve, addr, size)
            compare(f"reserve({addr:#x}, {size:#x})", want, got)
        else:
            compare("info()", outcome(model.info), outcome(hw.info))
        if i % 64 == 63:
            compare_tables()
    compare_tables()
    log(f"gfa: {ops} operations, {len(live)} blocks live, {model.nfree} granules free")
    return checks, mismatches
