"""The granule/page-frame allocator: the stream core, its Wishbone front end, its registers."""

from mmaccel.hdl.gfa.core import (
    MAX_GRANULES,
    GfaOp,
    GfaRequest,
    GfaResponse,
    GfaStatus,
    GranuleFrameAllocator,
)

__all__ = [
    "MAX_GRANULES",
    "GfaOp",
    "GfaRequest",
    "GfaResponse",
    "GfaStatus",
    "GranuleFrameAllocator",
]
