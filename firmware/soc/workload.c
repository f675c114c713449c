/*
 * The SoC's checked workload: a seeded random stream of granule-allocator calls run on the
 * hardware back end (the GFA) and on the software back end (a bitmap in RAM), then Sv32 page
 * tables built in RAM and translations asked of the MMU through the probe. Every call's inputs
 * and results go to the trace port as tagged records; mmaccel/verif/soc/workload.py decodes
 * them and replays each request into the model (docs/soc.md, "Workload").
 *
 * Record: a header word, then its payload words.
 *   header = tag << 24 | backend << 20 | payload words << 16 | sequence number (16 bits)
 * backend: 0 none, 1 software, 2 hardware (GRAN_BACKEND_*). The tags and payloads are the
 * WL_* constants below (the Python side has the same table).
 *
 * Build-time parameters (-D): WL_SEED, WL_OPS (calls per back end), WL_XLATES (translations),
 * WL_SW_START, WL_SW_SIZE, WL_SW_LOG2GRAN, WL_SW_LOG2ALIGN (the software heap).
 *
 * C99, freestanding.
 */
#include <mmaccel/gran.h>
#include <mmaccel/mmu.h>
#include <stddef.h>
#include <stdint.h>

#include "soc.h"

#ifndef WL_SEED
#define WL_SEED 1u
#endif
#ifndef WL_OPS
#define WL_OPS 1000u
#endif
#ifndef WL_XLATES
#define WL_XLATES 500u
#endif
#ifndef WL_SW_START
#define WL_SW_START 0x20000004u
#endif
#ifndef WL_SW_SIZE
#define WL_SW_SIZE 32828u
#endif
#ifndef WL_SW_LOG2GRAN
#define WL_SW_LOG2GRAN 6u
#endif
#ifndef WL_SW_LOG2ALIGN
#define WL_SW_LOG2ALIGN 3u
#endif

/* record tags and payload lengths */
#define WL_BEGIN 0x01u       /* magic, seed, ops, xlates, sw start, sw size, sw log2gran, sw log2align */
#define WL_INIT 0x02u        /* ok, heapstart, ngranules, log2gran */
#define WL_PHASE 0x03u       /* phase, cycles[31:0], cycles[63:32] */
#define WL_END 0x04u         /* records before this one, mmu hits, misses, walks, faults */
#define WL_ALLOC 0x10u       /* size, 0, result, status (gran_alloc) */
#define WL_ALLOC_ALIGN 0x11u /* size, align, result, status (gran_alloc_align) */
#define WL_FREE 0x12u        /* addr, size, return, status */
#define WL_RESERVE 0x13u     /* addr, size, return, status */
#define WL_INFO 0x14u        /* return, status, log2gran, ngranules, nfree, mxfree */
#define WL_SATP 0x20u        /* satp */
#define WL_PTE 0x21u         /* address, value */
#define WL_FLUSH 0x22u       /* form (0 all, 1 va, 2 asid, 3 va+asid), va, asid */
#define WL_XLATE 0x23u       /* va, access|SUM|MXR, priv, return (0 or 1+cause), pa, pah */

#define WL_MAGIC 0x574B4C31u /* "WKL1" */

#define PHASE_HW 1u
#define PHASE_SW 2u
#define PHASE_MMU 3u
#define PHASE_DONE 4u

static uint32_t seq;

static void header(uint32_t tag, uint32_t backend, uint32_t n)
{
    trace(tag << 24 | backend << 20 | n << 16 | (seq & 0xFFFFu));
    seq++;
}

static void rec2(uint32_t tag, uint32_t b, uint32_t w0, uint32_t w1)
{
    header(tag, b, 2u);
    trace(w0);
    trace(w1);
}

static void rec4(uint32_t tag, uint32_t b, uint32_t w0, uint32_t w1, uint32_t w2, uint32_t w3)
{
    header(tag, b, 4u);
    trace(w0);
    trace(w1);
    trace(w2);
    trace(w3);
}

