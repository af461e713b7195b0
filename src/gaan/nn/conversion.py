"""Embedding vectors into multivectors and reading vectors back out."""

from torch import Tensor, nn

from ..algebra import g2, g3


class Vector2Multivector(nn.Module):
    """(..., 3) vectors -> (..., 8) multivectors; (..., 2) -> (..., 4) in the plane."""

    def forward(self, vectors: Tensor) -> Tensor:
        if vectors.shape[-1] == 3:
            return g3.vector_to_mv(vectors)
        if vectors.shape[-1] == 2:
            return g2.vector_to_mv(vectors)
        raise ValueError(f"vectors must have 2 or 3 components, got shape {tuple(vectors.shape)}")


class Multivector2Vector(nn.Module):
    """(..., 8) multivectors -> their (..., 3) vector part; (..., 4) -> (..., 2) in the plane."""

    def forward(self, multivectors: Tensor) -> Tensor:
        if multivectors.shape[-1] == 8:
            return g3.mv_vector(multivectors)
        if multivectors.shape[-1] == 4:
            return g2.mv_vector(multivectors)
        raise ValueError(f"multivectors must have 4 or 8 components, got shape {tuple(multivectors.shape)}")
