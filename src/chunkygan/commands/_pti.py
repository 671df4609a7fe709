"""The ``--pti`` options of ``chunkygan project`` and the I/O of pivotal tuning (the algorithm: project/pti.py)."""
from __future__ import annotations

from pathlib import Path

import click


def pti_options(f):
    """Add ``--pti STEPS``, ``--pti-lr``, ``--pti-target-lpips``, ``--pti-locality``, ``--pti-mode``."""
    from ._common import FiniteFloat

    opts = [
        click.option("--pti", "pti_steps", type=click.IntRange(0, 1_000_000), default=0, show_default=True,
                     help="After the projection, tune the generator around the K pivot codes for up to this many "
                          "steps (pivotal tuning; 0: off). Writes pti_delta.safetensors and reconstruction_pti.png."),
        click.option("--pti-lr", type=FiniteFloat(0, 1, min_open=True), default=3e-4, show_default=True, help="Adam learning rate of the tuning."),
        click.option("--pti-target-lpips", type=FiniteFloat(0, 10), default=None,
                     help="Stop the tuning once the reconstruction's LPIPS is at most this."),
        click.option("--pti-locality", type=FiniteFloat(0, 1e6), default=0.0, show_default=True,
                     help="Weight of PTI's locality regulariser (keeps the generator unchanged away from the pivots; "
                          "use it when the tuned projection will be edited)."),
        click.option("--pti-mode", type=click.Choice(["shared", "per-segment"]), default="shared", show_default=True,
                     help="One tuned generator for all segments, or one weight delta per segment."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def run_pti(G, result, out: Path, steps: int, lr: float, target_lpips, locality: float, mode: str, loss_fn=None):
    """Tune ``G`` around ``result``'s pivots with a progress bar through the batch's per-image step
    (:func:`chunkygan.batch.tuning.tune_into`: the delta and reconstruction_pti.png into ``out``, the PTI
    metrics into ``result``, so metrics.json, written last, has them). ``loss_fn``: the projector's loss."""
    from tqdm import tqdm

    from ..batch.tuning import tune_into
    from ..project.pti import PTIConfig

    try:
        config = PTIConfig(steps=steps, lr=lr, target_lpips=target_lpips, locality=locality, mode=mode)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"pivotal tuning ({mode}, up to {steps} steps, lr {lr:g})")
    with tqdm(total=steps, desc="pti", unit="step", dynamic_ncols=True) as bar:
        def on_step(info):
            bar.n = info.step
            bar.set_postfix(refresh=True, **({"lpips": f"{info.lpips:.4f}"} if info.lpips is not None
                                             else {"loss": f"{info.loss:.4f}"}))
        try:
            delta = tune_into(out, G, result, config, callback=on_step, loss_fn=loss_fn)
        except ValueError as e:  # e.g. a projection without its target
            raise click.ClickException(str(e)) from None
    m = delta.meta["metrics"]
    stop = " (reached the target)" if m["stopped_early"] else ""
    click.echo(f"PTI: LPIPS {m['lpips_before']:.4f} -> {m['lpips']:.4f} in {m['steps']} steps{stop}, "
               f"{m['seconds']:.1f} s; delta {m['bytes'] / 2 ** 20:.1f} MiB ({m['dtype']})")
    return delta


def drop_stale_delta(out: Path) -> None:
    """A projection written without --pti must not keep an older run's delta or tuned reconstruction
    (:func:`chunkygan.batch.tuning.drop_delta`, as a batch does)."""
    from ..batch.tuning import drop_delta

    for stale in drop_delta(out):
        click.echo(f"note: removed {stale} from an earlier --pti run (it belonged to the old projection)")


def load_delta_for_edit(G, projection, proj, untuned: bool):
    """The PTI delta beside ``projection`` (None if there is none or ``untuned``), checked against ``G``."""
    from ..project.pti import DeltaMismatchError, delta_path, load_tuned_projection

    if untuned or not delta_path(projection).is_file() and not proj.config.get("pti"):
        return None
    try:
        _, delta = load_tuned_projection(projection, G)
    except DeltaMismatchError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"editing the tuned projection ({delta.mode} PTI delta; --untuned ignores it)")
    return delta


def copy_delta(projection, out: Path) -> None:
    """Keep an edited tuned projection self-contained: the delta goes beside its projection.safetensors."""
    from ..fileio import atomic_write_bytes
    from ..project.pti import DELTA_FILE, delta_path

    atomic_write_bytes(out / DELTA_FILE, delta_path(projection).read_bytes())
