"""Formal proofs (SymbiYosys) of the allocator's and the MMU's safety properties.

``mmaccel formal`` runs them all; :func:`mmaccel.verif.formal.proofs.all_proofs` lists them.
"""

from mmaccel.verif.formal.sby import (
    FormalHarness,
    Proof,
    ProofResult,
    ToolError,
    find_tools,
    run_proof,
    run_proofs,
    summary_table,
)

__all__ = [
    "FormalHarness",
    "Proof",
    "ProofResult",
    "ToolError",
    "find_tools",
    "run_proof",
    "run_proofs",
    "summary_table",
]
