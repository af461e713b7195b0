"""Ideal backbone bond lengths (A) and angles (degrees) of proteins: Engh & Huber (1991), Acta
Cryst. A47, 392, Table 3.

One table for the metrics that count outliers (`gaan.tasks.protein.metrics`,
`gaan.tasks.protein.structure_geometry`), the refinement that removes them
(`gaan.tasks.protein.refinement`) and the side-chain builder (`gaan.tasks.protein.side_chains`). Keys: (atom, atom) within a
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


# Engh & Huber (1991) backbone angles (degrees) within a residue
BACKBONE_ANGLES: dict[tuple[str, str, str], float] = {
    ("N", "CA", "C"): 111.2,
    ("CA", "C", "O"): 120.8,
    ("N", "CA", "CB"): 110.5,
    ("C", "CA", "CB"): 110.1,
}
# angles across the peptide bond: (atom of residue i, atom of i or i+1, atom of i+1); with
# CA-C-O above they sum to 360 degrees around C (a planar carbonyl)
CA_C_N_ANGLE, O_C_N_ANGLE, C_N_CA_ANGLE = 116.2, 123.0, 121.7

# Engh & Huber (1991) side-chain bonds of the charged groups, which the chemical component
# dictionary's ideal coordinates draw in their neutral form (a C-OH single bond of 1.34 A in
# ASP / GLU, an asymmetric guanidine in ARG); proteins carry carboxylates and guanidinium
SIDE_CHAIN_BOND_LENGTHS: dict[tuple[str, str, str], float] = {
    ("ASP", "CG", "OD1"): 1.249,
    ("ASP", "CG", "OD2"): 1.249,
    ("GLU", "CD", "OE1"): 1.249,
    ("GLU", "CD", "OE2"): 1.249,
    ("ARG", "CD", "NE"): 1.460,
    ("ARG", "NE", "CZ"): 1.329,
    ("ARG", "CZ", "NH1"): 1.326,
    ("ARG", "CZ", "NH2"): 1.326,
}
# Engh & Huber (1991) side-chain angles far from the dictionary's tetrahedral 109.5 degrees
SIDE_CHAIN_ANGLES: dict[tuple[str, str, str, str], float] = {
    ("LEU", "CA", "CB", "CG"): 116.3,
}
