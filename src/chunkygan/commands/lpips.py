"""``chunkygan lpips A B``: the LPIPS v0.1 distance between two images (lower = more similar)."""
from __future__ import annotations

import click
import torch
import torch.nn.functional as F

from ._common import device_option, get_device


@click.command("lpips")
@click.argument("image_a", type=click.Path(exists=True, dir_okay=False))
@click.argument("image_b", type=click.Path(exists=True, dir_okay=False))
@click.option("--net", type=click.Choice(["alex", "vgg"]), default="alex", show_default=True,
              help="Trunk network: alex (the official default) or vgg.")
@click.option("--resolution", type=int, default=None,
              help="Downsample both images so the longest side is at most this (default: native size, "
                   "as the official lpips tools).")
@device_option
def command(image_a, image_b, net, resolution, device) -> None:
    """Print the LPIPS distance between IMAGE_A and IMAGE_B (the number is the last token).

    If the sizes differ, IMAGE_B is resized to IMAGE_A's size (a note says so).
    """
    from ..assets import AssetError
    from ..imageio import ImageInputError, load_image
    from ..losses.lpips import LPIPS

    dev = get_device(device)
    try:
        a, b = load_image(image_a), load_image(image_b)
        model = LPIPS(net, working_resolution=resolution).to(dev)
    except (ImageInputError, AssetError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    if a.shape[-2:] != b.shape[-2:]:
        click.echo(f"note: {image_b} is {b.shape[-1]}x{b.shape[-2]}, {image_a} is {a.shape[-1]}x{a.shape[-2]}; "
                   f"resized {image_b} to {a.shape[-1]}x{a.shape[-2]}", err=True)
        b = F.interpolate(b, size=a.shape[-2:], mode="bilinear", align_corners=False,
                          antialias=b.shape[-1] * b.shape[-2] > a.shape[-1] * a.shape[-2])
    with torch.no_grad():
        d = model(a.to(dev), b.to(dev)).item()
    click.echo(f"LPIPS v0.1 ({net}): {d:.6f}")
