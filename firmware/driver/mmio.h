/*
 * Private: 32-bit register accesses. Built with -DMMACCEL_MMIO_HOOK every access becomes a call
 * of mmaccel_mmio_read/mmaccel_mmio_write (defined by a host test's register-file stand-in);
 * otherwise a volatile load or store.
 */
#ifndef MMACCEL_MMIO_H
#define MMACCEL_MMIO_H

#include <stdint.h>

#ifdef MMACCEL_MMIO_HOOK
uint32_t mmaccel_mmio_read(uintptr_t addr);
void mmaccel_mmio_write(uintptr_t addr, uint32_t value);

static inline uint32_t mmio_read(uintptr_t addr)
{
    return mmaccel_mmio_read(addr);
}

static inline void mmio_write(uintptr_t addr, uint32_t value)
{
    mmaccel_mmio_write(addr, value);
}
#else
static inline uint32_t mmio_read(uintptr_t addr)
{
    return *(const volatile uint32_t *)addr;
}

static inline void mmio_write(uintptr_t addr, uint32_t value)
{
    *(volatile uint32_t *)addr = value;
}
#endif

#endif
