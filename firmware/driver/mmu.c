/*
 * MMU driver: MMU_REGMAP's registers (mmu_regs.h, generated) and the translation probe.
 */
#include <mmaccel/mmu.h>
#include <stddef.h>

#include "mmio.h"
#include "mmu_regs.h"

#if MMU_SATP_MODE_SHIFT != 31u || MMU_SATP_ASID_SHIFT != 22u || MMU_SATP_PPN_WIDTH != 22u
#error "mmu.h's satp layout no longer matches the generated mmu_regs.h"
#endif

struct mmu *mmu_init(struct mmu *m, uintptr_t regs, uintptr_t probe)
{
    m->regs = regs;
    m->probe = probe;
    return m;
}

void mmu_set_satp(struct mmu *m, uint32_t satp)
{
    mmio_write(m->regs + MMU_SATP_OFFSET, satp);
}

uint32_t mmu_get_satp(struct mmu *m)
{
    return mmio_read(m->regs + MMU_SATP_OFFSET);
}

void mmu_flush_all(struct mmu *m)
{
    mmio_write(m->regs + MMU_FLUSH_OFFSET, 0u);
}

void mmu_flush_va(struct mmu *m, uint32_t va)
{
    mmio_write(m->regs + MMU_FLUSH_VA_OFFSET, va);
    mmio_write(m->regs + MMU_FLUSH_OFFSET, MMU_FLUSH_USE_VA(1u));
}

void mmu_flush_asid(struct mmu *m, uint32_t asid)
{
    mmio_write(m->regs + MMU_FLUSH_ASID_OFFSET, MMU_FLUSH_ASID_ASID(asid));
    mmio_write(m->regs + MMU_FLUSH_OFFSET, MMU_FLUSH_USE_ASID(1u));
}

void mmu_flush_va_asid(struct mmu *m, uint32_t va, uint32_t asid)
{
    mmio_write(m->regs + MMU_FLUSH_VA_OFFSET, va);
    mmio_write(m->regs + MMU_FLUSH_ASID_OFFSET, MMU_FLUSH_ASID_ASID(asid));
    mmio_write(m->regs + MMU_FLUSH_OFFSET, MMU_FLUSH_USE_VA(1u) | MMU_FLUSH_USE_ASID(1u));
}

void mmu_get_counters(struct mmu *m, struct mmu_counters *c)
{
    c->hits = mmio_read(m->regs + MMU_HITS_OFFSET);
    c->misses = mmio_read(m->regs + MMU_MISSES_OFFSET);
    c->walks = mmio_read(m->regs + MMU_WALKS_OFFSET);
    c->faults = mmio_read(m->regs + MMU_FAULTS_OFFSET);
}

void mmu_clear_counters(struct mmu *m)
{
    mmio_write(m->regs + MMU_CTRL_OFFSET, MMU_CTRL_CLEAR_COUNTERS(1u));
}

uint32_t mmu_last_cause(struct mmu *m)
{
    return MMU_LAST_CAUSE_CAUSE_GET(mmio_read(m->regs + MMU_LAST_CAUSE_OFFSET));
}

uint32_t mmu_tlb_entries(struct mmu *m)
{
    return MMU_STATUS_ENTRIES_GET(mmio_read(m->regs + MMU_STATUS_OFFSET));
}

uint32_t mmu_tlb_valid(struct mmu *m)
{
    return MMU_STATUS_VALID_GET(mmio_read(m->regs + MMU_STATUS_OFFSET));
}

int mmu_translate34(struct mmu *m, uint32_t va, unsigned access, unsigned priv, uint32_t *pa,
                    uint32_t *pah)
{
    uintptr_t p = m->probe;
    uint32_t req = (access & 3u) | ((priv & 1u) << 2) | (access & (MMU_SUM | MMU_MXR));
    uint32_t res;

    mmio_write(p + MMU_PROBE_VA, va);
    mmio_write(p + MMU_PROBE_REQ, req);
    res = mmio_read(p + MMU_PROBE_RESULT);
    if (res & 1u)
        return 1 + (int)((res >> 4) & 0xFu);
    if (pa != NULL)
        *pa = mmio_read(p + MMU_PROBE_PA);
    if (pah != NULL)
        *pah = mmio_read(p + MMU_PROBE_PAH) & 3u;
    return 0;
}

int mmu_translate(struct mmu *m, uint32_t va, unsigned access, unsigned priv, uint32_t *pa)
{
    return mmu_translate34(m, va, access, priv, pa, NULL);
}
