"""Seams at segment borders: a number for how visible they are, and a composite without them (Sec. 5).

The composite ``O = Σ_k G(X_k)·S_k`` (Eq. 1) has the gradient ``Σ_k S_k·∇G(X_k) + Σ_k G(X_k)·∇S_k``. The
second term is the seam term: where neighbouring renders differ in colour, a mask transition turns that
difference into an edge — a step for hard masks, a ramp for soft ones. The paper suppresses small
discrepancies with soft masks and larger colour shifts of edits with Poisson image editing. Here:

* :func:`segment_borders` — the 4-neighbour edges between pixels of different (argmax) segments;
* :func:`seam_score` — how much stronger the image's edges are along those borders than elsewhere,
  relative to a seam-free reference (the photo, or the unedited composite): 1 = borders look like the
  rest of the image, above 1 = a seam;
* :func:`seam_steps`, :func:`mask_jumps`, :func:`border_colour_shift` — the seam term per edge, how hard
  each transition is, and the colour difference of neighbouring renders along each border;
* :func:`seamless_composite` — Eq. 1, then a Poisson solve (:func:`~chunkygan.composite.poisson.solve_guided`)
  in a thin band around the *hard* transitions whose seam term exceeds a threshold, with the composite's
  gradient minus the seam term as guidance. For edits (``base_renders``) only the edit's change is
  treated; this is :func:`chunkygan.edit.apply.edited_composite`'s default. Pixels outside the band are
  the plain Eq. 1 composite, bit for bit.

Projections get no Poisson: their renders are fitted only inside their own segments, so the seam term
carries real edges of the photo there; semantic masks are softened instead
(:data:`SEMANTIC_FEATHER`, the default of ``chunkygan project --masks``). Measurements: docs/seams.md.

Colour values are in the generator's range ([-1,1]); :data:`LEVEL` is one 8-bit level in those units.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .blend import blend

log = logging.getLogger(__name__)

#: one 8-bit level in [-1,1] image units
LEVEL = 2 / 255
#: a seam term (:func:`seam_steps`, mean |ΔRGB| across one edge, [-1,1] units) above this (6 levels) gets the
#: Poisson seam fix in :func:`seamless_composite` (docs/seams.md)
SHIFT_THRESHOLD = 6 * LEVEL
#: half-width in pixels of the band around a border that the Poisson fix may change
SEAM_BAND = 2
#: the Poisson fix treats only hard transitions: edges across which some mask changes by more than this
#: (a Gaussian feather of σ = 1 px changes a mask by at most 0.4 per pixel; a 2-px linear ramp by 0.5)
HARD_JUMP = 0.6
#: Gaussian feather σ (generator pixels) that ``chunkygan project`` gives semantic (user) masks by default
SEMANTIC_FEATHER = 1.0


def _labels(masks: torch.Tensor) -> torch.Tensor:
    if masks.dim() != 4 or masks.shape[1] != 1:
        raise ValueError(f"masks must be [K,1,H,W], got {tuple(masks.shape)}")
    return masks[:, 0].argmax(dim=0)  # [H,W]


def segment_borders(masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Edges between 4-neighbours whose largest mask differs.

    masks ``[K,1,H,W]`` -> (down ``[H-1,W]``, right ``[H,W-1]``) bool: pixel (y,x) and (y+1,x) /
    (y,x+1) belong to different segments by ``argmax_k S_k``.
    """
    lab = _labels(masks)
    return lab[1:, :] != lab[:-1, :], lab[:, 1:] != lab[:, :-1]


