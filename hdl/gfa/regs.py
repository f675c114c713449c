"""The granule/page-frame allocator's register map, declared once as data (``GFA_REGMAP``).

The gateware (:class:`mmaccel.hdl.gfa.wishbone.GfaWishbone`), the test benches, the software driver
(:class:`mmaccel.boards.host.regdriver.GfaRegisterDriver`), the C header and the docs
(``mmaccel regmap gfa --c-header|--markdown``, docs/regmap-gfa.md) are all generated from it.
The operation and status codes are the core's own :class:`~mmaccel.hdl.gfa.GfaOp` and
:class:`~mmaccel.hdl.gfa.GfaStatus`.
"""

from mmaccel.hdl.bus.regmap import Field, Register, RegisterMap, id_config_registers
from mmaccel.hdl.gfa import GfaOp, GfaStatus

__all__ = ["GFA_ID", "GFA_REGMAP", "GFA_RESULT_NONE"]

#: Value of the ID register: ASCII "GFA1".
GFA_ID = 0x4746_4131

#: RESULT after a command that failed (NO_SPACE) or was refused (an error code); never a valid
#: allocation, since allocations are granule-aligned and granules are at least 2 bytes.
GFA_RESULT_NONE = 0xFFFF_FFFF

_PROTOCOL = """\
Hardware granule/page-frame allocator (NuttX gran_alloc, exact first fit) on a 32-bit
Wishbone B4 bus. Offsets are in bytes; the bus address is the word address (offset / 4). An
access to an offset with no register, a write to a read-only register or a read of a
write-only register is answered with ERR.

How a CPU issues a command: write the arguments it needs (COUNT for ALLOC/FREE/RESERVE, ADDR for
FREE/RESERVE, ALIGN for ALLOC), then write the operation to CMD; the write starts the command
and STATUS.BUSY is 1 until it finishes. Then either poll STATUS until BUSY is 0, or simply read
RESULT: a read of RESULT while BUSY is stalled (ACK is held) until the command has finished, so
it always returns the result of the last command. Writes to CMD, ALLOC_SIZE, FREE_SIZE, COUNT,
ADDR, ALIGN and GAT_INDEX while BUSY are stalled the same way (and reads of COUNT, ADDR, ALIGN
and GAT_INDEX too), so commands may be issued back to back. STATUS.CODE then says how the
command ended (OK, NO_SPACE, or an error code); FREE and LARGEST hold the free granules and the
longest free run after it. OPS, FAILS and ERRORS count every command, including those of a
hardware client on the stream port.
A command takes tens of cycles (see docs/gfa.md); a bus with a timeout shorter than the longest
command should poll.

The fast path for a driver: ALLOC and FREE also start with one write of a byte size, which
sets COUNT to the granule count ceil(size / granule size) (the granule size is 1 << LOG2GRAN)
and starts the command: write ALLOC_SIZE (ALLOC with the current ALIGN) or FREE_SIZE (FREE at
ADDR), then read RESULT. The command then ends exactly as an ALLOC or FREE with that COUNT: a
size of 0 with BAD_COUNT, an ALLOC of more granules than the allocator has with BAD_COUNT, a
FREE whose range leaves the heap with BAD_ADDR (sizes up to 0xFFFFFFFF never wrap). A
gran_alloc is then two accesses (ALLOC_SIZE, RESULT) when ALIGN already holds the alignment.

After reset the allocator first clears its table (not counted in OPS); STATUS.BUSY is 1, and
the accesses above stall, until that is done.

The allocation table can be read word by word: write the word index to GAT_INDEX, then read
GAT_DATA repeatedly; every read returns one word (1 = granule in use, granule k at bit k % 32
of word k / 32) and advances GAT_INDEX by one.
"""

