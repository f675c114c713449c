"""Shapes, enumerations and limits shared by the MMU's blocks.

The request, response and flush layouts are the MMU's ports; :data:`Pte`, :data:`TlbEntry` and
:data:`WalkResult` are what the walker and the TLB pass between them. :class:`Access`,
:class:`Priv` and :class:`FaultCause` are the model's (:mod:`mmaccel.sw.sv32`): ``Access`` and
``Priv`` as Amaranth enumerations built from the model's members, ``FaultCause`` the model's
own class.
"""

import types
from enum import IntEnum
from typing import Any, TypeVar, cast

from amaranth.hdl import unsigned
from amaranth.lib import data, enum

from mmaccel.sw import sv32
from mmaccel.sw.sv32 import FaultCause

__all__ = [
    "MAX_ENTRIES",
    "MIN_ENTRIES",
    "Access",
    "FaultCause",
    "FlushCommand",
    "Priv",
    "Pte",
    "Satp",
    "TlbEntry",
    "TranslationRequest",
    "TranslationResponse",
    "WalkResult",
    "check_entries",
    "fault_cause",
]

#: Fewest and most TLB entries the :class:`~mmaccel.hdl.mmu.Tlb` accepts.
MIN_ENTRIES = 4
MAX_ENTRIES = 64

_Model = TypeVar("_Model", bound=IntEnum)


def _shape_enum(model: type[_Model], width: int, doc: str) -> type[_Model]:
    """The model's enumeration ``model`` as an Amaranth enumeration of ``width`` bits.

    Same name, members and values as ``model`` (so they are written once, in the model). A
    field of an Amaranth enumeration is named in the Verilog (``enum_base_type`` and
    ``enum_value_*`` attributes), which a standard enumeration used as a shape is not. Typed as
    ``model``, whose member names and values it has.
    """

    def body(namespace: dict[str, Any]) -> None:
        namespace["__module__"] = __name__
        namespace["__qualname__"] = model.__qualname__
        namespace["__doc__"] = doc
        for member in model:
            namespace[member.name] = member.value

    shaped = types.new_class(model.__name__, (enum.Enum,), {"shape": width}, body)
    return cast(type[_Model], shaped)


#: Access type of a translation request: :class:`mmaccel.sw.sv32.Access` as a 2-bit shape.
Access = _shape_enum(
    sv32.Access, 2, "Access type of a translation request (``mmaccel.sw.sv32.Access``)."
)

#: Privilege of a translation request: :class:`mmaccel.sw.sv32.Priv` as a 1-bit shape.
Priv = _shape_enum(sv32.Priv, 1, "Privilege of a translation request (``mmaccel.sw.sv32.Priv``).")


def fault_cause(access: enum.Enum | int, *, page: bool) -> FaultCause:
    """The fault cause of an access fault (``page=False``) or page fault (``page=True``)."""
    kind = Access(access).name
    prefix = "INSTRUCTION" if kind == "FETCH" else kind
    return FaultCause.__members__[f"{prefix}_{'PAGE' if page else 'ACCESS'}_FAULT"]


def check_entries(entries: object) -> int:
    """``entries`` if it is a TLB size (an int from 4 to 64); TypeError or ValueError if not."""
    if not isinstance(entries, int) or isinstance(entries, bool):
        raise TypeError(f"entries must be an int, not {entries!r}")
    if not MIN_ENTRIES <= entries <= MAX_ENTRIES:
        raise ValueError(f"entries must be between {MIN_ENTRIES} and {MAX_ENTRIES}, not {entries}")
    return entries


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
