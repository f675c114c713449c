/* Smoke test of the SoC: UART, trace, sysctl, the allocator's and the MMU's registers, byte
   and halfword stores, an unmapped access. The expected trace is in
   mmaccel/verif/soc/smoke.py. The allocator's register offsets and operation codes come from
   the build (-D, generated from GFA_REGMAP); the defaults below are today's. */
#include <stdint.h>

#include "soc.h"

#ifndef GFA_ID
#define GFA_ID 0x00u
#endif
#ifndef GFA_CMD
#define GFA_CMD 0x0Cu
#endif
#ifndef GFA_COUNT
#define GFA_COUNT 0x10u
#endif
#ifndef GFA_ADDR
#define GFA_ADDR 0x14u
#endif
#ifndef GFA_ALIGN
#define GFA_ALIGN 0x18u
#endif
#ifndef GFA_STATUS
#define GFA_STATUS 0x1Cu
#endif
#ifndef GFA_RESULT
#define GFA_RESULT 0x20u
#endif
#ifndef GFA_NFREE
#define GFA_NFREE 0x24u
#endif
#ifndef GFA_OP_ALLOC
#define GFA_OP_ALLOC 0u
#endif
#ifndef GFA_OP_FREE
#define GFA_OP_FREE 1u
#endif

#define UNMAPPED 0x90000000u

static volatile uint8_t bytes[8];

int main(void)
{
    uart_puts("smoke: hello\n");
    trace(0x5A5A0001u);
    trace(SOC_REG(SOC_SYSCTL_BASE, SYSCTL_ID));
    trace(SOC_REG(SOC_GFA_BASE, GFA_ID));
    trace(SOC_REG(SOC_MMU_BASE, 0x00u)); /* SATP */

    /* one raw allocation of 2 granules, then its free */
    SOC_REG(SOC_GFA_BASE, GFA_COUNT) = 2;
    SOC_REG(SOC_GFA_BASE, GFA_ALIGN) = 0;
    SOC_REG(SOC_GFA_BASE, GFA_CMD) = GFA_OP_ALLOC;
    uint32_t addr = SOC_REG(SOC_GFA_BASE, GFA_RESULT);
    trace(addr);
    trace(SOC_REG(SOC_GFA_BASE, GFA_STATUS));
    SOC_REG(SOC_GFA_BASE, GFA_ADDR) = addr;
    SOC_REG(SOC_GFA_BASE, GFA_CMD) = GFA_OP_FREE;
    trace(SOC_REG(SOC_GFA_BASE, GFA_RESULT));
    trace(SOC_REG(SOC_GFA_BASE, GFA_NFREE));

    /* byte and halfword stores into RAM */
    for (unsigned i = 0; i < 8; i++) {
        bytes[i] = (uint8_t)(0x11u * (i + 1));
    }
    *(volatile uint16_t *)&bytes[2] = 0xBEEFu;
    trace(*(volatile uint32_t *)&bytes[0]);
    trace(*(volatile uint32_t *)&bytes[4]);

    /* the cycle counter moves forward */
    uint32_t c0 = cycles();
    uint32_t c1 = cycles();
    trace(c1 > c0 ? 1u : 0u);
    trace(SOC_REG(SOC_SYSCTL_BASE, SYSCTL_CYCLEH));

    /* an unmapped read: answered (with a bus error), counted, address kept */
    uint32_t junk = SOC_REG(UNMAPPED, 0);
    (void)junk;
    trace(SOC_REG(SOC_SYSCTL_BASE, SYSCTL_BUSERR));
    trace(SOC_REG(SOC_SYSCTL_BASE, SYSCTL_BUSERR_ADDR));
    trace(SOC_REG(SOC_SYSCTL_BASE, SYSCTL_RAM_SIZE));

    uart_puts("smoke: ok\n");
    trace(0x5A5A00FFu);
    return 0;
}
