"""The user and kernel heaps (umm / kmm) in one memory."""

from __future__ import annotations

import pytest

from mmaccel.sw import (
    DoubleFree,
    HeapsConfig,
    InvalidArgument,
    InvalidPointer,
    PhysicalMemory,
    UserKernelHeaps,
)
from mmaccel.sw import heaps as h
from mmaccel.sw.errors import RegionConflict

CFG = HeapsConfig(user_start=0x1000, user_size=0x8000, kernel_start=0x10000, kernel_size=0x4000)


def state(heaps: UserKernelHeaps) -> tuple[bytes, object, object]:
    mem = heaps.memory
    return mem.read(0, mem.size), heaps.user.mallinfo(), heaps.kernel.mallinfo()


def test_config_refuses_overlap_naming_both() -> None:
    with pytest.raises(RegionConflict) as info:
        HeapsConfig(user_start=0x1000, user_size=0x2000, kernel_start=0x2800, kernel_size=0x1000)
    assert "user heap [0x1000, 0x3000)" in str(info.value)
    assert "kernel heap [0x2800, 0x3800)" in str(info.value)
    with pytest.raises(RegionConflict):  # kernel wholly inside user
        HeapsConfig(0x1000, 0x8000, 0x2000, 0x100)
    with pytest.raises(InvalidArgument, match="kernel heap"):
        HeapsConfig(0x1000, 0x1000, 0x3000, 0)
    with pytest.raises(TypeError, match="user_size"):
        HeapsConfig(0x1000, "big", 0x3000, 0x100)  # type: ignore[arg-type]
    HeapsConfig(0x1000, 0x1000, 0x2000, 0x1000)  # touching is fine
    assert CFG.end == 0x14000


@pytest.mark.parametrize(("pointer_size", "small"), [(4, False), (8, False), (4, True)])
def test_each_heap_stays_in_its_region(pointer_size: int, small: bool) -> None:
    cfg = HeapsConfig(0x1000, 0x4000, 0x8000, 0x2000, pointer_size=pointer_size, small=small)
    heaps = UserKernelHeaps(cfg)
    assert heaps.memory.size == 0xA000
    (ub, ue), (kb, ke) = heaps.user.regions[0], heaps.kernel.regions[0]
    assert 0x1000 <= heaps.user.nodelist < ub < ue <= 0x5000  # control block first, as
    assert 0x8000 <= heaps.kernel.nodelist < kb < ke <= 0xA000  # mm_initialize lays it out
    users, kernels = [], []
    with heaps:
        while (p := h.malloc(100)) is not None:
            users.append(p)
        while (q := h.kmm_malloc(100)) is not None:
            kernels.append(q)
        assert all(ub < p < ue for p in users) and all(kb < q < ke for q in kernels)
        assert h.mallinfo().ordblks <= 1 and h.kmm_mallinfo().ordblks <= 1
        heaps.check()
        for p in users:
            h.free(p)
        for q in kernels:
            h.kmm_free(q)
        assert h.mallinfo().ordblks == 1 and h.kmm_mallinfo().ordblks == 1
    heaps.check()


def test_bound_functions_act_on_the_current_heaps() -> None:
    a = UserKernelHeaps(CFG)
    b = UserKernelHeaps(CFG, PhysicalMemory(0x20000))
    h.set_current_heaps(a)
    try:
        p = h.zalloc(40)
        c = h.calloc(4, 8)
        m = h.memalign(256, 10)
        k = h.kmm_zalloc(16)
        assert None not in (p, c, m, k)
        assert m is not None and m % 256 == 0
        assert h.malloc_size(p) >= 40 and h.kmm_malloc_size(k) >= 16
        p2 = h.realloc(p, 400)
        k2 = h.kmm_realloc(k, 64)
        km = h.kmm_memalign(64, 8)
        kc = h.kmm_calloc(2, 2)
        with b:  # a `with` block switches the current heaps and restores them after
            assert h.malloc(8) is not None
            assert b.user.mallinfo().aordblks == 2
        assert a.user.mallinfo().aordblks == 4  # guard + c, m, p2
        for x in (c, m, p2):
            h.free(x)
        for x in (k2, km, kc):
            h.kmm_free(x)
        a.check()
        assert a.user.mallinfo().aordblks == 1 and a.kernel.mallinfo().aordblks == 1
    finally:
        h.set_current_heaps(None)
    with pytest.raises(RuntimeError, match="no current heaps"):
        h.malloc(1)


def test_cross_heap_free_is_refused_and_changes_nothing() -> None:
    heaps = UserKernelHeaps(CFG)
    with heaps:
        p = h.malloc(64)
        k = h.kmm_malloc(64)
        before = state(heaps)
        with pytest.raises(InvalidPointer, match=f"free\\({p:#x}\\).*kernel heap"):
            h.kmm_free(p)
        with pytest.raises(InvalidPointer, match="user heap"):
            h.free(k)
        assert state(heaps) == before
        h.free(p)
        before = state(heaps)
        with pytest.raises(DoubleFree):
            h.free(p)
        assert state(heaps) == before


def test_heaps_must_fit_memory() -> None:
    with pytest.raises(InvalidArgument, match="beyond physical memory"):
        UserKernelHeaps(CFG, PhysicalMemory(0x8000))
    with pytest.raises(InvalidArgument, match="too small"):
        UserKernelHeaps(HeapsConfig(0x1000, 0x100, 0x2000, 0x1000))


def test_methods_and_bound_functions_are_the_same_calls() -> None:
    a, b = UserKernelHeaps(CFG), UserKernelHeaps(CFG)
    assert a.umm is a.user and a.kmm is a.kernel  # NuttX's names for the two heaps
    got_a = [a.malloc(24), a.memalign(64, 8), a.kmm_calloc(3, 5), a.kmm_zalloc(9)]
    with b:
        got_b = [h.malloc(24), h.memalign(64, 8), h.kmm_calloc(3, 5), h.kmm_zalloc(9)]
    assert got_a == got_b and None not in got_a
    assert state(a) == state(b)
    assert a.kmm_malloc_size(got_a[2]) == b.kernel.malloc_size(got_b[2]) >= 15
    a.free(got_a[0])
    a.kmm_free(got_a[3])
    assert a.mallinfo() != b.mallinfo() and a.kmm_mallinfo() != b.kmm_mallinfo()
    with pytest.raises(InvalidPointer, match="kernel heap"):
        a.kmm_free(got_a[1])  # a user-heap block
    a.check()


def test_too_small_region_names_its_heap() -> None:
    with pytest.raises(InvalidArgument, match=r"kernel heap \[0x2000, \+0x40\) is too small"):
        UserKernelHeaps(HeapsConfig(0x1000, 0x1000, 0x2000, 0x40))
