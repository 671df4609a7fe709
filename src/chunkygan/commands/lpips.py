"""``chunkygan lpips A B``: the LPIPS v0.1 distance between two images (lower = more similar)."""
from __future__ import annotations

import json

import click
import torch
import torch.nn.functional as F

from ._common import device_option, get_device

#: the smallest side LPIPS can measure (AlexNet's strided first layers leave no features below it)
MIN_SIDE = 32


@click.command("lpips")
@click.argument("image_a", type=click.Path(exists=True, dir_okay=False))
@click.argument("image_b", type=click.Path(exists=True, dir_okay=False))
@click.option("--net", type=click.Choice(["alex", "vgg"]), default="alex", show_default=True,
              help="Trunk network: alex (the official default) or vgg.")
@click.option("--resolution", type=click.IntRange(MIN_SIDE, 4096), default=None,
              help="Resize both images so the longest side is exactly this (bilinear up, antialiased down) "
                   "before measuring: 256 reproduces the `lpips` in a projection's metrics.json. "
                   "Default: native size, as the official lpips tools.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@device_option
def command(image_a, image_b, net, resolution, as_json, device) -> None:
    """Print the LPIPS distance between IMAGE_A and IMAGE_B (the number is the last token).

    If the sizes differ, IMAGE_B is resized to IMAGE_A's size (a note says so).
    """
    from ..imageio import load_image
    from ..losses.lpips import LPIPS
    from ..project.projector import at_resolution

    dev = get_device(device)
    a, b = load_image(image_a), load_image(image_b)
    resized_b = a.shape[-2:] != b.shape[-2:]
    if resized_b:
        click.echo(f"note: {image_b} is {b.shape[-1]}x{b.shape[-2]}, {image_a} is {a.shape[-1]}x{a.shape[-2]}; "
                   f"resized {image_b} to {a.shape[-1]}x{a.shape[-2]}", err=True)
        b = F.interpolate(b, size=a.shape[-2:], mode="bilinear", align_corners=False,
                          antialias=b.shape[-1] * b.shape[-2] > a.shape[-1] * a.shape[-2])
    if resolution is not None:  # exactly what chunkygan.project.projector.measure does for metrics.json
        a, b = at_resolution(a, resolution), at_resolution(b, resolution)
    h, w = a.shape[-2:]
    if min(h, w) < MIN_SIDE:
        raise click.ClickException(f"{image_a}: {w}x{h} is too small for LPIPS (at least {MIN_SIDE} px per side); "
                                   "pass --resolution 256 to measure at the projector's metric size")
    model = LPIPS(net, working_resolution=None).to(dev)
    with torch.no_grad():
        d = model(a.to(dev), b.to(dev)).item()
    if as_json:
        click.echo(json.dumps({"image_a": str(image_a), "image_b": str(image_b), "lpips": round(d, 6), "net": net,
                               "version": "0.1", "resolution": [w, h], "image_b_resized": resized_b}))
    else:
        click.echo(f"LPIPS v0.1 ({net}): {d:.6f}")
