"""Backmapping quality of a predicted all-atom protein against its reference structure.

Pure numpy / torch functions, used by the protein task (`best_assignment_targets` for its
loss and RMSD) and by `gaan-backmap` / the peer bench (the rest, on biotite AtomArrays):

- heavy-atom RMSD over all atoms, the backbone (N, CA, C, O) and the side chains, in the input's
  frame (no superposition: the beads fix the frame), taking for the chemically equivalent atoms
  (ASP OD1/OD2, GLU OE1/OE2, ARG NH1/NH2, the PHE/TYR ring flip CD1/CD2 + CE1/CE2) the better of
  the two assignments per residue; the terminal OXT is not scored, and a C-terminal O is scored
  against the closer of the reference's O and OXT (the carboxylate's oxygens are equivalent);
- chi1 (N-CA-CB-gamma dihedral) within 40 degrees of the reference;
- clashes per 1,000 atoms: pairs of atoms of residues at least 2 apart in one chain, or on
  different chains, closer than the sum of their van der Waals radii (Bondi, from biotite)
  minus 0.4 A; CYS SG-SG pairs are disulfide bonds, not clashes (`gaan.tasks.protein.clashes`);
- bond-length outliers: N-CA, CA-C, C-O, CA-CB and the peptide C-N bond more than 0.1 A off the
  Engh & Huber (1991) ideal lengths (`IDEAL_BOND_LENGTHS`);
- every metric also per residue type.

Metrics are accumulated as sums (`BackmapMetricSums`), so proteins and models pool by atoms.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import biotite.structure as struc
import numpy as np

from gaan.tasks.protein.assignment import best_assignment, swap_partner_index
from gaan.tasks.protein.chi1 import CHI1_GAMMA_ATOM, CHI1_TOLERANCE_DEGREES, angle_difference_degrees, dihedral_degrees
from gaan.tasks.protein.clashes import count_clashes
from gaan.tasks.protein.ideal_geometry import IDEAL_BOND_LENGTH_EXCEPTIONS, IDEAL_BOND_LENGTHS
from gaan.tasks.protein.residues import BACKBONE_ATOMS

# the RMSD over each part of the heavy atoms, named as the task logs it (`<split>/rmsd`, ...)
RMSD_METRICS = {"all": "rmsd", "backbone": "rmsd_backbone", "side_chain": "rmsd_sidechain"}

BOND_OUTLIER_TOLERANCE = 0.1
# consecutive residues whose C-N distance (or, without those atoms, CA-CA distance) exceeds
# these are not bonded: a chain break
PEPTIDE_C_N_MAX = 2.0
PEPTIDE_CA_CA_MAX = 4.2


# ---- per-structure bookkeeping ------------------------------------------------------------
def residue_positions(atoms: struc.AtomArray) -> np.ndarray:
    """Per atom, the index of its residue in the array (0, 1, ...)."""
    starts = struc.get_residue_starts(atoms)
    return np.repeat(np.arange(len(starts)), np.diff(np.append(starts, atoms.array_length())))


def residue_keys(atoms: struc.AtomArray) -> np.ndarray:
    """Per atom, 'chain|res_id|ins_code' (what identifies a residue across files)."""
    return np.char.add(
        np.char.add(np.char.add(atoms.chain_id.astype(str), "|"), atoms.res_id.astype(str)),
        np.char.add("|", atoms.ins_code.astype(str)),
    )


def residue_atom_coords(atoms: struc.AtomArray, names: Iterable[str]) -> dict[str, np.ndarray]:
    """Atom name -> (residues, 3) coordinates of that atom in each residue (NaN where missing)."""
    residue = residue_positions(atoms)
    n_residues = len(struc.get_residue_starts(atoms))
    table = {}
    for name in names:
        coords = np.full((n_residues, 3), np.nan)
        index = np.flatnonzero(atoms.atom_name == name)
        coords[residue[index]] = atoms.coord[index]
        table[name] = coords
    return table


def peptide_links(atoms: struc.AtomArray) -> np.ndarray:
    """For each residue but the last, whether it is peptide-bonded to the next one: same chain,
    and C(i)-N(i+1) <= 2.0 A, or CA-CA <= 4.2 A where C or N is missing (CA-only traces)."""
    starts = struc.get_residue_starts(atoms)
    n_residues = len(starts)
    if n_residues < 2:
        return np.zeros(0, dtype=bool)
    chains = atoms.chain_id[starts]
    c, n, ca = residue_atom_coords(atoms, ("C", "N", "CA")).values()
    c_n = np.linalg.norm(c[:-1] - n[1:], axis=-1)
    ca_ca = np.linalg.norm(ca[:-1] - ca[1:], axis=-1)
    bonded = np.where(np.isnan(c_n), ca_ca <= PEPTIDE_CA_CA_MAX, c_n <= PEPTIDE_C_N_MAX)
    return bonded & (chains[:-1] == chains[1:])


@dataclass
class BackmapMetricSums:
    """Sums that pool over residues, proteins and models; `summary()` turns them into metrics.
    Keys of the per-type dicts are residue names."""

    squared_error: dict[str, float] = field(default_factory=lambda: {"all": 0.0, "backbone": 0.0, "side_chain": 0.0})
    atoms: dict[str, int] = field(default_factory=lambda: {"all": 0, "backbone": 0, "side_chain": 0})
    per_type_squared_error: dict[str, dict[str, float]] = field(default_factory=dict)
    per_type_atoms: dict[str, dict[str, int]] = field(default_factory=dict)
    chi1_correct: int = 0
    chi1_total: int = 0
    per_type_chi1: dict[str, list[int]] = field(default_factory=dict)  # name -> [correct, total]
    clashes: int = 0
    clash_atoms: int = 0
    bond_outliers: int = 0
    bonds: int = 0
    per_type_bonds: dict[str, list[int]] = field(default_factory=dict)  # name -> [outliers, bonds]

    def merge(self, other: BackmapMetricSums) -> BackmapMetricSums:
        for part in self.squared_error:
            self.squared_error[part] += other.squared_error[part]
            self.atoms[part] += other.atoms[part]
        for name, errors in other.per_type_squared_error.items():
            mine = self.per_type_squared_error.setdefault(name, {p: 0.0 for p in errors})
            counts = self.per_type_atoms.setdefault(name, {p: 0 for p in errors})
            for part in errors:
                mine[part] += errors[part]
                counts[part] += other.per_type_atoms[name][part]
        self.chi1_correct += other.chi1_correct
        self.chi1_total += other.chi1_total
        for name, (correct, total) in other.per_type_chi1.items():
            entry = self.per_type_chi1.setdefault(name, [0, 0])
            entry[0] += correct
            entry[1] += total
        self.clashes += other.clashes
        self.clash_atoms += other.clash_atoms
        self.bond_outliers += other.bond_outliers
        self.bonds += other.bonds
        for name, (outliers, bonds) in other.per_type_bonds.items():
            entry = self.per_type_bonds.setdefault(name, [0, 0])
            entry[0] += outliers
            entry[1] += bonds
        return self

    def summary(self) -> dict[str, float]:
        """Pooled metrics: rmsd / rmsd_backbone / rmsd_sidechain (A, `RMSD_METRICS`), chi1_accuracy,
        clashes_per_1000_atoms, bond_outliers (count) and bond_outlier_fraction; NaN where
        nothing was counted."""

        def ratio(a: float, b: float) -> float:
            return float(a) / b if b else float("nan")

        out = {name: float(np.sqrt(ratio(self.squared_error[part], self.atoms[part]))) for part, name in RMSD_METRICS.items()}
        out["chi1_accuracy"] = ratio(self.chi1_correct, self.chi1_total)
        out["clashes_per_1000_atoms"] = 1000.0 * ratio(self.clashes, self.clash_atoms)
        out["bond_outliers"] = float(self.bond_outliers)
        out["bond_outlier_fraction"] = ratio(self.bond_outliers, self.bonds)
        return out

    def per_residue_type(self) -> dict[str, dict[str, float]]:
        """Residue name -> rmsd / rmsd_backbone / rmsd_sidechain, chi1_accuracy,
        bond_outlier_fraction and the atom count behind the RMSD."""
        table: dict[str, dict[str, float]] = {}
        for name in sorted(set(self.per_type_squared_error) | set(self.per_type_chi1) | set(self.per_type_bonds)):
            errors = self.per_type_squared_error.get(name, {})
            counts = self.per_type_atoms.get(name, {})
            row = {
                name: float(np.sqrt(errors[part] / counts[part])) if counts.get(part) else float("nan")
                for part, name in RMSD_METRICS.items()
            }
            correct, total = self.per_type_chi1.get(name, (0, 0))
            row["chi1_accuracy"] = correct / total if total else float("nan")
            outliers, bonds = self.per_type_bonds.get(name, (0, 0))
            row["bond_outlier_fraction"] = outliers / bonds if bonds else float("nan")
            row["atoms"] = float(counts.get("all", 0))
            table[name] = row
        return table


def match_atoms(predicted: struc.AtomArray, reference: struc.AtomArray) -> tuple[np.ndarray, np.ndarray]:
    """Index arrays (into predicted, into reference) of the atoms both have, matched by chain,
    residue number, insertion code and atom name; predicted order, first copy of a duplicate."""
    reference_keys = np.char.add(np.char.add(residue_keys(reference), "|"), reference.atom_name.astype(str))
    # built backwards so a duplicated atom (an alternate location without a label) maps to its first copy
    reference_index = {key: i for i, key in reversed(list(enumerate(reference_keys)))}
    predicted_keys = np.char.add(np.char.add(residue_keys(predicted), "|"), predicted.atom_name.astype(str))
    pairs = [(i, reference_index[key]) for i, key in enumerate(predicted_keys) if key in reference_index]
    if not pairs:
        return np.zeros(0, dtype=int), np.zeros(0, dtype=int)
    predicted_index, matched = np.array(pairs).T
    return predicted_index, matched


def rmsd_sums(predicted: struc.AtomArray, reference: struc.AtomArray, sums: BackmapMetricSums) -> None:
    """Add the squared errors of the atoms both structures have (equivalent atoms assigned the
    better way per residue) to `sums`, overall and per residue type."""
    p_index, r_index = match_atoms(predicted, reference)
    # the terminal OXT is not scored (not every tool writes it; the CCD's residue atoms exclude it)
    scored = predicted.atom_name[p_index] != "OXT"
    p_index, r_index = p_index[scored], r_index[scored]
    if len(p_index) == 0:
        return
    matched = predicted[p_index]
    residue_index = residue_positions(predicted)[p_index]
    partner = swap_partner_index(matched.res_name, matched.atom_name, residue_index)
    reference_coords = terminal_oxygen_choice(matched, reference, reference.coord[r_index].astype(float))
    reference_coords = best_assignment(matched.coord.astype(float), reference_coords, partner, residue_index)
    error = np.square(matched.coord - reference_coords).sum(-1)
    backbone = np.isin(matched.atom_name, BACKBONE_ATOMS)
    for part, selection in (("all", np.ones_like(backbone)), ("backbone", backbone), ("side_chain", ~backbone)):
        sums.squared_error[part] += float(error[selection].sum())
        sums.atoms[part] += int(selection.sum())
        for name in np.unique(matched.res_name):
            chosen = selection & (matched.res_name == name)
            errors = sums.per_type_squared_error.setdefault(str(name), {"all": 0.0, "backbone": 0.0, "side_chain": 0.0})
            counts = sums.per_type_atoms.setdefault(str(name), {"all": 0, "backbone": 0, "side_chain": 0})
            errors[part] += float(error[chosen].sum())
            counts[part] += int(chosen.sum())


def terminal_oxygen_choice(matched: struc.AtomArray, reference: struc.AtomArray, reference_coords: np.ndarray) -> np.ndarray:
    """`reference_coords` with the O of each residue whose reference has an OXT (a C-terminal
    carboxylate, two equivalent oxygens) scored against the closer of the reference's O and OXT."""
    has_oxt = reference.atom_name == "OXT"
    if not has_oxt.any():
        return reference_coords
    oxt_of = dict(zip(residue_keys(reference)[has_oxt], reference.coord[has_oxt].astype(float)))
    out = reference_coords.copy()
    for n in np.flatnonzero(matched.atom_name == "O"):
        alternative = oxt_of.get(residue_keys(matched[n : n + 1])[0])
        if alternative is not None and np.linalg.norm(matched.coord[n] - alternative) < np.linalg.norm(matched.coord[n] - out[n]):
            out[n] = alternative
    return out


