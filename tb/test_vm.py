"""Address spaces, the kernel's global mappings, ioremap, vmalloc, mmap/munmap/mprotect, fork."""

from __future__ import annotations

import errno
import itertools
from collections.abc import Iterator

import pytest

from mmaccel.sw import (
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_PRIVATE,
    MAP_SHARED,
    PROT_EXEC,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
    Access,
    AddressSpace,
    InvalidAlignment,
    InvalidArgument,
    InvalidPointer,
    Kernel,
    MappingExists,
    MmapError,
    NotMapped,
    OutOfMemory,
    PageAllocator,
    PageFault,
    PhysicalMemory,
    Priv,
    Process,
    PteFlags,
)
from mmaccel.sw.sv32 import MEGAPAGE_SIZE, PAGE_SIZE, satp_fields
from mmaccel.sw.vm import IOREMAP_BASE, KERNEL_BASE, MMAP_BASE, VMALLOC_BASE

RW = PteFlags.R | PteFlags.W | PteFlags.A | PteFlags.D
URW = RW | PteFlags.U
ANON = MAP_PRIVATE | MAP_ANONYMOUS
MEMSIZE = 1 << 20


@pytest.fixture
def mem() -> PhysicalMemory:
    m = PhysicalMemory(MEMSIZE)
    m.fill(0, MEMSIZE, 0xA5)  # dirty: every "zero-filled" claim is then tested
    return m


@pytest.fixture
def pages() -> PageAllocator:
    return PageAllocator(0, MEMSIZE)


def nfree(pages: PageAllocator) -> int:
    return pages.info().nfree


def snapshot(mem: PhysicalMemory, pages: PageAllocator, *objs: object) -> tuple[object, ...]:
    """Everything an operation could change: memory, the free map, the objects' bookkeeping."""
    out: list[object] = [mem.read(0, mem.size), pages.gran.free_map]
    for o in objs:
        if isinstance(o, AddressSpace):
            out.append(o.mappings())
        elif isinstance(o, Process):
            out += [o.regions(), o.address_space.mappings(), dict(o.shm_attachments)]
        elif isinstance(o, Kernel):
            out += [o.space.mappings(), dict(o._io), dict(o._vm)]
    return tuple(out)


def store(space: AddressSpace, va: int, data: bytes, priv: Priv = Priv.U) -> None:
    for i, b in enumerate(data):
        space.memory.write_u8(space.translate(va + i, Access.STORE, priv), b)


def load(space: AddressSpace, va: int, n: int, priv: Priv = Priv.U) -> bytes:
    return bytes(space.memory.read_u8(space.translate(va + i, Access.LOAD, priv)) for i in range(n))


def hog(pages: PageAllocator, leave: int) -> Iterator[int]:
    """Allocate pages one by one until only ``leave`` are free; yield them."""
    while nfree(pages) > leave:
        p = pages.alloc(1)
        assert p is not None
        yield p


# -- AddressSpace -------------------------------------------------------------------------------


def test_root_table_comes_from_the_page_allocator_and_is_zeroed(
    mem: PhysicalMemory, pages: PageAllocator
) -> None:
    space = AddressSpace(mem, pages, asid=7)
    assert nfree(pages) == pages.npages - 1
    assert not pages.gran.is_free(space.root >> 12)
    assert mem.read(space.root, PAGE_SIZE) == bytes(PAGE_SIZE)
    assert satp_fields(space.satp) == (1, 7, space.root >> 12)
    assert space.asid == 7
    space.check()


def test_bad_asid_and_exhausted_allocator(mem: PhysicalMemory, pages: PageAllocator) -> None:
    with pytest.raises(InvalidArgument, match="512"):
        AddressSpace(mem, pages, 512)
    held = list(hog(pages, 0))
    before = snapshot(mem, pages)
    with pytest.raises(OutOfMemory):
        AddressSpace(mem, pages, 1)
    assert snapshot(mem, pages) == before
    assert held


