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


@click.command("models")
def command() -> None:
    """List known generators: resolution, latent spaces, where the weights resolve from, licence."""
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
