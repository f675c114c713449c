"""SysV shared memory (NuttX mm/shm), following POSIX where NuttX departs from it.

A region table whose slot number is the shmid; each region keeps a key, a ``shmid_ds``
(permissions, size, creator and last pids, attach count, times) and its backing pages, taken
from the page allocator one page at a time (not contiguous) and zero-filled, as NuttX does.
Attaching maps those pages into the caller's Sv32 address space, so two processes attached to
one segment translate their addresses to the same physical pages. Each attachment is a
:class:`~mmaccel.sw.process.ShmAttachment` in the process's ``shm_attachments``;
:class:`SharedMemory` is the :class:`~mmaccel.sw.process.ShmManager` that a process calls back
on ``fork`` and ``exit``.

Departures from NuttX 10.2.0 (POSIX / Linux behaviour instead; see docs/vm.md):

- ``IPC_PRIVATE`` creates a new segment (NuttX: ENOSYS);
- ``IPC_CREAT | IPC_EXCL`` on an existing key gives EEXIST (NuttX never checks IPC_EXCL);
- a request larger than an existing segment gives EINVAL even with IPC_CREAT (NuttX grows it);
- a segment marked for removal is no longer found by its key (NuttX revives it), and cannot
  be attached again (Linux allows that as an extension; POSIX does not);
- ``shmat`` honours the address (``SHM_RND`` rounds it down to ``SHMLBA``) and
  ``SHM_RDONLY`` (NuttX ignores both); a process may attach a segment more than once;
- the mode bits are checked against the caller's uid/gid (NuttX has no credentials):
  EACCES for shmget/shmat/IPC_STAT, EPERM for IPC_SET/IPC_RMID by a non-owner;
- ``IPC_SET`` sets uid, gid and mode (NuttX: mode only); ``shmctl`` changes ``shm_lpid`` never
  and ``shm_ctime`` only for IPC_SET / IPC_RMID (NuttX: every command);
- a bad shmid or command is EINVAL (NuttX asserts); nothing is half-done on ENOMEM.

Constants have their Linux values. Errors are :class:`ShmError` (an ``OSError``) with
``errno`` set.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable
from dataclasses import dataclass

from .errors import (
    ShmError,
    ShmExistsError,
    ShmNotFoundError,
    ShmPermissionError,
)
from .gran import PageAllocator
from .memory import PhysicalMemory
from .process import Process, ShmAttachment
from .sv32 import PAGE_SHIFT, PAGE_SIZE, PteFlags
from .vm import KERNEL_BASE, SHM_BASE, SHM_END

__all__ = [
    "IPC_CREAT",
    "IPC_EXCL",
    "IPC_NOWAIT",
    "IPC_PRIVATE",
    "IPC_RMID",
    "IPC_SET",
    "IPC_STAT",
    "SHMLBA",
    "SHM_RDONLY",
    "SHM_RND",
    "IpcPerm",
    "SharedMemory",
    "ShmError",
    "ShmExistsError",
    "ShmNotFoundError",
    "ShmPermissionError",
    "ShmidDs",
]

# Linux values (<linux/ipc.h>, <linux/shm.h>).
IPC_PRIVATE = 0
IPC_CREAT = 0o1000
IPC_EXCL = 0o2000
IPC_NOWAIT = 0o4000
IPC_RMID = 0
IPC_SET = 1
IPC_STAT = 2
SHM_RDONLY = 0o10000
SHM_RND = 0o20000
#: Attach addresses are multiples of this (one page, as on RISC-V Linux).
SHMLBA = PAGE_SIZE

_MODE = 0o777
_GET_FLAGS = _MODE | IPC_CREAT | IPC_EXCL | IPC_NOWAIT
_AT_FLAGS = SHM_RDONLY | SHM_RND
_KEY_MIN, _KEY_LIMIT = -(1 << 31), 1 << 31


def _error(code: int, message: str) -> ShmError:
    cls = {
        errno.EEXIST: ShmExistsError,
        errno.ENOENT: ShmNotFoundError,
        errno.EACCES: ShmPermissionError,
        errno.EPERM: ShmPermissionError,
    }.get(code, ShmError)
    return cls(code, message)


@dataclass(frozen=True, slots=True)
class IpcPerm:
    """``struct ipc_perm``: key, owner and creator ids, and the 9 mode bits."""

    key: int
    uid: int
    gid: int
    cuid: int
    cgid: int
    mode: int


@dataclass(frozen=True, slots=True)
class ShmidDs:
    """``struct shmid_ds`` as IPC_STAT returns it (and IPC_SET takes it)."""

    shm_perm: IpcPerm
    shm_segsz: int
    shm_lpid: int
    shm_cpid: int
    shm_nattch: int
    shm_atime: int
    shm_dtime: int
    shm_ctime: int


class _Region:
    __slots__ = (
        "atime",
        "cgid",
        "cpid",
        "ctime",
        "cuid",
        "dtime",
        "gid",
        "key",
        "lpid",
        "mode",
        "pages",
        "removed",
        "segsz",
        "uid",
        "users",
    )

    def __init__(self, key: int, proc: Process, mode: int, segsz: int, pages: list[int]) -> None:
        self.key = key
        self.uid = self.cuid = proc.uid
        self.gid = self.cgid = proc.gid
        self.mode = mode
        self.segsz = segsz
        self.cpid = proc.pid
        self.lpid = 0
        self.atime = self.dtime = self.ctime = 0
        self.pages = pages
        self.removed = False
        self.users: list[tuple[Process, int]] = []  # (process, va) per attachment


class SharedMemory:
    """The SysV shared-memory manager: region table, shmget/shmat/shmdt/shmctl.

    Parameters
    ----------
    memory : PhysicalMemory
        Memory the backing pages are zero-filled in.
    pages : PageAllocator
        Gives the backing pages, one at a time.
    max_regions : int
        Slots in the region table (NuttX's CONFIG_ARCH_SHM_MAXREGIONS).
    max_pages : int
        Largest segment in pages (NuttX's CONFIG_ARCH_SHM_NPAGES); SHMMAX = max_pages * 4 KiB.
    clock : callable, optional
        Returns the current time in seconds for shm_atime/dtime/ctime (default: wall clock).
    """

    def __init__(
        self,
        memory: PhysicalMemory,
        pages: PageAllocator,
        *,
        max_regions: int = 16,
        max_pages: int = 256,
        clock: Callable[[], int] | None = None,
    ) -> None:
        if max_regions <= 0 or max_pages <= 0:
            raise ValueError(f"max_regions ({max_regions}) and max_pages ({max_pages}) must be > 0")
        self.memory = memory
        self.pages = pages
        self.max_regions = max_regions
        self.max_pages = max_pages
        self._clock: Callable[[], int] = clock or (lambda: int(time.time()))
        self._regions: list[_Region | None] = [None] * max_regions

    def __repr__(self) -> str:
        used = sum(r is not None for r in self._regions)
        return f"SharedMemory(regions={used}/{self.max_regions}, pages={self.pages_held})"

    # -- queries --------------------------------------------------------------------------------

    @property
    def shmmax(self) -> int:
        """Largest segment size in bytes."""
        return self.max_pages * PAGE_SIZE

    @property
    def pages_held(self) -> int:
        """Backing pages held by all live segments."""
        return sum(len(r.pages) for r in self._regions if r is not None)

    def ids(self) -> list[int]:
        """The shmids in use (including segments marked for removal)."""
        return [i for i, r in enumerate(self._regions) if r is not None]

    def segment_pages(self, shmid: int) -> tuple[int, ...]:
        """The physical pages backing segment ``shmid``."""
        return tuple(self._region(shmid, allow_removed=True).pages)

    def frames(self) -> set[int]:
        """Every backing page of every live segment."""
        return {p for r in self._regions if r is not None for p in r.pages}

    # -- helpers --------------------------------------------------------------------------------

    def _region(self, shmid: object, *, allow_removed: bool) -> _Region:
        if not isinstance(shmid, int) or isinstance(shmid, bool):
            raise _error(errno.EINVAL, f"shmid must be an int, not {shmid!r}")
        r = self._regions[shmid] if 0 <= shmid < self.max_regions else None
        if r is None:
            raise _error(errno.EINVAL, f"shmid {shmid} is not a segment")
        if r.removed and not allow_removed:
            raise _error(errno.EINVAL, f"shmid {shmid} is marked for removal")
        return r

    @staticmethod
    def _granted(proc: Process, r: _Region) -> int:
        """The rwx bits (0..7) that ``r``'s mode grants ``proc``."""
        if proc.uid == 0:
            return 0o7
        if proc.uid in (r.uid, r.cuid):
            return (r.mode >> 6) & 7
        if proc.gid in (r.gid, r.cgid):
            return (r.mode >> 3) & 7
        return r.mode & 7

    @staticmethod
    def _owner(proc: Process, r: _Region) -> bool:
        return proc.uid == 0 or proc.uid in (r.uid, r.cuid)

    def _destroy(self, shmid: int) -> None:
        r = self._regions[shmid]
        assert r is not None and not r.users
        for p in r.pages:
            self.pages.free(p, 1)
        self._regions[shmid] = None

    @staticmethod
    def _perms(readonly: bool) -> PteFlags:
        f = PteFlags.U | PteFlags.R | PteFlags.A
        return f if readonly else f | PteFlags.W | PteFlags.D

    # -- the four calls -------------------------------------------------------------------------

    def shmget(self, process: Process, key: int, size: int, flags: int) -> int:
        """Get (or create) the segment of ``key``; return its shmid.

        Parameters
        ----------
        process : Process
            The caller (its pid becomes shm_cpid; uid/gid are checked against the mode).
        key : int
            IPC_PRIVATE always creates a new segment.
        size : int
            Bytes; 1..shmmax to create, at most the segment's size to get.
        flags : int
            Mode bits (low 9), IPC_CREAT, IPC_EXCL (IPC_NOWAIT is accepted and has no effect).

        Raises
        ------
        ShmError
            EINVAL: bad size, or larger than an existing segment, unknown flag bits;
            EEXIST: IPC_CREAT | IPC_EXCL and the key exists; ENOENT: no such key and no
            IPC_CREAT; EACCES: the mode refuses the requested permissions; ENOSPC: the region
            table is full; ENOMEM: too few free pages. Nothing changes when it raises.
        """
        for name, v in (("key", key), ("size", size), ("flags", flags)):
            if not isinstance(v, int) or isinstance(v, bool):
                raise _error(errno.EINVAL, f"{name} must be an int, not {v!r}")
        if not _KEY_MIN <= key < _KEY_LIMIT:
            raise _error(errno.EINVAL, f"key {key} does not fit key_t")
        if flags & ~_GET_FLAGS:
            raise _error(errno.EINVAL, f"unknown shmget flags {flags & ~_GET_FLAGS:#o}")
        if size < 0:
            raise _error(errno.EINVAL, f"size must not be negative, not {size}")
        if key != IPC_PRIVATE:
            for shmid, r in enumerate(self._regions):
                if r is None or r.removed or r.key != key:
                    continue
                if flags & IPC_CREAT and flags & IPC_EXCL:
                    raise _error(errno.EEXIST, f"key {key:#x} exists (shmid {shmid})")
                if size > r.segsz:
                    raise _error(
                        errno.EINVAL, f"size {size} exceeds segment {shmid}'s {r.segsz} bytes"
                    )
                want = (flags >> 6) & 7 | (flags >> 3) & 7 | flags & 7
                if want & ~self._granted(process, r):
                    raise _error(
                        errno.EACCES,
                        f"mode {r.mode:#o} of segment {shmid} refuses {flags & 0o777:#o}",
                    )
                return shmid
            if not flags & IPC_CREAT:
                raise _error(errno.ENOENT, f"no segment with key {key:#x}")
        if not 1 <= size <= self.shmmax:
            raise _error(errno.EINVAL, f"size {size} is outside 1..{self.shmmax}")
        try:
            shmid = self._regions.index(None)
        except ValueError:
            raise _error(errno.ENOSPC, f"all {self.max_regions} regions are in use") from None
        npages = (size + PAGE_SIZE - 1) >> PAGE_SHIFT
        nfree = self.pages.info().nfree
        if npages > nfree:
            raise _error(errno.ENOMEM, f"segment needs {npages} pages, {nfree} free")
        pages = []
        for _ in range(npages):  # one page at a time, as NuttX's shm_extend does
            p = self.pages.alloc(1)
            assert p is not None  # counted above
            self.memory.fill(p, PAGE_SIZE)
            pages.append(p)
        r = _Region(key, process, flags & _MODE, size, pages)
        r.ctime = self._clock()
        self._regions[shmid] = r
        return shmid

    def shmat(self, process: Process, shmid: int, addr: int = 0, flags: int = 0) -> int:
        """Attach segment ``shmid`` to ``process``; return the virtual address.

        ``addr`` 0 picks the lowest free range in the shm area; otherwise the segment goes at
        ``addr`` (rounded down to SHMLBA with SHM_RND, else it must be aligned). SHM_RDONLY
        maps the pages without W.

        Raises
        ------
        ShmError
            EINVAL: bad shmid (or one marked for removal), unaligned addr without SHM_RND, an
            occupied or out-of-range addr, unknown flags; EACCES: the mode refuses read (or
            write without SHM_RDONLY); ENOMEM: no free range, or no page for a page table.
            Nothing changes when it raises.
        """
        r = self._region(shmid, allow_removed=False)
        if not isinstance(addr, int) or isinstance(addr, bool) or addr < 0:
            raise _error(errno.EINVAL, f"addr must be a non-negative int, not {addr!r}")
        if not isinstance(flags, int) or isinstance(flags, bool) or flags & ~_AT_FLAGS:
            raise _error(errno.EINVAL, f"unknown shmat flags {flags!r}")
        readonly = bool(flags & SHM_RDONLY)
        need = 4 if readonly else 6
        if need & ~self._granted(process, r):
            raise _error(errno.EACCES, f"mode {r.mode:#o} of segment {shmid} refuses {need:#o}")
        size = len(r.pages) * PAGE_SIZE
        if addr:
            if flags & SHM_RND:
                addr &= ~(SHMLBA - 1)
            elif addr & (SHMLBA - 1):
                raise _error(errno.EINVAL, f"addr {addr:#x} is not a multiple of SHMLBA")
            if addr + size > KERNEL_BASE or not process.range_is_free(addr, size):
                raise _error(errno.EINVAL, f"[{addr:#x}, +{size:#x}) is not free in {process!r}")
            va = addr
        else:
            found = process.find_free(size, SHM_BASE, SHM_END)
            if found is None:
                raise _error(errno.ENOMEM, f"no free {size:#x}-byte range in {process!r}")
            va = found
        space = process.address_space
        tables = space.tables_needed(va, size)
        if tables > self.pages.info().nfree:
            raise _error(errno.ENOMEM, f"{tables} page tables needed; too few free pages")
        self._attach(process, shmid, r, va, readonly)
        return va

    def _attach(self, process: Process, shmid: int, r: _Region, va: int, readonly: bool) -> None:
        process.address_space.map_pages(va, r.pages, self._perms(readonly))
        process.shm_attachments[va] = ShmAttachment(self, shmid, len(r.pages) * PAGE_SIZE, readonly)
        r.users.append((process, va))
        r.lpid = process.pid
        r.atime = self._clock()

    def inherit(self, parent: Process, child: Process, va: int) -> None:
        """fork: the child gets the parent's attachment at ``va`` (shm_nattch + 1).

        :meth:`Process.fork <mmaccel.sw.process.Process.fork>` calls it for each attachment.
        """
        a = parent.shm_attachments[va]
        r = self._regions[a.shmid]
        assert r is not None
        self._attach(child, a.shmid, r, va, a.readonly)

    def shmdt(self, process: Process, addr: int) -> None:
        """Detach the segment attached at ``addr``; the last detach of a removed one frees it.

        Raises
        ------
        ShmError
            EINVAL: no segment of this manager is attached at ``addr``.
        """
        a = process.shm_attachments.get(addr) if isinstance(addr, int) else None
        if a is None or a.shm is not self:
            raise _error(errno.EINVAL, f"no shm segment attached at {addr!r} in {process!r}")
        r = self._regions[a.shmid]
        assert r is not None
        process.address_space.unmap(addr, a.size)
        del process.shm_attachments[addr]
        r.users.remove((process, addr))
        r.lpid = process.pid
        r.dtime = self._clock()
        if not r.users and r.removed:
            self._destroy(a.shmid)

    def shmctl(
        self, process: Process, shmid: int, cmd: int, buf: ShmidDs | None = None
    ) -> ShmidDs | None:
        """IPC_STAT (returns the ShmidDs), IPC_SET (uid, gid, mode from ``buf``), IPC_RMID.

        IPC_RMID destroys the segment now if nothing is attached, else marks it: its key is
        forgotten and the last shmdt destroys it.

        Raises
        ------
        ShmError
            EINVAL: bad shmid or cmd, IPC_SET without a ShmidDs; EACCES: IPC_STAT without
            read permission; EPERM: IPC_SET / IPC_RMID by neither owner, creator nor root.
        """
        r = self._region(shmid, allow_removed=True)
        if cmd == IPC_STAT:
            if not self._granted(process, r) & 4:
                raise _error(errno.EACCES, f"mode {r.mode:#o} of segment {shmid} refuses read")
            return ShmidDs(
                IpcPerm(IPC_PRIVATE if r.removed else r.key, r.uid, r.gid, r.cuid, r.cgid, r.mode),
                r.segsz,
                r.lpid,
                r.cpid,
                len(r.users),
                r.atime,
                r.dtime,
                r.ctime,
            )
        if cmd not in (IPC_SET, IPC_RMID):
            raise _error(errno.EINVAL, f"unknown shmctl command {cmd!r}")
        if cmd == IPC_SET and not isinstance(buf, ShmidDs):
            raise _error(errno.EINVAL, f"IPC_SET needs a ShmidDs, not {buf!r}")
        if not self._owner(process, r):
            raise _error(errno.EPERM, f"uid {process.uid} owns neither segment {shmid} nor is root")
        if cmd == IPC_SET:
            assert buf is not None
            r.uid, r.gid = buf.shm_perm.uid, buf.shm_perm.gid
            r.mode = buf.shm_perm.mode & _MODE
            r.ctime = self._clock()
        elif r.users:
            r.removed = True
            r.ctime = self._clock()
        else:
            self._destroy(shmid)
        return None

    # -- invariants -----------------------------------------------------------------------------

    def check(self) -> None:
        """Every attachment maps exactly its segment's pages (AssertionError if not)."""
        for shmid, r in enumerate(self._regions):
            if r is None:
                continue
            if len(r.pages) != (r.segsz + PAGE_SIZE - 1) >> PAGE_SHIFT:
                raise AssertionError(f"segment {shmid}: {len(r.pages)} pages for {r.segsz} bytes")
            for proc, va in r.users:
                a = proc.shm_attachments.get(va)
                if a is None or a.shm is not self or a.shmid != shmid:
                    raise AssertionError(f"segment {shmid}: attachment at {va:#x} lost")
                for i, p in enumerate(r.pages):
                    m = proc.address_space.lookup(va + i * PAGE_SIZE)
                    if m is None or m.pa != p or m.flags != PteFlags.V | self._perms(a.readonly):
                        raise AssertionError(f"segment {shmid} page {i} at {va:#x}: {m}")
