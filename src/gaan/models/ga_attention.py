"""Geometric algebra attention backbones (vector and multivector variants)."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from gaan.models.base import Backbone, BackboneOutput
from gaan.nn.mlp import mlp


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

    With `vector_channels=K > 0` (needs `geometry_updates`) every point also carries K hidden
    covariant vectors, zero at the start: each block's tied layer has 1 + K covariant output
    channels, the first moves the point, the others update the hidden vectors (through their
    own gates, which start at 0; the last block has none to update), and the hidden vectors
    join the attention set as K more entries per point, like input vectors (with a learned
    flag per channel): per-point covariant state beyond the position (cost: (N + V + K)**2
    instead of (N + V)**2 rank-2 tuples per point with local frames).

    With `view_radius=R` (needs `local_frames`) each view's relative vectors are soft-limited
    in length, r_k - r_i -> (r_k - r_i) / sqrt(1 + |r_k - r_i|**2 / R**2) (R in normalized
    units; nearly unchanged well inside R, never longer than R): a body ejected far beyond the
    training range is seen at most R away, so the invariants (which grow like |r|**2) stay in
    the range the network was trained on. The map is one-to-one, nothing is lost inside.

    With `parity=True` the layers keep only reflection-invariant invariants and proper
    (reflection-covariant) vectors, e.g. a b a instead of the pseudovector a x b for a pair
    product: the backbone is then O(3)- rather than SO(3)-equivariant, the symmetry of
    mirror-symmetric physics such as Coulomb dynamics.

    With `pair_product_features=[c, ...]` (needs `local_frames`) those input feature columns
    (e.g. N-body charges) are not embedded per point: in point i's view, point k gets
    x_i[c] * x_k[c] instead (EGNN's edge attribute q_i q_k), embedded by every block's own
    linear map and added to k's features there. Negating those columns for every point at
    once then changes nothing: the backbone is exactly invariant to it (for charges, a
    symmetry of Coulomb dynamics the network otherwise has to learn).

    With `inverse_distance_softening=s` (needs `local_frames`) entry k of point i's view also
    gets (s / sqrt(d**2 + s**2))**p, p = 1, 2, 3, of their distance d (normalized units, after
    `view_radius`), embedded by every block's own linear map like the pair products: inverse
    powers such as Coulomb's 1 / d**2, which MLPs of the polynomial invariants (|r|**2, r . v)
    approximate badly near d = 0, where close pairs orbit fast and decide the N-body error.

    With `relative_motion_vectors=[c, ...]` (needs `local_frames` and `vector_inputs`) entry k of
    point i's view also gets, for each of those input vector channels, invariants of the pair's
    relative motion: with r = r_k - r_i (as in the view) and w = v_k - v_i (normalized units),
    r . w (approach or recession), |r ^ w| (the pair's angular momentum, sqrt(|r|**2 |w|**2 -
    (r . w)**2), any dimension) and |w|**2, embedded like the pair products. A point's view holds
    its own input vectors only, so without these the orbit of a close pair (which decides the
    N-body error) is seen only through the other point's features and moves.

    `dropout=p > 0` drops invariant channels of each block's two residual updates (attention
    and point MLP) while training, a regularizer for small training sets; the covariant moves
    are never dropped, so the output stays exactly covariant for any drop mask.
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
        vector_channels: int = 0,
        dropout: float = 0.0,
        view_radius: float | None = None,
        parity: bool = False,
        pair_product_features: list[int] | tuple[int, ...] = (),
        inverse_distance_softening: float | None = None,
        relative_motion_vectors: list[int] | tuple[int, ...] = (),
    ):
        super().__init__()
        import gaan.nn
        from gaan.nn.validation import check_positive_int

        check_positive_int("model.vector_channels", vector_channels, minimum=0)
        if vector_channels and not geometry_updates:
            raise ValueError("model.vector_channels > 0 needs model.geometry_updates=true (tied layers update the hidden vectors)")
        self.vector_channels = vector_channels
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"model.dropout must be in [0, 1), got {dropout!r}")
        self.dropout = nn.Dropout(dropout)
        self.view_radius = self._check_view_length("view_radius", view_radius, local_frames, "it limits each point's view")
        self.pair_product_features = self._check_pair_product_features(pair_product_features, in_features, local_frames)

        self.geometry_updates = bool(geometry_updates)
        self.local_frames = bool(local_frames)
        attention_layer = getattr(gaan.nn, self.tied_layer_name if self.geometry_updates else self.layer_name)
        self.width = width
        self.uses_vectors = bool(vector_inputs)
        # the columns embedded per point: all but the pair-product ones (fixed, so chosen once)
        self.point_feature_columns = [c for c in range(in_features) if c not in self.pair_product_features]
        self.embed = nn.Linear(len(self.point_feature_columns), width)
        self.inverse_distance_softening = self._check_view_length(
            "inverse_distance_softening", inverse_distance_softening, local_frames, "distances are taken per view"
        )
        self.relative_motion_vectors = self._check_relative_motion_vectors(relative_motion_vectors, local_frames, vector_inputs)
        # per-view pair inputs: the pair products, the inverse-distance powers, the relative motion
        count = (
            len(self.pair_product_features)
            + (len(self.INVERSE_DISTANCE_POWERS) if self.inverse_distance_softening else 0)
            + self.RELATIVE_MOTION_SIZE * len(self.relative_motion_vectors)
        )
        if count:
            self.pair_embeds = nn.ModuleList(nn.Linear(count, width, bias=False) for _ in range(depth))
        self.attention = nn.ModuleList(
            attention_layer(
                width,
                rank=rank,
                reduce=self.local_frames,  # a local view is reduced to its centre point
                invariant_mode=invariant_mode,
                covariant_mode=covariant_mode,
                merge=merge,
                join=join,
                heads=heads,
                parity=bool(parity),
                # the last block's hidden updates would reach nothing (and be unused parameters under DDP)
                **({"covariant_channels": 1 + self.vector_channels * (block < depth - 1)} if self.geometry_updates else {}),
            )
            for block in range(depth)
        )
        self.mlps = nn.ModuleList(mlp(width, width, hidden=2 * width) for _ in range(depth))
        # Scale-normalizing the geometry keeps attention logits in range for any unit system.
        self.norm = gaan.nn.MomentumLayerNormalization() if normalize else None
        if self.uses_vectors:
            # input vectors have their own units (velocities vs positions): own scale
            self.vector_norm = gaan.nn.MomentumLayerNormalization() if normalize else None
            self.vector_flag = nn.Parameter(torch.randn(width) / width**0.5)
        if self.geometry_updates:
            self.update_gates = nn.Parameter(torch.zeros(depth))
        if self.vector_channels:
            self.hidden_flags = nn.Parameter(torch.randn(self.vector_channels, width) / width**0.5)
            self.hidden_gates = nn.Parameter(torch.zeros(depth - 1, self.vector_channels))

    def lift(self, r: Tensor) -> Tensor:
        """The geometry in the form the attention layers take (vectors here)."""
        return r

    def encode(self, positions: Tensor, features: Tensor, mask: Tensor, vectors: Tensor | None = None) -> BackboneOutput:
        weights = mask.unsqueeze(-1).to(features.dtype)
        pair_products = None
        if self.pair_product_features:
            columns = list(self.pair_product_features)
            pair_values = features[..., columns] * weights  # (B, N, P)
            pair_products = pair_values[:, :, None, :] * pair_values[:, None, :, :]  # (B, N, N, P): centre x point
            features = features[..., self.point_feature_columns]
        r = self.norm(positions, mask=mask) * weights if self.norm is not None else positions
        h = self.embed(features) * weights
        if self.uses_vectors and vectors is None:
            raise ValueError(
                "model.vector_inputs=true but the batch has no vectors (the task's datamodule "
                "must provide per-point 'vectors', e.g. task=nbody)"
            )
        use_vectors = self.uses_vectors and vectors.shape[2] > 0
        batch, points = positions.shape[:2]
        if use_vectors:
            count = vectors.shape[2]
            vector_mask = mask[:, :, None].expand(batch, points, count)
            v = self.vector_norm(vectors, mask=vector_mask) if self.vector_norm is not None else vectors
        else:
            v = positions.new_zeros(batch, points, 0, positions.shape[-1])
        if self.relative_motion_vectors and max(self.relative_motion_vectors) >= v.shape[2]:
            raise ValueError(
                f"model.relative_motion_vectors={list(self.relative_motion_vectors)}: the batch has only "
                f"{v.shape[2]} input vector channel(s) per point"
            )
        r, v = self.lift(r), self.lift(v)
        # the input vectors stay as given through the blocks (only the views' positions move)
        motion_vectors = v[:, :, list(self.relative_motion_vectors)] if self.relative_motion_vectors else None
        # hidden covariant vectors, updated by the blocks like the positions
        u = r.new_zeros(batch, points, self.vector_channels, r.shape[-1])
        # per-point extra entries of the attention set (input, then hidden vectors), point-major
        extras = v.shape[2] + self.vector_channels
        extra_mask = mask[:, :, None].expand(batch, points, extras).reshape(batch, points * extras)
        full_mask = torch.cat([mask, extra_mask], 1)
        extra_weights = extra_mask[..., None].to(h.dtype)
        flags = []
        if use_vectors:
            flags.append(self.vector_flag.expand(v.shape[2], self.width))
        if self.vector_channels:
            flags.append(self.hidden_flags)
        flags = torch.cat(flags, 0) if flags else None  # (extras, width)
        start = r
        for block, (attention, point_mlp) in enumerate(zip(self.attention, self.mlps)):
            r_all, h_all = r, h
            if extras:
                # extra entries carry their owner's current state, flagged by kind
                owner = h[:, :, None, :] + flags
                h_all = torch.cat([h, owner.reshape(batch, points * extras, self.width) * extra_weights], 1)
                r_all = torch.cat([r, torch.cat([v, u], 2).reshape(batch, points * extras, -1)], 1)
            if self.local_frames:
                view, view_features, view_mask = self._local_views(r_all, h_all, full_mask, points, self.view_radius)
                pair_inputs = [] if pair_products is None else [pair_products]
                if self.inverse_distance_softening is not None:
                    pair_inputs.append(self.inverse_distance_features(view[:, :, :points], self.inverse_distance_softening))
                if self.relative_motion_vectors:
                    pair_inputs.append(self.relative_motion_features(view[:, :, :points], motion_vectors, mask))
                if pair_inputs:
                    pair_terms = self.pair_embeds[block](torch.cat(pair_inputs, -1))  # (B, N, N, width) for the N point entries
                    view_features = torch.cat([view_features[:, :, :points] + pair_terms, view_features[:, :, points:]], 2)
                out = attention(view, view_features, view_mask)
            else:
                out = attention(r_all, h_all, mask=full_mask)
            if self.geometry_updates:
                moves, out = out
                moves = moves[:, :points]
                if moves.dim() == 4:  # (B, N, 1 + K, C): the position's move, then the hidden vectors'
                    moves, hidden_moves = moves[:, :, 0], moves[:, :, 1:]
                    u = u + self.hidden_gates[block][:, None] * self._soft_clip(hidden_moves) * weights[..., None]
                # only the points move; input vectors (velocities) stay as given
                r = r + self.update_gates[block] * self._soft_clip(moves) * weights
            h = (h + self.dropout(out[:, :points])) * weights
            h = (h + self.dropout(point_mlp(h))) * weights
        displacement = None
        if self.geometry_updates:
            displacement = self.unlift(r - start)
            if self.norm is not None:
                displacement = displacement * self.norm.norm.to(displacement.dtype)  # back to input units
        return BackboneOutput(invariants=h, positions=positions, mask=mask, vectors=displacement)

    INVERSE_DISTANCE_POWERS = (1, 2, 3)

    @classmethod
    def inverse_distance_features(cls, relative: Tensor, softening: float) -> Tensor:
        """(s / sqrt(d**2 + s**2))**p for p in INVERSE_DISTANCE_POWERS, of the distances d of a
        view's entries (B, N, N, C) to its centre: (B, N, N, 3), ~(s / d)**p far away, at most 1
        at contact; zero for the centre itself (no pair)."""
        squared = relative.square().sum(-1, keepdim=True)
        base = softening * torch.rsqrt(squared + softening**2)
        points = relative.shape[1]
        not_self = 1 - torch.eye(points, dtype=relative.dtype, device=relative.device)[..., None]
        return torch.cat([base**p for p in cls.INVERSE_DISTANCE_POWERS], -1) * not_self

    RELATIVE_MOTION_SIZE = 3

    @classmethod
    def relative_motion_features(cls, relative: Tensor, vectors: Tensor, mask: Tensor) -> Tensor:
        """For views' relative vectors r (B, N, N, C) and per-point vectors v (B, N, V, C): with
        w = v_k - v_i, (r . w, |r ^ w|, |w|**2) per channel, (B, N, N, 3 V); zero on the
        diagonal (r = w = 0) and for pairs with a padded point."""
        w = vectors[:, None, :, :, :] - vectors[:, :, None, :, :]  # (B, N, N, V, C): k's minus i's
        r = relative[:, :, :, None, :]
        dot = (r * w).sum(-1)
        speed2 = w.square().sum(-1)
        # Lagrange's identity: |r ^ w|**2 in any dimension; x / sqrt(x + eps) is sqrt(x) to
        # ~eps / x but, unlike sqrt, has a finite gradient at 0 (the diagonal, parallel motion)
        wedge2 = (r.square().sum(-1) * speed2 - dot.square()).clamp_min(0)
        wedge = wedge2 * torch.rsqrt(wedge2 + cls.WEDGE_EPS)
        pair_mask = (mask[:, None, :] & mask[:, :, None]).to(relative.dtype)[..., None]
        return torch.cat([dot, wedge, speed2], -1) * pair_mask

    WEDGE_EPS = 1e-12

    @staticmethod
    def _check_relative_motion_vectors(channels, local_frames: bool, vector_inputs: bool) -> tuple[int, ...]:
        channels = tuple(int(c) for c in (channels or ()))
        if not channels:
            return ()
        if not (local_frames and vector_inputs):
            raise ValueError(
                "model.relative_motion_vectors needs model.local_frames=true and model.vector_inputs=true "
                "(pair differences of input vectors, taken per view)"
            )
        if len(set(channels)) != len(channels) or min(channels) < 0:
            raise ValueError(f"model.relative_motion_vectors must be distinct input vector channels >= 0, got {list(channels)}")
        return channels

    @staticmethod
    def _check_view_length(key: str, value: float | None, local_frames: bool, why: str) -> float | None:
        """An optional length of the local views (normalized units): null, or > 0 with local frames."""
        if value is None:
            return None
        if not local_frames:
            raise ValueError(f"model.{key} needs model.local_frames=true ({why})")
        if not value > 0:
            raise ValueError(f"model.{key} must be > 0 (or null), got {value!r}")
        return float(value)

    @staticmethod
    def _check_pair_product_features(columns, in_features: int, local_frames: bool) -> tuple[int, ...]:
        columns = tuple(int(c) for c in (columns or ()))
        if not columns:
            return ()
        if not local_frames:
            raise ValueError("model.pair_product_features needs model.local_frames=true (products are taken per view)")
        if len(set(columns)) != len(columns) or not all(0 <= c < in_features for c in columns):
            raise ValueError(
                f"model.pair_product_features must be distinct feature columns in [0, {in_features}), got {list(columns)}"
            )
        if len(columns) == in_features:
            raise ValueError("model.pair_product_features must leave at least one feature column to embed per point")
        return columns

    @staticmethod
    def _soft_clip(x: Tensor, radius: float = 1.0) -> Tensor:
        """x / sqrt(1 + |x|**2 / radius**2): never longer than `radius`, nearly unchanged well
        inside it. Moves are clipped to unit length (one running mean point norm): far outside
        the training range a block's covariant output grows like |r|**2 and would throw points
        away; typical moves (~0.3) pass almost unchanged."""
        return x * torch.rsqrt(1 + x.square().sum(-1, keepdim=True) / radius**2)

    def unlift(self, r: Tensor) -> Tensor:
        """Vectors (B, N, 3) back from the form the attention layers take."""
        return r

    @classmethod
    def _local_views(cls, r: Tensor, h: Tensor, mask: Tensor, points: int, radius: float | None = None):
        """Each point's view (B, N, N + V, ...): every point relative to it (soft-limited to
        `radius` if given), then its own V input vectors as given (others' vectors reach it
        through their features and moves)."""
        batch = r.shape[0]
        relative = r[:, None, :points] - r[:, :points, None]
        if radius is not None:
            relative = cls._soft_clip(relative, radius)
        own = lambda x: x[:, points:].reshape(batch, points, -1, *x.shape[2:])  # noqa: E731
        view = torch.cat([relative, own(r)], 2)
        features = torch.cat([h[:, None, :points].expand(-1, points, -1, -1), own(h)], 2)
        view_mask = torch.cat([mask[:, None, :points] & mask[:, :points, None], own(mask[..., None])[..., 0]], 2)
        return view, features, view_mask


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
