"""The SoC: a VexRiscv CPU with RAM, a UART, a system controller, the allocator and the MMU."""
