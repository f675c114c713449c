"""The Sv32 walk (mmaccel.sw.sv32.translate_sv32), rule by rule, on hand-written page tables.

The tables are written PTE by PTE with make_pte (not with AddressSpace), so these tests pin the
walk itself: the contract the hardware MMU is verified against.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmaccel.sw import (
    AccessFault,
    InvalidArgument,
    PageFault,
    PhysicalMemory,
    make_pte,
    satp_value,
    translate_sv32,
)
from mmaccel.sw.sv32 import Access, FaultCause, Priv, PteFlags, satp_fields

V, R, W, X, U, G, A, D = (
    PteFlags.V,
    PteFlags.R,
    PteFlags.W,
    PteFlags.X,
    PteFlags.U,
    PteFlags.G,
    PteFlags.A,
    PteFlags.D,
)
ROOT = 0x1000
L0 = 0x2000
MEM = 0x10000


def setup(leaf_flags: int, *, mega: bool = False, ppn: int = 0x12345) -> tuple[PhysicalMemory, int]:
    """Memory with VA 0x0040_3000 (4 KiB leaf) or 0x0040_0000.. (megapage) mapped."""
    mem = PhysicalMemory(MEM)
    if mega:
        mem.write_u32(ROOT + 4 * 1, make_pte(ppn, leaf_flags))
    else:
        mem.write_u32(ROOT + 4 * 1, make_pte(L0 >> 12, V))
        mem.write_u32(L0 + 4 * 3, make_pte(ppn, leaf_flags))
    return mem, satp_value(5, ROOT >> 12)


VA = 0x0040_3ABC
PAGE_FAULT = {
    Access.LOAD: FaultCause.LOAD_PAGE_FAULT,
    Access.STORE: FaultCause.STORE_PAGE_FAULT,
    Access.FETCH: FaultCause.INSTRUCTION_PAGE_FAULT,
}
ACCESS_FAULT = {
    Access.LOAD: FaultCause.LOAD_ACCESS_FAULT,
    Access.STORE: FaultCause.STORE_ACCESS_FAULT,
    Access.FETCH: FaultCause.INSTRUCTION_ACCESS_FAULT,
}


def fault(mem: PhysicalMemory, satp: int, va: int, access: Access, priv: Priv, **kw: bool) -> str:
    with pytest.raises(PageFault) as info:
        translate_sv32(mem, satp, va, access, priv, **kw)
    assert info.value.cause == PAGE_FAULT[access]
    assert info.value.va == va
    return info.value.reason


def test_enum_values_are_the_contract() -> None:
    assert [int(f) for f in (V, R, W, X, U, G, A, D)] == [1, 2, 4, 8, 16, 32, 64, 128]
    assert (Access.LOAD, Access.STORE, Access.FETCH) == (0, 1, 2)
    assert (Priv.U, Priv.S) == (0, 1)
    assert [int(c) for c in FaultCause] == [1, 5, 7, 12, 13, 15]


def test_make_pte_and_satp_encoding() -> None:
    assert make_pte(0x3FFFFF, 0xFF) == 0xFFFF_FCFF
    assert make_pte(0x12345, V | R) == (0x12345 << 10) | 3
    assert make_pte(1, V, rsw=3) == (1 << 10) | (3 << 8) | 1
    assert satp_value(0x1FF, 0x3FFFFF) == 0xFFFF_FFFF
    assert satp_value(5, 0x123) == (1 << 31) | (5 << 22) | 0x123
    assert satp_fields(satp_value(7, 0x42)) == (1, 7, 0x42)
    for bad in ((1 << 22, 0), (0, 256)):
        with pytest.raises(InvalidArgument, match=hex(bad[0] or bad[1])):
            make_pte(*bad)
    with pytest.raises(InvalidArgument, match=r"asid .* 0x200"):
        satp_value(512, 0)
    with pytest.raises(InvalidArgument):
        satp_value(0, 1 << 22)


def test_4k_leaf_translates_and_keeps_offset() -> None:
    mem, satp = setup(V | R | W | X | A | D | U)
    for access in Access:
        assert translate_sv32(mem, satp, VA, access, Priv.U) == (0x12345 << 12) | 0xABC


def test_megapage_translation_takes_vpn0_from_va() -> None:
    mem, satp = setup(V | R | A, mega=True, ppn=0x3FF << 10)  # PPN[1] = 0x3FF, PPN[0] = 0
    pa = translate_sv32(mem, satp, VA, Access.LOAD, Priv.S)
    assert pa == (0x3FF << 22) | (VA & 0x3FFFFF)


def test_pa_is_34_bits_and_need_not_be_in_memory() -> None:
    mem, satp = setup(V | R | A, mega=True, ppn=0xFFF << 10)
    pa = translate_sv32(mem, satp, 0x0040_0000 | 0x3FFFFF, Access.LOAD, Priv.S)
    assert pa == (1 << 34) - 1 and pa > mem.size


def test_bare_mode_is_identity() -> None:
    mem = PhysicalMemory(MEM)
    assert translate_sv32(mem, 0, 0xDEAD_BEEF, Access.STORE, Priv.U) == 0xDEAD_BEEF


@pytest.mark.parametrize("access", list(Access))
def test_invalid_pte_is_a_page_fault_at_either_level(access: Access) -> None:
    mem, satp = setup(R | W | X | A | D)  # V clear in the leaf
    assert "invalid" in fault(mem, satp, VA, access, Priv.S)
    assert "level 1" in fault(mem, satp, 0x0080_0000, access, Priv.S)  # empty root slot


@pytest.mark.parametrize("access", list(Access))
def test_w_without_r_is_a_page_fault(access: Access) -> None:
    mem, satp = setup(V | W | X | A | D)
    assert "W without R" in fault(mem, satp, VA, access, Priv.S)
    mem2, satp2 = setup(V | W, mega=True)  # also in a non-leaf-looking level-1 entry
    assert "W without R" in fault(mem2, satp2, VA, access, Priv.S)


def test_non_leaf_at_level_0_is_a_page_fault() -> None:
    mem, satp = setup(V)  # level-0 entry with R = W = X = 0 points nowhere valid
    assert "level 0" in fault(mem, satp, VA, Access.LOAD, Priv.S)


@pytest.mark.parametrize("access", list(Access))
def test_pte_read_outside_memory_is_an_access_fault(access: Access) -> None:
    mem = PhysicalMemory(MEM)
    satp = satp_value(0, MEM >> 12)  # root table just past the end of memory
    with pytest.raises(AccessFault) as info:
        translate_sv32(mem, satp, VA, access, Priv.S)
    assert info.value.cause == ACCESS_FAULT[access]
    assert info.value.pte_addr == MEM + 4
    # a level-1 pointer to a table outside memory faults on the second read
    mem.write_u32(ROOT + 4, make_pte(0x300000, V))
    with pytest.raises(AccessFault) as info:
        translate_sv32(mem, satp_value(0, ROOT >> 12), VA, access, Priv.S)
    assert info.value.pte_addr == (0x300000 << 12) + 4 * 3


def test_misaligned_megapage_is_a_page_fault() -> None:
    mem, satp = setup(V | R | W | X | A | D, mega=True, ppn=(1 << 10) | 1)
    for access in Access:
        assert "misaligned" in fault(mem, satp, VA, access, Priv.S)


def test_permission_check_comes_before_misaligned_megapage() -> None:
    mem, satp = setup(V | R | A, mega=True, ppn=1)  # misaligned AND no W
    assert "without W" in fault(mem, satp, VA, Access.STORE, Priv.S)


def test_s_page_from_u_mode_faults() -> None:
    mem, satp = setup(V | R | W | X | A | D)
    for access in Access:
        assert "U mode" in fault(mem, satp, VA, access, Priv.U)
        translate_sv32(mem, satp, VA, access, Priv.S)


def test_u_page_from_s_mode_needs_sum_and_never_fetches() -> None:
    mem, satp = setup(V | R | W | X | U | A | D)
    for access in (Access.LOAD, Access.STORE):
        assert "without SUM" in fault(mem, satp, VA, access, Priv.S)
        assert translate_sv32(mem, satp, VA, access, Priv.S, sum=True) == 0x12345ABC
    assert "fetch from a user page" in fault(mem, satp, VA, Access.FETCH, Priv.S)
    assert "fetch from a user page" in fault(mem, satp, VA, Access.FETCH, Priv.S, sum=True)


def test_mxr_makes_execute_only_pages_readable() -> None:
    mem, satp = setup(V | X | U | A)
    assert "MXR clear" in fault(mem, satp, VA, Access.LOAD, Priv.U)
    assert translate_sv32(mem, satp, VA, Access.LOAD, Priv.U, mxr=True) == 0x12345ABC
    assert translate_sv32(mem, satp, VA, Access.FETCH, Priv.U) == 0x12345ABC
    fault(mem, satp, VA, Access.STORE, Priv.U, mxr=True)  # MXR never allows stores


def test_r_w_x_each_checked() -> None:
    mem, satp = setup(V | R | A | D)
    assert "without W" in fault(mem, satp, VA, Access.STORE, Priv.S)
    assert "without X" in fault(mem, satp, VA, Access.FETCH, Priv.S)
    mem, satp = setup(V | X | A | D)
    assert "without R" in fault(mem, satp, VA, Access.LOAD, Priv.S)


def test_a_clear_faults_every_access_and_d_clear_faults_stores() -> None:
    mem, satp = setup(V | R | W | X | D)
    for access in Access:
        assert "A clear" in fault(mem, satp, VA, access, Priv.S)
    mem, satp = setup(V | R | W | X | A)
    assert "D clear" in fault(mem, satp, VA, Access.STORE, Priv.S)
    translate_sv32(mem, satp, VA, Access.LOAD, Priv.S)
    translate_sv32(mem, satp, VA, Access.FETCH, Priv.S)


def test_rsw_bits_and_g_are_ignored() -> None:
    mem = PhysicalMemory(MEM)
    mem.write_u32(ROOT + 4, make_pte(L0 >> 12, V | G, rsw=3))
    mem.write_u32(L0 + 12, make_pte(0x12345, V | R | A | G, rsw=2))
    assert translate_sv32(mem, satp_value(9, ROOT >> 12), VA, Access.LOAD, Priv.S) == 0x12345ABC


def test_bad_arguments_raise_and_read_nothing() -> None:
    mem, satp = setup(V | R | A)
    before = mem.read(0, MEM)
    with pytest.raises(InvalidArgument, match="0x100000000"):
        translate_sv32(mem, satp, 1 << 32, Access.LOAD, Priv.S)
    with pytest.raises(InvalidArgument, match="access"):
        translate_sv32(mem, satp, VA, 3, Priv.S)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="priv"):
        translate_sv32(mem, satp, VA, Access.LOAD, 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        translate_sv32(mem, satp, "0", Access.LOAD, Priv.S)  # type: ignore[arg-type]
    assert mem.read(0, MEM) == before


def _reference(flags: int, access: Access, priv: Priv, sum_: bool, mxr: bool) -> bool:
    """An independent statement of the rules for one 4 KiB leaf: True = allowed."""
    v, r, w, x, u, a, d = (bool(flags & f) for f in (V, R, W, X, U, A, D))
    if not v or (w and not r) or not (r or x):
        return False
    if priv == Priv.U and not u:
        return False
    if priv == Priv.S and u and (access == Access.FETCH or not sum_):
        return False
    need = {Access.LOAD: r or (mxr and x), Access.STORE: w, Access.FETCH: x}[access]
    return need and a and (d or access != Access.STORE)


@settings(max_examples=300, deadline=None)
@given(
    flags=st.integers(0, 255),
    access=st.sampled_from(list(Access)),
    priv=st.sampled_from(list(Priv)),
    sum_=st.booleans(),
    mxr=st.booleans(),
    offset=st.integers(0, 0xFFF),
)
def test_walk_agrees_with_an_independent_rule_table(
    flags: int, access: Access, priv: Priv, sum_: bool, mxr: bool, offset: int
) -> None:
    mem, satp = setup(flags)
    va = (VA & ~0xFFF) | offset
    allowed = _reference(flags, access, priv, sum_, mxr)
    try:
        pa = translate_sv32(mem, satp, va, access, priv, sum=sum_, mxr=mxr)
    except PageFault as e:
        assert not allowed and e.cause == PAGE_FAULT[access]
    else:
        assert allowed and pa == (0x12345 << 12) | offset


def test_fault_messages_name_the_fault_once() -> None:
    from mmaccel.sw.errors import AccessFault, PageFault

    text = str(PageFault(FaultCause.LOAD_PAGE_FAULT, 0x1000, "V=0"))
    assert text == "load page fault at va 0x00001000: V=0"
    assert str(PageFault("store", 0x2000)) == "store page fault at va 0x00002000"
    text = str(AccessFault(FaultCause.STORE_ACCESS_FAULT, 0x3000, 0x4_0000_0000))
    assert text.startswith("store access fault at va 0x00003000") and text.count("fault") == 1
