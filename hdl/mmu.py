"""Sv32 memory-management unit: an ASID-tagged TLB, a page-table walker and the block joining them.

The MMU translates 32-bit virtual addresses to 34-bit physical addresses with RISC-V Sv32 page
tables (the format the model in ``mmaccel.sw.vm`` builds), and agrees with the model's
``translate_sv32()`` on every access: the same physical address, or the same fault cause.

Blocks
------
:class:`Tlb`
    Fully associative, 4 to 64 entries, each tagged with a 9-bit ASID and the global bit, holding
    4 KiB pages and 4 MiB megapages together. Bit pseudo-LRU replacement, invalid entries first.
    sfence.vma's four flush forms in one cycle.
:class:`PageTableWalker`
    Reads at most two PTEs through a Wishbone master (classic cycles, 32-bit words, word
    address = byte address / 4) and classifies the result.
:class:`Mmu`
    Request and response streams, the TLB, the walker, satp, flush commands and event counters.

No hardware A/D update: a leaf with A = 0, or a store to a leaf with D = 0, is a page fault, as
the privileged specification allows (software sets A and D when it builds the tables).
"""

import functools
import operator
from collections.abc import Callable
from typing import Any

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, unsigned
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out

from .lut import lut4, lut_cell
from .wishbone import WishboneSignature

__all__ = [
    "MAX_ENTRIES",
    "MIN_ENTRIES",
    "Access",
    "FaultCause",
    "FlushCommand",
    "Mmu",
    "PageTableWalker",
    "Priv",
    "Pte",
    "Satp",
    "Tlb",
    "TlbEntry",
    "TranslationRequest",
    "TranslationResponse",
    "WalkResult",
    "fault_cause",
]

#: Fewest and most TLB entries the :class:`Tlb` accepts.
MIN_ENTRIES = 4
MAX_ENTRIES = 64


class Access(enum.Enum, shape=2):  # type: ignore[call-arg]
    """Access type of a translation request (same values as ``mmaccel.sw.vm.Access``)."""

    LOAD = 0
    STORE = 1
    FETCH = 2


class Priv(enum.Enum, shape=1):  # type: ignore[call-arg]
    """Privilege of a translation request (same values as ``mmaccel.sw.vm.Priv``)."""

    U = 0
    S = 1


class FaultCause(enum.Enum, shape=4):  # type: ignore[call-arg]
    """RISC-V mcause value of a translation fault (same values as ``mmaccel.sw.vm.FaultCause``)."""

    INSTRUCTION_ACCESS_FAULT = 1
    LOAD_ACCESS_FAULT = 5
    STORE_ACCESS_FAULT = 7
    INSTRUCTION_PAGE_FAULT = 12
    LOAD_PAGE_FAULT = 13
    STORE_PAGE_FAULT = 15


def fault_cause(access: Access | int, *, page: bool) -> FaultCause:
    """The fault cause of an access fault (``page=False``) or page fault (``page=True``)."""
    kind = Access(access).name
    prefix = "INSTRUCTION" if kind == "FETCH" else kind
    return FaultCause.__members__[f"{prefix}_{'PAGE' if page else 'ACCESS'}_FAULT"]


#: One translation: the virtual address, the access type, the privilege, SUM and MXR.
TranslationRequest = data.StructLayout(
    {
        "va": unsigned(32),
        "access": Access,
        "priv": Priv,
        "sum": unsigned(1),
        "mxr": unsigned(1),
    }
)


#: The answer to one ``TranslationRequest``: a physical address or a fault cause.
#:
#: ``pa`` is meaningful when ``fault`` is 0; when it is 1, ``cause`` holds a
#: :class:`FaultCause` value and ``pa`` is 0 (``cause`` is 0 when there is no fault).
TranslationResponse = data.StructLayout(
    {
        "pa": unsigned(34),
        "fault": unsigned(1),
        "cause": unsigned(4),
    }
)


#: sfence.vma's operands: ``use_va`` / ``use_asid`` say whether rs1 / rs2 were given.
#:
#: ==========  ============  ===============================================================
#: use_va      use_asid      entries invalidated
#: ==========  ============  ===============================================================
#: 0           0             all
#: 0           1             the non-global entries of ``asid``
#: 1           0             the entries mapping ``va``, in every ASID, global ones too
#: 1           1             the non-global entries of ``asid`` mapping ``va``
#: ==========  ============  ===============================================================
FlushCommand = data.StructLayout(
    {
        "va": unsigned(32),
        "asid": unsigned(9),
        "use_va": unsigned(1),
        "use_asid": unsigned(1),
    }
)


#: The Sv32 satp register: root page-table PPN, ASID, MODE (1 = Sv32, 0 = bare).
Satp = data.StructLayout(
    {
        "ppn": unsigned(22),
        "asid": unsigned(9),
        "mode": unsigned(1),
    }
)


