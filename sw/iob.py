"""NuttX's I/O buffer pool (mm/iob, include/nuttx/mm/iob.h), thread-safe, in physical memory.

A pool of ``nbuffers`` buffers of ``bufsize`` data bytes, laid out one after another from
``base`` in :class:`~mmaccel.sw.memory.PhysicalMemory`. Each buffer is NuttX's ``struct iob_s``
with 32-bit links::

    +0  io_flink   u32  address of the next buffer in the chain (or free list); NIL ends it
    +4  io_len     u16  bytes of data in this buffer
    +6  io_offset  u16  where the data starts in io_data
    +8  io_pktlen  u32  length of the whole packet (valid in the head of a chain)
    +12 io_data    bufsize bytes

padded to a multiple of 4 bytes (:attr:`IobPool.stride`). The free list is linked through
``io_flink`` in memory, LIFO, filled by pushing buffers 0 .. N-1, so buffer N-1 goes out first.
Python code holds buffers through :class:`Iob` handles, views on that memory.

Blocking: :meth:`IobPool.alloc` waits for a buffer (NuttX's ``iob_alloc``; with a timeout it is
``iob_timedalloc``), :meth:`IobPool.tryalloc` never waits. A buffer freed while callers wait goes
to the longest waiter that may take it (FIFO; a throttled waiter only when the pool would still
keep its ``throttle`` reserve) and never back to the free list, as NuttX's committed list does.
Every method is thread-safe (one lock per pool; waits release it).

Errors (NuttX returns negated errno values; here):

==========================  ====================================================================
situation                   result
==========================  ====================================================================
no buffer for alloc         ``alloc``/``tryalloc`` return None (like malloc)
-ENOMEM in copyin, clone,   raise :class:`~mmaccel.sw.errors.IobNoMemory` (``errno`` 12); the
add_queue                   chain and queue are left exactly as before
-ESPIPE (copyin offset      raise :class:`~mmaccel.sw.errors.IobSeekError` (``errno`` 29)
past the packet)
-ENOSPC (contig longer      raise :class:`~mmaccel.sw.errors.IobNoSpace` (``errno`` 28)
than the packet)
a buffer that is not        raise :class:`~mmaccel.sw.errors.InvalidPointer` (``DoubleFree``
allocated                   for a free of a free buffer)
free or queue a chain that  raise :class:`~mmaccel.sw.errors.InvalidArgument` (NuttX does not
is in a queue               check and corrupts the queue)
==========================  ====================================================================

Departures from NuttX 10.2.0: ``copyin``/``trycopyin``/``clone`` take every buffer they need
before writing anything, so a failure changes nothing (NuttX leaves a partly extended chain);
``clone`` sets ``io_len`` of the buffers it fills (10.2.0 forgets to); ``reserve`` is the one of
later NuttX (10.2.0 has none); bad arguments that NuttX only DEBUGASSERTs raise.
"""

from __future__ import annotations

import struct
import threading
import time
from collections import deque
from collections.abc import Iterator

from .errors import (
    DoubleFree,
    InvalidArgument,
    InvalidPointer,
    IobNoMemory,
    IobNoSpace,
    IobSeekError,
)
from .memory import PhysicalMemory

__all__ = ["IOB_HEADER", "NIL", "Iob", "IobPool", "IobQueue"]

#: Bytes of header before io_data.
IOB_HEADER = 12
#: End of a chain or list.
NIL = 0xFFFF_FFFF

_HDR = struct.Struct("<IHHI")


class Iob:
    """A handle on one I/O buffer of an :class:`IobPool` (equal handles = same buffer).

    The fields are read from physical memory on every access.
    """

    __slots__ = ("addr", "index", "pool")

    def __init__(self, pool: IobPool, index: int) -> None:
        self.pool = pool
        self.index = index
        self.addr = pool.base + index * pool.stride

    def __repr__(self) -> str:
        flink, length, offset, pktlen = self.pool._hdr(self.index)
        nxt = "None" if flink == NIL else f"{flink:#x}"
        return (
            f"Iob(#{self.index} at {self.addr:#x}, io_len={length}, io_offset={offset}, "
            f"io_pktlen={pktlen}, io_flink={nxt})"
        )

    @property
    def io_flink(self) -> Iob | None:
        """The next buffer of the chain, or None."""
        return self.pool._handle_at(self.pool._hdr(self.index)[0])

    @property
    def io_len(self) -> int:
        """Bytes of data in this buffer."""
        return self.pool._hdr(self.index)[1]

    @property
    def io_offset(self) -> int:
        """Offset of the first data byte in io_data."""
        return self.pool._hdr(self.index)[2]

    @property
    def io_pktlen(self) -> int:
        """Packet length (meaningful in the head of a chain)."""
        return self.pool._hdr(self.index)[3]

    @property
    def data_addr(self) -> int:
        """Physical address of io_data[0]."""
        return self.addr + IOB_HEADER

    def data(self) -> bytes:
        """This buffer's data bytes (io_data[io_offset : io_offset + io_len])."""
        _, length, offset, _ = self.pool._hdr(self.index)
        return self.pool.memory.read(self.data_addr + offset, length)

    def chain(self) -> Iterator[Iob]:
        """This buffer and the ones linked after it."""
        node: Iob | None = self
        while node is not None:
            yield node
            node = node.io_flink


