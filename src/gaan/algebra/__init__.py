"""Pure tensor functions for the Euclidean geometric algebras G(2,0) and G(3,0).

``g2`` and ``g3`` hold the closed-form products, duals, invariants and covariants of each
algebra; ``tuples`` builds the products over tuples of points that attention layers read.
"""

from . import g2, g3
from .common import safe_norm
from .tuples import (
    PRODUCT_MODES,
    Product,
    algebra_for,
    covariant,
    invariants,
    multivector_tuple_products,
    normalized,
    product_widths,
    vector_tuple_products,
)

__all__ = [
    "g2",
    "g3",
    "safe_norm",
    "PRODUCT_MODES",
    "Product",
    "algebra_for",
    "covariant",
    "invariants",
    "multivector_tuple_products",
    "normalized",
    "product_widths",
    "vector_tuple_products",
]
