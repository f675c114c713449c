"""What the allocator's status codes mean in the reference model's terms, in both directions.

The hardware answers a refused request with a :class:`~mmaccel.hdl.gfa.GfaStatus`; the model
(:class:`mmaccel.sw.GranuleAllocator`) raises an exception of its tree instead. This table is
the one place that pairs them: the test benches turn the model's exception into the status the
hardware must answer (:func:`status_of`), and the host drivers turn a status read from the
hardware back into the model's exception (:func:`error_class`), so a test can compare the two
exception for exception.

======================================  ==========================================
model                                   status
======================================  ==========================================
returns an address                      OK
returns None                            NO_SPACE
InvalidAlignment                        BAD_ALIGN
InvalidArgument (count)                 BAD_COUNT
GranuleRangeError, InvalidPointer       BAD_ADDR (raised back as GranuleRangeError)
GranulesNotInUse                        NOT_IN_USE
GranulesInUse                           IN_USE
(an op code 5..7, which the model has   BAD_OP (raised back as InvalidArgument)
not)
======================================  ==========================================
"""

from __future__ import annotations

from typing import cast

from mmaccel.hdl.gfa.core import GfaStatus
from mmaccel.sw.errors import (
    GranuleRangeError,
    GranulesInUse,
    GranulesNotInUse,
    InvalidAlignment,
    InvalidArgument,
    InvalidPointer,
    MemoryManagerError,
)

__all__ = ["ERROR_STATUS", "error_class", "status_of"]

#: The model's exception classes and the status each is answered with, most specific first
#: (``InvalidAlignment`` is an ``InvalidArgument``). The first class listed for a status is
#: the one a host driver raises for it.
# (mypy types an Amaranth enum's members as their int values, hence the casts.)
ERROR_STATUS = cast(
    "tuple[tuple[type[MemoryManagerError], GfaStatus], ...]",
    (
        (InvalidAlignment, GfaStatus.BAD_ALIGN),
        (InvalidArgument, GfaStatus.BAD_COUNT),
        (GranuleRangeError, GfaStatus.BAD_ADDR),
        (InvalidPointer, GfaStatus.BAD_ADDR),
        (GranulesNotInUse, GfaStatus.NOT_IN_USE),
        (GranulesInUse, GfaStatus.IN_USE),
    ),
)

_RAISED: dict[GfaStatus, type[MemoryManagerError]] = {
    cast(GfaStatus, GfaStatus.BAD_OP): InvalidArgument
}
for _cls, _status in ERROR_STATUS:
    _RAISED.setdefault(_status, _cls)


def status_of(error: MemoryManagerError) -> GfaStatus:
    """The status the hardware answers where the model raises ``error``.

    Raises
    ------
    TypeError
        ``error`` is an exception the allocator cannot raise (no status stands for it).
    """
    for cls, status in ERROR_STATUS:
        if isinstance(error, cls):
            return status
    raise TypeError(f"no status code for {type(error).__name__}: {error}")


def error_class(status: GfaStatus | str) -> type[MemoryManagerError]:
    """The model's exception class for a refused request's ``status`` (a member or its name).

    ``OK`` and ``NO_SPACE`` are not refusals and an unknown name has no class of its own:
    both give the root :class:`~mmaccel.sw.errors.MemoryManagerError`.
    """
    member = GfaStatus.__members__.get(status) if isinstance(status, str) else status
    return _RAISED.get(member, MemoryManagerError) if member is not None else MemoryManagerError
