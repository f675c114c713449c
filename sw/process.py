"""Processes: an address space with anonymous mmap regions and shm attachments.

:class:`Process` implements ``mmap``, ``munmap`` and ``mprotect`` (BitThunder lists them as
"to be implemented") for anonymous memory, with Linux's flag values and errno. Choices made
(see docs/vm.md):

- pages are allocated, zero-filled and mapped at once (no demand paging, so an access to an
  unmapped page is a page fault, not a fill);
- ``PROT_WRITE`` implies read (W without R is reserved in Sv32); ``PROT_NONE`` leaves the PTE
  invalid but keeps the page;
- an address hint is used when the range is free, else the lowest free range in
  ``MMAP_BASE .. MMAP_END``;
- ``MAP_FIXED`` replaces mmap regions in the way but refuses (EEXIST) to replace mappings mmap
  did not make (shm attachments, direct ``map()`` calls); ``munmap`` removes only mmap regions;
- ``fork`` copies private pages and shares ``MAP_SHARED`` pages (per-page reference counts; a
  page returns to the allocator when its last mapping goes).

A process knows its shm attachments (:class:`ShmAttachment`) only through the
:class:`ShmManager` protocol: :class:`~mmaccel.sw.shm.SharedMemory` creates and removes them,
and ``fork`` and ``exit`` call back into it. So :mod:`mmaccel.sw.shm` builds on this module and
this module does not import it.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import Protocol

from .errors import InvalidArgument, MmapError
from .sv32 import MEGAPAGE_SIZE, PAGE_SHIFT, PAGE_SIZE, PteFlags
from .vm import (
    KERNEL_BASE,
    MMAP_BASE,
    MMAP_END,
    AddressSpace,
    OutOfMemory,
    int_arg,
    pages_for,
)

__all__ = [
    "MAP_ANONYMOUS",
    "MAP_FIXED",
    "MAP_PRIVATE",
    "MAP_SHARED",
    "PROT_EXEC",
    "PROT_NONE",
    "PROT_READ",
    "PROT_WRITE",
    "MmapError",
    "Process",
    "Region",
    "ShmAttachment",
    "ShmManager",
    "prot_to_pte",
]

# mmap / mprotect values (Linux, as in <sys/mman.h>).
PROT_NONE = 0
PROT_READ = 1
PROT_WRITE = 2
PROT_EXEC = 4
MAP_SHARED = 0x01
MAP_PRIVATE = 0x02
MAP_FIXED = 0x10
MAP_ANONYMOUS = 0x20
_MAP_KNOWN = MAP_SHARED | MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS


@dataclass(frozen=True, slots=True)
class Region:
    """An mmap region of a process, as :meth:`Process.regions` reports it."""

    start: int
    size: int
    prot: int
    flags: int
    frames: tuple[int, ...]


def prot_to_pte(prot: int) -> PteFlags:
    """PTE flags for an mmap protection (user page; A set, D set when writable).

    ``PROT_WRITE`` implies read (W without R is reserved in Sv32); ``PROT_NONE`` has no PTE
    (the page is left invalid), so it is an error here.
    """
    if prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC) or prot == PROT_NONE:
        raise InvalidArgument(f"prot {prot:#x} has no PTE form")
    f = PteFlags.V | PteFlags.U | PteFlags.A
    if prot & (PROT_READ | PROT_WRITE):
        f |= PteFlags.R
    if prot & PROT_WRITE:
        f |= PteFlags.W | PteFlags.D
    if prot & PROT_EXEC:
        f |= PteFlags.X
    return f


class ShmManager(Protocol):
    """What a :class:`Process` needs of the manager of its shm attachments.

    :class:`~mmaccel.sw.shm.SharedMemory` is the one implementation.
    """

    def shmdt(self, process: Process, addr: int) -> None:
        """Detach the segment attached at ``addr`` (``exit`` calls it for each attachment)."""
        ...

    def inherit(self, parent: Process, child: Process, va: int) -> None:
        """Give ``child`` the parent's attachment at ``va`` (``fork`` calls it)."""
        ...


