"""The README material of the shipped style-based generator (issue #8).

1. ``docs/img/stylegan2-faces-64-vs-teacher.png``: teacher (``dcgan-faces-64``, top row) and the shipped
   student (``stylegan2-faces-64``, bottom row) for the same seeds (z from ``torch.Generator(seed)``, as
   ``chunkygan sample --seeds`` draws them).
2. ``docs/img/default-generator-projection.json`` / ``.png``: the demo photos projected with the same
   step budget and loss as ``chunkygan demo``, in W+ on the student and in Z on the teacher, globally
   (K = 1) and by segments (K = 4); LPIPS and L2 of each.

Run: ``.venv/bin/python tools/make_distill_report.py [--seeds 0-7] [--steps 200] [--out docs/img]``.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--student", default="stylegan2-faces-64")
    ap.add_argument("--teacher", default="dcgan-faces-64")
    ap.add_argument("--seeds", default="0-7")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--out", default="docs/img")
    a = ap.parse_args()
    from chunkygan.commands._common import parse_int_list
    from chunkygan.generators import load_generator
    from chunkygan.imageio import make_grid, save_image
    from chunkygan.pipelines.demo import DEMO_PHOTOS, compare

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    S, T = load_generator(a.student), load_generator(a.teacher)
    seeds = parse_int_list(a.seeds)
    z = torch.stack([torch.randn(100, generator=torch.Generator().manual_seed(s)) for s in seeds])
    with torch.no_grad():
        grid = make_grid(torch.cat([T(z), S(z)]), nrow=len(seeds))
    grid = torch.nn.functional.interpolate(grid, scale_factor=2, mode="nearest")
    save_image(grid, out / f"{a.student}-vs-teacher.png")

    report: dict = {"steps": a.steps, "segments": 4, "seeds": seeds, "photos": {}}
    tiles = []
    for photo in ("astronaut", "grace_hopper"):
        target = DEMO_PHOTOS[photo].load()
        row = {}
        imgs = [torch.nn.functional.interpolate(target, size=(64, 64), mode="area")]
        for label, G, space in ((a.teacher, T, "z"), (a.student, S, "w+")):
            t0 = time.perf_counter()
            runs = compare(G, target, segments=4, steps=a.steps, space=space, generator_name=label)
            for kind in ("global", "chunky"):
                proj = runs[kind][1]
                row[f"{label} {'' if kind == 'global' else 'chunky-'}{space}"] = {
                    "lpips": proj.metrics["lpips"], "l2": proj.metrics["l2"]}
                imgs.append(proj.composite(G).clamp(-1, 1))
            row[f"{label} seconds"] = round(time.perf_counter() - t0, 1)
        report["photos"][photo] = row
        tiles.append(torch.cat(imgs))
    sheet = make_grid(torch.cat(tiles), nrow=5)
    save_image(torch.nn.functional.interpolate(sheet, scale_factor=2, mode="nearest"),
               out / "default-generator-projection.png")
    report["columns"] = ["photo", f"{a.teacher} z", f"{a.teacher} chunky-z", f"{a.student} w+",
                         f"{a.student} chunky-w+"]
    (out / "default-generator-projection.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
