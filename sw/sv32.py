"""RISC-V Sv32 page-table format and the page-table walk (the contract with the hardware MMU).

Everything here is a pure function of its arguments and of the page tables in
:class:`~mmaccel.sw.memory.PhysicalMemory`: the hardware MMU is checked against
:func:`translate_sv32` access by access.

Sv32 in brief (RISC-V privileged specification, section "Sv32"): 32-bit virtual addresses,
34-bit physical addresses, 4 KiB pages and 4 MiB megapages, two levels of tables of 1024
four-byte PTEs. A PTE holds ``PPN[1]`` (bits 31:20, 12 bits), ``PPN[0]`` (bits 19:10),
``RSW`` (bits 9:8, ignored by the walk) and the flags ``D A G U X W R V`` (bits 7:0).
``satp`` holds ``MODE`` (bit 31, 1 = Sv32), ``ASID`` (bits 30:22) and the root table's
``PPN`` (bits 21:0).

The walk does not update A or D: a leaf with ``A = 0``, or a store to a leaf with ``D = 0``,
is a page fault (the "software-managed A/D" option of the specification), so the OS side of
the model sets A (and D on writable pages) when it maps.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag

from .errors import AccessFault, InvalidArgument, PageFault
from .memory import PhysicalMemory

__all__ = [
    "LEVELS",
    "MEGAPAGE_SHIFT",
    "MEGAPAGE_SIZE",
    "PAGE_SHIFT",
    "PAGE_SIZE",
    "PTES_PER_TABLE",
    "PTE_SIZE",
    "SATP_MODE_SV32",
    "Access",
    "FaultCause",
    "Priv",
    "PteFlags",
    "make_pte",
    "pte_flags",
    "pte_ppn",
    "satp_fields",
    "satp_value",
    "translate_sv32",
]

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
MEGAPAGE_SHIFT = 22
MEGAPAGE_SIZE = 1 << MEGAPAGE_SHIFT
PTES_PER_TABLE = 1024
PTE_SIZE = 4
LEVELS = 2
#: satp.MODE (bit 31) for Sv32; 0 is Bare (no translation).
SATP_MODE_SV32 = 1 << 31

_PPN_BITS = 22
_ASID_BITS = 9
_VA_LIMIT = 1 << 32


class PteFlags(IntFlag):
    """The flag bits 7:0 of an Sv32 PTE."""

    V = 1  #: valid
    R = 2  #: readable
    W = 4  #: writable
    X = 8  #: executable
    U = 16  #: accessible from U mode
    G = 32  #: global (present in every address space)
    A = 64  #: accessed
    D = 128  #: dirty


class Access(IntEnum):
    """The kind of memory access being translated."""

    LOAD = 0
    STORE = 1
    FETCH = 2


class Priv(IntEnum):
    """The privilege mode of the access (M mode does not translate)."""

    U = 0
    S = 1


class FaultCause(IntEnum):
    """RISC-V ``mcause`` exception codes of the faults a translation can raise."""

    INSTRUCTION_ACCESS_FAULT = 1
    LOAD_ACCESS_FAULT = 5
    STORE_ACCESS_FAULT = 7
    INSTRUCTION_PAGE_FAULT = 12
    LOAD_PAGE_FAULT = 13
    STORE_PAGE_FAULT = 15


_PAGE_FAULT = {
    Access.LOAD: FaultCause.LOAD_PAGE_FAULT,
    Access.STORE: FaultCause.STORE_PAGE_FAULT,
    Access.FETCH: FaultCause.INSTRUCTION_PAGE_FAULT,
}
_ACCESS_FAULT = {
    Access.LOAD: FaultCause.LOAD_ACCESS_FAULT,
    Access.STORE: FaultCause.STORE_ACCESS_FAULT,
    Access.FETCH: FaultCause.INSTRUCTION_ACCESS_FAULT,
}

_V, _R, _W, _X, _U, _A, _D = 1, 2, 4, 8, 16, 64, 128


def _check_int(name: str, value: object, limit: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {value!r}")
    if not 0 <= value < limit:
        raise InvalidArgument(f"{name} must be in [0, {limit:#x}), not {value:#x}")
    return value


def make_pte(ppn: int, flags: int, rsw: int = 0) -> int:
    """Encode an Sv32 PTE.

    Parameters
    ----------
    ppn : int
        The 22-bit physical page number (``PPN[1]:PPN[0]``).
    flags : int or PteFlags
        Bits 7:0 (``D A G U X W R V``).
    rsw : int
        The two bits reserved for software (9:8); the walk ignores them.

    Returns
    -------
    int
        The 32-bit PTE.

    Raises
    ------
    InvalidArgument
        ``ppn``, ``flags`` or ``rsw`` does not fit its field.
    """
    _check_int("ppn", ppn, 1 << _PPN_BITS)
    _check_int("flags", int(flags), 1 << 8)
    _check_int("rsw", rsw, 1 << 2)
    return (ppn << 10) | (rsw << 8) | int(flags)


def pte_ppn(pte: int) -> int:
    """The 22-bit PPN of a PTE."""
    return (pte >> 10) & ((1 << _PPN_BITS) - 1)


def pte_flags(pte: int) -> PteFlags:
    """The flag bits of a PTE."""
    return PteFlags(pte & 0xFF)


def satp_value(asid: int, root_ppn: int) -> int:
    """The ``satp`` value selecting Sv32 with ``asid`` and the root table at ``root_ppn``.

    Raises
    ------
    InvalidArgument
        ``asid`` is not in 0..511 or ``root_ppn`` does not fit 22 bits.
    """
    _check_int("asid", asid, 1 << _ASID_BITS)
    _check_int("root_ppn", root_ppn, 1 << _PPN_BITS)
    return SATP_MODE_SV32 | (asid << _PPN_BITS) | root_ppn


def satp_fields(satp: int) -> tuple[int, int, int]:
    """Split ``satp`` into ``(mode, asid, ppn)``."""
    _check_int("satp", satp, _VA_LIMIT)
    return satp >> 31, (satp >> _PPN_BITS) & ((1 << _ASID_BITS) - 1), satp & ((1 << _PPN_BITS) - 1)


def _as_enum(enum: type[Access] | type[Priv], value: object, name: str) -> int:
    if isinstance(value, enum):
        return int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an {enum.__name__}, not {value!r}")
    try:
        return int(enum(value))
    except ValueError:
        raise InvalidArgument(f"{name} must be an {enum.__name__}, not {value!r}") from None


def translate_sv32(
    memory: PhysicalMemory,
    satp: int,
    va: int,
    access: Access,
    priv: Priv,
    *,
    sum: bool = False,
    mxr: bool = False,
) -> int:
    """Translate ``va`` by walking the Sv32 page tables in ``memory``.

    The checks run in the order of the privileged specification's algorithm:

    1. the PTE is read from ``a + VPN[i] * 4`` (``a`` = the root, then the next table);
       a read outside ``memory`` is an access fault of the access's type;
    2. ``V = 0``, or ``W = 1`` with ``R = 0``, is a page fault;
    3. ``R`` or ``X`` set makes the PTE a leaf; a non-leaf PTE at level 0 is a page fault;
    4. permissions: a U-mode access needs ``U = 1``; an S-mode access to a ``U = 1`` page
       needs ``sum`` and is never allowed for a fetch; a load needs ``R`` (or ``X`` with
       ``mxr``), a store ``W``, a fetch ``X``;
    5. a megapage leaf with ``PPN[0] != 0`` is misaligned: page fault;
    6. ``A = 0``, or a store with ``D = 0``, is a page fault (A/D are not updated).

    The RSW bits are ignored. Only PTEs are read: a leaf's physical address may lie outside
    ``memory`` (device space, or above it in the 34-bit physical space).

    Parameters
    ----------
    memory : PhysicalMemory
        Holds the page tables.
    satp : int
        ``MODE | ASID | PPN``. With ``MODE = 0`` (Bare) the address is returned unchanged.
    va : int
        The 32-bit virtual address.
    access : Access
        LOAD, STORE or FETCH.
    priv : Priv
        U or S.
    sum : bool
        ``mstatus.SUM``: S mode may load and store (not fetch) on U pages.
    mxr : bool
        ``mstatus.MXR``: loads from executable pages succeed even without R.

    Returns
    -------
    int
        The 34-bit physical address.

    Raises
    ------
    PageFault
        ``cause`` the load, store or instruction page fault code.
    AccessFault
        A PTE address lies outside ``memory``.
    InvalidArgument
        ``va`` or ``satp`` does not fit 32 bits, or ``access``/``priv`` is not a member.
    """
    _check_int("va", va, _VA_LIMIT)
    _check_int("satp", satp, _VA_LIMIT)
    acc = _as_enum(Access, access, "access")
    prv = _as_enum(Priv, priv, "priv")
    if not satp >> 31:
        return va
    a = (satp & ((1 << _PPN_BITS) - 1)) << PAGE_SHIFT
    level = 1
    size = memory.size
    while True:
        pte_addr = a + (((va >> (PAGE_SHIFT + 10 * level)) & 0x3FF) << 2)
        if pte_addr + PTE_SIZE > size:
            raise AccessFault(_ACCESS_FAULT[Access(acc)], va, pte_addr)
        pte = memory.read_u32(pte_addr)
        if not pte & _V or (pte & (_R | _W)) == _W:
            raise PageFault(
                _PAGE_FAULT[Access(acc)],
                va,
                f"{'invalid' if not pte & _V else 'W without R in'} PTE {pte:#010x} "
                f"at {pte_addr:#x} (level {level})",
            )
        if pte & (_R | _X):
            break
        if level == 0:
            raise PageFault(
                _PAGE_FAULT[Access(acc)],
                va,
                f"non-leaf PTE {pte:#010x} at {pte_addr:#x} on level 0",
            )
        level -= 1
        a = (pte >> 10) << PAGE_SHIFT
    reason = ""
    if prv == Priv.U:
        if not pte & _U:
            reason = "supervisor page accessed from U mode"
    elif pte & _U:
        if acc == Access.FETCH:
            reason = "fetch from a user page in S mode"
        elif not sum:
            reason = "user page accessed from S mode without SUM"
    if not reason:
        if acc == Access.LOAD:
            if not (pte & _R or (mxr and pte & _X)):
                reason = "load from a page without R" + ("" if mxr else " (MXR clear)")
        elif acc == Access.STORE:
            if not pte & _W:
                reason = "store to a page without W"
        elif not pte & _X:
            reason = "fetch from a page without X"
    if not reason and level == 1 and (pte >> 10) & 0x3FF:
        reason = f"misaligned megapage: PTE {pte:#010x} has PPN[0] != 0"
    if not reason:
        if not pte & _A:
            reason = f"A clear in PTE {pte:#010x}"
        elif acc == Access.STORE and not pte & _D:
            reason = f"store with D clear in PTE {pte:#010x}"
    if reason:
        raise PageFault(_PAGE_FAULT[Access(acc)], va, reason)
    ppn = pte >> 10
    if level == 1:
        return ((ppn >> 10) << MEGAPAGE_SHIFT) | (va & (MEGAPAGE_SIZE - 1))
    return (ppn << PAGE_SHIFT) | (va & (PAGE_SIZE - 1))
