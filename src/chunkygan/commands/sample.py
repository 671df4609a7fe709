"""``chunkygan sample``: render a grid of random samples."""
from __future__ import annotations

import click
import torch

from ..generators import default_generator_name, load_generator
from ..imageio import make_grid, save_image
from ._common import FiniteFloat, device_option, get_device, output_file, parse_int_list

#: most seeds in one grid (each image is rendered and kept in memory)
MAX_SEEDS = 1024


@click.command("sample")
@click.option("--generator", "generator", default=None, help="Generator name or checkpoint path (default: the default generator).")
@click.option("--seeds", default="0-7", show_default=True, help="Seeds, e.g. 0-7 or 1,4,9.")
@click.option("--trunc", "truncation", type=FiniteFloat(-10, 10), default=1.0, show_default=True,
              help="Truncation psi (-10 to 10).")
@click.option("--nrow", type=click.IntRange(min=1), default=None, help="Images per grid row.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default="grid.png", show_default=True)
@device_option
def command(generator, seeds, truncation, nrow, output, device) -> None:
    """Render one image per seed (z ~ N(0, I) from torch.Generator(seed)) into a grid."""
    output = output_file(output)
    seed_list = parse_int_list(seeds, "--seeds")
    if len(seed_list) > MAX_SEEDS:
        raise click.BadParameter(f"{len(seed_list)} seeds; at most {MAX_SEEDS} per grid", param_hint="--seeds")
    dev = get_device(device)
    G = load_generator(generator or default_generator_name(), device=dev)
    zs = torch.stack([torch.randn(G.z_dim, generator=torch.Generator().manual_seed(s)) for s in seed_list]).to(dev)
    with torch.no_grad():
        imgs = torch.cat([G(zs[i:i + 8], truncation_psi=truncation) for i in range(0, len(zs), 8)])
    save_image(make_grid(imgs.cpu(), nrow), output)
    click.echo(f"wrote {len(seed_list)} samples of {G.name} to {output}")
