"""Feathering: soften mask borders with a Gaussian so that composites show no hard seams."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def gaussian_kernel1d(sigma: float, device=None, dtype=torch.float32) -> torch.Tensor:
    """Normalised 1-D Gaussian ``[2r+1]`` with ``r = ceil(3σ)``."""
    r = max(1, int(math.ceil(3 * sigma)))
    x = torch.arange(-r, r + 1, device=device, dtype=dtype)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def feather(masks: torch.Tensor, radius: float, renormalise: bool | None = None) -> torch.Tensor:
    """Blur masks ``[K,1,H,W]`` with a separable Gaussian of σ = radius/2 (replicate padding).

    ``radius`` is in pixels (0 returns the masks unchanged). With ``renormalise`` (default: when
    K > 1) the result is divided by its sum over K so the masks still sum to one per pixel.
    """
    if masks.dim() != 4 or masks.shape[1] != 1:
        raise ValueError(f"masks must be [K,1,H,W], got {tuple(masks.shape)}")
    if radius < 0:
        raise ValueError(f"feather radius must be >= 0 pixels, got {radius}")
    if radius == 0:
        return masks.clone()
    k = gaussian_kernel1d(radius / 2, masks.device, masks.dtype)
    r = k.numel() // 2
    x = F.pad(masks, (r, r, 0, 0), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1))
    x = F.pad(x, (0, 0, r, r), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, -1, 1))
    x = x.clamp(0, 1)
    if renormalise is None:
        renormalise = masks.shape[0] > 1
    if renormalise:
        x = x / x.sum(dim=0, keepdim=True).clamp_min(1e-8)
    return x
