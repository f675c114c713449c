/*
 * Software back end: NuttX's granule allocator as a first-fit search over the allocation table
 * (1 bit per granule, 1 = in use, granule k at bit k % 32 of word k / 32), a word at a time.
 *
 * gran_alloc skips every full word with one compare, then walks the free runs of the other
 * words with count-trailing-zeros (one step per run, never per granule); a run that reaches a
 * word's top carries into the next word, so runs longer than 32 granules are found the same
 * way. `hint` is the first word that may hold a free granule: words below it are full and are
 * not read again until a free or reserve below it. nfree is kept as a counter; gran_info
 * computes the longest run with the same run walk.
 *
 * Results equal mmaccel.sw.GranuleAllocator's (nuttx_quirks=False), checks in its order.
 */
#include "gran_priv.h"

#define GRAN_NONE 0xFFFFFFFFu

/* Count trailing zeros of x != 0. */
static inline uint32_t gran_ctz(uint32_t x)
{
#if defined(__GNUC__) || defined(__clang__)
    return (uint32_t)__builtin_ctz(x);
#else
    uint32_t n = 0;
    if (!(x & 0xFFFFu)) { n += 16; x >>= 16; }
    if (!(x & 0xFFu)) { n += 8; x >>= 8; }
    if (!(x & 0xFu)) { n += 4; x >>= 4; }
    if (!(x & 0x3u)) { n += 2; x >>= 2; }
    return n + ((x & 1u) ^ 1u);
#endif
}

/* Bits b .. b+k-1 (k 1..32, b + k <= 32). */
static inline uint32_t gran_bits(uint32_t b, uint32_t k)
{
    return (k == 32u ? 0xFFFFFFFFu : ((1u << k) - 1u)) << b;
}

GRAN_HANDLE gran_initialize(struct gran *g, uint32_t *gat, size_t gat_words, uintptr_t heapstart,
                            size_t heapsize, unsigned log2gran, unsigned log2align)
{
    uintptr_t amask, start;
    size_t ng;
    uint32_t w, nw;

    if (g == NULL || gat == NULL || log2gran < 1u || log2gran > 31u || log2align > log2gran ||
        heapsize == 0u)
        return NULL;
    amask = ((uintptr_t)1 << log2align) - 1u;
    start = (heapstart + amask) & ~amask;
    if (start < heapstart || heapsize <= (size_t)(start - heapstart))
        return NULL;
    ng = (heapsize - (size_t)(start - heapstart)) >> log2gran;
    if (ng == 0u || ng > GRAN_MAX_GRANULES)
        return NULL;
    nw = (uint32_t)GRAN_GAT_WORDS(ng);
    if (gat_words < nw)
        return NULL;

    g->backend = GRAN_BACKEND_SW;
    g->status = GRAN_OK;
    g->heapstart = start;
    g->heapend = start + ((uintptr_t)ng << log2gran);
    g->ngranules = (uint32_t)ng;
    g->log2gran = log2gran;
    g->gmask = (uint32_t)((1ul << log2gran) - 1u);
    g->gat = gat;
    g->nwords = nw;
    g->nfree = (uint32_t)ng;
    g->hint = 0;
    g->regs = 0;
    g->align = 0;
    for (w = 0; w < nw; w++)
        gat[w] = 0;
    if (ng & 31u)
        gat[nw - 1u] = 0xFFFFFFFFu << (ng & 31u); /* past the last granule: never free */
    return g;
}

/* Lowest granule index p, a multiple of am + 1, with p .. p+n-1 free; GRAN_NONE if none. */
static uint32_t sw_find(struct gran *g, uint32_t n, uint32_t am)
{
    const uint32_t *gat = g->gat;
    uint32_t nw = g->nwords;
    uint32_t w = g->hint;
    uint32_t start = 0; /* first granule of the free run reaching the current word */
    int inrun = 0;

    while (w < nw && gat[w] == 0xFFFFFFFFu)
        w++;
    g->hint = w;
    for (; w < nw; w++) {
        uint32_t x = ~gat[w]; /* 1 = free */
        uint32_t base = w << 5;

        if (x == 0u) {
            inrun = 0;
            continue;
        }
        if (inrun) {
            if (x & 1u) {
                uint32_t len = x == 0xFFFFFFFFu ? 32u : gran_ctz(~x);
                uint32_t c = (start + am) & ~am;
                if (c + n <= base + len)
                    return c;
                if (len == 32u)
                    continue;
                x &= 0xFFFFFFFFu << len;
            }
            inrun = 0;
        }
        while (x) {
            uint32_t s = gran_ctz(x);
            uint32_t y = x >> s;
            uint32_t len = y == 0xFFFFFFFFu ? 32u : gran_ctz(~y);
            uint32_t c;

            start = base + s;
            c = (start + am) & ~am;
            if (c + n <= start + len)
                return c;
            if (s + len == 32u) {
                inrun = 1;
                break;
            }
            x &= 0xFFFFFFFFu << (s + len);
        }
    }
    return GRAN_NONE;
}

/* 1 if every bit of granules p .. p+n-1 equals want (0 or all ones). */
static int sw_range_is(const uint32_t *gat, uint32_t p, uint32_t n, uint32_t want)
{
    uint32_t w = p >> 5, b = p & 31u;

    while (n) {
        uint32_t k = 32u - b;
        uint32_t m;

        if (k > n)
            k = n;
        m = gran_bits(b, k);
        if ((gat[w] & m) != (want & m))
            return 0;
        n -= k;
        w++;
        b = 0;
    }
    return 1;
}