class IobQueue:
    """NuttX's ``struct iob_queue_s``: a FIFO of buffer chains, each held in a container
    taken from the pool's container pool."""

    __slots__ = ("_entries", "pool")

    def __init__(self, pool: IobPool) -> None:
        self.pool = pool
        self._entries: deque[int] = deque()  # container numbers, head first

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"IobQueue(chains={len(self._entries)})"


class _Waiter:
    __slots__ = ("got", "throttled")

    def __init__(self, throttled: bool) -> None:
        self.throttled = throttled
        self.got: int | None = None


class IobPool:
    """NuttX's I/O buffer pool and its chain and queue operations.

    Parameters
    ----------
    memory : PhysicalMemory
        Where the buffers live.
    base : int
        Address of buffer 0 (a multiple of 4).
    nbuffers : int
        Number of buffers (CONFIG_IOB_NBUFFERS), at least 1.
    bufsize : int
        Data bytes per buffer (CONFIG_IOB_BUFSIZE), 1..65535.
    nchains : int
        Number of queue containers (CONFIG_IOB_NCHAINS).
    throttle : int
        Buffers a throttled request may not take (CONFIG_IOB_THROTTLE), below ``nbuffers``.

    Raises
    ------
    InvalidArgument
        A parameter outside those ranges, or buffers that do not fit in ``memory``.
    """

    def __init__(
        self,
        memory: PhysicalMemory,
        base: int,
        nbuffers: int,
        bufsize: int,
        *,
        nchains: int = 8,
        throttle: int = 0,
    ) -> None:
        for name, value in (
            ("base", base),
            ("nbuffers", nbuffers),
            ("bufsize", bufsize),
            ("nchains", nchains),
            ("throttle", throttle),
        ):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} must be an int, not {value!r}")
        if nbuffers < 1:
            raise InvalidArgument(f"nbuffers must be at least 1, not {nbuffers}")
        if not 0 < bufsize <= 0xFFFF:
            raise InvalidArgument(f"bufsize must be in 1..65535, not {bufsize}")
        if nchains < 0:
            raise InvalidArgument(f"nchains must not be negative, not {nchains}")
        if not 0 <= throttle < nbuffers:
            raise InvalidArgument(
                f"throttle must be in 0..nbuffers-1 ({nbuffers - 1}), not {throttle}"
            )
        if base < 0 or base % 4:
            raise InvalidArgument(f"base must be a non-negative multiple of 4, not {base:#x}")
        self.stride = (IOB_HEADER + bufsize + 3) & ~3
        if base + nbuffers * self.stride > memory.size:
            raise InvalidArgument(
                f"{nbuffers} buffers of {self.stride} bytes from {base:#x} end at "
                f"{base + nbuffers * self.stride:#x}, outside physical memory "
                f"[0, {memory.size:#x})"
            )
        self.memory = memory
        self.base = base
        self.nbuffers = nbuffers
        self.bufsize = bufsize
        self.nchains = nchains
        self.throttle = throttle
        self._handles = [Iob(self, i) for i in range(nbuffers)]
        self._inuse = [False] * nbuffers
        self._cond = threading.Condition(threading.RLock())
        self._waiters: deque[_Waiter] = deque()
        # iob_initialize: push 0 .. N-1, so N-1 is the head
        self._head = NIL
        for i in range(nbuffers):
            self._put(i, self._head, 0, 0, 0)
            self._head = self._handles[i].addr
        self._nfree = nbuffers
        # queue containers: LIFO list of container numbers; what each holds
        self._qfree = list(range(nchains))
        self._qhold: list[int | None] = [None] * nchains
        self._qwaiters: deque[_Waiter] = deque()
        #: How many times a caller has had to wait (for a buffer or a container).
        self.total_waits = 0

    def __repr__(self) -> str:
        return (
            f"IobPool(base={self.base:#x}, nbuffers={self.nbuffers}, bufsize={self.bufsize}, "
            f"free={self._nfree}, throttle={self.throttle})"
        )

    @property
    def size(self) -> int:
        """Bytes of memory the buffers take."""
        return self.nbuffers * self.stride

    # -- memory access -------------------------------------------------------------------------

    def _hdr(self, i: int) -> tuple[int, int, int, int]:
        return _HDR.unpack(self.memory.read(self.base + i * self.stride, IOB_HEADER))

    def _put(self, i: int, flink: int, length: int, offset: int, pktlen: int) -> None:
        self.memory.write(self.base + i * self.stride, _HDR.pack(flink, length, offset, pktlen))

    def _index_of_addr(self, addr: int) -> int:
        off = addr - self.base
        if off < 0 or off % self.stride or off // self.stride >= self.nbuffers:
            raise InvalidPointer(f"{addr:#x} is not the address of a buffer of this pool")
        return off // self.stride

    def _handle_at(self, addr: int) -> Iob | None:
        return None if addr == NIL else self._handles[self._index_of_addr(addr)]

    def _addr(self, i: int | None) -> int:
        return NIL if i is None else self.base + i * self.stride

    def _own(self, iob: Iob) -> int:
        if not isinstance(iob, Iob) or iob.pool is not self:
            raise InvalidPointer(f"{iob!r} is not a buffer of this pool")
        if not self._inuse[iob.index]:
            raise InvalidPointer(f"buffer #{iob.index} at {iob.addr:#x} is not allocated")
        return iob.index

    def _chain(self, iob: Iob) -> list[int]:
        """Indices of the chain from ``iob``; every buffer must be allocated, no loops."""
        out = [self._own(iob)]
        seen = {out[0]}
        nxt = self._hdr(out[0])[0]
        while nxt != NIL:
            i = self._index_of_addr(nxt)
            if i in seen:
                raise InvalidPointer(f"chain from buffer #{out[0]} loops at buffer #{i}")
            if not self._inuse[i]:
                raise InvalidPointer(f"chain from buffer #{out[0]} links free buffer #{i}")
            seen.add(i)
            out.append(i)
            nxt = self._hdr(i)[0]
        return out

    # -- allocation ----------------------------------------------------------------------------

    def _take(self, throttled: bool) -> int | None:
        limit = self.throttle if throttled else 0
        if self._nfree <= limit or self._head == NIL:
            return None
        i = self._index_of_addr(self._head)
        self._head = self._hdr(i)[0]
        self._nfree -= 1
        self._inuse[i] = True
        self._put(i, NIL, 0, 0, 0)
        return i

    def _wait(self, queue: deque[_Waiter], throttled: bool, deadline: float | None) -> int | None:
        w = _Waiter(throttled)
        queue.append(w)
        self.total_waits += 1
        while w.got is None:
            if deadline is None:
                self._cond.wait()
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                queue.remove(w)
                return None
            self._cond.wait(remaining)
        return w.got

    @staticmethod
    def _deadline(timeout: float | None) -> float | None:
        if timeout is None:
            return None
        if timeout < 0:
            raise InvalidArgument(f"timeout must not be negative, not {timeout}")
        return time.monotonic() + timeout

    def _check_obtainable(self, need: int, held: int, throttled: bool, what: str) -> None:
        """IobNoMemory at once when ``need`` more buffers can never be had at one time: the
        pool minus the ``held`` buffers of the request's own chains (and, throttled, minus
        the throttle reserve) is smaller, so waiting would never end."""
        most = self.nbuffers - held - (self.throttle if throttled else 0)
        if need > most:
            raise IobNoMemory(
                f"{what} needs {need} more buffers, more than this pool can ever give at once "
                f"({self.nbuffers} buffers, {held} held by the request"
                + (f", {self.throttle} kept back from throttled requests" if throttled else "")
                + ")"
            )

    def _alloc(self, throttled: bool, deadline: float | None, block: bool) -> int | None:
        i = self._take(throttled)
        if i is None and block:
            i = self._wait(self._waiters, throttled, deadline)
        return i

    def alloc(self, throttled: bool = False, timeout: float | None = None) -> Iob | None:
        """iob_alloc / iob_timedalloc: a buffer, waiting until one is free.

        Returns the buffer (io_len, io_offset, io_pktlen 0, no next), or None when ``timeout``
        seconds pass first. Waiters are served in arrival order.

        Raises
        ------
        InvalidArgument
            ``timeout`` is negative.
        """
        deadline = self._deadline(timeout)
        with self._cond:
            i = self._alloc(throttled, deadline, True)
            return None if i is None else self._handles[i]

    def tryalloc(self, throttled: bool = False) -> Iob | None:
        """iob_tryalloc: the head of the free list, or None without waiting."""
        with self._cond:
            i = self._take(throttled)
            return None if i is None else self._handles[i]

    def navail(self, throttled: bool = False) -> int:
        """iob_navail: free buffers, less the throttle reserve for a throttled caller."""
        with self._cond:
            return max(0, self._nfree - (self.throttle if throttled else 0))

    def _release(self, i: int) -> None:
        """Give buffer ``i`` to the longest eligible waiter, else push it on the free list."""
        for w in self._waiters:
            if not w.throttled or self._nfree >= self.throttle:
                self._waiters.remove(w)
                self._put(i, NIL, 0, 0, 0)
                w.got = i
                self._cond.notify_all()
                return
        self._put(i, self._head, 0, 0, 0)
        self._head = self._handles[i].addr
        self._inuse[i] = False
        self._nfree += 1

    def _free_one(self, i: int) -> int | None:
        flink, length, _, pktlen = self._hdr(i)
        nxt = None
        if flink != NIL:
            nxt = self._index_of_addr(flink)
            n_flink, n_len, n_off, _ = self._hdr(nxt)
            self._put(nxt, n_flink, n_len, n_off, pktlen - length if pktlen > length else 0)
        self._release(i)
        return nxt

    def free(self, iob: Iob) -> Iob | None:
        """iob_free: free one buffer, returning the next of its chain (which gets the packet
        length less this buffer's data).

        Raises
        ------
        DoubleFree
            The buffer is already free.
        """
        with self._cond:
            if isinstance(iob, Iob) and iob.pool is self and not self._inuse[iob.index]:
                raise DoubleFree(f"free of buffer #{iob.index} at {iob.addr:#x}: already free")
            i = self._own(iob)
            self._not_queued(i)
            nxt = self._free_one(i)
            return None if nxt is None else self._handles[nxt]

    def free_chain(self, iob: Iob | None) -> None:
        """iob_free_chain: free every buffer of the chain (None is ignored)."""
        if iob is None:
            return
        with self._cond:
            chain = self._chain(iob)
            self._not_queued(*chain)
            for i in chain:
                self._free_one(i)

    # -- data ----------------------------------------------------------------------------------

    def _copyin(
        self,
        iob: Iob,
        data: bytes | bytearray | memoryview,
        offset: int,
        throttled: bool,
        block: bool,
        timeout: float | None,
    ) -> int:
        deadline = self._deadline(timeout)
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"copyin data must be bytes-like, not {data!r}")
        if not isinstance(offset, int) or isinstance(offset, bool):
            raise TypeError(f"offset must be an int, not {offset!r}")
        if offset < 0:
            raise InvalidArgument(f"offset must not be negative, not {offset}")
        src = bytes(data)
        with self._cond:
            chain = self._chain(iob)
            hdrs = [list(self._hdr(i)) for i in chain]
            head_pktlen = hdrs[0][3]
            total = sum(h[1] for h in hdrs)
            if offset > head_pktlen or offset > total:
                raise IobSeekError(
                    f"copyin offset {offset} is past the end of the packet "
                    f"({min(head_pktlen, total)} bytes)"
                )
            last = hdrs[-1]
            extra = max(0, offset + len(src) - total)
            extra -= min(extra, self.bufsize - last[2] - last[1])
            need = -(-extra // self.bufsize)
            self._check_obtainable(need, len(chain), throttled, f"copyin of {len(src)} bytes")
            fresh: list[int] = []
            for _ in range(need):
                got = self._alloc(throttled, deadline, block)
                if got is None:
                    for j in reversed(fresh):
                        self._release(j)
                    raise IobNoMemory(
                        f"copyin of {len(src)} bytes needs {need} more buffers; got {len(fresh)}"
                    )
                fresh.append(got)
            # NuttX's walk, with the new buffers taken from `fresh`
            k = 0
            off = offset
            while off > hdrs[k][1]:
                off -= hdrs[k][1]
                k += 1
            pos = 0
            remaining = len(src)
            while remaining > 0:
                h = hdrs[k]
                has_next = k + 1 < len(hdrs)
                avail = h[1] - off
                if remaining > avail:
                    if has_next:
                        ncopy = avail
                    else:
                        newlen = min(remaining + off, self.bufsize - h[2])
                        hdrs[0][3] += newlen - h[1]
                        h[1] = newlen
                        ncopy = newlen - off
                else:
                    ncopy = remaining
                start = self._handles[chain[k]].data_addr + h[2] + off
                self.memory.write(start, src[pos : pos + ncopy])
                pos += ncopy
                remaining -= ncopy
                if remaining > 0 and not has_next:
                    j = fresh.pop(0)
                    h[0] = self._addr(j)
                    chain.append(j)
                    hdrs.append([NIL, 0, 0, 0])
                k += 1
                off = 0
            for i, h in zip(chain, hdrs, strict=True):
                self._put(i, *h)
            for j in fresh:  # none are left when the count above is right
                self._release(j)
            return len(src)

    def copyin(
        self,
        iob: Iob,
        data: bytes | bytearray | memoryview,
        offset: int = 0,
        throttled: bool = False,
        timeout: float | None = None,
    ) -> int:
        """iob_copyin: write ``data`` at ``offset`` of the packet, extending the chain.

        Overwrites data already there; grows only the last buffer and adds buffers after it,
        waiting for them (at most ``timeout`` seconds overall). Returns ``len(data)``.

        Raises
        ------
        IobSeekError
            ``offset`` is past the end of the packet (-ESPIPE).
        IobNoMemory
            The buffers did not come in time, or the pool can never give that many at once
            (raised at once, without waiting) (-ENOMEM); nothing was changed.
        InvalidPointer
            ``iob`` (or a buffer of its chain) is not allocated.
        """
        return self._copyin(iob, data, offset, throttled, True, timeout)

    def trycopyin(
        self,
        iob: Iob,
        data: bytes | bytearray | memoryview,
        offset: int = 0,
        throttled: bool = False,
    ) -> int:
        """iob_trycopyin: :meth:`copyin` without waiting; -ENOMEM raises IobNoMemory at once."""
        return self._copyin(iob, data, offset, throttled, False, None)

    def copyout(self, iob: Iob, n: int, offset: int = 0) -> bytes:
        """iob_copyout: up to ``n`` bytes of the packet from ``offset`` (fewer at its end)."""
        if n < 0 or offset < 0:
            raise InvalidArgument(f"copyout length and offset must not be negative: {n}, {offset}")
        with self._cond:
            chain = self._chain(iob)
            out = bytearray()
            k = 0
            hdr = self._hdr(chain[0])
            while offset >= hdr[1]:
                offset -= hdr[1]
                k += 1
                if k == len(chain):
                    return b""
                hdr = self._hdr(chain[k])
            while k < len(chain) and len(out) < n:
                hdr = self._hdr(chain[k])
                ncopy = min(hdr[1] - offset, n - len(out))
                out += self.memory.read(self._handles[chain[k]].data_addr + hdr[2] + offset, ncopy)
                k += 1
                offset = 0
            return bytes(out)

    def trimhead(self, iob: Iob, n: int) -> Iob | None:
        """iob_trimhead: drop ``n`` bytes from the front, freeing emptied buffers.

        Keeps at least one (emptied, offset reset) buffer; returns the new head.
        """
        if n < 0:
            raise InvalidArgument(f"trim length must not be negative, not {n}")
        with self._cond:
            chain = self._chain(iob)
            if n == 0:
                return iob
            pktlen = self._hdr(chain[0])[3]
            k = 0
            while n > 0:
                flink, length, offset, pkt = self._hdr(chain[k])
                if length <= n:
                    pktlen -= length
                    n -= length
                    if flink == NIL:
                        self._put(chain[k], flink, 0, 0, pkt)
                        break
                    self._free_one(chain[k])
                    k += 1
                else:
                    pktlen -= n
                    self._put(chain[k], flink, length - n, offset + n, pkt)
                    n = 0
            flink, length, offset, _ = self._hdr(chain[k])
            self._put(chain[k], flink, length, offset, max(pktlen, 0))
            return self._handles[chain[k]]

    def trimtail(self, iob: Iob, n: int) -> Iob | None:
        """iob_trimtail: drop ``n`` bytes from the end, freeing emptied buffers.

        Returns the head, or None when the whole chain was freed.
        """
        if n < 0:
            raise InvalidArgument(f"trim length must not be negative, not {n}")
        with self._cond:
            chain = self._chain(iob)
            head = chain[0]
            while n > 0:
                last = chain[-1]
                flink, length, offset, pkt = self._hdr(last)
                hf, hl, ho, hp = self._hdr(head)
                if length <= n:
                    self._put(head, hf, hl, ho, hp - length)
                    n -= length
                    flink, _, offset, pkt = self._hdr(last)
                    self._put(last, flink, 0, offset, pkt)
                    self._free_one(last)
                    chain.pop()
                    if not chain:
                        return None
                    _, pl, po, pp = self._hdr(chain[-1])
                    self._put(chain[-1], NIL, pl, po, pp)
                else:
                    self._put(head, hf, hl, ho, hp - n)
                    flink, length, offset, pkt = self._hdr(last)
                    self._put(last, flink, length - n, offset, pkt)
                    n = 0
            return self._handles[head]

    def concat(self, iob1: Iob, iob2: Iob) -> None:
        """iob_concat: append chain ``iob2`` to chain ``iob1`` (packet lengths add)."""
        with self._cond:
            c1 = self._chain(iob1)
            c2 = self._chain(iob2)
            if set(c1) & set(c2):
                raise InvalidArgument(f"concat of chains #{c1[0]} and #{c2[0]} that share buffers")
            f1, l1, o1, p1 = self._hdr(c1[0])
            f2, l2, o2, p2 = self._hdr(c2[0])
            self._put(c1[0], f1, l1, o1, p1 + p2)
            self._put(c2[0], f2, l2, o2, 0)
            _, ll, lo, lp = self._hdr(c1[-1])
            self._put(c1[-1], self._addr(c2[0]), ll, lo, lp)

    def pack(self, iob: Iob) -> Iob | None:
        """iob_pack: move all data to offset 0 and fill every buffer but the last; free the
        emptied ones. Returns the new head, or None if the chain held no data at all."""
        with self._cond:
            chain = self._chain(iob)
            k = 0
            while self._hdr(chain[k])[1] == 0:
                self._free_one(chain[k])
                k += 1
                if k == len(chain):
                    return None
            head = chain[k]
            cur = head
            while True:
                flink, length, offset, pkt = self._hdr(cur)
                data = self._handles[cur].data_addr
                if offset > 0:
                    self.memory.move(data, data + offset, length)
                    offset = 0
                    self._put(cur, flink, length, 0, pkt)
                if flink == NIL:
                    break
                nxt = self._index_of_addr(flink)
                nf, nl, no, np_ = self._hdr(nxt)
                ncopy = min(nl, self.bufsize - length)
                if ncopy > 0:
                    self.memory.move(data + length, self._handles[nxt].data_addr + no, ncopy)
                    length += ncopy
                    nl -= ncopy
                    no += ncopy
                    self._put(cur, flink, length, 0, pkt)
                    self._put(nxt, nf, nl, no, np_)
                if nl == 0:
                    after = self._free_one(nxt)
                    self._put(cur, self._addr(after), length, 0, pkt)
                    if after is None:
                        break
                    nxt = after
                cur = nxt
            return self._handles[head]

    def contig(self, iob: Iob, n: int) -> None:
        """iob_contig: make the first ``n`` bytes of the packet contiguous in the head buffer.

        Raises
        ------
        InvalidArgument
            ``n`` exceeds ``bufsize`` (NuttX asserts).
        IobNoSpace
            ``n`` exceeds the packet length (-ENOSPC); nothing is changed.
        """
        if not 0 <= n <= self.bufsize:
            raise InvalidArgument(f"contig length must be in 0..{self.bufsize}, not {n}")
        with self._cond:
            chain = self._chain(iob)
            head = chain[0]
            flink, length, offset, pkt = self._hdr(head)
            if n <= length:
                return
            held = sum(self._hdr(i)[1] for i in chain)
            if n > pkt or n > held:
                raise IobNoSpace(f"contig of {n} bytes: the packet holds only {min(pkt, held)}")
            data = self._handles[head].data_addr
            if offset > 0:
                self.memory.move(data, data + offset, length)
                offset = 0
            while n > length:
                nxt = self._index_of_addr(flink)
                nf, nl, no, np_ = self._hdr(nxt)
                ncopy = min(n - length, nl)
                self.memory.move(data + length, self._handles[nxt].data_addr + no, ncopy)
                length += ncopy
                self._put(nxt, nf, nl - ncopy, no + ncopy, np_)
                if nl - ncopy == 0:
                    after = self._free_one(nxt)
                    flink = self._addr(after)
            self._put(head, flink, length, offset, pkt)

    def reserve(self, iob: Iob, n: int) -> None:
        """iob_reserve (later NuttX): set the head room to ``n`` bytes by moving io_offset.

        The data end stays where it is: raising the offset drops data from the front, lowering
        it exposes bytes before the data again; io_pktlen follows. Reservations above
        ``bufsize`` carry on into the following buffers.
        """
        if n < 0:
            raise InvalidArgument(f"reserve length must not be negative, not {n}")
        with self._cond:
            chain = self._chain(iob)
            head = chain[0]
            for i in chain:
                if n <= 0:
                    break
                offset = min(n, self.bufsize)
                flink, length, old, pkt = self._hdr(i)
                trim = offset - old
                if length - trim < 0:
                    trim = length
                hf, hl, ho, hp = self._hdr(head)
                self._put(head, hf, hl, ho, hp - trim)
                flink, length, old, pkt = self._hdr(i)
                self._put(i, flink, length - trim, offset, pkt)
                n -= offset

    def clone(
        self,
        iob1: Iob,
        iob2: Iob,
        throttled: bool = False,
        timeout: float | None = None,
    ) -> None:
        """iob_clone: copy chain ``iob1``, packed, into the empty buffer ``iob2``.

        Takes the extra buffers it needs (waiting at most ``timeout`` seconds) before copying.

        Raises
        ------
        InvalidArgument
            ``iob2`` is not an empty, unchained buffer, or is part of ``iob1``.
        IobNoMemory
            The extra buffers did not come in time; nothing was changed.
        """
        deadline = self._deadline(timeout)
        with self._cond:
            c1 = self._chain(iob1)
            i2 = self._own(iob2)
            if i2 in c1 or self._hdr(i2) != (NIL, 0, 0, 0):
                raise InvalidArgument(
                    f"clone destination #{i2} must be an empty buffer outside the source chain"
                )
            hdrs = [self._hdr(i) for i in c1]
            total = sum(h[1] for h in hdrs)
            need = max(0, -(-total // self.bufsize) - 1)
            self._check_obtainable(need, len(c1) + 1, throttled, f"clone of {total} bytes")
            fresh: list[int] = []
            for _ in range(need):
                got = self._alloc(throttled, deadline, True)
                if got is None:
                    for j in reversed(fresh):
                        self._release(j)
                    raise IobNoMemory(f"clone of {total} bytes needs {need} more buffers")
                fresh.append(got)
            data = bytearray()
            for i, h in zip(c1, hdrs, strict=True):
                data += self.memory.read(self._handles[i].data_addr + h[2], h[1])
            dest = [i2, *fresh]
            for k, i in enumerate(dest):
                piece = data[k * self.bufsize : (k + 1) * self.bufsize]
                self.memory.write(self._handles[i].data_addr, piece)
                nxt = self._addr(dest[k + 1]) if k + 1 < len(dest) else NIL
                self._put(i, nxt, len(piece), 0, hdrs[0][3] if k == 0 else 0)

    # -- queues --------------------------------------------------------------------------------

    def queue(self) -> IobQueue:
        """A new, empty queue of chains using this pool's containers."""
        return IobQueue(self)

    def qentry_navail(self) -> int:
        """iob_qentry_navail: free queue containers."""
        with self._cond:
            return len(self._qfree)

    def _not_queued(self, *indices: int) -> None:
        queued = {h for h in self._qhold if h is not None}
        for i in indices:
            if i in queued:
                raise InvalidArgument(
                    f"buffer #{i} heads a chain in a queue; remove it from the queue first"
                )

    def _own_queue(self, q: IobQueue) -> None:
        if not isinstance(q, IobQueue) or q.pool is not self:
            raise InvalidArgument(f"{q!r} is not a queue of this pool")

    def _qrelease(self, c: int) -> None:
        self._qhold[c] = None
        if self._qwaiters:
            w = self._qwaiters.popleft()
            w.got = c
            self._cond.notify_all()
            return
        self._qfree.append(c)

    def _add_queue(self, iob: Iob, q: IobQueue, block: bool, timeout: float | None) -> None:
        deadline = self._deadline(timeout)
        self._own_queue(q)
        with self._cond:
            head = self._own(iob)
            self._not_queued(head)
            c: int | None = self._qfree.pop() if self._qfree else None
            if c is None and block:
                c = self._wait(self._qwaiters, False, deadline)
            if c is None:
                raise IobNoMemory("no free queue container")
            self._qhold[c] = head
            q._entries.append(c)

    def add_queue(self, iob: Iob, q: IobQueue, timeout: float | None = None) -> None:
        """iob_add_queue: append chain ``iob`` to ``q``, waiting for a container.

        Raises
        ------
        IobNoMemory
            No container came within ``timeout`` seconds (-ENOMEM); ``q`` is unchanged.
        """
        self._add_queue(iob, q, True, timeout)

    def tryadd_queue(self, iob: Iob, q: IobQueue) -> None:
        """iob_tryadd_queue: :meth:`add_queue` without waiting (IobNoMemory at once)."""
        self._add_queue(iob, q, False, None)

    def remove_queue(self, q: IobQueue) -> Iob | None:
        """iob_remove_queue: take the chain at the head of ``q`` (None if empty)."""
        self._own_queue(q)
        with self._cond:
            if not q._entries:
                return None
            c = q._entries.popleft()
            head = self._qhold[c]
            assert head is not None
            self._qrelease(c)
            return self._handles[head]

    def peek_queue(self, q: IobQueue) -> Iob | None:
        """iob_peek_queue: the chain at the head of ``q``, left in place (None if empty)."""
        self._own_queue(q)
        with self._cond:
            if not q._entries:
                return None
            head = self._qhold[q._entries[0]]
            return None if head is None else self._handles[head]

    def free_queue(self, q: IobQueue) -> None:
        """iob_free_queue: free every chain of ``q`` and its containers."""
        self._own_queue(q)
        with self._cond:
            while q._entries:
                c = q._entries.popleft()
                head = self._qhold[c]
                self._qrelease(c)
                if head is not None:
                    self.free_chain(self._handles[head])

    # -- state ---------------------------------------------------------------------------------

    def chain_at(self, addr: int) -> Iob:
        """The handle of the buffer at ``addr`` (InvalidPointer if there is none)."""
        return self._handles[self._index_of_addr(addr)]

    def waiting(self) -> int:
        """Callers blocked in :meth:`alloc` (or a blocking copyin/clone) right now."""
        with self._cond:
            return len(self._waiters)

    def in_use(self) -> int:
        """Buffers allocated (including those handed to waiters)."""
        with self._cond:
            return self.nbuffers - self._nfree

    def check(self) -> None:
        """Walk the free list in memory and check it against the pool's counts.

        Checks: the free list is acyclic, made of this pool's buffers, none marked allocated,
        as long as the free count; allocated + free = nbuffers; waiters wait only when they
        must (an unthrottled waiter only on an empty pool, a throttled one only while the
        throttle reserve is not exceeded); containers are free or hold exactly one chain.

        Raises
        ------
        AssertionError
            An invariant does not hold.
        """
        with self._cond:
            seen: set[int] = set()
            addr = self._head
            while addr != NIL:
                try:
                    i = self._index_of_addr(addr)
                except InvalidPointer as e:
                    raise AssertionError(f"free list holds a bad link: {e}") from None
                if i in seen:
                    raise AssertionError(f"free list loops at buffer #{i}")
                if self._inuse[i]:
                    raise AssertionError(f"buffer #{i} is on the free list and allocated")
                seen.add(i)
                addr = self._hdr(i)[0]
            if len(seen) != self._nfree:
                raise AssertionError(
                    f"{len(seen)} buffers on the free list, free count says {self._nfree}"
                )
            used = sum(self._inuse)
            if used + self._nfree != self.nbuffers:
                raise AssertionError(
                    f"{used} allocated + {self._nfree} free != {self.nbuffers} buffers"
                )
            for w in self._waiters:
                limit = self.throttle if w.throttled else 0
                if self._nfree > limit:
                    raise AssertionError(
                        f"a {'throttled' if w.throttled else 'plain'} caller waits while "
                        f"{self._nfree} buffers are free"
                    )
            held = [c for c, h in enumerate(self._qhold) if h is not None]
            if len(held) + len(self._qfree) != self.nchains or set(held) & set(self._qfree):
                raise AssertionError(
                    f"{len(held)} containers in use + {len(self._qfree)} free != {self.nchains}"
                )
            for c in held:
                h = self._qhold[c]
                assert h is not None
                if not self._inuse[h]:
                    raise AssertionError(f"container {c} holds free buffer #{h}")
