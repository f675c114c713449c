/*
 * CPU cycles and instructions per gran_alloc / gran_free call, hardware or software back end,
 * under churn at 10%, 20%, ..., 90% occupancy. Run by mmaccel.verif.soc.speed on the `full`
 * VexRiscv (rdcycle, rdinstret); the host reads the trace, checks every result against the
 * model and computes the figures.
 *
 * The heap is the allocator's (gran_initialize_hw reads BASE, CONFIG.GRANULES, LOG2GRAN); the
 * software back end (SPEED_BACKEND 1) runs gran_initialize over a bitmap in RAM with the same
 * geometry, so both back ends see the same stream and must return the same addresses.
 *
 * Stream (xorshift32 from SPEED_SEED): a request is n = 1..SPEED_MAXRUN granules, as
 * (n - 1) granules + 1..granule bytes; a free is a uniformly chosen live block, freed with a
 * byte size of the same granule count. For each occupancy p the target is ngranules * p / 100
 * granules: allocate (untimed) until the heap holds the target, then make SPEED_WARMUP
 * warm-up calls (through the timed path, so its code is in the instruction cache; their
 * figures are not traced) and SPEED_CALLS timed calls, each an allocation when fewer than
 * the target granules are in use (and the previous allocation did not fail), else a free.
 * The heap carries over from one occupancy to the next.
 *
 * Timing: rdinstret, rdcycle, the call, rdcycle, rdinstret (noinline helpers): the cycle
 * window holds the call only. The header carries the smallest differences of the same
 * sequence around nothing (two back-to-back rdcycle; the instructions between the two
 * rdinstret): the overhead the host subtracts.
 *
 * Trace (32-bit words):
 *   header  SPEED_MAGIC, backend (0 hw, 1 sw), ngranules, log2gran, heapstart, seed, calls,
 *           warmup, maxrun, warm (SPEED_WARM), overhead cycles, overhead instructions
 *   bus     SPEED_BUS (both images), then SPEED_BUS_ITEMS pairs (min, max cycles over 16
 *           tries, overhead not subtracted) of raw register accesses on the empty heap: a read
 *           of ID, a write of ALIGN, ALLOC_SIZE write + RESULT read (1 granule), ADDR +
 *           FREE_SIZE writes + RESULT read (its free)
 *   occupancy  SPEED_OCC | percent, target granules
 *   call    op word: bit 31 = free, bit 30 = timed, bit 29 = wide, bits 28..0 = bytes;
 *           alloc: the address (0 = NULL); free: the address, the status;
 *           timed: then cycles << 16 | instructions, or when wide (either above 0xFFFF)
 *           cycles, instructions (raw, overhead not subtracted)
 *   end     SPEED_END
 * Exit code 0, or 1 when a handle could not be set up.
 */
#include <stddef.h>
#include <stdint.h>

#include <mmaccel/gran.h>

#include "gfa_regs.h"
#include "soc.h"

#ifndef SPEED_BACKEND
#define SPEED_BACKEND 0 /* 0: hardware, 1: software */
#endif
#ifndef SPEED_GRANULES
#define SPEED_GRANULES 256u /* the software back end's bitmap capacity */
#endif
#ifndef SPEED_CALLS
#define SPEED_CALLS 200u /* timed calls per occupancy */
#endif
#ifndef SPEED_WARMUP
#define SPEED_WARMUP 8u /* warm-up calls before them (not traced as timed) */
#endif
#ifndef SPEED_SEED
#define SPEED_SEED 1u
#endif
#ifndef SPEED_MAXRUN
#define SPEED_MAXRUN 32u /* largest request, in granules */
#endif
#ifndef SPEED_WARM
#define SPEED_WARM 1 /* read the handle (untimed) before each timed call */
#endif
#ifndef SPEED_MAXLIVE
#define SPEED_MAXLIVE 4096u /* live blocks kept */
#endif

#define SPEED_MAGIC 0x53504431u /* "SPD1" */
#define SPEED_OCC   0x4F430000u
#define SPEED_END   0x454E4421u
#define SPEED_BUS   0x42555321u /* "BUS!" */
#define SPEED_BUS_ITEMS 4u
#define OP_FREE     0x80000000u
#define OP_TIMED    0x40000000u
#define OP_WIDE     0x20000000u

#if SPEED_BACKEND
static uint32_t gat[GRAN_GAT_WORDS(SPEED_GRANULES)];
#endif
static struct gran hw;
#if SPEED_BACKEND
static struct gran sw;
#endif
static uint16_t live_idx[SPEED_MAXLIVE]; /* granule index of each live block */
static uint8_t live_n[SPEED_MAXLIVE];    /* its granules */
static uint32_t nlive, used, rng = SPEED_SEED ? SPEED_SEED : 1u;
static uintptr_t heapstart;
static uint32_t l2, gmask;

