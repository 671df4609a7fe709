"""Loss terms, each ``loss(pred, target, mask=None) -> [B]``, looked up by name in :data:`LOSSES`.

>>> sorted(LOSSES.names())
['identity', 'l1', 'l2', 'lpips-alex', 'lpips-vgg', 'mse']
>>> LOSSES.get("l1")()  # doctest: +ELLIPSIS
PixelLoss(...)

Factories take keyword options (``working_resolution=...``); LPIPS factories load the official weights.
Imports of the heavy parts happen inside the factories, so importing this package is cheap.
"""
from __future__ import annotations

from ..registry import Registry

#: name -> factory(**options) returning an nn.Module called as ``loss(pred, target, mask=None)``
LOSSES: Registry = Registry("loss")


def _lpips(net: str):
    def make(working_resolution: int | None = 256, **kw):
        from .lpips import LPIPS
        return LPIPS(net, working_resolution=working_resolution, **kw)
    make.__doc__ = f"LPIPS v0.1 ({net}) with the official weights."
    return make


def _pixel(kind: str):
    def make(working_resolution: int | None = None):
        from .pixel import PixelLoss
        return PixelLoss(kind, working_resolution=working_resolution)
    make.__doc__ = f"Pixel {kind.upper()} loss."
    return make


LOSSES.register("lpips-alex", _lpips("alex"))
LOSSES.register("lpips-vgg", _lpips("vgg"))
LOSSES.register("l1", _pixel("l1"))
LOSSES.register("l2", _pixel("l2"))
LOSSES.register("mse", _pixel("l2"))


@LOSSES.register("identity")
def _identity(**kw):
    """1 - ArcFace cosine similarity (differentiable; InsightFace weights, non-commercial research only)."""
    from .identity import IdentityLoss
    return IdentityLoss(**kw)


def __getattr__(name: str):
    """Lazy access to the main classes: ``from chunkygan.losses import LPIPS``."""
    if name == "LPIPS":
        from .lpips import LPIPS
        return LPIPS
    if name in ("l1_loss", "l2_loss", "PixelLoss"):
        from . import pixel
        return getattr(pixel, name)
    if name in ("IdentityLoss", "FaceIdentity", "identity_similarity"):
        from . import identity
        return getattr(identity, name)
    raise AttributeError(f"module 'chunkygan.losses' has no attribute {name!r}")
