"""Buses shared by every block: Wishbone signature, interconnect, register banks."""
