"""Tuple product series: the modes yield the documented products and widths."""

import itertools

import pytest
import torch

from gaan.algebra import g3, tuples

pytestmark = pytest.mark.usefixtures("float64_default_dtype")


@pytest.mark.parametrize("rank", [1, 2, 3, 4])
def test_modes_enumerate_contiguous_subproducts(rank):
    gen = torch.Generator().manual_seed(rank)
    factors = [torch.randn(3, generator=gen) for _ in range(rank)]
    series = tuples.vector_tuple_products(factors, g3)
    assert [p.order for p in series["single"]] == [rank]
    assert [p.order for p in series["partial"]] == list(range(rank, 0, -1))
    assert len(series["full"]) == rank * (rank + 1) // 2
    # each 'full' product equals the full multivector product of its contiguous factors
    spans = [(s, e) for s in range(rank) for e in range(rank - 1, s - 1, -1)]
    for product, (start, end) in zip(series["full"], spans):
        expected = g3.vector_to_mv(factors[start])
        for f in factors[start + 1 : end + 1]:
            expected = g3.mv_mv(expected, g3.vector_to_mv(f))
        as_mv = {"vector": g3.vector_to_mv, "even": g3.even_to_mv, "odd": g3.odd_to_mv}[product.grade](product.value)
        torch.testing.assert_close(as_mv, expected)


@pytest.mark.parametrize(
    "dim,input_kind,rank,mode,normalized",
    list(itertools.product([2, 3], ["vector", "multivector"], [1, 2, 3], tuples.PRODUCT_MODES, [False, True])),
)
def test_widths_match_invariants(dim, input_kind, rank, mode, normalized):
    algebra = tuples.algebra_for(dim)
    size = algebra.VECTOR_SIZE if input_kind == "vector" else algebra.MULTIVECTOR_SIZE
    factors = [torch.randn(size) for _ in range(rank)]
    build = tuples.vector_tuple_products if input_kind == "vector" else tuples.multivector_tuple_products
    products = build(factors, algebra)[mode]
    if normalized:
        products = products + [tuples.normalized(p) for p in products]
    widths = [tuples.invariants(p, algebra).shape[-1] for p in products]
    assert widths == tuples.product_widths(input_kind, rank, mode, algebra, normalized)


def test_algebra_for_rejects_other_dimensions():
    with pytest.raises(ValueError, match="dim must be 2 or 3"):
        tuples.algebra_for(4)
