"""Random map/unmap/protect/attach/detach/fork/exit with the whole state checked after each step.

The test keeps its own belief of every process's pages (va -> frame, protection, how it was
mapped), of the shm segments and of the vmalloc allocations, and after every step checks:

(a) every page it believes mapped translates (through the real Sv32 walk) to the frame it
    believes, with the permissions it believes; PROT_NONE pages fault;
(b) no two processes translate to one page except shm pages, MAP_SHARED pages shared by fork,
    and the kernel's global mappings (which are not per-process);
(c) the page allocator's free count equals what the belief says is free: total minus roots,
    level-0 tables (one per 4 MiB slot holding a 4 KiB mapping; megapages need none),
    anonymous frames, shm pages and vmalloc pages.

Besides mmap and shm, direct AddressSpace.map/unmap of device addresses (4 KiB runs and 4 MiB
megapages, split when partly unmapped) are mixed in.

A step that raises must leave memory, the free map and all bookkeeping as they were.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from mmaccel.sw import (
    IPC_CREAT,
    IPC_PRIVATE,
    IPC_RMID,
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_PRIVATE,
    MAP_SHARED,
    PROT_EXEC,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
    Access,
    Kernel,
    MappingExists,
    MmapError,
    OutOfMemory,
    PageAllocator,
    PageFault,
    PhysicalMemory,
    Priv,
    Process,
    PteFlags,
    SharedMemory,
    ShmError,
)
from mmaccel.sw.sv32 import PAGE_SIZE
from mmaccel.sw.vm import MMAP_BASE

MEMSIZE = 96 * PAGE_SIZE
PROTS = [PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE, PROT_EXEC, PROT_READ | PROT_EXEC]
# fixed addresses straddle a 4 MiB boundary, so tables come and go
FIXED_BASE = 0x0040_0000 - 6 * PAGE_SIZE
# direct AddressSpace.map() of device addresses (4 KiB runs and megapages) in three 4 MiB slots
RAW_BASE = 0x0800_0000
MEGA = 1 << 22
URW = PteFlags.U | PteFlags.R | PteFlags.W | PteFlags.A | PteFlags.D


@dataclass
class Page:
    frame: int
    prot: int
    shared: bool  # MAP_SHARED anon page (may be shared through fork) or shm page
    shmid: int | None = None
    raw: bool = False  # mapped with AddressSpace.map to a device address (no frame owned)
    mega: bool = False  # part of a 4 MiB megapage (no level-0 table)


@dataclass
class Seg:
    key: int
    npages: int
    frames: tuple[int, ...]
    removed: bool = False
    users: set[tuple[int, int]] = field(default_factory=set)  # (pid, va)


class VmMachine(RuleBasedStateMachine):
    @initialize()
    def setup(self) -> None:
        self.mem = PhysicalMemory(MEMSIZE)
        self.mem.fill(0, MEMSIZE, 0xEE)
        self.pages = PageAllocator(0, MEMSIZE)
        self.kernel = Kernel(self.mem, self.pages)
        self.shm = SharedMemory(self.mem, self.pages, max_regions=4, max_pages=4, clock=lambda: 0)
        self.procs: dict[int, Process] = {}
        self.belief: dict[int, dict[int, Page]] = {}
        self.segs: dict[int, Seg] = {}
        self.vm: dict[int, tuple[int, ...]] = {}
        self.next_pid = 1
        self._spawn()

    # -- helpers --------------------------------------------------------------------------------

    def _spawn(self) -> None:
        pid = self.next_pid
        self.next_pid += 1
        self.procs[pid] = self.kernel.spawn(pid, pid)
        self.belief[pid] = {}

    def _all_frames(self) -> set[int]:
        out = {p.frame for b in self.belief.values() for p in b.values() if not p.raw}
        out |= {f for s in self.segs.values() for f in s.frames}
        out |= {f for fr in self.vm.values() for f in fr}
        return out

    def _snapshot(self) -> tuple[object, ...]:
        return (
            self.mem.read(0, MEMSIZE),
            self.pages.gran.free_map,
            {
                pid: (p.regions(), p.address_space.mappings(), dict(p.shm_attachments))
                for pid, p in self.procs.items()
            },
            self.kernel.space.mappings(),
            sorted(self.shm.ids()),
        )

    def _pid(self, data: st.DataObject) -> int:
        return data.draw(st.sampled_from(sorted(self.procs)))

    def _fresh(self, frames: tuple[int, ...] | list[int]) -> None:
        assert len(set(frames)) == len(frames)
        assert not set(frames) & self._all_frames(), "a page in use was handed out again"

    # -- rules ----------------------------------------------------------------------------------

    @rule(
        data=st.data(),
        n=st.integers(1, 4),
        prot=st.sampled_from(PROTS),
        shared=st.booleans(),
        fixed=st.one_of(st.none(), st.integers(0, 12)),
    )
    def mmap(self, data: st.DataObject, n: int, prot: int, shared: bool, fixed: int | None) -> None:
        pid = self._pid(data)
        p = self.procs[pid]
        flags = MAP_ANONYMOUS | (MAP_SHARED if shared else MAP_PRIVATE)
        addr = 0
        if fixed is not None:
            flags |= MAP_FIXED
            addr = FIXED_BASE + fixed * PAGE_SIZE
        before = self._snapshot()
        try:
            va = p.mmap(addr, n * PAGE_SIZE - 1, prot, flags)
        except MmapError as e:
            assert e.errno == errno.ENOMEM and self.pages.info().nfree < n + 3
            assert self._snapshot() == before
            return
        if fixed is not None:
            assert va == addr
            for v in range(va, va + n * PAGE_SIZE, PAGE_SIZE):
                self.belief[pid].pop(v, None)
        else:
            assert va >= MMAP_BASE
        (region,) = [r for r in p.regions() if r.start == va]
        assert region.size == n * PAGE_SIZE and region.prot == prot
        self._fresh(region.frames)
        for i, f in enumerate(region.frames):
            assert self.mem.read(f, PAGE_SIZE) == bytes(PAGE_SIZE)
            self.belief[pid][va + i * PAGE_SIZE] = Page(f, prot, shared)

    @rule(data=st.data(), k=st.integers(0, 14), n=st.integers(1, 5))
    def munmap_fixed_area(self, data: st.DataObject, k: int, n: int) -> None:
        pid = self._pid(data)
        va = FIXED_BASE + k * PAGE_SIZE
        self.procs[pid].munmap(va, n * PAGE_SIZE)
        for v in range(va, va + n * PAGE_SIZE, PAGE_SIZE):
            page = self.belief[pid].get(v)
            if page is not None and page.shmid is None:
                del self.belief[pid][v]
                try:
                    self.procs[pid].address_space.translate(v, Access.LOAD, Priv.U)
                except PageFault:
                    pass
                else:
                    raise AssertionError(f"{v:#x} still translates after munmap")

    @rule(data=st.data())
    def munmap_region(self, data: st.DataObject) -> None:
        pid = self._pid(data)
        regions = self.procs[pid].regions()
        if not regions:
            return
        r = data.draw(st.sampled_from(regions))
        self.procs[pid].munmap(r.start, r.size)
        for v in range(r.start, r.start + r.size, PAGE_SIZE):
            del self.belief[pid][v]

    @rule(data=st.data(), prot=st.sampled_from(PROTS))
    def mprotect(self, data: st.DataObject, prot: int) -> None:
        pid = self._pid(data)
        regions = self.procs[pid].regions()
        if not regions:
            return
        r = data.draw(st.sampled_from(regions))
        before = self._snapshot()
        try:
            self.procs[pid].mprotect(r.start, r.size, prot)
        except MmapError as e:
            assert e.errno == errno.ENOMEM and self.pages.info().nfree < 2
            assert self._snapshot() == before
            return
        for v in range(r.start, r.start + r.size, PAGE_SIZE):
            self.belief[pid][v].prot = prot

    @rule(
        data=st.data(),
        slot=st.integers(0, 2),
        first=st.integers(0, 1023),
        n=st.integers(1, 8),
        mega=st.booleans(),
    )
    def raw_map(self, data: st.DataObject, slot: int, first: int, n: int, mega: bool) -> None:
        pid = self._pid(data)
        space = self.procs[pid].address_space
        base = RAW_BASE + slot * MEGA
        pa_base = 0x1_0000_0000 + pid * 0x1000_0000 + slot * MEGA  # no two pids share these
        if mega:
            va, pa, size = base, pa_base, MEGA
        else:
            n = min(n, 1024 - first)
            va, pa, size = base + first * PAGE_SIZE, pa_base + first * PAGE_SIZE, n * PAGE_SIZE
        overlap = any(v in self.belief[pid] for v in range(va, va + size, PAGE_SIZE))
        before = self._snapshot()
        try:
            space.map(va, pa, size, URW, megapage=mega)
        except MappingExists:
            assert overlap
            assert self._snapshot() == before
            return
        except OutOfMemory:
            assert not overlap and self.pages.info().nfree == 0
            assert self._snapshot() == before
            return
        assert not overlap
        for i in range(size // PAGE_SIZE):
            page = Page(pa + i * PAGE_SIZE, PROT_READ | PROT_WRITE, False, raw=True, mega=mega)
            self.belief[pid][va + i * PAGE_SIZE] = page

    @rule(data=st.data(), n=st.integers(1, 600))
    def raw_unmap(self, data: st.DataObject, n: int) -> None:
        pid = self._pid(data)
        raw = sorted(v for v, pg in self.belief[pid].items() if pg.raw)
        if not raw:
            return
        va = data.draw(st.sampled_from(raw))
        run = 0
        while run < n and self.belief[pid].get(va + run * PAGE_SIZE, Page(0, 0, False)).raw:
            run += 1
        end = va + run * PAGE_SIZE
        split = {  # megapages the range only partly covers: unmap splits them
            v >> 22
            for v in (va, end - PAGE_SIZE)
            if self.belief[pid][v].mega
            and not (va <= (v >> 22) * MEGA and end >= ((v >> 22) + 1) * MEGA)
        }
        before = self._snapshot()
        try:
            self.procs[pid].address_space.unmap(va, run * PAGE_SIZE)
        except OutOfMemory:
            assert split and self.pages.info().nfree < len(split)
            assert self._snapshot() == before
            return
        for v in range(va, end, PAGE_SIZE):
            del self.belief[pid][v]
        for s in split:
            for v in range(s * MEGA, (s + 1) * MEGA, PAGE_SIZE):
                if v in self.belief[pid]:
                    self.belief[pid][v].mega = False

    @rule(key=st.sampled_from([IPC_PRIVATE, 1, 2]), n=st.integers(1, 3), data=st.data())
    def shmget(self, key: int, n: int, data: st.DataObject) -> None:
        pid = self._pid(data)
        existing = [i for i, s in self.segs.items() if s.key == key and not s.removed and key]
        before = self._snapshot()
        try:
            sid = self.shm.shmget(self.procs[pid], key, n * PAGE_SIZE, IPC_CREAT | 0o600)
        except ShmError as e:
            if existing:
                assert e.errno == errno.EINVAL and self.segs[existing[0]].npages < n
            elif e.errno == errno.ENOSPC:
                assert len(self.segs) == 4
            else:
                assert e.errno == errno.ENOMEM and self.pages.info().nfree < n
            assert self._snapshot() == before
            return
        if existing:
            assert sid == existing[0] and self.segs[sid].npages >= n
            return
        assert sid not in self.segs
        frames = self.shm.segment_pages(sid)
        self._fresh(frames)
        self.segs[sid] = Seg(key, n, frames)

    @rule(data=st.data(), rdonly=st.booleans())
    def shmat(self, data: st.DataObject, rdonly: bool) -> None:
        if not self.segs:
            return
        pid = self._pid(data)
        sid = data.draw(st.sampled_from(sorted(self.segs)))
        seg = self.segs[sid]
        before = self._snapshot()
        try:
            va = self.shm.shmat(self.procs[pid], sid, 0, 0o10000 if rdonly else 0)
        except ShmError as e:
            assert (e.errno == errno.EINVAL and seg.removed) or (
                e.errno == errno.ENOMEM and self.pages.info().nfree < 2
            )
            assert self._snapshot() == before
            return
        assert not seg.removed
        seg.users.add((pid, va))
        prot = PROT_READ if rdonly else PROT_READ | PROT_WRITE
        for i, f in enumerate(seg.frames):
            assert va + i * PAGE_SIZE not in self.belief[pid]
            self.belief[pid][va + i * PAGE_SIZE] = Page(f, prot, True, sid)

    @rule(data=st.data())
    def shmdt(self, data: st.DataObject) -> None:
        users = sorted((pid, va, sid) for sid, s in self.segs.items() for pid, va in s.users)
        if not users:
            return
        pid, va, sid = data.draw(st.sampled_from(users))
        self.shm.shmdt(self.procs[pid], va)
        self._detached(pid, va, sid)

    def _detached(self, pid: int, va: int, sid: int) -> None:
        seg = self.segs[sid]
        seg.users.remove((pid, va))
        for i in range(seg.npages):
            del self.belief[pid][va + i * PAGE_SIZE]
        if seg.removed and not seg.users:
            del self.segs[sid]
        assert (sid in self.shm.ids()) == (sid in self.segs)

    @rule(data=st.data())
    def rmid(self, data: st.DataObject) -> None:
        live = sorted(i for i, s in self.segs.items() if not s.removed)
        if not live:
            return
        sid = data.draw(st.sampled_from(live))
        self.shm.shmctl(self.procs[min(self.procs)], sid, IPC_RMID)
        if self.segs[sid].users:
            self.segs[sid].removed = True
        else:
            del self.segs[sid]
        assert (sid in self.shm.ids()) == (sid in self.segs)

    @precondition(lambda self: len(self.procs) < 4)
    @rule(data=st.data())
    def fork(self, data: st.DataObject) -> None:
        pid = self._pid(data)
        parent = self.procs[pid]
        before = self._snapshot()
        try:
            child = parent.fork(self.next_pid, self.next_pid)
        except OutOfMemory:
            assert self._snapshot() == before
            return
        cpid = self.next_pid
        self.next_pid += 1
        self.procs[cpid] = child
        belief: dict[int, Page] = {}
        new_frames: list[int] = []
        for r in child.regions():
            for i, f in enumerate(r.frames):
                v = r.start + i * PAGE_SIZE
                old = self.belief[pid][v]
                if old.shared:
                    assert f == old.frame
                else:
                    assert f != old.frame
                    assert self.mem.read(f, PAGE_SIZE) == self.mem.read(old.frame, PAGE_SIZE)
                    new_frames.append(f)
                belief[v] = Page(f, old.prot, old.shared)
        self._fresh(new_frames)
        for v, page in self.belief[pid].items():
            if page.shmid is not None:
                belief[v] = Page(page.frame, page.prot, True, page.shmid)
        for seg in self.segs.values():
            for upid, va in list(seg.users):
                if upid == pid:
                    seg.users.add((cpid, va))
        self.belief[cpid] = belief

    @precondition(lambda self: len(self.procs) > 1)
    @rule(data=st.data())
    def exit(self, data: st.DataObject) -> None:
        pid = self._pid(data)
        self.procs.pop(pid).exit()
        for sid, seg in list(self.segs.items()):
            for upid, va in list(seg.users):
                if upid == pid:
                    self._detached(pid, va, sid)
        del self.belief[pid]

    @rule(n=st.integers(1, 3))
    def vmalloc(self, n: int) -> None:
        before = self._snapshot()
        va = self.kernel.vmalloc(n * PAGE_SIZE)
        if va is None:
            assert self.pages.info().nfree < n + 1
            assert self._snapshot() == before
            return
        frames = tuple(self.kernel.vmalloc_frames(va))
        self._fresh(frames)
        self.vm[va] = frames

    @rule(data=st.data())
    def vfree(self, data: st.DataObject) -> None:
        if not self.vm:
            return
        va = data.draw(st.sampled_from(sorted(self.vm)))
        self.kernel.vfree(va)
        del self.vm[va]

    # -- invariants -----------------------------------------------------------------------------

    @invariant()
    def translations_match_belief(self) -> None:  # (a)
        for pid, p in self.procs.items():
            space = p.address_space
            for va, page in self.belief[pid].items():
                if page.prot == PROT_NONE:
                    try:
                        space.translate(va, Access.LOAD, Priv.U)
                    except PageFault:
                        continue
                    raise AssertionError(f"PROT_NONE page {va:#x} of pid {pid} translates")
                access = Access.FETCH if page.prot == PROT_EXEC else Access.LOAD
                assert space.translate(va + 7, access, Priv.U) == page.frame + 7
                writable = bool(page.prot & PROT_WRITE)
                try:
                    space.translate(va, Access.STORE, Priv.U)
                except PageFault:
                    assert not writable
                else:
                    assert writable
            mapped = {va for va, _pa, _flags in space.page_map()}
            assert mapped == {v for v, pg in self.belief[pid].items() if pg.prot != PROT_NONE}
            for va, frames in self.vm.items():  # global: the same in every process
                for i, f in enumerate(frames):
                    assert space.translate(va + i * PAGE_SIZE, Access.STORE, Priv.S) == f

    @invariant()
    def no_page_shared_except_shm_and_shared_anon(self) -> None:  # (b)
        owner: dict[int, int] = {}
        allowed = {f for s in self.segs.values() for f in s.frames}
        allowed |= {pg.frame for b in self.belief.values() for pg in b.values() if pg.shared}
        raw = {pg.frame for b in self.belief.values() for pg in b.values() if pg.raw}
        for pid, p in self.procs.items():
            for _va, pa, _flags in p.address_space.page_map():
                other = owner.setdefault(pa, pid)
                assert other == pid or pa in allowed, f"pids {other} and {pid} share {pa:#x}"
        tables = {self.kernel.space.root, *self.kernel.space._tables.values()}
        for p in self.procs.values():
            tables |= {p.address_space.root, *p.address_space._tables.values()}
        assert not tables & (set(owner) | self._all_frames()), "a page table is also data"
        assert not raw & self._all_frames(), "a device address is also a frame"

    @invariant()
    def free_count_matches_belief(self) -> None:  # (c)
        used = 1 + len({(va >> 22) for va in self.vm})  # kernel root and vmalloc tables
        used += sum(len(f) for f in self.vm.values())
        for b in self.belief.values():
            used += 1 + len(
                {va >> 22 for va, pg in b.items() if pg.prot != PROT_NONE and not pg.mega}
            )
        anon = {
            pg.frame
            for b in self.belief.values()
            for pg in b.values()
            if pg.shmid is None and not pg.raw
        }
        used += len(anon) + sum(s.npages for s in self.segs.values())
        assert self.pages.info().nfree == self.pages.npages - used

    @invariant()
    def structures_check(self) -> None:
        self.kernel.space.check()
        self.shm.check()
        for p in self.procs.values():
            p.check()
        self.pages.check()


VmMachine.TestCase.settings = settings(
    max_examples=30,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_vm_state_machine = VmMachine.TestCase