def test_map_4k_pages_translate_and_unmap_frees_tables(
    mem: PhysicalMemory, pages: PageAllocator
) -> None:
    space = AddressSpace(mem, pages, 1)
    free0 = nfree(pages)
    va, pa = 0x0040_0000 - 2 * PAGE_SIZE, 0x2_0000_0000  # crosses an L1 slot; pa above memory
    space.map(va, pa, 4 * PAGE_SIZE, URW)
    assert nfree(pages) == free0 - 2  # two level-0 tables
    for i in range(4):
        for access in (Access.LOAD, Access.STORE):
            assert space.translate(va + i * PAGE_SIZE + 5, access, Priv.U) == pa + i * PAGE_SIZE + 5
    assert {m.size for m in space.mappings()} == {PAGE_SIZE}
    with pytest.raises(PageFault):
        space.translate(va, Access.FETCH, Priv.U)  # no X
    space.check()
    space.unmap(va, 2 * PAGE_SIZE)
    assert nfree(pages) == free0 - 1  # the first table emptied and went back
    with pytest.raises(PageFault):
        space.translate(va, Access.LOAD, Priv.U)
    space.unmap(va + 2 * PAGE_SIZE, 2 * PAGE_SIZE)
    assert nfree(pages) == free0
    space.check()


def test_megapages_are_used_where_va_pa_and_size_allow(
    mem: PhysicalMemory, pages: PageAllocator
) -> None:
    space = AddressSpace(mem, pages, 1)
    va, pa = 0x0080_0000, 0x4000_0000
    size = 2 * MEGAPAGE_SIZE + 2 * PAGE_SIZE
    free0 = nfree(pages)
    space.map(va, pa, size, RW)
    sizes = [m.size for m in space.mappings()]
    assert sizes == [MEGAPAGE_SIZE, MEGAPAGE_SIZE, PAGE_SIZE, PAGE_SIZE]
    assert nfree(pages) == free0 - 1  # only the tail needs a level-0 table
    leaf = mem.read_u32(space.root + 4 * (va >> 22))
    assert leaf & (PteFlags.R | PteFlags.V) == PteFlags.R | PteFlags.V
    for off in (0, 0x123456, MEGAPAGE_SIZE + 7, size - 1):
        assert space.translate(va + off, Access.STORE, Priv.S) == pa + off
    space.check()


def test_megapage_false_forces_4k_and_true_demands_alignment(
    mem: PhysicalMemory, pages: PageAllocator
) -> None:
    space = AddressSpace(mem, pages, 1)
    space.map(0x0080_0000, 0x4000_0000, MEGAPAGE_SIZE, RW, megapage=False)
    assert len(space.mappings()) == 1024
    before = snapshot(mem, pages, space)
    with pytest.raises(InvalidAlignment, match="megapage"):
        space.map(0x0100_0000, 0x4000_1000, MEGAPAGE_SIZE, RW, megapage=True)
    assert snapshot(mem, pages, space) == before
    space.map(0x0100_0000, 0x4000_0000, MEGAPAGE_SIZE, RW, megapage=True)
    assert space.lookup(0x0100_0000 + 5) is not None
    assert space.lookup(0x0100_0000).size == MEGAPAGE_SIZE  # type: ignore[union-attr]
    space.check()


@pytest.mark.parametrize(
    ("va", "pa", "size", "exc"),
    [
        (0x1001, 0, PAGE_SIZE, InvalidAlignment),
        (0x1000, 0x10, PAGE_SIZE, InvalidAlignment),
        (0x1000, 0, 100, InvalidAlignment),
        (0x1000, 0, 0, InvalidArgument),
        (0xFFFF_F000, 0, 2 * PAGE_SIZE, InvalidArgument),
        (0x1000, (1 << 34) - PAGE_SIZE, 2 * PAGE_SIZE, InvalidAlignment),
    ],
)
def test_bad_map_arguments_change_nothing(
    mem: PhysicalMemory, pages: PageAllocator, va: int, pa: int, size: int, exc: type[Exception]
) -> None:
    space = AddressSpace(mem, pages, 1)
    space.map(0x5000, 0x9000, PAGE_SIZE, RW)
    before = snapshot(mem, pages, space)
    with pytest.raises(exc, match=hex(va) if exc is InvalidAlignment and va & 0xFFF else None):
        space.map(va, pa, size, RW)
    assert snapshot(mem, pages, space) == before