GFA_REGMAP = RegisterMap(
    "GFA",
    (
        *id_config_registers(
            'Identification: 0x47464131, ASCII "GFA1".',
            (
                Field("GRANULES", 0, 17, "Number of granules managed (1..65536)."),
                Field("LOG2GRAN", 24, 5, "log2 of the granule size in bytes."),
            ),
            "Build-time configuration.",
        ),
        Register(
            "HEAP_BASE",
            0x08,
            "ro",
            (),
            "Byte address of granule 0 (the heap's start; not the block's bus address).",
        ),
        Register(
            "CMD",
            0x0C,
            "wo",
            (Field("OP", 0, 3, "Operation to start (5..7 are answered with BAD_OP).", GfaOp),),
            "Command: writing OP starts the operation with the current arguments (the write is "
            "stalled while BUSY).",
        ),
        Register(
            "COUNT",
            0x10,
            "rw",
            (Field("COUNT", 0, 17, "Granules to allocate, free or reserve (1..granules)."),),
            "Argument: granule count for ALLOC, FREE and RESERVE.",
        ),
        Register(
            "ADDR",
            0x14,
            "rw",
            (),
            "Argument: byte address of the first granule for FREE and RESERVE.",
        ),
        Register(
            "ALIGN",
            0x18,
            "rw",
            (),
            "Argument: ALLOC alignment in bytes, counted from granule 0; 0 = none, else a power "
            "of two.",
        ),
        Register(
            "STATUS",
            0x1C,
            "ro",
            (
                Field("BUSY", 0, 1, "A command is in progress."),
                Field("FAIL", 1, 1, "The last command ended with NO_SPACE."),
                Field("ERROR", 2, 1, "The last command was refused (CODE >= BAD_COUNT)."),
                Field("CODE", 4, 4, "How the last command ended.", GfaStatus),
            ),
            "Status of the last command. Never stalls.",
        ),
        Register(
            "RESULT",
            0x20,
            "ro",
            (),
            "Result of the last command: the allocated byte address after a successful ALLOC, "
            "0 after another successful command, 0xFFFFFFFF after a failure or an error. "
            "Reads stall while BUSY.",
        ),
        Register(
            "NFREE",
            0x24,
            "ro",
            (Field("COUNT", 0, 17, "Free granules."),),
            "Free granules after the last command.",
        ),
        Register(
            "LARGEST",
            0x28,
            "ro",
            (Field("RUN", 0, 17, "Longest run of free granules."),),
            "Longest run of free granules after the last command.",
        ),
        Register("OPS", 0x2C, "ro", (), "Commands completed since reset (wraps)."),
        Register("FAILS", 0x30, "ro", (), "Commands that ended with NO_SPACE since reset."),
        Register("ERRORS", 0x34, "ro", (), "Commands refused with an error code since reset."),
        Register(
            "GAT_INDEX",
            0x38,
            "rw",
            (Field("INDEX", 0, 16, "Word of the allocation table read by GAT_DATA."),),
            "Allocation-table word index; advanced by every read of GAT_DATA.",
        ),
        Register(
            "GAT_DATA",
            0x3C,
            "ro",
            (),
            "Allocation-table word GAT_INDEX (1 = in use; 0 past the end); stalls while BUSY.",
        ),
        Register(
            "ALLOC_SIZE",
            0x40,
            "wo",
            (),
            "Command: writing a byte size S starts an ALLOC of ceil(S / granule size) granules "
            "with the current ALIGN (the write is stalled while BUSY). COUNT then holds that "
            "granule count, saturated to 0x1FFFF when it does not fit; S = 0 or more granules "
            "than the allocator has ends with BAD_COUNT.",
        ),
        Register(
            "FREE_SIZE",
            0x44,
            "wo",
            (),
            "Command: writing a byte size S starts a FREE of ceil(S / granule size) granules at "
            "ADDR (the write is stalled while BUSY). COUNT as for ALLOC_SIZE; S = 0 ends with "
            "BAD_COUNT, a range that leaves the heap (also any S needing more granules than the "
            "allocator has) with BAD_ADDR, as a FREE with that COUNT.",
        ),
    ),
    _PROTOCOL,
)