static void phase(uint32_t which)
{
    uint64_t now = cycles64();
    header(WL_PHASE, 0u, 3u);
    trace(which);
    trace((uint32_t)now);
    trace((uint32_t)(now >> 32));
}

/* xorshift32 */
static uint32_t rng_state;

static uint32_t rnd(void)
{
    uint32_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    rng_state = x;
    return x;
}

static uint32_t below(uint32_t n) { return n ? rnd() % n : 0u; }

/* ---------------------------------------------------------------------------------------- */
/* allocator part                                                                            */

#define MAXLIVE 96u

struct block {
    uint32_t addr, size;
};

static struct block live[MAXLIVE];
static uint32_t nlive;
static uint32_t dead[8]; /* recently freed addresses (for frees of granules not in use) */

struct heap {
    GRAN_HANDLE h;
    uint32_t b; /* backend tag */
    uint32_t start, ng, l2, gsize;
};

static void info(const struct heap *p)
{
    struct graninfo gi = {0u, 0u, 0u, 0u};
    int r = gran_info(p->h, &gi);
    int st = gran_status(p->h);
    header(WL_INFO, p->b, 6u);
    trace((uint32_t)r);
    trace((uint32_t)st);
    trace(gi.log2gran);
    trace(gi.ngranules);
    trace(gi.nfree);
    trace(gi.mxfree);
}

/* a size in bytes: (k - 1) whole granules and 1..gsize bytes; k mostly small, sometimes a
   sixteenth or a third of the heap */
static uint32_t pick_size(const struct heap *p)
{
    uint32_t r = below(100u), k;
    if (r < 70u)
        k = 1u + below(8u);
    else if (r < 90u)
        k = 1u + below(p->ng / 16u + 1u);
    else
        k = 1u + below(p->ng / 3u + 1u);
    return (k - 1u) * p->gsize + 1u + below(p->gsize);
}

static void do_alloc(const struct heap *p, uint32_t size, uint32_t align, int aligned)
{
    void *m = aligned ? gran_alloc_align(p->h, size, align) : gran_alloc(p->h, size);
    int st = gran_status(p->h);
    uint32_t a = (uint32_t)(uintptr_t)m;
    rec4(aligned ? WL_ALLOC_ALIGN : WL_ALLOC, p->b, size, aligned ? align : 0u, a, (uint32_t)st);
    if (m != NULL && nlive < MAXLIVE) {
        live[nlive].addr = a;
        live[nlive].size = size;
        nlive++;
    }
}

static void do_free(const struct heap *p, uint32_t addr, uint32_t size)
{
    int r = gran_free(p->h, (void *)(uintptr_t)addr, size);
    int st = gran_status(p->h);
    rec4(WL_FREE, p->b, addr, size, (uint32_t)r, (uint32_t)st);
}

static void do_reserve(const struct heap *p, uint32_t addr, uint32_t size)
{
    int r = gran_reserve(p->h, addr, size);
    int st = gran_status(p->h);
    rec4(WL_RESERVE, p->b, addr, size, (uint32_t)r, (uint32_t)st);
    if (r == GRAN_OK && nlive < MAXLIVE) {
        /* remember the granules it marked, to free them later */
        uint32_t mask = p->gsize - 1u;
        uint32_t first = addr & ~mask;
        live[nlive].addr = first;
        live[nlive].size = ((addr + size + mask) & ~mask) - first;
        nlive++;
    }
}

/* 1 << k for k in 0..n-1, k at most 31 */
static uint32_t pow2_below(uint32_t n)
{
    uint32_t k = below(n);
    return 1u << (k > 31u ? 31u : k);
}

static uint32_t pick_align(const struct heap *p)
{
    uint32_t r = below(100u);
    if (r < 8u) /* not a power of two */
        return 3u * pow2_below(p->l2 + 4u);
    if (r < 15u)
        return 0u;
    return pow2_below(p->l2 + 5u);
}

static void free_live(const struct heap *p, uint32_t i)
{
    struct block blk = live[i];
    uint32_t size = blk.size;
    /* a size that rounds up to the same granules, now and then */
    if (below(4u) == 0u && size > p->gsize)
        size -= below(p->gsize);
    do_free(p, blk.addr, size);
    dead[below(8u)] = blk.addr;
    live[i] = live[--nlive];
}

