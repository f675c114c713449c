"""SysV shared memory: shmget/shmat/shmdt/shmctl on real Sv32 address spaces."""

from __future__ import annotations

import errno
import itertools

import pytest

from mmaccel.sw import (
    IPC_CREAT,
    IPC_EXCL,
    IPC_PRIVATE,
    IPC_RMID,
    IPC_SET,
    IPC_STAT,
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_PRIVATE,
    PROT_READ,
    SHM_RDONLY,
    SHM_RND,
    Access,
    IpcPerm,
    Kernel,
    MmapError,
    PageAllocator,
    PageFault,
    PhysicalMemory,
    Priv,
    Process,
    SharedMemory,
    ShmError,
    ShmExistsError,
    ShmidDs,
    ShmNotFoundError,
    ShmPermissionError,
)
from mmaccel.sw.sv32 import PAGE_SIZE
from mmaccel.sw.vm import SHM_BASE

MEMSIZE = 1 << 20


class World:
    """A kernel, three processes (root, uid 100 gid 10, uid 200 gid 10) and a shm manager."""

    def __init__(self, max_regions: int = 4) -> None:
        self.mem = PhysicalMemory(MEMSIZE)
        self.mem.fill(0, MEMSIZE, 0x5A)
        self.pages = PageAllocator(0, MEMSIZE)
        self.kernel = Kernel(self.mem, self.pages)
        self.root = self.kernel.spawn(1, 1)
        self.alice = self.kernel.spawn(2, 2, uid=100, gid=10)
        self.bob = self.kernel.spawn(3, 3, uid=200, gid=10)
        ticks = itertools.count(1000)
        self.shm = SharedMemory(
            self.mem, self.pages, max_regions=max_regions, max_pages=16, clock=lambda: next(ticks)
        )

    def nfree(self) -> int:
        return self.pages.info().nfree

    def state(self) -> tuple[object, ...]:
        procs = (self.root, self.alice, self.bob)
        return (
            self.mem.read(0, MEMSIZE),
            self.pages.gran.free_map,
            [self.shm.shmctl(self.root, i, IPC_STAT) for i in self.shm.ids()],
            [p.address_space.mappings() for p in procs],
            [dict(p.shm_attachments) for p in procs],
        )

    def check(self) -> None:
        self.shm.check()
        for p in (self.root, self.alice, self.bob):
            p.check()


@pytest.fixture
def w() -> World:
    return World()


def test_constants_have_linux_values() -> None:
    assert (IPC_PRIVATE, IPC_CREAT, IPC_EXCL) == (0, 0o1000, 0o2000)
    assert (IPC_RMID, IPC_SET, IPC_STAT) == (0, 1, 2)
    assert (SHM_RDONLY, SHM_RND) == (0o10000, 0o20000)


def test_shmget_creates_page_at_a_time_zero_filled_segment(w: World) -> None:
    free0 = w.nfree()
    sid = w.shm.shmget(w.alice, 0x1234, 3 * PAGE_SIZE - 1, IPC_CREAT | 0o640)
    assert w.nfree() == free0 - 3
    pages = w.shm.segment_pages(sid)
    assert len(pages) == 3
    for p in pages:
        assert w.mem.read(p, PAGE_SIZE) == bytes(PAGE_SIZE)
    ds = w.shm.shmctl(w.alice, sid, IPC_STAT)
    assert ds == ShmidDs(
        IpcPerm(0x1234, 100, 10, 100, 10, 0o640), 3 * PAGE_SIZE - 1, 0, 2, 0, 0, 0, 1000
    )
    # the same key finds the same segment; a smaller size is fine
    assert w.shm.shmget(w.bob, 0x1234, 10, 0o040) == sid
    assert w.shm.shmget(w.alice, 0x1234, 0, IPC_CREAT) == sid
    w.check()


def test_ipc_private_always_creates(w: World) -> None:
    a = w.shm.shmget(w.root, IPC_PRIVATE, PAGE_SIZE, 0o600)
    b = w.shm.shmget(w.root, IPC_PRIVATE, PAGE_SIZE, 0o600)
    assert a != b and w.shm.ids() == [a, b]


