"""Host driver for a board running the accelerator: the UART-to-Wishbone bridge and its clients.

Layers, bottom up:

- :class:`BridgeLink` speaks the bridge's wire protocol (``mmaccel.hdl.uart_bridge``) over any
  object with pyserial's ``read(n)`` / ``write(data)`` (a real ``serial.Serial``, or a fake port
  that a simulation feeds), and offers ``read32`` / ``write32`` at byte addresses;
- :class:`SerialGranuleAllocator` offers the methods of the model's
  :class:`~mmaccel.sw.gran.GranuleAllocator`, carried out by the allocator on the board;
- :class:`SerialMmu` loads page tables into the board's page-table memory, sets satp, flushes
  and translates, with the model's :func:`~mmaccel.sw.sv32.translate_sv32` semantics.

The board's address map (byte addresses) is ``mmaccel.boards.top.BOARD_MAP``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from mmaccel.hdl.uart_bridge import PING_MAGIC, BridgeCommand, BridgeStatus

from .errors import (
    AccessFault,
    BoardLinkError,
    GranuleRangeError,
    InvalidAlignment,
    InvalidArgument,
    MemoryManagerError,
    PageFault,
    TranslationFault,
)
from .gran import GranInfo, GranuleAllocator, GranuleAllocatorBase, PageAllocator
from .memory import PhysicalMemory
from .sv32 import (
    MEGAPAGE_SIZE,
    PAGE_SIZE,
    Access,
    FaultCause,
    Priv,
    PteFlags,
    make_pte,
    translate_sv32,
)
from .vm import AddressSpace

_ACCESS_FAULTS = frozenset(
    {
        FaultCause.INSTRUCTION_ACCESS_FAULT,
        FaultCause.LOAD_ACCESS_FAULT,
        FaultCause.STORE_ACCESS_FAULT,
    }
)

__all__ = [
    "BoardInfo",
    "BridgeLink",
    "SerialGranuleAllocator",
    "SerialMmu",
    "SerialPort",
    "gfa_selftest",
    "mmu_selftest",
    "open_serial",
    "read_board_info",
    "selftest",
]


_STATUSES = frozenset(int(s) for s in BridgeStatus)


class SerialPort(Protocol):
    """What :class:`BridgeLink` needs from a port: pyserial's blocking read and write."""

    def read(self, size: int = 1) -> bytes:
        """Up to ``size`` bytes; fewer only when the port's timeout expires."""
        ...

    def write(self, data: bytes) -> int | None:
        """Send ``data``."""
        ...


def open_serial(path: str, baud: int = 115200, timeout: float = 1.0) -> SerialPort:
    """Open a serial port with pyserial (8N1, no flow control).

    Raises
    ------
    BoardLinkError
        The port cannot be opened (the message names it).
    """
    import serial  # pyserial; imported here so the model never needs it

    try:
        port: SerialPort = serial.Serial(path, baudrate=baud, timeout=timeout)
    except (serial.SerialException, OSError, ValueError) as error:
        raise BoardLinkError(f"cannot open serial port {path!r}: {error}") from error
    return port


def _check_word_addr(addr: int) -> None:
    if not isinstance(addr, int) or isinstance(addr, bool):
        raise TypeError(f"address must be an int, not {addr!r}")
    if not 0 <= addr < 1 << 32 or addr % 4:
        raise InvalidArgument(f"address {addr:#x} is not a word-aligned 32-bit byte address")