@pytest.mark.parametrize(
    "perms", [PteFlags.W | PteFlags.A, PteFlags.A | PteFlags.D | PteFlags.U, 0x100]
)
def test_bad_perms_change_nothing(mem: PhysicalMemory, pages: PageAllocator, perms: int) -> None:
    space = AddressSpace(mem, pages, 1)
    before = snapshot(mem, pages, space)
    with pytest.raises(InvalidArgument, match="perms"):
        space.map(0x1000, 0x1000, PAGE_SIZE, perms)
    assert snapshot(mem, pages, space) == before


def test_mapping_over_a_mapping_changes_nothing(mem: PhysicalMemory, pages: PageAllocator) -> None:
    space = AddressSpace(mem, pages, 1)
    space.map(0x0040_0000 + 5 * PAGE_SIZE, 0x8000, PAGE_SIZE, RW)
    space.map(0x0C00_0000, 0x4000_0000, MEGAPAGE_SIZE, RW)
    before = snapshot(mem, pages, space)
    # the new range would need a fresh table for its first slot, then hits page 5
    with pytest.raises(MappingExists, match="0x405000"):
        space.map(0x0040_0000 - 8 * PAGE_SIZE, 0, 16 * PAGE_SIZE, RW)
    with pytest.raises(MappingExists, match="megapage"):
        space.map(0x0C00_0000 + PAGE_SIZE, 0, PAGE_SIZE, RW)
    with pytest.raises(MappingExists, match="megapage"):
        space.map(0x0040_0000, 0x4000_0000, MEGAPAGE_SIZE, RW)
    with pytest.raises(MappingExists):
        space.map_pages(0x0C3F_F000, [0x1000, 0x2000], RW)
    assert snapshot(mem, pages, space) == before
    space.check()


def test_out_of_page_table_pages_changes_nothing(mem: PhysicalMemory, pages: PageAllocator) -> None:
    space = AddressSpace(mem, pages, 1)
    held = list(hog(pages, 1))
    before = snapshot(mem, pages, space)
    with pytest.raises(OutOfMemory, match="2 page-table pages needed, 1 free"):
        space.map(0x0040_0000 - PAGE_SIZE, 0, 2 * PAGE_SIZE, RW)
    assert snapshot(mem, pages, space) == before
    space.map(0x1000, 0, PAGE_SIZE, RW)  # one table fits
    assert nfree(pages) == 0 and held


def test_unmap_of_unmapped_pages_changes_nothing(mem: PhysicalMemory, pages: PageAllocator) -> None:
    space = AddressSpace(mem, pages, 1)
    space.map(0x1000, 0x1000, 2 * PAGE_SIZE, RW)
    before = snapshot(mem, pages, space)
    with pytest.raises(NotMapped, match="0x3000"):
        space.unmap(0x1000, 3 * PAGE_SIZE)
    with pytest.raises(InvalidAlignment):
        space.unmap(0x1800, PAGE_SIZE)
    assert snapshot(mem, pages, space) == before


def test_partial_unmap_of_a_megapage_splits_it(mem: PhysicalMemory, pages: PageAllocator) -> None:
    space = AddressSpace(mem, pages, 1)
    space.map(0x0040_0000, 0x4000_0000, MEGAPAGE_SIZE, RW)
    free0 = nfree(pages)
    space.unmap(0x0040_0000 + 10 * PAGE_SIZE, 2 * PAGE_SIZE)
    assert nfree(pages) == free0 - 1  # the split took a table
    assert len(space.mappings()) == 1022
    with pytest.raises(PageFault):
        space.translate(0x0040_0000 + 10 * PAGE_SIZE, Access.LOAD, Priv.S)
    assert space.translate(0x0040_0000 + 12 * PAGE_SIZE + 9, Access.LOAD, Priv.S) == (
        0x4000_0000 + 12 * PAGE_SIZE + 9
    )
    space.check()


