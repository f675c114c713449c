"""The MMU's control registers, declared once as data (``mmaccel regmap mmu``).

:data:`MMU_REGMAP` drives the Wishbone decode in :mod:`mmaccel.hdl.mmu.wishbone`, the C header and
the Markdown table, and the test benches' register accesses.
"""

from mmaccel.hdl.bus.regmap import Field, Register, RegisterMap
from mmaccel.sw.sv32 import FaultCause

__all__ = ["MMU_ID", "MMU_REGMAP"]

#: Value of the ID register: ASCII "MMU1".
MMU_ID = 0x4D4D_5531

_COUNTER_DOC = (
    "Counts since reset or the last CTRL.CLEAR_COUNTERS; wraps at 2^32. Writes are answered "
    "with ERR."
)

#: The register map of :class:`mmaccel.hdl.mmu.wishbone.MmuWishbone`.
MMU_REGMAP = RegisterMap(
    "MMU",
    (
        Register(
            "SATP",
            0x00,
            "rw",
            (
                Field("PPN", 0, 22, "physical page number of the root page table"),
                Field("ASID", 22, 9, "address-space identifier tagging new TLB entries"),
                Field("MODE", 31, 1, "translation mode", {"BARE": 0, "SV32": 1}),
            ),
            "Sv32 satp: root table, ASID and mode. Requests accepted after the write use it. "
            "Changing the ASID flushes nothing: entries of other ASIDs stay cached and are "
            "not matched.",
        ),
        Register(
            "FLUSH_VA",
            0x04,
            "rw",
            (),
            "Virtual address operand (sfence.vma rs1) used when FLUSH.USE_VA is set.",
        ),
        Register(
            "FLUSH_ASID",
            0x08,
            "rw",
            (Field("ASID", 0, 9, "ASID operand (sfence.vma rs2)"),),
            "ASID operand used when FLUSH.USE_ASID is set.",
        ),
        Register(
            "FLUSH",
            0x0C,
            "wo",
            (
                Field("USE_VA", 0, 1, "flush only entries mapping FLUSH_VA"),
                Field("USE_ASID", 1, 1, "flush only non-global entries of FLUSH_ASID"),
            ),
            "Writing issues sfence.vma: 0 flushes everything, USE_ASID one ASID's non-global "
            "entries, USE_VA one address in every ASID (global entries too), both one address "
            "in one ASID (global entries kept). The flush takes effect in the cycle of the "
            "write; a page-table walk in flight restarts from the root.",
        ),
        Register(
            "STATUS",
            0x10,
            "ro",
            (
                Field("BUSY", 0, 1, "a translation is in progress"),
                Field("ENTRIES", 8, 7, "number of TLB entries"),
                Field("VALID", 16, 7, "number of valid TLB entries"),
            ),
            "Block status.",
        ),
        Register("HITS", 0x14, "ro", (), "Lookups that hit in the TLB. " + _COUNTER_DOC),
        Register("MISSES", 0x18, "ro", (), "Lookups that missed the TLB. " + _COUNTER_DOC),
        Register(
            "WALKS",
            0x1C,
            "ro",
            (),
            "Page-table walks started (a walk restarted by a flush counts again). " + _COUNTER_DOC,
        ),
        Register("FAULTS", 0x20, "ro", (), "Translations answered with a fault. " + _COUNTER_DOC),
        Register(
            "CTRL",
            0x24,
            "wo",
            (Field("CLEAR_COUNTERS", 0, 1, "set HITS, MISSES, WALKS and FAULTS to 0"),),
            "Control actions.",
        ),
        Register(
            "LAST_CAUSE",
            0x28,
            "ro",
            (Field("CAUSE", 0, 4, "mcause of the last fault", FaultCause),),
            "Cause of the most recent translation fault (0 before the first).",
        ),
        Register(
            "ID",
            0x2C,
            "ro",
            (),
            'Identification: 0x4D4D5531, ASCII "MMU1" (a driver checks it before anything else).',
        ),
    ),
    "Sv32 MMU with an ASID-tagged TLB and a hardware page-table walker. Software writes SATP, "
    "issues sfence.vma through FLUSH_VA, FLUSH_ASID and FLUSH, and reads the counters. "
    "Translations flow through the block's request/response streams; the walker reads PTEs "
    "through its own Wishbone master. No hardware A/D update: a leaf with A clear, or a store "
    "to a leaf with D clear, is a page fault, so software sets A and D when it maps.",
)