static void one_op(const struct heap *p)
{
    uint32_t r = below(100u);
    uint32_t end = p->start + p->ng * p->gsize;

    if (nlive >= MAXLIVE - 8u && r < 40u)
        r += 40u; /* a full table turns allocations into frees */
    if (r < 22u) {
        do_alloc(p, pick_size(p), 0u, 0);
    } else if (r < 40u) {
        do_alloc(p, pick_size(p), pick_align(p), 1);
    } else if (r < 68u) {
        if (nlive)
            free_live(p, below(nlive));
        else
            do_alloc(p, pick_size(p), 0u, 0);
    } else if (r < 76u) {
        /* bad frees */
        uint32_t k = below(6u);
        uint32_t addr;
        switch (k) {
        case 0u: /* freed before: most likely not in use */
            addr = dead[below(8u)] ? dead[below(8u)] : p->start;
            break;
        case 1u: /* below the heap */
            addr = p->start - p->gsize;
            break;
        case 2u: /* just past its end */
            addr = end;
            break;
        case 3u: /* not a granule boundary */
            addr = (nlive ? live[below(nlive)].addr : p->start) + 1u + below(p->gsize - 1u);
            break;
        case 4u: /* any granule: in use or not */
            addr = p->start + below(p->ng) * p->gsize;
            break;
        default: /* a live block with a bad size */
            addr = nlive ? live[below(nlive)].addr : p->start;
            break;
        }
        uint32_t size = (k == 5u) ? 0u : 1u + below(4u * p->gsize);
        if (k == 5u && below(2u))
            size = p->ng * p->gsize + 1u; /* reaches past the end */
        do_free(p, addr, size);
    } else if (r < 86u) {
        /* reserves: anywhere (free or in use), unaligned, sometimes outside */
        uint32_t k = below(10u);
        uint32_t addr = p->start + below(p->ng) * p->gsize + below(p->gsize);
        uint32_t size = 1u + below(3u * p->gsize);
        if (k == 0u) {
            addr = p->start - 1u - below(p->gsize);
        } else if (k == 1u) {
            addr = end - below(2u * p->gsize) - 1u;
            size = 3u * p->gsize;
        } else if (k == 2u) {
            size = 0u;
        } else if (k == 3u && nlive) {
            addr = live[below(nlive)].addr + below(p->gsize); /* surely in use */
        }
        do_reserve(p, addr, size);
    } else if (r < 93u) {
        info(p);
    } else {
        /* deliberate errors */
        uint32_t k = below(4u);
        if (k == 0u)
            do_alloc(p, 0u, 0u, below(2u));
        else if (k == 1u)
            do_alloc(p, p->ng * p->gsize + 1u + below(p->gsize), 0u, below(2u));
        else if (k == 2u)
            do_alloc(p, 1u + below(p->gsize), 5u << below(8u), 1);
        else
            do_alloc(p, 1u + below(p->gsize), pow2_below(p->l2 + 3u), 1);
    }
}

static void run_heap(struct heap *p, uint32_t ops)
{
    p->start = (uint32_t)p->h->heapstart;
    p->ng = p->h->ngranules;
    p->l2 = p->h->log2gran;
    p->gsize = 1u << p->l2;
    nlive = 0u;
    for (uint32_t i = 0; i < 8u; i++)
        dead[i] = 0u;
    rng_state = (uint32_t)WL_SEED * 2654435761u ^ 0x9E3779B9u;
    if (rng_state == 0u)
        rng_state = 1u;
    info(p);
    for (uint32_t i = 0; i < ops; i++)
        one_op(p);
    /* free what is left, then the final state */
    while (nlive)
        free_live(p, nlive - 1u);
    info(p);
}

/* ---------------------------------------------------------------------------------------- */
/* Sv32 part                                                                                 */

