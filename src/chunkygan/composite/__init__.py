"""Compositing: the Eq. 1 blend, the Eq. 3 static-mask composite, feathering and Poisson blending."""
from .blend import alpha_over, blend, compose, static_composite
from .feather import feather
from .poisson import poisson_blend

__all__ = ["blend", "compose", "static_composite", "alpha_over", "feather", "poisson_blend"]
