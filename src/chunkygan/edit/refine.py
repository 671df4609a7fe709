"""Fitting one code to an image inside a mask: local projection (Sec. 5) and hole filling (Fig. 10).

:func:`fit_in_mask` optimises one code so that ``G(X)`` matches a target inside a mask; started
from the mean latent it is the one-segment local projection of the interactive scheme (Fig. 9),
started from an edited code it is the hole-filling refinement. :func:`fill_hole` is Fig. 10: after
an edit of ``X₁`` spills out of its segment, the user marks a correction mask ``S₂`` (any number of
connected parts); ``X₁`` is refined to ``X₂`` so that ``G(X₂)`` matches the current composite inside
``S₂``, and ``G(X₂)`` is pasted into ``S₂`` (outside it the composite is kept bit for bit).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

from ..latents import get_space

LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def masked_l2(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error weighted by ``mask`` ``[B,1,H,W]`` (normalised by the mask's area)."""
    return ((pred - target) ** 2 * mask).sum() / (mask.sum() * pred.shape[1]).clamp_min(1e-8)


def named_loss(name: str, device=None, resolution: int = 256) -> LossFn:
    """A registered loss (``chunkygan.losses.LOSSES``, e.g. ``"lpips-alex"``) as ``(pred, target, mask)``.

    Smaller images are upsampled to ``resolution`` first (bilinear, masks too), as the projector does,
    so LPIPS sees enough pixels.
    """
    import torch.nn.functional as F

    from ..project.projector import build_loss

    module = build_loss(name, working_resolution=resolution).to(device)

    def up(x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] >= resolution:
            return x
        return F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False)

    return lambda pred, target, mask: module(up(pred), up(target), up(mask)).mean()


@dataclass
class FitResult:
    code: torch.Tensor  # [1, ...] the fitted code
    render: torch.Tensor  # [1,3,R,R] G(code)
    losses: list[float] = field(default_factory=list)  # the loss before each step, then the final one


def fit_in_mask(G, space: str, init: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, steps: int = 100,
                lr: float = 0.05, loss: LossFn | str | None = None, prior_weight: float = 0.0,
                callback: Callable[[int, float], None] | None = None) -> FitResult:
    """Optimise one code ``[1, ...]`` (Adam) so that ``G(code)`` matches ``target`` inside ``mask``.

    target ``[1,3,R,R]`` and mask ``[1,1,R,R]`` at the generator resolution ``R``; ``loss(pred,
    target, mask)`` defaults to :func:`masked_l2`; a name such as ``"lpips-alex"`` takes that loss
    from ``chunkygan.losses``; ``prior_weight`` adds the space's own regulariser.
    ``callback(step, loss)`` is called after each step.
    """
    sp = get_space(space)
    R = G.resolution
    if target.shape != (1, 3, R, R) or mask.shape != (1, 1, R, R):
        raise ValueError(f"target must be [1,3,{R},{R}] and mask [1,1,{R},{R}] (the generator resolution), got "
                         f"{tuple(target.shape)} and {tuple(mask.shape)}")
    if float(mask.sum()) == 0:
        raise ValueError("the mask is empty: mark the region to fit")
    dev = _device(G)
    if isinstance(loss, str):
        loss = named_loss(loss, dev)
    loss = loss or masked_l2
    target, mask = target.to(dev), mask.to(dev)
    x = init.detach().clone().to(dev).requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
    history = []
    for i in range(steps):
        opt.zero_grad(set_to_none=True)
        pred = sp.render(G, x)
        val = loss(pred, target, mask)
        if prior_weight:
            val = val + prior_weight * sp.prior(G, x).sum()
        val.backward()
        opt.step()
        history.append(float(val.detach()))
        if callback:
            callback(i, history[-1])
    with torch.no_grad():
        render = sp.render(G, x)
        history.append(float(loss(render, target, mask)))
    return FitResult(code=x.detach(), render=render, losses=history)


@dataclass
class HoleFill:
    code: torch.Tensor  # X₂ [1, ...]
    render: torch.Tensor  # G(X₂) [1,3,R,R]
    composite: torch.Tensor  # the new composite [1,3,R,R]
    loss_before: float  # loss of G(X₁) against the composite inside S₂
    loss_after: float  # the same for G(X₂)


def fill_hole(G, space: str, x1: torch.Tensor, composite: torch.Tensor, correction_mask: torch.Tensor,
              steps: int = 100, lr: float = 0.03, loss: LossFn | str | None = None, fill_mask: torch.Tensor | None = None,
              callback: Callable[[int, float], None] | None = None) -> HoleFill:
    """Fig. 10 hole filling: refine ``x1`` -> ``X₂`` to match ``composite`` inside ``correction_mask`` S₂.

    ``fill_mask`` (default S₂) is where ``G(X₂)`` replaces the composite:
    ``new = fill·G(X₂) + (1 − fill)·composite``, and exactly ``composite`` where ``fill = 0``.
    """
    fit = fit_in_mask(G, space, x1, composite, correction_mask, steps=steps, lr=lr, loss=loss, callback=callback)
    fill = (correction_mask if fill_mask is None else fill_mask).to(fit.render)
    comp = composite.to(fit.render)
    new = torch.where(fill > 0, fill * fit.render + (1 - fill) * comp, comp)
    return HoleFill(code=fit.code, render=fit.render, composite=new, loss_before=fit.losses[0],
                    loss_after=fit.losses[-1])


def _device(G) -> torch.device:
    try:
        return next(G.parameters()).device
    except (StopIteration, AttributeError):
        return torch.device("cpu")


__all__ = ["fit_in_mask", "fill_hole", "masked_l2", "named_loss", "FitResult", "HoleFill"]
