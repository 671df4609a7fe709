"""``chunkygan distill``: train the style-based face generator from the embedded DCGAN (resumable)."""
from __future__ import annotations

import shlex
import sys

import click
from tqdm import tqdm

from ._common import device_option, get_device


@click.command("distill")
@click.option("--workdir", default="out/distill", show_default=True, type=click.Path(file_okay=False),
              help="Checkpoints and the loss log go here; an existing checkpoint is resumed.")
@click.option("--steps", type=int, default=6000, show_default=True)
@click.option("--batch", type=int, default=16, show_default=True)
@click.option("--lr", type=float, default=2e-3, show_default=True)
@click.option("--channel-base", type=int, default=4096, show_default=True)
@click.option("--channel-max", type=int, default=256, show_default=True)
@click.option("--w-dim", type=int, default=256, show_default=True)
@click.option("--mapping-layers", type=int, default=4, show_default=True)
@click.option("--mapping-lr-mult", type=float, default=1.0, show_default=True,
              help="Learning-rate multiplier of the mapping network (official StyleGAN2 training: 0.01).")
@click.option("--feature-weight", type=float, default=0.0, show_default=True,
              help="Weight of the feature-matching term on the teacher's 4-32 px activations (0: off).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--ckpt-every", type=int, default=100, show_default=True)
@click.option("--no-resume", is_flag=True, help="Start afresh even if a checkpoint exists.")
@click.option("--eval", "n_eval", type=int, default=1000, show_default=True,
              help="Held-out z for the final mean LPIPS (0 to skip).")
@click.option("--export", "export_path", type=click.Path(dir_okay=False), default=None,
              help="Write the trained generator here (.safetensors + .json).")
@click.option("--fp32", is_flag=True, help="Export in float32 instead of float16.")
@device_option
def command(workdir, steps, batch, lr, channel_base, channel_max, w_dim, mapping_layers, mapping_lr_mult,
            feature_weight, seed, ckpt_every, no_resume, n_eval, export_path, fp32, device) -> None:
    """Distil dcgan-faces-64 into a 64x64 StyleGAN2 (L1 + LPIPS), resumable, then evaluate and export."""
    from ..distill import DistillConfig, Distiller, export, run

    cfg = DistillConfig(channel_base=channel_base, channel_max=channel_max, w_dim=w_dim,
                        mapping_layers=mapping_layers, mapping_lr_multiplier=mapping_lr_mult, batch=batch,
                        steps=steps, lr=lr, seed=seed, ckpt_every=ckpt_every, w_feat=feature_weight)
    d = Distiller(cfg, get_device(device))
    bar = tqdm(total=steps, desc="distill", unit="step")

    def show(row):
        bar.n = row["step"]
        bar.set_postfix(loss=f"{row['loss']:.4f}", lpips=f"{row['lpips']:.4f}")
        bar.refresh()

    run(cfg, workdir, resume=not no_resume, callback=show, distiller=d)
    bar.n = d.step_count
    bar.close()
    click.echo(f"trained {d.step_count} steps ({d.wall / 60:.1f} min of training); checkpoint in {workdir}")
    score = None
    if n_eval:
        score = d.evaluate(n_eval)
        click.echo(f"held-out mean LPIPS(alex) student vs teacher over {n_eval} z: {score:.4f}")
    if export_path:
        st, js = export(d, export_path, score, command="chunkygan " + " ".join(map(shlex.quote, sys.argv[1:])),
                        half=not fp32)
        click.echo(f"exported {st} and {js}")
