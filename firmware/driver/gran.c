/*
 * The gran_* entry points: one branch on the back-end tag, then the software back end
 * (gran_sw.c) or the hardware one (inline fast paths from gran_hw_ops.h, slow paths in
 * gran_hw.c).
 */
#include "gran_hw_ops.h"

void gran_release(GRAN_HANDLE h)
{
    if (h != NULL) {
        h->backend = GRAN_BACKEND_NONE;
        h->gat = NULL;
        h->regs = 0;
    }
}

void *gran_alloc(GRAN_HANDLE h, size_t size)
{
    if (h->backend == GRAN_BACKEND_HW)
        return gran_hw_alloc(h, size, 0u);
    return gran_sw_alloc(h, size, 0u);
}

void *gran_alloc_align(GRAN_HANDLE h, size_t size, size_t align)
{
    if (h->backend == GRAN_BACKEND_HW)
        return gran_hw_alloc(h, size, align);
    return gran_sw_alloc(h, size, align);
}

int gran_free(GRAN_HANDLE h, void *mem, size_t size)
{
    if (h->backend == GRAN_BACKEND_HW)
        return gran_hw_free(h, (uintptr_t)mem, size);
    return gran_sw_free(h, (uintptr_t)mem, size);
}

int gran_reserve(GRAN_HANDLE h, uintptr_t start, size_t size)
{
    if (h->backend == GRAN_BACKEND_HW)
        return gran_hw_reserve(h, start, size);
    return gran_sw_reserve(h, start, size);
}

int gran_info(GRAN_HANDLE h, struct graninfo *info)
{
    if (h->backend == GRAN_BACKEND_HW)
        return gran_hw_info(h, info);
    return gran_sw_info(h, info);
}

int gran_status(GRAN_HANDLE h)
{
    if (h->backend == GRAN_BACKEND_HW)
        return gran_hw_code(h->regs);
    return h->status;
}

size_t gran_table(GRAN_HANDLE h, uint32_t *out, size_t words)
{
    if (h->backend == GRAN_BACKEND_HW)
        return gran_hw_table(h, out, words);
    return gran_sw_table(h, out, words);
}