#define PTE_V 0x01u
#define PTE_R 0x02u
#define PTE_W 0x04u
#define PTE_X 0x08u
#define PTE_U 0x10u
#define PTE_G 0x20u
#define PTE_A 0x40u
#define PTE_D 0x80u

#define ASID_A 1u
#define ASID_B 2u
#define ASID_BAD 3u

/* 0, 1: roots of ASID_A and ASID_B; 2, 3: their level-0 tables; 4: the global level-0 table */
static uint32_t pt[5][1024] __attribute__((aligned(4096)));

#define ROOT_A 0
#define ROOT_B 1
#define L0_A 2
#define L0_B 3
#define L0_G 4

/* root slots (VPN[1]) */
#define V1_L0 0x100u     /* -> the private level-0 table */
#define V1_GL0 0x300u    /* -> the global level-0 table (both roots) */
#define V1_GMEGA 0x301u  /* a global megapage, the same in both roots */
#define V1_OUT 0x3FEu    /* -> a "table" outside RAM: access faults */
#define V1_MEGA0 0x010u  /* private megapages at V1_MEGA0 .. V1_MEGA0 + NMEGA - 1 */
#define NMEGA 12u
#define NL0 96u          /* level-0 entries used (VPN[0] 0 .. NL0 - 1) */

static struct mmu mmu;

static uint32_t pa_of(const uint32_t *p) { return (uint32_t)(uintptr_t)p; }

static void pte_set(int table, uint32_t index, uint32_t value)
{
    pt[table][index] = value;
    rec2(WL_PTE, 0u, pa_of(&pt[table][index]), value);
}

static uint32_t pointer_pte(int table) { return (pa_of(pt[table]) >> 12) << 10 | PTE_V; }

/* leaf flags: mostly valid and accessed with R/W/X/U/D at random, sometimes any byte */
static uint32_t leaf_flags(int global)
{
    uint32_t f;
    if (below(6u) == 0u) {
        f = below(256u);
    } else {
        f = PTE_V | PTE_A | (below(8u) ? PTE_R : 0u);
        f |= below(3u) ? PTE_W : 0u;
        f |= below(2u) ? PTE_X : 0u;
        f |= below(3u) ? 0u : PTE_U;
        f |= below(6u) ? PTE_D : 0u;
        if (below(16u) == 0u)
            f &= ~PTE_A;
        if ((f & (PTE_R | PTE_X)) == 0u)
            f |= below(2u) ? PTE_R : 0u;
    }
    /* global table entries are global; private ones never are (flush by ASID keeps G) */
    return global ? (f | PTE_G) : (f & ~PTE_G);
}

static uint32_t leaf_pte(int global) { return below(1u << 22) << 10 | leaf_flags(global); }

/* a megapage: aligned mostly (PPN[0] = 0), misaligned sometimes */
static uint32_t mega_pte(int global)
{
    uint32_t f = leaf_flags(global);
    uint32_t ppn = below(1u << 12) << 10;
    if (below(5u) == 0u)
        ppn |= 1u + below(1023u);
    /* random flags can make it a pointer: keep the table it names outside RAM, whose
       contents only the walker would know */
    if ((f & (PTE_V | PTE_R | PTE_X)) == PTE_V)
        ppn |= (1u + below(4095u)) << 10;
    return ppn << 10 | f;
}

static void set_satp(uint32_t satp)
{
    mmu_set_satp(&mmu, satp);
    header(WL_SATP, 0u, 1u);
    trace(satp);
}

static void flush(uint32_t form, uint32_t va, uint32_t asid)
{
    if (form == 0u)
        mmu_flush_all(&mmu);
    else if (form == 1u)
        mmu_flush_va(&mmu, va);
    else if (form == 2u)
        mmu_flush_asid(&mmu, asid);
    else
        mmu_flush_va_asid(&mmu, va, asid);
    header(WL_FLUSH, 0u, 3u);
    trace(form);
    trace(va);
    trace(asid);
}

