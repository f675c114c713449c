"""``mmaccel bench mmu``: the MMU on the model's workload in Amaranth's simulator."""

from __future__ import annotations

from typing import Any

from mmaccel.hdl.mmu import Mmu
from mmaccel.verif.mmu.driver import Answer, MmuSimDriver, run_sim
from mmaccel.verif.mmu.reference import Request, model_response
from mmaccel.verif.mmu.workload import Workload

__all__ = ["bench_mmu"]


def bench_mmu(
    entries: int = 16, accesses: int = 4000, seed: int = 1, mem_latency: int = 1
) -> dict[str, Any]:
    """Run the :class:`Workload` trace through the MMU in Amaranth's simulator.

    Returns the figures printed by ``mmaccel bench mmu --json``: ``entries``, ``accesses``,
    ``mismatches`` (answers that differ from the model's ``translate_sv32``),
    ``hit_latency_cycles`` (max over hits), ``miss_cycles`` (``mean``/``max`` from acceptance
    to answer), ``hit_rate``, ``lookups_per_cycle`` (a burst of hits), ``pte_reads``,
    ``flushes``.
    """
    wl = Workload(seed, broken=False)
    dut = Mmu(entries)
    figures: dict[str, Any] = {}
    answers: list[Answer] = []
    mismatches = 0
    flushes = 0

    async def scenario(ctx: Any, drv: MmuSimDriver) -> None:
        nonlocal mismatches, flushes
        done = 0
        while done < accesses:
            if wl.rng.random() < 0.1:
                wl.switch()
            if wl.rng.random() < 0.05:
                for f in wl.mutate():
                    await drv.flush(ctx, va=f.va, asid=f.asid)
                    flushes += 1
            satp = wl.satp()
            drv.set_satp(ctx, satp)
            reqs = wl.batch(min(50, accesses - done))
            got = await drv.translate(ctx, reqs)
            for a in got:
                if a.response != model_response(wl.memory, satp, a.request):
                    mismatches += 1
            answers.extend(got)
            done += len(reqs)
        # throughput: the same page again and again
        good = [a.request for a in answers[-50:] if a.response.cause is None] or [Request(0)]
        drv.set_satp(ctx, satp if good[-1].va else 0)
        hot = [
            Request(
                good[-1].va & ~0xFFF | (i * 4 & 0xFFF),
                good[-1].access,
                good[-1].priv,
                good[-1].sum,
                good[-1].mxr,
            )
            for i in range(64)
        ]
        burst = (await drv.translate(ctx, hot))[1:]
        figures["lookups_per_cycle"] = round(
            len(burst) / (burst[-1].accepted - burst[0].accepted + 1), 3
        )

    drv = run_sim(dut, wl.memory, scenario, mem_latency=mem_latency, seed=seed)
    hits = [a.latency for a in answers if a.latency == 1]
    misses = [a.latency for a in answers if a.latency > 1]
    figures = {
        "entries": entries,
        "accesses": len(answers),
        "mismatches": mismatches,
        "hit_latency_cycles": max(hits) if hits else None,
        "miss_cycles": {
            "mean": round(sum(misses) / len(misses), 3) if misses else None,
            "max": max(misses) if misses else None,
        },
        "hit_rate": round(len(hits) / len(answers), 4),
        "pte_reads": drv.pte_reads,
        "flushes": flushes,
        "mem_latency_cycles": mem_latency,
        "cycles": drv.cycle,
        **figures,
    }
    return figures
