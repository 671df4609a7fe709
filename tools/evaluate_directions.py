"""What the bundled directions do to the two public-domain photos, and local paste-back against the plain paste.

Input: folders written by ``chunkygan project PHOTO --align --segments 4 -o DIR`` (K = 4 projections that
record their photo and face transform), e.g. of scikit-image's astronaut and matplotlib's Grace Hopper.
Global edits move G^S's segment latent with the codes when the masks come from G^S, as ``chunkygan edit``
does by default (``--fixed-segments`` keeps the masks).

1. **Photo checks** (issue #17): every named direction of the bank at strengths -2, 0, +2 (global edits),
   each composite scored by the face labellers (64 px renders are upsampled to 128 px before detection):
   ``smile`` +2 should raise the smile score, ``age`` +2 the age, ``yaw`` ±2 turn the head by ≥ 8°.
2. **Edit grid** ``<out>/editing-grid-<generator>.png``: per photo the reconstruction and each named
   direction at -2 / +2, captioned with the labeller's score.
3. **Paste-back**: ``smile`` (or the first named direction) at +2 pasted into the photo (a) as the whole face
   (the old behaviour), (b) plain alpha paste, (c) Poisson and (d) delta transfer, each only where the edit
   changed the image; measured: share of photo pixels changed, the face crop's high-frequency energy
   relative to the photo's (detail kept, 1 = as sharp as the photo), and LPIPS of the face crop to the photo's.
   Before/after crops: ``<out>/paste-back-<photo>-<generator>.png``.

Run: ``OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python tools/evaluate_directions.py /work/cache/proj/astronaut
/work/cache/proj/grace_hopper [--bank FILE] [--out docs/img]``; the numbers go to
``<out>/editing-photos-<generator>.json``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import torch.nn.functional as F

STRENGTHS = (-2.0, 0.0, 2.0)
#: how a label is named in captions (the gender labeller scores P(male))
SHOWN = {"gender": "P(male)"}


def laplacian_energy(img: torch.Tensor) -> float:
    """Mean squared 4-neighbour Laplacian of a ``[1,3,H,W]`` image (high-frequency detail)."""
    k = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]).view(1, 1, 3, 3).repeat(3, 1, 1, 1)
    return float(F.conv2d(img.float(), k, groups=3).pow(2).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("projections", nargs="+", help="folders of `chunkygan project --align` results")
    ap.add_argument("--bank", default=None, help="direction bank (default: the generator's)")
    ap.add_argument("--out", default="docs/img")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--fixed-segments", action="store_true", help="keep G^S masks fixed (default: move X^S too)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    from chunkygan.align.ffhq import FaceTransform, paste_back, paste_back_local
    from chunkygan.commands.edit import _face_crop
    from chunkygan.composite.captions import captioned_sheet
    from chunkygan.edit.apply import edit_projection
    from chunkygan.edit.directions import load_bank_for
    from chunkygan.edit.named import TARGETS
    from chunkygan.face.labellers import label_images
    from chunkygan.generators import load_generator
    from chunkygan.imageio import load_image, save_image
    from chunkygan.losses.lpips import LPIPS
    from chunkygan.project.io import Projection
    from chunkygan.segments.gs import mask_source_for

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    lp = LPIPS("alex", working_resolution=None)
    report: dict = {"strengths": list(STRENGTHS), "photos": {}}
    tiles, caps = [], []
    G = bank = None
    for folder in map(Path, a.projections):
        proj = Projection.load(folder)
        if G is None:
            G = load_generator(proj.generator)
            bank = load_bank_for(G, a.bank)
            bank.check(G)
            named = [m for n in TARGETS for m in (n, f"{n}_unverified") if m in bank]  # near misses too, so named
            report["generator"], report["named"] = G.name, named
        photo_name = folder.name
        recon = proj.composite(G)
        moving = proj.mask_source == "generator" and not a.fixed_segments
        ms = mask_source_for(G, proj) if moving else None
        edit = lambda edits: edit_projection(G, proj, edits, mask_source=ms, move_mask_latent=moving)
        rows = {}
        tiles.append(recon)
        target = lambda n: TARGETS[n.removesuffix("_unverified")]
        base = label_images(recon, tuple(dict.fromkeys(target(n) for n in named)), missing="nan")
        caps.append(f"{photo_name}\nK={proj.num_segments} projection")
        for n in named:
            label = target(n)
            imgs = {s: edit([(bank[n], s)]).composite(G) for s in STRENGTHS if s != 0}
            sc = {s: float(label_images(im, (label,), missing="nan")[label][0]) for s, im in imgs.items()}
            sc[0.0] = float(base[label][0])
            rows[n] = {"label": label, "scores": {f"{s:+g}": round(sc[s], 3) for s in STRENGTHS},
                       "change_at_+2": round(sc[2.0] - sc[0.0], 3), "change_at_-2": round(sc[-2.0] - sc[0.0], 3)}
            for s in (-2.0, 2.0):
                tiles.append(imgs[s])
                caps.append(f"{n} {s:+g}\n{SHOWN.get(label, label)} {sc[0.0]:.2f}->{sc[s]:.2f}")
        report["photos"][photo_name] = {"directions": rows, "masks": proj.mask_source, "segments_moved": moving,
                                        "projection": json.loads((folder / "metrics.json").read_text())
                                        if (folder / "metrics.json").is_file() else {}}
        print(photo_name, json.dumps(rows), flush=True)

        # -- paste-back comparison --------------------------------------------------------------------
        info = json.loads((folder / "alignment.json").read_text())
        photo = load_image(Path(info["photo"]))
        tr = FaceTransform.load(folder / info["transform"])
        n = "smile" if "smile" in bank else (named[0] if named else bank.names()[0])
        edited = edit([(bank[n], 2.0)]).composite(G)
        results = {"whole face (old)": paste_back(edited, photo, tr)}
        for mode in ("alpha", "poisson", "delta"):
            results[f"local {mode}"] = paste_back_local(edited, recon, photo, tr, mode=mode)
        crop_photo = _face_crop(photo, tr)
        pb = {}
        up = lambda x: F.interpolate(x, size=(256, 256), mode="bilinear", align_corners=False)
        for k, im in results.items():
            c = _face_crop(im, tr)
            pb[k] = {"photo_pixels_changed": round(float((im != photo).any(1).float().mean()), 4),
                     "detail_kept": round(laplacian_energy(c) / laplacian_energy(crop_photo), 3),
                     "lpips_face_crop_vs_photo": round(float(lp(up(c), up(crop_photo))[0]), 4)}
        report["photos"][photo_name]["paste_back"] = {"direction": f"{n} +2", **pb}
        sheet = captioned_sheet([crop_photo] + [_face_crop(im, tr) for im in results.values()],
                                ["photo"] + [f"{k}\n{n} +2, LPIPS {pb[k]['lpips_face_crop_vs_photo']:.3f}"
                                             for k in results], tile=200)
        save_image(sheet, out / f"paste-back-{photo_name}-{G.name}.png")
        print(photo_name, json.dumps(pb), flush=True)
    ncol = 1 + 2 * len(report["named"])
    save_image(captioned_sheet(tiles, caps, ncol=ncol, tile=128), out / f"editing-grid-{G.name}.png")
    (out / f"editing-photos-{G.name}.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
