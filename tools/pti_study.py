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
from dataclasses import replace
from pathlib import Path

import torch


def photos() -> dict[str, torch.Tensor]:
    from matplotlib import cbook
    from PIL import Image
    from skimage import data

    from chunkygan.imageio import load_image, pil_to_tensor

    return {"astronaut": pil_to_tensor(Image.fromarray(data.astronaut())),
            "grace_hopper": load_image(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))}


STRENGTHS = (-2.0, -1.0, 0.0, 1.0, 2.0)


@torch.no_grad()
def measure_edits(G, pc, tuned: dict, direction, yaw, strength: float) -> tuple[dict, dict]:
    """Global edits of the chunky projection ``pc`` along ``direction`` at :data:`STRENGTHS` (times
    ``strength / 2``), untuned and with each delta in ``tuned``: the labeller's scores, their slope per unit
    strength (least squares over the images it read) relative to the untuned slope, the mean absolute pixel
    change of the +/-strength edits, and for a local edit of the largest segment the largest change where
    that segment's mask is below 1% / exactly 0. Returns (numbers, images per variant)."""
    from chunkygan.edit.apply import edit_projection, edited_composite
    from chunkygan.project.pti import tuned_composite, tuned_edited_composite

    strengths = [v * strength / 2 for v in STRENGTHS]
    moved = [edit_projection(G, pc, [(direction, v)]) for v in strengths]
    k = int(pc.masks.flatten(1).sum(1).argmax())
    local = edit_projection(G, pc, [(direction, strength)], segments=[k])
    variants = {"untuned": None, **tuned}
    edits, imgs = {}, {}
    for name, d in variants.items():
        if d is None:
            ims = torch.cat([edited_composite(G, pc, e) for e in moved])
            before, after = pc.composite(G), edited_composite(G, pc, local)
        else:
            ims = torch.cat([tuned_edited_composite(G, pc, e, d) for e in moved])
            before, after = tuned_composite(G, pc, d), tuned_edited_composite(G, pc, local, d)
        imgs[name] = ims
        y = yaw(ims).float()
        ok = torch.isfinite(y)
        x = torch.tensor(strengths)[ok]
        slope = float(((x - x.mean()) * (y[ok] - y[ok].mean())).sum() / (x - x.mean()).pow(2).sum()) if ok.sum() >= 2 \
            else float("nan")
        i0 = strengths.index(0.0)
        change = float(torch.stack([(ims[j] - ims[i0]).abs().mean() for j in (0, len(strengths) - 1)]).mean())
        diff = (after - before).abs().amax(1, keepdim=True)
        m = pc.masks[k:k + 1].to(diff)
        # the same local edit with the masks hardened (one-hot argmax): pixels of other segments must not move at all
        hard = torch.nn.functional.one_hot(pc.masks.argmax(0)[0], pc.masks.shape[0]).permute(2, 0, 1).unsqueeze(1)
        ph = replace(pc, masks=hard.float())
        lh = replace(local, masks=hard.float())
        if d is None:
            hb, ha = ph.composite(G), edited_composite(G, ph, lh)
        else:
            hb, ha = tuned_composite(G, ph, d), tuned_edited_composite(G, ph, lh, d)
        off = (hard[k:k + 1] == 0).expand_as(ha)
        edits_hard = {"hard_masks_pixels_outside": int(off[:, 0].sum()),
                      "hard_masks_outside_bit_identical": bool(torch.equal(ha[off], hb[off]))}
        edits[name] = {**edits_hard, "yaw": [None if not torch.isfinite(v) else round(float(v), 2) for v in y],
                       "read": int(ok.sum()), "slope_deg_per_unit": round(slope, 3),
                       "mean_pixel_change": round(change, 4),
                       "local_edit_segment": k,
                       "local_max_change_where_mask_below_1pct": float(diff[m < 0.01].max()) if bool((m < 0.01).any())
                       else None,
                       "local_pixels_mask_zero": int((m == 0).sum()),
                       "local_max_change_where_mask_zero": float(diff[m == 0].max()) if bool((m == 0).any()) else None}
    for name in edits:
        base = edits["untuned"]
        edits[name]["slope_relative"] = round(edits[name]["slope_deg_per_unit"] / base["slope_deg_per_unit"], 3) \
            if base["slope_deg_per_unit"] == base["slope_deg_per_unit"] and base["slope_deg_per_unit"] else None
        edits[name]["pixel_change_relative"] = round(edits[name]["mean_pixel_change"] / base["mean_pixel_change"], 3)
    return edits, imgs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="out/pti_study")
    ap.add_argument("--steps", type=int, default=200, help="projection steps")
    ap.add_argument("--pti-steps", type=int, default=100)
    ap.add_argument("--pti-lr", type=float, default=3e-4)
    ap.add_argument("--locality", type=float, nargs="*", default=[0.0])
    ap.add_argument("--modes", nargs="+", default=["shared", "per-segment"])
    ap.add_argument("--chunky-only", action="store_true", help="tune only the chunky projection (not the W+ one)")
    ap.add_argument("--figure", default=None,
                    help="only write this PNG from the cached files: per photo target | W+ | W+ + PTI | chunky-W+ | "
                         "+ PTI shared | + PTI per-segment")
    ap.add_argument("--edits-only", action="store_true",
                    help="only measure edits, on the cached chunky projection and every cached delta of it")
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
    if a.figure:
        from chunkygan.project.pti import WeightDelta

        grid = []
        for name in a.photos:
            f = lambda key: out / f"{name}_{key}.safetensors"  # noqa: E731
            pw, pc = Projection.load(f(f"wplus_{a.steps}")), Projection.load(f(f"chunky-wplus_{a.steps}"))
            grid += [pw.target, pw.composite(G), tuned_composite(G, pw, WeightDelta.load(f(f"wplus_{a.steps}_plus_pti_shared"), G)),
                     pc.composite(G)] + [tuned_composite(G, pc, WeightDelta.load(f(f"chunky-wplus_{a.steps}_plus_pti_{m}"), G))
                                         for m in ("shared", "per-segment")]
        save_image(make_grid(enlarge(torch.cat([t.cpu() for t in grid]), 128), nrow=6), a.figure)
        return
    for name in a.photos:
        if a.edits_only:
            from chunkygan.project.pti import WeightDelta

            pc = Projection.load(out / f"{name}_chunky-wplus_{a.steps}.safetensors")
            tuned = {f.stem[len(name) + 1:]: WeightDelta.load(f, G) for f in
                     sorted(out.glob(f"{name}_chunky-wplus_{a.steps}_plus_pti_*.safetensors"))}
            edits, imgs = measure_edits(G, pc, tuned, yaw_dir, yaw, a.strength)
            report["photos"][name] = {"yaw_edits": edits}
            print(name, json.dumps(edits), flush=True)
            rows.append(torch.cat(list(imgs.values())).cpu())
            continue
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
        for key in ((f"chunky-w+@{a.steps}",) if a.chunky_only else (f"w+@{a.steps}", f"chunky-w+@{a.steps}")):
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
        tuned = {k2: d for k2, (p, d) in deltas.items() if p is pc}
        edits, imgs = measure_edits(G, pc, tuned, yaw_dir, yaw, a.strength)
        r["yaw_edits"] = edits
        print(name, json.dumps(edits), flush=True)
        report["photos"][name] = r
        rows.append(torch.cat([t.cpu() for t in tiles]))
        rows.append(torch.cat(list(imgs.values())).cpu())

    ncol = max(x.shape[0] for x in rows)
    pad = [torch.cat([x, torch.ones(ncol - x.shape[0], *x.shape[1:])]) if x.shape[0] < ncol else x for x in rows]
    stem = ("pti_edits_" if a.edits_only else "pti_study_") + "_".join(a.photos) + ("" if a.locality == [0.0] else "_loc" + "_".join(f"{x:g}" for x in a.locality))
    save_image(make_grid(enlarge(torch.cat(pad), 128), nrow=ncol), out / f"{stem}.png")
    (out / f"{stem}.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