static uint32_t rnd(void)
{
    uint32_t x = rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    rng = x;
    return x;
}

#if defined(__riscv)
#define RDCYCLE(v)   __asm__ volatile("rdcycle %0" : "=r"(v) : : "memory")
#define RDINSTRET(v) __asm__ volatile("rdinstret %0" : "=r"(v) : : "memory")
#else /* a host compile (warning check) only: no counters */
#define RDCYCLE(v)   __asm__ volatile("" : "=r"(v) : "0"(0u) : "memory")
#define RDINSTRET(v) __asm__ volatile("" : "=r"(v) : "0"(0u) : "memory")
#endif

static uint32_t dcyc, dins; /* the last timed call's raw differences */

/*
 * The data cache of the cached VexRiscv variants is 4 KiB, direct mapped, 32-byte lines; this
 * program's live-block lists (12 KiB) are not, so the bookkeeping of a free can evict the
 * handle's line and the next call pays a refill (about 13 cycles a line). With SPEED_WARM the
 * handle is read, untimed, before each timed call: the figures are those of a call whose
 * handle is cached (the driver's own data), as in a program that allocates often.
 */
static void warm(const struct gran *g)
{
#if SPEED_WARM
    const volatile uint32_t *w = (const volatile uint32_t *)(const void *)g;
    size_t i;

    for (i = 0; i < sizeof(*g) / sizeof(uint32_t); i++)
        (void)w[i];
#else
    (void)g;
#endif
}

__attribute__((noinline)) static void timed_nothing(void)
{
    uint32_t c0, i0, c1, i1;
    RDINSTRET(i0);
    RDCYCLE(c0);
    __asm__ volatile("" : : : "memory");
    RDCYCLE(c1);
    RDINSTRET(i1);
    dcyc = c1 - c0;
    dins = i1 - i0;
}

__attribute__((noinline)) static void *timed_alloc(GRAN_HANDLE h, size_t bytes)
{
    uint32_t c0, i0, c1, i1;
    void *p;
    __asm__ volatile("" : : "r"(h), "r"(bytes) : "memory");
    RDINSTRET(i0);
    RDCYCLE(c0);
    p = gran_alloc(h, bytes);
    RDCYCLE(c1);
    RDINSTRET(i1);
    dcyc = c1 - c0;
    dins = i1 - i0;
    return p;
}

__attribute__((noinline)) static int timed_free(GRAN_HANDLE h, void *mem, size_t bytes)
{
    uint32_t c0, i0, c1, i1;
    int st;
    __asm__ volatile("" : : "r"(h), "r"(mem), "r"(bytes) : "memory");
    RDINSTRET(i0);
    RDCYCLE(c0);
    st = gran_free(h, mem, bytes);
    RDCYCLE(c1);
    RDINSTRET(i1);
    dcyc = c1 - c0;
    dins = i1 - i0;
    return st;
}

#define REG(off) (*(volatile uint32_t *)(uintptr_t)(SOC_GFA_BASE + (off)))

/* Raw register costs on the allocator (no driver): SPEED_BUS, then min/max pairs. */
static void bus_costs(uint32_t gran)
{
    uint32_t lo[SPEED_BUS_ITEMS], hi[SPEED_BUS_ITEMS], c0, c1, v, k, t;

    for (k = 0; k < SPEED_BUS_ITEMS; k++) {
        lo[k] = 0xFFFFFFFFu;
        hi[k] = 0;
    }
    for (t = 0; t < 16u; t++) {
        uint32_t d[SPEED_BUS_ITEMS];

        RDCYCLE(c0);
        v = REG(GFA_ID_OFFSET);
        RDCYCLE(c1);
        d[0] = c1 - c0;
        __asm__ volatile("" : : "r"(v));
        RDCYCLE(c0);
        REG(GFA_ALIGN_OFFSET) = 0u;
        RDCYCLE(c1);
        d[1] = c1 - c0;
        RDCYCLE(c0);
        REG(GFA_ALLOC_SIZE_OFFSET) = gran;
        v = REG(GFA_RESULT_OFFSET);
        RDCYCLE(c1);
        d[2] = c1 - c0;
        RDCYCLE(c0);
        REG(GFA_ADDR_OFFSET) = v;
        REG(GFA_FREE_SIZE_OFFSET) = gran;
        v = REG(GFA_RESULT_OFFSET);
        RDCYCLE(c1);
        d[3] = c1 - c0;
        __asm__ volatile("" : : "r"(v));
        for (k = 0; k < SPEED_BUS_ITEMS; k++) {
            if (d[k] < lo[k])
                lo[k] = d[k];
            if (d[k] > hi[k])
                hi[k] = d[k];
        }
    }
    trace(SPEED_BUS);
    for (k = 0; k < SPEED_BUS_ITEMS; k++) {
        trace(lo[k]);
        trace(hi[k]);
    }
}

