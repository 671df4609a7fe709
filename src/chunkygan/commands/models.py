"""``chunkygan models``: the known generators, default first."""
from __future__ import annotations

from pathlib import Path

import click

from .. import assets
from ..generators import GENERATORS, _register_builtins


def _origin(spec) -> str:
    if not spec.asset:
        w = spec.weights or "package data"
        if w.endswith(".safetensors") and not Path(w).is_file():
            return f"NOT FOUND: {w} (reinstall chunkygan with its package data)"
        return w
    found = assets.locate(spec.asset)
    if found is None:
        return "NOT FOUND: " + assets.ASSETS.get(spec.asset).install_hint()
    return f"{found[1]} ({found[0]})"


@click.group("models", invoke_without_command=True)
@click.pass_context
def command(ctx) -> None:
    """List known generators: resolution, latent spaces, where the weights resolve from, licence.

    `chunkygan models download NAME --accept-licence` fetches an official NVIDIA FFHQ checkpoint."""
    if ctx.invoked_subcommand is not None:
        return
    _register_builtins()
    for i, name in enumerate(GENERATORS.names()):
        spec = GENERATORS.get(name)
        default = "  [default]" if i == 0 else ""
        click.echo(f"{name}{default}")
        click.echo(f"    {spec.description}")
        click.echo(f"    resolution {spec.resolution}, latent spaces: {', '.join(spec.spaces)}")
        click.echo(f"    weights: {_origin(spec)}")
        click.echo(f"    licence: {spec.licence}")
    click.echo("Any StyleGAN2 checkpoint path (NVIDIA .pkl, rosinality .pt, chunkygan .safetensors) also works as --generator.")


@command.command("download")
@click.argument("name")
@click.option("--accept-licence", is_flag=True, help="Accept the file's licence (shown first); nothing downloads without it.")
def download(name, accept_licence) -> None:
    """Fetch an official generator checkpoint from its official URL into the cache; then `--generator NAME` works.

    The size and sha256 are checked (pinned where published; otherwise the sha256 of the first download is
    recorded beside the file and printed, and later downloads must match it). A truncated or wrong file is
    refused and nothing is kept."""
    from tqdm import tqdm

    try:
        d = assets.DOWNLOADS.get(name)
    except KeyError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"{d.name}: {d.description}")
    click.echo(f"source: {d.url}")
    click.echo(f"licence: {d.licence}")
    if not accept_licence:
        raise click.ClickException(f"not downloading: accept the licence above with `chunkygan models download {name} "
                                   "--accept-licence`")
    bar = tqdm(total=d.size, unit="B", unit_scale=True, desc=name, dynamic_ncols=True)

    def progress(done, total):
        if total and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    try:
        path, digest = assets.download(d, accept_licence=True, progress=progress)
    except assets.DownloadError as e:
        raise click.ClickException(str(e)) from None
    finally:
        bar.close()
    pinned = "matches the pinned value" if d.sha256 else f"recorded in {d.record_path()} (no published value)"
    click.echo(f"sha256 {digest}: {pinned}")
    click.echo(f"saved {path} ({path.stat().st_size} bytes); use it with --generator {name}")
