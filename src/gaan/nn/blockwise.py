"""Blockwise evaluation with recomputation: per-tuple tensors never exist for all tuples at once.

A layer's per-tuple work (hidden units, scores, softmax, pooling) is independent between
blocks of whole softmax groups (clouds, or rows of a cloud's first tuple index), so it can be
run block by block: the forward pass keeps only each block's small outputs, and the backward
pass recomputes one block at a time and differentiates it locally. Peak memory then holds the
per-tuple tensors of one block instead of those of every layer of the network, for the price
of a second forward evaluation.
"""

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

Block = tuple[slice, slice]


def _part(x: Tensor, block: Block) -> Tensor:
    """x's share of a block: axes 0 (batch) and 1 (rows) are cut where x is not broadcast."""
    batch, rows = block
    return x[batch if x.shape[0] > 1 else slice(None), rows if x.shape[1] > 1 else slice(None)]


class _Blockwise(torch.autograd.Function):
    @staticmethod
    def forward(ctx, fn, blocks, n_split, n_shared, *tensors):
        split, shared = tensors[:n_split], tensors[n_split : n_split + n_shared]
        outputs = None
        for block in blocks:
            part = fn([_part(x, block) for x in split], list(shared))
            if outputs is None:
                batch = max(b.stop for b, _ in blocks)
                outputs = [p.new_empty(batch, *_full_rows(blocks, p), *p.shape[2:]) for p in part]
            for full, p in zip(outputs, part):
                full[block] = p
        ctx.fn, ctx.blocks, ctx.n_split, ctx.n_shared = fn, blocks, n_split, n_shared
        ctx.save_for_backward(*tensors)
        ctx.set_materialize_grads(False)
        return tuple(outputs)

    @staticmethod
    def backward(ctx, *grad_outputs):
        tensors = ctx.saved_tensors
        n_split, n_shared = ctx.n_split, ctx.n_shared
        wanted = [i for i, need in enumerate(ctx.needs_input_grad[4:]) if need]
        if torch.is_grad_enabled():
            # create_graph=True (e.g. forces as -dE/dr, trained on): the gradients must stay
            # functions of the inputs, so everything is recomputed at once from the inputs
            outputs = ctx.fn(list(tensors[:n_split]), list(tensors[n_split : n_split + n_shared]))
            given = [(o, g) for o, g in zip(outputs, grad_outputs) if g is not None]
            found = torch.autograd.grad(
                [o for o, _ in given],
                [tensors[i] for i in wanted],
                [g for _, g in given],
                create_graph=True,
                allow_unused=True,
            )
            grads: list[Tensor | None] = [None] * len(tensors)
            for i, g in zip(wanted, found):
                grads[i] = g
            return (None, None, None, None, *grads)
        grads = [None] * len(tensors)
        for block in ctx.blocks:
            given = [(i, g[block]) for i, g in enumerate(grad_outputs) if g is not None]
            if not given:
                continue
            with torch.enable_grad():
                leaves = [
                    (_part(x, block) if i < n_split else x).detach().requires_grad_(i in wanted)
                    if i < n_split + n_shared
                    else x  # parameters: the modules' own, used as they are
                    for i, x in enumerate(tensors)
                ]
                part = ctx.fn(leaves[:n_split], leaves[n_split : n_split + n_shared])
                found = torch.autograd.grad(
                    [part[i] for i, _ in given], [leaves[i] for i in wanted], [g for _, g in given], allow_unused=True
                )
            for i, g in zip(wanted, found):
                if g is None:
                    continue
                if i >= n_split:
                    # a copy: autograd may hand back a buffer it shares with the next block's graph
                    grads[i] = g.clone() if grads[i] is None else grads[i].add_(g)
                    continue
                if grads[i] is None:
                    grads[i] = torch.zeros_like(tensors[i])
                _part(grads[i], block).add_(g)
        return (None, None, None, None, *grads)


def _full_rows(blocks: Sequence[Block], part: Tensor) -> tuple[int, ...]:
    """The full size of axis 1 of an output: the largest row stop, or a block's own size."""
    stops = [rows.stop for _, rows in blocks if rows.stop is not None]
    return (max(stops),) if stops else (part.shape[1],)


def blockwise(
    fn: Callable[[list[Tensor], list[Tensor]], Sequence[Tensor]],
    blocks: Sequence[Block],
    split: Sequence[Tensor],
    shared: Sequence[Tensor] = (),
    parameters: Sequence[Tensor] = (),
) -> tuple[Tensor, ...]:
    """``fn(split parts, shared)`` evaluated block by block and recomputed in the backward pass.

    :param fn: maps the block's parts of ``split`` (and ``shared`` whole) to outputs whose axes
        0 and 1 are the block's batch and rows; its result must not depend on other blocks
    :param blocks: (batch slice, rows slice) pairs with explicit bounds (rows ``slice(None)``:
        whole rows) that tile the output
    :param split: tensors whose axes 0 and 1 follow the blocks (size 1 there: broadcast)
    :param shared: tensors every block uses whole
    :param parameters: tensors ``fn`` uses through modules (their gradients are routed here)
    """
    return _Blockwise.apply(fn, list(blocks), len(split), len(shared), *split, *shared, *parameters)
