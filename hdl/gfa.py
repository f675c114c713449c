"""The hardware granule/page-frame allocator: NuttX's gran_alloc in gateware.

:class:`GranuleFrameAllocator` performs the operations of :class:`mmaccel.sw.GranuleAllocator`
(default options) with exactly its results: exact lowest-index first fit, optional alignment,
free, reserve, info and clear. Requests and responses travel on ``amaranth.lib.stream``
interfaces; a debug read port exposes the granule allocation table (GAT) word by word.

Organisation
------------
- The GAT lives in block RAM: ``words = ceil(granules / 32)`` 32-bit words, granule ``k`` at bit
  ``k % 32`` of word ``k // 32``, 1 = in use. Bits past the last granule are stored as "in use"
  (so no search ever returns them) and read back as 0 on the debug port, as ``table()`` does.
- Over the words sits a tree of run summaries with fan-out ``fanout`` (a power of two). Every
  node covers ``32 * fanout**level`` granules and stores three numbers about its free granules:
  the free run at its start (``pre``), the free run at its end (``suf``) and its longest free
  run (``max``). Level 0 summarises one word; level ``levels`` is the root, kept in registers,
  so INFO and every response carry the longest free run without a scan. The levels below the
  root live in ``fanout`` banks of block RAM, bank ``b`` holding the nodes whose index is ``b``
  modulo ``fanout`` (every level in the same memory, at its own row offset), so the ``fanout``
  children of one node are read in a single cycle.
- ALLOC walks down from the root. A group of siblings is examined at once: a carry holds the
  start of the free run entering the group from the left; for every child the first aligned
  position of that run is tested against the run's end (the child's prefix, or the whole child
  when it is entirely free), and a child whose ``max`` reaches ``n`` is a place to descend. The
  first hit, left to right, is the answer (a run found through the carry) or the child to
  descend into. Without alignment a descent always succeeds, so the walk visits one group per
  level. With alignment a descended child may hold no aligned run; the walk then resumes at the
  next sibling (exact, never approximate), and children shorter than the alignment are never
  entered (their only aligned position is their start, already covered by the carry test).
- After a successful ALLOC, FREE, RESERVE or CLEAR, the changed words are rewritten and their
  ancestors are recomputed level by level, one node per cycle per level; a level's first group
  is read while the level below still writes its last node, which is forwarded.

Latency and throughput
----------------------
Counted in cycles from the clock edge that accepts the request to the edge after which the
response is valid, with ``L = levels`` (``ceil(log_fanout(words))``, at least 1), ``k`` the GAT
words the range touches (1 or 2 for up to 32 granules) and ``n_l`` the nodes of level ``l``
above them (1 or 2 for up to 32 granules); ``U = sum_l (n_l + 2) + 1`` is the summary update
(read, register and sum, combine, write: 3 cycles per level as consecutive levels overlap):

- INFO, every error found from the request's fields, and NO_SPACE when no free run of ``count``
  exists anywhere: 2 cycles (the checks are registered, then answered); a FREE/RESERVE range
  that leaves the heap (BAD_ADDR): 3.
- ALLOC without alignment: ``4 L`` (the walk: 4 cycles per level - read, register, sums and
  compares, choice; the root's group is read while the request is decoded) ``+ 5`` (the in-word
  search) ``+ 1 + (k + 4)`` (rewrite the words: read, register, rewrite; then summarise them in
  three stages) ``+ U``. A run found through the carry skips the word search and the rest of
  the walk. With ``k = n_l = 1`` that is ``7 L + 12``: 47 cycles at 32768 granules (fan-out 4,
  L = 5), 40 at 4096 (L = 4; 61 with fan-out 2, L = 7), independent of occupancy and
  fragmentation.
- ALLOC with alignment: as above plus about ``4 L`` cycles for every rejected descent (a child
  whose longest run reaches ``count`` but holds no aligned run of it), which depends on the map.
- FREE, RESERVE: ``3 + (k + 4)`` (check the range's end, then read every word of the range to
  check it) ``+ (k + 4) + U``: ``2 k + 3 L + 12``, 29 cycles at 32768 granules for up to 32
  granules within one word. FREE of granules not in use / RESERVE of granules in use: ``k + 6``.
- CLEAR: ``words + 8 + sum_l (nodes_l + 2)`` (every word and node is rewritten).

One request is in flight at a time: the next request is accepted in the cycle after the
response is produced, or in the same cycle that response is taken (issue interval = latency +
1 with a ready consumer). The response is held until ``resp.ready``.

Timing: every block-RAM read is registered before logic uses it (the GAT word and its range
mask, the group of summaries), the request's checks are registered before they are acted on,
level constants and the ``full`` flag of each node are registers or stored bits, and decisions
that end a loop (last word or node issued, next level, finish) are registers set one cycle
ahead. The walk's group evaluation is two register stages: every sum and every comparison of
a candidate run start with a run end is made from registers and registered, then a one-hot
selection and the lowest-hit tree choose the answer; only the state register depends on that
choice (the descent is loaded whatever it is, the step back reads a saved copy). The word
summary is three stages after the rewritten word's 4-bit tables (8-bit segments, halves,
word) and a level's combine two (runs and sums, maximum). The summary forwarding is decided a
cycle ahead (registered selects). See ``docs/gfa.md`` for the measured Fmax.
"""

from typing import Any

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.memory import Memory, ReadPort, WritePort
from amaranth.lib.wiring import In, Out

from .lut import lut4

__all__ = [
    "MAX_GRANULES",
    "GfaOp",
    "GfaRequest",
    "GfaResponse",
    "GfaStatus",
    "GranuleFrameAllocator",
]

#: Largest number of granules one allocator manages (the model's and NuttX's u16 limit).
MAX_GRANULES = 65536


class GfaOp(enum.Enum, shape=3):  # type: ignore[call-arg]
    """Operation codes of a :class:`GfaRequest`."""

    ALLOC = 0
    FREE = 1
    RESERVE = 2
    INFO = 3
    CLEAR = 4


class GfaStatus(enum.Enum, shape=4):  # type: ignore[call-arg]
    """Status codes of a :class:`GfaResponse`.

    ``NO_SPACE`` is a failure (the map is unchanged, the request was valid); every code from
    ``BAD_COUNT`` up is an error (the request was invalid, the map is unchanged).
    """

    OK = 0
    NO_SPACE = 1
    BAD_COUNT = 2
    BAD_ADDR = 3
    BAD_ALIGN = 4
    NOT_IN_USE = 5
    IN_USE = 6
    BAD_OP = 7


class GfaRequest(data.Struct):
    """A request to the allocator.

    Members
    -------
    op : GfaOp
        The operation (raw values 5..7 are answered with ``BAD_OP``).
    count : unsigned(17)
        Granules, 1..granules (ALLOC, FREE, RESERVE).
    addr : unsigned(32)
        Byte address of the first granule (FREE, RESERVE).
    align : unsigned(32)
        ALLOC only: alignment in bytes counted from the first granule, 0 = none, else a power of
        two (alignments below one granule mean none, as in the model).
    """

    op: GfaOp
    count: unsigned(17)
    addr: unsigned(32)
    align: unsigned(32)


class GfaResponse(data.Struct):
    """The answer to one :class:`GfaRequest`.

    Members
    -------
    status : GfaStatus
        Result code.
    addr : unsigned(32)
        Byte address of the allocated run (ALLOC with status OK), 0 otherwise.
    free_count : unsigned(17)
        Free granules after the operation.
    largest_run : unsigned(17)
        Longest run of free granules after the operation.
    """

    status: GfaStatus
    addr: unsigned(32)
    free_count: unsigned(17)
    largest_run: unsigned(17)


# -- small log-depth building blocks ----------------------------------------------------------


def _late_or(late: Any, sel: Any, other: Any) -> Any:
    """``other`` if ``sel`` else ``late``, with bitwise operators only (a :func:`lut4`
    function; ``late`` first, on the LUT's fastest pin on ECP5)."""
    return (sel & other) | (~sel & late)


def _sig(m: Module, value: Value, name: str) -> Signal:
    """``value`` held in a combinational signal, so it is built once however often it is used."""
    sig = Signal(value.shape(), name=name)
    m.d.comb += sig.eq(value)
    return sig


