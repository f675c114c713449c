/* The firmware of the SoC bitstreams (mmaccel build --board NAME --soc): prints over the UART
   a banner, a short allocator run on the hardware and the software back end (every result
   checked against the other back end here), Sv32 translations through the MMU (checked against
   the expected addresses and causes), cycle figures of gran_alloc/gran_free on both back ends,
   then PASS or FAIL. The exit code goes to sysctl EXIT (0 = pass), which lights the LEDs.

   Build-time macros: BOARD_CLK_HZ (clock in Hz), BOARD_OPS (allocator operations),
   BOARD_GAT_WORDS (software bitmap words: granules / 32 rounded up), BOARD_HAS_MMU (0 leaves
   the MMU part out), BOARD_TIMED (calls timed per figure).

   Line formats (a test parses them, see mmaccel/verif/boards/soc_top.py):
     op <i> alloc <size> align <align> -> <addr hex> [MISMATCH sw <addr> ...]
     op <i> free <addr hex> <size> -> <status> [MISMATCH sw <status>]
     info nfree <n> mxfree <n> [MISMATCH ...]
     satp <hex> / pte <address hex> <value hex>
     tr <va hex> <L|S|F> <U|S|s> -> pa <hex> | fault <cause>   (s: S mode with SUM)
     cycles <call> <hw|sw> mean <n> min <n> max <n>            */
#include <stddef.h>
#include <stdint.h>

#include <mmaccel/gran.h>
#include <mmaccel/mmu.h>

#include "soc.h"

#ifndef BOARD_CLK_HZ
#define BOARD_CLK_HZ 0
#endif
#ifndef BOARD_OPS
#define BOARD_OPS 40
#endif
#ifndef BOARD_GAT_WORDS
#define BOARD_GAT_WORDS 2048
#endif
#ifndef BOARD_HAS_MMU
#define BOARD_HAS_MMU 1
#endif
#ifndef BOARD_TIMED
#define BOARD_TIMED 16
#endif
#define LIVE_MAX 12

static uint32_t gat[BOARD_GAT_WORDS];
static struct gran hw_store, sw_store;
static unsigned failures;
static uint32_t rng = 0x2545F491u;

