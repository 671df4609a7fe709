"""``chunkygan identity A B``: cosine similarity of the ArcFace descriptors of the faces in two images."""
from __future__ import annotations

import json

import click


@click.command("identity")
@click.argument("image_a", type=click.Path(exists=True, dir_okay=False))
@click.argument("image_b", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def command(image_a, image_b, as_json) -> None:
    """Print the ArcFace cosine similarity of the largest face in IMAGE_A and in IMAGE_B.

    1 means the same descriptor; different people typically score below 0.3. Faces are found with
    SCRFD and aligned from their 5 key points. InsightFace weights: non-commercial research use only.
    """
    from ..assets import AssetError
    from ..imageio import ImageInputError, load_image
    from ..losses.identity import FaceIdentity, NoFaceError

    try:
        a, b = load_image(image_a), load_image(image_b)
        sim = FaceIdentity().similarity(a, b, names=(str(image_a), str(image_b))).item()
    except (ImageInputError, AssetError, NoFaceError, ImportError) as e:
        raise click.ClickException(str(e)) from None
    if as_json:
        click.echo(json.dumps({"image_a": str(image_a), "image_b": str(image_b), "arcface_cosine_similarity":
                               round(sim, 6)}))
    else:
        click.echo(f"ArcFace cosine similarity: {sim:.4f}")