class BridgeLink:
    """32-bit register access through the board's UART-to-Wishbone bridge.

    Parameters
    ----------
    port : SerialPort
        An open port (pyserial ``Serial`` or anything with the same ``read``/``write``).
    retries : int
        How many times a read is retried after the link lost track (no or short answer): the
        driver waits ``resync_delay`` seconds so the bridge drops any partial frame, checks the
        link with a PING, and sends the read again. Writes and accesses the board refused (bus
        error) are never retried.
    resync_delay : float
        Seconds to wait before a retry (longer than the bridge's frame timeout).

    Attributes
    ----------
    reads, writes : int
        Accesses done so far.
    """

    def __init__(self, port: SerialPort, *, retries: int = 2, resync_delay: float = 0.05) -> None:
        if retries < 0:
            raise InvalidArgument(f"retries must not be negative, not {retries}")
        self.port = port
        self.retries = retries
        self.resync_delay = resync_delay
        self.reads = 0
        self.writes = 0

    # -- frames ---------------------------------------------------------------------------------

    @staticmethod
    def read_frame(addr: int) -> bytes:
        """The bytes of a READ of the word at byte address ``addr``."""
        _check_word_addr(addr)
        return bytes([BridgeCommand.READ]) + addr.to_bytes(4, "little")

    @staticmethod
    def write_frame(addr: int, value: int) -> bytes:
        """The bytes of a WRITE of ``value`` to the word at byte address ``addr``."""
        _check_word_addr(addr)
        if not isinstance(value, int) or not 0 <= value < 1 << 32:
            raise InvalidArgument(f"value {value!r} is not a 32-bit unsigned int")
        return (
            bytes([BridgeCommand.WRITE]) + addr.to_bytes(4, "little") + value.to_bytes(4, "little")
        )

    def _receive(self, n: int, what: str) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.port.read(n - len(data))
            if not chunk:
                raise BoardLinkError(
                    f"{what}: expected {n} bytes from the board, got {len(data)} "
                    f"({data.hex() or 'nothing'}) before the port timed out"
                )
            data += chunk
        return data

    def _transact(self, frame: bytes, answer: int, what: str, retries: int) -> bytes:
        attempt = 0
        while True:
            try:
                self.port.write(frame)
                reply = self._receive(answer, what)
                if reply[0] not in _STATUSES:
                    raise BoardLinkError(f"{what}: garbled status byte {reply[0]:#04x}")
                return reply
            except BoardLinkError:
                if attempt >= retries:
                    raise
                attempt += 1
                self.resync()

    @staticmethod
    def _check_status(reply: bytes, what: str) -> None:
        status = BridgeStatus(reply[0])
        if status is not BridgeStatus.OK:
            raise BoardLinkError(f"{what}: the bridge answered {status.name}", status=status)

    # -- accesses -------------------------------------------------------------------------------

    def read32(self, addr: int) -> int:
        """Read the 32-bit word at byte address ``addr``.

        Raises
        ------
        InvalidArgument
            ``addr`` is not a word-aligned 32-bit address (nothing is sent).
        BoardLinkError
            No answer after the retries, or the bridge refused the access (``status`` says
            why: an unmapped address answers ``BUS_ERROR``).
        """
        what = f"read of {addr:#010x}" if isinstance(addr, int) else "read"
        reply = self._transact(self.read_frame(addr), 5, what, self.retries)
        self._check_status(reply, what)
        self.reads += 1
        return int.from_bytes(reply[1:5], "little")

    def write32(self, addr: int, value: int) -> None:
        """Write the 32-bit word ``value`` at byte address ``addr`` (errors as :meth:`read32`).

        A write whose answer is lost is not sent again (a register write may start an
        operation): the error is raised.
        """
        what = f"write of {addr:#010x}" if isinstance(addr, int) else "write"
        reply = self._transact(self.write_frame(addr, value), 1, what, 0)
        self._check_status(reply, what)
        self.writes += 1

    def ping(self) -> None:
        """Check that a bridge answers (raises BoardLinkError if not)."""
        self.port.write(bytes([BridgeCommand.PING]))
        reply = self._receive(5, "ping")
        magic = int.from_bytes(reply[1:5], "little")
        if reply[0] != BridgeStatus.OK or magic != PING_MAGIC:
            raise BoardLinkError(
                f"ping: unexpected answer {reply.hex()} (is this an mmaccel board?)"
            )

    def resync(self) -> None:
        """Let the bridge drop any partial frame, discard stale input, and PING it."""
        time.sleep(self.resync_delay)
        reset = getattr(self.port, "reset_input_buffer", None)
        if reset is not None:
            reset()
        self.ping()


# -- the board --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BoardInfo:
    """What the board top reports about itself (BOARD_REGMAP)."""

    granules: int
    log2gran: int
    gfa_base: int
    tlb_entries: int
    ptmem_bytes: int
    clk_hz: int

    @property
    def has_gfa(self) -> bool:
        return self.granules > 0

    @property
    def has_mmu(self) -> bool:
        return self.tlb_entries > 0


