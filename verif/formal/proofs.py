"""Every proof of ``mmaccel formal``, and the deliberately broken variants that must fail.

Proofs are grouped by block: ``toy`` (a small allocator of our own: shows that the flow proves
and bites), ``tlb`` and ``mmu`` (``mmaccel.hdl.mmu``), ``gfa`` (``mmaccel.hdl.gfa``). A block
whose module cannot be imported (not written yet, or broken) is listed as one ERROR entry
naming the import error, so the others still run.
"""

from __future__ import annotations

from collections.abc import Callable

from mmaccel.verif.formal.sby import FormalHarness, Proof

__all__ = ["BLOCKS", "all_proofs", "select"]


def _toy(deep: bool) -> list[Proof]:
    from mmaccel.verif.formal.toy import toy_proofs

    return toy_proofs()


def _mmu(deep: bool) -> list[Proof]:
    import mmaccel.hdl.mmu  # noqa: F401  (fail here, clearly, if the block is missing)
    from mmaccel.verif.formal.mmu_props import mmu_proofs

    return mmu_proofs(deep)


def _gfa(deep: bool) -> list[Proof]:
    import mmaccel.hdl.gfa  # noqa: F401
    from mmaccel.verif.formal.gfa_props import gfa_proofs

    return gfa_proofs(deep=deep)


#: Block name -> function returning its proofs and mutants.
BLOCKS: dict[str, Callable[[bool], list[Proof]]] = {"toy": _toy, "mmu": _mmu, "gfa": _gfa}


class _Missing(FormalHarness):
    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error = error

    def to_rtlil(self) -> str:
        raise self.error


def all_proofs(mutants: bool = True, deep: bool = False) -> list[Proof]:
    """Every proof of every block (and the mutants unless ``mutants=False``).

    ``deep=True`` selects the larger BMC depths (tens of minutes instead of a few).
    """
    out: list[Proof] = []
    for block, make in BLOCKS.items():
        try:
            proofs = make(deep)
        except Exception as error:  # a missing block is a result, not a crash
            message = RuntimeError(f"block {block!r} unavailable: {type(error).__name__}: {error}")
            out.append(
                Proof(
                    f"{block}.unavailable",
                    lambda e=message: _Missing(e),  # type: ignore[misc]
                    "bmc",
                    1,
                    f"the proofs of {block} could not be built",
                )
            )
            continue
        out.extend(p for p in proofs if mutants or not p.is_mutant)
    return out


def select(proofs: list[Proof], patterns: list[str]) -> list[Proof]:
    """The proofs whose name matches one of the shell-style ``patterns`` (all if none)."""
    import fnmatch

    if not patterns:
        return proofs
    return [p for p in proofs if any(fnmatch.fnmatchcase(p.name, pat) for pat in patterns)]