static void build_tables(void)
{
    for (int r = ROOT_A; r <= ROOT_B; r++) {
        int l0 = r == ROOT_A ? L0_A : L0_B;
        pte_set(r, V1_L0, pointer_pte(l0));
        pte_set(r, V1_GL0, pointer_pte(L0_G) | PTE_G);
        pte_set(r, V1_OUT, (0x40000000u >> 12) << 10 | PTE_V);
        for (uint32_t i = 0; i < NMEGA; i++) {
            uint32_t k = below(8u);
            if (k == 0u)
                continue; /* invalid (zero) */
            pte_set(r, V1_MEGA0 + i, k == 1u ? pointer_pte(l0) & ~PTE_V : mega_pte(0));
        }
        for (uint32_t i = 0; i < NL0; i++) {
            uint32_t k = below(10u);
            if (k == 0u)
                continue;
            if (k == 1u)
                pte_set(l0, i, pointer_pte(l0)); /* non-leaf on level 0 */
            else
                pte_set(l0, i, leaf_pte(0));
        }
    }
    /* the global mappings: one level-0 table and one megapage, shared by both roots */
    for (uint32_t i = 0; i < NL0; i++)
        if (below(6u))
            pte_set(L0_G, i, leaf_pte(1));
    uint32_t gm = mega_pte(1);
    pte_set(ROOT_A, V1_GMEGA, gm);
    pte_set(ROOT_B, V1_GMEGA, gm);
}

static uint32_t satp_of(uint32_t asid)
{
    if (asid == ASID_BAD)
        return MMU_SATP(ASID_BAD, 0x40000000u >> 12);
    return MMU_SATP(asid, pa_of(pt[asid == ASID_A ? ROOT_A : ROOT_B]) >> 12);
}

static uint32_t hot[8]; /* recently translated addresses: asked again, TLB hits */

static uint32_t pick_va(void)
{
    uint32_t r = below(100u);
    uint32_t off = rnd() & 0xFFFu;
    uint32_t va;
    if (r < 45u) {
        /* again, at another offset in the same page */
        return (hot[below(8u)] & ~0xFFFu) | off;
    } else if (r < 65u) {
        va = V1_L0 << 22 | below(NL0 + 4u) << 12 | off;
    } else if (r < 75u) {
        va = V1_GL0 << 22 | below(NL0 + 4u) << 12 | off;
    } else if (r < 88u) {
        va = (V1_MEGA0 + below(NMEGA)) << 22 | (rnd() & 0x3FFFFFu);
    } else if (r < 93u) {
        va = V1_GMEGA << 22 | (rnd() & 0x3FFFFFu);
    } else if (r < 95u) {
        va = V1_OUT << 22 | (rnd() & 0x3FFFFFu);
    } else {
        va = rnd(); /* anywhere: mostly invalid root entries */
    }
    hot[below(8u)] = va;
    return va;
}

static void translate(uint32_t va)
{
    uint32_t access = below(3u);
    uint32_t priv = below(3u) ? MMU_PRIV_S : MMU_PRIV_U;
    uint32_t pa = 0u, pah = 0u;
    if (below(2u) == 0u)
        access |= MMU_SUM;
    if (below(4u) == 0u)
        access |= MMU_MXR;
    int r = mmu_translate34(&mmu, va, access, priv, &pa, &pah);
    header(WL_XLATE, 0u, 6u);
    trace(va);
    trace(access);
    trace(priv);
    trace((uint32_t)r);
    trace(pa);
    trace(pah);
}

/* change one mapping and flush it with the matching sfence.vma form */
static void remap(uint32_t cur_asid)
{
    uint32_t k = below(8u);
    if (k < 3u) {
        /* a private 4 KiB page of the current ASID: flush by VA and ASID */
        uint32_t i = below(NL0);
        int l0 = cur_asid == ASID_A ? L0_A : L0_B;
        pte_set(l0, i, below(5u) ? leaf_pte(0) : 0u);
        flush(3u, V1_L0 << 22 | i << 12, cur_asid);
    } else if (k < 5u) {
        /* a private megapage of either ASID: flush that ASID */
        uint32_t asid = below(2u) ? ASID_A : ASID_B;
        pte_set(asid == ASID_A ? ROOT_A : ROOT_B, V1_MEGA0 + below(NMEGA),
                below(6u) ? mega_pte(0) : 0u);
        flush(2u, 0u, asid);
    } else if (k < 7u) {
        /* a global page: flush by VA (every ASID, global entries too) */
        uint32_t i = below(NL0);
        pte_set(L0_G, i, below(5u) ? leaf_pte(1) : 0u);
        flush(1u, V1_GL0 << 22 | i << 12 | (rnd() & 0xFFFu), 0u);
    } else {
        /* the global megapage, in both roots: flush everything */
        uint32_t gm = mega_pte(1);
        pte_set(ROOT_A, V1_GMEGA, gm);
        pte_set(ROOT_B, V1_GMEGA, gm);
        flush(0u, 0u, 0u);
    }
}

