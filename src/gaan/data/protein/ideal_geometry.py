"""Ideal backbone bond lengths of proteins: Engh & Huber (1991), Acta Cryst. A47, 392, Table 3 (A).

One table for the metric that counts bond-length outliers (`gaan.tasks.protein_metrics`) and
the refinement that removes them (`gaan.data.protein.refinement`). Keys: (atom, atom) within a
residue, and ("C", "N+1") for the peptide bond to the next residue; exceptions are keyed by the
residue name first (for the peptide bond: the residue after it, the proline).
"""

from __future__ import annotations

IDEAL_BOND_LENGTHS: dict[tuple[str, str], float] = {
    ("N", "CA"): 1.458,
    ("CA", "C"): 1.525,
    ("C", "O"): 1.231,
    ("CA", "CB"): 1.530,
    ("C", "N+1"): 1.329,
}
IDEAL_BOND_LENGTH_EXCEPTIONS: dict[tuple[str, str, str], float] = {
    ("GLY", "N", "CA"): 1.451,
    ("PRO", "N", "CA"): 1.466,
    ("GLY", "CA", "C"): 1.516,
    ("ALA", "CA", "CB"): 1.521,
    ("ILE", "CA", "CB"): 1.540,
    ("THR", "CA", "CB"): 1.540,
    ("VAL", "CA", "CB"): 1.540,
    ("PRO", "C", "N+1"): 1.341,
}


def ideal_bond_length(res_name: str, a: str, b: str) -> float:
    """The ideal length of bond a-b of residue `res_name` (either atom order); KeyError for a
    bond the table does not hold."""
    key = (a, b) if (a, b) in IDEAL_BOND_LENGTHS else (b, a)
    return IDEAL_BOND_LENGTH_EXCEPTIONS.get((res_name, *key), IDEAL_BOND_LENGTHS[key])
