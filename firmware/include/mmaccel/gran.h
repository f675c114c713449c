/*
 * mmaccel granule allocator driver: NuttX's gran_* API over two back ends.
 *
 * The software back end is a first-fit bitmap allocator kept in memory the caller provides; the
 * hardware back end drives the granule/page-frame allocator (GFA) through its registers. Both
 * give exactly the results of mmaccel.sw.GranuleAllocator(start, size, log2gran, log2align):
 * the lowest-index free run, alignment counted in bytes from the heap start, the same checks in
 * the same order. See docs/driver.md.
 *
 * C99, freestanding: needs only <stddef.h> and <stdint.h>.
 */
#ifndef MMACCEL_GRAN_H
#define MMACCEL_GRAN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes: equal to the hardware's GfaStatus values (STATUS.CODE). */
#define GRAN_OK        0 /* success */
#define GRAN_ENOSPC    1 /* NO_SPACE: no aligned free run long enough (not a caller error) */
#define GRAN_EBADCOUNT 2 /* size 0, or more granules than the heap has (InvalidArgument) */
#define GRAN_EBADADDR  3 /* address outside the heap / not a granule boundary
                            (GranuleRangeError, InvalidPointer) */
#define GRAN_EBADALIGN 4 /* alignment not a power of two (InvalidAlignment) */
#define GRAN_ENOTINUSE 5 /* free of granules not in use (GranulesNotInUse) */
#define GRAN_EINUSE    6 /* reserve of granules in use (GranulesInUse) */
#define GRAN_EBADOP    7 /* operation code the hardware does not know */

/* Most granules one allocator manages (hardware and model limit). */
#define GRAN_MAX_GRANULES 65536u

/* Words of bitmap the software back end needs for n granules. */
#define GRAN_GAT_WORDS(n) (((n) + 31u) / 32u)

/* Back end tags (struct gran.backend). */
#define GRAN_BACKEND_NONE 0u
#define GRAN_BACKEND_SW   1u
#define GRAN_BACKEND_HW   2u

struct graninfo {
    uint32_t log2gran;  /* log2 of the granule size in bytes */
    uint32_t ngranules; /* granules in the heap */
    uint32_t nfree;     /* free granules */
    uint32_t mxfree;    /* longest run of free granules */
};

/*
 * Handle storage; callers allocate it (static, stack or heap) and pass it to an initialiser.
 * The fields are the driver's: read them if useful, never write them.
 */
struct gran {
    uint32_t backend;   /* GRAN_BACKEND_* */
    int status;         /* software back end: status of the last call (gran_status) */
    uintptr_t heapstart; /* byte address of granule 0 */
    uintptr_t heapend;  /* heapstart + ngranules << log2gran (0 if that wraps to 2^N) */
    uint32_t ngranules; /* 1..65536 */
    uint32_t log2gran;  /* 1..31 */
    uint32_t gmask;     /* granule size - 1 */
    /* software back end */
    uint32_t *gat;      /* bitmap, 1 = in use; bits past ngranules are kept 1 */
    uint32_t nwords;    /* GRAN_GAT_WORDS(ngranules) */
    uint32_t nfree;     /* free granules */
    uint32_t hint;      /* every word below this one is full */
    /* hardware back end */
    uintptr_t regs;     /* register base (byte address) */
    uint32_t align;     /* the value last written to ALIGN */
};

typedef struct gran *GRAN_HANDLE;

/*
 * Software back end over ngranules = the whole granules between heapstart rounded up to
 * 2^log2align and heapstart + heapsize. gat is the bitmap, at least GRAN_GAT_WORDS(ngranules)
 * words (gat_words). Returns g, or NULL when a parameter is out of range (log2gran 1..31,
 * log2align 0..log2gran, 1..65536 whole granules, gat too short).
 */
GRAN_HANDLE gran_initialize(struct gran *g, uint32_t *gat, size_t gat_words, uintptr_t heapstart,
                            size_t heapsize, unsigned log2gran, unsigned log2align);

/*
 * Hardware back end: regs is the allocator's register base (byte address). Reads ID, CONFIG
 * and BASE; returns NULL when ID is not "GFA1". The heap is whatever the hardware was built
 * with; its table is not cleared.
 */
GRAN_HANDLE gran_initialize_hw(struct gran *g, uintptr_t regs);

/* Forget the handle (its storage and bitmap belong to the caller again). */
void gran_release(GRAN_HANDLE h);

/* size bytes at the lowest free granule; NULL on failure (gran_status says why). */
void *gran_alloc(GRAN_HANDLE h, size_t size);

/* As gran_alloc, at a multiple of align bytes counted from the heap start (0 = none). */
void *gran_alloc_align(GRAN_HANDLE h, size_t size, size_t align);

/* Free the granules of size bytes at mem (all must be in use). GRAN_OK or an error. */
int gran_free(GRAN_HANDLE h, void *mem, size_t size);

/* Mark the granules covering [start, start + size) in use (none may be). */
int gran_reserve(GRAN_HANDLE h, uintptr_t start, size_t size);

/* Granule size, count, free granules and the longest free run. GRAN_OK. */
int gran_info(GRAN_HANDLE h, struct graninfo *info);

/*
 * Status of the last call on h: GRAN_OK, GRAN_ENOSPC or an error code. The hardware back end
 * reads STATUS.CODE: how the allocator's last command ended (gran_table issues none).
 */
int gran_status(GRAN_HANDLE h);

/*
 * Copy the allocation table (1 = in use; granule k at bit k % 32 of word k / 32; bits past the
 * last granule 0) into out[0 .. words-1]. Returns the words the table has (copies at most
 * `words`). Both back ends (the hardware one through GAT_INDEX/GAT_DATA).
 */
size_t gran_table(GRAN_HANDLE h, uint32_t *out, size_t words);

#ifdef __cplusplus
}
#endif

#endif
