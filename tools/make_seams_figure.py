"""Seams at segment borders (docs/seams.md): measured on the two public-domain photos, before/after crops.

For each photo of the offline evaluation set (``chunkygan eval photos``: astronaut, Grace Hopper) it runs,
unless the result is already in ``--work``:

* ``chunkygan masks PHOTO -o WORK/masks_P`` (face parts; ``labels.png`` is the hard label image);
* ``chunkygan project PHOTO --masks WORK/masks_P/labels.png --feather F -o WORK/P_labels_fF`` for each
  ``--feathers`` value (Gaussian σ in generator pixels; 0 = the hard label masks);
* ``chunkygan project PHOTO -o WORK/P_gs`` (the default mode: G^S masks).

Then it measures, per projection, the seam score of the reconstruction against the photo
(:func:`chunkygan.composite.seams.seam_score`), its LPIPS (metrics.json), and the same for the Poisson
stitching of the renders (:func:`~chunkygan.composite.seams.seamless_composite` without base renders);  and
for a local ``yaw`` edit of the skin segment, the seam score of the plain edited composite and of the
seam-fixed one (:func:`chunkygan.edit.apply.edited_composite`'s default) against the unedited composite.
Writes ``WORK/seams.json`` and the crops ``docs/img/seams-<photo>.png`` (``--img``).

Run: ``.venv/bin/python tools/make_seams_figure.py --work out/seams [--steps 200]``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

PHOTOS = ("astronaut", "grace_hopper")


def run(*args: str) -> None:
    cmd = [sys.executable, "-m", "chunkygan", *args]
    print("$ chunkygan", " ".join(args), flush=True)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def ensure_projections(work: Path, photo: str, feathers: list[float], steps: int) -> dict[str, Path]:
    """The projections of one photo (made with the CLI when missing): name -> folder."""
    img = work / "photos" / f"{photo}.png"
    if not img.is_file():
        run("eval", "photos", "-o", str(work / "photos"))
    masks = work / f"masks_{photo}"
    if not (masks / "labels.png").is_file():
        run("masks", str(img), "-o", str(masks))
    out = {}
    for f in feathers:
        d = work / f"{photo}_labels_f{f:g}"
        if not (d / "metrics.json").is_file():
            run("project", str(img), "--masks", str(masks / "labels.png"), "--feather", f"{f:g}", "--steps", str(steps),
                "--snapshots", "0", "-o", str(d))
        out[f"labels, feather {f:g}"] = d
    d = work / f"{photo}_gs"
    if not (d / "metrics.json").is_file():
        run("project", str(img), "--steps", str(steps), "--snapshots", "0", "-o", str(d))
    out["G^S (default mode)"] = d
    return out


@torch.no_grad()
def measure_projection(G, folder: Path, borders: torch.Tensor | None = None) -> dict:
    """Seam score and LPIPS of one projection; ``borders`` ``[K,1,H,W]``: the masks whose segment borders are
    scored (default: the projection's own; all label-mask variants of a photo use the hard labels' borders,
    so that feathering does not move the border pixels being compared)."""
    from chunkygan.composite import blend
    from chunkygan.composite.seams import LEVEL, border_colour_shift, seam_score, seamless_composite
    from chunkygan.project.io import Projection
    from chunkygan.project.projector import measure

    p = Projection.load(folder / "projection.safetensors")
    renders = p.renders(G)
    masks = p.masks.to(renders)
    plain = blend(renders, masks)
    stitched = seamless_composite(renders, masks)
    scored = masks if borders is None else borders.to(masks)
    shift = torch.nan_to_num(border_colour_shift(renders, masks), nan=0.0)
    transition = float(((masks.amax(0) < 0.98) & (masks.amax(0) > 0)).float().mean())
    return {
        "lpips": json.loads((folder / "metrics.json").read_text())["lpips"],
        "lpips_recomputed": measure(plain, p.target)["lpips"],
        "seam_score": round(seam_score(plain, p.target, scored).score, 3),
        "poisson_stitched": {"seam_score": round(seam_score(stitched, p.target, scored).score, 3),
                             "lpips": measure(stitched, p.target)["lpips"]},
        "max_render_shift_levels": round(float(shift.max()) / LEVEL, 1),
        "pixels_in_mask_transitions": round(transition, 3),
        "images": {"plain": plain.cpu(), "stitched": stitched.cpu(), "target": p.target.cpu()},
    }


@torch.no_grad()
def measure_edit(G, folder: Path, direction: str, strength: float, segment: int,
                 borders: torch.Tensor | None = None) -> dict:
    """A local edit of ``segment``: the plain composite (Eq. 1) and the seam-fixed one, against the unedited one."""
    from chunkygan.composite import blend
    from chunkygan.composite.seams import LEVEL, border_colour_shift, seam_score
    from chunkygan.edit.apply import edit_projection, edited_composite
    from chunkygan.edit.directions import Edit, load_bank_for
    from chunkygan.project.io import Projection
    from chunkygan.project.projector import measure

    p = Projection.load(folder / "projection.safetensors")
    bank = load_bank_for(G, None)
    base = p.renders(G)
    masks = p.masks.to(base)
    unedited = blend(base, masks)
    new = edit_projection(G, p, [Edit(bank.get(direction), strength, None)], [segment])
    plain = edited_composite(G, p, new, base, seams=False)
    fixed = edited_composite(G, p, new, base)  # the default: the Poisson seam fix across hard borders
    renders = base.clone()
    renders[segment] = new.renders(G, new.codes[segment:segment + 1])[0]
    shift = torch.nan_to_num(border_colour_shift(renders - base, masks), nan=0.0)
    scored = masks if borders is None else borders.to(masks)
    return {"edit": f"{direction} {strength:+g}, segment {segment}",
            "max_change_shift_levels": round(float(shift.max()) / LEVEL, 1),
            "seam_score_plain": round(seam_score(plain, unedited, scored).score, 3),
            "seam_score_fixed": round(seam_score(fixed, unedited, scored).score, 3),
            "lpips_fixed_vs_plain": measure(fixed, plain)["lpips"],
            "pixels_changed_by_fix": int((fixed != plain).any(1).sum()),
            "images": {"plain": plain.cpu(), "fixed": fixed.cpu(), "unedited": unedited.cpu()}}


def crop(img: torch.Tensor, rows: slice, cols: slice) -> torch.Tensor:
    return img[..., rows, cols]


#: square crops of the 64 px images: around nose and mouth (projections), the face outline (edits)
FACE_CROP, OUTLINE_CROP = (slice(24, 54), slice(17, 47)), (slice(12, 60), slice(8, 56))
#: the local edit shown: yaw +2 of the skin segment (face-part order: background, skin, brows, eyes, nose, mouth, hair)
EDIT = ("yaw", 2.0, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", default="out/seams", help="Folder for photos, masks and projections (reused).")
    ap.add_argument("--img", default="docs/img", help="Where the seams-<photo>.png crops go.")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--feathers", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0])
    ap.add_argument("--photos", nargs="+", default=list(PHOTOS))
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))

    from chunkygan.composite.captions import captioned_sheet
    from chunkygan.composite.seams import SEMANTIC_FEATHER
    from chunkygan.generators import load_generator
    from chunkygan.imageio import save_image

    work = Path(args.work)
    G = load_generator("stylegan2-faces-64")
    report = {}
    hard, default, gs = "labels, feather 0", f"labels, feather {SEMANTIC_FEATHER:g}", "G^S (default mode)"
    for photo in args.photos:
        folders = ensure_projections(work, photo, sorted(set(args.feathers) | {0.0, SEMANTIC_FEATHER}), args.steps)
        from chunkygan.project.io import Projection

        labels = Projection.load(folders[hard] / "projection.safetensors").masks
        rows = {name: measure_projection(G, d, None if name == gs else labels) for name, d in folders.items()}
        edits = {name: measure_edit(G, folders[name], *EDIT, borders=None if name == gs else labels)
                 for name in (hard, default, gs)}
        fc, oc = FACE_CROP, OUTLINE_CROP
        tiles = [crop(rows[hard]["images"]["target"], *fc), crop(rows[hard]["images"]["plain"], *fc),
                 crop(rows[default]["images"]["plain"], *fc), crop(rows[gs]["images"]["plain"], *fc),
                 crop(edits[hard]["images"]["plain"], *oc), crop(edits[hard]["images"]["fixed"], *oc),
                 crop(edits[default]["images"]["fixed"], *oc), crop(edits[gs]["images"]["fixed"], *oc)]
        e = f"{EDIT[0]} {EDIT[1]:+g} on skin"
        caps = ["photo (64 px)",
                f"hard label masks (before)\nseam {rows[hard]['seam_score']:.2f}, LPIPS {rows[hard]['lpips']:.3f}",
                f"feather {SEMANTIC_FEATHER:g} (default)\nseam {rows[default]['seam_score']:.2f}, "
                f"LPIPS {rows[default]['lpips']:.3f}",
                f"G^S masks (default mode)\nseam {rows[gs]['seam_score']:.2f}, LPIPS {rows[gs]['lpips']:.3f}",
                f"{e}, hard, no Poisson\nseam {edits[hard]['seam_score_plain']:.2f}",
                f"{e}, hard + Poisson\nseam {edits[hard]['seam_score_fixed']:.2f}",
                f"{e}, feather {SEMANTIC_FEATHER:g}\nseam {edits[default]['seam_score_fixed']:.2f}",
                f"{e}, G^S\nseam {edits[gs]['seam_score_fixed']:.2f}"]
        sheet = captioned_sheet(tiles, caps, ncol=4, tile=192)
        path = Path(args.img) / f"seams-{photo}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        save_image(sheet, path)
        for v in list(rows.values()) + list(edits.values()):
            v.pop("images")
        report[photo] = {"projections": rows, "edits": edits, "figure": str(path)}
        print(photo, json.dumps(report[photo], indent=1), flush=True)
    (work / "seams.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
