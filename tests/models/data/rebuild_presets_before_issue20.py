"""Rebuild presets_before_issue20.pt's outputs in float64 with the code before issue 20.

The fixture first held float32 outputs, compared at atol 1e-6: on another CPU (other SIMD
kernels, other summation order) float32 activations differ by a few 1e-6 and the test failed
although nothing had changed. Each record keeps its float32 state dict and inputs (what the old
code built from torch seed 0); its outputs are recomputed here in float64 (weights and inputs
cast up), where rounding differences between machines stay near 1e-15.

Run from the repository root, with the old code first on the path:

    git archive 37610ee | tar -x -C /tmp/gaan_old
    PYTHONPATH=/tmp/gaan_old/src python tests/models/data/rebuild_presets_before_issue20.py
"""

from pathlib import Path

import hydra
import torch

import gaan

FIXTURE = Path(__file__).parent / "presets_before_issue20.pt"


def float64_outputs(record: dict) -> tuple[torch.Tensor, torch.Tensor | None]:
    backbone = hydra.utils.instantiate(record["model_config"], _partial_=True)(in_features=record["in_features"]).double()
    weights = record["state_dict"]
    backbone.load_state_dict({name: tensor.double() if tensor.is_floating_point() else tensor for name, tensor in weights.items()})
    positions, features, mask, vectors = (x.double() if x is not None and x.is_floating_point() else x for x in record["inputs"])
    with torch.no_grad():
        out = backbone.eval()(positions, features, mask, vectors=vectors)
    return out.invariants, out.vectors


def main() -> None:
    assert "gaan_old" in gaan.__file__, f"run with the code before issue 20 first on PYTHONPATH, not {gaan.__file__}"
    records = torch.load(FIXTURE, weights_only=False)
    for preset, record in records.items():
        invariants, vectors = float64_outputs(record)
        change = (invariants - record["invariants"].double()).abs().max().item()
        print(f"{preset}: float64 outputs differ from the stored float32 ones by at most {change:.2g}")
        record["invariants"], record["vectors"] = invariants, vectors
    torch.save(records, FIXTURE)


if __name__ == "__main__":
    main()