def chi1_angles(atoms: struc.AtomArray) -> dict[str, tuple[str, float]]:
    """Residue key -> (residue name, chi1 in degrees) for every residue that has all four atoms."""
    keys = residue_keys(atoms)
    found: dict[tuple[str, str], np.ndarray] = {}
    names: dict[str, str] = {}
    for key, res_name, atom_name, coord in zip(keys, atoms.res_name, atoms.atom_name, atoms.coord):
        gamma = CHI1_GAMMA_ATOM.get(str(res_name))
        if gamma is None or atom_name not in ("N", "CA", "CB", gamma):
            continue
        found[(key, "G" if atom_name == gamma else str(atom_name))] = coord
        names[key] = str(res_name)
    complete = [key for key in names if all((key, a) in found for a in ("N", "CA", "CB", "G"))]
    if not complete:
        return {}
    quads = [np.array([found[(key, a)] for key in complete], dtype=float) for a in ("N", "CA", "CB", "G")]
    return {key: (names[key], float(angle)) for key, angle in zip(complete, dihedral_degrees(*quads))}


def chi1_sums(predicted: struc.AtomArray, reference: struc.AtomArray, sums: BackmapMetricSums) -> None:
    """Count residues whose predicted chi1 is within 40 degrees of the reference's."""
    predicted_chi = chi1_angles(predicted)
    for key, (name, reference_angle) in chi1_angles(reference).items():
        if key not in predicted_chi:
            continue
        correct = int(angle_difference_degrees(predicted_chi[key][1], reference_angle) <= CHI1_TOLERANCE_DEGREES)
        sums.chi1_correct += correct
        sums.chi1_total += 1
        entry = sums.per_type_chi1.setdefault(name, [0, 0])
        entry[0] += correct
        entry[1] += 1


