"""Blending generated segment images into one picture: Eq. 1 and the static-mask composite of Eq. 3."""
from __future__ import annotations

import torch


def _check(images: torch.Tensor, masks: torch.Tensor) -> None:
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be [K,3,H,W], got {tuple(images.shape)}")
    if masks.dim() != 4 or masks.shape[1] != 1:
        raise ValueError(f"masks must be [K,1,H,W], got {tuple(masks.shape)}")
    if images.shape[0] != masks.shape[0]:
        raise ValueError(f"{images.shape[0]} segment images but {masks.shape[0]} masks; give one mask per code")
    if images.shape[-2:] != masks.shape[-2:]:
        raise ValueError(f"images are {tuple(images.shape[-2:])} pixels but masks {tuple(masks.shape[-2:])}; "
                         "resize the masks to the generator resolution first")


def blend(images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Eq. 1: ``O = Σ_k G(X_k)·S_k``.

    images ``[K,3,H,W]`` (the K segment renders), masks ``[K,1,H,W]`` (summing to one over K)
    -> ``[1,3,H,W]``. Differentiable in both arguments.
    """
    _check(images, masks)
    return (images * masks).sum(dim=0, keepdim=True)


def static_composite(base: torch.Tensor, static_mask: torch.Tensor, images: torch.Tensor,
                     masks: torch.Tensor) -> torch.Tensor:
    """Eq. 3: ``O = S^X·I + (1 − S^X)·Σ_k G(X_k)·S_k``.

    base ``I`` ``[1,3,H,W]``, static_mask ``S^X`` ``[1,1,H,W]`` (1 = keep the base image),
    images ``[K,3,H,W]``, masks ``[K,1,H,W]`` -> ``[1,3,H,W]``. Where ``S^X = 1`` the result is a
    bit-exact copy of ``base`` (``torch.where``, no ``1·I + 0·O`` rounding).
    """
    if base.shape[0] != 1 or static_mask.shape[0] != 1 or static_mask.shape[1] != 1:
        raise ValueError(f"base must be [1,3,H,W] and static_mask [1,1,H,W], got {tuple(base.shape)} "
                         f"and {tuple(static_mask.shape)}")
    if base.shape[-2:] != images.shape[-2:] or static_mask.shape[-2:] != images.shape[-2:]:
        raise ValueError("base image, static mask and segment images must have the same size")
    out = blend(images, masks)
    sx, base = static_mask.to(out), base.to(out)
    return torch.where(sx >= 1, base, sx * base + (1 - sx) * out)


def compose(images: torch.Tensor, masks: torch.Tensor, static_mask: torch.Tensor | None = None,
            target: torch.Tensor | None = None) -> torch.Tensor:
    """The ChunkyGAN composite: Eq. 1, or Eq. 3 when a static mask ``[1,1,H,W]`` and the target are given."""
    if static_mask is None:
        return blend(images, masks)
    if target is None:
        raise ValueError("a static mask (Eq. 3) needs the target image")
    return static_composite(target, static_mask, images, masks)


def alpha_over(fg: torch.Tensor, bg: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """``alpha·fg + (1−alpha)·bg`` for ``[B,3,H,W]`` images and an ``[B|1,1,H,W]`` alpha."""
    return alpha * fg + (1 - alpha) * bg
