"""Editing a projection: global and local edits of the K segment codes (Sec. 4.2, Fig. 6-7, 9).

A global edit moves every segment code by the same amount along the same direction; a local edit
moves only the chosen segments, so every pixel outside their soft masks keeps its value (their
renders are multiplied by masks that are zero there). For projections whose masks come from a
segment generator ``G^S`` the segment latent ``X^S`` can follow the same direction, so segment
shapes follow geometric edits such as yaw (Sec. 4.2).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Iterable, Sequence

import torch

from .directions import DirectionError, Edit, apply_edits, direction_delta, parse_layers


def space_of_code(G, code: torch.Tensor) -> str:
    """Guess the latent space of one code ``[1, ...]`` (or ``[...]``) from its shape."""
    shape = tuple(code.shape[1:]) if code.dim() > 1 and code.shape[0] == 1 else tuple(code.shape)
    if shape == (G.num_ws, G.w_dim) and "w+" in G.spaces:
        return "w+"
    if "s" in G.spaces and shape == (sum(G.style_dims()),):
        return "s"
    if shape == (G.w_dim,) and "w" in G.spaces:
        return "w"
    if shape == (G.z_dim,):
        return "z"
    raise DirectionError(f"a code of shape {tuple(code.shape)} fits none of the generator {G.name!r} spaces")


def _as_w_plus_if_layered(G, projection, edits: list[Edit]):
    """``projection`` in W+ (codes broadcast over the layers) when a W projection gets a layer-range edit."""
    if projection.space != "w" or "w+" not in getattr(G, "spaces", ()):
        return projection
    full = (None, (0, G.num_ws))
    layered = any(float(e.strength) != 0.0 and (e.direction.space == "w+" or
                  (parse_layers(e.layers) if e.layers is not None else e.direction.layers) not in full) for e in edits)
    if not layered:
        return projection
    codes = projection.codes.unsqueeze(1).expand(-1, G.num_ws, -1).contiguous()
    return replace(projection, codes=codes, space="w+")


def edit_projection(G, projection, edits: Iterable[Edit | tuple], segments: Sequence[int] | None = None,
                    mask_source=None, move_mask_latent: bool = False):
    """A new :class:`~chunkygan.project.io.Projection` with edited codes (the input is untouched).

    ``segments``: codes to edit (None = all: a global edit). With ``move_mask_latent`` and a
    ``mask_source`` that has a segment latent (``GeneratorMasks``), ``X^S`` moves along the same
    directions and the masks are re-rendered from it. A W projection ``[K,w_dim]`` edited along a layer
    range becomes a W+ projection ``[K,num_ws,w_dim]`` (every layer its W code first: the same images).
    """
    edits = [e if isinstance(e, Edit) else Edit(*e) for e in edits]
    projection = _as_w_plus_if_layered(G, projection, edits)
    codes = apply_edits(G, projection.codes.to(_device(G)), projection.space, edits, segments)
    new = replace(projection, codes=codes.to(projection.codes.device),
                  mask_params=dict(projection.mask_params))
    if move_mask_latent:
        if mask_source is None or not hasattr(mask_source, "latent"):
            raise DirectionError("moving the segment latent needs the projection's segment-generator mask source "
                                 "(masks that come from a segment generator G^S)")
        latent = mask_source.latent.detach()
        space = space_of_code(G, latent)
        delta = None
        for e in edits:
            if float(e.strength) == 0.0:
                continue
            d = direction_delta(G, e.direction, e.strength, space, e.layers).to(latent)
            delta = d if delta is None else delta + d
        if delta is not None:
            moved = latent + delta.view(latent.shape[1:]).unsqueeze(0) if latent.shape[0] == 1 else latent + delta
            old = {k: v.clone() for k, v in mask_source.state().items()}
            try:
                mask_source.load_state({**old, "latent": moved})
                with torch.no_grad():
                    masks = mask_source(tuple(projection.masks.shape[-2:]))
            finally:
                mask_source.load_state(old)
            new = replace(new, masks=masks.to(projection.masks), mask_params={**new.mask_params, "latent": moved})
    return new


@torch.no_grad()
def edited_composite(G, original, edited, base_renders: torch.Tensor | None = None, seams: bool = True) -> torch.Tensor:
    """The composite ``[1,3,R,R]`` of ``edited``, re-rendering only the codes that changed.

    Unchanged segments reuse ``base_renders`` (``[K,3,R,R]``, default: ``original.renders(G)``), so
    pixels outside the edited segments' masks equal ``original.composite`` bit for bit (a fresh
    batched render may differ from another batch in the last float bit).

    ``seams``: where the edit shifts colours differently on the two sides of a segment border, Poisson-blend
    the change across it (:func:`chunkygan.composite.seams.seamless_composite`, Sec. 5) — only inside the
    edited segments' masks (``S_k > 0``), so every pixel outside them stays bit-identical too.
    """
    from ..composite.blend import compose as blend

    base = original.renders(G) if base_renders is None else base_renders
    r = base
    changed = [k for k in range(edited.codes.shape[0]) if not torch.equal(edited.codes[k], original.codes[k])]
    if changed:
        r = r.clone()
        r[changed] = edited.renders(G, edited.codes[changed].to(edited.codes.device))
    masks = edited.masks.to(r)
    if masks.shape[-2:] != r.shape[-2:]:
        from ..segments.masks import resize

        masks = resize(masks, tuple(r.shape[-2:]))
    sx = None if edited.static_mask is None else edited.static_mask.to(r)
    tg = None if edited.target is None else edited.target.to(r)
    if seams and changed:
        from ..composite.seams import seamless_composite

        out = seamless_composite(r, masks, base_renders=base, allowed=masks[changed].sum(0)[0] > 0)
        return out if sx is None else torch.where(sx >= 1, tg, sx * tg + (1 - sx) * out)  # Eq. 3
    return blend(r, masks, sx, tg if sx is not None else None)


def _device(G) -> torch.device:
    try:
        return next(G.parameters()).device
    except (StopIteration, AttributeError):
        return torch.device("cpu")


__all__ = ["edit_projection", "edited_composite", "space_of_code"]