def _lowest_set(m: Module, bits: list[Value], name: str) -> tuple[Value, Value]:
    """(any bit set, index of the lowest set bit) of ``bits`` as a balanced tree."""
    if len(bits) == 1:
        return bits[0], Const(0, 1)
    half = 1
    while half * 2 < len(bits):
        half *= 2
    lo_found, lo_idx = _lowest_set(m, bits[:half], name + "l")
    hi_found, hi_idx = _lowest_set(m, bits[half:], name + "h")
    width = (half - 1).bit_length() + 1
    idx = _sig(m, Mux(lo_found, lo_idx, hi_idx + half)[:width], name + "_i")
    return _sig(m, lo_found | hi_found, name + "_f"), idx


def _sum_ge(m: Module, pos: list[Value], neg: list[Value], bias: int, name: str) -> Value:
    """``sum(pos) - sum(neg) + bias >= 0`` for unsigned values, with one carry chain.

    Three or four addends (``neg`` as one's complements) are first reduced bitwise to two
    (carry-save, one LUT level per 3:2 step); the constant ``len(neg) + bias`` goes into the
    free low bits of the shifted carry vectors (one per step). One or two ``neg`` values.
    """
    terms = len(pos) + len(neg)
    steps = terms - 2
    const = len(neg) + bias
    if not 1 <= steps <= 2 or not 0 <= const <= steps or len(neg) not in (1, 2):
        raise ValueError(f"unsupported comparison: {len(pos)} + {len(neg)} terms, bias {bias}")
    w = max(len(v) for v in pos + neg) + 2  # the difference is far from 2**(w-1) in size
    big = w + 3  # the vectors hold the whole sum (below 4 * 2**w + 2): no carry is lost

    def widen(v: Value) -> Value:
        return Cat(v, Const(0, big - len(v)))

    def complement(v: Value) -> Value:  # 2**w - 1 - v, in w bits
        v = v.as_unsigned()
        return ~Cat(v, Const(0, w - len(v)))

    vectors = [widen(v.as_unsigned()) for v in pos] + [widen(complement(v)) for v in neg]
    for step in range(steps):
        x, y, z = vectors[0], vectors[1], vectors[2]
        low = Const(1 if step < const else 0, 1)
        sum_v = _sig(m, x ^ y ^ z, f"{name}_s{step}")
        carry_v = _sig(m, Cat(low, ((x & y) | (x & z) | (y & z))[: big - 1]), f"{name}_c{step}")
        vectors = [sum_v, carry_v, *vectors[3:]]
    # the result is len(neg) * 2**w + (the signed difference, far from 2**(w-1) in size):
    # it is >= len(neg) * 2**w exactly when bit w (one neg) or w + 1 (two) of the sum is set
    total = vectors[0] + vectors[1]
    return _sig(m, total[w + len(neg) - 1], name)


def _select_max(
    m: Module, values: list[Value], ge: dict[tuple[int, int], Value], name: str
) -> Value:
    """Maximum of ``values`` given ``ge[i, j] = values[i] >= values[j]`` for ``i < j``.

    Value ``i`` is chosen when it is greater than every earlier value and at least every later
    one, so exactly one is chosen (a one-hot selection).
    """
    k = len(values)
    width = max(len(v) for v in values)
    result: Value = Const(0, width)
    for i in range(k):
        conds = [ge[i, j] for j in range(i + 1, k)] + [~ge[j, i] for j in range(i)]
        chosen = _sig(m, Cat(*conds, Const(1, 1)).all(), f"{name}_sel{i}")
        result = result | Mux(chosen, values[i], 0)
    return _sig(m, result, name)


def _max_of(m: Module, values: list[Value], name: str) -> Value:
    """Maximum of ``values``: every pair compared in parallel, then a one-hot selection.

    Value ``i`` is chosen when it is greater than every earlier value and at least every later
    one, so exactly one is chosen; the logic is one comparator and two gate levels deep.
    """
    if len(values) == 1:
        return values[0]
    k = len(values)
    ge = {
        (i, j): _sig(m, values[i] >= values[j], f"{name}_ge{i}_{j}")
        for i in range(k)
        for j in range(i + 1, k)
    }
    width = max(len(v) for v in values)
    result: Value = Const(0, width)
    for i in range(k):
        conds = [ge[i, j] for j in range(i + 1, k)] + [~ge[j, i] for j in range(i)]
        chosen = _sig(m, Cat(*conds).all(), f"{name}_sel{i}")
        result = result | Mux(chosen, values[i], 0)
    return _sig(m, result, name)


def _two_or_more(m: Module, bits: Value, name: str) -> Value:
    """Whether two or more bits of ``bits`` are set, as a balanced tree (no carry chain)."""

    def walk(lo: int, hi: int) -> tuple[Value, Value]:
        if hi - lo == 1:
            return bits[lo], Const(0)
        mid = (lo + hi) // 2
        any_l, many_l = walk(lo, mid)
        any_r, many_r = walk(mid, hi)
        return any_l | any_r, many_l | many_r | (any_l & any_r)

    return _sig(m, walk(0, len(bits))[1], name)


Summary = tuple[Value, Value, Value]


def _merge_runs(m: Module, nodes: list[Summary], length: int, name: str) -> list[Summary]:
    """Merge neighbouring (pre, suf, max) summaries of ``length`` granules each, pairwise."""
    merged: list[Summary] = []
    for j, (a, b) in enumerate(zip(nodes[0::2], nodes[1::2], strict=True)):
        tag = f"{name}_{j}"
        a_full = a[0] == length
        b_full = b[0] == length
        # length is a power of two and pre, suf <= length: length + x is an OR or 2 * length
        pre = _sig(m, Mux(a_full, Mux(b_full, 2 * length, length | b[0]), a[0]), tag + "_pre")
        suf = _sig(m, Mux(b_full, Mux(a_full, 2 * length, length | a[1]), b[1]), tag + "_suf")
        cross = _sig(m, a[1] + b[0], tag + "_cross")
        merged.append((pre, suf, _max_of(m, [a[2], b[2], cross], tag + "_max")))
    return merged


def _nibble_summary(bits: int) -> Summary:
    """(pre, suf, max) of a 4-bit free mask, as constants."""
    runs = [len(r) for r in f"{bits:04b}"[::-1].split("0")]
    return Const(runs[0], 3), Const(runs[-1], 3), Const(max(runs), 3)


def _nibble_summaries(m: Module, free: Value, name: str) -> list[Summary]:
    """(pre, suf, max) of the eight nibbles of a 32-bit free mask: a table each (one LUT4 per
    output bit)."""
    nodes: list[Summary] = []
    for k in range(8):
        nibble = free[4 * k : 4 * k + 4]
        pre, suf, mx = (Signal(3, name=f"{name}n{k}_{f}") for f in ("pre", "suf", "max"))
        with m.Switch(nibble):
            for bits in range(16):
                with m.Case(bits):
                    table = _nibble_summary(bits)
                    m.d.comb += [pre.eq(table[0]), suf.eq(table[1]), mx.eq(table[2])]
        nodes.append((pre, suf, mx))
    return nodes


def _registered(m: Module, nodes: list[Summary], width: int, name: str) -> list[Summary]:
    """``nodes`` held in registers of ``width`` bits (one pipeline stage)."""
    regs: list[Summary] = []
    for j, node in enumerate(nodes):
        reg = tuple(Signal(width, name=f"{name}{j}_{f}") for f in ("pre", "suf", "max"))
        m.d.sync += [r.eq(v) for r, v in zip(reg, node, strict=True)]
        regs.append((reg[0], reg[1], reg[2]))
    return regs


def _align_pattern(log2g: int) -> int:
    """Bits p of a word (p < 32) that are multiples of ``2**log2g``."""
    return sum(1 << p for p in range(0, 32, 1 << log2g))


