"""Energy along a bond stretch: does a trained potential hold a molecule together?

One atom of a frame is moved away from another along their bond, every other atom kept in place,
and each potential's energy is reported relative to the frame's own bond length. A reference
(GFN2-xTB through tblite, the level the md17 data were generated at) rises by the bond's
dissociation energy; a potential whose curve stays flat or dips lets the atom leave in dynamics,
which is how an NVE run at 500 K can heat up and blow up (docs/chemistry.md, issue 30).

    python -m gaan.tasks.md17.bond_stretch ethanol <run>/checkpoints/best-epochNNN.ckpt \
        --split val --frame 250 --atoms 1 6
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence

import numpy as np

DEFAULT_DISTANCES = (1.2, 1.4, 1.6, 1.8, 2.0, 2.5, 3.0, 4.0, 5.0)  # A


def stretched_positions(positions: np.ndarray, anchor: int, moved: int, distances: Sequence[float]) -> np.ndarray:
    """(len(distances), N, 3) copies of `positions` (N, 3) with atom `moved` at each distance
    (A) from atom `anchor` along their bond; every other atom stays where it is."""
    positions = np.asarray(positions, dtype=np.float64)
    if anchor == moved or not (0 <= anchor < len(positions) and 0 <= moved < len(positions)):
        raise ValueError(f"--atoms needs two different atom indices in 0..{len(positions) - 1}, got {anchor} and {moved}")
    bond = positions[moved] - positions[anchor]
    unit = bond / np.linalg.norm(bond)
    frames = np.repeat(positions[None], len(distances), axis=0)
    frames[:, moved] = positions[anchor] + np.asarray(distances, dtype=np.float64)[:, None] * unit
    return frames


def bond_stretch_energies(
    calculators: Mapping[str, object], numbers: np.ndarray, positions: np.ndarray, anchor: int, moved: int, distances: Sequence[float]
) -> dict[str, np.ndarray]:
    """Per calculator (an ASE calculator), the energies (eV) along the stretch relative to the
    energy of `positions` itself."""
    from ase import Atoms

    def energy(calculator, p: np.ndarray) -> float:
        atoms = Atoms(numbers=np.asarray(numbers), positions=p)
        atoms.calc = calculator
        return atoms.get_potential_energy()

    frames = stretched_positions(positions, anchor, moved, distances)
    energies = {}
    for name, calculator in calculators.items():
        start = energy(calculator, np.asarray(positions, dtype=np.float64))
        energies[name] = np.array([energy(calculator, p) for p in frames]) - start
    return energies


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("molecule", help="the md17 molecule whose generated data hold the frame (ethanol, aspirin, ...)")
    parser.add_argument("models", nargs="+", help="checkpoints, exported files or shipped names (gaan.ase.GAANCalculator)")
    parser.add_argument("--split", default="val", choices=["train", "val", "test"])
    parser.add_argument("--frame", type=int, default=0)
    parser.add_argument("--atoms", type=int, nargs=2, required=True, metavar=("ANCHOR", "MOVED"))
    parser.add_argument("--distances", type=float, nargs="+", default=list(DEFAULT_DISTANCES), help="A")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--no-reference", action="store_true", help="skip the xTB reference (the data's method, GFN2-xTB by default)")
    args = parser.parse_args(argv)

    from gaan.ase import GAANCalculator
    from gaan.tasks.md17.datamodule import MD17DataModule

    data = MD17DataModule(data_dir=args.data_dir, molecule=args.molecule)
    data.prepare_data()
    data.setup("fit" if args.split != "test" else "test")
    arrays = data.arrays[args.split]
    if not 0 <= args.frame < len(arrays["positions"]):
        raise SystemExit(f"--frame {args.frame}: the {args.split} split has {len(arrays['positions'])} frames")
    calculators = {model: GAANCalculator(model) for model in args.models}
    if not args.no_reference:
        from gaan.tasks.md17.xtb_dynamics import xtb_calculator

        method = data.recipe.method  # the level the frames were generated at
        calculators[method] = xtb_calculator(method)
    positions = arrays["positions"][args.frame]
    anchor, moved = args.atoms
    energies = bond_stretch_energies(calculators, arrays["numbers"], positions, anchor, moved, args.distances)
    start = np.linalg.norm(positions[moved] - positions[anchor])
    print(
        f"{args.molecule} {args.split} frame {args.frame}: atom {moved} (Z={arrays['numbers'][moved]}) from atom {anchor} "
        f"(Z={arrays['numbers'][anchor]}), {start:.3f} A in the frame; energy relative to the frame (eV)"
    )
    print("distance (A) | " + " | ".join(energies))
    for k, distance in enumerate(args.distances):
        print(f"{distance:.2f} | " + " | ".join(f"{e[k]:+.3f}" for e in energies.values()))


if __name__ == "__main__":
    main()
