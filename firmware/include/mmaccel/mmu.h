/*
 * mmaccel Sv32 MMU driver: satp, the sfence.vma flush forms and the counters through the MMU's
 * registers (MMU_REGMAP), and translations through the SoC's translation probe (the MMU's
 * request/response streams behind four registers). See docs/driver.md.
 *
 * C99, freestanding: needs only <stdint.h>.
 */
#ifndef MMACCEL_MMU_H
#define MMACCEL_MMU_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* satp: MODE (bit 31), ASID (bits 30:22), root PPN (bits 21:0). */
#define MMU_SATP_SV32         0x80000000u
#define MMU_SATP(asid, ppn)   (MMU_SATP_SV32 | (((uint32_t)(asid) & 0x1FFu) << 22) | \
                               ((uint32_t)(ppn) & 0x3FFFFFu))

/* access (mmaccel.sw.sv32.Access), optionally ORed with MMU_SUM / MMU_MXR */
#define MMU_LOAD  0u
#define MMU_STORE 1u
#define MMU_FETCH 2u
#define MMU_SUM   0x08u /* mstatus.SUM: S mode may load and store on U pages */
#define MMU_MXR   0x10u /* mstatus.MXR: loads from executable pages */
/* priv (mmaccel.sw.sv32.Priv) */
#define MMU_PRIV_U 0u
#define MMU_PRIV_S 1u

/* Fault causes (mmaccel.sw.sv32.FaultCause, RISC-V mcause); mmu_translate returns 1 + cause. */
#define MMU_CAUSE_FETCH_ACCESS 1u
#define MMU_CAUSE_LOAD_ACCESS  5u
#define MMU_CAUSE_STORE_ACCESS 7u
#define MMU_CAUSE_FETCH_PAGE   12u
#define MMU_CAUSE_LOAD_PAGE    13u
#define MMU_CAUSE_STORE_PAGE   15u

/* Translation probe registers (byte offsets from the probe's base). */
#define MMU_PROBE_VA     0x00u /* rw: virtual address of the next request */
#define MMU_PROBE_REQ    0x04u /* wo: [1:0] access, [2] priv, [3] SUM, [4] MXR; sends it */
#define MMU_PROBE_RESULT 0x08u /* ro, waits for the answer: [0] fault, [7:4] cause */
#define MMU_PROBE_PA     0x0Cu /* ro: pa[31:0] of the last answer */
#define MMU_PROBE_PAH    0x10u /* ro: pa[33:32] */

struct mmu {
    uintptr_t regs;  /* MMU register base (byte address) */
    uintptr_t probe; /* translation probe base (byte address) */
};

struct mmu_counters {
    uint32_t hits, misses, walks, faults;
};

/* Remember the register and probe bases; returns m. Touches no register. */
struct mmu *mmu_init(struct mmu *m, uintptr_t regs, uintptr_t probe);

void mmu_set_satp(struct mmu *m, uint32_t satp);
uint32_t mmu_get_satp(struct mmu *m);

/* sfence.vma in its four forms */
void mmu_flush_all(struct mmu *m);                                /* x0, x0 */
void mmu_flush_va(struct mmu *m, uint32_t va);                    /* va, x0: every ASID */
void mmu_flush_asid(struct mmu *m, uint32_t asid);                /* x0, asid: non-global */
void mmu_flush_va_asid(struct mmu *m, uint32_t va, uint32_t asid); /* va, asid: non-global */

void mmu_get_counters(struct mmu *m, struct mmu_counters *c);
void mmu_clear_counters(struct mmu *m);
uint32_t mmu_last_cause(struct mmu *m);  /* cause of the most recent fault (0 before one) */
uint32_t mmu_tlb_entries(struct mmu *m); /* TLB size (STATUS.ENTRIES) */
uint32_t mmu_tlb_valid(struct mmu *m);   /* valid TLB entries (STATUS.VALID) */

/*
 * Translate va for access (MMU_LOAD/STORE/FETCH, ORed with MMU_SUM/MMU_MXR) in priv mode
 * (MMU_PRIV_U/S) through the probe: returns 0 and pa[31:0] in *pa (pa may be NULL), or
 * 1 + the fault cause (so 2..16).
 */
int mmu_translate(struct mmu *m, uint32_t va, unsigned access, unsigned priv, uint32_t *pa);

/* As mmu_translate, also giving pa[33:32] in *pah (may be NULL). */
int mmu_translate34(struct mmu *m, uint32_t va, unsigned access, unsigned priv, uint32_t *pa,
                    uint32_t *pah);

#ifdef __cplusplus
}
#endif

#endif