def read_board_info(link: BridgeLink, base: int | None = None) -> BoardInfo:
    """Read the board's identification registers.

    Raises
    ------
    BoardLinkError
        The ID register does not hold the mmaccel magic.
    """
    from mmaccel.boards.top import BOARD_MAP, BOARD_REGMAP

    at = BOARD_MAP["info"] if base is None else base

    def reg(name: str) -> int:
        return link.read32(at + BOARD_REGMAP[name].offset)

    ident = reg("ID")
    if ident != PING_MAGIC:
        raise BoardLinkError(f"board ID register reads {ident:#010x}, not {PING_MAGIC:#010x}")
    config = BOARD_REGMAP["CONFIG"].unpack(reg("CONFIG"))
    return BoardInfo(
        granules=reg("GRANULES"),
        log2gran=config["LOG2GRAN"],
        gfa_base=reg("GFA_BASE"),
        tlb_entries=config["TLB_ENTRIES"] if config["HAS_MMU"] else 0,
        ptmem_bytes=reg("PTMEM_BYTES"),
        clk_hz=reg("CLK_HZ"),
    )


class SerialMmu:
    """The board's MMU, used like the model: page tables in memory, satp, flush, translate.

    The page tables live in the board's page-table memory, which the walker sees at physical
    address 0; :meth:`load` copies a model :class:`~mmaccel.sw.memory.PhysicalMemory` there
    (only the words that changed since the last load).

    Parameters
    ----------
    link : BridgeLink
        The connection.
    ptmem_bytes : int
        Size of the board's page-table memory (``read_board_info(link).ptmem_bytes``).
    """

    def __init__(self, link: BridgeLink, ptmem_bytes: int) -> None:
        from mmaccel.boards.top import BOARD_MAP, PROBE_REGMAP
        from mmaccel.hdl.mmu_regs import MMU_REGMAP

        self.link = link
        self.ptmem_bytes = ptmem_bytes
        self._mmu = BOARD_MAP["mmu"]
        self._probe = BOARD_MAP["probe"]
        self._ptmem = BOARD_MAP["ptmem"]
        self._regs = MMU_REGMAP
        self._probe_regs = PROBE_REGMAP
        self._shadow: list[int | None] = [None] * (ptmem_bytes // 4)

    def _reg(self, name: str) -> int:
        return self._mmu + self._regs[name].offset

    def load(self, memory: PhysicalMemory, pages: Iterable[int] | None = None) -> int:
        """Copy ``memory`` to the board's page-table memory; returns the number of words written.

        Only words that differ from what this object last wrote are sent. ``pages`` (4 KiB
        page addresses) limits the copy to those pages, e.g. the page-table pages the model's
        page allocator has handed out: the walker reads nothing else.

        Raises
        ------
        InvalidArgument
            ``memory`` is larger than the board's page-table memory (nothing is written).
        """
        if memory.size > self.ptmem_bytes:
            raise InvalidArgument(
                f"memory of {memory.size:#x} bytes does not fit the board's "
                f"{self.ptmem_bytes:#x}-byte page-table memory"
            )
        if pages is None:
            ranges = [(0, memory.size - memory.size % 4)]
        else:
            ranges = []
            for page in pages:
                if page % PAGE_SIZE or not 0 <= page < memory.size:
                    raise InvalidArgument(f"page {page:#x} is not a 4 KiB page inside memory")
                ranges.append((page, min(PAGE_SIZE, memory.size - page)))
        written = 0
        for start, length in ranges:
            data = memory.read(start, length)
            for k in range(length // 4):
                i = start // 4 + k
                word = int.from_bytes(data[4 * k : 4 * k + 4], "little")
                if self._shadow[i] != word:
                    self.link.write32(self._ptmem + 4 * i, word)
                    self._shadow[i] = word
                    written += 1
        return written

    def clear_memory(self, max_polls: int = 10_000) -> None:
        """Zero the board's whole page-table memory in hardware (BOARD.PTMEM_CLEAR).

        Afterwards :meth:`load` sends only the words that are not 0. The clear takes about
        four clock cycles per word (a few ms on a board); the host polls until it is done.

        Raises
        ------
        BoardLinkError
            The clear was still running after ``max_polls`` status reads.
        """
        from mmaccel.boards.top import BOARD_MAP, BOARD_REGMAP

        reg = BOARD_MAP["info"] + BOARD_REGMAP["PTMEM_CLEAR"].offset
        self.link.write32(reg, 1)
        polls = 0
        while self.link.read32(reg) & 1:
            polls += 1
            if polls >= max_polls:
                raise BoardLinkError(
                    f"the page-table memory clear did not finish after {polls} polls"
                )
        self._shadow = [0] * len(self._shadow)

    @property
    def satp(self) -> int:
        return self.link.read32(self._reg("SATP"))

    @satp.setter
    def satp(self, value: int) -> None:
        self.link.write32(self._reg("SATP"), value)

    def flush(self, va: int | None = None, asid: int | None = None) -> None:
        """sfence.vma: everything; one ASID's non-global entries; one VA; one VA in one ASID."""
        flush = self._regs["FLUSH"]
        if va is not None:
            self.link.write32(self._reg("FLUSH_VA"), va)
        if asid is not None:
            self.link.write32(self._reg("FLUSH_ASID"), asid)
        self.link.write32(
            self._reg("FLUSH"),
            flush.pack(USE_VA=int(va is not None), USE_ASID=int(asid is not None)),
        )

    def translate(
        self,
        va: int,
        access: Access = Access.LOAD,
        priv: Priv = Priv.S,
        *,
        sum: bool = False,
        mxr: bool = False,
    ) -> int:
        """Translate ``va`` on the board, with the model's ``translate_sv32`` semantics.

        Raises
        ------
        PageFault
            The walk refused the access (``cause`` as the model's).
        AccessFault
            A PTE read fell outside the page-table memory. The hardware does not report the
            PTE's address, so ``pte_addr`` is -1.
        """
        regs = self._probe_regs
        self.link.write32(self._probe + regs["VA"].offset, va)
        self.link.write32(
            self._probe + regs["REQUEST"].offset,
            regs["REQUEST"].pack(ACCESS=int(access), PRIV=int(priv), SUM=int(sum), MXR=int(mxr)),
        )
        status = regs["STATUS"].unpack(self.link.read32(self._probe + regs["STATUS"].offset))
        if not status["DONE"]:
            raise BoardLinkError(f"translation of {va:#010x} did not complete")
        if status["FAULT"]:
            cause = FaultCause(status["CAUSE"])
            if cause in _ACCESS_FAULTS:
                raise AccessFault(cause, va, -1)
            raise PageFault(cause, va)
        pa_lo = self.link.read32(self._probe + regs["PA"].offset)
        return status["PA_HI"] << 32 | pa_lo

    def counters(self) -> dict[str, int]:
        """The MMU's event counters."""
        return {
            n.lower(): self.link.read32(self._reg(n)) for n in ("HITS", "MISSES", "WALKS", "FAULTS")
        }


class SerialGranuleAllocator(GranuleAllocatorBase):
    """The board's granule allocator with the methods of the model's ``GranuleAllocator``.

    The byte-level methods do what the model's do before its granule-level operation
    (argument checks, rounding to granules, the granule index of an address) and hand the
    granule operation to the hardware through :class:`~mmaccel.sw.gfa_driver.GfaRegisterDriver`,
    whose refusals raise the model's exceptions; so one scenario can run against either and
    compare results and exceptions.

    Parameters
    ----------
    link : BridgeLink
        The connection.
    base : int, optional
        Byte address of the allocator's registers (default: the board top's).
    wait : {"stall", "poll"}
        How the driver waits for a command (see GfaRegisterDriver).
    """

    def __init__(self, link: BridgeLink, base: int | None = None, *, wait: str = "stall") -> None:
        from mmaccel.boards.top import BOARD_MAP

        from .gfa_driver import GfaRegisterDriver

        at = BOARD_MAP["gfa"] if base is None else base
        self.link = link
        self.driver = GfaRegisterDriver(
            lambda offset: link.read32(at + offset),
            lambda offset, value: link.write32(at + offset, value),
            wait=wait,
        )
        config = self.driver.config()
        self.ngranules = config.granules
        self.log2gran = config.log2gran
        self.heapstart = config.base

    def __repr__(self) -> str:
        return (
            f"SerialGranuleAllocator(heapstart={self.heapstart:#x}, "
            f"ngranules={self.ngranules}, log2gran={self.log2gran})"
        )

    # -- granule-level operations (on the hardware) -----------------------------------------

    def _count(self, n: int) -> int:
        if not isinstance(n, int) or isinstance(n, bool):
            raise TypeError(f"granule count must be an int, not {n!r}")
        if not 0 < n < 1 << 17:  # does not fit COUNT: the model's check, done here
            raise InvalidArgument(f"granule count {n} is outside 1..{self.ngranules}")
        return n

    def alloc_granules(self, n: int, align: int = 1) -> int | None:
        """Allocate ``n`` granules at the lowest index that is a multiple of ``align``."""
        if not isinstance(align, int) or align <= 0 or align & (align - 1):
            raise InvalidAlignment(f"alignment must be a power of two granules, not {align}")
        addr = self.driver.alloc(self._count(n), 0 if align == 1 else align << self.log2gran)
        return None if addr is None else (addr - self.heapstart) >> self.log2gran

    def free_granules(self, index: int, n: int) -> None:
        """Free granules ``index .. index+n-1``; every one must be in use."""
        if not 0 <= index < self.ngranules:
            raise GranuleRangeError(f"granule {index} is outside the heap's {self.ngranules}")
        self.driver.free(self.address_of(index), self._count(n))

    def reserve_granules(self, index: int, n: int) -> None:
        """Mark granules ``index .. index+n-1`` in use; none may be in use already."""
        if not 0 <= index < self.ngranules:
            raise GranuleRangeError(f"granule {index} is outside the heap's {self.ngranules}")
        self.driver.reserve(self.address_of(index), self._count(n))

    def clear(self) -> None:
        """Free every granule."""
        self.driver.clear()

    def info(self) -> GranInfo:
        """gran_info: granule size, count, free granules, longest free run."""
        return self.driver.info()

    @property
    def nfree(self) -> int:
        return self.info().nfree

    def longest_free_run(self) -> int:
        return self.info().mxfree

    def table(self) -> list[int]:
        """The GAT as 32-bit words, as ``GranuleAllocator.table()``."""
        return self.driver.table((self.ngranules + 31) // 32)

    @property
    def free_map(self) -> int:
        """Bit ``k`` set when granule ``k`` is free (from the table)."""
        used = 0
        for i, word in enumerate(self.table()):
            used |= word << (32 * i)
        return ((1 << self.ngranules) - 1) & ~used

    def is_free(self, index: int) -> bool:
        return bool((self.free_map >> index) & 1)

    def check(self) -> None:
        """The table and INFO agree, and no bit is set past the last granule."""
        words = self.table()
        used = sum(w.bit_count() for w in words)
        info = self.info()
        if used + info.nfree != self.ngranules:
            raise AssertionError(f"used {used} + free {info.nfree} != {self.ngranules} granules")
        if words and words[-1] >> (self.ngranules - 32 * (len(words) - 1)):
            raise AssertionError("GAT has bits set beyond the last granule")


# -- the randomized check of `mmaccel hw selftest` --------------------------------------------

Log = Callable[[str], None]

#: Leaf permissions the MMU check maps with (V is added by the model; some lack A or D on
#: purpose, which the MMU must answer with page faults).
_PERMS = (
    PteFlags.R | PteFlags.A,
    PteFlags.R | PteFlags.W | PteFlags.A | PteFlags.D,
    PteFlags.R | PteFlags.W | PteFlags.A,
    PteFlags.X | PteFlags.A,
    PteFlags.R | PteFlags.X | PteFlags.A,
    PteFlags.R | PteFlags.U | PteFlags.A,
    PteFlags.R | PteFlags.W | PteFlags.U | PteFlags.A | PteFlags.D,
    PteFlags.X | PteFlags.U | PteFlags.A,
    PteFlags.R | PteFlags.W | PteFlags.X | PteFlags.A | PteFlags.D,
    PteFlags.R,
)


def _expected(
    memory: PhysicalMemory, satp: int, va: int, access: Access, priv: Priv, sum_: bool, mxr: bool
) -> tuple[str, int]:
    try:
        return ("pa", translate_sv32(memory, satp, va, access, priv, sum=sum_, mxr=mxr))
    except TranslationFault as fault:
        return ("fault", int(getattr(fault, "cause", -1)))


def _observed(
    mmu: SerialMmu, va: int, access: Access, priv: Priv, sum_: bool, mxr: bool
) -> tuple[str, int]:
    try:
        return ("pa", mmu.translate(va, access, priv, sum=sum_, mxr=mxr))
    except TranslationFault as fault:
        return ("fault", int(getattr(fault, "cause", -1)))


def mmu_selftest(
    link: BridgeLink, info: BoardInfo, rng: random.Random, translations: int, log: Log
) -> tuple[int, int]:
    """Random page tables from the model's address spaces, translated by the board and the model.

    Address spaces with distinct ASIDs get 4 KiB pages and megapages with assorted permissions
    (some without A or D); raw PTEs that must fault are planted in spare root slots (W without
    R, a misaligned megapage, a pointer to a table outside the page-table memory, a non-leaf
    PTE at level 0). Translations switch between spaces through satp (no flush: the TLB is
    ASID-tagged) and use random access types, privileges, SUM and MXR. Every so often a
    mapping's permissions or frame change, the tables are reloaded and a random flush form
    that covers the change is issued. Returns (checks, mismatches).
    """
    memory = PhysicalMemory(info.ptmem_bytes)
    pages = PageAllocator(0, info.ptmem_bytes)
    mmu = SerialMmu(link, info.ptmem_bytes)
    nspaces = max(1, min(3, pages.npages // 3))
    spaces = [AddressSpace(memory, pages, asid) for asid in rng.sample(range(1, 512), nspaces)]
    leaves: dict[int, list[tuple[int, int]]] = {s.asid: [] for s in spaces}
    for space in spaces:
        slot = rng.randrange(0x100)  # 4 KiB pages share one level-0 table per space
        for _ in range(rng.randint(4, 10)):
            va = slot << 22 | rng.randrange(1024) << 12
            try:
                space.map(
                    va, rng.randrange(1 << 22) << 12, PAGE_SIZE, rng.choice(_PERMS), megapage=False
                )
            except MemoryManagerError:
                continue
            leaves[space.asid].append((va, PAGE_SIZE))
        mslot = rng.randrange(0x100, 0x200)
        try:
            space.map(
                mslot << 22,
                rng.randrange(1 << 12) << 22,
                MEGAPAGE_SIZE,
                rng.choice(_PERMS),
                megapage=True,
            )
            leaves[space.asid].append((mslot << 22, MEGAPAGE_SIZE))
        except MemoryManagerError:
            pass
    # Planted faults in root slots 0x200.. (never used by map above).
    planted: list[int] = []
    first = spaces[0]
    beyond = (info.ptmem_bytes >> 12) + 3  # a page outside the page-table memory
    raw = [
        make_pte(5, PteFlags.W | PteFlags.A),  # W without R
        make_pte(0x401, PteFlags.R | PteFlags.A),  # misaligned megapage (PPN[0] = 1)
        make_pte(beyond, 0),  # table outside memory: the level-0 read is an access fault
    ]
    for i, pte in enumerate(raw):
        memory.write_u32(first.root + 4 * (0x200 + i), pte | PteFlags.V)
        planted.append((0x200 + i) << 22)
    if first._tables:  # a non-leaf PTE at level 0, in a spare entry of a level-0 table
        table = next(iter(first._tables.values()))
        for index in range(1024):
            if memory.read_u32(table + 4 * index) == 0:
                memory.write_u32(table + 4 * index, make_pte(7, PteFlags.V))
                slot_of = next(k for k, v in first._tables.items() if v == table)
                planted.append(slot_of << 22 | index << 12)
                break

    def sync() -> int:
        used = [p << 12 for p in range(pages.npages) if not pages.gran.is_free(p)]
        return mmu.load(memory, pages=used)

    mmu.clear_memory()
    written = sync()
    log(
        f"mmu: {nspaces} address spaces, {sum(map(len, leaves.values()))} leaves, "
        f"{written} page-table words loaded"
    )
    checks = mismatches = 0
    current = None
    for i in range(translations):
        space = rng.choice(spaces)
        if space is not current:
            mmu.satp = space.satp
            current = space
        r = rng.random()
        if r < 0.6 and leaves[space.asid]:
            base, size = rng.choice(leaves[space.asid])
            va = base + rng.randrange(size)
        elif r < 0.75 and space is first:
            va = rng.choice(planted) + rng.randrange(PAGE_SIZE)
        else:
            va = rng.getrandbits(32)
        access = rng.choice(list(Access))
        priv = rng.choice(list(Priv))
        sum_, mxr = rng.random() < 0.3, rng.random() < 0.3
        want = _expected(memory, space.satp, va, access, priv, sum_, mxr)
        got = _observed(mmu, va, access, priv, sum_, mxr)
        checks += 1
        if want != got:
            mismatches += 1
            log(
                f"mmu mismatch: asid {space.asid} va {va:#010x} {access.name} {priv.name} "
                f"sum={sum_} mxr={mxr}: model {want}, board {got}"
            )
        if i % 25 == 24:
            mismatches += _mutate(rng, memory, spaces, leaves, mmu, sync)
    return checks, mismatches


def _mutate(
    rng: random.Random,
    memory: PhysicalMemory,
    spaces: list[AddressSpace],
    leaves: dict[int, list[tuple[int, int]]],
    mmu: SerialMmu,
    sync: Callable[[], int],
) -> int:
    """Change one mapping (permissions or frame), reload the tables, flush what covers it."""
    space = rng.choice(spaces)
    if not leaves[space.asid]:
        return 0
    va, size = rng.choice(leaves[space.asid])
    perms = rng.choice(_PERMS)
    try:
        if rng.random() < 0.5:
            space.protect(va, size, perms)
        else:
            space.unmap(va, size)
            frame = (
                rng.randrange(1 << 22) << 12 if size == PAGE_SIZE else rng.randrange(1 << 12) << 22
            )
            space.map(va, frame, size, perms, megapage=size == MEGAPAGE_SIZE)
    except MemoryManagerError:
        pass  # the model refused (no page for a table): what it did do is still checked
    sync()
    form = rng.randrange(4)
    if form == 0:
        mmu.flush()
    elif form == 1:
        mmu.flush(asid=space.asid)
    elif form == 2:
        mmu.flush(va=va)
    else:
        mmu.flush(va=va, asid=space.asid)
    return 0


def selftest(
    port: SerialPort,
    *,
    seed: int = 1,
    ops: int = 500,
    translations: int = 300,
    log: Log | None = None,
) -> dict[str, int]:
    """``mmaccel hw selftest``: a randomized check of a board against the model.

    Reads the board's configuration, then runs :func:`gfa_selftest` (if the board has the
    allocator) and :func:`mmu_selftest` (if it has the MMU and a page-table memory of at least
    two pages). Deterministic for a given ``seed`` and board configuration.

    Returns
    -------
    dict
        ``checks`` and ``mismatches`` (0 on a good board), and the board's sizes.

    Raises
    ------
    BoardLinkError
        The board does not answer, or is not an mmaccel board.
    """
    say = log or (lambda text: None)
    rng = random.Random(seed)
    link = BridgeLink(port)
    link.ping()
    info = read_board_info(link)
    say(
        f"board: {info.granules} granules of {1 << info.log2gran} bytes at {info.gfa_base:#x}, "
        f"{info.tlb_entries} TLB entries, {info.ptmem_bytes} bytes of page-table memory, "
        f"{info.clk_hz / 1e6:g} MHz"
    )
    checks = mismatches = 0
    if info.has_gfa and ops > 0:
        c, mm = gfa_selftest(link, info, rng, ops, say)
        checks, mismatches = checks + c, mismatches + mm
    if info.has_mmu and info.ptmem_bytes >= 2 * PAGE_SIZE and translations > 0:
        c, mm = mmu_selftest(link, info, rng, translations, say)
        checks, mismatches = checks + c, mismatches + mm
    return {
        "checks": checks,
        "mismatches": mismatches,
        "granules": info.granules,
        "tlb_entries": info.tlb_entries,
        "ptmem_bytes": info.ptmem_bytes,
        "reads": link.reads,
        "writes": link.writes,
    }


def gfa_selftest(
    link: BridgeLink, info: BoardInfo, rng: random.Random, ops: int, log: Log
) -> tuple[int, int]:
    """Random alloc/free/reserve/info on board and model; returns (checks, mismatches).

    The board's allocator is cleared first. Operations: allocations of random sizes (some too
    large, to reach NO_SPACE) with random alignments, frees of live blocks (and now and then a
    double free, a misaligned or an out-of-heap free), reservations of random ranges (some in
    use), and INFO. Every result, and every exception class, is compared with the model's;
    the whole allocation table is compared every 64 operations and at the end.
    """
    hw = SerialGranuleAllocator(link)
    model = GranuleAllocator(hw.heapstart, hw.ngranules << hw.log2gran, hw.log2gran)
    hw.clear()
    gsize = 1 << hw.log2gran
    live: list[tuple[int, int]] = []
    checks = mismatches = 0

    def outcome(call: Callable[..., object], *args: object) -> tuple[str, object]:
        try:
            return ("ok", call(*args))
        except MemoryManagerError as error:
            return ("error", type(error).__name__)

    def compare(what: str, want: tuple[str, object], got: tuple[str, object]) -> None:
        nonlocal checks, mismatches
        checks += 1
        if want != got:
            mismatches += 1
            log(f"gfa mismatch: {what}: model {want}, board {got}")

    def compare_tables() -> None:
        compare("allocation table", ("ok", model.table()), ("ok", hw.table()))

    for i in range(ops):
        r = rng.random()
        if r < 0.45 or not live:
            big = rng.random() < 0.1
            limit = hw.ngranules if big else max(1, hw.ngranules // 16)
            size = rng.randint(1, limit * gsize)
            align = rng.choice([None, None, gsize, 2 * gsize, 4 * gsize, 16 * gsize, 3 * gsize])
            want = outcome(model.alloc, size, align)
            got = outcome(hw.alloc, size, align)
            compare(f"alloc({size:#x}, {align})", want, got)
            if want[0] == "ok" and want[1] is not None:
                live.append((int(want[1]), size))  # type: ignore[call-overload]
        elif r < 0.8:
            k = rng.randrange(len(live))
            addr, size = live[k]
            oddity = rng.random()
            if oddity < 0.04:  # free of a block already freed (or never allocated)
                addr, size = rng.choice(live)
                model_first = outcome(model.free, addr, size)
                hw_first = outcome(hw.free, addr, size)
                compare(f"free({addr:#x}, {size:#x})", model_first, hw_first)
                live = [b for b in live if b != (addr, size)]
            elif oddity < 0.06:
                addr += 1 + rng.randrange(gsize - 1) if gsize > 1 else 0
            elif oddity < 0.08:
                addr = model.heapend + gsize * rng.randrange(4)
            want = outcome(model.free, addr, size)
            got = outcome(hw.free, addr, size)
            compare(f"free({addr:#x}, {size:#x})", want, got)
            if want[0] == "ok":
                live = [b for b in live if b[0] != addr]
        elif r < 0.9:
            first = rng.randrange(hw.ngranules + 2)
            n = rng.randint(1, max(1, hw.ngranules // 32))
            addr = (
                hw.heapstart + first * gsize + (rng.randrange(gsize) if rng.random() < 0.2 else 0)
            )
            size = n * gsize - rng.randrange(gsize)
            want = outcome(model.reserve, addr, size)
            got = outcome(hw.reserve, addr, size)
            compare(f"reserve({addr:#x}, {size:#x})", want, got)
        else:
            compare("info()", outcome(model.info), outcome(hw.info))
        if i % 64 == 63:
            compare_tables()
    compare_tables()
    log(f"gfa: {ops} operations, {len(live)} blocks live, {model.nfree} granules free")
    return checks, mismatches
