/* Private to the granule driver: the back ends' entry points and shared arithmetic. */
#ifndef MMACCEL_GRAN_PRIV_H
#define MMACCEL_GRAN_PRIV_H

#include <mmaccel/gran.h>

/* Software back end (gran_sw.c). Each sets g->status. */
void *gran_sw_alloc(struct gran *g, size_t size, size_t align);
int gran_sw_free(struct gran *g, uintptr_t addr, size_t size);
int gran_sw_reserve(struct gran *g, uintptr_t start, size_t size);
int gran_sw_info(struct gran *g, struct graninfo *info);
size_t gran_sw_table(struct gran *g, uint32_t *out, size_t words);

/* Hardware back end, slow paths (gran_hw.c); the fast paths are inline in gran_hw_ops.h. */
int gran_hw_reserve(struct gran *g, uintptr_t start, size_t size);
int gran_hw_info(struct gran *g, struct graninfo *info);
size_t gran_hw_table(struct gran *g, uint32_t *out, size_t words);

/* Granules that size bytes need, rounded up (no overflow for any size). */
static inline size_t gran_granules(const struct gran *g, size_t size)
{
    return (size >> g->log2gran) + ((size & g->gmask) != 0);
}

/*
 * gran_reserve's granule count for [start, start + size), size >= 1: the granules from
 * start rounded down to a granule to start + size rounded up, without overflow.
 */
static inline size_t gran_span(const struct gran *g, uintptr_t start, size_t size)
{
    size_t last = size - 1;
    return (last >> g->log2gran) +
           (((size_t)(start & g->gmask) + (last & g->gmask)) >> g->log2gran) + 1;
}

#endif
