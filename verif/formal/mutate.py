"""Source mutations: build a deliberately broken copy of a gateware module, in memory only.

The proofs are known to bite when a broken variant of each block fails them. The blocks are
other people's files and are never edited: :func:`mutant_module` reads a module's source,
applies exact text replacements to a copy, and executes the copy as a new module (named
``<module>__mutant_<name>``) whose classes the harnesses then instantiate. A replacement that
does not match exactly once raises :class:`MutationError`, so a refactored block is reported
("the mutation no longer applies") instead of silently proving an unbroken design.

A block made of several modules is reached through its importers: ``mutant_module(mutation,
"pkg.top")`` also executes a copy of ``pkg.top`` (its source unchanged) while the mutant stands
in ``sys.modules`` under the mutated module's name, so the copy's ``from pkg.part import Part``
takes the broken ``Part``. Only a module that imports the mutated module directly is reached
this way; any other is refused with :class:`MutationError`.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import threading
import types
from dataclasses import dataclass

__all__ = ["Mutation", "MutationError", "mutant_module"]


class MutationError(RuntimeError):
    """A mutation does not apply: a text not found exactly once, or a module it cannot reach."""


@dataclass(frozen=True)
class Mutation:
    """A named set of exact text replacements in one module.

    Parameters
    ----------
    name : str
        Short identifier (``flush_skips_entry0``); used in proof names after ``!``.
    module : str
        Dotted name of the module to mutate (``mmaccel.hdl.mmu.tlb``).
    edits : tuple of (str, str)
        ``(old, new)`` pairs; each ``old`` must occur exactly once.
    description : str
        What the defect is, in one line.
    """

    name: str
    module: str
    edits: tuple[tuple[str, str], ...]
    description: str = ""


_cache: dict[tuple[Mutation, str], types.ModuleType] = {}
# Copies are built one at a time: an importer's copy is executed while the mutant temporarily
# stands in sys.modules, which no other build may see (the proofs are built in threads).
_lock = threading.RLock()


def _execute(name: str, source: str, package: str | None) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__file__ = f"<{name}>"
    module.__package__ = package
    sys.modules[name] = module  # dataclasses and enums look their module up
    exec(compile(source, module.__file__, "exec", dont_inherit=True), module.__dict__)
    return module


def _mutated(mutation: Mutation) -> types.ModuleType:
    original = importlib.import_module(mutation.module)
    source = inspect.getsource(original)
    for old, new in mutation.edits:
        count = source.count(old)
        if count != 1:
            raise MutationError(
                f"mutation {mutation.name!r}: {old!r} occurs {count} times in "
                f"{mutation.module} (expected once); the block changed, update the mutation"
            )
        source = source.replace(old, new)
    return _execute(f"{mutation.module}__mutant_{mutation.name}", source, original.__package__)


def _importer(mutation: Mutation, mutant: types.ModuleType, module: str) -> types.ModuleType:
    original = importlib.import_module(module)
    saved = sys.modules[mutation.module]
    sys.modules[mutation.module] = mutant
    try:
        copy = _execute(
            f"{module}__mutant_{mutation.name}", inspect.getsource(original), original.__package__
        )
    finally:
        sys.modules[mutation.module] = saved
    reached = any(
        value is mutant or getattr(value, "__module__", None) == mutant.__name__
        for value in vars(copy).values()
    )
    if not reached:
        raise MutationError(
            f"mutation {mutation.name!r} of {mutation.module} does not reach {module}, which "
            f"takes nothing from {mutation.module} directly"
        )
    return copy


def mutant_module(mutation: Mutation, module: str | None = None) -> types.ModuleType:
    """The mutated copy of ``mutation.module``, or of ``module`` built on it (once, then cached).

    Parameters
    ----------
    mutation : Mutation
        The edits and the module they apply to.
    module : str, optional
        A module that imports ``mutation.module`` directly (``from mmaccel.hdl.mmu.tlb import
        Tlb``): the result is then a copy of ``module``, its own source unchanged, whose names
        imported from ``mutation.module`` are the mutant's. ``None`` or ``mutation.module``
        itself: the mutant.

    Returns
    -------
    types.ModuleType
        A new module, ``<module>__mutant_<mutation name>``; the originals are untouched.

    Raises
    ------
    MutationError
        An ``old`` text is missing or occurs more than once, or ``module`` takes nothing from
        ``mutation.module``.
    """
    target = mutation.module if module is None else module
    with _lock:
        cached = _cache.get((mutation, target))
        if cached is not None:
            return cached
        mutant = _cache.get((mutation, mutation.module))
        if mutant is None:
            mutant = _cache[mutation, mutation.module] = _mutated(mutation)
        if target != mutation.module:
            _cache[mutation, target] = _importer(mutation, mutant, target)
        return _cache[mutation, target]
