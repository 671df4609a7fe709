"""``chunkygan project IMAGE... -o OUT`` with many inputs: a thin layer over :func:`chunkygan.batch.project_many`."""
from __future__ import annotations

from pathlib import Path

import click


def batch_options(f):
    """Add ``--batch-size``, ``--ray [ADDRESS]`` and ``--recursive``."""
    opts = [
        click.option("--batch-size", type=click.IntRange(1, 1024), default=1, show_default=True,
                     help="Many inputs: images optimised together, B images x K segments in one generator call."),
        click.option("--ray", "ray_address", is_flag=False, flag_value="local", default=None, metavar="[ADDRESS]",
                     help="Many inputs: run on Ray (cluster extra), one worker per GPU or CPU. Without ADDRESS (or "
                          "'local') a local Ray is started; 'auto' or ray://HOST:10001 joins a running cluster."),
        click.option("--recursive", is_flag=True, help="Many inputs: search folders in sub-folders too."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def is_batch(images, batch_size: int, ray_address) -> bool:
    """Many inputs (or a folder, glob or list file, or --batch-size/--ray): one sub-folder per image."""
    from ..batch import is_single_image

    return not is_single_image(images) or batch_size > 1 or ray_address is not None


def refuse_single_image_options(**given) -> None:
    """Options that only make sense for one image stop a batch with a one-line message."""
    bad = [name for name, value in given.items() if value]
    if bad:
        raise click.ClickException(f"{', '.join(bad)}: for one image only; drop {'it' if len(bad) == 1 else 'them'} "
                                   "for a batch, or project the images one at a time")


def batch_pti_config(steps: int, lr: float, target_lpips, locality: float, mode: str):
    """The ``--pti`` options as a :class:`~chunkygan.project.pti.PTIConfig` (None when ``--pti`` is 0: off)."""
    if not steps:
        return None
    from ..project.pti import PTIConfig

    try:
        return PTIConfig(steps=steps, lr=lr, target_lpips=target_lpips, locality=locality, mode=mode)
    except ValueError as e:
        raise click.ClickException(str(e)) from None


def run_batch(images, out: Path, G, gen_name: str, config, *, device, batch_size: int, ray_address,
              recursive: bool, static_mask=None, pti=None) -> None:
    """Project every input into ``out/<name>/`` with an image bar (and a step bar in-process); print the
    summary; exit non-zero when any image failed. ``pti`` (a PTIConfig): tune each image after its
    projection (delta and reconstruction_pti.png in its folder, before done.json)."""
    from tqdm import tqdm

    from ..batch import SUMMARY_CSV, InputListError, list_inputs, project_many
    from ..project.pti import TuneStep

    try:
        total = len(list_inputs(images, recursive=recursive, exclude=out))
    except InputListError as e:
        raise click.ClickException(str(e)) from None
    where = f"Ray ({ray_address})" if ray_address else f"{device}, {batch_size} image(s) per generator call"
    tuned = "" if pti is None else f", then PTI ({pti.mode}, up to {pti.steps} steps, lr {pti.lr:g})"
    click.echo(f"projecting {total} images into {gen_name} ({config.method}, K = {config.segments}, "
               f"{config.steps} steps{tuned}, {where}) -> {out}/<image>/")
    images_bar = tqdm(total=total, desc="images", unit="img", position=0, dynamic_ncols=True)
    steps_bar = None if ray_address else tqdm(total=config.steps, desc="project", unit="step", position=1,
                                              leave=False, dynamic_ncols=True)

    def on_step(paths, infos):  # projection steps, then (with --pti) each image's tuning steps
        if infos[0].step == 1:
            steps_bar.reset(total=infos[0].steps)
            stage = "pti " if isinstance(infos[0], TuneStep) else ""
            steps_bar.set_description((stage + ", ".join(p.name for p in paths))[:40])
        steps_bar.update(1)
        steps_bar.set_postfix(loss=f"{sum(i.loss for i in infos) / len(infos):.4f}", refresh=False)

    counts = {"ok": 0, "skipped": 0, "failed": 0}
    failed = []
    try:
        # Ray actors load the generator themselves, once each (by name, or a path every node can read)
        for r in project_many(images, out, config, generator=gen_name if ray_address else G, generator_name=gen_name,
                              device=device,
                              batch_size=batch_size, ray_address=ray_address, static_mask=static_mask,
                              recursive=recursive, callback=None if ray_address else on_step, pti=pti):
            counts[r.status] += 1
            images_bar.update(1)
            images_bar.set_postfix(failed=counts["failed"], refresh=False)
            if r.status == "failed":
                failed.append(r)
                tqdm.write(f"failed: {r.error}" if str(r.input) in (r.error or "") else f"failed: {r.input}: {r.error}")
    except (ImportError, ValueError, OSError) as e:  # no ray, a bad address, unwritable output
        raise click.ClickException(str(e).splitlines()[0]) from None
    finally:
        if steps_bar is not None:
            steps_bar.close()
        images_bar.close()
    click.echo(f"{counts['ok']} projected, {counts['skipped']} finished earlier (skipped), {counts['failed']} failed; "
               f"summary: {out / SUMMARY_CSV}")
    if failed:
        raise click.ClickException(f"{len(failed)} of {total} images failed (listed above and in {out / SUMMARY_CSV})")


def batch_config(G, *, space: str, segments, masks: str | None, **options):
    """The one :class:`ProjectionConfig` of a batch: ``--masks`` may name a mode (kmeans, free = kmeans, grid);
    K = ``--segments`` (default 4, k-means free masks). ``options`` are ProjectionConfig fields (None = default)."""
    from ..project.projector import ProjectionConfig

    mode = {"free": "kmeans"}.get(masks, masks)
    if mode not in (None, "kmeans", "grid"):
        raise click.ClickException(f"--masks {masks}: a batch takes the mask modes kmeans, free or grid (user masks "
                                   "and G^S work on one image at a time)")
    sp = space if space != "auto" else ("w+" if "w+" in G.spaces else G.spaces[0])
    k = 4 if segments is None else segments
    try:
        return ProjectionConfig(method=sp if k == 1 else f"chunky-{sp}", segments=k,
                                masks=mode if mode and k > 1 else "auto",
                                **{name: v for name, v in options.items() if v is not None})
    except (TypeError, ValueError) as e:
        raise click.ClickException(str(e)) from None
