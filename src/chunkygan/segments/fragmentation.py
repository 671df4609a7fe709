"""How fragmented a set of soft masks is: connected components per segment and boundary length.

Soft masks ``[K,1,H,W]`` are read as a hard label map (``argmax`` over K). For every non-empty segment:

* ``components`` — its 4-connected regions (``scipy.ndimage.label``): 1 for a clean region, many for a
  speckled mosaic;
* ``boundary_ratio`` — its boundary length against that of a disc of the same area: the number of pixel
  edges between the segment and other segments (edges on the image border are not counted), divided by
  ``8·sqrt(A/π)``, the 4-connected perimeter of a digital disc of area A pixels (``8r``). About 1 for a disc,
  0.5 for a half-disc against the border, ≫ 1 for ragged or speckled segments.

:func:`fragmentation` summarises them (means over the non-empty segments and the worst segment); the
projector reports it in ``metrics.json``.
"""
from __future__ import annotations

import math

import numpy as np
import torch


def label_map(masks: torch.Tensor) -> np.ndarray:
    """Soft masks ``[K,1,H,W]`` (or ``[K,H,W]``) -> hard labels ``[H,W]`` (int64, argmax over K)."""
    m = masks.detach().float().cpu()
    if m.dim() == 4:
        m = m[:, 0]
    if m.dim() != 3:
        raise ValueError(f"masks must be [K,1,H,W] or [K,H,W], got {tuple(masks.shape)}")
    return m.argmax(0).numpy().astype(np.int64)


def segment_stats(labels: np.ndarray, k: int) -> dict:
    """Area, 4-connected components and boundary ratio of segment ``k`` in a label map ``[H,W]``."""
    from scipy import ndimage

    inside = labels == k
    area = int(inside.sum())
    if area == 0:
        return {"area": 0, "components": 0, "boundary": 0, "boundary_ratio": 0.0}
    _, n = ndimage.label(inside)  # default structure: 4-connectivity
    edges = int((inside[:, 1:] != inside[:, :-1]).sum() + (inside[1:, :] != inside[:-1, :]).sum())
    return {"area": area, "components": int(n), "boundary": edges,
            "boundary_ratio": round(edges / (8.0 * math.sqrt(area / math.pi)), 4)}


def fragmentation(masks: torch.Tensor) -> dict:
    """Summary of :func:`segment_stats` over the segments of ``masks`` ``[K,1,H,W]``.

    Returns ``components_mean`` / ``components_max`` (4-connected regions per non-empty segment),
    ``boundary_ratio_mean`` / ``boundary_ratio_max`` (boundary length / that of a disc of the same area),
    ``segments_used`` (non-empty segments of the argmax map) and ``per_segment`` (the raw numbers).
    """
    labels = label_map(masks)
    stats = [segment_stats(labels, k) for k in range(masks.shape[0])]
    used = [s for s in stats if s["area"] > 0]
    comps = [s["components"] for s in used]
    ratios = [s["boundary_ratio"] for s in used]
    return {"components_mean": round(float(np.mean(comps)), 3), "components_max": int(max(comps)),
            "boundary_ratio_mean": round(float(np.mean(ratios)), 3), "boundary_ratio_max": round(float(max(ratios)), 3),
            "segments_used": len(used), "per_segment": stats}


__all__ = ["label_map", "segment_stats", "fragmentation"]
