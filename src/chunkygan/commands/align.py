"""``chunkygan align``: FFHQ-style alignment of a photo (writes the aligned image and its transform)."""
from __future__ import annotations

from pathlib import Path

import click

from ..align.ffhq import align_face
from ..assets import AssetError
from ..face.deps import MissingFaceExtraError, NoFaceError
from ..imageio import ImageInputError, load_image, save_image


def transform_path_for(output: str | Path) -> Path:
    """Default transform file next to an aligned image: ``face.png`` -> ``face.transform.json``."""
    p = Path(output)
    return p.with_name(p.stem + ".transform.json")


@click.command("align")
@click.argument("photo", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="Aligned image file with its extension (e.g. face.png).")
@click.option("--resolution", type=click.IntRange(min=8), default=1024, show_default=True,
              help="Side of the aligned image (the generator's resolution).")
@click.option("--face", "face_index", type=click.IntRange(min=0), default=None,
              help="Which face when there are several: 0 = largest (default), 1 = next, ...")
@click.option("--transform", "transform_out", type=click.Path(dir_okay=False), default=None,
              help="Where to write the transform (default: OUTPUT with .transform.json).")
def command(photo, output, resolution, face_index, transform_out) -> None:
    """Align PHOTO the FFHQ way (dlib 68 landmarks); `chunkygan paste` puts an edited result back."""
    from ._common import output_file

    output = output_file(output)
    transform_out = output_file(transform_out or transform_path_for(output))
    try:
        img = load_image(photo)
        aligned, tr = align_face(img, resolution, face_index=face_index, name=str(photo))
    except (ImageInputError, NoFaceError, MissingFaceExtraError, AssetError) as e:
        raise click.ClickException(str(e)) from None
    save_image(aligned, output)
    t = tr.save(transform_out)
    click.echo(f"wrote {output} ({resolution}x{resolution}, face quad {tr.qsize:.0f} px in the photo) and {t}")
