"""``chunkygan project IMAGE -o OUT``: segment-wise (ChunkyGAN) or global projection of one photo."""
from __future__ import annotations

import logging
from pathlib import Path

import click

from ._common import FiniteFloat, device_option, get_device, output_folder
from ._batch import batch_config, batch_options, batch_pti_config, is_batch, refuse_single_image_options, run_batch
from ._pti import drop_stale_delta, pti_options, run_pti

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.safetensors"
#: with --align: {"photo": path of the original photo, "transform": FaceTransform file} in the output folder
ALIGN_FILE = "alignment.json"


def align_photo(image, resolution: int, face_index, out: Path):
    """FFHQ-align ``image`` (face extra) and record the photo + transform in ``out`` for paste-back."""
    import json

    from ..face.deps import MissingFaceExtraError, NoFaceError
    from ..fileio import atomic_write_text

    from ..align import align_face

    try:
        aligned, tr = align_face(image, resolution=resolution, face_index=face_index)
    except (MissingFaceExtraError, NoFaceError) as e:
        raise click.ClickException(str(e)) from None
    out.mkdir(parents=True, exist_ok=True)
    tr.save(out / "transform.json")
    atomic_write_text(out / ALIGN_FILE, json.dumps({"photo": str(Path(image).resolve()), "transform": "transform.json"}))
    click.echo(f"aligned the face in {image} (FFHQ recipe) to {resolution}x{resolution}")
    return aligned


def paste_into_photo(img, alignment_json: Path, dest: Path) -> Path | None:
    """Warp the aligned result ``img`` ``[1,3,R,R]`` back into the original photo recorded by --align."""
    import json

    from ..align.ffhq import FaceTransform, paste_back
    from ..imageio import ImageInputError, load_image, save_image

    info = json.loads(alignment_json.read_text())
    photo_path = Path(info["photo"])
    try:
        photo = load_image(photo_path)
    except ImageInputError as e:
        click.echo(f"note: not pasting back into the photo: {e}")
        return None
    tr = FaceTransform.load(alignment_json.parent / info["transform"])
    return save_image(paste_back(img.cpu(), photo, tr), dest)


def check_resume(ck, ck_path: Path, *, image, generator: str, space: str, segments, align: bool, R: int) -> None:
    """Refuse ``--resume`` when IMAGE, the generator, the latent space or K differ from the checkpoint's."""
    from ..imageio import fit_square, load_image

    where = f"{ck_path} was made"
    fix = "; drop --resume to start over, or write to another -o folder"
    if ck.generator and str(ck.generator) != generator:
        raise click.ClickException(f"{where} with generator {ck.generator!r}, not {generator!r}{fix}")
    sp = space.lower().replace("wplus", "w+")
    if sp != "auto" and sp != ck.space:
        raise click.ClickException(f"{where} in latent space {ck.space!r}, not {sp!r}{fix}")
    if segments is not None and segments != ck.num_segments:
        raise click.ClickException(f"{where} with K = {ck.num_segments} segments, not {segments}{fix}")
    if align:
        import json

        info = ck_path.parent / ALIGN_FILE
        photo = json.loads(info.read_text()).get("photo") if info.is_file() else None
        if photo != str(Path(image).resolve()):
            raise click.ClickException(f"{where} from the photo {photo!r}, not {str(Path(image).resolve())!r}{fix}")
    elif ck.target is not None:
        if (ck_path.parent / ALIGN_FILE).is_file():
            raise click.ClickException(f"{where} with --align; pass --align again to resume it")
        target = fit_square(load_image(image), R)
        if target.shape != ck.target.shape or float((target - ck.target).abs().max()) > 1e-4:
            raise click.ClickException(f"{where} from another image than {image}{fix}")


