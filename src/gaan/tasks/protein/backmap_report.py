"""What a backmapped output says about itself: the provenance lines written into the file
(tool version, checkpoint, beads, refinement, what the B-factor column holds) and the report
printed for each input (residues, notes, the confidence column, the geometry and RMSD tables)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gaan.tasks.protein.metrics import format_metrics_table, format_residue_type_table
from gaan.tasks.protein.structure_geometry import format_geometry_table

if TYPE_CHECKING:
    from gaan.tasks.protein.backmap import Backmapper, BackmapResult

# what the B-factor column holds, as REMARK 999 lines (PDB) or comments (mmCIF); at most 69 characters a line
CONFIDENCE_REMARKS = (
    "B-factor column: per-atom distance (A) from the network's predicted",
    "position to the written (refined) one; large = low confidence; 0.00",
    "for atoms not predicted (residues of unknown type, kept as given)",
)
UNREFINED_CONFIDENCE_REMARKS = ("B-factor column: 0.00 (--no-refine: no refined position to compare)",)


def provenance(input_path: str | Path, backmapper: Backmapper, refine: bool) -> list[str]:
    """What made an output: tool version, checkpoint (name and sha256 prefix), beads, refinement."""
    import gaan

    digest = hashlib.sha256(Path(backmapper.path).read_bytes()).hexdigest()[:16]
    return [
        f"gaan-backmap {gaan.__version__} from {Path(input_path).name}",
        f"checkpoint {Path(backmapper.path).name} (sha256 {digest}...), {backmapper.beads} beads",
        f"refinement {'on' if refine else 'off (--no-refine)'}",
        *(CONFIDENCE_REMARKS if refine else UNREFINED_CONFIDENCE_REMARKS),
    ]


def report(result: BackmapResult, input_path: str | Path, output_path: str | Path) -> str:
    rate = result.models * result.predicted_residues / result.seconds if result.seconds > 0 else float("nan")
    lines = [
        (
            f"{input_path} -> {output_path}: {result.models} model(s), {result.predicted_residues} of {result.residues} residues "
            f"backmapped per model, {result.predicted.array_length()} atoms per model; {result.seconds:.2f} s ({rate:.0f} residues/s)"
        ),
        f"checkpoint: {result.checkpoint} ({result.beads} beads)",
    ]
    lines += [f"note: {note}" for note in result.notes]
    if result.b_factors is not None and result.b_factors.any():
        moved = result.b_factors
        lines.append(
            f"B-factor column: distance from the network's atom to the refined one, median {np.median(moved):.2f} A, "
            f"95th percentile {np.percentile(moved, 95):.2f} A, largest {moved.max():.2f} A"
        )
    lines += [
        "",
        "Geometry of the output (every model; definitions in the README):",
        format_geometry_table({"gaan-backmap": result.geometry}),
    ]
    if result.metrics is not None:
        lines += ["", "Against the input's atoms (no superposition):", format_metrics_table({"gaan-backmap": result.metrics})]
        lines += ["", "Per residue type:", format_residue_type_table(result.metrics)]
    else:
        lines.append("The input has beads only: no RMSD table.")
    return "\n".join(lines)
