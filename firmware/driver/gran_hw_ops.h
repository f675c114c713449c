/*
 * Private: the hardware back end's fast paths (alloc, free), inline in gran.c's entry points so
 * a call is one branch on the back-end tag, a few register accesses and no further calls.
 *
 * Protocol (GFA_REGMAP): write the arguments, write the command, read RESULT (the read waits
 * until the command has finished). gran_alloc reads nothing else; gran_free reads STATUS only
 * when RESULT says the command did not succeed. The handle keeps no status for this back end:
 * gran_status reads STATUS.CODE, the status of the allocator's last command. ALIGN is written
 * only when it differs from the cached value. With the byte-size command registers
 * (GFA_ALLOC_SIZE_OFFSET in gfa_regs.h) one write of the byte size starts an ALLOC or FREE;
 * without them the driver computes the granule count and writes COUNT and CMD.
 */
#ifndef MMACCEL_GRAN_HW_OPS_H
#define MMACCEL_GRAN_HW_OPS_H

#include "gfa_regs.h"
#include "gran_priv.h"
#include "mmio.h"

/* RESULT after a command that failed or was refused. */
#define GRAN_HW_RESULT_NONE 0xFFFFFFFFu
/* ID of the allocator: ASCII "GFA1". */
#define GRAN_HW_ID 0x47464131u

/* STATUS.CODE: how the allocator's last command ended. */
static inline int gran_hw_code(uintptr_t r)
{
    return (int)GFA_STATUS_CODE_GET(mmio_read(r + GFA_STATUS_OFFSET));
}

/* A byte count as a 32-bit register value (only wider hosts need the clamp). */
static inline uint32_t gran_hw_bytes(size_t size)
{
#if SIZE_MAX > 0xFFFFFFFFu
    if (size > 0xFFFFFFFFu)
        return 0xFFFFFFFFu;
#endif
    return (uint32_t)size;
}

/* Granule count for COUNT: anything above the field's range stays above every heap's size. */
static inline uint32_t gran_hw_count(size_t n)
{
    return n > GFA_COUNT_COUNT_MASK ? GFA_COUNT_COUNT_MASK : (uint32_t)n;
}

static inline void *gran_hw_alloc(struct gran *g, size_t size, size_t align)
{
    uintptr_t r = g->regs;
    uint32_t a = (uint32_t)align;
    uint32_t res;

#if SIZE_MAX > 0xFFFFFFFFu
    if (align > 0xFFFFFFFFu) /* wider than the register: keep "power of two or not" */
        a = (align & (align - 1u)) ? 3u : 0x80000000u;
#endif
    if (a != g->align) {
        g->align = a;
        mmio_write(r + GFA_ALIGN_OFFSET, a);
    }
#ifdef GFA_ALLOC_SIZE_OFFSET
    mmio_write(r + GFA_ALLOC_SIZE_OFFSET, gran_hw_bytes(size));
#else
    mmio_write(r + GFA_COUNT_OFFSET, gran_hw_count(gran_granules(g, size)));
    mmio_write(r + GFA_CMD_OFFSET, GFA_CMD_OP_ALLOC);
#endif
    res = mmio_read(r + GFA_RESULT_OFFSET);
    return res == GRAN_HW_RESULT_NONE ? NULL : (void *)(uintptr_t)res;
}

static inline int gran_hw_free(struct gran *g, uintptr_t addr, size_t size)
{
    uintptr_t r = g->regs;

#if UINTPTR_MAX > 0xFFFFFFFFu
    if (addr > 0xFFFFFFFFu)
        addr = 0xFFFFFFFFu; /* outside every heap and never a granule boundary: BAD_ADDR */
#endif
    mmio_write(r + GFA_ADDR_OFFSET, (uint32_t)addr);
#ifdef GFA_FREE_SIZE_OFFSET
    mmio_write(r + GFA_FREE_SIZE_OFFSET, gran_hw_bytes(size));
#else
    mmio_write(r + GFA_COUNT_OFFSET, gran_hw_count(gran_granules(g, size)));
    mmio_write(r + GFA_CMD_OFFSET, GFA_CMD_OP_FREE);
#endif
    return mmio_read(r + GFA_RESULT_OFFSET) == GRAN_HW_RESULT_NONE ? gran_hw_code(r) : GRAN_OK;
}

#endif
