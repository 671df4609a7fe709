"""Direction cards: what a direction measurably does to the label it is named after.

For ``N`` held-out samples (drawn by :func:`card_latents` at truncation ``psi`` =
:data:`CARD_TRUNCATION` = 0.7, InterFaceGAN's sampling setting for StyleGAN: typical faces, the ones an edit is
meant for) each direction is applied globally at strengths ``-2, -1, 0, 1, 2`` and the
labeller of its name scores every image. The card records

* ``response_per_unit``: the mean least-squares slope of score against strength (label units per unit);
* ``monotone_share``: the share of samples whose score never falls by more than the labeller's noise
  tolerance (:data:`TOLERANCE`, its measured change under a one-pixel shift) from one strength to the next
  and rises by more than it over the sweep
  (samples the labeller could not read at every strength do not count; their number is in ``read``);
* ``identity_per_unit``: mean ArcFace identity distance ``1 - cos`` between strength 0 and ±1 (or the
  smallest strength measured), per unit
  (:mod:`chunkygan.losses.identity`, FFHQ template key points on the aligned renders; NaN rows dropped);
* the mean score per strength, the samples, the generator and its weight fingerprint.

A direction is *shipped under its name* only if ``monotone_share >= SHIP_THRESHOLD`` (0.9).
"""
from __future__ import annotations

import logging
from typing import Callable, Sequence

import torch

from .directions import Direction, apply_edits, generator_fingerprint

log = logging.getLogger(__name__)

STRENGTHS = (-2.0, -1.0, 0.0, 1.0, 2.0)
SHIP_THRESHOLD = 0.9
#: truncation of the card samples: InterFaceGAN samples StyleGAN at psi = 0.7 (``STYLEGAN_TRUNCATION_PSI`` in its
#: model settings). Untruncated tail samples are often faces the labellers misread (dark, half-formed), which
#: measures the labeller, not the direction; the untruncated share is reported beside it (docs/editing.md).
CARD_TRUNCATION = 0.7
#: per-label noise tolerance of the monotone test (label units): a step may fall by this much, and the
#: sweep must rise by more than it. Each is the labeller's median score change when a render is shifted by one
#: pixel (200 samples of stylegan2-faces-64, ``tools/measure_labeller_noise.py``,
#: docs/img/labeller-noise-stylegan2-faces-64.json): a change that small is the labeller's noise, not the edit's.
TOLERANCE = {"age": 1.5, "gender": 0.03, "smile": 0.003, "eyes_open": 0.03, "gaze_x": 0.04, "gaze_y": 0.05,
             "yaw": 0.5, "pitch": 0.5, "roll": 0.3}


def card_latents(G, n: int, space: str, seed: int = 3, psi: float = CARD_TRUNCATION) -> torch.Tensor:
    """``n`` held-out card samples ``[n,D]`` in ``space`` (``w``: mapped z, ``z``), truncated towards the mean by ``psi``.

    W: ``w_avg + psi (w - w_avg)`` with the generator's tracked mean (all layers alike: the cards edit one W code);
    Z (no mapping network): ``psi z``, the DCGAN generators' own truncation.
    """
    from .discover import sample_latents

    lat = sample_latents(G, n, space, seed=seed)
    if psi == 1.0:
        return lat
    if space == "z":
        return lat * psi
    mean = G.mean_w().detach().to(lat)
    return mean + psi * (lat - mean)


def monotone_mask(scores: torch.Tensor, tol: float = 0.0) -> torch.Tensor:
    """``scores [S,N]`` (rows in increasing strength) -> ``[N]`` bool: never falls by more than ``tol`` per step
    and rises by more than ``tol`` from the first to the last strength."""
    steps = scores[1:] - scores[:-1]
    return (steps >= -tol).all(0) & ((scores[-1] - scores[0]) > tol)


def sweep_codes(G, direction: Direction, latents: torch.Tensor, space: str, strength: float) -> torch.Tensor:
    """Codes of ``latents`` (W ``[N,w_dim]`` -> W+ ``[N,num_ws,w_dim]``, or Z ``[N,z_dim]``) moved by ``strength``."""
    codes, code_space = (latents, "z") if space == "z" else (latents.unsqueeze(1).expand(-1, G.num_ws, -1).contiguous(), "w+")
    return apply_edits(G, codes, code_space, [(direction, strength)])


def render_codes(G, codes: torch.Tensor, batch: int = 100) -> torch.Tensor:
    dev = next(G.parameters()).device
    out = []
    with torch.no_grad():
        for i in range(0, len(codes), batch):
            c = codes[i:i + batch].to(dev)
            out.append((G(c) if c.dim() == 2 else G.synthesis(c)).cpu())
    return torch.cat(out)


