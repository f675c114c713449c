"""Wishbone B4 (classic) bus signature.

The signature uses amaranth-soc's member names (``adr dat_w dat_r sel cyc stb we ack err``) so
that a later switch to amaranth-soc is a rename-free change. ``adr`` is a *word* address: with
``data_width=32`` and ``granularity=8`` it counts 32-bit words and ``sel`` has 4 byte lanes, as
in amaranth-soc. Register offsets in :mod:`mmaccel.hdl.bus.regmap` are byte offsets, so register
``offset`` sits at ``adr == offset // 4``.

Responders in this project answer with a registered ``ack`` (or ``err``) one cycle after they
see ``cyc & stb`` (or later, if they stall) and never assert ``ack`` and ``err`` together.

Bus masters that drive this signature in simulation are in :mod:`mmaccel.verif.wishbone`.
"""

from __future__ import annotations

from typing import Any

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["WishboneSignature"]


class WishboneSignature(wiring.Signature):
    """Wishbone B4 classic bus, seen from the initiator (a responder takes ``In(...)``).

    Parameters
    ----------
    addr_width : int
        Width of ``adr``, which counts data words (not bytes); 0..32.
    data_width : int
        Width of ``dat_w`` and ``dat_r``: 8, 16, 32 or 64.
    granularity : int
        Width of one ``sel`` lane: 8, 16, 32 or 64, at most ``data_width``.

    Members
    -------
    adr : Out(addr_width)
        Word address.
    dat_w : Out(data_width)
        Write data.
    dat_r : In(data_width)
        Read data, valid while ``ack``.
    sel : Out(data_width // granularity)
        Byte (lane) enables.
    cyc, stb, we : Out(1)
        Cycle, strobe, write enable.
    ack, err : In(1)
        Normal and error termination of the access.

    Raises
    ------
    TypeError
        A parameter is not an int.
    ValueError
        A parameter is outside the ranges above.
    """

    def __init__(self, addr_width: int, data_width: int = 32, granularity: int = 8) -> None:
        for name, value in (
            ("addr_width", addr_width),
            ("data_width", data_width),
            ("granularity", granularity),
        ):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} must be an int, not {value!r}")
        if not 0 <= addr_width <= 32:
            raise ValueError(f"addr_width must be in 0..32, not {addr_width}")
        if data_width not in (8, 16, 32, 64):
            raise ValueError(f"data_width must be 8, 16, 32 or 64, not {data_width}")
        if granularity not in (8, 16, 32, 64) or granularity > data_width:
            raise ValueError(
                f"granularity must be 8, 16, 32 or 64 and at most data_width ({data_width}), "
                f"not {granularity}"
            )
        self._addr_width = addr_width
        self._data_width = data_width
        self._granularity = granularity
        members: dict[str, Any] = {
            "adr": Out(addr_width),
            "dat_w": Out(data_width),
            "dat_r": In(data_width),
            "sel": Out(data_width // granularity),
            "cyc": Out(1),
            "stb": Out(1),
            "we": Out(1),
            "ack": In(1),
            "err": In(1),
        }
        super().__init__(members)

    @property
    def addr_width(self) -> int:
        """Width of ``adr`` in bits (``adr`` counts words)."""
        return self._addr_width

    @property
    def data_width(self) -> int:
        """Width of the data buses in bits."""
        return self._data_width

    @property
    def granularity(self) -> int:
        """Bits per ``sel`` lane."""
        return self._granularity

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and isinstance(other, WishboneSignature)
            and self.addr_width == other.addr_width
            and self.data_width == other.data_width
            and self.granularity == other.granularity
        )

    def __hash__(self) -> int:
        return hash((type(self), self.addr_width, self.data_width, self.granularity))

    def __repr__(self) -> str:
        return (
            f"WishboneSignature(addr_width={self.addr_width}, data_width={self.data_width}, "
            f"granularity={self.granularity})"
        )
