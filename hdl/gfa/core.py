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
- CLEAR: ``words + 8 + sum_l (nodes_l + 2)`` over the levels l = 1..L, the root included
  (every word and node is rewritten): 188 cycles at 4096 granules, 1384 at 32768.

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

from mmaccel.hdl.lut import lut4

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

    Raises
    ------
    TypeError
        A parameter that is not an int.
    ValueError
        A parameter outside the ranges above, or a heap ending past 2**32.

    Notes
    -----
    Latency, in cycles from the edge that accepts the request to the edge after which the
    response is valid (the module docstring gives every case): an unaligned ALLOC of up to 32
    granules in one word takes ``7 * levels + 12`` cycles (47 at 32768 granules), a FREE or
    RESERVE of up to 32 granules in one word ``3 * levels + 14`` (29), whatever the occupancy
    or fragmentation; INFO and the errors found from the request's fields 2.

    Throughput: one request is in flight at a time; the next is accepted in the cycle after the
    response is produced, or in the cycle it is taken, so with a ready consumer a request
    completes every latency + 1 cycles.
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
        """Build the allocator: storage and registers, the summary tree's read side and
        combine, the search, the update passes' datapath, the request checks and the state
        machine (each part is a method of :class:`_AllocatorGateware`, called in this order)."""
        hw = _AllocatorGateware(self, platform)
        hw.storage()
        hw.registers()
        hw.response()
        hw.summary_ports()
        hw.group_slots()
        hw.level_constants()
        hw.combine_group()
        hw.search_prepare()
        hw.search_evaluate()
        hw.word_search()
        hw.word_pass()
        hw.summary_writes()
        hw.request_checks()
        hw.gat_read()
        hw.pulse_defaults()
        hw.request_decisions()
        hw.control()
        return hw.m