def test_split_without_a_free_page_changes_nothing(
    mem: PhysicalMemory, pages: PageAllocator
) -> None:
    space = AddressSpace(mem, pages, 1)
    space.map(0x0040_0000, 0x4000_0000, MEGAPAGE_SIZE, RW)
    list(hog(pages, 0))
    before = snapshot(mem, pages, space)
    with pytest.raises(OutOfMemory):
        space.unmap(0x0040_0000, PAGE_SIZE)
    assert snapshot(mem, pages, space) == before
    space.unmap(0x0040_0000, MEGAPAGE_SIZE)  # a whole megapage needs no table


def test_protect_changes_flags_in_place(mem: PhysicalMemory, pages: PageAllocator) -> None:
    space = AddressSpace(mem, pages, 1)
    space.map(0x1000, 0x7000, 2 * PAGE_SIZE, URW)
    space.protect(0x2000, PAGE_SIZE, PteFlags.R | PteFlags.U | PteFlags.A)
    assert space.translate(0x1000, Access.STORE, Priv.U) == 0x7000
    with pytest.raises(PageFault) as info:
        space.translate(0x2000, Access.STORE, Priv.U)
    assert "without W" in info.value.reason
    assert space.translate(0x2000, Access.LOAD, Priv.U) == 0x8000
    before = snapshot(mem, pages, space)
    with pytest.raises(NotMapped):
        space.protect(0x2000, 2 * PAGE_SIZE, URW)
    assert snapshot(mem, pages, space) == before
    space.check()


# -- kernel and processes -----------------------------------------------------------------------


def test_global_kernel_mappings_appear_in_every_process(
    mem: PhysicalMemory, pages: PageAllocator
) -> None:
    k = Kernel(mem, pages)
    p1 = k.spawn(1, 1)
    kva = KERNEL_BASE + 0x0040_0000
    k.space.map(kva, 0x5000, PAGE_SIZE, RW)  # mapped after p1 exists
    p2 = k.spawn(2, 2)  # and p2 sees it from the start
    for space in (k.space, p1.address_space, p2.address_space):
        assert space.translate(kva + 3, Access.STORE, Priv.S) == 0x5003
        with pytest.raises(PageFault):
            space.translate(kva, Access.LOAD, Priv.U)  # a kernel page
    leaf = k.space.lookup(kva)
    assert leaf is not None and leaf.flags & PteFlags.G
    l1 = mem.read_u32(k.space.root + 4 * (kva >> 22))
    assert l1 & PteFlags.G and mem.read_u32(p1.address_space.root + 4 * (kva >> 22)) == l1
    assert p1.address_space.mappings() == []  # owned by the kernel, not by p1
    k.space.unmap(kva, PAGE_SIZE)  # the emptied table goes, and from every process
    for space in (p1.address_space, p2.address_space):
        with pytest.raises(PageFault):
            space.translate(kva, Access.LOAD, Priv.S)
        space.check()
    before = snapshot(mem, pages, p1)
    with pytest.raises(InvalidArgument, match="kernel range"):
        p1.address_space.map(KERNEL_BASE - PAGE_SIZE, 0, 2 * PAGE_SIZE, RW)
    assert snapshot(mem, pages, p1) == before
    with pytest.raises(InvalidArgument, match="still share"):
        k.space.destroy()
    free0 = nfree(pages)
    p1.exit()
    assert nfree(pages) == free0 + 1


def test_ioremap_without_mmu_is_identity(mem: PhysicalMemory, pages: PageAllocator) -> None:
    k = Kernel(mem, pages, mmu=False)
    before = snapshot(mem, pages, k)
    assert k.ioremap(0x1000_1234, 16) == 0x1000_1234
    k.iounmap(0x1000_1234)
    assert snapshot(mem, pages, k) == before


