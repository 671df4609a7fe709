"""Named, checked directions for a generator: age, gender, smile, eyes open, gaze, yaw, pitch.

Recipe (run by ``tools/make_editing_assets.py``; the labels come from :mod:`chunkygan.edit.labelled`):

1. **Fit** (InterFaceGAN, Shen et al. 2020): a logistic-regression boundary normal per label from the
   top/bottom 30% of thousands of labelled samples; each target's normal has the normals of the labels
   correlated with it (|Pearson r| >= 0.2 over the samples) projected out (conditional boundary).
2. **Layer range by measurement** (style-based generators; the tool also compares the conditional and the
   plain boundary this way): each candidate W+ range
   (:func:`layer_candidates`) is applied at strengths -2, 0, 2 to a small held-out set; the range with the
   best ``monotone share - 0.5 * selectivity ratio`` wins. The ratio is the side effect per intended change:
   the mean absolute change of the other labels divided by the change of the target label, both in their
   standard deviations over the labelled samples. (Per unit *strength*, as before, it favoured weak ranges:
   yaw on layers 4-9 turned 3.6 deg per unit against 9.7 on all layers, and all-layer yaw is what turns the
   photos' projections.)
3. **Card** (:mod:`chunkygan.edit.cards`) on >= 500 further held-out samples. Directions whose card shows
   a monotone response on fewer than 90% of the samples are not shipped under their name.
"""
from __future__ import annotations

import logging
from typing import Callable, Sequence

import torch

from .cards import SHIP_THRESHOLD, TOLERANCE, measure_card, monotone_mask, render_codes, sweep_codes
from .directions import Direction
from .discover import _latent_std, attribute_normals, correlated_labels, project_out

log = logging.getLogger(__name__)

#: direction name -> the label it is fitted on and judged by
TARGETS = {"age": "age", "gender": "gender", "smile": "smile", "eyes_open": "eyes_open", "gaze": "gaze_x",
           "yaw": "yaw", "pitch": "pitch"}
MEANING = {"age": "+ = older (dlib age estimate, years)", "gender": "+ = more male (P(male), dlib)",
           "smile": "+ = more smile (MediaPipe mouthSmile blendshapes)",
           "eyes_open": "+ = eyes more open (1 - MediaPipe eyeBlink)",
           "gaze": "+ = eyes turn towards the subject's left (MediaPipe eyeLook blendshapes)",
           "yaw": "+ = head turns towards image right (degrees)", "pitch": "+ = face turns up (degrees)"}


def layer_candidates(G) -> list[tuple[int, int] | None]:
    """W+ ranges tried for each direction: all layers, coarse, coarse+middle, middle, fine (None = all)."""
    if "w+" not in getattr(G, "spaces", ()):
        return [None]
    n = G.num_ws
    h = n // 2
    return [None, (0, max(1, n // 3)), (0, h + 1), (max(1, n // 4), h + 2), (h - 1, n)]


def _describe(name: str, label: str, method: str, read: int, cond: dict[str, float]) -> str:
    """A fitted direction's description: what + means, how it was fitted, from how many samples."""
    how = "ridge-regression normal" if method == "ridge" else "InterFaceGAN boundary"
    text = f"{MEANING.get(name, label)}; {how} of {label!r} from {read} labelled samples"
    if cond:
        text += ", conditioned on " + ", ".join(f"{c} (r={r:+.2f})" for c, r in cond.items())
    return text


def fit_directions(G, latents: torch.Tensor, space: str, scores: dict[str, torch.Tensor],
                   targets: dict[str, str] = TARGETS, corr_threshold: float = 0.2,
                   method: str = "mean") -> list[Direction]:
    """Conditional InterFaceGAN directions (all layers) for ``targets`` from labelled ``latents [N,D]``.

    ``method``: the boundary normal (:func:`~chunkygan.edit.discover.attribute_normals`): ``mean`` (class-mean
    difference of the top/bottom 30%) or ``ridge`` (ridge regression on every sample)."""
    labels = sorted(set(targets.values()))
    normals = attribute_normals(latents, {k: scores[k] for k in labels}, method=method)
    out = []
    for name, label in targets.items():
        cond = correlated_labels(scores, label, [l for l in labels if l != label], corr_threshold)
        v = project_out(normals[label], [normals[c] for c in cond])
        read = int(torch.isfinite(scores[label]).sum())
        out.append(Direction(name=name, space=space, vector=v, generator=G.name, scale=_latent_std(latents, v),
                             source="interfacegan", default_strength=1.0, strength_range=(-3.0, 3.0),
                             description=_describe(name, label, method, read, cond)))
    return out


def choose_layers(G, direction: Direction, labeller: Callable[[torch.Tensor], dict[str, torch.Tensor]],
                  label: str, latents: torch.Tensor, space: str, others: Sequence[str] = (),
                  label_std: dict[str, float] | None = None, strength: float = 2.0) -> tuple[Direction, list[dict]]:
    """The direction on the best-measured W+ range (see the module docstring) and every candidate's numbers.

    ``labeller``: images -> ``{label: [B], other: [B], ...}``; ``latents`` ``[M,D]`` held-out samples.
    """
    cands = layer_candidates(G)
    if len(cands) == 1:
        return direction, []
    names = (label, *others)
    base = labeller(render_codes(G, sweep_codes(G, direction, latents, space, 0.0)))
    rows = []
    for layers in cands:
        d = direction.with_layers(layers)
        lo = labeller(render_codes(G, sweep_codes(G, d, latents, space, -strength)))
        hi = labeller(render_codes(G, sweep_codes(G, d, latents, space, strength)))
        seq = torch.stack([lo[label], base[label], hi[label]])
        ok = torch.isfinite(seq).all(0)
        mono = float(monotone_mask(seq[:, ok], TOLERANCE.get(label, 0.0)).float().mean()) if ok.any() else 0.0
        off = []
        for o in others:
            dv = (hi[o] - lo[o]).abs() / (2 * strength) / max(1e-6, (label_std or {}).get(o, 1.0))
            off.append(float(torch.nanmean(dv)))
        off_t = sum(off) / len(off) if off else 0.0
        resp = float(torch.nanmean(hi[label] - lo[label])) / (2 * strength)
        resp_std = abs(resp) / max(1e-6, (label_std or {}).get(label, 1.0))
        ratio = off_t / max(resp_std, 1e-6)
        rows.append({"layers": None if layers is None else [layers[0], layers[1] - 1], "monotone_share": round(mono, 3),
                     "response_per_unit": round(resp, 4), "off_target_per_unit": round(off_t, 4),
                     "off_target_per_target_change": round(ratio, 4), "score": round(mono - 0.5 * min(ratio, 2.0), 4)})
    best = max(range(len(rows)), key=lambda i: rows[i]["score"])
    return direction.with_layers(cands[best]), rows


__all__ = ["TARGETS", "MEANING", "layer_candidates", "fit_directions", "choose_layers", "SHIP_THRESHOLD",
           "measure_card"]
