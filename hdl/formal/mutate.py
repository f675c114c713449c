"""Source mutations: build a deliberately broken copy of a gateware module, in memory only.

The proofs are known to bite when a broken variant of each block fails them. The blocks are
other people's files and are never edited: :func:`mutant_module` reads a module's source,
applies exact text replacements to a copy, and executes the copy as a new module (named
``<module>__mutant_<name>``) whose classes the harnesses then instantiate. A replacement that
does not match exactly once raises :class:`MutationError`, so a refactored block is reported
("the mutation no longer applies") instead of silently proving an unbroken design.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import types
from dataclasses import dataclass

__all__ = ["Mutation", "MutationError", "mutant_module"]


class MutationError(RuntimeError):
    """A mutation's text does not occur exactly once in the module's source."""


@dataclass(frozen=True)
class Mutation:
    """A named set of exact text replacements in one module.

    Parameters
    ----------
    name : str
        Short identifier (``flush_skips_entry0``); used in proof names after ``!``.
    module : str
        Dotted name of the module to mutate (``mmaccel.hdl.mmu``).
    edits : tuple of (str, str)
        ``(old, new)`` pairs; each ``old`` must occur exactly once.
    description : str
        What the defect is, in one line.
    """

    name: str
    module: str
    edits: tuple[tuple[str, str], ...]
    description: str = ""


_cache: dict[Mutation, types.ModuleType] = {}


def mutant_module(mutation: Mutation) -> types.ModuleType:
    """Return the mutated copy of ``mutation.module`` (built once, then cached).

    Raises
    ------
    MutationError
        An ``old`` text is missing or occurs more than once.
    """
    cached = _cache.get(mutation)
    if cached is not None:
        return cached
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
    name = f"{mutation.module}__mutant_{mutation.name}"
    module = types.ModuleType(name)
    module.__file__ = f"<{name}>"
    module.__package__ = original.__package__
    sys.modules[name] = module  # dataclasses and enums look their module up
    exec(compile(source, module.__file__, "exec", dont_inherit=True), module.__dict__)
    _cache[mutation] = module
    return module