@dataclass(slots=True)
class ShmAttachment:
    """One shm segment attached to a process, as :attr:`Process.shm_attachments` holds it.

    Attributes
    ----------
    shm : ShmManager
        The manager that attached it (a :class:`~mmaccel.sw.shm.SharedMemory`).
    shmid : int
        The segment's id in that manager.
    size : int
        Bytes mapped: the segment's size rounded up to whole pages.
    readonly : bool
        Attached with ``SHM_RDONLY`` (the pages are mapped without W).
    """

    shm: ShmManager
    shmid: int
    size: int
    readonly: bool


class _Anon:
    """Backing pages of anonymous mappings, with a per-page count of mapping processes."""

    __slots__ = ("frames", "refs")

    def __init__(self, frames: list[int]) -> None:
        self.frames = frames
        self.refs = [1] * len(frames)


class _Vma:
    __slots__ = ("flags", "npages", "obj", "offset", "prot", "start")

    def __init__(self, start: int, npages: int, prot: int, flags: int, obj: _Anon, offset: int):
        self.start = start
        self.npages = npages
        self.prot = prot
        self.flags = flags
        self.obj = obj
        self.offset = offset

    @property
    def end(self) -> int:
        return self.start + self.npages * PAGE_SIZE

    def frame(self, va: int) -> int:
        return self.obj.frames[self.offset + ((va - self.start) >> PAGE_SHIFT)]

    def piece(self, lo: int, hi: int) -> _Vma:
        return _Vma(
            lo,
            (hi - lo) >> PAGE_SHIFT,
            self.prot,
            self.flags,
            self.obj,
            self.offset + ((lo - self.start) >> PAGE_SHIFT),
        )


