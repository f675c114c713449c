"""A tiny slot allocator of our own, to show that the formal flow proves and that it bites.

:class:`ToySlotAllocator` hands out single slots, lowest free index first, and keeps a free
counter beside its bitmap: the same kinds of properties as the granule allocator, on a design
small enough to prove in a second. Its ``bug`` parameter builds deliberately broken variants;
:func:`toy_proofs` lists the proofs (expected to pass) and the mutants (expected to fail).
"""

from __future__ import annotations

from amaranth.asserts import AnyConst, AnySeq
from amaranth.hdl import Assert, Assume, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from mmaccel.verif.formal.sby import FormalHarness, Proof

__all__ = ["TOY_BUGS", "ToySlotAllocator", "ToySlotHarness", "toy_proofs"]

#: Deliberate defects ToySlotAllocator can be built with.
TOY_BUGS = ("search_off_by_one", "highest_first", "count_on_fail", "free_unchecked")


class ToySlotAllocator(wiring.Component):
    """Single-slot allocator: a bitmap, a lowest-index search and a free counter.

    Parameters
    ----------
    slots : int
        Number of slots, 2 to 64.
    bug : str, optional
        One of :data:`TOY_BUGS`, to build a broken variant for the mutation tests.

    Members
    -------
    alloc : In(1)
        Allocate a slot this cycle (takes priority over ``free``).
    ok : Out(1)
        The allocation succeeded; ``index`` is the slot (combinational with ``alloc``).
    index : Out(range(slots))
    free : In(1)
        Free slot ``free_index`` this cycle (ignored if the slot is not in use or with ``alloc``).
    free_index : In(range(slots))
    free_count : Out(range(slots + 1))
        Free slots (a counter, registered).
    used : Out(slots)
        The bitmap, 1 = in use (registered).

    Latency and throughput: the answer is combinational, the state changes at the next edge;
    one operation per cycle.
    """

    def __init__(self, slots: int = 8, bug: str | None = None) -> None:
        self._MustUse__silence = True  # until the arguments are known to be good
        if not isinstance(slots, int) or isinstance(slots, bool):
            raise TypeError(f"slots must be an int, not {slots!r}")
        if not 2 <= slots <= 64:
            raise ValueError(f"slots must be between 2 and 64, not {slots}")
        if bug is not None and bug not in TOY_BUGS:
            raise ValueError(f"bug must be None or one of {TOY_BUGS}, not {bug!r}")
        self._MustUse__silence = False
        self._slots = slots
        self._bug = bug
        super().__init__(
            {
                "alloc": In(1),
                "ok": Out(1),
                "index": Out(range(slots)),
                "free": In(1),
                "free_index": In(range(slots)),
                "free_count": Out(range(slots + 1), init=slots),
                "used": Out(slots),
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        n = self._slots
        used = self.used
        # Lowest free slot: a priority chain is fine at this size (n <= 64).
        found = Signal()
        index = Signal(range(n))
        order = range(n) if self._bug == "highest_first" else reversed(range(n))
        for i in order:
            probe = used[i + 1] if (self._bug == "search_off_by_one" and i + 1 < n) else used[i]
            with m.If(~probe):
                m.d.comb += [found.eq(1), index.eq(i)]
        m.d.comb += [self.ok.eq(self.alloc & found), self.index.eq(index)]
        with m.If(self.alloc):
            with m.If(found):
                m.d.sync += [
                    used.bit_select(index, 1).eq(1),
                    self.free_count.eq(self.free_count - 1),
                ]
            with m.Elif(self._bug == "count_on_fail"):
                m.d.sync += self.free_count.eq(self.free_count - 1)
        with m.Elif(self.free):
            in_use = used.bit_select(self.free_index, 1)
            with m.If(in_use | (self._bug == "free_unchecked")):
                m.d.sync += [
                    used.bit_select(self.free_index, 1).eq(0),
                    self.free_count.eq(self.free_count + 1),
                ]
        return m


def _popcount(bits: Signal, width: int) -> object:
    total: object = 0
    for i in range(width):
        total = bits[i] + total
    return total


class ToySlotHarness(FormalHarness):
    """Properties of :class:`ToySlotAllocator`, checked against a shadow bitmap.

    The shadow is built from the ports only (what was handed out, what was freed); the proof
    relates it to the design's bitmap, which makes every property inductive.

    Parameters
    ----------
    props : tuple of str
        Which properties to assert: ``no_double_alloc``, ``free_count``, ``lowest_first``.
    slots, bug :
        Passed to :class:`ToySlotAllocator`.
    """

    PROPS = ("no_double_alloc", "free_count", "lowest_first")

    def __init__(self, props: tuple[str, ...], slots: int = 8, bug: str | None = None) -> None:
        for p in props:
            if p not in self.PROPS:
                raise self.invalid(f"unknown property {p!r}; known: {self.PROPS}")
        super().__init__()
        self.props = props
        self.slots = slots
        self.bug = bug

    def elaborate_harness(self, m: Module) -> None:
        n = self.slots
        m.submodules.dut = dut = ToySlotAllocator(n, bug=self.bug)
        m.d.comb += [
            dut.alloc.eq(AnySeq(1)),
            dut.free.eq(AnySeq(1)),
            dut.free_index.eq(AnySeq(dut.free_index.shape())),
        ]
        m.d.comb += Assume(dut.free_index < n)

        shadow = Signal(n)  # 1 = in use, from the handshakes alone
        with m.If(dut.ok):
            m.d.sync += shadow.bit_select(dut.index, 1).eq(1)
        with m.Elif(dut.free & ~dut.alloc & shadow.bit_select(dut.free_index, 1)):
            m.d.sync += shadow.bit_select(dut.free_index, 1).eq(0)

        # The shadow and the design's map agree: the inductive strengthening.
        m.d.comb += Assert(dut.used == shadow, "bitmap == shadow")
        if "no_double_alloc" in self.props:
            m.d.comb += Assert(
                ~dut.ok | ~shadow.bit_select(dut.index, 1), "allocated slot was free"
            )
        if "free_count" in self.props:
            free_slots = _popcount(~shadow, n)
            m.d.comb += Assert(dut.free_count == free_slots, "free_count == free slots")
        if "lowest_first" in self.props:
            q = AnyConst(range(n))
            # No lower slot was free; no free slot when the allocation fails.
            lower_free = ~shadow.bit_select(q, 1) & (~dut.ok | (q < dut.index))
            m.d.comb += Assert(~dut.alloc | ~lower_free, "lowest free slot first")


def toy_proofs() -> list[Proof]:
    """Proofs of the toy allocator (expected PASS) and its mutants (expected FAIL)."""
    proofs = [
        Proof(
            f"toy.{p}",
            lambda p=p: ToySlotHarness((p,)),  # type: ignore[misc]
            "k-induction",
            4,
            f"toy slot allocator: {p}",
        )
        for p in ToySlotHarness.PROPS
    ]
    mutants = [
        ("no_double_alloc", "search_off_by_one"),
        ("lowest_first", "highest_first"),
        ("free_count", "count_on_fail"),
        ("free_count", "free_unchecked"),
    ]
    proofs += [
        Proof(
            f"toy.{p}!{bug}",
            lambda p=p, bug=bug: ToySlotHarness((p,), bug=bug),  # type: ignore[misc]
            "bmc",
            12,
            f"toy slot allocator built with bug {bug}: {p} must fail",
            expect="FAIL",
        )
        for p, bug in mutants
    ]
    return proofs
