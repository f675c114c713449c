"""NuttX's two standard heaps in one memory: the user heap (umm) and the kernel heap (kmm).

In a NuttX protected or kernel build, ``malloc``/``free`` and friends use the user heap and
``kmm_malloc``/``kmm_free`` the kernel heap; each is an ``mm_heap_s`` made by ``mm_initialize``
over its own region. :class:`UserKernelHeaps` builds both from a :class:`HeapsConfig` over one
:class:`~mmaccel.sw.PhysicalMemory`. As ``mm_initialize`` does, each heap's control block (the
free-list bucket heads) is written at the start of its region and the heap proper follows it.

The same calls exist as methods of :class:`HeapCalls`, the base of :class:`UserKernelHeaps` and
of :class:`~mmaccel.sw.system.MemorySystem`. The module-level functions (``malloc``, ``free``,
..., ``kmm_malloc``, ``kmm_free``, ...) call them on the *current* heaps, set with
:func:`set_current_heaps` or a ``with heaps:`` block, the way C code calls them without naming a
heap.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType

from .errors import InvalidArgument, RegionConflict
from .heap import Heap, MallInfo
from .memory import PhysicalMemory

__all__ = [
    "HeapCalls",
    "HeapsConfig",
    "UserKernelHeaps",
    "calloc",
    "current_heaps",
    "free",
    "kmm_calloc",
    "kmm_free",
    "kmm_mallinfo",
    "kmm_malloc",
    "kmm_malloc_size",
    "kmm_memalign",
    "kmm_realloc",
    "kmm_zalloc",
    "mallinfo",
    "malloc",
    "malloc_size",
    "memalign",
    "realloc",
    "set_current_heaps",
    "zalloc",
]


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


@dataclass(frozen=True, slots=True)
class HeapsConfig:
    """Where the user and kernel heaps live, and the build they model.

    Parameters
    ----------
    user_start, user_size : int
        The user heap's memory (control block included).
    kernel_start, kernel_size : int
        The kernel heap's memory (control block included).
    pointer_size : int
        4 or 8, as for :class:`~mmaccel.sw.Heap`.
    small : bool
        CONFIG_MM_SMALL.

    Raises
    ------
    RegionConflict
        The two regions overlap (the message names both).
    InvalidArgument
        A negative start or a size that is not positive.
    """

    user_start: int
    user_size: int
    kernel_start: int
    kernel_size: int
    pointer_size: int = 4
    small: bool = False

    def __post_init__(self) -> None:
        for name in ("user_start", "user_size", "kernel_start", "kernel_size", "pointer_size"):
            value = getattr(self, name)
            if not _is_int(value):
                raise TypeError(f"{name} must be an int, not {value!r}")
        for which, start, size in (
            ("user", self.user_start, self.user_size),
            ("kernel", self.kernel_start, self.kernel_size),
        ):
            if start < 0 or size <= 0:
                raise InvalidArgument(
                    f"{which} heap [{start:#x}, +{size:#x}) is empty or starts below 0"
                )
        u0, u1 = self.user_start, self.user_start + self.user_size
        k0, k1 = self.kernel_start, self.kernel_start + self.kernel_size
        if u0 < k1 and k0 < u1:
            raise RegionConflict(
                f"user heap [{u0:#x}, {u1:#x}) overlaps kernel heap [{k0:#x}, {k1:#x})"
            )

    @property
    def end(self) -> int:
        """The first address above both regions (the smallest memory that holds them)."""
        return max(self.user_start + self.user_size, self.kernel_start + self.kernel_size)


class HeapCalls:
    """NuttX's heap calls on two heaps: ``malloc`` & co on :attr:`umm`, ``kmm_*`` on :attr:`kmm`.

    The one definition of the call set, shared by :class:`UserKernelHeaps` and
    :class:`~mmaccel.sw.system.MemorySystem`; a subclass provides the two heaps. Each call is
    the :class:`~mmaccel.sw.Heap` method of the same name (without ``kmm_``) on its heap, and
    raises what that method raises.
    """

    __slots__ = ()

    @property
    def umm(self) -> Heap:
        """The user heap (``malloc``, ``free``, ...)."""
        raise NotImplementedError

    @property
    def kmm(self) -> Heap:
        """The kernel heap (``kmm_malloc``, ``kmm_free``, ...)."""
        raise NotImplementedError

    # -- the user heap --------------------------------------------------------------------------

    def malloc(self, n: int) -> int | None:
        """malloc from the user heap (see :meth:`Heap.malloc`)."""
        return self.umm.malloc(n)

    def zalloc(self, n: int) -> int | None:
        """zalloc from the user heap."""
        return self.umm.zalloc(n)

    def calloc(self, n: int, m: int) -> int | None:
        """calloc from the user heap."""
        return self.umm.calloc(n, m)

    def memalign(self, alignment: int, n: int) -> int | None:
        """memalign from the user heap."""
        return self.umm.memalign(alignment, n)

    def realloc(self, mem: int | None, n: int) -> int | None:
        """realloc in the user heap."""
        return self.umm.realloc(mem, n)

    def free(self, mem: int | None) -> None:
        """free to the user heap."""
        self.umm.free(mem)

    def malloc_size(self, mem: int | None) -> int:
        """malloc_size of a user-heap block."""
        return self.umm.malloc_size(mem)

    def mallinfo(self) -> MallInfo:
        """mallinfo of the user heap."""
        return self.umm.mallinfo()

    # -- the kernel heap ------------------------------------------------------------------------

    def kmm_malloc(self, n: int) -> int | None:
        """kmm_malloc from the kernel heap."""
        return self.kmm.malloc(n)

    def kmm_zalloc(self, n: int) -> int | None:
        """kmm_zalloc from the kernel heap."""
        return self.kmm.zalloc(n)

    def kmm_calloc(self, n: int, m: int) -> int | None:
        """kmm_calloc from the kernel heap."""
        return self.kmm.calloc(n, m)

    def kmm_memalign(self, alignment: int, n: int) -> int | None:
        """kmm_memalign from the kernel heap."""
        return self.kmm.memalign(alignment, n)

    def kmm_realloc(self, mem: int | None, n: int) -> int | None:
        """kmm_realloc in the kernel heap."""
        return self.kmm.realloc(mem, n)

    def kmm_free(self, mem: int | None) -> None:
        """kmm_free to the kernel heap."""
        self.kmm.free(mem)

    def kmm_malloc_size(self, mem: int | None) -> int:
        """kmm_malloc_size of a kernel-heap block."""
        return self.kmm.malloc_size(mem)

    def kmm_mallinfo(self) -> MallInfo:
        """kmm_mallinfo of the kernel heap."""
        return self.kmm.mallinfo()


class UserKernelHeaps(HeapCalls):
    """The user heap (umm) and the kernel heap (kmm) of a NuttX build, in one memory.

    Parameters
    ----------
    config : HeapsConfig
        Regions and build options.
    memory : PhysicalMemory, optional
        The memory both heaps live in; by default a new one just large enough.
    nuttx_quirks : bool
        Passed to both heaps (10.2.0's memalign).

    Attributes
    ----------
    user, kernel : Heap
        The two heaps (also named :attr:`umm` and :attr:`kmm`, NuttX's names); the calls of
        :class:`HeapCalls` (``heaps.malloc(n)``, ``heaps.kmm_free(p)``, ...) act on them.

    Raises
    ------
    InvalidArgument
        A region outside ``memory`` or too small for a control block and a free chunk.
    """

    def __init__(
        self,
        config: HeapsConfig,
        memory: PhysicalMemory | None = None,
        *,
        nuttx_quirks: bool = False,
    ) -> None:
        if not isinstance(config, HeapsConfig):
            raise TypeError(f"config must be a HeapsConfig, not {config!r}")
        self.config = config
        self.memory = memory if memory is not None else PhysicalMemory(config.end)
        if config.end > self.memory.size:
            raise InvalidArgument(
                f"heaps end at {config.end:#x}, beyond physical memory of {self.memory.size:#x}"
            )
        self._saved: list[UserKernelHeaps | None] = []
        self.user = self._initialize(config.user_start, config.user_size, nuttx_quirks, "user heap")
        self.kernel = self._initialize(
            config.kernel_start, config.kernel_size, nuttx_quirks, "kernel heap"
        )

    def _initialize(self, start: int, size: int, quirks: bool, name: str) -> Heap:
        """mm_initialize: the control block at the (aligned) start, the heap after it."""
        cfg = self.config
        align = cfg.pointer_size
        ctl = (start + align - 1) & ~(align - 1)
        min_shift = 5 if cfg.pointer_size == 8 else 4
        nnodes = (15 if cfg.small else 22) - min_shift + 1
        header = 4 if cfg.small else 8
        span = nnodes * (header + 2 * cfg.pointer_size)
        if ctl == 0:  # keep NULL free: the control block never sits at address 0
            ctl = align
        heap_start = ctl + span
        if heap_start >= start + size:
            raise InvalidArgument(
                f"{name} [{start:#x}, +{size:#x}) is too small for its {span}-byte control block"
            )
        return Heap(
            self.memory,
            heap_start,
            start + size - heap_start,
            pointer_size=cfg.pointer_size,
            small=cfg.small,
            nuttx_quirks=quirks,
            nodelist=ctl,
            name=name,
        )

    @property
    def umm(self) -> Heap:
        """The user heap (:attr:`user`)."""
        return self.user

    @property
    def kmm(self) -> Heap:
        """The kernel heap (:attr:`kernel`)."""
        return self.kernel

    def __repr__(self) -> str:
        return f"UserKernelHeaps(user={self.user!r}, kernel={self.kernel!r})"

    def __enter__(self) -> UserKernelHeaps:
        self._saved.append(_state.current)
        _state.current = self
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _state.current = self._saved.pop()

    def check(self) -> None:
        """Check both heaps (see :meth:`Heap.check`)."""
        self.user.check()
        self.kernel.check()


class _State:
    current: UserKernelHeaps | None = None


_state = _State()


def set_current_heaps(heaps: UserKernelHeaps | None) -> None:
    """Make ``heaps`` the heaps that the module-level functions use (None: no heaps)."""
    if heaps is not None and not isinstance(heaps, UserKernelHeaps):
        raise TypeError(f"expected UserKernelHeaps or None, not {heaps!r}")
    _state.current = heaps


def current_heaps() -> UserKernelHeaps:
    """The current heaps.

    Raises
    ------
    RuntimeError
        None has been set.
    """
    if _state.current is None:
        raise RuntimeError("no current heaps: call set_current_heaps() or use `with heaps:`")
    return _state.current


# -- the user heap (malloc & co) ----------------------------------------------------------------


def malloc(n: int) -> int | None:
    """malloc on the current user heap (see :meth:`Heap.malloc`)."""
    return current_heaps().malloc(n)


def zalloc(n: int) -> int | None:
    """zalloc on the current user heap."""
    return current_heaps().zalloc(n)


def calloc(n: int, m: int) -> int | None:
    """calloc on the current user heap."""
    return current_heaps().calloc(n, m)


def memalign(alignment: int, n: int) -> int | None:
    """memalign on the current user heap."""
    return current_heaps().memalign(alignment, n)


def realloc(mem: int | None, n: int) -> int | None:
    """realloc on the current user heap."""
    return current_heaps().realloc(mem, n)


def free(mem: int | None) -> None:
    """free on the current user heap."""
    current_heaps().free(mem)


def malloc_size(mem: int | None) -> int:
    """malloc_size on the current user heap."""
    return current_heaps().malloc_size(mem)


def mallinfo() -> MallInfo:
    """mallinfo of the current user heap."""
    return current_heaps().mallinfo()


# -- the kernel heap (kmm_*) --------------------------------------------------------------------


def kmm_malloc(n: int) -> int | None:
    """kmm_malloc on the current kernel heap."""
    return current_heaps().kmm_malloc(n)


def kmm_zalloc(n: int) -> int | None:
    """kmm_zalloc on the current kernel heap."""
    return current_heaps().kmm_zalloc(n)


def kmm_calloc(n: int, m: int) -> int | None:
    """kmm_calloc on the current kernel heap."""
    return current_heaps().kmm_calloc(n, m)


def kmm_memalign(alignment: int, n: int) -> int | None:
    """kmm_memalign on the current kernel heap."""
    return current_heaps().kmm_memalign(alignment, n)


def kmm_realloc(mem: int | None, n: int) -> int | None:
    """kmm_realloc on the current kernel heap."""
    return current_heaps().kmm_realloc(mem, n)


def kmm_free(mem: int | None) -> None:
    """kmm_free on the current kernel heap."""
    current_heaps().kmm_free(mem)


def kmm_malloc_size(mem: int | None) -> int:
    """kmm_malloc_size on the current kernel heap."""
    return current_heaps().kmm_malloc_size(mem)


def kmm_mallinfo() -> MallInfo:
    """kmm_mallinfo of the current kernel heap."""
    return current_heaps().kmm_mallinfo()
