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
        state = f"ok   {row['origin']}: {row['path']}" if row["ok"] else f"MISSING  {row['error']}"
        click.echo(f"  {row['name']}: {state}")
