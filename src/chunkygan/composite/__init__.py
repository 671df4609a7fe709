"""Compositing: the Eq. 1 blend, the Eq. 3 static-mask composite, feathering, Poisson blending and seams."""
from .blend import alpha_over, blend, compose, static_composite
from .feather import feather
from .poisson import poisson_blend, solve_guided
from .seams import seam_score, seamless_composite

__all__ = ["blend", "compose", "static_composite", "alpha_over", "feather", "poisson_blend", "solve_guided",
           "seam_score", "seamless_composite"]
