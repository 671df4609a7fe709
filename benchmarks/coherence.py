"""Coherence of the K codes under a global edit, with and without λ_reg (Eq. 2), in the default G^S mode.

For each image (the demo photos and generated samples) it projects globally (K = 1) and with the segment
generator G^S at each λ_reg, applies the same global edits to all codes, and measures with ArcFace (1 − cos):

* ``segments``: the mean pairwise identity distance between the K edited segment renders G(X_k + d) —
  how far the codes have drifted apart (0 = all codes render the same person). The renders are aligned
  by the FFHQ template (no detection: drifted codes often render no detectable face at all), and
  ``renders_with_face`` counts those in which SCRFD still finds one;
* ``vs_global``: the identity distance between the edited composite and the edited global projection;

both also without the edit (``*_unedited``), plus LPIPS and the codes' dispersion. Projections are saved
under ``--projections DIR/<image>/<label>/`` and reused when present (e.g. the demo's ``global``/``auto``).

    OMP_NUM_THREADS=1 python benchmarks/coherence.py --lambdas 0 1 --samples 2 --projections out/bench/coherence
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
from pathlib import Path

import torch


def _mean(xs):
    xs = [x for x in xs if not math.isnan(x)]
    return round(sum(xs) / len(xs), 4) if xs else float("nan")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", nargs="*", default=["astronaut", "grace_hopper"])
    ap.add_argument("--samples", type=int, default=2, help="generated samples (seeds 1000, 1001, ...)")
    ap.add_argument("--lambdas", nargs="+", type=float, default=[0.0, 1.0])
    ap.add_argument("--edits", nargs="+", default=["smile=2", "yaw=2"], help="global edits, NAME=STRENGTH")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--generator", default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--projections", default="out/bench/coherence")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from chunkygan.edit.apply import edit_projection, edited_composite
    from chunkygan.edit.directions import Edit, load_bank_for
    from chunkygan.generators import default_generator_name, load_generator
    from chunkygan.latents import dispersion, get_space
    from chunkygan.losses.identity import FaceIdentity
    from chunkygan.pipelines.auto import auto_mask_source, auto_projector
    from chunkygan.pipelines.demo import DEMO_LOSS_RESOLUTION, DEMO_PHOTOS
    from chunkygan.project.io import Projection
    from chunkygan.project.projector import ProjectionConfig, Projector

    name = args.generator or default_generator_name()
    G = load_generator(name)
    sp = "w+" if "w+" in G.spaces else G.spaces[0]
    bank = load_bank_for(name)
    edits = [Edit(bank.get(e.split("=")[0]), float(e.split("=")[1])) for e in args.edits]
    fid, fid_template = FaceIdentity(), FaceIdentity(landmarks="ffhq")
    root = Path(args.projections)
    images = {p: DEMO_PHOTOS[p].load() for p in args.photos}
    for i in range(args.samples):
        with torch.no_grad():
            z = torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(1000 + i))
            images[f"sample{1000 + i}"] = get_space("z").render(G, z, noise_mode="const").clamp(-1, 1)

    def projection(image, label, make):
        path = root / image / label / "projection.safetensors"
        if path.exists():
            return Projection.load(path)
        proj = make().run()
        path.parent.mkdir(parents=True, exist_ok=True)
        proj.save(path)
        return proj

    def embed(imgs):
        out = []
        for k in range(len(imgs)):
            try:
                out.append(fid.embed(imgs[k:k + 1]))
            except ValueError:  # no face found in this render
                out.append(None)
        return out

    def dist(a, b):
        return float("nan") if a is None or b is None else 1.0 - float((a * b).sum())

    common = dict(steps=args.steps, seed=0, loss_resolution=DEMO_LOSS_RESOLUTION)
    rows = []
    for image, target in images.items():
        projs = {}
        for lam in args.lambdas:
            def make():
                src = auto_mask_source(G)
                cfg = ProjectionConfig(method=f"chunky-{sp}", segments=src.num_segments, lambda_reg=lam, **common)
                return auto_projector(G, target, cfg, source=src)

            projs[lam] = projection(image, f"auto-lambda{lam:g}", make)
        glob = projection(image, "global", lambda: Projector(G, target, ProjectionConfig(method=sp, **common)))
        for lam, proj in projs.items():
            row = {"image": image, "lambda_reg": lam, "lpips": proj.metrics.get("lpips"),
                   "dispersion": round(float(dispersion(proj.codes)), 3)}
            for tag, e in [("unedited", [])] + [(f"{x.direction.name}={x.strength:g}", [x]) for x in edits]:
                pe = edit_projection(G, proj, e) if e else proj
                ge = edit_projection(G, glob, e) if e else glob
                with torch.no_grad():
                    renders = get_space(proj.space).render(G, pe.codes, noise_mode="const").clamp(-1, 1)
                    comp = edited_composite(G, proj, pe).clamp(-1, 1)
                    grender = get_space(glob.space).render(G, ge.codes, noise_mode="const").clamp(-1, 1)
                er = fid_template.embed(renders)
                ec, eg = embed(comp), embed(grender)
                pair = [1.0 - float((er[a] * er[b]).sum()) for a, b in itertools.combinations(range(len(er)), 2)]
                row[f"segments:{tag}"] = _mean(pair)
                row[f"vs_global:{tag}"] = round(dist(ec[0], eg[0]), 4)
                row[f"renders_with_face:{tag}"] = sum(x is not None for x in embed(renders))
            rows.append(row)
            print(json.dumps(row), flush=True)
    root.mkdir(parents=True, exist_ok=True)
    (root / "coherence.json").write_text(json.dumps(rows, indent=1) + "\n")
    print("mean over images:")
    for lam in args.lambdas:
        sel = [r for r in rows if r["lambda_reg"] == lam]
        keys = [k for k in sel[0] if k.startswith(("segments:", "vs_global:", "lpips", "dispersion", "renders_with"))]
        print(json.dumps({"lambda_reg": lam, **{k: _mean([float(r[k]) for r in sel]) for k in keys}}), flush=True)


if __name__ == "__main__":
    main()
