"""The ChunkyGAN composite: Eq. 1 (segment blend) and Eq. 3 (with a static mask)."""
from __future__ import annotations

import torch


def blend(renders: torch.Tensor, masks: torch.Tensor, static_mask: torch.Tensor | None = None,
          target: torch.Tensor | None = None) -> torch.Tensor:
    """Blend K full renders by K soft masks, optionally keeping part of the input fixed.

    Eq. 1: ``O = Σ_k G(X_k)·S_k``; Eq. 3: ``O = S^X·I + (1 − S^X)·Σ_k G(X_k)·S_k``.
    Where ``S^X = 1`` the result equals ``target`` exactly (the generated term is multiplied by 0).

    Args:
        renders: ``[K,3,H,W]`` generator outputs G(X_k) in [-1,1].
        masks: ``[K,1,H,W]`` soft masks S_k summing to one over K.
        static_mask: optional ``[1,1,H,W]`` S^X in [0,1] (1 = keep the input pixel).
        target: ``[1,3,H,W]`` the input I, required with ``static_mask``.
    Returns:
        ``[1,3,H,W]`` composite O.
    """
    if renders.shape[0] != masks.shape[0]:
        raise ValueError(f"{renders.shape[0]} renders but {masks.shape[0]} masks")
    if renders.shape[-2:] != masks.shape[-2:]:
        raise ValueError(f"renders are {tuple(renders.shape[-2:])} but masks are {tuple(masks.shape[-2:])}")
    out = (renders * masks).sum(dim=0, keepdim=True)
    if static_mask is None:
        return out
    if target is None:
        raise ValueError("a static mask (Eq. 3) needs the target image")
    sx = static_mask.to(out)
    # torch.where makes S^X = 1 pixels bit-exact copies of the input (no 1·I + 0·O rounding).
    return torch.where(sx >= 1, target.to(out), sx * target.to(out) + (1 - sx) * out)