def bond_length_deviations(atoms: struc.AtomArray, links: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(|length - ideal| per bond, residue name per bond) for N-CA, CA-C, C-O, CA-CB of every
    residue and C(i)-N(i+1) where `links[i]` (default: `peptide_links(atoms)`) says residue i is
    bonded to i+1."""
    starts = struc.get_residue_starts(atoms)
    n_residues = len(starts)
    res_names = atoms.res_name[starts].astype(str)
    coords = residue_atom_coords(atoms, ("N", "CA", "C", "O", "CB"))
    deviations, names = [], []
    for (a, b), ideal in IDEAL_BOND_LENGTHS.items():
        if b == "N+1":
            if n_residues < 2:
                continue
            bonded = peptide_links(atoms) if links is None else np.asarray(links, dtype=bool)
            if len(bonded) != n_residues - 1:
                raise ValueError(f"peptide links: {len(bonded)} given for {n_residues} residues (need one per consecutive pair)")
            length = np.linalg.norm(coords["C"][:-1] - coords["N"][1:], axis=-1)
            ideal_per = np.array([IDEAL_BOND_LENGTH_EXCEPTIONS.get((r, "C", "N+1"), ideal) for r in res_names[1:]])
            keep = bonded & ~np.isnan(length)
            deviations.append(np.abs(length - ideal_per)[keep])
            names.append(res_names[:-1][keep])
            continue
        length = np.linalg.norm(coords[a] - coords[b], axis=-1)
        ideal_per = np.array([IDEAL_BOND_LENGTH_EXCEPTIONS.get((r, a, b), ideal) for r in res_names])
        keep = ~np.isnan(length)
        deviations.append(np.abs(length - ideal_per)[keep])
        names.append(res_names[keep])
    return np.concatenate(deviations), np.concatenate(names)


def bond_sums(atoms: struc.AtomArray, sums: BackmapMetricSums, links: np.ndarray | None = None) -> None:
    deviation, names = bond_length_deviations(atoms, links)
    outlier = deviation > BOND_OUTLIER_TOLERANCE
    sums.bond_outliers += int(outlier.sum())
    sums.bonds += len(deviation)
    for name in np.unique(names):
        entry = sums.per_type_bonds.setdefault(str(name), [0, 0])
        entry[0] += int(outlier[names == name].sum())
        entry[1] += int((names == name).sum())


def backmap_metric_sums(
    predicted: struc.AtomArray,
    reference: struc.AtomArray | None = None,
    links: np.ndarray | None = None,
) -> BackmapMetricSums:
    """All metrics of one predicted structure (one model). RMSD and chi1 need the `reference`
    (all-atom); clashes and bond lengths are properties of the prediction alone. `links`: the
    peptide bonds (one flag per consecutive residue pair of `predicted`), by default those of
    the reference (or of the prediction without one), so a predicted gap in a chain counts as a
    stretched bond and not as a break."""
    sums = BackmapMetricSums()
    if reference is not None:
        rmsd_sums(predicted, reference, sums)
        chi1_sums(predicted, reference, sums)
        if links is None:
            links = reference_links(predicted, reference)
    sums.clashes = count_clashes(predicted)
    sums.clash_atoms = predicted.array_length()
    bond_sums(predicted, sums, links)
    return sums


def reference_links(predicted: struc.AtomArray, reference: struc.AtomArray) -> np.ndarray:
    """Peptide links of the reference, carried over to the prediction's residue pairs by residue
    key; pairs the reference does not have are taken from the prediction."""
    reference_starts = struc.get_residue_starts(reference)
    reference_keys = residue_keys(reference)[reference_starts]
    reference_bonded = peptide_links(reference)
    bonded_pairs = {(a, b) for a, b, bonded in zip(reference_keys[:-1], reference_keys[1:], reference_bonded) if bonded}
    known = set(reference_keys)
    keys = residue_keys(predicted)[struc.get_residue_starts(predicted)]
    own = peptide_links(predicted)
    return np.array(
        [(a, b) in bonded_pairs if (a in known and b in known) else bool(o) for a, b, o in zip(keys[:-1], keys[1:], own)],
        dtype=bool,
    )


def pooled_metrics(parts: Iterable[BackmapMetricSums]) -> BackmapMetricSums:
    total = BackmapMetricSums()
    for part in parts:
        total.merge(part)
    return total


SUMMARY_COLUMNS = (
    ("rmsd", "all heavy (A)", "{:.3f}"),
    ("rmsd_backbone", "backbone (A)", "{:.3f}"),
    ("rmsd_sidechain", "side chain (A)", "{:.3f}"),
    ("chi1_accuracy", "chi1 < 40 deg", "{:.3f}"),
    ("clashes_per_1000_atoms", "clashes /1000 atoms (residues >= 2 apart)", "{:.1f}"),
    ("bond_outliers", "backbone bond outliers", "{:.0f}"),
)


def format_metrics_table(rows: dict[str, BackmapMetricSums], extra: dict[str, dict[str, str]] | None = None) -> str:
    """A markdown table, one row per named result (a tool, a model); bond outliers as
    outliers/bonds; `extra` adds columns (e.g. seconds per protein) per row name."""
    extra = extra or {}
    extra_columns = sorted({column for values in extra.values() for column in values})
    header = ["", *[title for _, title, _ in SUMMARY_COLUMNS], *extra_columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, sums in rows.items():
        summary = sums.summary()
        cells = [name]
        for key, _, form in SUMMARY_COLUMNS:
            cells.append(f"{sums.bond_outliers}/{sums.bonds}" if key == "bond_outliers" else form.format(summary[key]))
        cells.extend(extra.get(name, {}).get(column, "") for column in extra_columns)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_residue_type_table(sums: BackmapMetricSums) -> str:
    """A markdown table of the per-residue-type metrics."""
    lines = [
        "| residue | atoms | all heavy (A) | backbone (A) | side chain (A) | chi1 < 40 deg | bond outliers |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in sums.per_residue_type().items():
        lines.append(
            f"| {name} | {int(row['atoms'])} | {row['rmsd']:.3f} | {row['rmsd_backbone']:.3f} | {row['rmsd_sidechain']:.3f} "
            f"| {row['chi1_accuracy']:.3f} | {row['bond_outlier_fraction']:.3f} |"
        )
    return "\n".join(lines)
