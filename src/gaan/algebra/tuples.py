"""Geometric products over tuples of points, and what a layer reads off them.

For a tuple of ``rank`` factors ``(x_0, ..., x_{rank-1})`` the products considered are

* ``single``:  the full product ``x_0 x_1 ... x_{rank-1}``;
* ``partial``: every prefix product, longest first;
* ``full``:    every contiguous sub-product ``x_s ... x_e``, grouped by start ``s``, longest first.

Factors are broadcastable tensors (one tuple position per axis), so a product of the first
two factors of a rank-3 tuple is only ``N**2`` large, not ``N**3``.
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from types import ModuleType

from torch import Tensor

from . import g2, g3
from .common import safe_norm

PRODUCT_MODES = ("single", "partial", "full")


def algebra_for(dim: int) -> ModuleType:
    """The closed-form algebra module for 2-D or 3-D space."""
    if dim == 3:
        return g3
    if dim == 2:
        return g2
    raise ValueError(f"dim must be 2 or 3, got {dim!r}")


@dataclass(frozen=True)
class Product:
    """A geometric product of ``order`` factors, in the layout named by ``grade``."""

    order: int
    grade: str  # 'vector', 'even', 'odd' or 'multivector'
    value: Tensor
    first: Tensor  # the first factor; a proper vector for parity-safe covariants
    scale: Tensor | None = None  # 1/|value| for normalized products


def _series(factors: Sequence[Tensor], multiply, grade_of) -> dict[str, list[Product]]:
    result: dict[str, list[Product]] = {"single": [], "partial": [], "full": []}
    for start in range(len(factors)):
        series = []
        value = None
        for order, factor in enumerate(factors[start:], 1):
            value = factor if value is None else multiply(order, value, factor)
            series.append(Product(order, grade_of(order), value, factors[start]))
        series.reverse()
        if start == 0:
            result["single"] = [series[0]]
            result["partial"] = list(series)
        result["full"].extend(series)
    return result


def vector_grade(order: int) -> str:
    if order == 1:
        return "vector"
    return "even" if order % 2 == 0 else "odd"


def vector_tuple_products(factors: Sequence[Tensor], algebra: ModuleType) -> dict[str, list[Product]]:
    """Products of vectors; each mode's list, in the order the layer concatenates them."""

    def multiply(order: int, value: Tensor, factor: Tensor) -> Tensor:
        left = vector_grade(order - 1)
        if left == "vector":
            return algebra.vec_vec(value, factor)
        if left == "even":
            return algebra.even_vec(value, factor)
        return algebra.odd_vec(value, factor)

    return _series(factors, multiply, vector_grade)


def multivector_tuple_products(factors: Sequence[Tensor], algebra: ModuleType) -> dict[str, list[Product]]:
    return _series(factors, lambda order, value, factor: algebra.mv_mv(value, factor), lambda order: "multivector")


def normalized(product: Product) -> Product:
    """The same product divided by the norm of all its components (clipped at 1e-7)."""
    scale = 1.0 / safe_norm(product.value).clamp_min(1e-7)
    return replace(product, scale=scale)


def invariant_size(grade: str, algebra: ModuleType) -> int:
    if grade == "vector":
        return 1
    if grade == "even":
        return 2
    if grade == "odd":
        return algebra.ODD_INVARIANT_SIZE
    return {3: 4, 2: 3}[algebra.VECTOR_SIZE]


def invariants(product: Product, algebra: ModuleType, parity: bool = False) -> Tensor:
    """Rotation-invariant scalars of a product (reflection-invariant too if ``parity``)."""
    reader = {
        "vector": algebra.vector_invariants,
        "even": algebra.even_invariants,
        "odd": algebra.odd_invariants,
        "multivector": algebra.mv_invariants,
    }[product.grade]
    result = reader(product.value, parity)
    return result if product.scale is None else result * product.scale


def covariant(product: Product, algebra: ModuleType, parity: bool = False) -> Tensor:
    """The rotation-covariant part of a product that a layer outputs.

    Vectors for vector products: the vector itself, the vector part of odd products and, for
    even products, the dual of the bivector (a pseudovector, as the reference does) or, when
    ``parity`` is asked for or in 2-D where no such dual exists, the proper vector
    ``<P x_first>_1`` (for ``P = a b`` this is ``a b a``, |a|^2 times b reflected in a).
    Multivector products are their own covariant.
    """
    grade = product.grade
    if grade in ("vector", "multivector"):
        result = product.value
    elif grade == "odd":
        result = algebra.odd_covariant(product.value)
    elif parity or algebra is g2:
        result = algebra.odd_covariant(algebra.even_vec(product.value, product.first))
    else:
        result = algebra.even_covariant(product.value)
    return result if product.scale is None else result * product.scale


def product_widths(
    input_kind: str,
    rank: int,
    mode: str,
    algebra: ModuleType,
    include_normalized_products: bool = False,
    linear_terms: int = 0,
) -> list[int]:
    """Invariant widths of each product a mode yields, in concatenation order."""
    if input_kind == "multivector":
        grades = ["multivector"] * {"single": 1, "partial": rank, "full": rank * (rank + 1) // 2}[mode]
        linear_grade = "multivector"
    else:
        orders = {
            "single": [rank],
            "partial": list(range(rank, 0, -1)),
            "full": [o for start in range(rank) for o in range(rank - start, 0, -1)],
        }[mode]
        grades = [vector_grade(o) for o in orders]
        linear_grade = vector_grade(rank)
    widths = [invariant_size(g, algebra) for g in grades]
    if include_normalized_products:
        widths = widths + widths
    if rank > 1:
        widths += [invariant_size(linear_grade, algebra)] * linear_terms
    return widths


def vector_linear_terms(terms: Sequence[Product], weights: Tensor, rank: int) -> list[Product]:
    """Learned signed sums of 3-D vector products brought to the grade parity of ``rank``.

    ``weights`` is ``(linear_terms, len(terms), 2)``: the softmax weight of the product and of
    its negation. Products of the other parity are moved over by the duals.
    """
    target = "odd" if rank % 2 else "even"
    combined = [0.0] * weights.shape[0]
    for j, term in enumerate(terms):
        value = term.value if term.scale is None else term.value * term.scale
        if term.grade == "vector":
            value = g3.vector_to_odd(value)
        grade = "odd" if term.grade in ("vector", "odd") else "even"
        if grade != target:
            value = g3.even_dual(value) if grade == "even" else g3.odd_dual(value)
        for i in range(weights.shape[0]):
            combined[i] = combined[i] + (weights[i, j, 0] - weights[i, j, 1]) * value
    first = terms[0].first
    return [Product(rank, target, value, first) for value in combined]


def multivector_linear_terms(terms: Sequence[Product], weights: Tensor, algebra: ModuleType, rank: int) -> list[Product]:
    """Learned sums of +-product and +-dual(product); ``weights`` is ``(linear_terms, len(terms), 4)``."""
    combined = [0.0] * weights.shape[0]
    for j, term in enumerate(terms):
        value = term.value if term.scale is None else term.value * term.scale
        dual = algebra.mv_dual(value)
        for i in range(weights.shape[0]):
            combined[i] = combined[i] + (weights[i, j, 0] - weights[i, j, 1]) * value + (weights[i, j, 2] - weights[i, j, 3]) * dual
    first = terms[0].first
    return [Product(rank, "multivector", value, first) for value in combined]