static void run_mmu(uint32_t n)
{
    rng_state = ((uint32_t)WL_SEED + 0x51u) * 2246822519u ^ 0x85EBCA6Bu;
    if (rng_state == 0u)
        rng_state = 1u;
    mmu_init(&mmu, SOC_MMU_BASE, SOC_PROBE_BASE);
    mmu_clear_counters(&mmu);
    build_tables();
    flush(0u, 0u, 0u);
    uint32_t asid = ASID_A;
    set_satp(satp_of(asid));
    for (uint32_t i = 0; i < n; i++) {
        uint32_t r = below(1000u);
        if (r < 20u) {
            asid = asid == ASID_A ? ASID_B : ASID_A;
            set_satp(satp_of(asid));
        } else if (r < 23u) {
            set_satp(0u); /* bare: pa = va */
        } else if (r < 25u) {
            /* a root outside RAM: every walk an access fault. Its (absent) tables lack the
               global mappings the other two share, so the TLB's global entries go first */
            set_satp(satp_of(ASID_BAD));
            flush(0u, 0u, 0u);
        } else if (r < 28u) {
            set_satp(satp_of(asid));
        } else if (r < 45u) {
            remap(asid);
        }
        translate(pick_va());
    }
}

/* ---------------------------------------------------------------------------------------- */

static struct gran hw, sw;
static uint32_t gat[GRAN_GAT_WORDS(((uint32_t)WL_SW_SIZE >> WL_SW_LOG2GRAN) + 1u)];

static void init_record(struct heap *p)
{
    GRAN_HANDLE h = p->h;
    header(WL_INIT, p->b, 4u);
    trace(h != NULL);
    trace(h ? (uint32_t)h->heapstart : 0u);
    trace(h ? h->ngranules : 0u);
    trace(h ? h->log2gran : 0u);
}

int main(void)
{
    struct heap p;

    header(WL_BEGIN, 0u, 8u);
    trace(WL_MAGIC);
    trace(WL_SEED);
    trace(WL_OPS);
    trace(WL_XLATES);
    trace(WL_SW_START);
    trace(WL_SW_SIZE);
    trace(WL_SW_LOG2GRAN);
    trace(WL_SW_LOG2ALIGN);

    p.b = GRAN_BACKEND_HW;
    p.h = gran_initialize_hw(&hw, SOC_GFA_BASE);
    init_record(&p);
    if (p.h == NULL)
        return 2;
    phase(PHASE_HW);
    run_heap(&p, WL_OPS);

    p.b = GRAN_BACKEND_SW;
    p.h = gran_initialize(&sw, gat, sizeof gat / sizeof gat[0], WL_SW_START, WL_SW_SIZE,
                          WL_SW_LOG2GRAN, WL_SW_LOG2ALIGN);
    init_record(&p);
    if (p.h == NULL)
        return 3;
    phase(PHASE_SW);
    run_heap(&p, WL_OPS);

    phase(PHASE_MMU);
    run_mmu(WL_XLATES);
    phase(PHASE_DONE);

    struct mmu_counters c;
    mmu_get_counters(&mmu, &c);
    uint32_t n = seq;
    header(WL_END, 0u, 5u);
    trace(n);
    trace(c.hits);
    trace(c.misses);
    trace(c.walks);
    trace(c.faults);
    return 0;
}