static uint32_t next_random(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

/* out of line: soc.h's inline UART helpers, expanded at every call, would not fit 8 KiB */
static void __attribute__((noinline)) put_char(char c) { uart_putc(c); }

static void __attribute__((noinline)) put_str(const char *s)
{
    while (*s)
        put_char(*s++);
}

static void __attribute__((noinline)) put_dec(uint32_t v)
{
    char buf[11];
    int n = 0;
    do {
        buf[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    while (n)
        put_char(buf[--n]);
}

static void __attribute__((noinline)) put_hex(uint32_t v)
{
    for (int shift = 28; shift >= 0; shift -= 4)
        put_char("0123456789abcdef"[(v >> shift) & 0xFu]);
}

static void mismatch(const char *what, uint32_t value)
{
    failures++;
    put_str(" MISMATCH ");
    put_str(what);
    put_char(' ');
    put_hex(value);
}

struct block {
    uint32_t addr, size;
};

static void alloc_run(GRAN_HANDLE hw, GRAN_HANDLE sw, uint32_t gran)
{
    struct block live[LIVE_MAX];
    unsigned nlive = 0;

    for (unsigned i = 0; i < BOARD_OPS; i++) {
        uint32_t r = next_random();
        unsigned kind = r % 8u;
        put_str("op ");
        put_dec(i);
        if (nlive == LIVE_MAX || (nlive > 0 && kind < 3u) || kind == 7u) {
            /* free a live block, or (kind 7) one granule nobody holds: an error on both */
            uint32_t addr, size;
            if (kind == 7u || nlive == 0) {
                addr = (uint32_t)hw->heapstart + (hw->ngranules - 1u) * gran;
                size = gran;
            } else {
                unsigned k = (r >> 8) % nlive;
                addr = live[k].addr;
                size = live[k].size;
                live[k] = live[--nlive];
            }
            int sh = gran_free(hw, (void *)(uintptr_t)addr, size);
            int ss = gran_free(sw, (void *)(uintptr_t)addr, size);
            put_str(" free ");
            put_hex(addr);
            put_char(' ');
            put_dec(size);
            put_str(" -> ");
            put_dec((uint32_t)sh);
            if (sh != ss)
                mismatch("sw", (uint32_t)ss);
        } else {
            /* 1..4 granules, not a whole number of them; every third one aligned */
            uint32_t size = (1u + (r >> 4) % 4u) * gran - (r >> 12) % gran;
            uint32_t align = kind == 3u ? gran << ((r >> 20) % 3u) : 0u;
            if (kind == 6u)
                size = 0; /* deliberate error: BAD_COUNT on both */
            void *ph = gran_alloc_align(hw, size, align);
            int sth = gran_status(hw);
            void *ps = gran_alloc_align(sw, size, align);
            int sts = gran_status(sw);
            put_str(" alloc ");
            put_dec(size);
            put_str(" align ");
            put_dec(align);
            put_str(" -> ");
            put_hex((uint32_t)(uintptr_t)ph);
            put_char(' ');
            put_dec((uint32_t)sth);
            if (ph != ps)
                mismatch("sw", (uint32_t)(uintptr_t)ps);
            if (sth != sts)
                mismatch("sw-status", (uint32_t)sts);
            if (ph != NULL) {
                live[nlive].addr = (uint32_t)(uintptr_t)ph;
                live[nlive].size = size;
                nlive++;
            }
        }
        put_char('\n');
    }

    struct graninfo ih, is;
    gran_info(hw, &ih);
    gran_info(sw, &is);
    put_str("info nfree ");
    put_dec(ih.nfree);
    put_str(" mxfree ");
    put_dec(ih.mxfree);
    if (ih.nfree != is.nfree)
        mismatch("sw-nfree", is.nfree);
    if (ih.mxfree != is.mxfree)
        mismatch("sw-mxfree", is.mxfree);
    put_char('\n');

    /* give everything back: both heaps empty again */
    while (nlive) {
        nlive--;
        if (gran_free(hw, (void *)(uintptr_t)live[nlive].addr, live[nlive].size) != GRAN_OK ||
            gran_free(sw, (void *)(uintptr_t)live[nlive].addr, live[nlive].size) != GRAN_OK) {
            failures++;
            put_str("release FAILED\n");
        }
    }
}

static void print_stat(const char *call, const char *name, uint32_t mean, uint32_t lo,
                       uint32_t hi)
{
    put_str("cycles ");
    put_str(call);
    put_char(' ');
    put_str(name);
    put_str(" mean ");
    put_dec(mean);
    put_str(" min ");
    put_dec(lo);
    put_str(" max ");
    put_dec(hi);
    put_char('\n');
}

/* Cycles per call: BOARD_TIMED one-granule allocations after a fragmenting prefix (every
   other granule of the first 2 * 64 held, so the first fit is past them), then their frees. */
static void timing(GRAN_HANDLE h, const char *name, uint32_t gran)
{
    static void *held[64];
    void *got[BOARD_TIMED];
    uint32_t a_sum = 0, a_min = 0xFFFFFFFFu, a_max = 0;
    uint32_t f_sum = 0, f_min = 0xFFFFFFFFu, f_max = 0;
    uint32_t t0 = cycles();
    uint32_t overhead = cycles() - t0;

    for (unsigned i = 0; i < 64; i++)
        held[i] = gran_alloc(h, 2u * gran);
    for (unsigned i = 0; i < 64; i++)
        gran_free(h, held[i], gran); /* keep the second granule of each pair */
    for (unsigned i = 0; i < BOARD_TIMED; i++) {
        /* two granules: the one-granule holes do not fit, the first fit is past them */
        t0 = cycles();
        got[i] = gran_alloc(h, 2u * gran);
        uint32_t dt = cycles() - t0 - overhead;
        a_sum += dt;
        a_min = dt < a_min ? dt : a_min;
        a_max = dt > a_max ? dt : a_max;
    }
    for (unsigned i = 0; i < BOARD_TIMED; i++) {
        t0 = cycles();
        int st = gran_free(h, got[i], 2u * gran);
        uint32_t dt = cycles() - t0 - overhead;
        if (got[i] == NULL || st != GRAN_OK) {
            failures++;
            put_str("timing alloc/free FAILED\n");
        }
        f_sum += dt;
        f_min = dt < f_min ? dt : f_min;
        f_max = dt > f_max ? dt : f_max;
    }
    for (unsigned i = 0; i < 64; i++)
        gran_free(h, (char *)held[i] + gran, gran);
    print_stat("gran_alloc", name, a_sum / BOARD_TIMED, a_min, a_max);
    print_stat("gran_free", name, f_sum / BOARD_TIMED, f_min, f_max);
}

#if BOARD_HAS_MMU
static uint32_t pt_root[1024] __attribute__((aligned(4096)));
static uint32_t pt_leaf[1024] __attribute__((aligned(4096)));

#define PTE_V 0x01u
#define PTE_R 0x02u
#define PTE_W 0x04u
#define PTE_X 0x08u
#define PTE_U 0x10u
#define PTE_A 0x40u
#define PTE_D 0x80u
#define PTE(ppn, flags) ((((uint32_t)(ppn)) << 10) | (flags))

static void set_pte(uint32_t *slot, uint32_t value)
{
    *slot = value;
    put_str("pte ");
    put_hex((uint32_t)(uintptr_t)slot);
    put_char(' ');
    put_hex(value);
    put_char('\n');
}

struct probe_case {
    uint32_t va;
    unsigned access; /* MMU_LOAD/STORE/FETCH | MMU_SUM */
    unsigned priv;
    uint32_t expect; /* the physical address, or the fault cause (< 16) */
};

static const struct probe_case cases[] = {
    {0x40001234u, MMU_LOAD, MMU_PRIV_S, 0x20001234u},            /* megapage */
    {0x40001234u, MMU_FETCH, MMU_PRIV_S, MMU_CAUSE_FETCH_PAGE},  /* not executable */
    {0x00405678u, MMU_LOAD, MMU_PRIV_U, 0x12345678u},            /* 4 KiB user page */
    {0x00405678u, MMU_LOAD, MMU_PRIV_S, MMU_CAUSE_LOAD_PAGE},    /* S on U page, no SUM */
    {0x00405678u, MMU_LOAD | MMU_SUM, MMU_PRIV_S, 0x12345678u},  /* with SUM */
    {0x00405000u, MMU_FETCH, MMU_PRIV_U, 0x12345000u},           /* executable */
    {0x00405678u, MMU_STORE, MMU_PRIV_U, MMU_CAUSE_STORE_PAGE},  /* read only */
    {0x00406ABCu, MMU_LOAD, MMU_PRIV_S, 0x3FFFFABCu},            /* D = 0: loads pass */
    {0x00406ABCu, MMU_STORE, MMU_PRIV_S, MMU_CAUSE_STORE_PAGE},  /* D = 0: stores fault */
    {0x00407000u, MMU_LOAD, MMU_PRIV_S, MMU_CAUSE_LOAD_PAGE},    /* invalid PTE */
    {0x80000010u, MMU_LOAD, MMU_PRIV_S, MMU_CAUSE_LOAD_PAGE},    /* misaligned megapage */
};

static void mmu_part(void)
{
    struct mmu m;
    mmu_init(&m, SOC_MMU_BASE, SOC_PROBE_BASE);
    uint32_t root = (uint32_t)(uintptr_t)pt_root;
    uint32_t leaf = (uint32_t)(uintptr_t)pt_leaf;
    put_str("mmu tlb ");
    put_dec(mmu_tlb_entries(&m));
    put_char('\n');
    set_pte(&pt_root[0x100], PTE(0x20000u, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D));
    set_pte(&pt_root[0x001], PTE(leaf >> 12, PTE_V));
    set_pte(&pt_root[0x200], PTE(0x20001u, PTE_V | PTE_R | PTE_A | PTE_D));
    set_pte(&pt_leaf[0x005], PTE(0x12345u, PTE_V | PTE_R | PTE_X | PTE_U | PTE_A));
    set_pte(&pt_leaf[0x006], PTE(0x3FFFFu, PTE_V | PTE_R | PTE_W | PTE_A));
    uint32_t satp = MMU_SATP(1u, root >> 12);
    put_str("satp ");
    put_hex(satp);
    put_char('\n');
    mmu_set_satp(&m, satp);
    mmu_flush_all(&m);
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct probe_case *c = &cases[i];
        uint32_t pa = 0;
        int r = mmu_translate(&m, c->va, c->access, c->priv, &pa);
        unsigned acc = c->access & 3u;
        put_str("tr ");
        put_hex(c->va);
        put_char(' ');
        put_char(acc == MMU_LOAD ? 'L' : acc == MMU_STORE ? 'S' : 'F');
        put_char(' ');
        put_char(c->priv == MMU_PRIV_U ? 'U' : (c->access & MMU_SUM) ? 's' : 'S');
        if (r == 0) {
            put_str(" -> pa ");
            put_hex(pa);
            if (c->expect != pa)
                mismatch("expected", c->expect);
        } else {
            put_str(" -> fault ");
            put_dec((uint32_t)(r - 1));
            if (c->expect != (uint32_t)(r - 1))
                mismatch("expected", c->expect);
        }
        put_char('\n');
    }
    struct mmu_counters n;
    mmu_get_counters(&m, &n);
    put_str("mmu hits ");
    put_dec(n.hits);
    put_str(" misses ");
    put_dec(n.misses);
    put_str(" walks ");
    put_dec(n.walks);
    put_str(" faults ");
    put_dec(n.faults);
    put_char('\n');
}
#endif

int main(void)
{
    put_str(BOARD_HAS_MMU ? "\nmmaccel SoC: VexRiscv + granule allocator + Sv32 MMU\n"
                           : "\nmmaccel SoC: VexRiscv + granule allocator\n");
    put_str("clock ");
    put_dec(BOARD_CLK_HZ);
    put_str(" Hz, ram ");
    put_dec(SOC_REG(SOC_SYSCTL_BASE, SYSCTL_RAM_SIZE));
    put_str(" bytes, id ");
    put_hex(SOC_REG(SOC_SYSCTL_BASE, SYSCTL_ID));
    put_char('\n');

    GRAN_HANDLE hw = gran_initialize_hw(&hw_store, SOC_GFA_BASE);
    if (hw == NULL) {
        put_str("no allocator\nFAIL\n");
        soc_exit(1);
    }
    uint32_t gran = 1u << hw->log2gran;
    put_str("gfa granules ");
    put_dec(hw->ngranules);
    put_str(" log2gran ");
    put_dec(hw->log2gran);
    put_str(" base ");
    put_hex((uint32_t)hw->heapstart);
    put_char('\n');
    GRAN_HANDLE sw = gran_initialize(&sw_store, gat, BOARD_GAT_WORDS, hw->heapstart,
                                     (size_t)hw->ngranules << hw->log2gran, hw->log2gran, 0);
    if (sw == NULL) {
        put_str("software back end refused the heap (BOARD_GAT_WORDS too small)\nFAIL\n");
        soc_exit(1);
    }

    alloc_run(hw, sw, gran);
#if BOARD_HAS_MMU
    mmu_part();
#endif
    timing(hw, "hw", gran);
    timing(sw, "sw", gran);

    put_str(failures ? "FAIL\n" : "PASS\n");
    soc_exit(failures ? 1u : 0u);
    return 0;
}