#: An Sv32 page-table entry.
Pte = data.StructLayout(
    {
        "v": unsigned(1),
        "r": unsigned(1),
        "w": unsigned(1),
        "x": unsigned(1),
        "u": unsigned(1),
        "g": unsigned(1),
        "a": unsigned(1),
        "d": unsigned(1),
        "rsw": unsigned(2),
        "ppn0": unsigned(10),
        "ppn1": unsigned(12),
    }
)


#: One TLB entry: the tag (VPN, ASID, global, size) and the leaf's PPN and permissions.
#:
#: For a megapage (``mega`` = 1) ``vpn0`` is ignored and only ``ppn``'s top 12 bits are used.
TlbEntry = data.StructLayout(
    {
        "valid": unsigned(1),
        "vpn0": unsigned(10),
        "vpn1": unsigned(10),
        "mega": unsigned(1),
        "asid": unsigned(9),
        "g": unsigned(1),
        "ppn": unsigned(22),
        "r": unsigned(1),
        "w": unsigned(1),
        "x": unsigned(1),
        "u": unsigned(1),
        "a": unsigned(1),
        "d": unsigned(1),
    }
)


#: What the walker found: the leaf PTE, whether it is a megapage, and any fault.
WalkResult = data.StructLayout(
    {
        "pte": Pte,
        "mega": unsigned(1),
        # the PTE read ended with a bus error
        "access_fault": unsigned(1),
        # invalid, reserved, non-leaf at level 0, misaligned megapage, or A = 0
        "page_fault": unsigned(1),
    }
)


def _check_entries(entries: object) -> int:
    if not isinstance(entries, int) or isinstance(entries, bool):
        raise TypeError(f"entries must be an int, not {entries!r}")
    if not MIN_ENTRIES <= entries <= MAX_ENTRIES:
        raise ValueError(f"entries must be between {MIN_ENTRIES} and {MAX_ENTRIES}, not {entries}")
    return entries


def _first_set(m: Module, bits: list[Signal], name: str) -> tuple[Signal, Signal]:
    """Log-depth priority encoder: (any bit set, index of the lowest set bit)."""
    width = max(1, (len(bits) - 1).bit_length())
    level: list[tuple[Signal, Signal]] = []
    for i, b in enumerate(bits):
        idx = Signal(width, name=f"{name}_i{i}")
        m.d.comb += idx.eq(i)
        level.append((b, idx))
    depth = 0
    while len(level) > 1:
        nxt: list[tuple[Signal, Signal]] = []
        for j in range(0, len(level) - 1, 2):
            (av, ai), (bv, bi) = level[j], level[j + 1]
            v = Signal(name=f"{name}_v{depth}_{j // 2}")
            i = Signal(width, name=f"{name}_x{depth}_{j // 2}")
            m.d.comb += [v.eq(av | bv), i.eq(Mux(av, ai, bi))]
            nxt.append((v, i))
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
        depth += 1
    return level[0]


