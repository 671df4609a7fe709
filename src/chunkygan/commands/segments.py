"""``chunkygan segments train|sample|evaluate``: the segment generator G^S (a head on the generator's features)."""
from __future__ import annotations

import json
from pathlib import Path

import click

from ._common import device_option, get_device


@click.group("segments")
def command() -> None:
    """Train and check the segment generator G^S used by `chunkygan project --auto`."""


def _load(generator, device):
    from ..generators import default_generator_name, load_generator

    name = generator or default_generator_name()
    try:
        return load_generator(name, get_device(device)), name
    except (KeyError, ValueError, FileNotFoundError) as e:
        raise click.ClickException(str(e)) from None


class _Bars:
    """One tqdm bar per stage of the library's progress callback."""

    def __init__(self):
        self.bars = {}

    def __call__(self, stage, done, total, info):
        from tqdm import tqdm

        if stage not in self.bars:
            self.bars[stage] = tqdm(total=total, desc=stage, unit="img" if stage != "train" else "step", leave=True)
        bar = self.bars[stage]
        bar.update(done - bar.n)
        if "loss" in info:
            bar.set_postfix(loss=f"{info['loss']:.4f}")

    def close(self):
        for b in self.bars.values():
            b.close()


@command.command("train")
@click.option("--generator", default=None, help="Generator name or checkpoint (default: the default generator).")
@click.option("--labels", "labels_dir", type=click.Path(file_okay=False, exists=True), default=None,
              help="Folder from `chunkygan segments sample` with (hand-edited) label PNGs; default: automatic "
                   "face-part labels (needs the face extra).")
@click.option("-n", "samples", type=int, default=30, show_default=True, help="Generated samples to label.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--kind", type=click.Choice(["mlp", "conv"]), default="mlp", show_default=True,
              help="Per-pixel MLP (DatasetGAN) or light conv head.")
@click.option("--members", type=int, default=1, show_default=True, help="Ensemble size.")
@click.option("--steps", type=int, default=150, show_default=True)
@click.option("--resolution", type=int, default=None, help="Working resolution (default: min(R, 256)).")
@click.option("--layers", default="all", show_default=True,
              help="Feature blocks: all, fine:N (the N finest) or indices like 2-5.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="HEAD(.safetensors); a .json is written beside it.")
@device_option
def train_cmd(generator, labels_dir, samples, seed, kind, members, steps, resolution, layers, output, device) -> None:
    """Label N generated samples and train the per-pixel head; writes HEAD.safetensors + HEAD.json."""
    from ..segments.head import save_head
    from ..segments.train import train_segment_head
    from ._common import parse_int_list

    G, name = _load(generator, device)
    lay = None if layers == "all" else (layers if layers.startswith("fine:") else parse_int_list(layers))
    bars = _Bars()
    try:
        head, meta = train_segment_head(G, samples, seed, labels_dir=labels_dir, generator_name=name,
                                        resolution=resolution, layers=lay, progress=bars, kind=kind,
                                        members=members, steps=steps)
    except (FileNotFoundError, ValueError, RuntimeError, ImportError) as e:
        raise click.ClickException(str(e)) from None
    finally:
        bars.close()
    p, js = save_head(head.cpu(), output, meta)
    click.echo(f"wrote {p} and {js.name}: {len(meta['names'])} classes ({', '.join(meta['names'])}) for {name}")


@command.command("sample")
@click.option("--generator", default=None, help="Generator name or checkpoint.")
@click.option("-n", "samples", type=int, default=30, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--no-auto", is_flag=True, help="Do not pre-fill the label images with face-part labels.")
@click.option("-o", "--output", type=click.Path(file_okay=False), required=True)
@device_option
def sample_cmd(generator, samples, seed, no_auto, output, device) -> None:
    """Write samples + label PNGs (pixel value = class index) to hand-edit, then `train --labels DIR`."""
    from ..segments.train import write_samples

    G, _ = _load(generator, device)
    bars = _Bars()
    try:
        d = write_samples(G, output, samples, seed, auto=not no_auto, progress=bars)
    except ImportError as e:
        raise click.ClickException(f"{e} (or use --no-auto)") from None
    finally:
        bars.close()
    click.echo(f"wrote {samples} samples and label images to {d}")


@command.command("evaluate")
@click.argument("head", type=click.Path(dir_okay=False, exists=True))
@click.option("--generator", default=None, help="Generator name or checkpoint (must be the head's).")
@click.option("-n", "samples", type=int, default=100, show_default=True)
@click.option("--seed", type=int, default=10000, show_default=True, help="First held-out seed.")
@device_option
def evaluate_cmd(head, generator, samples, seed, device) -> None:
    """IoU of the head against the face-part labeller on N held-out generated samples (JSON)."""
    from ..segments.head import HeadMismatchError, load_head
    from ..segments.train import auto_label, evaluate_head

    G, _ = _load(generator, device)
    try:
        h, info = load_head(head, G)
    except HeadMismatchError as e:
        raise click.ClickException(str(e)) from None
    bars = _Bars()
    try:
        test = auto_label(G, samples, seed, info["resolution"], progress=bars)
    finally:
        bars.close()
    res = evaluate_head(G, h.to(next(G.parameters()).device), info, test)
    click.echo(json.dumps(res, indent=1))
