"""``chunkygan edit``: apply directions to a projection (globally or to chosen segments)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import click
import torch

from ..fileio import atomic_write_bytes, atomic_write_text
from ._common import device_option, get_device, parse_int_list
from ._pti import copy_delta, load_delta_for_edit


#: the files `chunkygan edit` writes into its folder (earlier runs' ones that this run does not rewrite are removed)
EDIT_FILES = re.compile(r"(edited(_\d+)?\.png|strip\.png|sweep\.json|projection\.safetensors|photo_edited(_\d+)?\.png"
                        r"|photo_comparison\.png|photo_strip\.png|alignment\.json|transform\.json)")
#: largest |strength| accepted (far beyond any useful edit; huge values only push codes out of the prior)
MAX_STRENGTH = 100.0
#: most images in one sweep
MAX_SWEEP = 101


def parse_direction_arg(text: str) -> tuple[str, list[float], bool]:
    """``smile=1.5`` -> ("smile", [1.5], False); ``smile=-2:2:5`` -> ("smile", [-2,-1,0,1,2], True)."""
    if "=" not in text:
        raise click.BadParameter(f"{text!r}: write NAME=STRENGTH (e.g. smile=1.5) or NAME=START:STOP:COUNT",
                                 param_hint="--direction")
    name, value = text.split("=", 1)
    try:
        if ":" in value:
            a, b, n = value.split(":")
            n = int(n)
            if n < 2:
                raise ValueError
            if n > MAX_SWEEP:
                raise click.BadParameter(f"{text!r}: at most {MAX_SWEEP} strengths in a sweep", param_hint="--direction")
            ends = [_strength(text, a), _strength(text, b)]
            return name, torch.linspace(ends[0], ends[1], n).tolist(), True
        return name, [_strength(text, value)], False
    except ValueError:
        raise click.BadParameter(f"{text!r}: the strength must be a number or START:STOP:COUNT with COUNT >= 2",
                                 param_hint="--direction") from None


def _strength(text: str, word: str) -> float:
    import math

    x = float(word)
    if not math.isfinite(x) or abs(x) > MAX_STRENGTH:
        raise click.BadParameter(f"{text!r}: strengths must be finite numbers from {-MAX_STRENGTH:g} to "
                                 f"{MAX_STRENGTH:g}", param_hint="--direction")
    return x


def check_projection_fits(G, gname: str, proj) -> None:
    """Refuse to edit ``proj`` with a generator it was not made with (naming both), before rendering anything."""
    from ..latents import get_space

    made = proj.generator or "an unnamed generator"
    why = None
    if proj.space not in getattr(G, "spaces", ()):
        why = f"it has no latent space {proj.space!r} (it offers {', '.join(getattr(G, 'spaces', ()))})"
    else:
        try:
            want = tuple(get_space(proj.space).mean(G, 1).shape[1:])
        except Exception as e:  # noqa: BLE001 - any failure means the codes cannot be rendered by G
            want = f"none ({type(e).__name__})"
        if want != tuple(proj.codes.shape[1:]):
            why = f"its {proj.space} codes are {want}, the projection's are {tuple(proj.codes.shape[1:])}"
    a = (proj.generator_meta or {}).get("sha256")
    b = (getattr(G, "meta", None) or {}).get("sha256")
    if why is None and a and b and a != b:
        why = "its weights differ (sha256)"
    if why is not None:
        raise click.ClickException(f"the projection was made with generator {made!r}; {gname!r} does not fit it "
                                   f"({why}); drop --generator or pass the projection's generator")


@click.command("edit")
@click.argument("projection", type=click.Path(exists=True))
@click.option("--direction", "directions", multiple=True, required=True,
              help="NAME=STRENGTH (repeatable); one may be a sweep NAME=START:STOP:COUNT, which writes a strip.")
@click.option("--segments", default=None, help="Edit only these segments, e.g. 1,3 or 0-2 (default: all = global).")
@click.option("--layers", default=None, help="W+ layer range for every direction, e.g. 0-5 (inclusive).")
@click.option("--bank", type=click.Path(dir_okay=False), default=None,
              help="Direction bank file (default: the generator's bank in the cache, else the bundled one).")
@click.option("--generator", default=None, help="Generator name or checkpoint (default: the one in the projection).")
@click.option("--poisson", is_flag=True, help="Poisson-blend the edited segments into the unedited composite "
              "(removes colour shifts at segment borders; local edits only).")
@click.option("--move-segments/--fixed-segments", "move_segments", default=None,
              help="Move the segment latent X^S along the directions so the segment shapes follow geometric edits "
              "such as yaw (Sec. 4.2), or keep the masks fixed. Default: move for global edits of a projection "
              "whose masks come from G^S (the default for faces), fixed otherwise.")
@click.option("--segment-head", type=click.Path(dir_okay=False), default=None,
              help="With --move-segments: the segment head the projection used (default: the recorded one).")
@click.option("--paste", "paste_mode", type=click.Choice(["delta", "poisson", "alpha", "whole"]), default="delta",
              show_default=True, help="Projections made with --align: how the edit goes back into the photo, only "
              "where it changed the image (delta: photo + the upsampled change; poisson: seamless clone of the "
              "render; alpha: plain paste of the render) or 'whole': the whole face as before.")
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option("--untuned", is_flag=True, help="Ignore the projection's PTI delta (pti_delta.safetensors) and "
              "render with the base generator.")
@device_option
def command(projection, directions, segments, layers, bank, generator, poisson, move_segments, segment_head,
            out_dir, device, untuned=False, paste_mode="delta") -> None:
    """Edit PROJECTION (a projection.safetensors or its folder) and write edited.png + projection.safetensors."""
    from ..composite import poisson_blend
    from ..edit.apply import edit_projection, edited_composite
    from ..edit.directions import DirectionError, Edit, load_bank_for, parse_layers
    from ..generators import load_generator
    from ..imageio import save_image
    from ..project.io import Projection, ProjectionFileError

    from ._common import output_folder

    output_folder(out_dir)  # refused before any work if the results could not be written
    parsed = [parse_direction_arg(t) for t in directions]
    dev = get_device(device)
    try:
        proj = Projection.load(projection)
    except ProjectionFileError as e:
        raise click.ClickException(str(e)) from None
    gname = generator or proj.generator
    if not gname:
        raise click.ClickException("the projection does not name its generator; pass --generator")
    G = load_generator(gname, device=dev)
    check_projection_fits(G, str(gname), proj)
    delta = load_delta_for_edit(G, projection, proj, untuned)  # tuned projection (--pti): its weight delta
    sweeps = [p for p in parsed if p[2]]
    if len(sweeps) > 1:
        raise click.BadParameter("only one --direction may be a sweep", param_hint="--direction")
    try:
        try:
            b = load_bank_for(G, bank)
        except DirectionError:
            if bank is not None:
                raise
            from ..edit.discover import make_default_bank

            click.echo(f"no direction bank for {G.name} yet; discovering SeFa and PCA directions (a few seconds)")
            b = make_default_bank(G)
        b.check(G)
        lay = parse_layers(layers)
        seg = parse_int_list(segments, "--segments") if segments else None
        if seg is not None and not all(0 <= k < proj.num_segments for k in seg):
            raise click.BadParameter(f"{segments!r}: the projection has segments 0-{proj.num_segments - 1}",
                                     param_hint="--segments")
        mask_source = None
        if move_segments is None:  # the paper moves X^S with the codes in G^S mode (Sec. 4.2); local edits keep it
            move_segments = (seg is None and proj.mask_source == "generator" and "latent" in proj.mask_params)
            if move_segments:
                click.echo("the G^S segment masks follow the edit (X^S moves too; --fixed-segments keeps them)")
        if move_segments:
            from ..segments.gs import mask_source_for

            try:
                mask_source = mask_source_for(G, proj, segment_head)
            except (ValueError, OSError) as e:
                raise click.ClickException(f"--move-segments: {e}") from None
        fixed = [Edit(b.get(n), v[0], lay) for n, v, sw in parsed if not sw]
        strengths = sweeps[0][1] if sweeps else [None]
        results = []
        if delta is not None:  # directions move the pivots; renders use the tuned weights
            from ..project.pti import tuned_composite, tuned_edited_composite, tuned_renders

            base_renders, original = tuned_renders(G, proj, delta), tuned_composite(G, proj, delta)
        else:
            base_renders, original = proj.renders(G), proj.composite(G)
        for s in strengths:
            edits = fixed + ([Edit(b.get(sweeps[0][0]), s, lay)] if sweeps else [])
            new = edit_projection(G, proj, edits, seg, mask_source=mask_source, move_mask_latent=move_segments)
            img = (edited_composite(G, proj, new, base_renders) if delta is None
                   else tuned_edited_composite(G, proj, new, delta, base_renders))
            if poisson and seg is not None:
                region = new.masks[seg].sum(0, keepdim=True).clamp(0, 1).to(img)
                img = poisson_blend(img, original, region)
            if not (torch.isfinite(new.codes).all() and torch.isfinite(img).all()):
                raise click.ClickException(f"the edit{'' if s is None else f' at strength {s:g}'} gives non-finite "
                                           "codes or pixels; use smaller strengths")
            results.append((s, new, img.cpu()))
    except DirectionError as e:
        raise click.ClickException(str(e)) from None
    from ..project.outputs import remove_unchanged, snapshot_files

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    earlier = snapshot_files(out, EDIT_FILES)
    how = "global" if seg is None else f"segments {','.join(map(str, seg))}"
    if sweeps:
        from ..composite.captions import captioned_sheet

        imgs = [r[2] for r in results]
        dist = _lpips_to(imgs, original.cpu())
        caps = [f"{sweeps[0][0]} {s:+g} ({how})\nLPIPS {d:.3f} vs unedited" for s, d in zip(strengths, dist)]
        save_image(captioned_sheet(imgs, caps), out / "strip.png")
        for i, (s, new, img) in enumerate(results):
            save_image(img, out / f"edited_{i}.png")
        atomic_write_text(out / "sweep.json", json.dumps({"direction": sweeps[0][0], "strengths": strengths,
                                                          "lpips_vs_unedited": [round(d, 4) for d in dist]}))
        click.echo(f"wrote a strip of {len(results)} edits ({sweeps[0][0]} from {strengths[0]:g} to "
                   f"{strengths[-1]:g}) to {out / 'strip.png'}")
        _paste_back_if_aligned(projection, results, out, original.cpu(), seg, paste_mode,
                               [c.replace("\n", ", ") for c in caps])
    else:
        _, new, img = results[0]
        save_image(img, out / "edited.png")
        new.config = {**new.config, "edit": {"directions": list(directions), "segments": seg,
                                             "layers": layers, "poisson": poisson,
                                             "move_segments": move_segments}}
        if delta is None:
            new.config.pop("pti", None)
        else:
            copy_delta(projection, out)  # the edited projection stays tuned
        new.save(out / "projection.safetensors")
        click.echo(f"wrote {out / 'edited.png'} and {out / 'projection.safetensors'}")
        _paste_back_if_aligned(projection, results, out, original.cpu(), seg, paste_mode,
                               [", ".join(directions) + f" ({how})"])
    remove_unchanged(out, EDIT_FILES, earlier)  # stale files of an earlier edit into this folder


def _lpips_to(images, reference) -> list[float]:
    """LPIPS (AlexNet, both images upsampled to 256 px) of each ``[1,3,R,R]`` image to ``reference``."""
    import torch.nn.functional as F

    from ..losses.lpips import LPIPS

    net = LPIPS("alex", working_resolution=None)
    up = lambda x: F.interpolate(x.float(), size=(256, 256), mode="bilinear", align_corners=False)
    with torch.no_grad():
        return [float(net(up(i), up(reference))[0]) for i in images]


def _paste_back_if_aligned(projection, results, out: Path, original, seg, mode: str, captions) -> None:
    """A projection made with `chunkygan project --align` records its photo: paste each edit back into it,
    only where the edit changed the image (:func:`chunkygan.align.ffhq.paste_back_local`), or the whole
    face with ``mode="whole"``. One edit -> ``photo_edited.png`` + ``photo_comparison.png`` (face crops
    before/after); a sweep -> ``photo_strip.png`` (captioned face crops) and ``photo_edited_<i>.png``."""
    from ..align.ffhq import FaceTransform, paste_back, paste_back_local
    from ..composite.captions import captioned_sheet
    from ..imageio import ImageInputError, load_image, save_image
    from .project import ALIGN_FILE

    folder = Path(projection) if Path(projection).is_dir() else Path(projection).parent
    alignment = folder / ALIGN_FILE
    if not alignment.is_file():
        return
    for name in (ALIGN_FILE, "transform.json"):  # keep the edit folder self-contained for later edits
        atomic_write_bytes(out / name, (folder / name).read_bytes())
    info = json.loads(alignment.read_text())
    try:
        photo = load_image(Path(info["photo"]))
    except ImageInputError as e:
        click.echo(f"note: not pasting back into the photo: {e}")
        return
    tr = FaceTransform.load(folder / info["transform"])
    pasted = []
    for s, new, img in results:
        if mode == "whole":
            pasted.append(paste_back(img, photo, tr))
        else:
            masks = None if seg is None else new.masks[seg].cpu()
            pasted.append(paste_back_local(img, original, photo, tr, mode=mode, masks=masks))
    crop = lambda x: _face_crop(x, tr)
    if len(results) == 1:
        dest = save_image(pasted[0], out / "photo_edited.png")
        save_image(captioned_sheet([crop(photo), crop(pasted[0])], ["photo", f"{captions[0]}\npaste: {mode}"], tile=256),
                   out / "photo_comparison.png")
        click.echo(f"pasted the edit back into the original photo ({mode}): {dest}")
    else:
        for i, p in enumerate(pasted):
            save_image(p, out / f"photo_edited_{i}.png")
        save_image(captioned_sheet([crop(p) for p in pasted], [f"{c}\npaste: {mode}" for c in captions], tile=192),
                   out / "photo_strip.png")
        click.echo(f"pasted the sweep back into the original photo ({mode}): {out / 'photo_strip.png'}")


def _face_crop(photo, tr):
    """The photo's axis-aligned box around the face quad ``[1,3,h,w]`` (for before/after sheets)."""
    q = tr.quad
    h, w = photo.shape[-2:]
    x0, y0 = max(int(q[:, 0].min()), 0), max(int(q[:, 1].min()), 0)
    x1, y1 = min(int(q[:, 0].max()) + 1, w), min(int(q[:, 1].max()) + 1, h)
    return photo[:, :, y0:y1, x0:x1]
