"""Pixel losses L1 and L2 (mean squared error: the paper's Table 1 "L_2" column), batched and maskable.

Both take ``pred`` ``[B,C,H,W]``, ``target`` ``[B|1,C,H,W]`` and an optional ``mask`` ``[B|1,1,H,W]``
in ``[0,1]``; they return ``[B]``: the (mask-weighted) mean over channels and pixels. Pixels where the
mask is 0 do not count; an empty mask gives 0. Like LPIPS they run at a working resolution
(``None`` = native, the default here since pixel losses are cheap).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .lpips import check_pair, masked_mean, resize_to_working


def _pixel(kind: str, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None,
           working_resolution: int | None) -> torch.Tensor:
    pred, target, mask = check_pair(pred, target, mask)
    pred = resize_to_working(pred, working_resolution)
    target = resize_to_working(target, working_resolution)
    if mask is not None:
        mask = resize_to_working(mask, working_resolution).to(pred.dtype)
    diff = pred - target
    per_pixel = diff.abs() if kind == "l1" else diff * diff
    return masked_mean(per_pixel, mask)


def l1_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
            working_resolution: int | None = None) -> torch.Tensor:
    """Mean absolute difference, ``[B]`` (images in ``[-1,1]``, so values are in ``[0,2]``)."""
    return _pixel("l1", pred, target, mask, working_resolution)


def l2_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
            working_resolution: int | None = None) -> torch.Tensor:
    """Mean squared difference (MSE), ``[B]`` (images in ``[-1,1]``, so values are in ``[0,4]``)."""
    return _pixel("l2", pred, target, mask, working_resolution)


class PixelLoss(nn.Module):
    """Module form of :func:`l1_loss` / :func:`l2_loss` (``kind`` = ``"l1"`` or ``"l2"``)."""

    def __init__(self, kind: str = "l2", working_resolution: int | None = None):
        super().__init__()
        if kind not in ("l1", "l2"):
            raise ValueError(f"unknown pixel loss {kind!r}; use l1 or l2")
        self.kind = kind
        self.working_resolution = working_resolution

    def forward(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return _pixel(self.kind, pred, target, mask, self.working_resolution)
