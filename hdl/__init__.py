"""Gateware of the memory-allocator accelerator (Amaranth 0.5)."""
