"""The MMU's TLB: fully associative, ASID-tagged, Sv32 pages and megapages in one table."""

import functools
import operator
from collections.abc import Callable
from typing import Any

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from mmaccel.hdl.lut import lut4, lut_cell
from mmaccel.hdl.mmu.types import FlushCommand, TlbEntry, check_entries

__all__ = ["Tlb"]


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
        beside the lookup, such as :class:`~mmaccel.hdl.mmu.Mmu`'s permissions).
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
    (as :class:`~mmaccel.hdl.mmu.Mmu` does): the lookup's cycle then ends at the match. Fill,
    touch and flush take effect at the next clock edge, one of each per cycle.
    """

    def __init__(self, entries: int = 16) -> None:
        self._entries = check_entries(entries)
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
        # and proofs) the same bitwise function as ordinary logic, its compare nets kept (Yosys
        # ``keep``). Per entry: 2-bit VPN compares; then (VPN[1] bits 0-7), (VPN[1] bits 8-9,
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
