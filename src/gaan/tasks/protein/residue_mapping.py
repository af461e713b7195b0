"""What the structure reader keeps, maps and drops, residue by residue, and how it says so.

Modified amino acids (SEP, TPO, PTR, MSE, HYP, MLY, CSO, ... as HETATM, the PDB's way, or as
ATOM) become their parent standard residue, the parent the wwPDB chemical component dictionary
names (`_chem_comp.mon_nstd_parent_comp_id`, read through biotite): the parent's atoms are kept
and the modification's extra atoms (SEP's phosphate) are left out. Everything else that is not
protein (waters, ions, ligands, nucleic acids) is dropped, and `ReadNotes` names it so that the
report can say what was left out instead of counting only what was kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from gaan.tasks.protein.residues import STANDARD_RESIDUES

_STANDARD = frozenset(STANDARD_RESIDUES)
SHOWN = 4  # residues named per note before "and N more"


@cache
def parent_residue(name: str) -> str | None:
    """The standard amino acid that modified residue `name` derives from (CCD), or None: not
    in the dictionary, no parent, several parents (chromophores such as CRO) or a non-standard one."""
    import biotite.structure.info as structure_info

    try:
        column = structure_info.get_from_ccd("chem_comp", name, "mon_nstd_parent_comp_id")
    except Exception:  # noqa: BLE001 - biotite raises several types for names it does not know
        return None
    if column is None:
        return None
    parent = str(column.as_item()).strip().upper()
    return parent if parent in _STANDARD else None


@cache
def link_type(name: str) -> str | None:
    """The CCD's chem_comp type of `name` ('L-PEPTIDE LINKING', 'DNA LINKING', 'NON-POLYMER', ...)."""
    import biotite.structure.info as structure_info

    return structure_info.link_type(name)


def is_nucleotide(name: str) -> bool:
    kind = (link_type(name) or "").upper()
    return "DNA" in kind or "RNA" in kind


def residue_label(res_name: str, chain_id: str, res_id: int, ins_code: str = "") -> str:
    """'SEP A65' / 'HOH B301A': how notes name a residue."""
    return f"{res_name} {chain_id}{res_id}{ins_code}"


def listed(labels: list[str]) -> str:
    shown = ", ".join(labels[:SHOWN])
    return shown + (f" and {len(labels) - SHOWN} more" if len(labels) > SHOWN else "")


@dataclass
class ReadNotes:
    """Residues (labels, in file order, each once) that the reader mapped or dropped."""

    modified: dict[str, str] = field(default_factory=dict)  # label -> parent
    extra_atoms: dict[str, list[str]] = field(default_factory=dict)  # label -> modification atoms left out
    dropped: dict[str, list[str]] = field(default_factory=dict)  # kind -> labels

    def drop(self, kind: str, label: str) -> None:
        labels = self.dropped.setdefault(kind, [])
        if not labels or labels[-1] != label:
            labels.append(label)

    def map_modified(self, label: str, parent: str) -> None:
        self.modified.setdefault(label, parent)

    def extra_atom(self, label: str, atom: str) -> None:
        atoms = self.extra_atoms.setdefault(label, [])
        if atom not in atoms:
            atoms.append(atom)

    def lines(self) -> list[str]:
        """One line per kind of change, naming the residues."""
        out = []
        if self.modified:
            pairs = [f"{label} -> {parent}" for label, parent in self.modified.items()]
            extras = sorted({atom for label in self.modified for atom in self.extra_atoms.get(label, [])})
            left_out = f" (modification atoms left out: {', '.join(extras)})" if extras else ""
            out.append(f"{len(pairs)} modified residue(s) built as their parent amino acid: {listed(pairs)}{left_out}")
        for kind, labels in self.dropped.items():
            out.append(f"dropped {len(labels)} {kind}: {listed(labels)}")
        return out
