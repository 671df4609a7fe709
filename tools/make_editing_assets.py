"""Make the editing assets of the embedded generator and the README edit strip.

1. The bundled direction bank ``src/chunkygan/data/directions-<generator>.safetensors`` of a built-in
   generator (default: the default generator, ``stylegan2-faces-64``; also run for ``dcgan-faces-64``):
   SeFa (5), GANSpace-style PCA (5) and InterFaceGAN-style linear boundaries for ``smile`` and
   ``yaw`` scored by the face labellers (face extra), all seeded, so re-running gives the same bank.
2. A segment-wise projection (chunky-w+, or chunky-z on a Z-only generator) of scikit-image's
   astronaut (FFHQ-aligned to 64 px) and an edit strip (strengths -2..2 along several directions) in ``docs/img/``, with the labeller scores along
   the smile and yaw sweeps.

Run: ``.venv/bin/python tools/make_editing_assets.py [--generator NAME] [--out docs/img] [--samples 300]
[--steps 200]``. The strip, projection and JSON file names end in ``-<generator>``.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--generator", default=None, help="built-in generator (default: the default generator)")
    ap.add_argument("--out", default="docs/img")
    ap.add_argument("--bank", default=None, help="default: src/chunkygan/data/directions-<generator>.safetensors")
    ap.add_argument("--samples", type=int, default=300, help="labelled samples per linear boundary")
    ap.add_argument("--steps", type=int, default=200, help="projection steps")
    ap.add_argument("--lambda-reg", type=float, default=5e-4, help="Eq. 2 dispersion weight (codes stay close, "
                    "so edits stay coherent across segments, Sec. 4.2)")
    ap.add_argument("--skip-bank", action="store_true")
    a = ap.parse_args()
    from chunkygan.edit import discover as disc
    from chunkygan.edit.directions import DirectionBank
    from chunkygan.generators import default_generator_name, load_generator

    torch.manual_seed(0)
    name = a.generator or default_generator_name()
    suffix = f"-{name}"
    a.bank = a.bank or f"src/chunkygan/data/directions-{name}.safetensors"
    G = load_generator(name)
    report: dict = {"generator": G.name, "timings_s": {}}
    if a.skip_bank:
        bank = DirectionBank.load(a.bank)
    else:
        bank = DirectionBank.for_generator(G, description="discovered by tools/make_editing_assets.py")
        t = time.perf_counter()
        for d in disc.sefa(G, k=5):
            bank.add(d)
        report["timings_s"]["sefa"] = time.perf_counter() - t
        t = time.perf_counter()
        for d in disc.pca(G, k=5, samples=2000):
            bank.add(d)
        report["timings_s"]["pca"] = time.perf_counter() - t
        from chunkygan.face.labellers import labeller

        for name in ("smile", "yaw"):
            t = time.perf_counter()
            d = disc.linear_boundary(G, labeller(name, missing="nan"), name, samples=a.samples, seed=1)
            bank.add(d)
            report["timings_s"][f"linear_{name}"] = time.perf_counter() - t
        bank.save(a.bank)
    print("bank:", ", ".join(bank.names()))

    # -- the astronaut projection ----------------------------------------------------------------
    from PIL import Image
    from skimage.data import astronaut

    from chunkygan.align.ffhq import align_face
    from chunkygan.edit.apply import edit_projection
    from chunkygan.face.labellers import labeller
    from chunkygan.imageio import make_grid, pil_to_tensor, save_image
    from chunkygan.project.projector import ProjectionConfig, project

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    photo = pil_to_tensor(Image.fromarray(astronaut()))
    target, _ = align_face(photo, 64)
    method = "chunky-w+" if "w+" in G.spaces else "chunky-z"
    cfg = ProjectionConfig(method=method, segments=4, steps=a.steps, lambda_reg=a.lambda_reg)
    t = time.perf_counter()
    proj = project(G, target, cfg, generator_name=G.name)
    report["timings_s"]["projection"] = time.perf_counter() - t
    report["projection_metrics"] = proj.metrics
    report["projection_config"] = {"method": method, "segments": 4, "steps": a.steps, "lambda_reg": a.lambda_reg}
    proj.save(out / f"astronaut-projection{suffix}.safetensors")
    strengths = [-2.0, -1.0, 0.0, 1.0, 2.0]
    rows, scores = [], {}
    names = [n for n in ("smile", "yaw", "sefa_0", "pca_0") if n in bank]
    labs = {"smile": labeller("smile", missing="nan"), "yaw": labeller("yaw", missing="nan")}
    for n in names:
        imgs = torch.cat([edit_projection(G, proj, [(bank[n], s)]).composite(G) for s in strengths])
        rows.append(torch.cat([target, imgs]))
        if n in labs:
            scores[n] = [round(float(v), 3) for v in labs[n](imgs)]
    strip = make_grid(torch.cat(rows), nrow=len(strengths) + 1)
    strip = torch.nn.functional.interpolate(strip, scale_factor=2, mode="nearest")
    save_image(strip, out / f"editing-astronaut-strip{suffix}.png")
    report["strip"] = {"rows": names, "columns": ["aligned photo"] + [f"strength {s:g}" for s in strengths],
                       "labeller_scores": scores}
    (out / f"editing-astronaut{suffix}.json").write_text(json.dumps(report, indent=1, default=str))
    print(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main()