class GranuleFrameAllocator(wiring.Component):
    """Exact first-fit granule allocator with request/response streams.

    Parameters
    ----------
    granules : int
        Number of granules managed, 1..65536 (any value, not only powers of two).
    log2gran : int
        log2 of the granule size in bytes, 1..31.
    base : int
        Byte address of granule 0.
    bus_width : int
        Address width of the interface; only 32 is supported.
    fanout : int
        Children per node of the summary tree, a power of two from 2 to 16 (default 4).

    Members
    -------
    req : In(stream.Signature(GfaRequest))
        Requests. Accepted (``req.ready``) only while the engine is idle and the previous
        response has been or is being taken.
    resp : Out(stream.Signature(GfaResponse))
        Responses, in request order, held until ``resp.ready``.
    dbg_addr : In(range(words))
        Word of the GAT to read on the debug port (``range(2)`` when there is one word, so the
        Verilog port is not 0 bits wide; word 1 then reads as 0).
    dbg_data : Out(32)
        GAT word ``dbg_addr`` (1 = in use; bits past the last granule are 0) one cycle after
        ``dbg_addr`` is presented (read latency 1). Valid while ``busy`` is low in the cycle
        ``dbg_addr`` is presented.
    busy : Out(1)
        High while a request is being processed.

    Latency and throughput are described in the module docstring: an unaligned ALLOC of up to
    32 granules in one word takes ``7 * levels + 12`` cycles (47 at 32768 granules), a FREE
    ``3 * levels + 14`` (29), whatever the occupancy or fragmentation; INFO and errors 2; one
    request is in flight at a time.

    Raises
    ------
    TypeError
        A parameter that is not an int.
    ValueError
        A parameter outside the ranges above, or a heap ending past 2**32.
    """

    def __init__(
        self,
        *,
        granules: int,
        log2gran: int = 12,
        base: int = 0,
        bus_width: int = 32,
        fanout: int = 4,
    ) -> None:
        self._MustUse__silence = True  # no "never used" warning for a rejected configuration
        for name, value in (
            ("granules", granules),
            ("log2gran", log2gran),
            ("base", base),
            ("bus_width", bus_width),
            ("fanout", fanout),
        ):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} must be an int, not {value!r}")
        if not 1 <= granules <= MAX_GRANULES:
            raise ValueError(f"granules must be in 1..{MAX_GRANULES}, not {granules}")
        if not 1 <= log2gran <= 31:
            raise ValueError(f"log2gran must be in 1..31, not {log2gran}")
        if bus_width != 32:
            raise ValueError(f"bus_width must be 32, not {bus_width}")
        if fanout not in (2, 4, 8, 16):
            raise ValueError(f"fanout must be 2, 4, 8 or 16, not {fanout}")
        if base < 0 or base + (granules << log2gran) > 1 << 32:
            raise ValueError(
                f"heap at base {base:#x} with {granules} granules of 2**{log2gran} bytes "
                "does not fit the 32-bit address space"
            )
        self._MustUse__silence = False
        self.granules = granules
        self.log2gran = log2gran
        self.base = base
        self.bus_width = bus_width
        self.fanout = fanout
        self.log2fanout = fanout.bit_length() - 1
        self.words = (granules + 31) // 32
        counts = [self.words]
        while len(counts) < 2 or counts[-1] > 1:
            counts.append((counts[-1] + fanout - 1) // fanout)
        #: nodes per level, level 0 (words) .. ``levels`` (the root, 1 node)
        self.level_counts = counts
        self.levels = len(counts) - 1
        super().__init__(
            {
                "req": In(stream.Signature(GfaRequest)),
                "resp": Out(stream.Signature(GfaResponse)),
                "dbg_addr": In(range(max(self.words, 2))),
                "dbg_data": Out(32),
                "busy": Out(1),
            }
        )

    # -- elaboration-time tables --------------------------------------------------------------

    def node_length(self, level: int) -> int:
        """Granules covered by one node of ``level`` (level 0 = one word)."""
        return 32 << (self.log2fanout * level)

    def empty_summary(self, level: int, index: int) -> tuple[int, int, int]:
        """(pre, suf, max) of node ``index`` of ``level`` when every granule is free."""
        length = self.node_length(level)
        free = min(max(self.granules - index * length, 0), length)
        return (free, free, free) if free == length else (free, 0, free)

    def _summary_width(self, level: int) -> int:
        return min(self.node_length(level), self.granules).bit_length()

    def row_bases(self) -> list[int]:
        """First row of each level below the root in the summary memories, and their depth.

        Level ``l`` has ``ceil(nodes / fanout)`` rows; it starts at a multiple of the power of
        two above that, so a row address is a bitwise OR. The last entry is the depth.
        """
        bases = [0]
        for level in range(self.levels):
            rows = (self.level_counts[level] + self.fanout - 1) // self.fanout
            bases.append(bases[-1] + (1 << max(rows - 1, 0).bit_length()))
        return bases

    @property
    def pad_word(self) -> int:
        """The stored value of the last GAT word when empty (bits past the heap in use)."""
        tail = self.granules % 32
        return 0 if tail == 0 else (0xFFFF_FFFF << tail) & 0xFFFF_FFFF

    # -- gateware ---------------------------------------------------------------------------

    def elaborate(self, platform: object) -> Module:
        m = Module()
        F = self.fanout
        LF = self.log2fanout
        T = self.levels
        W = self.words
        N = self.granules
        top_span = self.node_length(T)
        VW = top_span.bit_length()  # summary values and positions inside the tree
        PW = VW + 2  # position arithmetic with room for p + n and alignment rounding
        GMAX = PW - 2  # alignments are clamped to 2**GMAX granules (> any position)
        AW = max(W, 2).bit_length()  # word / node index width (holds W: loops end past it)

        # ---- storage ----------------------------------------------------------------------
        gat_init = [0] * max(W, 2)
        gat_init[W - 1] = self.pad_word
        m.submodules.gat = gat = Memory(shape=unsigned(32), depth=max(W, 2), init=gat_init)
        gat_r = gat.read_port()
        gat_w = gat.write_port()

        # One memory per bank holds every level below the root: level l's rows start at
        # ``row_base[l]``, a multiple of the power of two above its row count, so a row
        # address is ``row_base[l] | row`` (no adder). Every level is stored at the width of
        # the widest (values zero-extended).
        SW = self._summary_width(T - 1)
        row_base = self.row_bases()
        depth = max(2, row_base[T])
        sum_r: list[ReadPort] = []
        sum_w: list[WritePort] = []
        for bank in range(F):
            init = [0] * depth
            for level in range(T):
                for row in range((self.level_counts[level] + F - 1) // F):
                    index = row * F + bank
                    if index < self.level_counts[level]:
                        pre, suf, mx = self.empty_summary(level, index)
                    else:
                        pre = suf = mx = 0
                    full = int(pre == self.node_length(level))
                    init[row_base[level] + row] = pre | suf << SW | mx << 2 * SW | full << 3 * SW
            # The read is synchronous, written as an asynchronous port and a plain register
            # (``sum_q``) that Yosys merges into the block RAM, because only then does it
            # honour ``no_rw_check``: what a read returns in the cycle its row is written is
            # left to the block RAM. That value is never used (the slot then takes the write,
            # ``fwd_last`` below), and otherwise Yosys emulates read-first behaviour with a
            # delayed write and a multiplexer on the late read data.
            mem = Memory(
                shape=unsigned(3 * SW + 1), depth=depth, init=init, attrs={"no_rw_check": 1}
            )
            m.submodules[f"sum{bank}"] = mem
            sum_r.append(mem.read_port(domain="comb"))
            sum_w.append(mem.write_port())

        root_init = self.empty_summary(T, 0)
        root_pre = Signal(VW, init=root_init[0])
        root_suf = Signal(VW, init=root_init[1])
        root_max = Signal(VW, init=root_init[2])
        free_count = Signal(17, init=N)

        # ---- request registers ----------------------------------------------------------
        op = Signal(3)
        count = Signal(17)
        addr = Signal(32)
        align = Signal(32)
        glog = Signal(range(GMAX + 1))  # log2 of the alignment in granules (clamped)
        gmask = Signal(PW)  # 2**glog - 1

        # ---- engine registers -----------------------------------------------------------
        lvl = Signal(range(T + 1))  # level of the group being read
        gaddr = Signal(AW)  # group address (search) / node index being issued (passes)
        s0 = Signal(range(F + 1))  # first eligible slot when resuming after a rejected descent
        pop_lvl = Signal(range(T + 1))  # the group SearchPop resumes after (its level, address)
        pop_gaddr = Signal(AW)
        carry = Signal(PW)  # start of the free run entering the group
        wsel = Signal(AW)  # word examined by the in-word search
        found_p = Signal(PW)  # allocated granule index
        runs = Signal(32)  # aligned run starts in the examined word
        run_found = Signal()  # the examined word holds one (WordFound)
        word_q = Signal(32)  # the GAT word read in the previous cycle, registered
        rstart = Signal(PW)  # first granule of the range being checked / updated
        rlast = Signal(PW)  # last granule of that range
        lo_node = Signal(AW)  # first / last node of the range at the level being updated
        hi_node = Signal(AW)
        issued = Signal()  # every word / node of the current pass has been issued
        first_pending = Signal()  # the next word issued is the range's first
        b_first = Signal()  # the word on the GAT port (stage vb) is the range's first / last
        b_last = Signal()
        mode = Signal(2)  # pass mode: 0 set (alloc/reserve), 1 clear (free), 2 empty (CLEAR)
        bad = Signal()
        # Pipeline of the word pass (and of the FREE/RESERVE check): a word is read (its data
        # is on the port while ``vb``), registered with its range mask (``vb2``: rewritten),
        # summarised in three stages (``wc``: 8-bit segments, ``wd``: halves, ``we``: word)
        # and its summary written (``wf``).
        vb = Signal()
        b_idx = Signal(AW)
        wc, wd, we_, wf = (Signal(name=f"w{s}_valid") for s in "cdef")
        wc_idx, wd_idx, we_idx = (Signal(AW, name=f"w{s}_idx") for s in "cde")
        # Pipeline of a level pass: a group is read (on the port while ``lb``), registered in
        # the slots (``lc``: first half of the combine), combined (``ld``) and written (``le``).
        lb, lc, ld, le = (Signal(name=f"l{s}_valid") for s in "bcde")
        lb_idx, lc_idx, ld_idx = (Signal(AW, name=f"l{s}_idx") for s in "bcd")
        resp_valid = Signal()
        resp_status = Signal(4)
        resp_addr = Signal(32)

        m.d.comb += [
            self.resp.valid.eq(resp_valid),
            self.resp.payload.status.eq(resp_status),
            self.resp.payload.addr.eq(resp_addr),
            self.resp.payload.free_count.eq(free_count),
            self.resp.payload.largest_run.eq(root_max),
        ]
        with m.If(self.resp.valid & self.resp.ready):
            m.d.sync += resp_valid.eq(0)

        # Writes to the summary memories: level ``wlvl`` node ``windex`` (stage wf or le). The
        # write's position is known a cycle ahead (from stages we / ld), so it is registered:
        # the memories' write address and the forwarding decisions below come from registers.
        wen = Signal()
        wlvl = Signal(range(T + 1))
        windex = Signal(AW)
        w_pre = Signal(VW)
        w_suf = Signal(VW)
        w_max = Signal(VW)
        w_full = Signal()

        # ---- shared read side: the group at level ``lvl`` -------------------------------
        rd_pre = [Signal(VW, name=f"rd_pre{i}") for i in range(F)]
        rd_suf = [Signal(VW, name=f"rd_suf{i}") for i in range(F)]
        rd_max = [Signal(VW, name=f"rd_max{i}") for i in range(F)]
        rd_full = [Signal(name=f"rd_full{i}") for i in range(F)]
        # Read address: row ``gaddr`` of level ``lvl``, or in the cycle a level pass starts
        # (``start_q``, decided one cycle ahead) the first row of the next level, registered.
        start_q = Signal()
        start_addr_q = Signal(range(depth))
        finish_q = Signal()  # the root is written in this cycle (decided one cycle ahead)
        rbase = Signal(range(depth))
        with m.Switch(lvl):
            for level in range(T):
                with m.Case(level):
                    m.d.comb += rbase.eq(row_base[level])
        raddr = _sig(m, Mux(start_q, start_addr_q, rbase | gaddr), "raddr")
        # The write of the next cycle: stage ld's node (level lvl + 1), else stage we's word.
        next_wen = _sig(m, ld | we_, "next_wen")
        next_lvl = _sig(m, Mux(ld, lvl + 1, 0)[: len(wlvl)], "next_wlvl")
        next_index = _sig(m, Mux(ld, ld_idx, we_idx), "next_windex")
        next_base = Signal(range(depth))
        with m.Switch(next_lvl):
            for level in range(T):
                with m.Case(level):
                    m.d.comb += next_base.eq(row_base[level])
        next_waddr = _sig(m, next_base | (next_index >> LF), "next_waddr")
        next_wmem = _sig(m, next_wen & (next_lvl != T), "next_wmem")  # not the root
        waddr = Signal(range(depth))
        wmem = Signal()  # a write to the memories, not the root
        m.d.sync += [
            wen.eq(next_wen),
            wlvl.eq(next_lvl),
            windex.eq(next_index),
            waddr.eq(next_waddr),
            wmem.eq(next_wmem),
        ]
        for bank in range(F):
            sum_q = Signal.like(sum_r[bank].data, name=f"sum_q{bank}", reset_less=True)
            m.d.sync += sum_q.eq(sum_r[bank].data)
            m.d.comb += [
                sum_r[bank].addr.eq(raddr),
                rd_pre[bank].eq(sum_q[:SW]),
                rd_suf[bank].eq(sum_q[SW : 2 * SW]),
                rd_max[bank].eq(sum_q[2 * SW : 3 * SW]),
                rd_full[bank].eq(sum_q[3 * SW]),
            ]
        # The group read from block RAM is registered (slot_*) before any logic uses it. The
        # read ports are not transparent: a summary written in the cycle of the read (held in
        # ``last_*``) or in the cycle the data comes out replaces the stale one. (A level pass
        # reads the next level's group one cycle before the previous level's last write.)
        # Both cases are decided a cycle ahead and registered (``fwd_now``, ``fwd_last``, and
        # ``fwd_any``, either of them). The replacement (``forwarded``) comes from registers,
        # so the block RAM's output, which arrives late (no output register: 5.8 ns on an
        # ECP5 -6), passes one LUT, a 3-input multiplexer built as the FPGA's own LUT cell
        # (``lut4``: synthesis otherwise folds it into a wider cone with other RAM outputs).
        last_pre = Signal(VW)
        last_suf = Signal(VW)
        last_max = Signal(VW)
        last_full = Signal()
        m.d.sync += [
            last_pre.eq(w_pre),
            last_suf.eq(w_suf),
            last_max.eq(w_max),
            last_full.eq(w_full),
        ]
        fwd_now = [Signal(name=f"fwd_now{i}") for i in range(F)]  # the write of this cycle
        fwd_last = [Signal(name=f"fwd_last{i}") for i in range(F)]  # the previous cycle's
        fwd_any = [Signal(name=f"fwd_any{i}") for i in range(F)]
        for i in range(F):
            now = next_wmem & (next_index[:LF] == i) & (next_waddr == raddr)
            last = wmem & (windex[:LF] == i) & (waddr == raddr)
            m.d.sync += [fwd_now[i].eq(now), fwd_last[i].eq(last), fwd_any[i].eq(now | last)]
        slot_pre = [Signal(VW, name=f"slot_pre{i}") for i in range(F)]
        slot_suf = [Signal(VW, name=f"slot_suf{i}") for i in range(F)]
        slot_max = [Signal(VW, name=f"slot_max{i}") for i in range(F)]
        slot_full = [Signal(name=f"slot_full{i}") for i in range(F)]  # stored, not compared
        written = Cat(w_pre, w_suf, w_max, w_full)
        held = Cat(last_pre, last_suf, last_max, last_full)
        for i in range(F):
            forwarded = _sig(m, Mux(fwd_now[i], written, held), f"forwarded{i}")
            read = Cat(rd_pre[i], rd_suf[i], rd_max[i], rd_full[i])
            slot_in = Cat(
                lut4(m, platform, f"slot_in{i}_{k}", _late_or, read[k], fwd_any[i], forwarded[k])
                for k in range(len(read))
            )
            m.d.sync += Cat(slot_pre[i], slot_suf[i], slot_max[i], slot_full[i]).eq(slot_in)
        jlen = [Signal(VW + 2, name=f"jlen{j}") for j in range(F + 1)]  # j * length
        length = Signal(VW + 1)  # granules per node of level ``lvl``
        log2len = Signal(range(5 + LF * T + 1))
        with m.Switch(lvl):
            for level in range(T):
                with m.Case(level):
                    m.d.comb += [length.eq(self.node_length(level)), log2len.eq(5 + LF * level)]
                    m.d.comb += [jlen[j].eq(j * self.node_length(level)) for j in range(F + 1)]
        # Level constants, registered: lvl and gaddr are stable for a cycle before any use.
        length_q = Signal.like(length)
        log2len_q = Signal.like(log2len)
        jlen_q = [Signal.like(jlen[j], name=f"jlen_q{j}") for j in range(F + 1)]
        m.d.sync += [length_q.eq(length), log2len_q.eq(log2len)]
        m.d.sync += [jlen_q[j].eq(jlen[j]) for j in range(F + 1)]
        length, log2len, jlen = length_q, log2len_q, jlen_q

        # Combine the group into its parent's summary (update passes). A child that is not
        # entirely free has pre, suf < length, so "j whole children + pre_j" is an OR, not a sum.
        def run_from(i: int) -> Value:
            """Free run from the start of slot i to the first child not entirely free."""
            value: Value = jlen[F - i]
            for j in reversed(range(i, F)):
                value = Mux(slot_full[j], value, jlen[j - i] | slot_pre[j])
            return _sig(m, value[:VW], f"ext{i}")

        ext = [run_from(i) for i in range(F)]
        sfx: Value = jlen[F]
        for j in range(F):
            sfx = Mux(slot_full[j], sfx, jlen[F - 1 - j] | slot_suf[j])
        cand = list(slot_max) + [
            _sig(m, (slot_suf[i] + ext[i + 1])[:VW], f"cross{i}") for i in range(F - 1)
        ]
        # Stage lc registers the runs, the sums and every comparison between two candidates
        # (the crossing runs compared as sums, not after them); stage ld selects the maximum.
        terms: list[list[Value]] = [[v] for v in slot_max] + [
            [slot_suf[i], ext[i + 1]] for i in range(F - 1)
        ]
        cand_ge: dict[tuple[int, int], Value] = {}
        for p in range(len(cand)):
            for q in range(p + 1, len(cand)):
                tag = f"cge{p}_{q}"
                if q < F:  # two stored maxima
                    cand_ge[p, q] = Signal(name=tag)
                    m.d.sync += cand_ge[p, q].eq(slot_max[p] >= slot_max[q])
                elif p < F:  # a maximum against a crossing run: not (cross > max)
                    cand_ge[p, q] = Signal(name=tag)
                    m.d.sync += cand_ge[p, q].eq(~_sum_ge(m, terms[q], terms[p], -1, tag))
                else:  # two crossing runs
                    cand_ge[p, q] = Signal(name=tag)
                    m.d.sync += cand_ge[p, q].eq(_sum_ge(m, terms[p], terms[q], 0, tag))
        cand_q = [Signal(VW, name=f"cand_q{i}") for i in range(len(cand))]
        comb_pre = Signal(VW)
        comb_suf = Signal(VW)
        comb_full = Signal()
        m.d.sync += [cand_q[i].eq(cand[i]) for i in range(len(cand))]
        m.d.sync += [
            comb_pre.eq(ext[0]),
            comb_suf.eq(sfx[:VW]),
            comb_full.eq(Cat(*slot_full).all()),
        ]
        comb_max = _select_max(m, cand_q, cand_ge, "cmax")

        # Examine the group for the search (see the module docstring).
        node_start = [Signal(PW, name=f"node_start{i}") for i in range(F + 1)]
        gnext = _sig(m, gaddr + 1, "gnext")
        with m.Switch(lvl):
            for level in range(T):
                with m.Case(level):
                    shift = 5 + LF * level
                    for i in range(F):
                        m.d.comb += node_start[i].eq(Cat(Const(i, LF), gaddr) << shift)
                    m.d.comb += node_start[F].eq(Cat(Const(0, LF), gnext) << shift)
        node_start_q = [Signal(PW, name=f"node_start_q{i}") for i in range(F + 1)]
        m.d.sync += [node_start_q[i].eq(node_start[i]) for i in range(F + 1)]
        node_start = node_start_q

        def align_up(value: Value, name: str) -> Value:
            return _sig(m, ((value + gmask) & ~gmask)[:PW], name)

        # Carry sources: the carry register, or the start of child i's suffix (i not full).
        after = [_sig(m, (node_start[i + 1] - slot_suf[i])[:PW], f"after{i}") for i in range(F)]
        al_carry = align_up(carry, "al_carry")
        # align_up(node_start[i+1] - suf) without a second adder: when the alignment is at most
        # the node length, node_start[i+1] is a multiple of it and the result is
        # node_start[i+1] - (suf rounded down); when it is larger (suf < alignment) the result
        # is align_up(node_start[i+1]), which depends on registers only.
        small_align = _sig(m, glog <= log2len, "small_align")
        aligned_after = [
            _sig(
                m,
                Mux(
                    small_align,
                    (node_start[i + 1] - (slot_suf[i] & ~gmask[:VW]))[:PW],
                    align_up(node_start[i + 1], f"al_next{i}"),
                ),
                f"al_after{i}",
            )
            for i in range(F)
        ]

        # Search stage 1 (SearchPrep): every sum of the group is computed from registers and
        # registered here; stage 2 (SearchEval) is then the comparators, a one-hot selection
        # and the lowest-hit tree.
        def stage(value: Value, name: str) -> Signal:
            reg = Signal(value.shape(), name=name)
            m.d.sync += reg.eq(value)
            return reg

        # Operands that depend on registers only (carry, count, the level constants) are
        # registered every cycle; the walk reads them two cycles after it changes them.
        cc_q = stage((al_carry + count)[:PW], "cc_q")  # the carry's first aligned start + count
        ce_q = [  # count + the distance from child j's end to the next aligned position
            stage((count + ((-node_start[j + 1]) & gmask)[:PW])[:PW], f"ce_q{j}") for j in range(F)
        ]

        # Stage 1 (SearchPrep) also compares: a run starting in the suffix of child j (or
        # the carry) fits when it ends by the end of the run entering child i, that is
        # count - (suf_j rounded down) <= D_ij (alignment at most a node), count + e_j <=
        # D_ij (larger alignment) with D_ij = run_end_i - node_start[j + 1], or for the carry
        # align_up(carry) + count <= run_end_i.
        fits_q: list[dict[int, Value]] = []
        for i in range(F):
            run_end = Mux(slot_full[i], node_start[i + 1], node_start[i] | slot_pre[i])
            fits_i: dict[int, Value] = {F: stage(cc_q <= run_end, f"fits_q{i}c")}
            for j in range(i):
                d_ij = Mux(slot_full[i], jlen[i - j], jlen[i - j - 1] | slot_pre[i])
                # count <= (suf_j rounded down) + D_ij
                small = _sum_ge(m, [slot_suf[j] & ~gmask[:VW], d_ij], [count], 0, f"small{i}_{j}")
                fits_i[j] = stage(Mux(small_align, small, ce_q[j] <= d_ij), f"fits_q{i}_{j}")
            fits_q.append(fits_i)

        after = [stage(after[i], f"after_q{i}") for i in range(F)]
        al_carry = stage(al_carry, "al_carry_q")
        aligned_after = [stage(aligned_after[i], f"al_after_q{i}") for i in range(F)]
        # Stage 2 (SearchEval): the run entering child i starts in the suffix of the last child
        # j < i that is not entirely free (and not skipped: j >= s0 - 1), or else it is the
        # carry. That choice depends on registers only (one-hot ``src[i][j]``, ``j = F`` for
        # the carry), so the hit is a selection of the comparisons made in stage 1.
        # (computed in stage 1 from the full bits and s0, registered)
        keep = [_sig(m, (j + 1 < s0) | slot_full[j], f"keep{j}") for j in range(F)]
        src: list[dict[int, Value]] = []
        for i in range(F):
            choice: dict[int, Value] = {F: stage(Cat(*keep[:i], Const(1, 1)).all(), f"src{i}c")}
            for j in range(i):
                choice[j] = stage(Cat(~keep[j], *keep[j + 1 : i], Const(1, 1)).all(), f"src{i}_{j}")
            src.append(choice)
        start_of = {j: aligned_after[j] for j in range(F)} | {F: al_carry}
        run_of = {j: after[j] for j in range(F)} | {F: carry}

        def pick(i: int, values: dict[int, Value], name: str) -> Value:
            result: Value = Const(0, PW)
            for j, sel in src[i].items():
                result = result | Mux(sel, values[j], 0)
            return _sig(m, result, name)

        fit = []
        hit = []
        first_aligned: list[Value] = []
        carries: list[Value] = []
        for i in range(F):
            eligible = stage(i >= s0, f"eligible_q{i}")
            fits_from = [sel & fits_q[i][j] for j, sel in src[i].items()]
            fits = _sig(m, eligible & Cat(*fits_from).any(), f"fits{i}")
            big = (slot_max[i] >= count) & (glog < log2len)
            descend = stage((i >= s0) & ~slot_full[i] & big, f"descend_q{i}")
            fit.append(fits)
            hit.append(_sig(m, fits | descend, f"hit{i}"))
            first_aligned.append(pick(i, start_of, f"aligned{i}"))
            carries.append(pick(i, run_of, f"carry{i}"))
        hit_any, hit_slot = _lowest_set(m, hit, "hit")
        hit_slot = hit_slot[:LF]
        # the first hit, one-hot (flat, not through hit_slot): is it a run found through the
        # carry, and its run start and carry
        first = [_sig(m, hit[i] & ~Cat(*hit[:i], Const(0, 1)).any(), f"first{i}") for i in range(F)]
        hit_fit = _sig(m, Cat(*[first[i] & fit[i] for i in range(F)]).any(), "hit_fit")
        hit_p: Value = Const(0, PW)
        hit_carry: Value = Const(0, PW)
        for i in range(F):
            hit_p = hit_p | Mux(first[i], first_aligned[i], 0)
            hit_carry = hit_carry | Mux(first[i], carries[i], 0)
        hit_p = _sig(m, hit_p, "hit_p")
        hit_carry = _sig(m, hit_carry, "hit_carry")

        # In-word search: lowest aligned start of a run of ``count`` (<= 32) free granules.
        free_word = ~word_q
        doubled: list[Value] = [_sig(m, free_word, "dbl0")]
        for k in range(5):
            doubled.append(_sig(m, doubled[-1] & (doubled[-1] >> (1 << k)), f"dbl{k + 1}"))
        n6 = count[:6]
        top_bit = Signal(3)
        for k in range(6):
            with m.If(n6[k]):
                m.d.comb += top_bit.eq(k)
        # count's top bit and the rest, and the word's aligned positions, depend on registers
        # that are stable during the word search: registered every cycle
        top_bit_q = Signal(3)
        m.d.sync += top_bit_q.eq(top_bit)
        dk = Signal(32)
        with m.Switch(top_bit_q):
            for k in range(6):
                with m.Case(k):
                    m.d.comb += dk.eq(doubled[k])
        rest = Signal(5)
        m.d.sync += rest.eq(n6 - (Const(1, 6) << top_bit))
        amask = Signal(32)
        with m.Switch(glog):
            for g in range(6):
                with m.Case(g):
                    m.d.sync += amask.eq(_align_pattern(g))
            with m.Default():
                m.d.sync += amask.eq(((Cat(Const(0, 5), wsel) & gmask) == 0).as_unsigned())
        dk_q = Signal(32)  # runs of 2**top_bit free granules, registered (WordEval)
        m.d.sync += dk_q.eq(dk)
        word_runs = dk_q & (dk_q >> rest) & amask
        run_any, run_bit = _lowest_set(m, [runs[i] for i in range(32)], "run")

        # ---- passes: masks of the range inside word ``b_idx`` ------------------------------
        lo_bit = Mux(b_first, rstart[:5], 0)
        hi_bit = Mux(b_last, rlast[:5], 31)
        ones = Const(0xFFFF_FFFF, 32)
        range_mask = Signal(32)
        hi_gap = Signal(5)
        m.d.comb += [
            hi_gap.eq(31 - hi_bit),
            range_mask.eq((ones << lo_bit)[:32] & (ones >> hi_gap)),
        ]
        # Stage B2: the word read in stage B and its range mask, registered (a block RAM's
        # output feeds nothing but a register).
        vb2 = Signal()
        b2_idx = Signal(AW)
        old_word = word_q
        mask_q = Signal(32)
        m.d.sync += mask_q.eq(range_mask)
        new_word = Signal(32)
        with m.Switch(mode):
            with m.Case(0):
                m.d.comb += new_word.eq(old_word | mask_q)
            with m.Case(1):
                m.d.comb += new_word.eq(old_word & ~mask_q)
            with m.Default():
                m.d.comb += new_word.eq(Mux(b2_idx == W - 1, self.pad_word, 0))
        # Word summary in three stages: 8-bit segments (wc), halves (wd), the word (we).
        # (the nibbles' tables are looked up from the rewritten word before stage wc)
        nib_q = _registered(m, _nibble_summaries(m, ~new_word, "wn"), 3, "nib")
        segs = _merge_runs(m, nib_q, 4, "ws")
        seg_q = _registered(m, segs, 4, "seg")
        halves = _merge_runs(m, seg_q, 8, "wh")
        half_q = _registered(m, halves, 5, "half")
        whole = _merge_runs(m, half_q, 16, "ww")[0]
        e_pre = Signal(6)
        e_suf = Signal(6)
        e_max = Signal(6)
        m.d.sync += [e_pre.eq(whole[0]), e_suf.eq(whole[1]), e_max.eq(whole[2])]
        # "the word is entirely free", carried along the same stages
        free_d = Signal()
        free_e = Signal()
        e_full = Signal()
        nib_free = Cat(*(pre == 4 for pre, _, _ in nib_q)).all()
        m.d.sync += [free_d.eq(nib_free), free_e.eq(free_d), e_full.eq(free_e)]
        l_pre = Signal(VW)  # combined node summary (stage le of the level passes)
        l_suf = Signal(VW)
        l_max = Signal(VW)
        l_full = Signal()
        m.d.sync += [
            l_pre.eq(comb_pre),
            l_suf.eq(comb_suf),
            l_max.eq(comb_max),
            l_full.eq(comb_full),
        ]

        # The two pipelines advance every cycle; the states only start words and groups.
        in_words = Signal()  # the word pass is running (not the FREE/RESERVE check)
        m.d.sync += [vb.eq(0), lb.eq(0), vb2.eq(vb), b2_idx.eq(b_idx)]
        m.d.sync += [
            wc.eq(vb2 & in_words),
            wc_idx.eq(b2_idx),
            wd.eq(wc),
            wd_idx.eq(wc_idx),
            we_.eq(wd),
            we_idx.eq(wd_idx),
            wf.eq(we_),
        ]
        m.d.sync += [
            lc.eq(lb),
            lc_idx.eq(lb_idx),
            ld.eq(lc),
            ld_idx.eq(lc_idx),
            le.eq(ld),
        ]
        with m.If(vb2 & in_words):
            m.d.comb += [gat_w.addr.eq(b2_idx), gat_w.data.eq(new_word), gat_w.en.eq(1)]
        # the summary written (position registered above): stage le's node, else wf's word
        m.d.comb += [
            w_pre.eq(Mux(le, l_pre, e_pre)),
            w_suf.eq(Mux(le, l_suf, e_suf)),
            w_max.eq(Mux(le, l_max, e_max)),
            w_full.eq(Mux(le, l_full, e_full)),
        ]
        for bank in range(F):
            port = sum_w[bank]
            m.d.comb += [
                port.addr.eq(waddr),
                port.data.eq(Cat(w_pre[:SW], w_suf[:SW], w_max[:SW], w_full)),
                port.en.eq(wmem & (windex[:LF] == bank)),
            ]
        with m.If(wen & (wlvl == T)):
            m.d.sync += [root_pre.eq(w_pre), root_suf.eq(w_suf), root_max.eq(w_max)]

        # ---- decode -------------------------------------------------------------------
        off = Signal(33)
        m.d.comb += off.eq(addr - self.base)
        below = (addr < self.base) if self.base else Const(0)
        misaligned = off[: self.log2gran] != 0
        index = off[self.log2gran : 32]
        # flags of the request's fields, registered with them at acceptance (from the payload)
        align_pow2 = Signal()  # 0 or a power of two
        count_zero = Signal()
        count_big = Signal()  # count > granules
        count_le32 = Signal()  # count <= 32 (registered every cycle from count)
        m.d.sync += count_le32.eq(count <= 32)
        # log2 of the (power of two) alignment in granules, clamped to 0..GMAX: an OR tree per
        # bit over the alignment's bits (no subtraction, no comparator)
        scaled = align[self.log2gran :]
        glog_next = Signal(range(GMAX + 1))
        low = scaled[:GMAX]
        encoded = Cat(
            *[
                Cat(*[low[j] for j in range(len(low)) if (j >> k) & 1], Const(0)).any()
                for k in range(len(glog_next))
            ]
        )
        m.d.comb += glog_next.eq(Mux(scaled[GMAX:].any(), GMAX, encoded))
        # 2**glog_next - 1, straight from the (power of two) alignment: bit i is set when the
        # alignment is above 2**(i + log2gran), up to GMAX bits (a suffix OR, no comparator)
        gmask_next = Cat(
            *[align[i + self.log2gran + 1 :].any() if i < GMAX else Const(0) for i in range(PW)]
        )
        # the checks of a request, registered in Decode
        early = Signal()  # Decode2 answers from the fields alone, with early_status
        early_status = Signal(4)
        bad_addr = Signal()
        index_q = Signal(32 - self.log2gran)
        room_q = Signal(signed(19))  # N - count: the last granule index a range may start at
        past_end = Signal()  # FREE / RESERVE: the range leaves the heap (registered in Decode2)

        def respond(status: GfaStatus | Value, address: Value | int = 0) -> None:
            m.d.sync += [resp_valid.eq(1), resp_status.eq(status), resp_addr.eq(address)]
            m.next = "Idle"

        def start_pass_check(first: Value, last: Value) -> None:
            m.d.sync += [
                rstart.eq(first),
                rlast.eq(last),
                gaddr.eq(first[5:]),
                issued.eq(0),
                first_pending.eq(1),
            ]
            m.d.sync += bad.eq(0)

        m.d.comb += self.busy.eq(1)
        m.d.comb += gat_r.addr.eq(self.dbg_addr)
        dbg_last = Signal()
        m.d.sync += dbg_last.eq(self.dbg_addr == W - 1)
        m.d.comb += self.dbg_data.eq(Mux(dbg_last, gat_r.data & ~self.pad_word, gat_r.data))

        def start_level(level: Value | int, lo: Value, hi: Value) -> None:
            """Update pass of ``level`` over nodes ``lo..hi``; its first read is issued now.

            Called (``start_q``, at ``start_addr_q``) one cycle before the previous level's
            last summary is written: that write and the one of this cycle reach the group
            through the slot forwarding.
            """
            m.d.sync += [
                lvl.eq(level),
                lo_node.eq(lo),
                hi_node.eq(hi),
                gaddr.eq(lo + 1),
                issued.eq(lo == hi),
                lb.eq(1),
                lb_idx.eq(lo),
            ]
            m.next = "UpdateLevel"

        def load_range() -> None:
            """The run at ``found_p`` becomes the range to update (Found, WordFound)."""
            m.d.sync += [rstart.eq(found_p), rlast.eq(found_p + count - 1)]

        def found() -> None:
            """The run at ``found_p`` is allocated: its first word (``wsel``) is read now."""
            # the run ends in this word (count <= 32, registered, and a 6-bit sum)
            found_last = count_le32 & ((found_p[:5] + count[:6]) <= 32)
            m.d.sync += [
                gaddr.eq(found_p[5:] + 1),
                issued.eq(found_last),
                first_pending.eq(0),  # the first word is issued here
                b_first.eq(1),
                b_last.eq(found_last),
                vb.eq(1),
                b_idx.eq(found_p[5:]),
                mode.eq(0),
            ]
            m.next = "UpdateWords"

        def finish() -> None:
            """The last summary is being written: update the free count and respond."""
            with m.Switch(mode):
                with m.Case(0):
                    m.d.sync += free_count.eq(free_count - count)
                    with m.If(op == GfaOp.ALLOC):
                        respond(GfaStatus.OK, self.base + (rstart[:17] << self.log2gran)[:32])
                    with m.Else():
                        respond(GfaStatus.OK)
                with m.Case(1):
                    m.d.sync += free_count.eq(free_count + count)
                    respond(GfaStatus.OK)
                with m.Default():
                    m.d.sync += free_count.eq(N)
                    respond(GfaStatus.OK)

        m.d.sync += word_q.eq(gat_r.data)
        m.d.sync += [start_q.eq(0), finish_q.eq(0)]  # unless Idle/UpdateWords/UpdateLevel say
        # The request's checks, registered every cycle from the request registers (stable from
        # acceptance to the response): Decode2 acts on them. ``early``: Decode2 answers from the
        # fields alone, with ``early_status`` (the model's order of checks).
        early_next = Signal()
        early_status_next = Signal(4)
        with m.Switch(op):
            with m.Case(GfaOp.ALLOC):
                with m.If(count_zero):
                    m.d.comb += [early_next.eq(1), early_status_next.eq(GfaStatus.BAD_COUNT)]
                with m.Elif(~align_pow2):
                    m.d.comb += [early_next.eq(1), early_status_next.eq(GfaStatus.BAD_ALIGN)]
                with m.Elif(count_big):
                    m.d.comb += [early_next.eq(1), early_status_next.eq(GfaStatus.BAD_COUNT)]
                with m.Elif(root_max < count):
                    m.d.comb += [early_next.eq(1), early_status_next.eq(GfaStatus.NO_SPACE)]
            with m.Case(GfaOp.FREE, GfaOp.RESERVE):
                m.d.comb += [early_next.eq(count_zero), early_status_next.eq(GfaStatus.BAD_COUNT)]
            with m.Case(GfaOp.INFO):
                m.d.comb += [early_next.eq(1), early_status_next.eq(GfaStatus.OK)]
            with m.Case(GfaOp.CLEAR):
                pass
            with m.Default():
                m.d.comb += [early_next.eq(1), early_status_next.eq(GfaStatus.BAD_OP)]
        m.d.sync += [
            early.eq(early_next),
            early_status.eq(early_status_next),
            glog.eq(glog_next),
            gmask.eq(gmask_next),
            bad_addr.eq(below | misaligned),
            index_q.eq(index),
            room_q.eq(N - count),
            past_end.eq(index_q > room_q),
        ]

        with m.FSM():
            with m.State("Idle"):
                # the cycle after acceptance (Decode) reads the root's children, and every
                # register derived from the group position (node starts, level constants)
                # is the root group's from Decode on
                m.d.sync += [start_q.eq(1), start_addr_q.eq(row_base[T - 1])]
                m.d.sync += [lvl.eq(T - 1), gaddr.eq(0)]
                m.d.comb += [
                    self.busy.eq(0),
                    self.req.ready.eq(~resp_valid | self.resp.ready),
                ]
                with m.If(self.req.valid & self.req.ready):
                    m.d.sync += [
                        op.eq(self.req.payload.op.as_value()),
                        count.eq(self.req.payload.count),
                        align_pow2.eq(~_two_or_more(m, self.req.payload.align, "align_many")),
                        count_zero.eq(self.req.payload.count == 0),
                        count_big.eq(self.req.payload.count > N),
                        addr.eq(self.req.payload.addr),
                        align.eq(self.req.payload.align),
                    ]
                    m.next = "Decode"

            with m.State("Decode"):
                # The request's checks (registered every cycle, see above) are acted on in
                # Decode2. The root's children (row 0 of level T - 1, ``start_addr_q`` set in
                # Idle) are read meanwhile in case this is an ALLOC, and again in Decode2.
                m.d.sync += [s0.eq(0), carry.eq(0)]
                m.next = "Decode2"

            with m.State("Decode2"):
                # CLEAR's pass over every word, loaded whatever the request (the other
                # operations load these registers again before they use them; gaddr is
                # already 0, the root group an ALLOC searches first)
                m.d.sync += [
                    rstart.eq(0),
                    rlast.eq(W * 32 - 1),
                    gaddr.eq(0),
                    issued.eq(0),
                    first_pending.eq(1),
                    mode.eq(2),
                ]
                with m.If(early):
                    respond(early_status)
                with m.Elif(op == GfaOp.ALLOC):
                    # the root's group is in the slots at the end of this cycle
                    m.next = "SearchPrep"
                with m.Elif(op == GfaOp.CLEAR):
                    m.next = "UpdateWords"
                with m.Else():
                    m.next = "Range"  # FREE / RESERVE

            with m.State("Range"):
                # FREE / RESERVE: the range's end, compared in Decode2, decides here (the
                # pass registers are loaded whatever the outcome: only the state depends on it)
                start_pass_check(index_q, index_q + count - 1)
                m.d.sync += mode.eq(Mux(op == GfaOp.FREE, 1, 0))
                with m.If(bad_addr | past_end):
                    respond(GfaStatus.BAD_ADDR)
                with m.Else():
                    m.next = "Check"

            # -- the walk down the tree: read, register, evaluate ---------------------------
            # (the summary memories always read row gaddr of level lvl: the slot registers
            # hold the group until SearchEval)
            with m.State("SearchRead"):
                m.next = "SearchWait"

            with m.State("SearchWait"):
                m.next = "SearchPrep"

            with m.State("SearchPrep"):
                m.next = "SearchEval"

            with m.State("SearchEval"):
                # Registers are loaded whatever the outcome where that is harmless (each is
                # reloaded before its next use otherwise), so that only the state and the
                # group position depend on the whole decision.
                # The descent is loaded unconditionally too (SearchPop resumes from the group
                # saved in pop_*), so the decision reaches only the state register.
                m.d.sync += [
                    found_p.eq(hit_p),
                    # the word read next: the found run's first (Found) or the one to search
                    wsel.eq(Mux(hit_fit, hit_p[5:], Cat(hit_slot, gaddr))),
                    s0.eq(0),
                    carry.eq(hit_carry),
                    lvl.eq(lvl - 1),
                    gaddr.eq(Cat(hit_slot, gaddr)),
                    pop_lvl.eq(lvl),
                    pop_gaddr.eq(gaddr),
                ]
                with m.If(hit_any & hit_fit):
                    m.next = "Found"
                with m.Elif(hit_any & (lvl == 0)):
                    m.next = "WordRead"
                with m.Elif(hit_any):
                    m.next = "SearchRead"
                with m.Else():
                    m.next = "SearchPop"

            with m.State("SearchPop"):
                # Group (pop_lvl, pop_gaddr) holds no answer: resume after its parent in the
                # group above.
                up_lvl = pop_lvl + 1
                up_gaddr = pop_gaddr >> LF
                m.d.sync += [lvl.eq(up_lvl), gaddr.eq(up_gaddr), s0.eq(pop_gaddr[:LF] + 1)]
                m.d.sync += [pop_lvl.eq(up_lvl), pop_gaddr.eq(up_gaddr)]
                with m.If(pop_lvl == T - 1):
                    respond(GfaStatus.NO_SPACE)
                with m.Elif(pop_gaddr[:LF] != F - 1):
                    m.next = "SearchRead"

            with m.State("WordRead"):
                m.d.comb += gat_r.addr.eq(wsel)
                m.next = "WordWait"

            with m.State("WordWait"):
                m.next = "WordEval"

            with m.State("WordEval"):
                m.next = "WordShift"

            with m.State("WordShift"):
                m.d.sync += runs.eq(word_runs)
                m.next = "WordPick"

            with m.State("WordPick"):
                # every register is loaded whatever the outcome (Found sets gaddr again and
                # SearchPop does not use s0); the decision waits for WordFound, registered
                m.d.sync += [
                    found_p.eq(Cat(run_bit[:5], wsel)),
                    run_found.eq(run_any),
                    lvl.eq(0),
                    gaddr.eq(wsel >> LF),
                    s0.eq(wsel[:LF] + 1),
                    pop_lvl.eq(0),
                    pop_gaddr.eq(wsel >> LF),
                ]
                m.next = "WordFound"

            with m.State("WordFound"):
                # the range and the first word's read address whatever the outcome, so that
                # only the state depends on it (the GAT's read address feeds the block RAM's
                # read/write collision logic)
                load_range()
                m.d.comb += gat_r.addr.eq(wsel)  # found_p's word
                # gaddr as found() sets it, or as WordPick set it (not "unchanged": gaddr's
                # enable then depends on the state alone)
                m.d.sync += gaddr.eq(Mux(run_found, found_p[5:] + 1, wsel >> LF))
                with m.If(run_found):
                    found()
                with m.Elif(wsel[:LF] == F - 1):
                    m.next = "SearchPop"
                with m.Else():
                    m.next = "SearchRead"

            with m.State("Found"):
                load_range()
                m.d.comb += gat_r.addr.eq(wsel)  # found_p's word
                found()

            # -- FREE / RESERVE: every granule of the range must be in use / free -----------
            with m.State("Check"):
                # (gaddr counts on past the range: those reads are not used)
                m.d.comb += gat_r.addr.eq(gaddr)
                m.d.sync += gaddr.eq(gaddr + 1)
                with m.If(~issued):
                    m.d.sync += [
                        issued.eq(gaddr == rlast[5:]),
                        first_pending.eq(0),
                        b_first.eq(first_pending),
                        b_last.eq(gaddr == rlast[5:]),
                        vb.eq(1),
                        b_idx.eq(gaddr),
                    ]
                with m.If(vb2):
                    with m.If(mode == 1):
                        m.d.sync += bad.eq(bad | ((old_word & mask_q) != mask_q))
                    with m.Else():
                        m.d.sync += bad.eq(bad | ((old_word & mask_q) != 0))
                with m.If(issued & ~vb & ~vb2):
                    with m.If(bad):
                        respond(Mux(mode == 1, GfaStatus.NOT_IN_USE, GfaStatus.IN_USE))
                    with m.Else():
                        m.d.sync += [gaddr.eq(rstart[5:]), issued.eq(0), first_pending.eq(1)]
                        m.next = "UpdateWords"

            # -- rewrite the words (read, register, rewrite), summarise them (3 stages) and
            # write their summaries -----------------------------------------------------------
            with m.State("UpdateWords"):
                m.d.comb += in_words.eq(1)
                # (gaddr counts on past the range: those reads are not used)
                m.d.comb += gat_r.addr.eq(gaddr)
                m.d.sync += gaddr.eq(gaddr + 1)
                with m.If(~issued):
                    m.d.sync += [
                        issued.eq(gaddr == rlast[5:]),
                        first_pending.eq(0),
                        b_first.eq(first_pending),
                        b_last.eq(gaddr == rlast[5:]),
                        vb.eq(1),
                        b_idx.eq(gaddr),
                    ]
                # start_q next cycle: the last word's summary is computed then (``we``) and
                # written the cycle after; level 0's first group is read meanwhile
                m.d.sync += [
                    start_q.eq(issued & ~vb & ~vb2 & ~wc & wd),
                    start_addr_q.eq(row_base[0] | rstart[5 + LF :]),
                ]
                with m.If(start_q):
                    start_level(0, rstart[5 + LF :], rlast[5 + LF :])

            # -- summaries, level by level: read the children (lb), register them and sum
            # (lc), combine (ld), write the node of level lvl + 1 (le) --------------------------
            with m.State("UpdateLevel"):
                m.d.sync += gaddr.eq(gaddr + 1)  # (counts on past hi_node: reads not used)
                with m.If(~issued):
                    m.d.sync += [
                        issued.eq(gaddr == hi_node),
                        lb.eq(1),
                        lb_idx.eq(gaddr),
                    ]
                # decided one cycle ahead: in the next cycle the level's last node is combined
                # (``ld``: start the next level) or, at the top, the root is written (finish)
                all_issued = issued & ~lb
                next_base = Signal(range(depth))
                with m.Switch(lvl):
                    for level in range(T - 1):
                        with m.Case(level):
                            m.d.comb += next_base.eq(row_base[level + 1])
                m.d.sync += [
                    start_q.eq(all_issued & lc & (lvl != T - 1)),
                    finish_q.eq(all_issued & ~lc & ld & (lvl == T - 1)),
                    start_addr_q.eq(next_base | (lo_node >> LF)),
                ]
                with m.If(finish_q):
                    finish()
                with m.If(start_q):
                    start_level(lvl + 1, lo_node >> LF, hi_node >> LF)

        return m