def identity_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """ArcFace ``1 - cos`` per row of two ``[N,3,R,R]`` batches of FFHQ-aligned renders; NaN where it fails."""
    from ..losses.identity import FaceIdentity

    try:
        fid = FaceIdentity(landmarks="ffhq")
        ea, eb = fid.embed(a), fid.embed(b)
        return 1.0 - (ea * eb).sum(1)
    except TypeError:  # an older FaceIdentity without template key points: detect per row
        dist, _ = FaceIdentity().distances(a, b)
        return torch.tensor(dist)


def measure_card(G, direction: Direction, labeller: Callable[[torch.Tensor], torch.Tensor], label: str,
                 latents: torch.Tensor, space: str, strengths: Sequence[float] = STRENGTHS,
                 identity: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = identity_distances,
                 base_scores: torch.Tensor | None = None, tolerance: float | None = None,
                 progress: Callable[[int, int], None] | None = None, truncation_psi: float | None = None) -> dict:
    """The card of ``direction`` measured with ``labeller`` (images ``[B,3,R,R]`` -> scores ``[B]``).

    ``latents`` ``[N,D]`` held-out samples in ``space`` (``w`` or ``z``); ``base_scores`` ``[N]`` the labels at
    strength 0 when already known (saves one labelling pass). ``identity(a, b) -> [N]`` distances, or None.
    ``truncation_psi``: how ``latents`` were drawn (:func:`card_latents`), recorded in the card.
    """
    strengths = sorted(float(s) for s in strengths)
    if 0.0 not in strengths:
        raise ValueError("the strengths of a card must include 0 (the unedited samples)")
    tol = TOLERANCE.get(label, 0.0) if tolerance is None else tolerance
    unit = min(abs(s) for s in strengths if s != 0)  # identity change is measured at 0 vs ±unit
    per, imgs_at = [], {}
    for i, s in enumerate(strengths):
        if s == 0.0 and base_scores is not None and identity is None:
            sc = base_scores.float()
        else:
            imgs = render_codes(G, sweep_codes(G, direction, latents, space, s))
            if s in (-unit, 0.0, unit):
                imgs_at[s] = imgs
            sc = torch.as_tensor(labeller(imgs)).float().reshape(-1)
        per.append(sc)
        if progress:
            progress(i + 1, len(strengths))
    per = torch.stack(per)  # [S,N]
    ok = torch.isfinite(per).all(0)
    x = torch.tensor(strengths).view(-1, 1)
    xc = x - x.mean()
    slope = ((xc * (per[:, ok] - per[:, ok].mean(0))).sum(0) / (xc ** 2).sum()) if ok.any() else torch.tensor([])
    card = {"label": label, "strengths": strengths,
            "mean_score": [round(float(torch.nanmean(p)), 4) for p in per],
            "response_per_unit": round(float(slope.mean()), 4) if ok.any() else float("nan"),
            "monotone_share": round(float(monotone_mask(per[:, ok], tol).float().mean()), 4) if ok.any() else 0.0,
            "tolerance": tol, "read": int(ok.sum()), "samples": int(len(ok)), "truncation_psi": truncation_psi,
            "generator": G.name, "fingerprint": generator_fingerprint(G)}
    if identity is not None and imgs_at.keys() >= {-unit, 0.0, unit}:
        d = torch.cat([identity(imgs_at[0.0], imgs_at[unit]), identity(imgs_at[0.0], imgs_at[-unit])]).float() / unit
        good = torch.isfinite(d)
        card["identity_per_unit"] = round(float(d[good].mean()), 4) if good.any() else float("nan")
        card["identity_read"] = int(good.sum())
    card["shipped"] = bool(card["monotone_share"] >= SHIP_THRESHOLD)
    return card


def format_card(name: str, card: dict) -> str:
    """One line: name, label, response per unit, monotone share, identity per unit, samples."""
    if not card:
        return f"{name}\t(no card: never measured)"
    ident = card.get("identity_per_unit")
    ident = "n/a" if ident is None or ident != ident else f"{ident:.3f}"
    verdict = "ok" if card.get("monotone_share", 0) >= SHIP_THRESHOLD else "FAILS (<90% monotone)"
    psi = card.get("truncation_psi")
    psi = "" if psi is None else f" (psi {psi:g})"
    return (f"{name}\t{card['label']}\t{card['response_per_unit']:+.3f}/unit\tmonotone {card['monotone_share']:.1%}"
            f"\tidentity {ident}/unit\t{card['read']}/{card['samples']} read{psi}\t{verdict}")


__all__ = ["measure_card", "format_card", "monotone_mask", "card_latents", "CARD_TRUNCATION", "sweep_codes", "render_codes", "identity_distances",
           "STRENGTHS", "SHIP_THRESHOLD", "TOLERANCE"]
