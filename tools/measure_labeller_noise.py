"""How much the face labellers' scores move when nothing about the face changes: a one-pixel shift.

For ``--samples`` seeded samples of a generator (W codes, seed 4: disjoint from the label/layer/card seeds),
each render and its copy shifted by one pixel right and down (edge pixels replicated) are scored by every
built-in labeller; the median and mean absolute score change per label is printed and written as JSON. The
medians are the noise tolerances of the direction cards' monotone test (:data:`chunkygan.edit.cards.TOLERANCE`):
a step of a sweep may fall by that much without counting as a reversal.

Run: ``OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python tools/measure_labeller_noise.py
[--generator stylegan2-faces-64] [--samples 200] [--out docs/img/labeller-noise-<generator>.json]``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import torch.nn.functional as F


def shift_one_pixel(images: torch.Tensor) -> torch.Tensor:
    """``[B,3,H,W]`` -> the same images moved one pixel right and down (edges replicated)."""
    return F.pad(images, (1, 0, 1, 0), mode="replicate")[..., :-1, :-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--generator", default=None)
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    torch.set_num_threads(1)
    from chunkygan.edit.discover import sample_latents
    from chunkygan.edit.labelled import LABELS, face_labeller, render
    from chunkygan.generators import default_generator_name, load_generator

    G = load_generator(a.generator or default_generator_name())
    space = "w" if "w" in G.spaces else "z"
    imgs = render(G, sample_latents(G, a.samples, space, seed=4), space)
    lab = face_labeller(LABELS)
    s0, s1 = lab(imgs), lab(shift_one_pixel(imgs))
    report = {"generator": G.name, "samples": a.samples, "labels": {}}
    for k in LABELS:
        d = (s0[k] - s1[k]).abs()
        d = d[torch.isfinite(d)]
        report["labels"][k] = {"median_abs_change": round(float(d.median()), 4), "mean_abs_change": round(float(d.mean()), 4),
                               "read": int(d.numel())}
        print(f"{k}\tmedian {float(d.median()):.4f}\tmean {float(d.mean()):.4f}\tread {d.numel()}/{a.samples}", flush=True)
    out = Path(a.out or f"docs/img/labeller-noise-{G.name}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