class Tlb(wiring.Component):
    """Fully associative, ASID-tagged TLB for Sv32 4 KiB pages and 4 MiB megapages.

    Parameters
    ----------
    entries : int
        Number of entries, 4 to 64 (any number in that range).

    Members
    -------
    lookup_vpn : In(20)
        VPN (va[31:12]) to look up; combinational.
    lookup_asid : In(9)
        Current ASID; an entry matches when it is global or carries this ASID.
    touch : In(entries)
        One-hot entry to mark as recently used (pseudo-LRU), applied at the clock edge (a
        fill marks its own entry one cycle after the fill).
    fill : In(1)
        Write ``fill_entry`` into the victim at the clock edge: the lowest invalid entry, or
        else the lowest entry not recently used, as the entries stood one cycle earlier.
        Ignored in a cycle with ``flush``, and lost if it lands on an entry that the previous
        cycle's flush covered (the MMU never fills in either cycle).
    fill_entry : In(TlbEntry)
    flush : In(1)
        Apply ``flush_cmd`` at the clock edge (see ``FlushCommand``): from the next cycle on
        no covered entry matches or counts as valid (internally the covered entries are
        registered and their valid bits clear one cycle later). In the next cycle no entry
        matches at all: the flush clears every live bit, and the registered covered set
        rebuilds them (so the VA/ASID compare never feeds the live bits).
    flush_cmd : In(FlushCommand)
    valid : Out(entries)
        Valid bit of every entry (for tests and status).
    fast_hit : Out(1)
        Some valid entry matches ``lookup_*``, through a shallow lookup path: each entry's
        "valid, not flushed and global or of ``lookup_asid``" bit is precomputed one cycle
        ahead (from this cycle's ``lookup_asid``, fill and flush) and registered, so the lookup
        compares only the VPN.
        0 in a cycle whose ``lookup_asid`` differs from the previous cycle's (the precomputed
        bits belong to the old ASID): such a lookup misses. 0 in a cycle with ``flush``.
    fast_onehot : Out(entries)
        Which entries matched (not gated by the ASID change; use it
        only with ``fast_hit``).
    table : Out(data.ArrayLayout(TlbEntry, entries))
        Every entry as stored (valid bits not masked by a flush; for checks made per entry
        beside the lookup, such as :class:`Mmu`'s permissions).
    sel : In(entries)
        Entries to read out on ``sel_entry`` (one-hot: normally a lookup's registered
        ``fast_onehot``).
    sel_entry : Out(TlbEntry)
        The entry ``sel`` selects (the OR of the selected entries; a lookup's matching entry is
        unique if the page tables are consistent: a global mapping is global in every address
        space). Combinational from ``sel`` and the entries.

    Latency and throughput: lookup is combinational, three 4-input LUT levels from
    ``lookup_vpn`` to ``fast_onehot`` and two more to ``fast_hit`` with up to 8 entries
    (three up to 32, four beyond); the read-out is three levels from ``sel`` to
    ``sel_entry`` with 16 entries (one more per fourfold entries). All are built from
    explicit LUTs (``SB_LUT4`` instances on iCE40, the same truth tables elsewhere). The
    match and the read-out are separate so that a user registers the one-hot between them
    (as :class:`Mmu` does): the lookup's cycle then ends at the match. Fill, touch and flush
    take effect at the next clock edge, one of each per cycle.
    """

    def __init__(self, entries: int = 16) -> None:
        self._entries = _check_entries(entries)
        super().__init__(
            {
                "lookup_vpn": In(20),
                "lookup_asid": In(9),
                "touch": In(entries),
                "fill": In(1),
                "fill_entry": In(TlbEntry),
                "flush": In(1),
                "flush_cmd": In(FlushCommand),
                "valid": Out(entries),
                "fast_hit": Out(1),
                "fast_onehot": Out(entries),
                "table": Out(data.ArrayLayout(TlbEntry, entries)),
                "sel": In(entries),
                "sel_entry": Out(TlbEntry),
            }
        )

    @property
    def entries(self) -> int:
        return self._entries

    def elaborate(self, platform: object) -> Module:
        m = Module()
        n = self._entries
        ent = [Signal(TlbEntry, name=f"entry{i}") for i in range(n)]
        mru = Signal(n)
        kill_r = Signal(n)  # entries covered by the flush of the previous cycle

        vpn0 = self.lookup_vpn[:10]
        vpn1 = self.lookup_vpn[10:]
        m.d.comb += self.valid.eq(Cat(*(e.valid for e in ent)) & ~kill_r)
        m.d.comb += [self.table[i].eq(e) for i, e in enumerate(ent)]

        # Shallow lookup path (the one the MMU uses): live_r[i] holds, registered, entry i's
        # "valid, not flushed, global or of the ASID" for the next cycle, computed from this
        # cycle's ASID, fill and flush; the lookup then compares the VPN only. The matching
        # entry is read out separately (``sel``, one-hot AND-OR), from a registered one-hot.
        live_r = Signal(n)
        asid_r = Signal(9)
        m.d.sync += asid_r.eq(self.lookup_asid)

        # The lookup is built from explicit 4-input LUTs (``lut``): on iCE40 each is an SB_LUT4
        # instance, so synthesis can neither deepen nor chain it (it cannot see that these nets
        # arrive late and otherwise trades their depth for area); elsewhere (and in simulation
        # and proofs) the same bitwise function as ordinary logic, its compare nets kept as
        # before. Per entry: 2-bit VPN compares; then (VPN[1] bits 0-7), (VPN[1] bits 8-9,
        # live), (megapage or VPN[0] bits 0-5), (megapage or VPN[0] bits 6-9); then their AND,
        # the match: three levels. The hit flag follows (an OR tree of the matches, with the
        # ASID check and the flush); the read-out is (select, bit) pairs, then an OR tree.
        ice40 = lut_cell(platform) == "SB_LUT4"

        def lut(
            name: str, fn: Callable[..., Any], *ins: Value, prim: bool = True, keep: bool = False
        ) -> Signal:
            # a primitive on iCE40 only (on ECP5 the lookup measured faster as logic)
            return lut4(m, platform if ice40 and prim else None, name, fn, *ins, keep=keep)

        def eq2(a0: Any, a1: Any, b0: Any, b1: Any) -> Any:
            return ~(a0 ^ b0) & ~(a1 ^ b1)

        def and_all(*b: Any) -> Any:
            return functools.reduce(operator.and_, b)

        def or_all(*b: Any) -> Any:
            return functools.reduce(operator.or_, b)

        fast = []
        for i, e in enumerate(ent):
            # the tag compared two bits per LUT: VPN[1] and VPN[0], 5 LUTs each
            c1, c0 = (
                [
                    lut(
                        f"fast_{tag}_eq{i}_{k}",
                        eq2,
                        stored[2 * k],
                        stored[2 * k + 1],
                        asked[2 * k],
                        asked[2 * k + 1],
                        keep=True,
                    )
                    for k in range(5)
                ]
                for tag, stored, asked in (("vpn1", e.vpn1, vpn1), ("vpn0", e.vpn0, vpn0))
            )
            t1a = lut(f"fast_t1a{i}", and_all, *c1[:4], keep=True)
            t1b = lut(f"fast_t1b{i}", and_all, c1[4], live_r[i], keep=True)
            t0a = lut(
                f"fast_t0a{i}", lambda mg, a, b, c: mg | (a & b & c), e.mega, *c0[:3], keep=True
            )
            t0b = lut(f"fast_t0b{i}", lambda mg, a, b: mg | (a & b), e.mega, *c0[3:], keep=True)
            fast.append(lut(f"fast_match{i}", and_all, t1a, t1b, t0a, t0b, keep=True))
        m.d.comb += self.fast_onehot.eq(Cat(*fast))

        # the hit flag: an OR tree of the matches down to two terms, then one LUT with the
        # ASID check (precomputed, from registers) and the flush
        asid_same = Signal()
        m.d.comb += asid_same.eq(asid_r == self.lookup_asid)
        ors: list[Value] = list(fast)
        level = 0
        while len(ors) > 2:
            ors = [
                lut(f"fast_any{level}_{j}", or_all, *ors[4 * j : 4 * j + 4])
                for j in range((len(ors) + 3) // 4)
            ]
            level += 1
        ors += [Const(0, 1)] * (2 - len(ors))
        fast_hit = lut(
            "fast_hit",
            lambda a, b, same, fl: (a | b) & same & ~fl,
            *ors,
            asid_same,
            self.flush,
        )
        m.d.comb += self.fast_hit.eq(fast_hit)

        # the selected entry: per bit, (select, bit) pairs, then an OR tree; only the fields a
        # translation needs are built from primitives (the others, unused by the Mmu, are
        # ordinary logic, which synthesis removes when nothing reads it)
        width = TlbEntry.as_shape().width
        needed = {
            TlbEntry[f].offset + k
            for f in ("mega", "ppn", "r", "w", "x", "u", "a", "d")
            for k in range(TlbEntry[f].width)
        }
        bits = []
        for j in range(width):
            terms: list[Value] = [
                lut(
                    f"fast_sel{j}_{q}",
                    lambda m0, d0, m1=0, d1=0: (m0 & d0) | (m1 & d1),
                    *(
                        x
                        for i in range(2 * q, min(2 * q + 2, n))
                        for x in (self.sel[i], ent[i].as_value()[j])
                    ),
                    prim=j in needed,
                )
                for q in range((n + 1) // 2)
            ]
            level = 0
            while len(terms) > 1:
                terms = [
                    lut(
                        f"fast_or{j}_{level}_{q}",
                        or_all,
                        *terms[4 * q : 4 * q + 4],
                        prim=j in needed,
                    )
                    for q in range((len(terms) + 3) // 4)
                ]
                level += 1
            bits.append(terms[0])
        m.d.comb += self.sel_entry.eq(Cat(*bits))

        # Victim: the lowest invalid entry, else the lowest entry not recently used.
        inv_any, inv_idx = _first_set(m, [~e.valid for e in ent], "inv")
        old_any, old_idx = _first_set(m, [~mru[i] for i in range(n)], "old")
        # The choice is registered (off the fill path): it reflects the entries one cycle
        # earlier, which for a fill is exact (a walk leaves at least two quiet cycles between
        # the last lookup or flush and its fill).
        # It is kept one-hot, so the fill's write enable of entry i is one AND away.
        victim = Signal(n)
        if n <= 16:
            # lowest set bit, one-hot, directly (shallower than encode + decode)
            inv = [~e.valid for e in ent]
            old = [~mru[i] for i in range(n)]
            inv_oh = Cat(inv[i] & ~Cat(*inv[:i]).any() if i else inv[0] for i in range(n))
            old_oh = Cat(old[i] & ~Cat(*old[:i]).any() if i else old[0] for i in range(n))
            m.d.sync += victim.eq(Mux(inv_any, inv_oh, Mux(old_any, old_oh, 1)))
        else:
            m.d.sync += victim.eq(Const(1, n) << Mux(inv_any, inv_idx, Mux(old_any, old_idx, 0)))
        do_fill = Signal()
        m.d.comb += do_fill.eq(self.fill & ~self.flush)

        # Pseudo-LRU (one "recently used" bit per entry): set on use; when every bit would be
        # set, keep only the newest. A fill marks its entry in the next cycle (a register cuts
        # the walk-result-to-LRU path; the next fill is at least two cycles away).
        filled = Signal(n)
        m.d.sync += filled.eq(Mux(do_fill, victim, 0))
        used = Signal(n)
        m.d.comb += used.eq(self.touch | filled)
        with m.If(used.any()):
            merged = mru | used
            m.d.sync += mru.eq(Mux(merged.all(), used, merged))

        # Flush: sfence.vma's four forms, all entries in one cycle. The covered entries are
        # found in the flush's cycle and registered (``kill_r``): from the next cycle on they
        # no longer match nor count as valid, and at its end their valid bits clear. So the
        # per-entry VA/ASID compare never feeds a write enable directly.
        cmd = self.flush_cmd
        fe = self.fill_entry
        fill_asid_ok = fe.g | (fe.asid == self.lookup_asid)
        for i, e in enumerate(ent):
            va_match = (e.vpn1 == cmd.va[22:]) & (e.mega | (e.vpn0 == cmd.va[12:22]))
            asid_match = ~e.g & (e.asid == cmd.asid)
            kill = (~cmd.use_va | va_match) & (~cmd.use_asid | asid_match)
            with m.If(self.flush & kill):
                m.d.sync += kill_r[i].eq(1)
            with m.Else():
                m.d.sync += kill_r[i].eq(0)
            with m.If(kill_r[i]):
                m.d.sync += e.valid.eq(0)
            with m.Elif(do_fill & victim[i]):
                m.d.sync += e.eq(self.fill_entry)
            # the same next state, folded into one bit for the shallow lookup path
            own_asid = e.g | (e.asid == self.lookup_asid)
            filling = do_fill & victim[i]
            next_live = Mux(filling, fe.valid & fill_asid_ok, e.valid & own_asid)
            m.d.sync += live_r[i].eq(~self.flush & ~kill_r[i] & next_live)
        return m


class PageTableWalker(wiring.Component):
    """Sv32 page-table walker: at most two PTE reads through a Wishbone master.

    Members
    -------
    start : In(1)
        Begin a walk of ``vpn`` from the root table ``root_ppn``; held until ``done``. The
        first read is issued in the same cycle (``cyc``/``stb`` are combinational from
        ``start``, which the MMU drives from registers).
    vpn : In(20)
    root_ppn : In(22)
    restart : In(1)
        The TLB was flushed: the walk in flight (if any) forgets what it read and starts again
        from the root when its current bus cycle ends (at once if its result is waiting in
        registers), so no PTE read before the flush can reach the TLB or the answer.
    done : Out(1)
        One-cycle pulse, the cycle after the last ``ack``/``err``: ``result`` is valid (it
        comes from registers). Suppressed by ``restart`` in the same cycle.
    result : Out(WalkResult)
        The decode of the last PTE read (loaded whenever the bus answers): the walk's result
        from ``done`` until the next walk's first read ends.
    busy : Out(1)
        A walk is in flight (a bus cycle is open, or its result is waiting).
    walk_started : Out(1)
        Pulse: a walk (or a restart) issues its first read this cycle.
    bus : Out(WishboneSignature(32))
        Read-only Wishbone classic master; ``adr`` = PTE byte address / 4 (34-bit physical
        addresses, so 32 address bits).

    Fault rules (the model's order): a bus error is an access fault; V = 0 or W = 1 with R = 0
    is a page fault; R or X makes a leaf, otherwise the PTE points to the next table, and a
    pointer at level 0 is a page fault; a level-1 leaf with PPN[0] != 0 (misaligned megapage)
    or a leaf with A = 0 is a page fault. The permission checks (which give the same cause)
    are made by :class:`Mmu` on the leaf.

    Latency: with a memory answering ``ack`` k cycles after ``stb``, ``done`` comes
    levels x (k + 1) cycles after ``start`` (4 for two levels with k = 1); one walk at a time.
    """

    def __init__(self) -> None:
        super().__init__(
            {
                "start": In(1),
                "vpn": In(20),
                "root_ppn": In(22),
                "restart": In(1),
                "done": Out(1),
                "result": Out(WalkResult),
                "busy": Out(1),
                "walk_started": Out(1),
                "bus": Out(WishboneSignature(32)),
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        busy = Signal()  # a walk is in flight (bus cycle open, or its result registered)
        level = Signal()  # 1 = root table, 0 = second level
        adr = Signal(32)
        vpn = Signal(20)
        root = Signal(22)
        stale = Signal()
        ready = Signal()  # the registered result is valid (the bus is idle)
        result = Signal(WalkResult)

        cur_vpn = Mux(busy, vpn, self.vpn)
        cur_root = Mux(busy, root, self.root_ppn)
        root_adr = Cat(cur_vpn[10:], cur_root)
        reading = (busy & ~ready) | (self.start & ~busy)
        cur_level = Mux(busy, level, 1)
        m.d.comb += [
            self.busy.eq(busy),
            self.bus.cyc.eq(reading),
            self.bus.stb.eq(reading),
            self.bus.we.eq(0),
            self.bus.sel.eq(0xF),
            self.bus.dat_w.eq(0),
            self.bus.adr.eq(Mux(busy, adr, root_adr)),
        ]

        pte = Pte(self.bus.dat_r)
        end = reading & (self.bus.ack | self.bus.err)
        again = stale | self.restart
        invalid = ~pte.v | (pte.w & ~pte.r)
        leaf = pte.r | pte.x
        misaligned = cur_level & (pte.ppn0 != 0)
        page_fault = invalid | (leaf & (misaligned | ~pte.a)) | (~leaf & ~cur_level)
        finished = self.bus.err | invalid | leaf | ~cur_level

        m.d.comb += [
            self.result.eq(result),
            self.done.eq(ready & ~self.restart),
            self.walk_started.eq((self.start & ~busy) | (end & again) | (ready & self.restart)),
        ]

        next_adr = Cat(cur_vpn[:10], pte.ppn0, pte.ppn1)
        answered = self.bus.ack | self.bus.err
        store_result = [
            result.pte.eq(pte),
            result.mega.eq(cur_level),
            result.access_fault.eq(self.bus.err),
            result.page_fault.eq(~self.bus.err & page_fault),
        ]
        with m.If(busy):
            with m.If(ready):
                # the result waits one cycle in registers (off the bus-to-TLB path); a flush
                # in that cycle still sends the walk back to the root
                with m.If(self.restart):
                    m.d.sync += [ready.eq(0), level.eq(1), adr.eq(root_adr)]
                with m.Else():
                    m.d.sync += [ready.eq(0), busy.eq(0)]
            with m.Elif(answered):
                with m.If(again):
                    m.d.sync += [level.eq(1), adr.eq(root_adr), stale.eq(0)]
                with m.Elif(finished):
                    m.d.sync += [ready.eq(1), stale.eq(0)]
                with m.Else():
                    m.d.sync += [level.eq(0), adr.eq(next_adr)]
            with m.Else():
                m.d.sync += stale.eq(stale | self.restart)
        with m.Else():
            # Idle: the first read's address, level and operands are loaded whether or not a
            # walk starts (they are used only once busy), so ``start``, which comes from the
            # MMU's answer logic, reaches only busy, ready and stale.
            first_done = answered & ~self.restart
            m.d.sync += [vpn.eq(self.vpn), root.eq(self.root_ppn), busy.eq(self.start)]
            with m.If(first_done & ~finished):
                m.d.sync += [level.eq(0), adr.eq(next_adr)]
            with m.Else():
                m.d.sync += [level.eq(1), adr.eq(root_adr)]
            m.d.sync += [
                ready.eq(self.start & first_done & finished),
                stale.eq(self.start & ~answered & self.restart),
            ]
        # Every PTE read's result is loaded (it counts only once ``ready`` says so), so the
        # load's enable is just "the bus answered" (only a read of this walker can be
        # answered), not the walk's decision logic. Between the result and the next walk no
        # read ends (the next walk needs a new request).
        with m.If(answered):
            m.d.sync += store_result
        return m


class Mmu(wiring.Component):
    """Sv32 MMU: TLB, page-table walker, satp, sfence.vma flushes and event counters.

    Parameters
    ----------
    entries : int
        TLB entries, 4 to 64 (default 16).

    Members
    -------
    req : In(stream.Signature(TranslationRequest))
        Translation requests. Accepted one per cycle while the answers flow.
    resp : Out(stream.Signature(TranslationResponse))
        One answer per request, in order.
    satp : In(Satp)
        The current satp. Its ASID and root are sampled when a request is accepted; changing
        the ASID flushes nothing. A request accepted in the very cycle the ASID changes is
        treated as a miss (walked), because the TLB precomputes each entry's ASID match one
        cycle ahead. MODE = 0 (bare) answers pa = va without faults.
    flush : In(1)
        Apply ``flush_cmd`` at the clock edge (one flush per cycle, always accepted). A
        request accepted in the same cycle or the next misses, and a walk in flight restarts
        from the root, so every request accepted from the flush's cycle on sees the flush.
    flush_cmd : In(FlushCommand)
    bus : Out(WishboneSignature(32))
        The walker's Wishbone master (PTE reads only).
    busy : Out(1)
        A request is being translated (a walk is in flight or an answer waits).
    clear_counters : In(1)
        Set the four counters to 0.
    hits, misses, walks, faults : Out(32)
        Lookups that hit, lookups that missed, PTE walks started (a flush restart counts as a
        new walk), answers that were faults; each counts one cycle after its event.
    tlb_valid : Out(entries)
        Valid bits of the TLB entries.

    Latency and throughput: a hit answers in the cycle after it is accepted (``resp.valid``
    comes from registers), one request per cycle. A miss answers after the walk: with a
    memory whose ``ack`` follows ``stb`` by one cycle, 6 cycles after acceptance for a 4 KiB
    page (2 PTE reads of 2 cycles each, plus 2), 4 for a megapage or a fault at the root.
    Requests wait (``req.ready`` = 0) while a miss is resolved.
    """

    def __init__(self, entries: int = 16) -> None:
        self._entries = _check_entries(entries)
        super().__init__(
            {
                "req": In(stream.Signature(TranslationRequest)),
                "resp": Out(stream.Signature(TranslationResponse)),
                "satp": In(Satp),
                "flush": In(1),
                "flush_cmd": In(FlushCommand),
                "bus": Out(WishboneSignature(32)),
                "busy": Out(1),
                "clear_counters": In(1),
                "hits": Out(32),
                "misses": Out(32),
                "walks": Out(32),
                "faults": Out(32),
                "tlb_valid": Out(entries),
            }
        )

    @property
    def entries(self) -> int:
        return self._entries

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.tlb = tlb = Tlb(self._entries)
        m.submodules.ptw = ptw = PageTableWalker()
        wiring.connect(m, wiring.flipped(self.bus), ptw.bus)

        # Stage 1 register: the accepted request and what is known about its translation.
        s_valid = Signal()
        s_hitflag = Signal()  # the lookup hit (written only at acceptance: a short D path)
        s_req = Signal(TranslationRequest)
        s_asid = Signal(9)
        s_root = Signal(22)
        s_bare = Signal()
        s_hit = Signal(TlbEntry)  # the hit's entry, read out of the TLB by ``s_touch``
        s_walked = Signal()  # the answer comes from the walk (whose result stays registered)
        s_touch = Signal(self._entries)  # the lookup's one-hot match, loaded at acceptance
        s_touch_en = Signal()  # the previous cycle accepted a lookup that hit
        looked_up = Signal()  # a translated (not bare) request was accepted last cycle

        s_done = Signal()  # the answer is known (hit, bare, or walk finished)
        m.d.comb += s_done.eq(s_hitflag | s_bare | s_walked)

        m.d.comb += [
            tlb.lookup_vpn.eq(self.req.payload.va[12:]),
            tlb.lookup_asid.eq(self.satp.asid),
            tlb.flush.eq(self.flush),
            tlb.flush_cmd.eq(self.flush_cmd),
            self.tlb_valid.eq(tlb.valid),
            self.busy.eq(s_valid),
        ]

        accept = Signal()
        m.d.comb += [
            self.req.ready.eq(~s_valid | (s_done & self.resp.ready)),
            accept.eq(self.req.valid & self.req.ready),
        ]
        bare = ~self.satp.mode
        # The shallow lookup path: a request accepted in the cycle satp's ASID changes misses
        # (the TLB's per-entry ASID matches are precomputed one cycle ahead).
        lookup_hit = tlb.fast_hit  # 0 in a flush's cycle
        with m.If(accept):
            m.d.sync += [
                s_valid.eq(1),
                s_hitflag.eq(lookup_hit),
                s_req.eq(self.req.payload),
                s_asid.eq(self.satp.asid),
                s_root.eq(self.satp.ppn),
                s_bare.eq(bare),
                s_walked.eq(0),
                s_touch.eq(tlb.fast_onehot),
            ]
        with m.Elif(self.resp.valid & self.resp.ready):
            m.d.sync += s_valid.eq(0)
        m.d.sync += looked_up.eq(accept & ~bare)
        m.d.comb += s_touch_en.eq(looked_up & s_hitflag)
        m.d.comb += tlb.touch.eq(Mux(s_touch_en, s_touch, 0))
        # A hit's entry is read out in the answer's cycles, from the registered one-hot, so the
        # lookup's cycle ends at the match. The entry cannot change in between: only a fill
        # writes entries, after a walk, and none runs while a hit waits to be answered (a
        # flush clears valid bits only, which the answer does not use).
        m.d.comb += [tlb.sel.eq(s_touch), s_hit.eq(tlb.sel_entry)]

        # Miss: walk, then fill the TLB with a usable leaf and answer.
        res = ptw.result
        walk_ok = ~res.access_fault & ~res.page_fault
        m.d.comb += [
            ptw.start.eq(s_valid & ~s_done),
            ptw.vpn.eq(s_req.va[12:]),
            ptw.root_ppn.eq(s_root),
            ptw.restart.eq(self.flush),
        ]
        leaf = Signal(TlbEntry)
        m.d.comb += [
            leaf.valid.eq(1),
            leaf.vpn0.eq(s_req.va[12:22]),
            leaf.vpn1.eq(s_req.va[22:]),
            leaf.mega.eq(res.mega),
            leaf.asid.eq(s_asid),
            leaf.g.eq(res.pte.g),
            leaf.ppn.eq(Cat(res.pte.ppn0, res.pte.ppn1)),
            leaf.r.eq(res.pte.r),
            leaf.w.eq(res.pte.w),
            leaf.x.eq(res.pte.x),
            leaf.u.eq(res.pte.u),
            leaf.a.eq(res.pte.a),
            leaf.d.eq(res.pte.d),
            tlb.fill.eq(ptw.done & walk_ok),
            tlb.fill_entry.eq(leaf),
        ]
        with m.If(ptw.done):
            m.d.sync += s_walked.eq(1)

        # The translation being answered: the hit's entry (read out by ``s_touch``), or the walk's
        # result, which stays in the walker's registers until the next walk (that needs a new
        # request, so not before this answer has left).
        s_ent = Signal(TlbEntry)
        m.d.comb += s_ent.eq(Mux(s_walked, leaf, s_hit))

        # Answer: permission checks, none left in the answer's cycle but an OR. The request is
        # decoded at acceptance (``*_in``) and registered (``s_*``). A hit's verdict is made for
        # every entry at acceptance, beside the lookup (entry bits and request decode are ready
        # before the match), and only the matching entry's is kept (``s_allowed``); a walk's is
        # registered when the walk ends (``ptw.done``, the cycle before ``s_walked``).
        s_load = Signal()
        s_store = Signal()
        s_fetch = Signal()
        s_user = Signal()
        s_sum_ok = Signal()  # SUM lets S-mode load and store (never fetch) on U pages
        s_page_cause = Signal(4)
        s_access_cause = Signal(4)
        acc_in = self.req.payload.access
        load_in = acc_in == Access.LOAD
        store_in = acc_in == Access.STORE
        fetch_in = acc_in == Access.FETCH
        user_in = self.req.payload.priv == Priv.U
        sum_ok_in = self.req.payload.sum & (acc_in != Access.FETCH)
        with m.If(accept):
            m.d.sync += [
                s_load.eq(load_in),
                s_store.eq(store_in),
                s_fetch.eq(fetch_in),
                s_user.eq(user_in),
                s_sum_ok.eq(sum_ok_in),
            ]
            with m.Switch(acc_in):
                with m.Case(Access.LOAD):
                    m.d.sync += [
                        s_page_cause.eq(FaultCause.LOAD_PAGE_FAULT),
                        s_access_cause.eq(FaultCause.LOAD_ACCESS_FAULT),
                    ]
                with m.Case(Access.STORE):
                    m.d.sync += [
                        s_page_cause.eq(FaultCause.STORE_PAGE_FAULT),
                        s_access_cause.eq(FaultCause.STORE_ACCESS_FAULT),
                    ]
                with m.Default():
                    m.d.sync += [
                        s_page_cause.eq(FaultCause.INSTRUCTION_PAGE_FAULT),
                        s_access_cause.eq(FaultCause.INSTRUCTION_ACCESS_FAULT),
                    ]

        def denied(
            ent: Value,
            load: Value,
            store: Value,
            fetch: Value,
            user: Value,
            sum_ok: Value,
            mxr: Value,
        ) -> Value:
            """The leaf ``ent`` does not allow the access so decoded (a page fault)."""
            e = TlbEntry(ent)
            readable = e.r | (mxr & e.x)
            type_ok = (load & readable) | (store & e.w & e.d) | (fetch & e.x)
            priv_ok = Mux(user, e.u, ~e.u | sum_ok)
            return ~type_ok | ~priv_ok | ~e.a

        s_allowed = Signal(self._entries)  # the lookup's match, where that entry allows it
        allowed_in = Cat(
            ~denied(
                tlb.table[i], load_in, store_in, fetch_in, user_in, sum_ok_in, self.req.payload.mxr
            )
            for i in range(self._entries)
        )
        with m.If(accept):
            m.d.sync += s_allowed.eq(tlb.fast_onehot & allowed_in)

        s_walk_fault = Signal()  # the walk's verdict, registered at ptw.done
        s_walk_afault = Signal()  # ... and whether it was an access fault
        walk_denied = denied(leaf, s_load, s_store, s_fetch, s_user, s_sum_ok, s_req.mxr)
        with m.If(ptw.done):
            m.d.sync += [
                s_walk_fault.eq(res.access_fault | res.page_fault | walk_denied),
                s_walk_afault.eq(res.access_fault),
            ]
        fault = Signal()
        m.d.comb += fault.eq(~s_bare & Mux(s_walked, s_walk_fault, ~s_allowed.any()))
        cause = Mux(s_walked & s_walk_afault, s_access_cause, s_page_cause)
        va = s_req.va
        pa = Mux(
            s_bare,
            va,
            Mux(s_ent.mega, Cat(va[:22], s_ent.ppn[10:]), Cat(va[:12], s_ent.ppn)),
        )
        m.d.comb += [
            self.resp.valid.eq(s_valid & s_done),
            self.resp.payload.fault.eq(fault),
            self.resp.payload.cause.eq(Mux(fault, cause, 0)),
            self.resp.payload.pa.eq(Mux(fault, 0, pa)),
        ]

        # Counters: the events are registered first (off the lookup and permission paths), so
        # a counter moves one cycle after its event.
        events = Signal(4)
        m.d.sync += events.eq(
            Cat(
                looked_up & s_hitflag,
                looked_up & ~s_hitflag,
                ptw.walk_started,
                self.resp.valid & self.resp.ready & fault,
            )
        )
        # Each counter is two 16-bit halves: the upper half steps with the lower one's wrap,
        # known one step ahead (``lo_max``: the lower half is 0xFFFF), so no carry chain is
        # longer than 16 bits (a 32-bit chain made synthesis deepen the logic elsewhere to
        # match it) and the 32-bit value is exact in every cycle.
        names = ("hits", "misses", "walks", "faults")
        for i, counter in enumerate((self.hits, self.misses, self.walks, self.faults)):
            lo, hi = counter[:16], counter[16:]
            lo_max = Signal(name=f"{names[i]}_lo_max")
            with m.If(self.clear_counters):
                m.d.sync += [counter.eq(0), lo_max.eq(0)]
            with m.Elif(events[i]):
                m.d.sync += [lo.eq(lo + 1), lo_max.eq(lo == 0xFFFE)]
                with m.If(lo_max):
                    m.d.sync += hi.eq(hi + 1)
        return m
