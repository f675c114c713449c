"""The SoC's memory map: base addresses, window sizes and the register offsets of its own blocks.

Everything the CPU sees at or above 0x8000_0000 is uncached I/O for every VexRiscv variant;
below that, RAM. ``firmware/soc/soc.h`` repeats these numbers for C (a test checks it against
:func:`c_defines`).

======================  ===========  ======================================================
block                   base         window
======================  ===========  ======================================================
RAM                     0x0000_0000  ``ram_size`` bytes (default 64 KiB; CPU and MMU walker)
sysctl                  0x8000_0000  4 KiB (:data:`SYSCTL_REGS`)
UART                    0x8000_1000  4 KiB (:data:`UART_REGS`)
GFA (allocator)         0x8001_0000  the allocator's register map (``GFA_REGMAP``)
MMU registers           0x8002_0000  the MMU's register map (``MMU_REGMAP``)
translation probe       0x8003_0000  :data:`PROBE_REGS`
======================  ===========  ======================================================

Any other address answers with a bus error (the CPU's data bus gets ACK with it and reads 0;
sysctl counts it in BUSERR and keeps the address in BUSERR_ADDR).
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_GFA_HEAP_BASE",
    "DEFAULT_RAM_SIZE",
    "GFA_BASE",
    "MMIO_BASE",
    "MMU_BASE",
    "PROBE_BASE",
    "PROBE_REGS",
    "RAM_BASE",
    "SOC_ID",
    "SYSCTL_BASE",
    "SYSCTL_REGS",
    "UART_BASE",
    "UART_REGS",
    "c_defines",
]

RAM_BASE = 0x0000_0000
#: Default RAM size in bytes (a power of two).
DEFAULT_RAM_SIZE = 64 * 1024
#: Everything at or above is I/O (uncached for VexRiscv).
MMIO_BASE = 0x8000_0000
SYSCTL_BASE = 0x8000_0000
UART_BASE = 0x8000_1000
GFA_BASE = 0x8001_0000
MMU_BASE = 0x8002_0000
PROBE_BASE = 0x8003_0000
#: The allocator's granule 0 (its BASE register): not RAM, never 0 so NULL means failure.
DEFAULT_GFA_HEAP_BASE = 0x1000_0000

#: Value of sysctl's ID register: "SOC1".
SOC_ID = 0x534F_4331

#: sysctl register byte offsets.
SYSCTL_REGS: dict[str, int] = {
    "TRACE": 0x00,  # wo: push a word into the trace FIFO (stalls while full)
    "CYCLE": 0x04,  # ro: cycle counter [31:0]; latches [63:32] into CYCLEH
    "CYCLEH": 0x08,  # ro: cycle counter [63:32] latched by the last CYCLE read
    "EXIT": 0x0C,  # wo: exit code; raises `done`
    "ID": 0x10,  # ro: SOC_ID
    "BUSERR": 0x14,  # ro: bus errors the CPU's data bus received since reset
    "BUSERR_ADDR": 0x18,  # ro: byte address of the last one
    "RAM_SIZE": 0x1C,  # ro: RAM size in bytes
}

#: UART register byte offsets.
UART_REGS: dict[str, int] = {
    "DATA": 0x00,  # w: send a byte (stalls while the transmitter is busy); r: received byte
    "STATUS": 0x04,  # ro: bit 0 TX ready, bit 1 RX byte waiting
}

#: Translation probe register byte offsets.
PROBE_REGS: dict[str, int] = {
    "VA": 0x00,  # rw: virtual address of the next request
    "REQ": 0x04,  # wo: [1:0] access, [2] priv, [3] SUM, [4] MXR; sends the request
    "RESULT": 0x08,  # ro, stalls until answered: [0] fault, [7:4] cause
    "PA": 0x0C,  # ro: pa[31:0] of the last answer
    "PAH": 0x10,  # ro: pa[33:32] of the last answer
}


def c_defines() -> dict[str, int]:
    """The C macros ``firmware/soc/soc.h`` must define, with their values."""
    out = {
        "SOC_RAM_BASE": RAM_BASE,
        "SOC_SYSCTL_BASE": SYSCTL_BASE,
        "SOC_UART_BASE": UART_BASE,
        "SOC_GFA_BASE": GFA_BASE,
        "SOC_MMU_BASE": MMU_BASE,
        "SOC_PROBE_BASE": PROBE_BASE,
        "SOC_ID_VALUE": SOC_ID,
    }
    for prefix, regs in (("SYSCTL", SYSCTL_REGS), ("UART", UART_REGS), ("PROBE", PROBE_REGS)):
        for name, offset in regs.items():
            out[f"{prefix}_{name}"] = offset
    return out