def save_checkpoint(p, ck_path: Path) -> Path:
    """The projector's checkpoint plus its progression snapshots, so a resumed run's progression.png is whole."""
    import torch

    ck = p.checkpoint()
    if p.snapshots:
        ck.extra["snapshot_steps"] = torch.tensor([float(s) for s, _ in p.snapshots])
        ck.extra["snapshot_images"] = torch.cat([img.float().cpu() for _, img in p.snapshots])
    return ck.save(ck_path)


def restore_snapshots(ck) -> list:
    """The snapshots :func:`save_checkpoint` stored (``[(step, [1,3,R,R]), ...]``)."""
    steps, imgs = ck.extra.get("snapshot_steps"), ck.extra.get("snapshot_images")
    if steps is None or imgs is None:
        return []
    return [(int(s), imgs[i:i + 1].clone()) for i, s in enumerate(steps.tolist())]


@click.command("project")
@click.argument("image", nargs=-1, required=True)
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--generator", default=None, help="Generator name or checkpoint path (default: the default generator).")
@click.option("--space", default="auto", show_default=True,
              help="Latent space: z, w, w+ or s (auto: w+ when the generator has it, else z).")
@click.option("--segments", "segments", type=click.IntRange(1, 64), default=None,
              help="Number of segments K; 1 = classic global projection. Given K > 1 without --masks: k-means "
                   "free masks (default: the paper's G^S mode for a face, else k-means with K = 4).")
@click.option("--masks", "masks_path", default=None,
              help="Mask mode by name: gs (segment generator G^S, the default for faces), kmeans or free (free "
                   "logits from k-means), grid; or user masks: a folder of PNGs (one per segment) or one label "
                   "image (sets K).")
@click.option("--refine-masks", is_flag=True, help="Optimise the user masks jointly (free logits started from them).")
@click.option("--feather", type=FiniteFloat(0, 1000), default=None,
              help="Soften user masks: Gaussian σ in generator pixels (default 1: no seams at segment borders, "
                   "docs/seams.md; 0 keeps them as given).")