def _edge_steps(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Colour step across each edge, ``‖I(q) − I(p)‖₂`` over RGB: (down ``[H-1,W]``, right ``[H,W-1]``)."""
    img = image[0].float()
    return (img[:, 1:, :] - img[:, :-1, :]).norm(dim=0), (img[:, :, 1:] - img[:, :, :-1]).norm(dim=0)


def _near(edges: tuple[torch.Tensor, torch.Tensor], shape: tuple[int, int], radius: int) -> torch.Tensor:
    """Pixels ``[H,W]`` bool within ``radius`` (square) of an end of any selected edge."""
    down, right = edges
    pix = torch.zeros(shape, dtype=torch.bool, device=down.device)
    pix[:-1, :] |= down
    pix[1:, :] |= down
    pix[:, :-1] |= right
    pix[:, 1:] |= right
    if radius > 0:
        pix = F.max_pool2d(pix[None, None].float(), 2 * radius + 1, stride=1, padding=radius)[0, 0] > 0
    return pix


@dataclass
class SeamMeasure:
    """What :func:`seam_score` measured (colour steps are mean RGB norms across edges, [-1,1] units)."""

    score: float            # (border_step / reference_border_step) / (interior_step / reference_interior_step)
    border_step: float      # the image's mean step across segment-border edges
    reference_border_step: float
    interior_step: float    # the image's mean step across edges at least ``margin`` px from any border
    reference_interior_step: float
    border_edges: int

    def as_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def seam_score(image: torch.Tensor, reference: torch.Tensor, masks: torch.Tensor, margin: int = 3) -> SeamMeasure:
    """How visible the segment borders of ``masks`` are in ``image``, relative to the photo ``reference``.

    image, reference ``[1,3,H,W]`` (e.g. the composite and the target), masks ``[K,1,H,W]``. For the edges
    between pixels of different segments (:func:`segment_borders`) and for the edges at least ``margin``
    pixels from every border, take the mean colour step ``‖image(q) − image(p)‖`` and the same in the
    reference. The score is ``(border / reference border) / (interior / reference interior)``: the
    image's contrast along the borders relative to the photo's, divided by the same ratio elsewhere, so a
    smooth (blurrier) reconstruction without seams scores about 1 and a colour step along the borders
    scores above 1. An image with no borders (K = 1) scores 1.
    """
    if image.shape != reference.shape or image.dim() != 4 or image.shape[0] != 1:
        raise ValueError(f"image and reference must both be [1,3,H,W] of one size, got {tuple(image.shape)} "
                         f"and {tuple(reference.shape)}")
    if masks.shape[-2:] != image.shape[-2:]:
        raise ValueError(f"masks are {tuple(masks.shape[-2:])} pixels but the image {tuple(image.shape[-2:])}")
    down, right = segment_borders(masks.to(image.device))
    H, W = image.shape[-2:]
    near = _near((down, right), (H, W), margin)
    far_down, far_right = ~(near[1:, :] | near[:-1, :]), ~(near[:, 1:] | near[:, :-1])
    (od, orr), (rd, rr) = _edge_steps(image), _edge_steps(reference.to(image.device))

    def mean(a, b, sel_a, sel_b) -> float:
        n = int(sel_a.sum() + sel_b.sum())
        return float((a[sel_a].sum() + b[sel_b].sum()) / n) if n else float("nan")

    bo, br = mean(od, orr, down, right), mean(rd, rr, down, right)
    io, ir = mean(od, orr, far_down, far_right), mean(rd, rr, far_down, far_right)
    n = int(down.sum() + right.sum())
    if n == 0:
        score = 1.0
    else:
        eps = 1e-6
        score = ((bo + eps) / (br + eps)) / ((io + eps) / (ir + eps)) if io == io else (bo + eps) / (br + eps)
    return SeamMeasure(float(score), bo, br, io, ir, n)


def border_colour_shift(renders: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Colour difference between neighbouring segment renders along their common border.

    renders ``[K,3,H,W]`` (each segment's full render G(X_k)), masks ``[K,1,H,W]`` -> ``[K,K]`` symmetric:
    entry (a,b) is the mean over the border edges between segments a and b (both end pixels) of
    ``mean_RGB |G(X_a) − G(X_b)|``, in [-1,1] units; NaN where a and b do not touch. This is the step a
    hard mask would put into the composite there.
    """
    if renders.dim() != 4 or renders.shape[0] != masks.shape[0] or renders.shape[-2:] != masks.shape[-2:]:
        raise ValueError(f"renders [K,3,H,W] and masks [K,1,H,W] must match, got {tuple(renders.shape)} and "
                         f"{tuple(masks.shape)}")
    K = renders.shape[0]
    lab = _labels(masks)
    r = renders.float()
    total = torch.zeros(K * K, dtype=torch.float64, device=r.device)
    count = torch.zeros(K * K, dtype=torch.float64, device=r.device)
    for dim in (1, 2):  # edges to the pixel below (dim 1 of [K,H,W]) and to the right (dim 2)
        n = lab.shape[dim - 1] - 1
        la, lb = lab.narrow(dim - 1, 0, n), lab.narrow(dim - 1, 1, n)
        sel = la != lb
        if not sel.any():
            continue
        a, b = la[sel], lb[sel]
        e = torch.arange(a.numel(), device=r.device)
        at_p = r.narrow(dim + 1, 0, n)[:, :, sel]  # [K,3,E]: every render at the edge's first pixel
        at_q = r.narrow(dim + 1, 1, n)[:, :, sel]
        diff_p = (at_p[a, :, e] - at_p[b, :, e]).abs().mean(1)
        diff_q = (at_q[a, :, e] - at_q[b, :, e]).abs().mean(1)
        d = 0.5 * (diff_p + diff_q)
        total.index_add_(0, a * K + b, d.double())
        count.index_add_(0, a * K + b, torch.ones_like(d, dtype=torch.float64))
    total, count = total.view(K, K), count.view(K, K)
    total, count = total + total.T, count + count.T
    out = (total / count).float()
    out[count == 0] = float("nan")
    return out


def seam_steps(renders: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The seam term of Eq. 1's gradient on every edge p→q: ``mean_RGB |Σ_k R̄_k·(S_k(p) − S_k(q))|`` with
    ``R̄_k`` the mean of render k at p and q — the step that the masks' transition puts into the composite
    because the renders differ (zero where they agree or the masks are constant; the full colour
    difference across a hard border; spread over the ramp of a soft one).
    renders ``[K,3,H,W]``, masks ``[K,1,H,W]`` -> (down ``[H-1,W]``, right ``[H,W-1]``), [-1,1] units."""
    r, m = renders.float(), masks.float()
    down = (0.5 * (r[:, :, 1:, :] + r[:, :, :-1, :]) * (m[:, :, :-1, :] - m[:, :, 1:, :])).sum(0).abs().mean(0)
    right = (0.5 * (r[:, :, :, 1:] + r[:, :, :, :-1]) * (m[:, :, :, :-1] - m[:, :, :, 1:])).sum(0).abs().mean(0)
    return down, right


def mask_jumps(masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``max_k |S_k(p) − S_k(q)|`` on every edge: 1 across a hard border, ≤ ~0.4 inside a Gaussian-feathered
    one (σ ≥ 1 px). masks ``[K,1,H,W]`` -> (down ``[H-1,W]``, right ``[H,W-1]``)."""
    m = masks[:, 0].float()
    return (m[:, 1:, :] - m[:, :-1, :]).abs().amax(0), (m[:, :, 1:] - m[:, :, :-1]).abs().amax(0)


def seam_region(renders: torch.Tensor, masks: torch.Tensor, threshold: float = SHIFT_THRESHOLD,
                band: int = SEAM_BAND, hard: float | None = HARD_JUMP) -> torch.Tensor:
    """Pixels ``[H,W]`` bool within ``band`` px of an edge whose seam term (:func:`seam_steps`) exceeds
    ``threshold`` ([-1,1] units) — where the renders' colours shift across a mask transition — and, with
    ``hard``, whose mask jump (:func:`mask_jumps`) exceeds ``hard`` (a transition over about one pixel; soft
    transitions spread the shift out themselves; None: every transition)."""
    down, right = seam_steps(renders, masks)
    down, right = down > threshold, right > threshold
    if hard is not None:
        jd, jr = mask_jumps(masks)
        down, right = down & (jd > hard), right & (jr > hard)
    return _near((down, right), tuple(masks.shape[-2:]), band)


def mixed_gradients(renders: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The composite's gradient without the seam term: ``Σ_k S̄_k·(G_k(p) − G_k(q))`` on every edge p→q,
    with ``S̄_k`` the mean of the two pixels' masks. renders ``[K,3,H,W]``, masks ``[K,1,H,W]`` ->
    (down ``[3,H-1,W]``, right ``[3,H,W-1]``) (p minus its neighbour below / to the right)."""
    r, m = renders.float(), masks.float()
    wd = 0.5 * (m[:, :, 1:, :] + m[:, :, :-1, :])
    wr = 0.5 * (m[:, :, :, 1:] + m[:, :, :, :-1])
    down = (wd * (r[:, :, :-1, :] - r[:, :, 1:, :])).sum(0)
    right = (wr * (r[:, :, :, :-1] - r[:, :, :, 1:])).sum(0)
    return down, right


def seamless_composite(renders: torch.Tensor, masks: torch.Tensor, base_renders: torch.Tensor | None = None,
                       threshold: float = SHIFT_THRESHOLD, band: int = SEAM_BAND,
                       allowed: torch.Tensor | None = None, hard: float | None = HARD_JUMP) -> torch.Tensor:
    """Eq. 1 with Poisson seam removal where neighbouring segments' colours shift (Sec. 5).

    renders ``[K,3,H,W]``, masks ``[K,1,H,W]`` -> ``[1,3,H,W]``.

    * With ``base_renders`` ``[K,3,H,W]`` (an edit: ``renders`` are the edited renders, ``base_renders`` the
      unedited ones, whose composite is seam-free): the seam is that of the edit's change
      ``D_k = G'_k − G_k``, and in Ω the result has the gradient ``∇O_base + Σ_k S_k·∇D_k`` — the unedited
      composite plus the change, without the step where the change stops at a mask transition.
    * Without ``base_renders`` (stitching renders): the seam is that of the renders themselves and in Ω the
      result has the gradient ``Σ_k S_k·∇G_k`` (:func:`mixed_gradients`). Not for projections: their renders
      are fitted only inside their own segments, the transitions carry real edges of the photo, and
      stitching costs LPIPS (docs/seams.md).

    Ω is ``band`` px around the hard edges (mask jump above ``hard``) whose seam term (:func:`seam_steps`
    of the change) exceeds ``threshold`` (:func:`seam_region`), intersected with ``allowed`` ``[H,W]`` bool when given (e.g. where
    the edited segments have weight, so that nothing else changes). In Ω the result solves the Poisson
    equation with those gradients and the Eq. 1 composite of ``renders`` as boundary values
    (:func:`~chunkygan.composite.poisson.solve_guided`); outside Ω it *is* that composite, bit for bit.
    No seam term above ``threshold`` (e.g. no edit): the Eq. 1 composite unchanged.
    Not differentiable (a CPU float64 solve).
    """
    from .poisson import solve_guided

    out = blend(renders, masks)
    change = renders if base_renders is None else renders - base_renders.to(renders)
    region = seam_region(change, masks, threshold, band, hard)
    if allowed is not None:
        region &= allowed.to(region.device)
    if not bool(region.any()):
        return out
    down, right = mixed_gradients(change.detach(), masks.detach())
    if base_renders is not None:  # + the unedited composite's own gradient (p minus its lower / right neighbour)
        base = blend(base_renders.to(renders), masks)[0].detach().float()
        down = down + (base[:, :-1, :] - base[:, 1:, :])
        right = right + (base[:, :, :-1] - base[:, :, 1:])
    known = out[0].detach().cpu().double().numpy()
    f = solve_guided(region.cpu().numpy(), known, down.cpu().double().numpy(), right.cpu().double().numpy())
    fixed = torch.from_numpy(f).to(device=out.device, dtype=out.dtype).unsqueeze(0)
    log.debug("seamless_composite: Poisson over %d pixels", int(region.sum()))
    return torch.where(region.to(out.device)[None, None], fixed, out)


__all__ = ["seam_score", "SeamMeasure", "segment_borders", "border_colour_shift", "seam_region", "seam_steps", "mask_jumps", "mixed_gradients",
           "seamless_composite", "SHIFT_THRESHOLD", "SEAM_BAND", "HARD_JUMP", "SEMANTIC_FEATHER", "LEVEL"]