def test_ioremap_maps_device_pages_in_kernel_space(
    mem: PhysicalMemory, pages: PageAllocator
) -> None:
    k = Kernel(mem, pages)
    p = k.spawn(1, 1)
    va = k.ioremap(0x3_1000_0FF0, 0x20)  # straddles two pages, above memory
    assert va >> 12 << 12 >= IOREMAP_BASE and va & 0xFFF == 0xFF0
    for off in (0, 0x1F):
        assert p.address_space.translate(va + off, Access.STORE, Priv.S) == 0x3_1000_0FF0 + off
    with pytest.raises(PageFault):
        p.address_space.translate(va, Access.FETCH, Priv.S)
    big = k.ioremap(0x4000_0000, 2 * MEGAPAGE_SIZE)
    assert big % MEGAPAGE_SIZE == 0
    assert k.space.lookup(big).size == MEGAPAGE_SIZE  # type: ignore[union-attr]
    before = snapshot(mem, pages, k)
    with pytest.raises(InvalidPointer, match=hex(big + PAGE_SIZE)):
        k.iounmap(big + PAGE_SIZE)
    with pytest.raises(InvalidArgument):
        k.ioremap((1 << 34) - 4, 8)
    with pytest.raises(InvalidArgument, match="attrs"):
        k.ioremap(0x1000, 4, PteFlags.R | PteFlags.U)
    assert snapshot(mem, pages, k) == before
    free = nfree(pages)
    k.iounmap(va)
    k.iounmap(big)
    assert nfree(pages) == free + 1  # the 4 KiB mapping's table
    assert k.space.mappings() == []
    with pytest.raises(InvalidPointer):
        k.iounmap(va)


def test_vmalloc_is_virtually_contiguous_physically_scattered_zeroed(
    mem: PhysicalMemory, pages: PageAllocator
) -> None:
    k = Kernel(mem, pages)
    p = k.spawn(1, 1)
    # fragment the page pool: every other page in use
    held = [p for p in (pages.alloc(1) for _ in range(40)) if p is not None]
    for h in held[::2]:
        pages.free(h, 1)
    free0 = nfree(pages)
    va = k.vmalloc(5 * PAGE_SIZE - 100)
    assert va is not None and va >= VMALLOC_BASE
    frames = k.vmalloc_frames(va)
    assert len(frames) == 5 and len(set(frames)) == 5
    assert any(b - a != PAGE_SIZE for a, b in itertools.pairwise(frames))
    assert nfree(pages) == free0 - 5 - 1  # five pages and one table
    for i, f in enumerate(frames):
        assert p.address_space.translate(va + i * PAGE_SIZE + 1, Access.STORE, Priv.S) == f + 1
    assert load(p.address_space, va, 5 * PAGE_SIZE, Priv.S) == bytes(5 * PAGE_SIZE)
    va2 = k.vmalloc(1)
    assert va2 == va + 6 * PAGE_SIZE  # one unmapped guard page between
    with pytest.raises(PageFault):
        k.space.translate(va + 5 * PAGE_SIZE, Access.LOAD, Priv.S)
    before = snapshot(mem, pages, k)
    assert k.vmalloc(MEMSIZE) is None
    with pytest.raises(InvalidArgument):
        k.vmalloc(0)
    with pytest.raises(InvalidPointer):
        k.vfree(va + PAGE_SIZE)
    assert snapshot(mem, pages, k) == before
    k.vfree(va)
    assert va2 is not None
    k.vfree(va2)
    assert nfree(pages) == free0
    with pytest.raises(InvalidPointer):
        k.vfree(va)


def test_vmalloc_without_mmu_is_contiguous_physical(
    mem: PhysicalMemory, pages: PageAllocator
) -> None:
    k = Kernel(mem, pages, mmu=False)
    free0 = nfree(pages)
    pa = k.vmalloc(3 * PAGE_SIZE)
    assert pa is not None and k.vmalloc_frames(pa) == [pa, pa + PAGE_SIZE, pa + 2 * PAGE_SIZE]
    assert mem.read(pa, 3 * PAGE_SIZE) == bytes(3 * PAGE_SIZE)
    k.vfree(pa)
    assert nfree(pages) == free0


