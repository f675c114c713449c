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

import os
from pathlib import Path
from typing import Any

import cocotb
import pytest
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
    from mmaccel.hdl.mmu_sim import Workload
    from mmu_tb import MmuBench  # type: ignore[import-not-found]

    accesses = int(os.environ.get("MMU_ACCESSES", "20000"))
    seed = int(os.environ.get("MMU_SEED", "1"))
    wl = Workload(seed)
    tb = MmuBench(dut, wl.memory, seed=seed)
    await _reset(dut)
    done = 0
    remaps = 0
    asids: set[int] = set()
    while done < accesses:
        if wl.rng.random() < 0.1:
            asids.add(wl.switch())
        if wl.rng.random() < 0.03:
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
        "%d cycles",
        tb.checked,
        remaps,
        sorted(asids),
        tb.mem.reads,
        tb.mem.errors,
        hits / max(1, tb.checked),
        tb.cycle,
    )
    assert not tb.mismatches, "\n".join(tb.mismatches[:20])
    assert tb.checked == accesses
    assert remaps > 0 and len(asids) > 2


# -- pytest --


@pytest.mark.parametrize(("entries", "accesses"), [(16, 70_000), (4, 30_000)])
def test_mmu_cocotb(entries: int, accesses: int) -> None:
    """100,000 accesses per CI run over two TLB sizes (10 million with MMACCEL_SOAK=1)."""
    from mmaccel.hdl.cocotb_runner import run_cocotb
    from mmaccel.hdl.mmu import Mmu

    if os.environ.get("MMACCEL_SOAK") == "1":
        accesses = SOAK_ACCESSES * accesses // 100_000
    run_cocotb(
        Mmu(entries),
        toplevel="mmaccel_mmu",
        test_module="test_mmu_cocotb",
        test_dir=HERE,
        extra_env={"MMU_ACCESSES": str(accesses), "MMU_SEED": str(entries)},
        seed=entries,
    )
