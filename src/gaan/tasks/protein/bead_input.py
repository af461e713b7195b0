"""The beads of one input model for a bead kind (`--beads`), with the checks that the file holds
that kind: a bead-only file gives its beads as they are, an all-atom one is coarse-grained
(`coarse_grain.bead_positions`), and a file that looks like another kind is refused naming the
right `--beads`."""

from __future__ import annotations

import biotite.structure as struc
import numpy as np

from gaan.tasks.protein.chain_geometry import looks_like_ca_trace
from gaan.tasks.protein.coarse_grain import bead_positions
from gaan.tasks.protein.martini_sidechains import file_sidechain_beads, mapped_sidechain_beads, missing_sidechain_beads
from gaan.tasks.protein.sidechain_points import add_sidechain_points
from gaan.tasks.protein.structure import MARTINI_BACKBONE, MARTINI_BEAD_NAMES, ProteinInputError
from gaan.tasks.protein.writer import residue_label

BEAD_WORDS = {"ca": "C-alphas", "centroid": "residue centroids", "martini": "Martini BB beads"}
# bead-only files of a kind: what each residue must hold, and how far apart consecutive beads are
# (measured on the training structures) against a C-alpha trace's 3.8 A
BEAD_ONLY = {
    "martini": (
        "Martini beads need all heavy atoms or one BB bead per residue (with its side-chain beads SC1..SC5 or without)",
        "BB beads are 3.3 +- 0.2 A apart",
    ),
    "centroid": ("centroid beads need all heavy atoms or exactly one bead atom per residue", "centroids are 4.8 +- 0.9 A apart"),
}


def has_atoms(table) -> bool:
    """Whether the input is all-atom (some residue has more than its C-alpha)."""
    return bool(table.present.sum(1).max(initial=0) > 1)


def model_beads(atoms: struc.AtomArray, table, beads: str) -> np.ndarray:
    """(R, 3) beads of one model; a bead-only file (one atom per residue) gives them as they
    are, whatever the atoms are named for centroids; a C-alpha trace given as centroids and
    beads named other than CA given as C-alphas are refused with what they look like."""
    starts = np.append(struc.get_residue_starts(atoms), atoms.array_length())
    one_per_residue = bool(np.all(np.diff(starts) == 1))
    names = sorted({str(n) for n in atoms.atom_name})
    martini_file = MARTINI_BACKBONE in names and set(names) <= MARTINI_BEAD_NAMES
    if beads != "martini" and martini_file:
        raise ProteinInputError(
            f"the beads are Martini backbone beads (named {MARTINI_BACKBONE}), not {BEAD_WORDS[beads]}: pass --beads martini"
        )
    if beads == "martini" and martini_file and names != [MARTINI_BACKBONE]:
        return _backbone_beads(atoms, starts)  # the side-chain beads: martini_sidechains
    if beads in BEAD_ONLY and not has_atoms(table):
        needs, spacing_note = BEAD_ONLY[beads]
        if not one_per_residue:
            r = int(np.flatnonzero(np.diff(starts) != 1)[0])
            raise ProteinInputError(f"residue {residue_label(atoms, starts[r])} has {starts[r + 1] - starts[r]} atoms: {needs}")
        positions = atoms.coord.astype(np.float64)
        trace, spacing = looks_like_ca_trace(table, positions)
        # centroid beads may be named CA (any name goes); Martini BB beads are named BB
        if trace or (beads == "martini" and names == ["CA"]):
            raise ProteinInputError(
                f"the beads look like a C-alpha trace, not {BEAD_WORDS[beads]} ({spacing or 'named CA'}; {spacing_note}): pass --beads ca"
            )
        return positions
    if beads == "ca" and one_per_residue and not table.present[:, 1].any():
        raise ProteinInputError(
            f"the bead atoms are named {', '.join(names[:3])}, not CA: residue centroids need --beads centroid; "
            "a C-alpha trace must name its atoms CA"
        )
    return bead_positions(table, beads)


def _backbone_beads(atoms: struc.AtomArray, starts: np.ndarray) -> np.ndarray:
    """(R, 3) each residue's BB bead of a Martini model with side-chain beads; NaN (no bead) for a
    residue without one; a residue with two is refused."""
    positions = np.full((len(starts) - 1, 3), np.nan)
    for r in range(len(starts) - 1):
        rows = starts[r] + np.flatnonzero(atoms.atom_name[starts[r] : starts[r + 1]] == MARTINI_BACKBONE)
        if len(rows) > 1:
            raise ProteinInputError(f"residue {residue_label(atoms, starts[r])} has {len(rows)} BB beads: Martini residues have one")
        if len(rows):
            positions[r] = atoms.coord[rows[0]]
    return positions


def martini_sidechains(atoms: struc.AtomArray, table) -> np.ndarray:
    """(R, MAX_SIDECHAIN_BEADS, 3) each residue's Martini side-chain beads: a CG file's own (a bead
    its residue type has not is refused, `file_sidechain_beads`), or for all-atom input those
    vermouth's mapping gives."""
    return mapped_sidechain_beads(table) if has_atoms(table) else file_sidechain_beads(atoms)


def with_sidechain_beads(
    samples: list[dict], table, sidechains: np.ndarray, beads: np.ndarray, split_missing: bool = False
) -> tuple[list[dict], list[dict], np.ndarray]:
    """(samples with each residue's Martini side-chain beads (`martini_sidechains`) as input points
    (`sidechain_points`), samples left as they are, rows of the residues with a bead that lack
    some side-chain beads). With `split_missing` the residues lacking beads are in the second
    list (for a model trained without side-chain beads); else they keep the beads they have
    (none: the BB bead alone)."""
    missing = np.flatnonzero(missing_sidechain_beads(table, sidechains) & np.isfinite(beads).all(1))
    lacking = set(missing.tolist()) if split_missing else set()
    plain = [sample for sample in samples if sample["residue_index"] in lacking]
    samples = [sample for sample in samples if sample["residue_index"] not in lacking]
    return add_sidechain_points(samples, sidechains, beads), plain, missing
