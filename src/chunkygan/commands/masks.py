"""``chunkygan masks``: soft face-part masks (skin, brows, eyes, nose, mouth, hair, background)."""
from __future__ import annotations

import click

from ..assets import AssetError
from ..face.deps import MissingFaceExtraError, NoFaceError
from ..imageio import ImageInputError, load_image


@click.command("masks")
@click.argument("image", type=click.Path(dir_okay=False))
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option("--face", "face_index", type=click.IntRange(min=0), default=None, help="Which face (0 = largest).")
@click.option("--softness", type=click.FloatRange(0.0, 0.2), default=0.01, show_default=True,
              help="Edge softness as a fraction of the face width.")
def command(image, out_dir, face_index, softness) -> None:
    """Write IMAGE's face-part masks to a folder: labels.png (editable), preview.png, mask_*.png, parts.json.

    Hair is a heuristic (person segmentation minus the face, above the mouth line).
    """
    from ..segments.face_parts import face_part_masks, save_parts

    from ._common import output_folder

    output_folder(out_dir)
    try:
        img = load_image(image)
        parts = face_part_masks(img, face_index=face_index, softness=softness)
    except (ImageInputError, NoFaceError, MissingFaceExtraError, AssetError) as e:
        raise click.ClickException(str(e)) from None
    save_parts(parts, out_dir, img)
    cover = ", ".join(f"{n} {parts.masks[k].mean().item():.1%}" for k, n in enumerate(parts.names))
    click.echo(f"wrote {len(parts.names)} masks to {out_dir} ({cover})")
