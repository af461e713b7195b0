"""gaan: Geometric Algebra Attention Networks for small point clouds."""

__version__ = "0.1.0"
