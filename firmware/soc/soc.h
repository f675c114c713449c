/* The SoC's memory map and its system controller, UART and probe (C99, freestanding).
   The numbers are those of mmaccel/hdl/soc/memory_map.py (a test compares them). */
#ifndef MMACCEL_SOC_H
#define MMACCEL_SOC_H

#include <stdint.h>

#define SOC_RAM_BASE      0x00000000u
#define SOC_SYSCTL_BASE   0x80000000u
#define SOC_UART_BASE     0x80001000u
#define SOC_GFA_BASE      0x80010000u
#define SOC_MMU_BASE      0x80020000u
#define SOC_PROBE_BASE    0x80030000u
#define SOC_ID_VALUE      0x534F4331u

/* sysctl register byte offsets */
#define SYSCTL_TRACE       0x00u
#define SYSCTL_CYCLE       0x04u
#define SYSCTL_CYCLEH      0x08u
#define SYSCTL_EXIT        0x0Cu
#define SYSCTL_ID          0x10u
#define SYSCTL_BUSERR      0x14u
#define SYSCTL_BUSERR_ADDR 0x18u
#define SYSCTL_RAM_SIZE    0x1Cu

/* UART register byte offsets */
#define UART_DATA   0x00u
#define UART_STATUS 0x04u

/* translation probe register byte offsets */
#define PROBE_VA     0x00u
#define PROBE_REQ    0x04u
#define PROBE_RESULT 0x08u
#define PROBE_PA     0x0Cu
#define PROBE_PAH    0x10u

#define SOC_REG(base, offset) (*(volatile uint32_t *)((uintptr_t)(base) + (offset)))

/* Push one word to the trace port (stalls while the FIFO is full). */
static inline void trace(uint32_t word) { SOC_REG(SOC_SYSCTL_BASE, SYSCTL_TRACE) = word; }

/* Low 32 bits of the cycle counter. */
static inline uint32_t cycles(void) { return SOC_REG(SOC_SYSCTL_BASE, SYSCTL_CYCLE); }

/* The whole 64-bit cycle counter (reading CYCLE latches the high half). */
static inline uint64_t cycles64(void)
{
    uint32_t lo = SOC_REG(SOC_SYSCTL_BASE, SYSCTL_CYCLE);
    uint32_t hi = SOC_REG(SOC_SYSCTL_BASE, SYSCTL_CYCLEH);
    return ((uint64_t)hi << 32) | lo;
}

/* End the run with an exit code (0 = pass); does not return. */
static inline void soc_exit(uint32_t code)
{
    SOC_REG(SOC_SYSCTL_BASE, SYSCTL_EXIT) = code;
    for (;;) {
    }
}

static inline void uart_putc(char c) { SOC_REG(SOC_UART_BASE, UART_DATA) = (uint8_t)c; }

static inline void uart_puts(const char *s)
{
    while (*s) {
        uart_putc(*s++);
    }
}

/* Print a word as 8 hex digits. */
static inline void uart_puthex(uint32_t v)
{
    for (int shift = 28; shift >= 0; shift -= 4) {
        uart_putc("0123456789abcdef"[(v >> shift) & 0xFu]);
    }
}

#endif
