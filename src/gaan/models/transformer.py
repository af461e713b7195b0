"""Plain transformer baseline: attention over points whose coordinates are ordinary input numbers.

Not rotation-equivariant (permutation-equivariant only): it sees centred positions and input
vectors as features, and reads covariant outputs off its hidden state with a linear map. Train it
with random-rotation augmentation (`task.datamodule.rotation_augmentation=true`) to learn the
symmetry from data; the gap to GA attention at equal budget is what exact equivariance buys.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from gaan.models.base import Backbone, BackboneOutput


class TransformerBackbone(Backbone):
    """Point tokens (centred position, input vectors, features) through a pre-norm transformer
    encoder; padded points are masked out of the attention.

    :param width, depth, heads: model width, encoder layers, attention heads
    :param vector_inputs: the batch's input vectors (B, N, V, 3) join each token
    :param max_vector_inputs: V the token embedding is built for (fewer are zero-padded)
    """

    def __init__(
        self,
        in_features: int,
        width: int = 64,
        depth: int = 4,
        heads: int = 4,
        dropout: float = 0.0,
        vector_inputs: bool = False,
        max_vector_inputs: int = 1,
        dim: int = 3,
    ):
        super().__init__()
        if width % heads:
            raise ValueError(f"model.heads={heads} must divide model.width={width}")
        self.width, self.dim = width, dim
        self.uses_vectors = bool(vector_inputs)
        self.max_vector_inputs = max_vector_inputs if self.uses_vectors else 0
        self.embed = nn.Linear(in_features + dim * (1 + self.max_vector_inputs), width)
        layer = nn.TransformerEncoderLayer(
            width, heads, dim_feedforward=2 * width, dropout=dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.readout = nn.Linear(width, dim)

    def encode(self, positions: Tensor, features: Tensor, mask: Tensor, vectors: Tensor | None = None) -> BackboneOutput:
        weights = mask[..., None].to(features.dtype)
        tokens = [positions, features]
        if self.uses_vectors:
            if vectors is None or vectors.shape[2] > self.max_vector_inputs:
                got = None if vectors is None else vectors.shape[2]
                raise ValueError(
                    f"model.vector_inputs=true with model.max_vector_inputs={self.max_vector_inputs}, "
                    f"but the batch has {got} input vectors per point"
                )
            padded = positions.new_zeros(*positions.shape[:2], self.max_vector_inputs, self.dim)
            padded[:, :, : vectors.shape[2]] = vectors
            tokens.append(padded.flatten(2))
        # the math kernel has second derivatives (forces trained as -dE/dx); the fused CPU one has none
        with sdpa_kernel([SDPBackend.MATH]):
            h = self.encoder(self.embed(torch.cat(tokens, -1) * weights), src_key_padding_mask=~mask)
        h = self.norm(h) * weights
        return BackboneOutput(invariants=h, positions=positions, mask=mask, vectors=self.readout(h) * weights)
