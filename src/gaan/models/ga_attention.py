"""Geometric algebra attention backbones (vector and multivector variants)."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from gaan.models.base import Backbone, BackboneOutput, mlp


class GAAttentionBackbone(Backbone):
    """Stack of residual `VectorAttention(reduce=False)` blocks over centred positions.

    Each block updates every point's invariant features from attention over tuples of
    points; a point-wise MLP follows. Output features are rotation-invariant.

    With `vector_inputs=True` the batch's per-point covariant vectors (B, N, V, 3) (e.g.
    N-body velocities) join the attention set as V extra entries per point: each carries its
    owner's current features plus a learned "vector entry" flag, so tuples such as
    (position_j, velocity_i) give the invariants r_j . v_i etc. Velocities do not translate,
    so they are used as given (positions are centred); both stay rotation-covariant, hence the
    output is still invariant. Only the N point entries are returned.

    With `geometry_updates=True` every block is a `TiedVectorAttention` that also moves the
    points: r_i <- r_i + g_b * c_i / sqrt(1 + |c_i|^2), where c_i is the block's covariant
    output (soft-clipped to unit length in the normalized geometry) and g_b a learned gate that
    starts at 0 (so training starts from the plain backbone). Later blocks see the
    moved points, like the coordinate updates of EGNN; the total displacement, in input
    units, is returned as `BackboneOutput.vectors` (covariant heads add it to their output).

    With `local_frames=True` every point attends over its own view of the cloud: the vectors
    r_k - r_i to every point k (itself included, at the origin) and its own input vectors,
    through the layers' neighbour axis with reduction over that view. Pair distances
    |r_k - r_i| are then products of a single vector (as in EGNN messages), at the cost of
    about N times more tuples: meant for small clouds such as the N-body task.
    `local_vectors` says which input vectors a view holds: "own" (the centre's only; others'
    reach it through their features and moves), "all" (every point's, as given: the N-body
    velocities of the other bodies enter the centre's tuples directly, as in the node
    multivectors of CGENN messages) or "relative" (every other point's relative to the
    centre's, u_k - u_i, and the centre's own u_i: the same information, in the frame moving
    with the centre, where a pair's closing speed is one vector). "all" and "relative" cost
    (N + N V)**2 instead of (N + V)**2 rank-2 tuples per point.

    With `pair_messages=True` (instead of local frames) every block sends one message per
    ordered pair (i, k != i), as in EGNN/CGENN message passing: attention over the pair's small
    view {r_k - r_i with k's features, i's input vectors and k's input vectors with their
    owners' features} (without input vectors: {origin with i's features, r_k - r_i}), reduced
    to an invariant message and, for geometry updates, a covariant one; point i sums its
    messages over k. Interactions are pairwise by construction (forces are), and the
    tuples number N (N - 1) (1 + 2 V)**2 per cloud: 9 N (N - 1) for one vector per point.
    """

    layer_name = "VectorAttention"
    tied_layer_name = "TiedVectorAttention"

    def __init__(
        self,
        in_features: int,
        width: int = 32,
        depth: int = 2,
        rank: int = 2,
        invariant_mode: str = "single",
        covariant_mode: str = "partial",
        merge: str = "mean",
        join: str = "mean",
        heads: int = 1,
        normalize: bool = True,
        vector_inputs: bool = False,
        geometry_updates: bool = False,
        local_frames: bool = False,
        local_vectors: str = "own",
        pair_messages: bool = False,
        feature_norm: bool = False,
    ):
        super().__init__()
        import gaan.nn
        from gaan.nn.validation import check_choice

        check_choice("local_vectors", local_vectors, ("own", "all", "relative"))
        self.local_vectors = local_vectors
        self.pair_messages = bool(pair_messages)
        if self.pair_messages and local_frames:
            raise ValueError("model.pair_messages=true and model.local_frames=true are exclusive: pick one kind of view")

        self.geometry_updates = bool(geometry_updates)
        self.local_frames = bool(local_frames)
        attention_layer = getattr(gaan.nn, self.tied_layer_name if self.geometry_updates else self.layer_name)
        self.width = width
        self.uses_vectors = bool(vector_inputs)
        self.embed = nn.Linear(in_features, width)
        self.attention = nn.ModuleList(
            attention_layer(
                width,
                rank=rank,
                reduce=self.local_frames or self.pair_messages,  # a local or pair view is reduced to one output
                invariant_mode=invariant_mode,
                covariant_mode=covariant_mode,
                merge=merge,
                join=join,
                heads=heads,
            )
            for _ in range(depth)
        )
        self.mlps = nn.ModuleList(mlp(width, 2 * width, width) for _ in range(depth))
        # pre-norm residual blocks (as in pre-LN transformers): the residual stream grows with
        # depth, each block's input is kept at unit scale; one more norm before the head
        self.feature_norms = (
            nn.ModuleList(nn.LayerNorm(width) for _ in range(2 * depth + 1)) if feature_norm else None
        )
        # Scale-normalizing the geometry keeps attention logits in range for any unit system.
        self.norm = gaan.nn.MomentumLayerNormalization() if normalize else None
        if self.uses_vectors:
            # input vectors have their own units (velocities vs positions): own scale
            self.vector_norm = gaan.nn.MomentumLayerNormalization() if normalize else None
            self.vector_flag = nn.Parameter(torch.randn(width) / width**0.5)
        if self.geometry_updates:
            self.update_gates = nn.Parameter(torch.zeros(depth))

    def lift(self, r: Tensor) -> Tensor:
        """The geometry in the form the attention layers take (vectors here)."""
        return r

    def encode(self, positions: Tensor, features: Tensor, mask: Tensor, vectors: Tensor | None = None) -> BackboneOutput:
        weights = mask.unsqueeze(-1).to(features.dtype)
        r = self.norm(positions, mask=mask) * weights if self.norm is not None else positions
        h = self.embed(features) * weights
        if self.uses_vectors and vectors is None:
            raise ValueError(
                "model.vector_inputs=true but the batch has no vectors (the task's datamodule "
                "must provide per-point 'vectors', e.g. task=nbody)"
            )
        use_vectors = self.uses_vectors and vectors.shape[2] > 0
        batch_size, points = positions.shape[:2]
        if use_vectors:
            batch, _, count, dim = vectors.shape
            vector_mask = mask[:, :, None].expand(batch, points, count)
            v = self.vector_norm(vectors, mask=vector_mask) if self.vector_norm is not None else vectors
            r = torch.cat([r, v.reshape(batch, points * count, dim)], 1)
            full_mask = torch.cat([mask, vector_mask.reshape(batch, points * count)], 1)
            vector_weights = vector_mask.reshape(batch, points * count, 1).to(h.dtype)
        else:
            full_mask = mask
        r = self.lift(r)
        start = r
        for block, (attention, point_mlp) in enumerate(zip(self.attention, self.mlps)):
            h_in = self.feature_norms[2 * block](h) * weights if self.feature_norms is not None else h
            h_all = h_in
            if use_vectors:
                # vector entries carry their owner's current state, flagged as vectors
                owner = (h_in[:, :, None, :] + self.vector_flag).expand(batch, points, count, self.width)
                h_all = torch.cat([h_in, owner.reshape(batch, points * count, self.width) * vector_weights], 1)
            if self.local_frames:
                out = attention(*self._local_views(r, h_all, full_mask, points, self.local_vectors))
            elif self.pair_messages:
                view, view_features, view_mask = self._pair_views(r, h_all, full_mask, points)
                out = attention(view, view_features, mask=view_mask)
                # a message per ordered pair (zero for masked pairs), summed over senders k
                pair_sum = lambda x: x.reshape(batch_size, points, points, -1).sum(2)  # noqa: E731
                out = tuple(pair_sum(x) for x in out) if isinstance(out, tuple) else pair_sum(out)
            else:
                out = attention(r, h_all, mask=full_mask)
            if self.geometry_updates:
                moves, out = out
                moves = moves[:, :points]
                # soft clip to unit length (one running mean point norm): far outside the
                # training range a block's covariant output grows like |r|**2 and would throw
                # points away; typical moves (~0.3) pass almost unchanged
                moves = moves * torch.rsqrt(1 + moves.square().sum(-1, keepdim=True))
                # only the point entries move; input vectors (velocities) stay as given
                step = self.update_gates[block] * moves * weights
                r = torch.cat([r[:, :points] + step, r[:, points:]], 1)
            h = (h + out[:, :points]) * weights
            mlp_in = self.feature_norms[2 * block + 1](h) if self.feature_norms is not None else h
            h = (h + point_mlp(mlp_in)) * weights
        displacement = None
        if self.geometry_updates:
            displacement = self.unlift(r[:, :points] - start[:, :points])
            if self.norm is not None:
                displacement = displacement * self.norm.norm.to(displacement.dtype)  # back to input units
        if self.feature_norms is not None:
            h = self.feature_norms[-1](h) * weights
        return BackboneOutput(invariants=h, positions=positions, mask=mask, vectors=displacement)

    def unlift(self, r: Tensor) -> Tensor:
        """Vectors (B, N, 3) back from the form the attention layers take."""
        return r

    @staticmethod
    def _local_views(r: Tensor, h: Tensor, mask: Tensor, points: int, vectors: str = "own"):
        """Each point's view (B, N, N + V, ...): every point relative to it, then its own V
        input vectors as given; or, for `vectors` "all" / "relative", (B, N, N + N V, ...):
        every point's V input vectors as given / relative to the centre's (its own as given)."""
        batch = r.shape[0]
        relative = r[:, None, :points] - r[:, :points, None]
        per_point = lambda x: x[:, points:].reshape(batch, points, -1, *x.shape[2:])  # noqa: E731
        if vectors == "own":
            vectors_of = per_point
        else:
            vectors_of = lambda x: x[:, None, points:].expand(batch, points, *x[:, points:].shape[1:])  # noqa: E731
        view_vectors = vectors_of(r)
        if vectors == "relative":
            own = per_point(r)  # (B, N, V, C)
            others = view_vectors.reshape(batch, points, points, *own.shape[2:]) - own[:, :, None]
            self_slot = torch.eye(points, dtype=torch.bool, device=r.device).reshape(1, points, points, 1, 1)
            view_vectors = torch.where(self_slot, own[:, :, None], others).reshape(view_vectors.shape)
        view = torch.cat([relative, view_vectors], 2)
        features = torch.cat([h[:, None, :points].expand(-1, points, -1, -1), vectors_of(h)], 2)
        centre = mask[:, :points, None]
        view_mask = torch.cat([mask[:, None, :points] & centre, vectors_of(mask[..., None])[..., 0] & centre], 2)
        return view, features, view_mask


    @staticmethod
    def _pair_views(r: Tensor, h: Tensor, mask: Tensor, points: int):
        """The view of every ordered pair (i, k), flattened to (B, N N, K, ...): r_k - r_i with
        k's features, then i's and k's V input vectors as given with their features (V > 0), or
        the origin with i's features, then r_k - r_i (V = 0). Self pairs are masked."""
        batch = r.shape[0]
        per_point = lambda x: x[:, points:].reshape(batch, points, -1, *x.shape[2:])  # noqa: E731
        receiver = lambda x: x[:, :, None].expand(batch, points, points, *x.shape[2:])  # noqa: E731
        sender = lambda x: x[:, None].expand(batch, points, points, *x.shape[2:])  # noqa: E731
        relative = (r[:, None, :points] - r[:, :points, None])[:, :, :, None]  # (B, N, N, 1, C)
        h_points = h[:, :points, None]  # (B, N, 1, D)
        if r.shape[1] > points:
            view = torch.cat([relative, receiver(per_point(r)), sender(per_point(r))], 3)
            features = torch.cat([sender(h_points), receiver(per_point(h)), sender(per_point(h))], 3)
        else:
            view = torch.cat([torch.zeros_like(relative), relative], 3)
            features = torch.cat([receiver(h_points), sender(h_points)], 3)
        others = ~torch.eye(points, dtype=torch.bool, device=r.device)
        pair_mask = mask[:, :points, None] & mask[:, None, :points] & others
        view_mask = pair_mask[..., None].expand(*pair_mask.shape, view.shape[3])
        flat = lambda x: x.reshape(batch, points * points, *x.shape[3:])  # noqa: E731
        return flat(view), flat(features), flat(view_mask)


class GAMultivectorAttentionBackbone(GAAttentionBackbone):
    """Like `GAAttentionBackbone`, with positions (and input vectors) lifted to multivectors
    and `MultivectorAttention` blocks."""

    layer_name = "MultivectorAttention"
    tied_layer_name = "TiedMultivectorAttention"

    def lift(self, r: Tensor) -> Tensor:
        from gaan.nn import Vector2Multivector

        return Vector2Multivector()(r)

    def unlift(self, r: Tensor) -> Tensor:
        from gaan.nn import Multivector2Vector

        return Multivector2Vector()(r)