@pytest.mark.parametrize(
    ("key", "size", "flags", "code", "exc"),
    [
        (0x42, PAGE_SIZE, IPC_CREAT | IPC_EXCL | 0o600, errno.EEXIST, ShmExistsError),
        (0x43, PAGE_SIZE, 0o600, errno.ENOENT, ShmNotFoundError),
        (0x42, 2 * PAGE_SIZE, IPC_CREAT | 0o600, errno.EINVAL, ShmError),  # NuttX would grow
        (0x44, 0, IPC_CREAT, errno.EINVAL, ShmError),
        (0x44, 17 * PAGE_SIZE, IPC_CREAT, errno.EINVAL, ShmError),  # above SHMMAX
        (0x44, PAGE_SIZE, IPC_CREAT | 0o100000, errno.EINVAL, ShmError),
        (1 << 31, PAGE_SIZE, IPC_CREAT, errno.EINVAL, ShmError),
        (0x42, PAGE_SIZE, 0o002, errno.EACCES, ShmPermissionError),  # bob: "other"; mode 0o640
        (0x42, PAGE_SIZE, 0o020, errno.EACCES, ShmPermissionError),  # bob: group has r only
    ],
)
def test_shmget_errors_change_nothing(
    w: World, key: int, size: int, flags: int, code: int, exc: type[ShmError]
) -> None:
    w.shm.shmget(w.alice, 0x42, PAGE_SIZE, IPC_CREAT | 0o640)
    caller = w.bob if code == errno.EACCES else w.alice
    before = w.state()
    with pytest.raises(exc) as info:
        w.shm.shmget(caller, key, size, flags)
    assert info.value.errno == code and isinstance(info.value, OSError)
    assert w.state() == before


def test_shmget_out_of_slots_and_out_of_pages(w: World) -> None:
    for key in range(1, 5):
        w.shm.shmget(w.root, key, PAGE_SIZE, IPC_CREAT)
    before = w.state()
    with pytest.raises(ShmError) as info:
        w.shm.shmget(w.root, 9, PAGE_SIZE, IPC_CREAT)
    assert info.value.errno == errno.ENOSPC
    w.shm.shmctl(w.root, 0, IPC_RMID)
    held = [w.pages.alloc(1) for _ in range(w.nfree() - 2)]
    before = w.state()
    with pytest.raises(ShmError) as info:
        w.shm.shmget(w.root, 9, 3 * PAGE_SIZE, IPC_CREAT)
    assert info.value.errno == errno.ENOMEM
    assert w.state() == before and all(held)


def test_segment_attached_in_two_processes_shares_pages(w: World) -> None:
    sid = w.shm.shmget(w.alice, 7, 2 * PAGE_SIZE, IPC_CREAT | 0o660)
    va_a = w.shm.shmat(w.alice, sid)
    va_b = w.shm.shmat(w.bob, sid, 0x0300_0000)
    assert va_a == SHM_BASE and va_b == 0x0300_0000
    sa, sb = w.alice.address_space, w.bob.address_space
    for off in (0, 5, PAGE_SIZE + 17):
        pa = sa.translate(va_a + off, Access.STORE, Priv.U)
        assert sb.translate(va_b + off, Access.LOAD, Priv.U) == pa
        w.mem.write_u8(pa, off & 0xFF)
    pa = sb.translate(va_b + PAGE_SIZE + 17, Access.LOAD, Priv.U)
    assert w.mem.read_u8(pa) == 17  # what alice wrote, bob reads
    ds = w.shm.shmctl(w.alice, sid, IPC_STAT)
    assert ds is not None
    assert (ds.shm_nattch, ds.shm_lpid, ds.shm_cpid, ds.shm_atime) == (2, 3, 2, 1002)
    w.check()


