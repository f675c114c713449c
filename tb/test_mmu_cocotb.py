"""The MMU's Verilog on Verilator (cocotb) against the model, on page tables the model builds.

The cocotb coroutines run inside the simulator; :func:`test_mmu_cocotb` (pytest) builds the
Verilog of ``Mmu(entries)`` and runs them with ``mmaccel.hdl.cocotb_runner``.

Workload (``mmaccel.hdl.mmu_sim.Workload``): a kernel with global mappings (direct-mapped
megapage, vmalloc areas, an ioremap), user processes in several ASIDs with mmap regions, a
user megapage and a shared SysV segment; random accesses with locality, random remaps through
the model (munmap/mmap, mprotect, vfree/vmalloc, shmdt/shmat, exit/respawn) each followed by
the matching sfence.vma. Every answer is compared with ``translate_sv32`` on the current page
tables, so a stale translation surviving its flush, or one ASID seeing another's non-global
translation, is a mismatch.

``MMU_ACCESSES`` sets the number of accesses of a run; ``MMACCEL_SOAK=1`` makes it 10 million.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles

HERE = Path(__file__).resolve().parent
SOAK_ACCESSES = 10_000_000


async def _reset(dut: Any) -> None:
    Clock(dut.clk, 10, unit="ns").start()
    dut.rst.value = 1
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0


@cocotb.test()
async def random_remaps_against_model(dut: Any) -> None:
    """Random accesses in several ASIDs with remaps and their flushes: 0 mismatches."""
    from mmu_tb import MmuBench

    from mmaccel.hdl.mmu_sim import BROKEN_ASID, Request, Response, Workload, model_response
    from mmaccel.sw.memory import PhysicalMemory

    accesses = int(os.environ.get("MMU_ACCESSES", "20000"))
    seed = int(os.environ.get("MMU_SEED", "1"))
    wl = Workload(seed)
    before = PhysicalMemory(wl.memory.size)  # the page tables before the last remap
    before.write(0, wl.memory.read(0, wl.memory.size))
    # How often the comparison would have caught a stale entry (an answer that the tables
    # before the last remap give differently) or a leak between ASIDs (an answer that another
    # process's tables give differently).
    sensitive = {"stale": 0, "other_asid": 0}

    def observe(req: Request, satp: int, want: Response) -> None:
        if model_response(before, satp, req) != want:
            sensitive["stale"] += 1
        asid = (satp >> 22) & 0x1FF
        if asid not in (0, BROKEN_ASID) and req.va < 0xC000_0000:
            other = wl.satp(1 + asid % len(wl.procs))
            if other != satp and model_response(wl.memory, other, req) != want:
                sensitive["other_asid"] += 1

    tb = MmuBench(dut, wl.memory, seed=seed, observe=observe)
    await _reset(dut)
    done = 0
    remaps = 0
    asids: set[int] = set()
    while done < accesses:
        if wl.rng.random() < 0.1:
            asids.add(wl.switch())
        if wl.rng.random() < 0.15:
            before.write(0, wl.memory.read(0, wl.memory.size))
            tb.flushes.extend(wl.mutate())
            remaps += 1
            await tb.run_cycles()  # the flushes go out before the next accesses
        tb.satp = wl.satp()
        n = min(64, accesses - done)
        tb.pending.extend(wl.batch(n))
        done += n
        await tb.run_cycles()
        if tb.mismatches:
            break
    wl.check()
    hits = sum(1 for x in tb.latencies if x == 1)
    dut._log.info(
        "%d accesses checked, %d remaps, ASIDs %s, %d PTE reads (%d bus errors), hit rate %.3f, "
        "%d cycles; answers that a stale entry / another ASID's tables would change: %s",
        tb.checked,
        remaps,
        sorted(asids),
        tb.mem.reads,
        tb.mem.errors,
        hits / max(1, tb.checked),
        tb.cycle,
        sensitive,
    )
    summary = os.environ.get("MMU_SUMMARY")
    if summary:
        Path(summary).write_text(
            json.dumps(
                {
                    "accesses": tb.checked,
                    "mismatches": len(tb.mismatches),
                    "remaps": remaps,
                    "asids": sorted(asids),
                    "pte_reads": tb.mem.reads,
                    "bus_errors": tb.mem.errors,
                    "hit_rate": round(hits / max(1, tb.checked), 4),
                    "cycles": tb.cycle,
                    **{f"sensitive_{k}": v for k, v in sensitive.items()},
                }
            )
        )
    assert not tb.mismatches, "\n".join(tb.mismatches[:20])
    assert tb.checked == accesses
    assert remaps > 0 and len(asids) > 2
    if accesses >= 20_000:
        assert tb.mem.errors > 0, "no access fault was exercised"
        assert sensitive["stale"] > 100 and sensitive["other_asid"] > 1000, sensitive


# -- pytest --


def test_mmu_cocotb(tmp_path: Path) -> None:
    """100,000 accesses per CI run on the default 16-entry TLB.

    ``MMACCEL_SOAK=1``: 10 million accesses, on 16 and on 4 entries. Tracing is off (a long
    run's waveform is large); rerun a failure with ``WAVES=1`` (runs are deterministic).
    """
    from mmaccel.hdl.cocotb_runner import run_cocotb
    from mmaccel.hdl.mmu import Mmu

    soak = os.environ.get("MMACCEL_SOAK") == "1"
    for entries in (16, 4) if soak else (16,):
        accesses = SOAK_ACCESSES if soak else 100_000
        summary = tmp_path / f"summary-{entries}.json"
        run_cocotb(
            Mmu(entries),
            toplevel="mmaccel_mmu",
            test_module="test_mmu_cocotb",
            test_dir=HERE,
            testcase="random_remaps_against_model",
            extra_env={
                "MMU_ACCESSES": str(accesses),
                "MMU_SEED": str(entries),
                "MMU_SUMMARY": str(summary),
            },
            seed=entries,
            waves=None if os.environ.get("WAVES") else False,
        )
        figures = json.loads(summary.read_text())
        print(f"mmu cocotb, {entries} entries: {json.dumps(figures)}")
        assert figures["accesses"] == accesses and figures["mismatches"] == 0