class Process:
    """A process: a pid, an address space, its anonymous mappings and shm attachments.

    Parameters
    ----------
    pid : int
        Process id (non-negative).
    address_space : AddressSpace
        Its address space (normally created with ``kernel=`` so kernel mappings appear).
    uid, gid : int
        Credentials, checked by :class:`~mmaccel.sw.shm.SharedMemory` (0 is the superuser).

    Notes
    -----
    ``mmap`` is eager: the pages are allocated, zero-filled and mapped at once (there is no
    demand paging, so an access to an unmapped page is a page fault, not a fill).
    """

    def __init__(
        self, pid: int, address_space: AddressSpace, *, uid: int = 0, gid: int = 0
    ) -> None:
        int_arg("pid", pid)
        if pid < 0:
            raise InvalidArgument(f"pid must be non-negative, not {pid}")
        self.pid = pid
        self.address_space = address_space
        self.uid = uid
        self.gid = gid
        self._vmas: list[_Vma] = []
        #: shm attachments: va -> attachment (managed by SharedMemory)
        self.shm_attachments: dict[int, ShmAttachment] = {}

    def __repr__(self) -> str:
        return f"Process(pid={self.pid}, asid={self.address_space.asid}, regions={len(self._vmas)})"

    # -- queries --------------------------------------------------------------------------------

    def regions(self) -> list[Region]:
        """The mmap regions, by address."""
        return [
            Region(
                v.start,
                v.npages * PAGE_SIZE,
                v.prot,
                v.flags,
                tuple(v.obj.frames[v.offset : v.offset + v.npages]),
            )
            for v in sorted(self._vmas, key=lambda v: v.start)
        ]

    def anon_frames(self) -> set[int]:
        """Physical pages behind this process's mmap regions."""
        out: set[int] = set()
        for v in self._vmas:
            out.update(v.obj.frames[v.offset : v.offset + v.npages])
        return out

    def _reserved(self) -> list[tuple[int, int]]:
        busy = [(v.start, v.end) for v in self._vmas]
        busy += [(va, va + a.size) for va, a in self.shm_attachments.items()]
        return busy

    def range_is_free(self, va: int, size: int) -> bool:
        """No mapping, mmap region (even PROT_NONE) or attachment overlaps ``[va, va+size)``."""
        if va < 0 or va + size > KERNEL_BASE:
            return False
        if any(s < va + size and e > va for s, e in self._reserved()):
            return False
        return self.address_space.is_free(va, size)

    def find_free(self, size: int, lo: int, hi: int) -> int | None:
        """Lowest page-aligned va in ``[lo, hi)`` where ``size`` bytes are free."""
        return self.address_space.find_free(size, lo, hi, PAGE_SIZE, self._reserved())

    # -- mmap -----------------------------------------------------------------------------------

    def _vma_pieces(self, lo: int, hi: int) -> list[tuple[_Vma, int, int]]:
        out = []
        for v in self._vmas:
            s, e = max(v.start, lo), min(v.end, hi)
            if s < e:
                out.append((v, s, e))
        return out

    def _cut(self, lo: int, hi: int) -> int:
        """Remove ``[lo, hi)`` from the regions: unmap, drop page refs; return frames freed."""
        freed = 0
        new: list[_Vma] = []
        for v in self._vmas:
            s, e = max(v.start, lo), min(v.end, hi)
            if s >= e:
                new.append(v)
                continue
            if v.prot != PROT_NONE:
                self.address_space.unmap(s, e - s)
            first = v.offset + ((s - v.start) >> PAGE_SHIFT)
            for i in range(first, first + ((e - s) >> PAGE_SHIFT)):
                v.obj.refs[i] -= 1
                if v.obj.refs[i] == 0:
                    self.address_space.pages.free(v.obj.frames[i], 1)
                    freed += 1
            if v.start < s:
                new.append(v.piece(v.start, s))
            if e < v.end:
                new.append(v.piece(e, v.end))
        self._vmas = new
        return freed

    def _frames_freed_by_cut(self, lo: int, hi: int) -> int:
        n = 0
        for v, s, e in self._vma_pieces(lo, hi):
            first = v.offset + ((s - v.start) >> PAGE_SHIFT)
            n += sum(1 for i in range(first, first + ((e - s) >> PAGE_SHIFT)) if v.obj.refs[i] == 1)
        return n

    def _check_len(self, addr: object, length: object) -> tuple[int, int]:
        if not isinstance(addr, int) or isinstance(addr, bool):
            raise MmapError(errno.EINVAL, f"addr must be an int, not {addr!r}")
        if not isinstance(length, int) or isinstance(length, bool) or length <= 0:
            raise MmapError(errno.EINVAL, f"length must be a positive int, not {length!r}")
        return addr, pages_for(length) * PAGE_SIZE

    def mmap(self, addr: int, length: int, prot: int, flags: int) -> int:
        """Map ``length`` bytes of anonymous zero-filled memory; return the address.

        Parameters
        ----------
        addr : int
            0 for "anywhere", else a hint (used when free; rounded down to a page) or, with
            MAP_FIXED, the exact page-aligned address.
        length : int
            Bytes (rounded up to whole pages).
        prot : int
            PROT_NONE or PROT_READ | PROT_WRITE | PROT_EXEC (write implies read).
        flags : int
            MAP_ANONYMOUS and exactly one of MAP_SHARED / MAP_PRIVATE; optionally MAP_FIXED,
            which replaces the mmap regions in the way.

        Raises
        ------
        MmapError
            EINVAL: bad length, prot or flags, an unaligned or out-of-range MAP_FIXED address;
            ENODEV: no MAP_ANONYMOUS (there are no files); EEXIST: MAP_FIXED over a mapping that
            mmap did not make (shm, kernel); ENOMEM: no free address range or too few pages.
            Nothing changes when it raises.
        """
        addr, size = self._check_len(addr, length)
        if not isinstance(prot, int) or prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC):
            raise MmapError(errno.EINVAL, f"bad prot {prot!r}")
        if not isinstance(flags, int) or flags & ~_MAP_KNOWN:
            raise MmapError(errno.EINVAL, f"unknown flags in {flags!r}")
        if bool(flags & MAP_SHARED) == bool(flags & MAP_PRIVATE):
            raise MmapError(errno.EINVAL, f"flags {flags:#x}: need one of MAP_SHARED, MAP_PRIVATE")
        if not flags & MAP_ANONYMOUS:
            raise MmapError(errno.ENODEV, "only anonymous mappings (MAP_ANONYMOUS) exist")
        space = self.address_space
        n = size >> PAGE_SHIFT
        freed = 0
        if flags & MAP_FIXED:
            if addr & (PAGE_SIZE - 1) or addr < 0 or addr + size > KERNEL_BASE:
                raise MmapError(errno.EINVAL, f"MAP_FIXED address {addr:#x} (+{size:#x}) invalid")
            va = addr
            vma_pages = {
                p for _, s, e in self._vma_pieces(va, va + size) for p in range(s, e, PAGE_SIZE)
            }
            for p in range(va, va + size, PAGE_SIZE):
                if p not in vma_pages and space.lookup(p) is not None:
                    raise MmapError(errno.EEXIST, f"MAP_FIXED over a non-mmap mapping at {p:#x}")
            if any(s < va + size and va < s + a.size for s, a in self.shm_attachments.items()):
                raise MmapError(errno.EEXIST, f"MAP_FIXED over an shm attachment near {va:#x}")
            freed = self._frames_freed_by_cut(va, va + size)
        else:
            va_hint = addr & ~(PAGE_SIZE - 1)
            if va_hint and va_hint + size <= KERNEL_BASE and self.range_is_free(va_hint, size):
                va = va_hint
            else:
                found = self.find_free(size, MMAP_BASE, MMAP_END)
                if found is None:
                    raise MmapError(errno.ENOMEM, f"no free {size:#x}-byte range for mmap")
                va = found
        tables = space.tables_needed(va, size) if prot != PROT_NONE else 0
        if n + tables > space.pages.info().nfree + freed:
            raise MmapError(errno.ENOMEM, f"{n} pages + {tables} tables needed; too few free")
        if flags & MAP_FIXED:
            self._cut(va, va + size)
        frames = []
        for _ in range(n):
            f = space.pages.alloc(1)
            assert f is not None  # counted above
            space.memory.fill(f, PAGE_SIZE)
            frames.append(f)
        vma = _Vma(
            va, n, prot, flags & (MAP_SHARED | MAP_PRIVATE | MAP_ANONYMOUS), _Anon(frames), 0
        )
        if prot != PROT_NONE:
            space.map_pages(va, frames, prot_to_pte(prot))
        self._vmas.append(vma)
        return va

    def munmap(self, addr: int, length: int) -> None:
        """Remove the mmap regions in ``[addr, addr+length)``; holes are allowed (POSIX).

        Pages no other process maps any more go back to the page allocator. Only mmap regions
        are affected (shm attachments go with :meth:`~mmaccel.sw.shm.SharedMemory.shmdt`).

        Raises
        ------
        MmapError
            EINVAL: ``addr`` not page aligned, length not positive, range outside user space.
        """
        addr, size = self._check_len(addr, length)
        if addr & (PAGE_SIZE - 1) or addr < 0 or addr + size > KERNEL_BASE:
            raise MmapError(errno.EINVAL, f"munmap of [{addr:#x}, +{size:#x}) invalid")
        self._cut(addr, addr + size)

    def mprotect(self, addr: int, length: int, prot: int) -> None:
        """Change the protection of ``[addr, addr+length)``, all of which must be mmap'ed.

        Raises
        ------
        MmapError
            EINVAL: unaligned ``addr`` or bad ``prot``; ENOMEM: a page of the range is not in
            an mmap region, or no page for a table. Nothing changes when it raises.
        """
        addr, size = self._check_len(addr, length)
        if addr & (PAGE_SIZE - 1) or addr < 0 or addr + size > KERNEL_BASE:
            raise MmapError(errno.EINVAL, f"mprotect of [{addr:#x}, +{size:#x}) invalid")
        if not isinstance(prot, int) or prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC):
            raise MmapError(errno.EINVAL, f"bad prot {prot!r}")
        pieces = self._vma_pieces(addr, addr + size)
        if sum(e - s for _, s, e in pieces) != size:
            raise MmapError(errno.ENOMEM, f"[{addr:#x}, +{size:#x}) is not wholly mmap'ed")
        space = self.address_space
        if prot != PROT_NONE:
            slots: set[int] = set()
            for v, lo, hi in pieces:
                if v.prot == PROT_NONE:
                    slots.update(range(lo >> 22, ((hi - 1) >> 22) + 1))
            need = sum(space.tables_needed(s << 22, MEGAPAGE_SIZE) for s in slots)
            if need > space.pages.info().nfree:
                raise MmapError(errno.ENOMEM, f"{need} page tables needed; too few free")
        new: list[_Vma] = []
        for v in self._vmas:
            s, e = max(v.start, addr), min(v.end, addr + size)
            if s >= e:
                new.append(v)
                continue
            mid = v.piece(s, e)
            if v.prot != PROT_NONE and prot != PROT_NONE:
                space.protect(s, e - s, prot_to_pte(prot))
            elif v.prot != PROT_NONE:
                space.unmap(s, e - s)
            elif prot != PROT_NONE:
                space.map_pages(
                    s, [mid.frame(p) for p in range(s, e, PAGE_SIZE)], prot_to_pte(prot)
                )
            mid.prot = prot
            if v.start < s:
                new.append(v.piece(v.start, s))
            new.append(mid)
            if e < v.end:
                new.append(v.piece(e, v.end))
        self._vmas = new

    # -- fork / exit ----------------------------------------------------------------------------

    def fork(self, pid: int, asid: int) -> Process:
        """A child with a new address space (same kernel): private regions are copied into new
        pages, MAP_SHARED regions share their pages, shm attachments are inherited.

        Raises
        ------
        OutOfMemory
            Too few free pages (nothing changes).
        """
        space = self.address_space
        private = sum(v.npages for v in self._vmas if v.flags & MAP_PRIVATE)
        slots: set[int] = set()
        for v in self._vmas:
            if v.prot != PROT_NONE:
                slots.update(range(v.start >> 22, ((v.end - 1) >> 22) + 1))
        for va, a in self.shm_attachments.items():
            slots.update(range(va >> 22, ((va + a.size - 1) >> 22) + 1))
        need = 1 + private + len(slots)
        if need > space.pages.info().nfree:
            raise OutOfMemory(f"fork needs {need} pages, {space.pages.info().nfree} free")
        child = Process(
            pid,
            AddressSpace(space.memory, space.pages, asid, kernel=space.kernel),
            uid=self.uid,
            gid=self.gid,
        )
        cspace = child.address_space
        for v in self._vmas:
            if v.flags & MAP_PRIVATE:
                frames = []
                for i in range(v.npages):
                    f = space.pages.alloc(1)
                    assert f is not None
                    space.memory.move(f, v.obj.frames[v.offset + i], PAGE_SIZE)
                    frames.append(f)
                cv = _Vma(v.start, v.npages, v.prot, v.flags, _Anon(frames), 0)
            else:
                cv = v.piece(v.start, v.end)
                for i in range(v.offset, v.offset + v.npages):
                    v.obj.refs[i] += 1
            if v.prot != PROT_NONE:
                cspace.map_pages(
                    v.start, cv.obj.frames[cv.offset : cv.offset + cv.npages], prot_to_pte(v.prot)
                )
            child._vmas.append(cv)
        for va, a in sorted(self.shm_attachments.items()):
            a.shm.inherit(self, child, va)
        return child

    def exit(self) -> None:
        """Unmap every region, detach every shm segment, and destroy the address space."""
        for va, a in sorted(self.shm_attachments.items()):
            a.shm.shmdt(self, va)
        for v in list(self._vmas):
            self._cut(v.start, v.end)
        self.address_space.destroy()

    def check(self) -> None:
        """Verify that every mmap page translates to its frame (AssertionError if not)."""
        space = self.address_space
        space.check()
        for v in self._vmas:
            for p in range(v.start, v.end, PAGE_SIZE):
                m = space.lookup(p)
                if v.prot == PROT_NONE:
                    if m is not None:
                        raise AssertionError(f"PROT_NONE page {p:#x} is mapped")
                    continue
                want = prot_to_pte(v.prot)
                if m is None or m.pa != v.frame(p) or m.flags != want:
                    raise AssertionError(f"mmap page {p:#x}: {m} != frame {v.frame(p):#x} {want!r}")
