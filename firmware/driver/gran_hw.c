/*
 * Hardware back end: set-up and the slow paths (reserve, info, table) through the allocator's
 * registers. The fast paths (alloc, free) are in gran_hw_ops.h, inline in gran.c.
 */
#include "gran_hw_ops.h"

GRAN_HANDLE gran_initialize_hw(struct gran *g, uintptr_t regs)
{
    uint32_t config, ng, l2;

    if (g == NULL || mmio_read(regs + GFA_ID_OFFSET) != GRAN_HW_ID)
        return NULL;
    config = mmio_read(regs + GFA_CONFIG_OFFSET);
    ng = GFA_CONFIG_GRANULES_GET(config);
    l2 = GFA_CONFIG_LOG2GRAN_GET(config);
    if (ng == 0u || ng > GRAN_MAX_GRANULES || l2 == 0u)
        return NULL;
    g->backend = GRAN_BACKEND_HW;
    g->status = GRAN_OK; /* unused: gran_status reads STATUS */
    g->heapstart = mmio_read(regs + GFA_HEAP_BASE_OFFSET);
    g->ngranules = ng;
    g->log2gran = l2;
    g->gmask = (uint32_t)((1ul << l2) - 1u);
    g->heapend = g->heapstart + ((uintptr_t)ng << l2);
    g->gat = NULL;
    g->nwords = (uint32_t)GRAN_GAT_WORDS(ng);
    g->nfree = 0;
    g->hint = 0;
    g->regs = regs;
    g->align = mmio_read(regs + GFA_ALIGN_OFFSET);
    return g;
}

int gran_hw_reserve(struct gran *g, uintptr_t start, size_t size)
{
    uintptr_t r = g->regs;
    uintptr_t first = start & ~(uintptr_t)g->gmask;

#if UINTPTR_MAX > 0xFFFFFFFFu
    if (first > 0xFFFFFFFFu)
        first = 0xFFFFFFFFu; /* outside every heap and never a granule boundary: BAD_ADDR */
#endif
    mmio_write(r + GFA_ADDR_OFFSET, (uint32_t)first);
    /* size 0 is COUNT 0, which the allocator refuses with BAD_COUNT as the model does */
    mmio_write(r + GFA_COUNT_OFFSET, size ? gran_hw_count(gran_span(g, start, size)) : 0u);
    mmio_write(r + GFA_CMD_OFFSET, GFA_CMD_OP_RESERVE);
    return mmio_read(r + GFA_RESULT_OFFSET) == GRAN_HW_RESULT_NONE ? gran_hw_code(r) : GRAN_OK;
}

int gran_hw_info(struct gran *g, struct graninfo *info)
{
    uintptr_t r = g->regs;

    mmio_write(r + GFA_CMD_OFFSET, GFA_CMD_OP_INFO);
    (void)mmio_read(r + GFA_RESULT_OFFSET); /* waits for the command */
    info->log2gran = g->log2gran;
    info->ngranules = g->ngranules;
    info->nfree = GFA_NFREE_COUNT_GET(mmio_read(r + GFA_NFREE_OFFSET));
    info->mxfree = GFA_LARGEST_RUN_GET(mmio_read(r + GFA_LARGEST_OFFSET));
    return GRAN_OK;
}

size_t gran_hw_table(struct gran *g, uint32_t *out, size_t words)
{
    uintptr_t r = g->regs;
    uint32_t w;

    mmio_write(r + GFA_GAT_INDEX_OFFSET, 0u);
    for (w = 0; w < g->nwords && w < words; w++)
        out[w] = mmio_read(r + GFA_GAT_DATA_OFFSET);
    if ((g->ngranules & 31u) && words >= g->nwords)
        out[g->nwords - 1u] &= ~(0xFFFFFFFFu << (g->ngranules & 31u));
    return g->nwords;
}