/* Set (used != 0) or clear granules p .. p+n-1. */
static void sw_range_write(uint32_t *gat, uint32_t p, uint32_t n, int used)
{
    uint32_t w = p >> 5, b = p & 31u;

    while (n) {
        uint32_t k = 32u - b;
        uint32_t m;

        if (k > n)
            k = n;
        m = gran_bits(b, k);
        if (used)
            gat[w] |= m;
        else
            gat[w] &= ~m;
        n -= k;
        w++;
        b = 0;
    }
}

void *gran_sw_alloc(struct gran *g, size_t size, size_t align)
{
    uint32_t am = 0, p;
    size_t n;

    if (size == 0u) {
        g->status = GRAN_EBADCOUNT;
        return NULL;
    }
    if (align) {
        size_t a;

        if (align & (align - 1u)) {
            g->status = GRAN_EBADALIGN;
            return NULL;
        }
        a = align >> g->log2gran;
        if (a > GRAN_MAX_GRANULES)
            a = 2u * GRAN_MAX_GRANULES; /* only granule 0 is aligned either way */
        if (a > 1u)
            am = (uint32_t)a - 1u;
    }
    n = gran_granules(g, size);
    if (n > g->ngranules) {
        g->status = GRAN_EBADCOUNT;
        return NULL;
    }
    if (n > g->nfree) {
        g->status = GRAN_ENOSPC;
        return NULL;
    }
    p = sw_find(g, (uint32_t)n, am);
    if (p == GRAN_NONE) {
        g->status = GRAN_ENOSPC;
        return NULL;
    }
    sw_range_write(g->gat, p, (uint32_t)n, 1);
    g->nfree -= (uint32_t)n;
    g->status = GRAN_OK;
    return (void *)(g->heapstart + ((uintptr_t)p << g->log2gran));
}

int gran_sw_free(struct gran *g, uintptr_t addr, size_t size)
{
    uintptr_t off = addr - g->heapstart;
    uint32_t idx;
    size_t n;
    int st;

    if (size == 0u)
        st = GRAN_EBADCOUNT;
    else if (addr < g->heapstart || (off & g->gmask) || (off >> g->log2gran) >= g->ngranules)
        st = GRAN_EBADADDR;
    else {
        idx = (uint32_t)(off >> g->log2gran);
        n = gran_granules(g, size);
        if (n > g->ngranules - idx)
            st = GRAN_EBADADDR;
        else if (!sw_range_is(g->gat, idx, (uint32_t)n, 0xFFFFFFFFu))
            st = GRAN_ENOTINUSE;
        else {
            sw_range_write(g->gat, idx, (uint32_t)n, 0);
            g->nfree += (uint32_t)n;
            if ((idx >> 5) < g->hint)
                g->hint = idx >> 5;
            st = GRAN_OK;
        }
    }
    g->status = st;
    return st;
}

int gran_sw_reserve(struct gran *g, uintptr_t start, size_t size)
{
    uintptr_t first, d;
    uint64_t total;
    size_t n;
    uint32_t idx;
    int st;

    if (size == 0u) {
        g->status = GRAN_EBADCOUNT;
        return GRAN_EBADCOUNT;
    }
    first = start & ~(uintptr_t)g->gmask;
    n = gran_span(g, start, size);
    d = first - g->heapstart;
    /* the model: first < heapstart or first + n granules > heapend */
    total = (uint64_t)g->ngranules << g->log2gran;
    if (first < g->heapstart || n > g->ngranules || (uint64_t)d > total ||
        ((uint64_t)n << g->log2gran) > total - (uint64_t)d)
        st = GRAN_EBADADDR;
    else {
        idx = (uint32_t)(d >> g->log2gran);
        if (!sw_range_is(g->gat, idx, (uint32_t)n, 0u))
            st = GRAN_EINUSE;
        else {
            sw_range_write(g->gat, idx, (uint32_t)n, 1);
            g->nfree -= (uint32_t)n;
            st = GRAN_OK;
        }
    }
    g->status = st;
    return st;
}

int gran_sw_info(struct gran *g, struct graninfo *info)
{
    const uint32_t *gat = g->gat;
    uint32_t w, best = 0, cur = 0;

    for (w = 0; w < g->nwords; w++) {
        uint32_t x = ~gat[w];

        if (x == 0xFFFFFFFFu) {
            cur += 32u;
            continue;
        }
        if (x & 1u) {
            cur += gran_ctz(~x);
            x &= 0xFFFFFFFFu << gran_ctz(~x);
        }
        if (cur > best)
            best = cur;
        cur = 0;
        while (x) {
            uint32_t s = gran_ctz(x);
            uint32_t len = gran_ctz(~(x >> s)); /* bit 32 - s of x >> s is 0: s >= 1 here */

            if (s + len == 32u) {
                cur = len;
                break;
            }
            if (len > best)
                best = len;
            x &= 0xFFFFFFFFu << (s + len);
        }
    }
    if (cur > best)
        best = cur;
    info->log2gran = g->log2gran;
    info->ngranules = g->ngranules;
    info->nfree = g->nfree;
    info->mxfree = best;
    g->status = GRAN_OK;
    return GRAN_OK;
}

size_t gran_sw_table(struct gran *g, uint32_t *out, size_t words)
{
    uint32_t w;

    for (w = 0; w < g->nwords && w < words; w++)
        out[w] = g->gat[w];
    if ((g->ngranules & 31u) && words >= g->nwords)
        out[g->nwords - 1u] &= ~(0xFFFFFFFFu << (g->ngranules & 31u));
    return g->nwords;
}
