"""The model's answer to each MMU request: requests and responses as the streams carry them.

:func:`model_response` is the reference every MMU test bench compares with: the model's
``translate_sv32()`` on the current page tables, turned into the answer the MMU must give.
"""

from __future__ import annotations

from dataclasses import dataclass

from mmaccel.hdl.mmu import TranslationRequest
from mmaccel.sw.errors import AccessFault, PageFault
from mmaccel.sw.memory import PhysicalMemory
from mmaccel.sw.sv32 import Access, Priv, translate_sv32

__all__ = ["Request", "Response", "model_response"]


@dataclass(frozen=True, slots=True)
class Request:
    """One translation request (what the ``req`` stream carries)."""

    va: int
    access: int = Access.LOAD
    priv: int = Priv.S
    sum: bool = False
    mxr: bool = False

    def pack(self) -> int:
        """The request as the bits of :class:`~mmaccel.hdl.mmu.TranslationRequest`."""
        return int(
            TranslationRequest.const(
                {
                    "va": self.va,
                    "access": int(self.access),
                    "priv": int(self.priv),
                    "sum": int(self.sum),
                    "mxr": int(self.mxr),
                }
            ).as_bits()
        )


@dataclass(frozen=True, slots=True)
class Response:
    """One answer: ``pa`` when ``cause`` is None, else the fault's mcause value."""

    pa: int | None
    cause: int | None

    @classmethod
    def unpack(cls, bits: int) -> Response:
        """Decode the bits of :class:`~mmaccel.hdl.mmu.TranslationResponse`."""
        pa = bits & ((1 << 34) - 1)
        fault = (bits >> 34) & 1
        cause = (bits >> 35) & 0xF
        return cls(None, cause) if fault else cls(pa, None)

    def __str__(self) -> str:
        return f"pa {self.pa:#011x}" if self.cause is None else f"fault cause {self.cause}"


def model_response(memory: PhysicalMemory, satp: int, req: Request) -> Response:
    """What the model's ``translate_sv32()`` says the MMU must answer to ``req``."""
    try:
        pa = translate_sv32(
            memory, satp, req.va, Access(req.access), Priv(req.priv), sum=req.sum, mxr=req.mxr
        )
    except (PageFault, AccessFault) as fault:
        return Response(None, int(fault.cause))  # type: ignore[call-overload]
    return Response(pa, None)