def test_shm_rdonly_maps_without_write(w: World) -> None:
    sid = w.shm.shmget(w.alice, 7, PAGE_SIZE, IPC_CREAT | 0o640)
    va = w.shm.shmat(w.bob, sid, 0, SHM_RDONLY)  # group may read, not write
    w.bob.address_space.translate(va, Access.LOAD, Priv.U)
    with pytest.raises(PageFault):
        w.bob.address_space.translate(va, Access.STORE, Priv.U)
    before = w.state()
    with pytest.raises(ShmPermissionError) as info:
        w.shm.shmat(w.bob, sid)  # read-write attach needs w
    assert info.value.errno == errno.EACCES
    assert w.state() == before
    w.check()


def test_address_hint_and_shm_rnd(w: World) -> None:
    sid = w.shm.shmget(w.root, 7, PAGE_SIZE, IPC_CREAT | 0o600)
    assert w.shm.shmat(w.root, sid, 0x0400_0123, SHM_RND) == 0x0400_0000
    before = w.state()
    for addr, flags in ((0x0500_0123, 0), (0x0400_0000, 0), (0xBFFF_F000 + PAGE_SIZE, 0)):
        with pytest.raises(ShmError) as info:
            w.shm.shmat(w.root, sid, addr, flags)
        assert info.value.errno == errno.EINVAL
    assert w.state() == before
    va = w.root.mmap(0, PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS)
    with pytest.raises(ShmError):
        w.shm.shmat(w.root, sid, va)  # over an mmap region
    with pytest.raises(MmapError) as minfo:  # and mmap cannot replace an attachment
        w.root.mmap(0x0400_0000, PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
    assert minfo.value.errno == errno.EEXIST


def test_shmat_errors_change_nothing(w: World) -> None:
    sid = w.shm.shmget(w.alice, 7, PAGE_SIZE, IPC_CREAT | 0o600)
    before = w.state()
    for proc, shmid, flags, code in (
        (w.alice, 3, 0, errno.EINVAL),
        (w.alice, -1, 0, errno.EINVAL),
        (w.alice, sid, 0o1, errno.EINVAL),
        (w.bob, sid, SHM_RDONLY, errno.EACCES),
    ):
        with pytest.raises(ShmError) as info:
            w.shm.shmat(proc, shmid, 0, flags)
        assert info.value.errno == code
    assert w.state() == before


def test_rmid_with_attachments_marks_and_last_detach_frees(w: World) -> None:
    free0 = w.nfree()
    sid = w.shm.shmget(w.alice, 7, 3 * PAGE_SIZE, IPC_CREAT | 0o666)
    va_a = w.shm.shmat(w.alice, sid)
    va_b = w.shm.shmat(w.bob, sid)
    w.shm.shmctl(w.alice, sid, IPC_RMID)
    assert sid in w.shm.ids()
    ds = w.shm.shmctl(w.alice, sid, IPC_STAT)
    assert ds is not None and ds.shm_perm.key == IPC_PRIVATE and ds.shm_nattch == 2
    # the key is forgotten: a new segment with the same key is a different one (NuttX revives)
    with pytest.raises(ShmNotFoundError):
        w.shm.shmget(w.alice, 7, PAGE_SIZE, 0)
    with pytest.raises(ShmError) as info:
        w.shm.shmat(w.root, sid)
    assert info.value.errno == errno.EINVAL
    w.shm.shmdt(w.alice, va_a)
    assert sid in w.shm.ids()
    assert w.bob.address_space.translate(va_b, Access.STORE, Priv.U) in w.shm.segment_pages(sid)
    w.shm.shmdt(w.bob, va_b)
    assert sid not in w.shm.ids()
    assert w.nfree() == free0  # segment pages and both processes' tables are back
    w.check()


def test_rmid_without_attachments_frees_at_once(w: World) -> None:
    free0 = w.nfree()
    sid = w.shm.shmget(w.root, 7, 5 * PAGE_SIZE, IPC_CREAT)
    assert w.nfree() == free0 - 5
    w.shm.shmctl(w.root, sid, IPC_RMID)
    assert w.nfree() == free0 and w.shm.ids() == []


def test_shmdt_bookkeeping_and_errors(w: World) -> None:
    sid = w.shm.shmget(w.alice, 7, PAGE_SIZE, IPC_CREAT | 0o600)
    va = w.shm.shmat(w.alice, sid)
    va2 = w.shm.shmat(w.alice, sid)  # a second attachment in the same process
    assert va2 != va
    before = w.state()
    for addr in (va + 8, va + PAGE_SIZE * 100):
        with pytest.raises(ShmError) as info:
            w.shm.shmdt(w.alice, addr)
        assert info.value.errno == errno.EINVAL
    with pytest.raises(ShmError):
        w.shm.shmdt(w.bob, va)
    assert w.state() == before
    w.shm.shmdt(w.alice, va)
    ds = w.shm.shmctl(w.alice, sid, IPC_STAT)
    assert ds is not None and (ds.shm_nattch, ds.shm_lpid, ds.shm_dtime) == (1, 2, 1003)
    with pytest.raises(PageFault):
        w.alice.address_space.translate(va, Access.LOAD, Priv.U)
    w.check()


def test_ipc_set_and_permissions_of_shmctl(w: World) -> None:
    sid = w.shm.shmget(w.alice, 7, PAGE_SIZE, IPC_CREAT | 0o600)
    before = w.state()
    with pytest.raises(ShmPermissionError) as info:
        w.shm.shmctl(w.bob, sid, IPC_STAT)
    assert info.value.errno == errno.EACCES
    for cmd in (IPC_SET, IPC_RMID):
        with pytest.raises(ShmPermissionError) as pinfo:
            w.shm.shmctl(w.bob, sid, cmd, w.shm.shmctl(w.alice, sid, IPC_STAT))
        assert pinfo.value.errno == errno.EPERM
    for cmd, buf in ((99, None), (IPC_SET, None)):
        with pytest.raises(ShmError) as einfo:
            w.shm.shmctl(w.alice, sid, cmd, buf)
        assert einfo.value.errno == errno.EINVAL
    assert w.state() == before
    ds = w.shm.shmctl(w.alice, sid, IPC_STAT)
    assert ds is not None
    new = ShmidDs(IpcPerm(ds.shm_perm.key, 200, 10, 0, 0, 0o1640), 0, 0, 0, 0, 0, 0, 0)
    w.shm.shmctl(w.alice, sid, IPC_SET, new)
    ds2 = w.shm.shmctl(w.bob, sid, IPC_STAT)  # bob owns it now
    assert ds2 is not None
    assert (ds2.shm_perm.uid, ds2.shm_perm.gid, ds2.shm_perm.mode) == (200, 10, 0o640)
    assert (ds2.shm_perm.cuid, ds2.shm_segsz, ds2.shm_ctime) == (100, PAGE_SIZE, 1001)
    w.shm.shmctl(w.bob, sid, IPC_RMID)
    assert w.shm.ids() == []


def test_fork_inherits_and_exit_detaches(w: World) -> None:
    sid = w.shm.shmget(w.alice, 7, PAGE_SIZE, IPC_CREAT | 0o600)
    va = w.shm.shmat(w.alice, sid)
    child = w.alice.fork(20, 20)
    assert child.address_space.translate(va) == w.alice.address_space.translate(va)
    ds = w.shm.shmctl(w.alice, sid, IPC_STAT)
    assert ds is not None and ds.shm_nattch == 2
    w.shm.shmctl(w.alice, sid, IPC_RMID)
    free0 = w.nfree()
    child.exit()
    w.alice.exit()
    assert w.shm.ids() == []
    assert w.nfree() == free0 + 1 + 2 + 2  # the segment page, two roots, one table each


def test_stale_shmid_after_destroy_is_einval(w: World) -> None:
    sid = w.shm.shmget(w.root, 7, PAGE_SIZE, IPC_CREAT)
    w.shm.shmctl(w.root, sid, IPC_RMID)
    for call in (
        lambda: w.shm.shmat(w.root, sid),
        lambda: w.shm.shmctl(w.root, sid, IPC_STAT),
    ):
        with pytest.raises(ShmError) as info:
            call()
        assert info.value.errno == errno.EINVAL


def test_process_type_is_the_vm_process(w: World) -> None:
    assert isinstance(w.alice, Process)