@click.option("--static-mask", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Greyscale PNG: white pixels keep the input unchanged (Eq. 3).")
@click.option("--steps", type=click.IntRange(1, 1_000_000), default=200, show_default=True, help="Optimisation steps.")
@click.option("--lambda-reg", type=FiniteFloat(0, 1e6), default=0.0, show_default=True,
              help="Eq. 2 dispersion weight λ_reg (pulls the K codes towards their mean; helps later edits).")
@click.option("--lambda-prior", type=FiniteFloat(0, 1e6), default=0.0, show_default=True,
              help="Weight of the latent space's prior: in W+ the layer spread Σ_l‖w_l − w̄‖² (keeps each code near "
                   "W, where the named directions behave: the editing recipe uses 1e-4); in Z 0.5·mean(z²).")
@click.option("--l2-weight", type=FiniteFloat(0, 1e6), default=1.0, show_default=True, help="Weight of an extra pixel MSE term.")
@click.option("--loss", default="lpips-alex", show_default=True, help="Reconstruction loss (lpips-alex, lpips-vgg, l2, l1).")
@click.option("--lr", type=FiniteFloat(0, 1, min_open=True), default=None,
              help="Learning rate of the codes, in (0, 1] (default per space).")
@click.option("--mask-resolution", type=click.IntRange(1, 4096), default=None,
              help="Side of the free mask-logit grid, 1 to R (default R/4).")
@click.option("--init", "init", default=None, type=click.Path(exists=True),
              help="Start from an earlier projection (projection.safetensors or its folder).")
@click.option("--resume", is_flag=True, help=f"Continue from OUT/{CHECKPOINT} if it exists.")
@click.option("--checkpoint-every", type=click.IntRange(0), default=50, show_default=True, help="Save a checkpoint every N steps (0: never).")
@click.option("--snapshots", type=click.IntRange(0, 1000), default=8, show_default=True, help="Frames in progression.png (0: none).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--auto", "auto", is_flag=True,
              help="Same as --masks gs: masks from the segment generator G^S(X^S), X^S optimised jointly (K = its "
                   "classes); trains the generator's default head on first use (face extra).")
@click.option("--mask-smoothness", type=FiniteFloat(0, 1e6), default=None,
              help="Weight of the smoothness prior (total variation) on free mask logits (default: "
                   "the projector's; 0 = off).")
@click.option("--segment-head", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Segment head for --auto (from `chunkygan segments train`; default: the cached one).")
@click.option("--align", "align", is_flag=True,
              help="IMAGE is an unaligned photo: align the face the FFHQ way first (face extra), and paste the "
                   "reconstruction back into the photo (photo_reconstruction.png).")
@click.option("--face", "face_index", type=click.IntRange(0), default=None, help="With --align: which face (0 = largest).")
@pti_options
@batch_options
@device_option
def command(image, output, generator, space, segments, masks_path, refine_masks, feather, static_mask, steps,
            lambda_reg, lambda_prior, l2_weight, loss, lr, mask_resolution, init, resume, checkpoint_every, snapshots, seed,
            auto, segment_head, mask_smoothness, align, face_index, device, pti_steps=0, pti_lr=3e-4,
            pti_target_lpips=None, pti_locality=0.0, pti_mode="shared", batch_size=1, ray_address=None,
            recursive=False) -> None:
    """Project IMAGE into a generator with K latent codes blended by soft masks (ChunkyGAN, Eq. 1-3).

    Writes OUT/projection.safetensors, reconstruction.png, segments.png, segment_XX.png, comparison.png,
    progression.png and metrics.json; with --auto also progression_segments.png (Fig. 3: composites over
    colour-coded segment maps at iterations 1, 5, 9, 15, 23, 37 and the last). Any image size or mode is accepted; it is centre-cropped to a
    square and resized to the generator resolution (align faces first with `chunkygan align`).

    Many images (several IMAGEs, a folder, a glob or a list file @list.txt): OUT/<image>/ per image with the
    same files plus done.json, finished images skipped on a rerun, OUT/results.jsonl and results.csv;
    --batch-size B optimises B images per generator call, --ray spreads them over Ray workers (docs/batch.md).
    """
    import torch  # (heavy imports only when the command runs)

    from ..generators import default_generator_name, load_generator
    from ..imageio import ImageInputError, load_image
    from ..project.io import Projection, ProjectionFileError
    from ..project.outputs import finish_outputs, write_outputs
    from ..project.projector import ProjectionConfig, Projector
    from ..composite.seams import SEMANTIC_FEATHER
    from ..segments.masks import MaskInputError, SegmentMasks, load_static_mask

    out = output_folder(output)  # refused here, before any work, if results could not be written
    segments_given = segments  # (defaults are filled in below; --resume compares what the user asked for)
    ck_path = out / CHECKPOINT
    if resume and ck_path.is_file() and generator is None:
        generator = Projection.load(ck_path).generator or None  # resume with the checkpoint's generator
    dev = get_device(device)
    gen_name = generator or default_generator_name()
    G = load_generator(gen_name, device=dev)
    R = G.resolution
    if mask_resolution is not None and mask_resolution > R:
        raise click.BadParameter(f"{mask_resolution} is larger than the generator resolution {R} (allowed: 1 to {R})",
                                 param_hint="--mask-resolution")
    if is_batch(image, batch_size, ray_address):  # many inputs: OUT/<name>/ per image (commands/_batch.py)
        refuse_single_image_options(**{"--align": align, "--init": init, "--auto": auto or segment_head,
                                       "--refine-masks": refine_masks})
        cfg = batch_config(G, space=space, segments=segments, masks=masks_path, steps=steps, lambda_reg=lambda_reg,
                           lambda_prior=lambda_prior, l2_weight=l2_weight, loss=loss, lr=lr,
                           mask_resolution=mask_resolution, seed=seed, snapshots=snapshots,
                           mask_smoothness=mask_smoothness)
        sx = load_static_mask(static_mask, R) if static_mask else None
        return run_batch(image, out, G, str(gen_name), cfg, device=dev if ray_address is None else device,
                         batch_size=batch_size, ray_address=ray_address, recursive=recursive, static_mask=sx,
                         pti=batch_pti_config(pti_steps, pti_lr, pti_target_lpips, pti_locality, pti_mode))
    image = image[0]
    source = None
    from ..pipelines.auto import MASK_MODES, choose_masks

    mode, probe = None, None  # mask mode by name; None with no masks_path: decided per image below (the paper's mode for faces)
    if masks_path in MASK_MODES:
        mode, masks_path = ("kmeans" if masks_path == "free" else masks_path), None
    elif masks_path and not Path(masks_path).exists():
        raise click.ClickException(f"--masks {masks_path}: no such file or folder, and not a mask mode "
                                   f"({', '.join(MASK_MODES)})")
    if auto or segment_head:
        if masks_path or mode not in (None, "gs"):
            raise click.ClickException("--auto / --segment-head make masks with G^S; drop --masks (or drop --auto)")
        mode = "gs"
    if mode is None and not masks_path and segments is None:
        if resume and ck_path.is_file():
            mode = "gs" if Projection.load(ck_path).mask_source == "generator" else "kmeans"
        else:
            try:
                probe = align_photo(image, R, face_index, out) if align else load_image(image)
            except (ImageInputError, ValueError) as e:
                raise click.ClickException(str(e)) from None
            choice = choose_masks(G, probe, segment_head)
            mode, segment_head = choice.mode, segment_head or choice.head
            label = "G^S, the paper's mode" if mode == "gs" else "k-means free masks, K = 4"
            click.echo(f"masks: {label} ({choice.reason}; --masks NAME picks another mode)")

    def make_gs_source():
        from ..segments.gs import auto_mask_source
        from ..segments.head import HeadMismatchError

        from .segments import _Bars

        bars = _Bars()  # progress of labelling + training when the default head is made on first use
        try:
            return auto_mask_source(G, segment_head, progress=bars)
        except (HeadMismatchError, FileNotFoundError, ImportError, RuntimeError) as e:
            raise click.ClickException(str(e)) from None
        finally:
            bars.close()

    if mode == "gs":
        try:
            source = make_gs_source()
            if segments is not None and segments != source.num_segments:
                raise click.ClickException(f"--segments {segments}: the segment head makes K = {source.num_segments} "
                                           "masks; drop --segments, or train a head with that many classes "
                                           "(`chunkygan segments train`), or use --masks kmeans")
            segments = source.num_segments
        except click.ClickException as e:
            if probe is None:  # G^S was asked for by name
                raise
            click.echo(f"note: {e.message}; using k-means free masks instead")
    segments = 4 if segments is None else segments
    try:
        if resume and ck_path.is_file():
            ck = Projection.load(ck_path)
            check_resume(ck, ck_path, image=image, generator=str(gen_name), space=space, segments=segments_given,
                         align=align, R=R)
            p = Projector.resume(G, ck, steps=max(steps, ck.step), mask_source=source)
            p.snapshots = restore_snapshots(ck)
            click.echo(f"resuming {ck_path} at step {ck.step} of {p.config.steps}")
        else:
            if resume:
                click.echo(f"no checkpoint at {ck_path}; starting from the beginning")
            from ..fileio import remove_owned

            remove_owned(ck_path)  # an earlier run's checkpoint must not be resumed into this one
            if not align:  # an earlier --align run's record would paste this result into its photo
                remove_owned(out / ALIGN_FILE)
                remove_owned(out / "transform.json")
            if probe is not None:  # already loaded (and aligned) to choose the mask mode
                target = probe
            elif align:
                target = align_photo(image, R, face_index, out)
            else:
                target = load_image(image)
            h, w = target.shape[-2:]
            if (h, w) != (R, R):
                click.echo(f"note: {image} is {w}x{h}; centre-cropped to a square and resized to {R}x{R}")
            sp = space if space != "auto" else ("w+" if "w+" in G.spaces else G.spaces[0])
            if lambda_prior > 0 and sp not in ("w+", "z"):
                click.echo(f"note: --lambda-prior has no effect in {sp} space (it is the layer spread in W+, "
                           "the Gaussian prior in Z)")
            user_masks = SegmentMasks.load(masks_path, size=R) if masks_path else None
            k = user_masks.num_segments if user_masks is not None else segments
            method = sp if k == 1 and user_masks is None else f"chunky-{sp}"
            cfg = ProjectionConfig(
                method=method, segments=k, steps=steps, lambda_reg=lambda_reg, lambda_prior=lambda_prior,
                l2_weight=l2_weight, loss=loss,
                lr=lr, mask_resolution=mask_resolution, seed=seed, snapshots=snapshots,
                feather=SEMANTIC_FEATHER if feather is None else feather,
                masks=("refine" if refine_masks else "fixed") if user_masks is not None else (
                    mode if mode in ("kmeans", "grid") and k > 1 else "auto"),
                init=str(init) if init else "auto",
                **({} if mask_smoothness is None else {"mask_smoothness": mask_smoothness}))
            sx = load_static_mask(static_mask, R) if static_mask else None
            if source is not None:
                from ..pipelines.auto import auto_projector

                p = auto_projector(G, target, cfg, source=source, static_mask=sx, generator_name=str(gen_name))
            else:
                p = Projector(G, target, cfg, masks=user_masks, static_mask=sx, generator_name=str(gen_name))
    except (ImageInputError, MaskInputError, ProjectionFileError, ValueError) as e:
        raise click.ClickException(str(e)) from None

    from tqdm import tqdm

    cfg = p.config
    click.echo(f"projecting into {gen_name} ({cfg.method}, K = {p.num_segments}, {cfg.steps} steps, {dev})")
    from ..pipelines.auto import FIG3_STEPS

    fig3 = {s for s in FIG3_STEPS if s <= cfg.steps} | {cfg.steps}
    frames = []
    with tqdm(total=cfg.steps, initial=p.step_count, desc="project", unit="step", dynamic_ncols=True) as bar:
        for info in p:
            bar.update(1)
            if source is not None and info.step in fig3:
                with torch.no_grad():
                    frames.append((info.step, p.output().cpu(), p.masks().detach().cpu()))
            bar.set_postfix(loss=f"{info.loss:.4f}", refresh=False)
            if checkpoint_every > 0 and info.step % checkpoint_every == 0 and not p.done:
                save_checkpoint(p, ck_path)
    result = p.result(with_metrics=True)
    if pti_steps > 0:  # pivotal tuning around the K pivots (project/pti.py); its metrics go into metrics.json
        run_pti(G, result, out, pti_steps, pti_lr, pti_target_lpips, pti_locality, pti_mode, loss_fn=p.loss_fn)
    else:
        drop_stale_delta(out)
    files = write_outputs(out, result, G, p.snapshots, complete=False)
    if frames:
        from ..imageio import save_image
        from ..segments.gs import progression_strip

        files["progression_segments"] = save_image(progression_strip(frames, p.target), out / "progression_segments.png")
    aligned = out / ALIGN_FILE
    if aligned.is_file():  # made with --align (now or before a --resume): paste the reconstruction back
        files["photo_reconstruction"] = paste_into_photo(result.composite(G), aligned, out / "photo_reconstruction.png")
    save_checkpoint(p, ck_path)  # final state with optimiser: `--resume --steps N` extends the run
    files["metrics"] = finish_outputs(out, files, dict(result.metrics))  # last: marks the folder complete
    m = result.metrics
    click.echo(f"LPIPS {m['lpips']:.4f}, L2 {m['l2']:.4f}, {m['seconds']:.1f} s")
    click.echo(f"wrote {len(files)} files to {out}/ (comparison: {files['comparison']})")
