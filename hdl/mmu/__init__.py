"""Sv32 memory-management unit: an ASID-tagged TLB, a page-table walker and the block joining them.

The MMU translates 32-bit virtual addresses to 34-bit physical addresses with RISC-V Sv32 page
tables (the format the model in ``mmaccel.sw.vm`` builds), and agrees with the model's
``translate_sv32()`` on every access: the same physical address, or the same fault cause.

Blocks
------
:class:`Tlb` (:mod:`.tlb`)
    Fully associative, 4 to 64 entries, each tagged with a 9-bit ASID and the global bit, holding
    4 KiB pages and 4 MiB megapages together. Bit pseudo-LRU replacement, invalid entries first.
    sfence.vma's four flush forms in one cycle.
:class:`PageTableWalker` (:mod:`.walker`)
    Reads at most two PTEs through a Wishbone master (classic cycles, 32-bit words, word
    address = byte address / 4) and classifies the result.
:class:`Mmu` (:mod:`.mmu`)
    Request and response streams, the TLB, the walker, satp, flush commands and event counters.

The layouts, enumerations and limits they share are in :mod:`.types`; the control registers
(:mod:`.regs`) and the Wishbone front end (:mod:`.wishbone`) are imported from their modules.

No hardware A/D update: a leaf with A = 0, or a store to a leaf with D = 0, is a page fault, as
the privileged specification allows (software sets A and D when it builds the tables).
"""

from mmaccel.hdl.mmu.mmu import Mmu
from mmaccel.hdl.mmu.tlb import Tlb
from mmaccel.hdl.mmu.types import (
    MAX_ENTRIES,
    MIN_ENTRIES,
    Access,
    FaultCause,
    FlushCommand,
    Priv,
    Pte,
    Satp,
    TlbEntry,
    TranslationRequest,
    TranslationResponse,
    WalkResult,
    fault_cause,
)
from mmaccel.hdl.mmu.walker import PageTableWalker

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