class _AllocatorGateware:
    """The gateware of one :class:`GranuleFrameAllocator`, built part by part into ``m``.

    Each public method builds one part and keeps the signals that later parts use as
    attributes; :meth:`GranuleFrameAllocator.elaborate` calls them in a fixed order (the order
    in which signals and statements are created fixes the generated Verilog's names).
    """

    def __init__(self, gfa: GranuleFrameAllocator, platform: object) -> None:
        self.gfa = gfa
        self.platform = platform
        self.m = Module()
        #: children per summary node, and its log2
        self.fanout = gfa.fanout
        self.log2_fanout = gfa.log2fanout
        #: summary levels above the words: level 0 summarises one word, ``levels`` is the root
        self.levels = gfa.levels
        self.words = gfa.words
        self.granules = gfa.granules
        #: width of the summary values and of granule positions inside the tree
        self.value_width = gfa.node_length(self.levels).bit_length()
        #: width of position arithmetic, with room for ``p + count`` and alignment rounding
        self.pos_width = self.value_width + 2
        #: alignments are clamped to ``2**max_align_log2`` granules (more than any position)
        self.max_align_log2 = self.pos_width - 2
        #: width of a word or node index (it holds ``words``: the pass loops end past it)
        self.index_width = max(self.words, 2).bit_length()

    # -- storage and registers ------------------------------------------------------------

    def storage(self) -> None:
        """The GAT and the summary banks in block RAM, the root summary and the free count.

        One memory per bank holds every level below the root: level ``l``'s rows start at
        ``row_base[l]``, a multiple of the power of two above its row count, so a row address
        is ``row_base[l] | row`` (no adder). Every level is stored at the width of the widest
        (``stored_width``, values zero-extended), with the node's ``full`` bit on top.
        """
        m, gfa = self.m, self.gfa
        fanout, levels, words = self.fanout, self.levels, self.words
        gat_init = [0] * max(words, 2)
        gat_init[words - 1] = gfa.pad_word
        m.submodules.gat = gat = Memory(shape=unsigned(32), depth=max(words, 2), init=gat_init)
        self.gat_r = gat.read_port()
        self.gat_w = gat.write_port()

        stored_width = self.stored_width = gfa._summary_width(levels - 1)
        row_base = self.row_base = gfa.row_bases()
        bank_depth = self.bank_depth = max(2, row_base[levels])
        self.sum_r: list[ReadPort] = []
        self.sum_w: list[WritePort] = []
        for bank in range(fanout):
            init = [0] * bank_depth
            for level in range(levels):
                for row in range((gfa.level_counts[level] + fanout - 1) // fanout):
                    index = row * fanout + bank
                    if index < gfa.level_counts[level]:
                        pre, suf, mx = gfa.empty_summary(level, index)
                    else:
                        pre = suf = mx = 0
                    full = int(pre == gfa.node_length(level))
                    init[row_base[level] + row] = (
                        pre
                        | suf << stored_width
                        | mx << 2 * stored_width
                        | full << 3 * stored_width
                    )
            # The read is synchronous, written as an asynchronous port and a plain register
            # (``sum_q``) that Yosys merges into the block RAM, so that it honours
            # ``no_rw_check``: what a read returns in the cycle its row is written is left to
            # the block RAM. That value is never used (the slot then takes the write,
            # ``fwd_last``), so no read-first emulation is needed.
            mem = Memory(
                shape=unsigned(3 * stored_width + 1),
                depth=bank_depth,
                init=init,
                attrs={"no_rw_check": 1},
            )
            m.submodules[f"sum{bank}"] = mem
            self.sum_r.append(mem.read_port(domain="comb"))
            self.sum_w.append(mem.write_port())

        value_width = self.value_width
        root_init = gfa.empty_summary(levels, 0)
        self.root_pre = Signal(value_width, init=root_init[0])
        self.root_suf = Signal(value_width, init=root_init[1])
        self.root_max = Signal(value_width, init=root_init[2])
        self.free_count = Signal(17, init=self.granules)

    def registers(self) -> None:
        """The request's registers and the engine's state and pipeline registers."""
        fanout, levels = self.fanout, self.levels
        pos_width, index_width = self.pos_width, self.index_width
        # ---- request registers ----------------------------------------------------------
        self.op = Signal(3)
        self.count = Signal(17)
        self.addr = Signal(32)
        self.align = Signal(32)
        # log2 of the alignment in granules (clamped)
        self.glog = Signal(range(self.max_align_log2 + 1))
        self.gmask = Signal(pos_width)  # 2**glog - 1

        # ---- engine registers -----------------------------------------------------------
        self.lvl = Signal(range(levels + 1))  # level of the group being read
        # group address (search) / node index being issued (passes)
        self.gaddr = Signal(index_width)
        # first eligible slot when resuming after a rejected descent
        self.s0 = Signal(range(fanout + 1))
        # the group SearchPop resumes after (its level, address)
        self.pop_lvl = Signal(range(levels + 1))
        self.pop_gaddr = Signal(index_width)
        self.carry = Signal(pos_width)  # start of the free run entering the group
        self.wsel = Signal(index_width)  # word examined by the in-word search
        self.found_p = Signal(pos_width)  # allocated granule index
        self.runs = Signal(32)  # aligned run starts in the examined word
        self.run_found = Signal()  # the examined word holds one (WordFound)
        self.word_q = Signal(32)  # the GAT word read in the previous cycle, registered
        self.rstart = Signal(pos_width)  # first granule of the range being checked / updated
        self.rlast = Signal(pos_width)  # last granule of that range
        # first / last node of the range at the level being updated
        self.lo_node = Signal(index_width)
        self.hi_node = Signal(index_width)
        self.issued = Signal()  # every word / node of the current pass has been issued
        self.first_pending = Signal()  # the next word issued is the range's first
        # the word on the GAT port (stage vb) is the range's first / last
        self.b_first = Signal()
        self.b_last = Signal()
        # pass mode: 0 set (alloc/reserve), 1 clear (free), 2 empty (CLEAR)
        self.mode = Signal(2)
        self.bad = Signal()
        # Pipeline of the word pass (and of the FREE/RESERVE check): a word is read (its data
        # is on the port while ``vb``), registered with its range mask (``vb2``: rewritten),
        # summarised in three stages (``wc``: 8-bit segments, ``wd``: halves, ``we``: word)
        # and its summary written (``wf``).
        self.vb = Signal()
        self.b_idx = Signal(index_width)
        self.wc, self.wd, self.we_, self.wf = (Signal(name=f"w{s}_valid") for s in "cdef")
        self.wc_idx, self.wd_idx, self.we_idx = (
            Signal(index_width, name=f"w{s}_idx") for s in "cde"
        )
        # Pipeline of a level pass: a group is read (on the port while ``lb``), registered in
        # the slots (``lc``: first half of the combine), combined (``ld``) and written (``le``).
        self.lb, self.lc, self.ld, self.le = (Signal(name=f"l{s}_valid") for s in "bcde")
        self.lb_idx, self.lc_idx, self.ld_idx = (
            Signal(index_width, name=f"l{s}_idx") for s in "bcd"
        )
        self.resp_valid = Signal()
        self.resp_status = Signal(4)
        self.resp_addr = Signal(32)

    def response(self) -> None:
        """The response stream, driven from the response registers and the root's summary;
        ``resp_valid`` falls when the response is taken."""
        m, resp = self.m, self.gfa.resp
        m.d.comb += [
            resp.valid.eq(self.resp_valid),
            resp.payload.status.eq(self.resp_status),
            resp.payload.addr.eq(self.resp_addr),
            resp.payload.free_count.eq(self.free_count),
            resp.payload.largest_run.eq(self.root_max),
        ]
        with m.If(resp.valid & resp.ready):
            m.d.sync += self.resp_valid.eq(0)

    # -- summary tree: bank ports, the group read, the combine --------------------------------

    def summary_ports(self) -> None:
        """The summary banks' addresses and read data.

        Reads address row ``gaddr`` of level ``lvl`` (or, in the cycle a level pass starts,
        ``start_addr_q``); each bank's data is registered (``sum_q``) and split into
        ``rd_pre/suf/max/full``. Writes go to level ``wlvl`` node ``windex`` (stage wf or le);
        the write's position is known a cycle ahead (from stages we / ld), so it is
        registered: the write address and the forwarding decisions come from registers.
        """
        m = self.m
        fanout, log2_fanout, levels = self.fanout, self.log2_fanout, self.levels
        value_width, index_width = self.value_width, self.index_width
        stored_width, row_base, bank_depth = self.stored_width, self.row_base, self.bank_depth
        self.wen = wen = Signal()
        self.wlvl = wlvl = Signal(range(levels + 1))
        self.windex = windex = Signal(index_width)
        self.w_pre = Signal(value_width)
        self.w_suf = Signal(value_width)
        self.w_max = Signal(value_width)
        self.w_full = Signal()

        # ---- shared read side: the group at level ``lvl`` -------------------------------
        self.rd_pre = [Signal(value_width, name=f"rd_pre{i}") for i in range(fanout)]
        self.rd_suf = [Signal(value_width, name=f"rd_suf{i}") for i in range(fanout)]
        self.rd_max = [Signal(value_width, name=f"rd_max{i}") for i in range(fanout)]
        self.rd_full = [Signal(name=f"rd_full{i}") for i in range(fanout)]
        # Read address: row ``gaddr`` of level ``lvl``, or in the cycle a level pass starts
        # (``start_q``, decided one cycle ahead) the first row of the next level, registered.
        self.start_q = Signal()
        self.start_addr_q = Signal(range(bank_depth))
        self.finish_q = Signal()  # the root is written in this cycle (decided one cycle ahead)
        rbase = Signal(range(bank_depth))
        with m.Switch(self.lvl):
            for level in range(levels):
                with m.Case(level):
                    m.d.comb += rbase.eq(row_base[level])
        self.raddr = raddr = _sig(
            m, Mux(self.start_q, self.start_addr_q, rbase | self.gaddr), "raddr"
        )
        # The write of the next cycle: stage ld's node (level lvl + 1), else stage we's word.
        ld = self.ld
        self.next_wen = next_wen = _sig(m, ld | self.we_, "next_wen")
        next_lvl = _sig(m, Mux(ld, self.lvl + 1, 0)[: len(wlvl)], "next_wlvl")
        self.next_index = next_index = _sig(m, Mux(ld, self.ld_idx, self.we_idx), "next_windex")
        next_base = Signal(range(bank_depth))
        with m.Switch(next_lvl):
            for level in range(levels):
                with m.Case(level):
                    m.d.comb += next_base.eq(row_base[level])
        self.next_waddr = next_waddr = _sig(
            m, next_base | (next_index >> log2_fanout), "next_waddr"
        )
        # a write to the memories, not the root
        self.next_wmem = next_wmem = _sig(m, next_wen & (next_lvl != levels), "next_wmem")
        self.waddr = waddr = Signal(range(bank_depth))
        self.wmem = wmem = Signal()  # a write to the memories, not the root
        m.d.sync += [
            wen.eq(next_wen),
            wlvl.eq(next_lvl),
            windex.eq(next_index),
            waddr.eq(next_waddr),
            wmem.eq(next_wmem),
        ]
        for bank in range(fanout):
            sum_q = Signal.like(self.sum_r[bank].data, name=f"sum_q{bank}", reset_less=True)
            m.d.sync += sum_q.eq(self.sum_r[bank].data)
            m.d.comb += [
                self.sum_r[bank].addr.eq(raddr),
                self.rd_pre[bank].eq(sum_q[:stored_width]),
                self.rd_suf[bank].eq(sum_q[stored_width : 2 * stored_width]),
                self.rd_max[bank].eq(sum_q[2 * stored_width : 3 * stored_width]),
                self.rd_full[bank].eq(sum_q[3 * stored_width]),
            ]

    def group_slots(self) -> None:
        """The slots: the group read from the banks, registered, with forwarding.

        The read ports are not transparent: a summary written in the cycle of the read (held
        in ``last_*``) or in the cycle the data comes out replaces the stale one (a level pass
        reads the next level's group one cycle before the previous level's last write). Both
        cases are decided a cycle ahead and registered (``fwd_now``, ``fwd_last``, and
        ``fwd_any``, either of them). The replacement (``forwarded``) comes from registers, so
        the block RAM's output, which arrives late (no output register), passes one LUT, a
        3-input multiplexer built as the FPGA's own LUT cell (``lut4``, so that synthesis does
        not fold it into a wider cone with other RAM outputs).
        """
        m, fanout, log2_fanout = self.m, self.fanout, self.log2_fanout
        value_width, raddr = self.value_width, self.raddr
        w_pre, w_suf, w_max, w_full = self.w_pre, self.w_suf, self.w_max, self.w_full
        last_pre = Signal(value_width)
        last_suf = Signal(value_width)
        last_max = Signal(value_width)
        last_full = Signal()
        m.d.sync += [
            last_pre.eq(w_pre),
            last_suf.eq(w_suf),
            last_max.eq(w_max),
            last_full.eq(w_full),
        ]
        fwd_now = [Signal(name=f"fwd_now{i}") for i in range(fanout)]  # the write of this cycle
        fwd_last = [Signal(name=f"fwd_last{i}") for i in range(fanout)]  # the previous cycle's
        fwd_any = [Signal(name=f"fwd_any{i}") for i in range(fanout)]
        for i in range(fanout):
            now = self.next_wmem & (self.next_index[:log2_fanout] == i) & (self.next_waddr == raddr)
            last = self.wmem & (self.windex[:log2_fanout] == i) & (self.waddr == raddr)
            m.d.sync += [fwd_now[i].eq(now), fwd_last[i].eq(last), fwd_any[i].eq(now | last)]
        self.slot_pre = [Signal(value_width, name=f"slot_pre{i}") for i in range(fanout)]
        self.slot_suf = [Signal(value_width, name=f"slot_suf{i}") for i in range(fanout)]
        self.slot_max = [Signal(value_width, name=f"slot_max{i}") for i in range(fanout)]
        # stored, not compared
        self.slot_full = [Signal(name=f"slot_full{i}") for i in range(fanout)]
        written = Cat(w_pre, w_suf, w_max, w_full)
        held = Cat(last_pre, last_suf, last_max, last_full)
        for i in range(fanout):
            forwarded = _sig(m, Mux(fwd_now[i], written, held), f"forwarded{i}")
            read = Cat(self.rd_pre[i], self.rd_suf[i], self.rd_max[i], self.rd_full[i])
            slot_in = Cat(
                lut4(
                    m, self.platform, f"slot_in{i}_{k}", _late_or, read[k], fwd_any[i], forwarded[k]
                )
                for k in range(len(read))
            )
            slot = Cat(self.slot_pre[i], self.slot_suf[i], self.slot_max[i], self.slot_full[i])
            m.d.sync += slot.eq(slot_in)

    def level_constants(self) -> None:
        """Constants of level ``lvl``, registered (``lvl`` and ``gaddr`` are stable for a
        cycle before any use): ``length`` granules per node, its log2 ``log2len``, and
        ``jlen[j] = j * length``."""
        m, fanout, log2_fanout, levels = self.m, self.fanout, self.log2_fanout, self.levels
        value_width = self.value_width
        jlen = [Signal(value_width + 2, name=f"jlen{j}") for j in range(fanout + 1)]
        length = Signal(value_width + 1)  # granules per node of level ``lvl``
        log2len = Signal(range(5 + log2_fanout * levels + 1))
        with m.Switch(self.lvl):
            for level in range(levels):
                with m.Case(level):
                    node_length = self.gfa.node_length(level)
                    m.d.comb += [length.eq(node_length), log2len.eq(5 + log2_fanout * level)]
                    m.d.comb += [jlen[j].eq(j * node_length) for j in range(fanout + 1)]
        length_q = Signal.like(length)
        log2len_q = Signal.like(log2len)
        jlen_q = [Signal.like(jlen[j], name=f"jlen_q{j}") for j in range(fanout + 1)]
        m.d.sync += [length_q.eq(length), log2len_q.eq(log2len)]
        m.d.sync += [jlen_q[j].eq(jlen[j]) for j in range(fanout + 1)]
        self.length, self.log2len, self.jlen = length_q, log2len_q, jlen_q

    def combine_group(self) -> None:
        """The update passes' combine of the group in the slots into its parent's summary.

        Stage lc registers the runs, the sums and every comparison between two candidates for
        the maximum (the crossing runs compared as sums, not after them); stage ld selects the
        maximum (``comb_max``). A child that is not entirely free has pre, suf < length, so
        "j whole children + pre_j" is an OR, not a sum.
        """
        m, fanout, value_width = self.m, self.fanout, self.value_width
        jlen = self.jlen
        slot_suf, slot_max, slot_full = self.slot_suf, self.slot_max, self.slot_full

        def run_from(i: int) -> Value:
            """Free run from the start of slot i to the first child not entirely free."""
            value: Value = jlen[fanout - i]
            for j in reversed(range(i, fanout)):
                value = Mux(slot_full[j], value, jlen[j - i] | self.slot_pre[j])
            return _sig(m, value[:value_width], f"ext{i}")

        ext = [run_from(i) for i in range(fanout)]
        sfx: Value = jlen[fanout]
        for j in range(fanout):
            sfx = Mux(slot_full[j], sfx, jlen[fanout - 1 - j] | slot_suf[j])
        cand = list(slot_max) + [
            _sig(m, (slot_suf[i] + ext[i + 1])[:value_width], f"cross{i}")
            for i in range(fanout - 1)
        ]
        terms: list[list[Value]] = [[v] for v in slot_max] + [
            [slot_suf[i], ext[i + 1]] for i in range(fanout - 1)
        ]
        cand_ge: dict[tuple[int, int], Value] = {}
        for p in range(len(cand)):
            for q in range(p + 1, len(cand)):
                tag = f"cge{p}_{q}"
                if q < fanout:  # two stored maxima
                    cand_ge[p, q] = Signal(name=tag)
                    m.d.sync += cand_ge[p, q].eq(slot_max[p] >= slot_max[q])
                elif p < fanout:  # a maximum against a crossing run: not (cross > max)
                    cand_ge[p, q] = Signal(name=tag)
                    m.d.sync += cand_ge[p, q].eq(~_sum_ge(m, terms[q], terms[p], -1, tag))
                else:  # two crossing runs
                    cand_ge[p, q] = Signal(name=tag)
                    m.d.sync += cand_ge[p, q].eq(_sum_ge(m, terms[p], terms[q], 0, tag))
        cand_q = [Signal(value_width, name=f"cand_q{i}") for i in range(len(cand))]
        self.comb_pre = Signal(value_width, name="comb_pre")
        self.comb_suf = Signal(value_width, name="comb_suf")
        self.comb_full = Signal(name="comb_full")
        m.d.sync += [cand_q[i].eq(cand[i]) for i in range(len(cand))]
        m.d.sync += [
            self.comb_pre.eq(ext[0]),
            self.comb_suf.eq(sfx[:value_width]),
            self.comb_full.eq(Cat(*slot_full).all()),
        ]
        self.comb_max = _select_max(m, cand_q, cand_ge, "cmax")

    # -- the search: the walk down the tree and the in-word search ---------------------------

    def _align_up(self, value: Value, name: str) -> Value:
        """``value`` rounded up to the alignment (``gmask + 1``), in a combinational signal."""
        gmask = self.gmask
        return _sig(self.m, ((value + gmask) & ~gmask)[: self.pos_width], name)

    def _stage(self, value: Value, name: str) -> Signal:
        """``value`` in a register (one pipeline stage)."""
        reg = Signal(value.shape(), name=name)
        self.m.d.sync += reg.eq(value)
        return reg

    def search_prepare(self) -> None:
        """Search stage 1 (SearchPrep): every sum and comparison of the group in the slots.

        The group's node starts, the carry's first aligned start and every "the run from
        candidate start j fits in the run entering child i" comparison are computed from
        registers and registered, so that stage 2 (:meth:`search_evaluate`) is only a
        selection.
        """
        m, fanout, log2_fanout, levels = self.m, self.fanout, self.log2_fanout, self.levels
        value_width, pos_width = self.value_width, self.pos_width
        gaddr, gmask, count = self.gaddr, self.gmask, self.count
        slot_pre, slot_suf, slot_full = self.slot_pre, self.slot_suf, self.slot_full
        jlen = self.jlen
        node_start = [Signal(pos_width, name=f"node_start{i}") for i in range(fanout + 1)]
        gnext = _sig(m, gaddr + 1, "gnext")
        with m.Switch(self.lvl):
            for level in range(levels):
                with m.Case(level):
                    shift = 5 + log2_fanout * level
                    for i in range(fanout):
                        m.d.comb += node_start[i].eq(Cat(Const(i, log2_fanout), gaddr) << shift)
                    m.d.comb += node_start[fanout].eq(Cat(Const(0, log2_fanout), gnext) << shift)
        node_start_q = [Signal(pos_width, name=f"node_start_q{i}") for i in range(fanout + 1)]
        m.d.sync += [node_start_q[i].eq(node_start[i]) for i in range(fanout + 1)]
        node_start = node_start_q

        # Carry sources: the carry register, or the start of child i's suffix (i not full).
        after = [
            _sig(m, (node_start[i + 1] - slot_suf[i])[:pos_width], f"after{i}")
            for i in range(fanout)
        ]
        al_carry = self._align_up(self.carry, "al_carry")
        # align_up(node_start[i+1] - suf) without a second adder: when the alignment is at most
        # the node length, node_start[i+1] is a multiple of it and the result is
        # node_start[i+1] - (suf rounded down); when it is larger (suf < alignment) the result
        # is align_up(node_start[i+1]), which depends on registers only.
        self.small_align = small_align = _sig(m, self.glog <= self.log2len, "small_align")
        aligned_after = [
            _sig(
                m,
                Mux(
                    small_align,
                    (node_start[i + 1] - (slot_suf[i] & ~gmask[:value_width]))[:pos_width],
                    self._align_up(node_start[i + 1], f"al_next{i}"),
                ),
                f"al_after{i}",
            )
            for i in range(fanout)
        ]

        # Operands that depend on registers only (carry, count, the level constants) are
        # registered every cycle; the walk reads them two cycles after it changes them.
        # the carry's first aligned start + count
        cc_q = self._stage((al_carry + count)[:pos_width], "cc_q")
        ce_q = [  # count + the distance from child j's end to the next aligned position
            self._stage(
                (count + ((-node_start[j + 1]) & gmask)[:pos_width])[:pos_width], f"ce_q{j}"
            )
            for j in range(fanout)
        ]

        # A run starting in the suffix of child j (or the carry) fits when it ends by the end
        # of the run entering child i, that is count - (suf_j rounded down) <= D_ij (alignment
        # at most a node), count + e_j <= D_ij (larger alignment) with D_ij = run_end_i -
        # node_start[j + 1], or for the carry align_up(carry) + count <= run_end_i.
        self.fits_q: list[dict[int, Value]] = []
        for i in range(fanout):
            run_end = Mux(slot_full[i], node_start[i + 1], node_start[i] | slot_pre[i])
            fits_i: dict[int, Value] = {fanout: self._stage(cc_q <= run_end, f"fits_q{i}c")}
            for j in range(i):
                d_ij = Mux(slot_full[i], jlen[i - j], jlen[i - j - 1] | slot_pre[i])
                # count <= (suf_j rounded down) + D_ij
                small = _sum_ge(
                    m, [slot_suf[j] & ~gmask[:value_width], d_ij], [count], 0, f"small{i}_{j}"
                )
                fits_i[j] = self._stage(Mux(small_align, small, ce_q[j] <= d_ij), f"fits_q{i}_{j}")
            self.fits_q.append(fits_i)

        self.after = [self._stage(after[i], f"after_q{i}") for i in range(fanout)]
        self.al_carry = self._stage(al_carry, "al_carry_q")
        self.aligned_after = [
            self._stage(aligned_after[i], f"al_after_q{i}") for i in range(fanout)
        ]

    def search_evaluate(self) -> None:
        """Search stage 2 (SearchEval): the first hit of the group, left to right.

        The run entering child i starts in the suffix of the last child j < i that is not
        entirely free (and not skipped: j >= s0 - 1), or else it is the carry. That choice
        depends on registers only (one-hot ``src[i][j]``, ``j = fanout`` for the carry,
        computed in stage 1 from the full bits and s0, registered), so the hit is a selection
        of the comparisons made in stage 1. Gives ``hit_any``, ``hit_slot`` (the child to
        descend into), ``hit_fit`` (a run found through the carry), ``hit_p`` (its start) and
        ``hit_carry`` (the carry entering the child).
        """
        m, fanout, pos_width, s0 = self.m, self.fanout, self.pos_width, self.s0
        slot_full, count = self.slot_full, self.count
        keep = [_sig(m, (j + 1 < s0) | slot_full[j], f"keep{j}") for j in range(fanout)]
        src: list[dict[int, Value]] = []
        for i in range(fanout):
            choice: dict[int, Value] = {
                fanout: self._stage(Cat(*keep[:i], Const(1, 1)).all(), f"src{i}c")
            }
            for j in range(i):
                choice[j] = self._stage(
                    Cat(~keep[j], *keep[j + 1 : i], Const(1, 1)).all(), f"src{i}_{j}"
                )
            src.append(choice)
        start_of = {j: self.aligned_after[j] for j in range(fanout)} | {fanout: self.al_carry}
        run_of = {j: self.after[j] for j in range(fanout)} | {fanout: self.carry}

        def pick(i: int, values: dict[int, Value], name: str) -> Value:
            result: Value = Const(0, pos_width)
            for j, sel in src[i].items():
                result = result | Mux(sel, values[j], 0)
            return _sig(m, result, name)

        fit = []
        hit = []
        first_aligned: list[Value] = []
        carries: list[Value] = []
        for i in range(fanout):
            eligible = self._stage(i >= s0, f"eligible_q{i}")
            fits_from = [sel & self.fits_q[i][j] for j, sel in src[i].items()]
            fits = _sig(m, eligible & Cat(*fits_from).any(), f"fits{i}")
            big = (self.slot_max[i] >= count) & (self.glog < self.log2len)
            descend = self._stage((i >= s0) & ~slot_full[i] & big, f"descend_q{i}")
            fit.append(fits)
            hit.append(_sig(m, fits | descend, f"hit{i}"))
            first_aligned.append(pick(i, start_of, f"aligned{i}"))
            carries.append(pick(i, run_of, f"carry{i}"))
        self.hit_any, hit_slot = _lowest_set(m, hit, "hit")
        self.hit_slot = hit_slot[: self.log2_fanout]
        # the first hit, one-hot (flat, not through hit_slot): is it a run found through the
        # carry, and its run start and carry
        first = [
            _sig(m, hit[i] & ~Cat(*hit[:i], Const(0, 1)).any(), f"first{i}") for i in range(fanout)
        ]
        self.hit_fit = _sig(m, Cat(*[first[i] & fit[i] for i in range(fanout)]).any(), "hit_fit")
        hit_p: Value = Const(0, pos_width)
        hit_carry: Value = Const(0, pos_width)
        for i in range(fanout):
            hit_p = hit_p | Mux(first[i], first_aligned[i], 0)
            hit_carry = hit_carry | Mux(first[i], carries[i], 0)
        self.hit_p = _sig(m, hit_p, "hit_p")
        self.hit_carry = _sig(m, hit_carry, "hit_carry")

    def word_search(self) -> None:
        """The in-word search: the lowest aligned start of a run of ``count`` (<= 32) free
        granules in ``word_q`` (``word_runs``, every such start; ``run_any``/``run_bit`` the
        lowest of ``runs``, its registered copy)."""
        m, count, glog = self.m, self.count, self.glog
        free_word = ~self.word_q
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
                m.d.sync += amask.eq(
                    ((Cat(Const(0, 5), self.wsel) & self.gmask) == 0).as_unsigned()
                )
        dk_q = Signal(32)  # runs of 2**top_bit free granules, registered (WordEval)
        m.d.sync += dk_q.eq(dk)
        self.word_runs = dk_q & (dk_q >> rest) & amask
        self.run_any, self.run_bit = _lowest_set(m, [self.runs[i] for i in range(32)], "run")

    # -- update: rewrite the words, summarise them, write the summaries ------------------------

    def word_pass(self) -> None:
        """The word pass: each word of the range, rewritten (stage B2) and summarised.

        The word read in stage B (``b_idx``) and its range mask are registered (stage B2: a
        block RAM's output feeds nothing but a register); ``new_word`` is the word rewritten
        by ``mode``. Its summary is made in three stages after the nibbles' tables: 8-bit
        segments (wc), halves (wd), the word (we: ``e_pre/suf/max``, ``e_full``).
        """
        m, index_width = self.m, self.index_width
        b_first, b_last, rstart, rlast = self.b_first, self.b_last, self.rstart, self.rlast
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
        self.vb2 = Signal(name="vb2")
        self.b2_idx = b2_idx = Signal(index_width, name="b2_idx")
        self.old_word = old_word = self.word_q
        self.mask_q = mask_q = Signal(32, name="mask_q")
        m.d.sync += mask_q.eq(range_mask)
        self.new_word = new_word = Signal(32, name="new_word")
        with m.Switch(self.mode):
            with m.Case(0):
                m.d.comb += new_word.eq(old_word | mask_q)
            with m.Case(1):
                m.d.comb += new_word.eq(old_word & ~mask_q)
            with m.Default():
                m.d.comb += new_word.eq(Mux(b2_idx == self.words - 1, self.gfa.pad_word, 0))
        # (the nibbles' tables are looked up from the rewritten word before stage wc)
        nib_q = _registered(m, _nibble_summaries(m, ~new_word, "wn"), 3, "nib")
        segs = _merge_runs(m, nib_q, 4, "ws")
        seg_q = _registered(m, segs, 4, "seg")
        halves = _merge_runs(m, seg_q, 8, "wh")
        half_q = _registered(m, halves, 5, "half")
        whole = _merge_runs(m, half_q, 16, "ww")[0]
        self.e_pre = e_pre = Signal(6, name="e_pre")
        self.e_suf = e_suf = Signal(6, name="e_suf")
        self.e_max = e_max = Signal(6, name="e_max")
        m.d.sync += [e_pre.eq(whole[0]), e_suf.eq(whole[1]), e_max.eq(whole[2])]
        # "the word is entirely free", carried along the same stages
        free_d = Signal()
        free_e = Signal()
        self.e_full = e_full = Signal(name="e_full")
        nib_free = Cat(*(pre == 4 for pre, _, _ in nib_q)).all()
        m.d.sync += [free_d.eq(nib_free), free_e.eq(free_d), e_full.eq(free_e)]

    def summary_writes(self) -> None:
        """The pipelines' advance and the writes: rewritten words to the GAT, summaries to the
        banks or the root.

        The two pipelines advance every cycle; the states only start words and groups. The
        summary written is stage le's node (``l_*``, the combined group), else stage wf's
        word, at the position registered a cycle ahead (:meth:`summary_ports`).
        """
        m, value_width = self.m, self.value_width
        vb2, b2_idx, le = self.vb2, self.b2_idx, self.le
        w_pre, w_suf, w_max, w_full = self.w_pre, self.w_suf, self.w_max, self.w_full
        l_pre = Signal(value_width)  # combined node summary (stage le of the level passes)
        l_suf = Signal(value_width)
        l_max = Signal(value_width)
        l_full = Signal()
        m.d.sync += [
            l_pre.eq(self.comb_pre),
            l_suf.eq(self.comb_suf),
            l_max.eq(self.comb_max),
            l_full.eq(self.comb_full),
        ]

        # the word pass is running (not the FREE/RESERVE check)
        self.in_words = in_words = Signal(name="in_words")
        m.d.sync += [self.vb.eq(0), self.lb.eq(0), vb2.eq(self.vb), b2_idx.eq(self.b_idx)]
        m.d.sync += [
            self.wc.eq(vb2 & in_words),
            self.wc_idx.eq(b2_idx),
            self.wd.eq(self.wc),
            self.wd_idx.eq(self.wc_idx),
            self.we_.eq(self.wd),
            self.we_idx.eq(self.wd_idx),
            self.wf.eq(self.we_),
        ]
        m.d.sync += [
            self.lc.eq(self.lb),
            self.lc_idx.eq(self.lb_idx),
            self.ld.eq(self.lc),
            self.ld_idx.eq(self.lc_idx),
            le.eq(self.ld),
        ]
        gat_w = self.gat_w
        with m.If(vb2 & in_words):
            m.d.comb += [gat_w.addr.eq(b2_idx), gat_w.data.eq(self.new_word), gat_w.en.eq(1)]
        m.d.comb += [
            w_pre.eq(Mux(le, l_pre, self.e_pre)),
            w_suf.eq(Mux(le, l_suf, self.e_suf)),
            w_max.eq(Mux(le, l_max, self.e_max)),
            w_full.eq(Mux(le, l_full, self.e_full)),
        ]
        stored_width = self.stored_width
        for bank in range(self.fanout):
            port = self.sum_w[bank]
            m.d.comb += [
                port.addr.eq(self.waddr),
                port.data.eq(
                    Cat(w_pre[:stored_width], w_suf[:stored_width], w_max[:stored_width], w_full)
                ),
                port.en.eq(self.wmem & (self.windex[: self.log2_fanout] == bank)),
            ]
        with m.If(self.wen & (self.wlvl == self.levels)):
            m.d.sync += [self.root_pre.eq(w_pre), self.root_suf.eq(w_suf), self.root_max.eq(w_max)]

    # -- request checks ----------------------------------------------------------------------

    def request_checks(self) -> None:
        """The request's derived values and flags: the granule index of ``addr`` and whether
        it is in the heap and aligned, count's flags, the alignment's log2 (``glog_next``)
        and mask (``gmask_next``), and the registers the checks are held in."""
        m, gfa, log2gran = self.m, self.gfa, self.gfa.log2gran
        max_align_log2, addr, align = self.max_align_log2, self.addr, self.align
        off = Signal(33)
        m.d.comb += off.eq(addr - gfa.base)
        self.below = (addr < gfa.base) if gfa.base else Const(0)
        self.misaligned = off[:log2gran] != 0
        self.index = off[log2gran:32]
        # flags of the request's fields, registered with them at acceptance (from the payload)
        self.align_pow2 = Signal(name="align_pow2")  # 0 or a power of two
        self.count_zero = Signal(name="count_zero")
        self.count_big = Signal(name="count_big")  # count > granules
        # count <= 32 (registered every cycle from count)
        self.count_le32 = count_le32 = Signal(name="count_le32")
        m.d.sync += count_le32.eq(self.count <= 32)
        # log2 of the (power of two) alignment in granules, clamped to 0..max_align_log2: an OR
        # tree per bit over the alignment's bits (no subtraction, no comparator)
        scaled = align[log2gran:]
        self.glog_next = glog_next = Signal(range(max_align_log2 + 1), name="glog_next")
        low = scaled[:max_align_log2]
        encoded = Cat(
            *[
                Cat(*[low[j] for j in range(len(low)) if (j >> k) & 1], Const(0)).any()
                for k in range(len(glog_next))
            ]
        )
        m.d.comb += glog_next.eq(Mux(scaled[max_align_log2:].any(), max_align_log2, encoded))
        # 2**glog_next - 1, straight from the (power of two) alignment: bit i is set when the
        # alignment is above 2**(i + log2gran), up to max_align_log2 bits (a suffix OR, no
        # comparator)
        self.gmask_next = Cat(
            *[
                align[i + log2gran + 1 :].any() if i < max_align_log2 else Const(0)
                for i in range(self.pos_width)
            ]
        )
        # the checks of a request, registered in Decode
        self.early = Signal(
            name="early"
        )  # Decode2 answers from the fields alone, with early_status
        self.early_status = Signal(4, name="early_status")
        self.bad_addr = Signal(name="bad_addr")
        self.index_q = Signal(32 - log2gran, name="index_q")
        # granules - count: the last granule index a range may start at
        self.room_q = Signal(signed(19), name="room_q")
        # FREE / RESERVE: the range leaves the heap (registered in Decode2)
        self.past_end = Signal(name="past_end")

    def gat_read(self) -> None:
        """The GAT's read port outside the states: the debug port (the port reads ``dbg_addr``
        unless a state uses it, only while ``busy``; bits past the heap read as 0), and the
        word read, registered every cycle in ``word_q`` (the in-word search, the passes)."""
        m, gfa, gat_r = self.m, self.gfa, self.gat_r
        m.d.comb += gfa.busy.eq(1)
        m.d.comb += gat_r.addr.eq(gfa.dbg_addr)
        dbg_last = Signal()
        m.d.sync += dbg_last.eq(gfa.dbg_addr == self.words - 1)
        m.d.comb += gfa.dbg_data.eq(Mux(dbg_last, gat_r.data & ~gfa.pad_word, gat_r.data))
        m.d.sync += self.word_q.eq(gat_r.data)

    def pulse_defaults(self) -> None:
        """``start_q`` and ``finish_q`` (a level pass starts, the root is written) are 0 unless
        Idle, UpdateWords or UpdateLevel set them."""
        self.m.d.sync += [self.start_q.eq(0), self.finish_q.eq(0)]

    def request_decisions(self) -> None:
        """The request's checks, registered every cycle from the request registers (stable
        from acceptance to the response); Decode2 acts on them. ``early``: Decode2 answers
        from the fields alone, with ``early_status`` (the model's order of checks)."""
        m = self.m
        count_zero = self.count_zero
        early_next = Signal()
        early_status_next = Signal(4)
        with m.Switch(self.op):
            with m.Case(GfaOp.ALLOC):
                with m.If(count_zero):
                    m.d.comb += [early_next.eq(1), early_status_next.eq(GfaStatus.BAD_COUNT)]
                with m.Elif(~self.align_pow2):
                    m.d.comb += [early_next.eq(1), early_status_next.eq(GfaStatus.BAD_ALIGN)]
                with m.Elif(self.count_big):
                    m.d.comb += [early_next.eq(1), early_status_next.eq(GfaStatus.BAD_COUNT)]
                with m.Elif(self.root_max < self.count):
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
            self.early.eq(early_next),
            self.early_status.eq(early_status_next),
            self.glog.eq(self.glog_next),
            self.gmask.eq(self.gmask_next),
            self.bad_addr.eq(self.below | self.misaligned),
            self.index_q.eq(self.index),
            self.room_q.eq(self.granules - self.count),
            self.past_end.eq(self.index_q > self.room_q),
        ]

    # -- control: the state machine ----------------------------------------------------------

    def control(self) -> None:
        """The state machine: decode, the walk, the in-word search, the FREE/RESERVE check, the
        word pass and the level passes (see the module docstring for the cycle counts)."""
        with self.m.FSM():
            self._accept_and_decode_states()
            self._search_states()
            self._word_states()
            self._check_state()
            self._update_states()

    def _respond(self, status: GfaStatus | Value, address: Value | int = 0) -> None:
        """Produce the response (held until taken) and return to Idle."""
        self.m.d.sync += [
            self.resp_valid.eq(1),
            self.resp_status.eq(status),
            self.resp_addr.eq(address),
        ]
        self.m.next = "Idle"

    def _read_wait_eval(
        self, states: tuple[str, str, str], then: str, gat_addr: Value | None = None
    ) -> None:
        """The read, wait and evaluate states of one step, in sequence, then ``then``.

        A block-RAM read is issued in ``states[0]`` (at ``gat_addr`` on the GAT's read port
        if given; the summary banks always read row ``gaddr`` of level ``lvl``), its data is
        registered in ``states[1]`` and the logic that evaluates it, built outside the state
        machine and registered every cycle, settles in ``states[2]``. One cycle each.
        """
        m = self.m
        for state, following in zip(states, (*states[1:], then), strict=True):
            with m.State(state):
                if gat_addr is not None and state == states[0]:
                    m.d.comb += self.gat_r.addr.eq(gat_addr)
                m.next = following

    def _accept_and_decode_states(self) -> None:
        """Idle (accept a request), Decode and Decode2 (act on the request's checks) and Range
        (FREE/RESERVE: the range's end)."""
        m, gfa, levels = self.m, self.gfa, self.levels
        with m.State("Idle"):
            # the cycle after acceptance (Decode) reads the root's children, and every
            # register derived from the group position (node starts, level constants)
            # is the root group's from Decode on
            m.d.sync += [self.start_q.eq(1), self.start_addr_q.eq(self.row_base[levels - 1])]
            m.d.sync += [self.lvl.eq(levels - 1), self.gaddr.eq(0)]
            m.d.comb += [
                gfa.busy.eq(0),
                gfa.req.ready.eq(~self.resp_valid | gfa.resp.ready),
            ]
            with m.If(gfa.req.valid & gfa.req.ready):
                payload = gfa.req.payload
                m.d.sync += [
                    self.op.eq(payload.op.as_value()),
                    self.count.eq(payload.count),
                    self.align_pow2.eq(~_two_or_more(m, payload.align, "align_many")),
                    self.count_zero.eq(payload.count == 0),
                    self.count_big.eq(payload.count > self.granules),
                    self.addr.eq(payload.addr),
                    self.align.eq(payload.align),
                ]
                m.next = "Decode"

        with m.State("Decode"):
            # The request's checks (registered every cycle, see request_decisions) are acted
            # on in Decode2. The root's children (row 0 of level levels - 1, ``start_addr_q``
            # set in Idle) are read meanwhile in case this is an ALLOC, and again in Decode2.
            m.d.sync += [self.s0.eq(0), self.carry.eq(0)]
            m.next = "Decode2"

        with m.State("Decode2"):
            # CLEAR's pass over every word, loaded whatever the request (the other
            # operations load these registers again before they use them; gaddr is
            # already 0, the root group an ALLOC searches first)
            m.d.sync += [
                self.rstart.eq(0),
                self.rlast.eq(self.words * 32 - 1),
                self.gaddr.eq(0),
                self.issued.eq(0),
                self.first_pending.eq(1),
                self.mode.eq(2),
            ]
            with m.If(self.early):
                self._respond(self.early_status)
            with m.Elif(self.op == GfaOp.ALLOC):
                # the root's group is in the slots at the end of this cycle
                m.next = "SearchPrep"
            with m.Elif(self.op == GfaOp.CLEAR):
                m.next = "UpdateWords"
            with m.Else():
                m.next = "Range"  # FREE / RESERVE

        with m.State("Range"):
            # FREE / RESERVE: the range's end, compared in Decode2, decides here (the
            # pass registers are loaded whatever the outcome: only the state depends on it)
            index_q = self.index_q
            self._start_range_check(index_q, index_q + self.count - 1)
            m.d.sync += self.mode.eq(Mux(self.op == GfaOp.FREE, 1, 0))
            with m.If(self.bad_addr | self.past_end):
                self._respond(GfaStatus.BAD_ADDR)
            with m.Else():
                m.next = "Check"

    def _start_range_check(self, first: Value, last: Value) -> None:
        """The FREE/RESERVE check of granules ``first..last`` starts (state Check)."""
        self.m.d.sync += [
            self.rstart.eq(first),
            self.rlast.eq(last),
            self.gaddr.eq(first[5:]),
            self.issued.eq(0),
            self.first_pending.eq(1),
        ]
        self.m.d.sync += self.bad.eq(0)

    def _search_states(self) -> None:
        """The walk down the tree: a group is read, registered and evaluated (SearchRead,
        SearchWait, SearchPrep, SearchEval: 4 cycles per level); SearchPop resumes after a
        group that holds no answer.

        The summary memories always read row ``gaddr`` of level ``lvl``: the slot registers
        hold the group until SearchEval.
        """
        m, log2_fanout, lvl, gaddr = self.m, self.log2_fanout, self.lvl, self.gaddr
        pop_lvl, pop_gaddr, hit_any = self.pop_lvl, self.pop_gaddr, self.hit_any
        self._read_wait_eval(("SearchRead", "SearchWait", "SearchPrep"), then="SearchEval")

        with m.State("SearchEval"):
            # Registers are loaded whatever the outcome where that is harmless (each is
            # reloaded before its next use otherwise), so that only the state and the
            # group position depend on the whole decision.
            # The descent is loaded unconditionally too (SearchPop resumes from the group
            # saved in pop_*), so the decision reaches only the state register.
            m.d.sync += [
                self.found_p.eq(self.hit_p),
                # the word read next: the found run's first (Found) or the one to search
                self.wsel.eq(Mux(self.hit_fit, self.hit_p[5:], Cat(self.hit_slot, gaddr))),
                self.s0.eq(0),
                self.carry.eq(self.hit_carry),
                lvl.eq(lvl - 1),
                gaddr.eq(Cat(self.hit_slot, gaddr)),
                pop_lvl.eq(lvl),
                pop_gaddr.eq(gaddr),
            ]
            with m.If(hit_any & self.hit_fit):
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
            up_gaddr = pop_gaddr >> log2_fanout
            m.d.sync += [
                lvl.eq(up_lvl),
                gaddr.eq(up_gaddr),
                self.s0.eq(pop_gaddr[:log2_fanout] + 1),
            ]
            m.d.sync += [pop_lvl.eq(up_lvl), pop_gaddr.eq(up_gaddr)]
            with m.If(pop_lvl == self.levels - 1):
                self._respond(GfaStatus.NO_SPACE)
            with m.Elif(pop_gaddr[:log2_fanout] != self.fanout - 1):
                m.next = "SearchRead"

    def _word_states(self) -> None:
        """The in-word search of word ``wsel`` (WordRead, WordWait, WordEval, WordShift,
        WordPick, WordFound: 5 cycles and the decision) and Found: the run at ``found_p``
        becomes the range, and the word pass starts."""
        m, log2_fanout, gaddr, wsel = self.m, self.log2_fanout, self.gaddr, self.wsel
        found_p, gat_r = self.found_p, self.gat_r
        self._read_wait_eval(("WordRead", "WordWait", "WordEval"), then="WordShift", gat_addr=wsel)

        with m.State("WordShift"):
            m.d.sync += self.runs.eq(self.word_runs)
            m.next = "WordPick"

        with m.State("WordPick"):
            # every register is loaded whatever the outcome (Found sets gaddr again and
            # SearchPop does not use s0); the decision waits for WordFound, registered
            m.d.sync += [
                found_p.eq(Cat(self.run_bit[:5], wsel)),
                self.run_found.eq(self.run_any),
                self.lvl.eq(0),
                gaddr.eq(wsel >> log2_fanout),
                self.s0.eq(wsel[:log2_fanout] + 1),
                self.pop_lvl.eq(0),
                self.pop_gaddr.eq(wsel >> log2_fanout),
            ]
            m.next = "WordFound"

        with m.State("WordFound"):
            # the range and the first word's read address whatever the outcome, so that
            # only the state depends on it (the GAT's read address feeds the block RAM's
            # read/write collision logic)
            self._load_range()
            m.d.comb += gat_r.addr.eq(wsel)  # found_p's word
            # gaddr as _found() sets it, or as WordPick set it (not "unchanged": gaddr's
            # enable then depends on the state alone)
            m.d.sync += gaddr.eq(Mux(self.run_found, found_p[5:] + 1, wsel >> log2_fanout))
            with m.If(self.run_found):
                self._found()
            with m.Elif(wsel[:log2_fanout] == self.fanout - 1):
                m.next = "SearchPop"
            with m.Else():
                m.next = "SearchRead"

        with m.State("Found"):
            self._load_range()
            m.d.comb += gat_r.addr.eq(wsel)  # found_p's word
            self._found()

    def _load_range(self) -> None:
        """The run at ``found_p`` becomes the range to update (Found, WordFound)."""
        self.m.d.sync += [
            self.rstart.eq(self.found_p),
            self.rlast.eq(self.found_p + self.count - 1),
        ]

    def _found(self) -> None:
        """The run at ``found_p`` is allocated: its first word (``wsel``) is read now."""
        found_p, count = self.found_p, self.count
        # the run ends in this word (count <= 32, registered, and a 6-bit sum)
        found_last = self.count_le32 & ((found_p[:5] + count[:6]) <= 32)
        self.m.d.sync += [
            self.gaddr.eq(found_p[5:] + 1),
            self.issued.eq(found_last),
            self.first_pending.eq(0),  # the first word is issued here
            self.b_first.eq(1),
            self.b_last.eq(found_last),
            self.vb.eq(1),
            self.b_idx.eq(found_p[5:]),
            self.mode.eq(0),
        ]
        self.m.next = "UpdateWords"

    def _issue_words(self) -> None:
        """Read word ``gaddr`` of the range and, until the last is issued, send it down the
        word pipeline (Check, UpdateWords). ``gaddr`` counts on past the range: those reads
        are not used."""
        m, gaddr, rlast = self.m, self.gaddr, self.rlast
        m.d.comb += self.gat_r.addr.eq(gaddr)
        m.d.sync += gaddr.eq(gaddr + 1)
        with m.If(~self.issued):
            m.d.sync += [
                self.issued.eq(gaddr == rlast[5:]),
                self.first_pending.eq(0),
                self.b_first.eq(self.first_pending),
                self.b_last.eq(gaddr == rlast[5:]),
                self.vb.eq(1),
                self.b_idx.eq(gaddr),
            ]

    def _check_state(self) -> None:
        """Check (FREE / RESERVE): every granule of the range must be in use / free; then the
        word pass starts, or the error is answered."""
        m, mode, bad = self.m, self.mode, self.bad
        old_word, mask_q = self.old_word, self.mask_q
        with m.State("Check"):
            self._issue_words()
            with m.If(self.vb2):
                with m.If(mode == 1):
                    m.d.sync += bad.eq(bad | ((old_word & mask_q) != mask_q))
                with m.Else():
                    m.d.sync += bad.eq(bad | ((old_word & mask_q) != 0))
            with m.If(self.issued & ~self.vb & ~self.vb2):
                with m.If(bad):
                    self._respond(Mux(mode == 1, GfaStatus.NOT_IN_USE, GfaStatus.IN_USE))
                with m.Else():
                    m.d.sync += [
                        self.gaddr.eq(self.rstart[5:]),
                        self.issued.eq(0),
                        self.first_pending.eq(1),
                    ]
                    m.next = "UpdateWords"

    def _update_states(self) -> None:
        """UpdateWords: rewrite the words (read, register, rewrite), summarise them (3
        stages) and write their summaries; UpdateLevel: the summaries, level by level: read
        the children (lb), register them and sum (lc), combine (ld), write the node of level
        ``lvl + 1`` (le)."""
        m, log2_fanout, levels = self.m, self.log2_fanout, self.levels
        lvl, gaddr, issued, rstart = self.lvl, self.gaddr, self.issued, self.rstart
        start_q, start_addr_q, row_base = self.start_q, self.start_addr_q, self.row_base
        lo_node, hi_node = self.lo_node, self.hi_node
        with m.State("UpdateWords"):
            m.d.comb += self.in_words.eq(1)
            self._issue_words()
            # start_q next cycle: the last word's summary is computed then (``we``) and
            # written the cycle after; level 0's first group is read meanwhile
            m.d.sync += [
                start_q.eq(issued & ~self.vb & ~self.vb2 & ~self.wc & self.wd),
                start_addr_q.eq(row_base[0] | rstart[5 + log2_fanout :]),
            ]
            with m.If(start_q):
                self._start_level(0, rstart[5 + log2_fanout :], self.rlast[5 + log2_fanout :])

        with m.State("UpdateLevel"):
            m.d.sync += gaddr.eq(gaddr + 1)  # (counts on past hi_node: reads not used)
            with m.If(~issued):
                m.d.sync += [
                    issued.eq(gaddr == hi_node),
                    self.lb.eq(1),
                    self.lb_idx.eq(gaddr),
                ]
            # decided one cycle ahead: in the next cycle the level's last node is combined
            # (``ld``: start the next level) or, at the top, the root is written (finish)
            all_issued = issued & ~self.lb
            next_base = Signal(range(self.bank_depth))
            with m.Switch(lvl):
                for level in range(levels - 1):
                    with m.Case(level):
                        m.d.comb += next_base.eq(row_base[level + 1])
            m.d.sync += [
                start_q.eq(all_issued & self.lc & (lvl != levels - 1)),
                self.finish_q.eq(all_issued & ~self.lc & self.ld & (lvl == levels - 1)),
                start_addr_q.eq(next_base | (lo_node >> log2_fanout)),
            ]
            with m.If(self.finish_q):
                self._finish()
            with m.If(start_q):
                self._start_level(lvl + 1, lo_node >> log2_fanout, hi_node >> log2_fanout)

    def _start_level(self, level: Value | int, lo: Value, hi: Value) -> None:
        """Update pass of ``level`` over nodes ``lo..hi``; its first read is issued now.

        Called (``start_q``, at ``start_addr_q``) one cycle before the previous level's
        last summary is written: that write and the one of this cycle reach the group
        through the slot forwarding.
        """
        self.m.d.sync += [
            self.lvl.eq(level),
            self.lo_node.eq(lo),
            self.hi_node.eq(hi),
            self.gaddr.eq(lo + 1),
            self.issued.eq(lo == hi),
            self.lb.eq(1),
            self.lb_idx.eq(lo),
        ]
        self.m.next = "UpdateLevel"

    def _finish(self) -> None:
        """The last summary is being written: update the free count and respond."""
        m, gfa, free_count, count = self.m, self.gfa, self.free_count, self.count
        with m.Switch(self.mode):
            with m.Case(0):
                m.d.sync += free_count.eq(free_count - count)
                with m.If(self.op == GfaOp.ALLOC):
                    rstart = self.rstart
                    self._respond(GfaStatus.OK, gfa.base + (rstart[:17] << gfa.log2gran)[:32])
                with m.Else():
                    self._respond(GfaStatus.OK)
            with m.Case(1):
                m.d.sync += free_count.eq(free_count + count)
                self._respond(GfaStatus.OK)
            with m.Default():
                m.d.sync += free_count.eq(self.granules)
                self._respond(GfaStatus.OK)