# -- mmap ---------------------------------------------------------------------------------------


@pytest.fixture
def kp(mem: PhysicalMemory, pages: PageAllocator) -> tuple[Kernel, Process]:
    k = Kernel(mem, pages)
    return k, k.spawn(10, 3)


def test_mmap_private_anonymous_is_zero_filled_and_mapped(
    kp: tuple[Kernel, Process], pages: PageAllocator
) -> None:
    _, p = kp
    free0 = nfree(pages)
    va = p.mmap(0, 3 * PAGE_SIZE - 5, PROT_READ | PROT_WRITE, ANON)
    assert va == MMAP_BASE
    assert nfree(pages) == free0 - 3 - 1
    assert load(p.address_space, va, 3 * PAGE_SIZE) == bytes(3 * PAGE_SIZE)
    store(p.address_space, va + PAGE_SIZE, b"hello")
    assert load(p.address_space, va + PAGE_SIZE, 5) == b"hello"
    (region,) = p.regions()
    assert (region.start, region.size, region.prot) == (va, 3 * PAGE_SIZE, PROT_READ | PROT_WRITE)
    with pytest.raises(PageFault):
        p.address_space.translate(va, Access.FETCH, Priv.U)
    with pytest.raises(PageFault):
        p.address_space.translate(va, Access.LOAD, Priv.S)  # user page, SUM clear
    p.check()


@pytest.mark.parametrize(
    ("prot", "ok"),
    [
        (PROT_READ, {Access.LOAD}),
        (PROT_WRITE, {Access.LOAD, Access.STORE}),  # W implies R in Sv32
        (PROT_EXEC, {Access.FETCH}),
        (PROT_READ | PROT_EXEC, {Access.LOAD, Access.FETCH}),
        (PROT_NONE, set()),
    ],
)
def test_mmap_prot_becomes_pte_permissions(
    kp: tuple[Kernel, Process], prot: int, ok: set[Access]
) -> None:
    _, p = kp
    va = p.mmap(0, PAGE_SIZE, prot, ANON)
    for access in Access:
        if access in ok:
            p.address_space.translate(va, access, Priv.U)
        else:
            with pytest.raises(PageFault):
                p.address_space.translate(va, access, Priv.U)
    p.check()


def test_mmap_hint_is_honoured_when_free(kp: tuple[Kernel, Process]) -> None:
    _, p = kp
    assert p.mmap(0x0200_0123, PAGE_SIZE, PROT_READ, ANON) == 0x0200_0000
    assert p.mmap(0x0200_0000, PAGE_SIZE, PROT_READ, ANON) == MMAP_BASE  # taken: elsewhere
    assert p.mmap(KERNEL_BASE, PAGE_SIZE, PROT_READ, ANON) == MMAP_BASE + PAGE_SIZE


def test_map_fixed_replaces_mmap_regions_and_frees_their_pages(
    kp: tuple[Kernel, Process], pages: PageAllocator
) -> None:
    _, p = kp
    va = p.mmap(0, 4 * PAGE_SIZE, PROT_READ | PROT_WRITE, ANON)
    store(p.address_space, va + PAGE_SIZE, b"old")
    free0 = nfree(pages)
    got = p.mmap(va + PAGE_SIZE, 2 * PAGE_SIZE, PROT_READ, ANON | MAP_FIXED)
    assert got == va + PAGE_SIZE and nfree(pages) == free0
    assert load(p.address_space, va + PAGE_SIZE, 3) == bytes(3)
    assert [r.size for r in p.regions()] == [PAGE_SIZE, 2 * PAGE_SIZE, PAGE_SIZE]
    p.check()


