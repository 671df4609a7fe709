"""``chunkygan paste``: put an edited aligned face back into the original photo."""
from __future__ import annotations

import click

from ..align.ffhq import FaceTransform, paste_back
from ..imageio import ImageInputError, load_image, read_pil, save_image


@click.command("paste")
@click.argument("edited", type=click.Path(dir_okay=False))
@click.option("--into", "photo", type=click.Path(dir_okay=False), required=True, help="The original photo.")
@click.option("--transform", "transform", type=click.Path(dir_okay=False), required=True,
              help="The transform written by `chunkygan align`.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
              help="The photo with the face pasted back, with its extension (e.g. photo_edited.png).")
@click.option("--feather", type=click.FloatRange(0.0, 0.5), default=0.1, show_default=True,
              help="Soft edge width as a fraction of the aligned image side.")
@click.option("--mask", "mask", type=click.Path(dir_okay=False), default=None,
              help="Optional grey mask in aligned coordinates (white = paste) limiting what is pasted.")
def command(edited, photo, transform, output, feather, mask) -> None:
    """Warp EDITED (an aligned image, e.g. an edit result) back into the photo through a feathered mask."""
    from ._common import output_file

    output = output_file(output)
    try:
        tr = FaceTransform.load(transform)
        ed = load_image(edited)
        ph = load_image(photo)
        m = None
        if mask is not None:
            import numpy as np
            import torch

            arr = np.asarray(read_pil(mask).convert("L"), dtype=np.float32) / 255.0
            m = torch.from_numpy(arr.copy()).view(1, 1, *arr.shape)
        if ed.shape[-1] != ed.shape[-2]:
            raise click.ClickException(f"{edited}: expected a square aligned image, got {ed.shape[-1]}x{ed.shape[-2]}")
        out = paste_back(ed, ph, tr, mask=m, feather=feather)
    except (ImageInputError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    save_image(out, output)
    click.echo(f"wrote {output}")
