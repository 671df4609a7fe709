"""``chunkygan env``: versions, device, which assets resolve."""
from __future__ import annotations

import platform

import click


@click.command("env")
def command() -> None:
    """Print versions, the device `auto` picks, and where every weight file resolves from."""
    import numpy
    import torch

    import chunkygan

    from .. import assets
    from ..device import ALLOCATOR_ENV, keep_cpu_memory_mapped, resolve_device

    click.echo(f"chunkygan {chunkygan.__version__}")
    click.echo(f"python {platform.python_version()} on {platform.platform()}")
    click.echo(f"torch {torch.__version__}, numpy {numpy.__version__}")
    cuda = torch.cuda.is_available()
    click.echo(f"cuda available: {cuda}" + (f" ({torch.cuda.get_device_name(0)})" if cuda else ""))
    click.echo(f"--device auto -> {resolve_device('auto')}")
    kept = keep_cpu_memory_mapped()  # what every CPU run does; reported so that the setting is visible
    click.echo(f"CPU allocator: {'large freed blocks kept in the heap' if kept else 'as the C library set it'}"
               f" ({ALLOCATOR_ENV}=system turns this off)")
    click.echo(f"asset cache: {assets.cache_dir()}")
    for row in assets.status():
        if not row["ok"] and row["name"] in USED_FROM:
            row = USED_FROM[row["name"]](row)
        state = f"ok   {row['origin']}: {row['path']}" if row["ok"] else f"MISSING  {row['error']}"
        click.echo(f"  {row['name']}: {state}")
    from ..generators import GENERATORS, _register_builtins
    from .models import _origin

    _register_builtins()
    click.echo("generators:")
    for name in GENERATORS.names():
        click.echo(f"  {name}: {_origin(GENERATORS.get(name))}")


def _selfie_segmentation(row: dict) -> dict:
    """Where `chunkygan masks` really finds the selfie model: besides the usual places, the npm package in <venv>/npm."""
    try:
        from ..face.mediapipe_face import _npm_selfie_path, selfie_model_path

        p = selfie_model_path()
    except Exception as e:  # noqa: BLE001 - reported, not raised: env must always print its report
        return {**row, "error": f"{row['error']} ({type(e).__name__}: {e})"}
    origin = "npm package @mediapipe/selfie_segmentation" if p == _npm_selfie_path() else "found by masks"
    return {**row, "ok": True, "path": str(p), "origin": origin}


#: assets that a command finds in a place of its own (beyond chunkygan.assets' env var / cache / package)
USED_FROM = {"mediapipe-selfie-segmentation": _selfie_segmentation}
