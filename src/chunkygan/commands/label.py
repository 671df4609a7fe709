"""``chunkygan label``: attribute and pose scores of face images (age, gender, smile, eyes, gaze, yaw...)."""
from __future__ import annotations

import json

import click
from tqdm import tqdm

from ..assets import AssetError
from ..face.deps import MissingFaceExtraError, NoFaceError
from ..imageio import ImageInputError, load_image


def _num(x: float) -> float | None:
    """Round for display; NaN (no face) becomes JSON null."""
    return None if x != x else round(x, 4)


@click.command("label")
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--labels", "names", default=None,
              help="Comma-separated labels (default: all built-in: age, gender, smile, eyes_open, gaze_x, gaze_y, "
                   "yaw, pitch, roll).")
@click.option("--probe", "probes", multiple=True, type=click.Path(dir_okay=False),
              help="A LinearProbe .safetensors (e.g. beard) to add; repeatable.")
@click.option("--missing", type=click.Choice(["raise", "nan"]), default="nan", show_default=True,
              help="An image without a face: stop with an error, or score it as NaN.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write JSON lines here.")
def command(images, names, probes, missing, output) -> None:
    """Print one JSON line of scores per image (see notes on what each label means)."""
    from ..face.labellers import LinearProbe, ProbeLabeller, label_images, save_labels

    wanted = tuple(n.strip() for n in names.split(",") if n.strip()) if names else None
    try:
        probe_labs = [ProbeLabeller(LinearProbe.load(p)) for p in probes]
    except (OSError, ValueError) as e:
        raise click.ClickException(f"probe: {e}") from None
    rows = []
    for path in tqdm(images, desc="label", unit="image", disable=len(images) < 3):
        try:
            img = load_image(path)
            scores = label_images(img, wanted, missing=missing) if (wanted or not probe_labs) else {}
            for lab in probe_labs:
                scores.update(lab(img))
        except NoFaceError as e:
            raise click.ClickException(f"{path}: {e} (on the command line: --missing nan)") from None
        except (ImageInputError, MissingFaceExtraError, AssetError, ValueError) as e:
            raise click.ClickException(str(e)) from None
        row = {"image": str(path), **{k: _num(float(v[0])) for k, v in scores.items()}}
        rows.append(row)
        click.echo(json.dumps(row))
    if output:
        save_labels(rows, output)