/* The op word of a call; a timed call's figures go in one word when both fit 16 bits. */
static uint32_t op_word(int timed, uint32_t op, uint32_t bytes)
{
    if (!timed)
        return op | bytes;
    if (dcyc > 0xFFFFu || dins > 0xFFFFu)
        return op | OP_TIMED | OP_WIDE | bytes;
    return op | OP_TIMED | bytes;
}

static void trace_timing(int timed)
{
    if (!timed)
        return;
    if (dcyc > 0xFFFFu || dins > 0xFFFFu) {
        trace(dcyc);
        trace(dins);
    } else
        trace(dcyc << 16 | dins);
}

/* Modes of a step: fill (plain call), warm-up (timed path, figures not traced), timed. */
#define STEP_FILL   0
#define STEP_WARMUP 1
#define STEP_TIMED  2

/* One allocation of a random size; 1 when it succeeded. */
static int step_alloc(GRAN_HANDLE h, int mode)
{
    int timed = mode == STEP_TIMED;
    uint32_t n = 1u + rnd() % SPEED_MAXRUN;
    uint32_t bytes = ((n - 1u) << l2) + 1u + (rnd() & gmask);
    void *p;

    if (mode != STEP_FILL) {
        warm(h);
        p = timed_alloc(h, bytes);
    } else
        p = gran_alloc(h, bytes);
    trace(op_word(timed, 0u, bytes));
    trace((uint32_t)(uintptr_t)p);
    trace_timing(timed);
    if (p == NULL)
        return 0;
    live_idx[nlive] = (uint16_t)(((uintptr_t)p - heapstart) >> l2);
    live_n[nlive] = (uint8_t)n;
    nlive++;
    used += n;
    return 1;
}

/* Free a uniformly chosen live block (nlive > 0). */
static void step_free(GRAN_HANDLE h, int mode)
{
    int timed = mode == STEP_TIMED;
    uint32_t k = rnd() % nlive;
    uint32_t n = live_n[k];
    uint32_t bytes = (n << l2) - (rnd() & gmask);
    uintptr_t addr = heapstart + ((uintptr_t)live_idx[k] << l2);
    int st;

    if (mode != STEP_FILL) {
        warm(h);
        st = timed_free(h, (void *)addr, bytes);
    } else
        st = gran_free(h, (void *)addr, bytes);
    trace(op_word(timed, OP_FREE, bytes));
    trace((uint32_t)addr);
    trace((uint32_t)st);
    trace_timing(timed);
    nlive--;
    live_idx[k] = live_idx[nlive];
    live_n[k] = live_n[nlive];
    used -= n;
}

int main(void)
{
    GRAN_HANDLE h = gran_initialize_hw(&hw, SOC_GFA_BASE);
    uint32_t ng, pct, i, best_c = 0xFFFFFFFFu, best_i = 0xFFFFFFFFu;

    if (h == NULL)
        return 1;
    heapstart = h->heapstart;
    ng = h->ngranules;
    l2 = h->log2gran;
    gmask = h->gmask;
#if SPEED_BACKEND
    if (ng > SPEED_GRANULES)
        return 1;
    h = gran_initialize(&sw, gat, GRAN_GAT_WORDS(SPEED_GRANULES), heapstart,
                        (size_t)ng << l2, l2, 0u);
    if (h == NULL)
        return 1;
#endif
    for (i = 0; i < 32u; i++) {
        timed_nothing();
        if (dcyc < best_c)
            best_c = dcyc;
        if (dins < best_i)
            best_i = dins;
    }
    trace(SPEED_MAGIC);
    trace(SPEED_BACKEND);
    trace(ng);
    trace(l2);
    trace((uint32_t)heapstart);
    trace(SPEED_SEED);
    trace(SPEED_CALLS);
    trace(SPEED_WARMUP);
    trace(SPEED_MAXRUN);
    trace(SPEED_WARM);
    trace(best_c);
    trace(best_i);
    bus_costs(gmask + 1u); /* both images: the allocator is idle in the software one */

    for (pct = 10u; pct <= 90u; pct += 10u) {
        uint32_t target = ng * pct / 100u;
        uint32_t fails = 0;
        int failed = 0;

        trace(SPEED_OCC | pct);
        trace(target);
        while (used < target && nlive < SPEED_MAXLIVE && fails < 16u)
            fails = step_alloc(h, STEP_FILL) ? 0u : fails + 1u;
        for (i = 0; i < SPEED_WARMUP + SPEED_CALLS; i++) {
            int mode = i >= SPEED_WARMUP ? STEP_TIMED : STEP_WARMUP;
            if (nlive == 0u || (used < target && nlive < SPEED_MAXLIVE && !failed))
                failed = !step_alloc(h, mode);
            else {
                step_free(h, mode);
                failed = 0;
            }
        }
    }
    trace(SPEED_END);
    return 0;
}