@pytest.mark.parametrize(
    ("addr", "length", "prot", "flags", "code"),
    [
        (0, 0, PROT_READ, ANON, errno.EINVAL),
        (0, PAGE_SIZE, 8, ANON, errno.EINVAL),
        (0, PAGE_SIZE, PROT_READ, MAP_ANONYMOUS, errno.EINVAL),
        (0, PAGE_SIZE, PROT_READ, MAP_SHARED | MAP_PRIVATE | MAP_ANONYMOUS, errno.EINVAL),
        (0, PAGE_SIZE, PROT_READ, MAP_PRIVATE, errno.ENODEV),
        (0, PAGE_SIZE, PROT_READ, ANON | 0x1000_0000, errno.EINVAL),
        (0x1234, PAGE_SIZE, PROT_READ, ANON | MAP_FIXED, errno.EINVAL),
        (KERNEL_BASE, PAGE_SIZE, PROT_READ, ANON | MAP_FIXED, errno.EINVAL),
        (0, MEMSIZE, PROT_READ, ANON, errno.ENOMEM),
        (0x1000, PAGE_SIZE, PROT_READ, ANON | MAP_FIXED, errno.EEXIST),  # over a raw map()
    ],
)
def test_mmap_errors_change_nothing(
    kp: tuple[Kernel, Process],
    mem: PhysicalMemory,
    pages: PageAllocator,
    addr: int,
    length: int,
    prot: int,
    flags: int,
    code: int,
) -> None:
    k, p = kp
    p.mmap(0, 2 * PAGE_SIZE, PROT_READ, ANON)
    p.address_space.map(0x1000, 0x2000, PAGE_SIZE, URW)
    before = snapshot(mem, pages, k, p)
    with pytest.raises(MmapError) as info:
        p.mmap(addr, length, prot, flags)
    assert info.value.errno == code
    assert isinstance(info.value, OSError)
    assert snapshot(mem, pages, k, p) == before


def test_munmap_splits_regions_and_allows_holes(
    kp: tuple[Kernel, Process], pages: PageAllocator
) -> None:
    _, p = kp
    free0 = nfree(pages)
    va = p.mmap(0, 5 * PAGE_SIZE, PROT_READ, ANON)
    p.munmap(va + PAGE_SIZE, PAGE_SIZE)
    p.munmap(va + PAGE_SIZE, 2 * PAGE_SIZE)  # the first page of this range is a hole already
    assert [(r.start - va, r.size) for r in p.regions()] == [
        (0, PAGE_SIZE),
        (3 * PAGE_SIZE, 2 * PAGE_SIZE),
    ]
    with pytest.raises(PageFault):
        p.address_space.translate(va + 2 * PAGE_SIZE, Access.LOAD, Priv.U)
    p.check()
    p.munmap(va, 5 * PAGE_SIZE)
    assert nfree(pages) == free0  # pages and the table are back
    with pytest.raises(MmapError) as info:
        p.munmap(va + 1, PAGE_SIZE)
    assert info.value.errno == errno.EINVAL


def test_mprotect_changes_permissions_and_prot_none_unmaps(
    kp: tuple[Kernel, Process], mem: PhysicalMemory, pages: PageAllocator
) -> None:
    _, p = kp
    va = p.mmap(0, 3 * PAGE_SIZE, PROT_READ | PROT_WRITE, ANON)
    store(p.address_space, va + PAGE_SIZE, b"keep")
    p.mprotect(va + PAGE_SIZE, PAGE_SIZE, PROT_READ)
    with pytest.raises(PageFault):
        p.address_space.translate(va + PAGE_SIZE, Access.STORE, Priv.U)
    p.address_space.translate(va, Access.STORE, Priv.U)
    p.mprotect(va, 3 * PAGE_SIZE, PROT_NONE)
    for i in range(3):
        with pytest.raises(PageFault):
            p.address_space.translate(va + i * PAGE_SIZE, Access.LOAD, Priv.U)
    p.check()
    p.mprotect(va, 3 * PAGE_SIZE, PROT_READ | PROT_EXEC)
    assert load(p.address_space, va + PAGE_SIZE, 4) == b"keep"  # same page came back
    p.address_space.translate(va, Access.FETCH, Priv.U)
    p.check()
    before = snapshot(mem, pages, p)
    for args, code in (
        ((va, 4 * PAGE_SIZE, PROT_READ), errno.ENOMEM),
        ((va + 1, PAGE_SIZE, PROT_READ), errno.EINVAL),
        ((va, PAGE_SIZE, 16), errno.EINVAL),
    ):
        with pytest.raises(MmapError) as info:
            p.mprotect(*args)
        assert info.value.errno == code
    assert snapshot(mem, pages, p) == before


