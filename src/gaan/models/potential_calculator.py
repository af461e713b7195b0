"""An ASE calculator around a `MolecularPotential`: energy (eV) and forces (eV/A) of an
`ase.Atoms` from trained gaan energy models; an ensemble adds `forces_std` (eV/A per atom) and
`energy_std` to `results`. `gaan.ase.GAANCalculator` builds one from checkpoint files."""

from __future__ import annotations

from ase.calculators.calculator import Calculator, all_changes

from gaan.models.molecular_potential import MolecularPotential


class PotentialCalculator(Calculator):
    """ase calculator of a `MolecularPotential` (non-periodic molecules)."""

    implemented_properties = ("energy", "free_energy", "forces", "energy_std", "forces_std")

    def __init__(self, potential: MolecularPotential, **kwargs):
        super().__init__(**kwargs)
        self.potential = potential

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        where = f"atoms {self.atoms.get_chemical_formula()}"
        out = self.potential.predict(self.atoms.get_atomic_numbers(), self.atoms.get_positions(), where=where)
        energy = float(out["energy"])
        self.results = {"energy": energy, "free_energy": energy, "forces": out["forces"].copy()}
        if "forces_std" in out:
            self.results["forces_std"] = out["forces_std"].copy()
            self.results["energy_std"] = float(out["energy_std"])
