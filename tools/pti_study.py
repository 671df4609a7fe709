"""The PTI study of docs/pti.md: W+ vs W+ + PTI vs chunky-W+ + PTI, shared vs per-segment, and edits
(projections are cached in --out and reused by reruns with other PTI settings).

On the two public-domain photos (scikit-image ``astronaut``, matplotlib ``grace_hopper.jpg``) and the
default generator: projections at a stated step budget, then pivotal tuning at a stated budget, the
LPIPS of each, and the ``yaw`` labeller's response to a global yaw edit of the chunky projection
with untuned and tuned weights (the same strength), plus the largest change outside the segments of
a local edit. Writes ``pti_study_<photos>.json`` and ``.png`` into ``--out``.

Run: ``.venv/bin/python tools/pti_study.py --out out/pti_study [--steps 200] [--pti-steps 100]``.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch


def photos() -> dict[str, torch.Tensor]:
    from matplotlib import cbook
    from PIL import Image
    from skimage import data

    from chunkygan.imageio import load_image, pil_to_tensor

    return {"astronaut": pil_to_tensor(Image.fromarray(data.astronaut())),
            "grace_hopper": load_image(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="out/pti_study")
    ap.add_argument("--steps", type=int, default=200, help="projection steps")
    ap.add_argument("--pti-steps", type=int, default=100)
    ap.add_argument("--pti-lr", type=float, default=3e-4)
    ap.add_argument("--locality", type=float, nargs="*", default=[0.0])
    ap.add_argument("--modes", nargs="+", default=["shared", "per-segment"])
    ap.add_argument("--segments", type=int, default=4)
    ap.add_argument("--strength", type=float, default=2.0, help="yaw edit strength (global, +/-)")
    ap.add_argument("--photos", nargs="+", default=["astronaut", "grace_hopper"])
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    from chunkygan.edit.apply import edit_projection, edited_composite
    from chunkygan.edit.directions import load_bank_for
    from chunkygan.face.labellers import labeller
    from chunkygan.generators import default_generator_name, load_generator
    from chunkygan.imageio import make_grid, save_image
    from chunkygan.project.outputs import enlarge
    from chunkygan.project.io import Projection
    from chunkygan.project.projector import project
    from chunkygan.project.pti import tune, tuned_composite, tuned_edited_composite

    G = load_generator(default_generator_name())
    yaw_dir = load_bank_for(G.name).get("yaw")
    yaw = labeller("yaw", missing="nan")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    report: dict = {"generator": G.name, "projection_steps": a.steps, "pti_steps": a.pti_steps, "pti_lr": a.pti_lr,
                    "segments": a.segments, "yaw_strength": a.strength, "photos": {}}
    rows = []
    all_photos = photos()
    for name in a.photos:
        img = all_photos[name]
        r: dict = {}
        tiles = []
        projs = {}
        for method, steps in (("w+", a.steps), ("w+", a.steps + a.pti_steps), ("chunky-w+", a.steps)):
            key = f"{method}@{steps}"
            cache = out / f"{name}_{key.replace('+', 'plus').replace('@', '_')}.safetensors"
            if cache.is_file():  # projections are the slow part: reruns (other PTI settings) reuse them
                p = Projection.load(cache)
            else:
                p = project(G, img, method=method, segments=a.segments, steps=steps)
                p.save(cache)
            r[key] = {"lpips": p.metrics["lpips"], "seconds": p.metrics["seconds"]}
            projs[key] = p
            print(name, key, r[key], flush=True)
        tiles += [projs[f"w+@{a.steps}"].target, projs[f"w+@{a.steps}"].composite(G)]
        deltas = {}
        for key in (f"w+@{a.steps}", f"chunky-w+@{a.steps}"):
            p = projs[key]
            modes = ("shared",) if key.startswith("w+") else tuple(a.modes)
            for mode in modes:
                for loc in a.locality:
                    t0 = time.perf_counter()
                    d = tune(G, p, steps=a.pti_steps, lr=a.pti_lr, mode=mode, locality=loc)
                    k2 = f"{key} + pti {mode}" + (f" loc{loc:g}" if loc else "")
                    r[k2] = {**d.meta["metrics"], "seconds_wall": round(time.perf_counter() - t0, 1)}
                    deltas[k2] = (p, d)
                    d.save(out / f"{name}_{k2.replace(' ', '_').replace('+', 'plus').replace('@', '_')}.safetensors")
                    print(name, k2, r[k2], flush=True)
            tiles += [p.composite(G)] + [tuned_composite(G, p, deltas[k][1]) for k in deltas if k.startswith(key)]
        # edits of the chunky projection: yaw response at +/- strength, untuned vs tuned; local edit leakage
        pc = projs[f"chunky-w+@{a.steps}"]
        edits = {}
        s = a.strength
        plus, minus = (edit_projection(G, pc, [(yaw_dir, v)]) for v in (s, -s))
        imgs = {"untuned": torch.cat([edited_composite(G, pc, e) for e in (minus, pc, plus)])}
        for k2, (p, d) in deltas.items():
            if p is pc:
                imgs[k2] = torch.cat([tuned_edited_composite(G, pc, e, d) for e in (minus, pc, plus)])
        for k2, im in imgs.items():
            y = yaw(im)
            edits[k2] = {"yaw_minus": round(float(y[0]), 2), "yaw_0": round(float(y[1]), 2),
                         "yaw_plus": round(float(y[2]), 2), "response": round(float(y[2] - y[0]), 2)}
        base = edits["untuned"]["response"]
        for k2 in edits:
            edits[k2]["relative_to_untuned"] = round(edits[k2]["response"] / base, 3) if base else None
        local = edit_projection(G, pc, [(yaw_dir, s)], segments=[0])
        outside = pc.masks[0:1] == 0
        for k2, (p, d) in deltas.items():
            if p is pc:
                before, after = tuned_composite(G, pc, d), tuned_edited_composite(G, pc, local, d)
                edits[k2]["local_edit_max_change_outside"] = float((after - before).abs().masked_select(
                    outside.expand_as(after)).max()) if bool(outside.any()) else None
        r["yaw_edits"] = edits
        print(name, json.dumps(edits), flush=True)
        report["photos"][name] = r
        rows.append(torch.cat([t.cpu() for t in tiles]))
        rows.append(torch.cat(list(imgs.values())).cpu())
    ncol = max(x.shape[0] for x in rows)
    pad = [torch.cat([x, torch.ones(ncol - x.shape[0], *x.shape[1:])]) if x.shape[0] < ncol else x for x in rows]
    stem = "pti_study_" + "_".join(a.photos) + ("" if a.locality == [0.0] else "_loc" + "_".join(f"{x:g}" for x in a.locality))
    save_image(make_grid(enlarge(torch.cat(pad), 128), nrow=ncol), out / f"{stem}.png")
    (out / f"{stem}.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