def test_fork_copies_private_and_shares_shared_mappings(
    kp: tuple[Kernel, Process], pages: PageAllocator
) -> None:
    k, parent = kp
    priv = parent.mmap(0, PAGE_SIZE, PROT_READ | PROT_WRITE, ANON)
    shared = parent.mmap(0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS)
    store(parent.address_space, priv, b"p0")
    store(parent.address_space, shared, b"s0")
    child = parent.fork(11, 4)
    assert load(child.address_space, priv, 2) == b"p0"
    store(parent.address_space, priv, b"p1")
    store(parent.address_space, shared, b"s1")
    assert load(child.address_space, priv, 2) == b"p0"  # private: a copy
    assert load(child.address_space, shared, 2) == b"s1"  # shared: the same page
    pa, ca = parent.address_space, child.address_space
    assert pa.translate(shared) == ca.translate(shared)
    assert pa.translate(priv) != ca.translate(priv)
    child.check()
    free0 = nfree(pages)
    parent.munmap(shared, PAGE_SIZE)
    assert nfree(pages) == free0  # the child still maps the shared page
    assert load(child.address_space, shared, 2) == b"s1"
    child.exit()
    parent.exit()
    assert nfree(pages) == pages.npages - 1  # only the kernel root is left
    assert k.space.mappings() == []


def test_fork_without_pages_changes_nothing(
    kp: tuple[Kernel, Process], mem: PhysicalMemory, pages: PageAllocator
) -> None:
    _, p = kp
    p.mmap(0, 4 * PAGE_SIZE, PROT_READ, ANON)
    list(hog(pages, 4))
    before = snapshot(mem, pages, p)
    with pytest.raises(OutOfMemory):
        p.fork(2, 2)
    assert snapshot(mem, pages, p) == before


def test_translate_reports_an_access_fault_for_a_table_outside_memory(
    mem: PhysicalMemory, pages: PageAllocator
) -> None:
    from mmaccel.sw import AccessFault, FaultCause, make_pte

    space = AddressSpace(mem, pages, 1)
    mem.write_u32(space.root + 4 * 3, make_pte(MEMSIZE >> 12, PteFlags.V))  # table past the end
    with pytest.raises(AccessFault) as info:
        space.translate(3 << 22, Access.STORE, Priv.S)
    assert info.value.cause == FaultCause.STORE_ACCESS_FAULT
    assert info.value.pte_addr == MEMSIZE


def test_kernel_megapage_split_reaches_every_process(
    mem: PhysicalMemory, pages: PageAllocator
) -> None:
    k = Kernel(mem, pages)
    p = k.spawn(1, 1)
    k.space.map(KERNEL_BASE, 0x4000_0000, MEGAPAGE_SIZE, RW)
    k.space.unmap(KERNEL_BASE + PAGE_SIZE, PAGE_SIZE)
    space = p.address_space
    with pytest.raises(PageFault):
        space.translate(KERNEL_BASE + PAGE_SIZE, Access.LOAD, Priv.S)
    assert space.translate(KERNEL_BASE + 2 * PAGE_SIZE, Access.LOAD, Priv.S) == (
        0x4000_0000 + 2 * PAGE_SIZE
    )
    pte = mem.read_u32(k.space._tables[KERNEL_BASE >> 22])
    assert pte & PteFlags.G
    space.check()
    k.space.check()
