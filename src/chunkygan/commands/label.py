"""``chunkygan label``: attribute and pose scores of face images (age, gender, smile, eyes, gaze, yaw...)."""
from __future__ import annotations

import json

import click
from tqdm import tqdm

from ..assets import AssetError
from ..face.deps import MissingFaceExtraError, NoFaceError
from ..imageio import ImageInputError, load_image


#: labeller name -> the key printed (self-explaining: the "gender" labeller gives P(male))
KEYS = {"gender": "p_male"}
#: and back, so that --labels accepts the printed names too
NAMES = {v: k for k, v in KEYS.items()}


def _num(x: float) -> float | None:
    """Round for display; NaN (no face) becomes JSON null."""
    return None if x != x else round(x, 4)


@click.command("label")
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--labels", "names", default=None,
              help="Comma-separated labels (default: all built-in: age (years), p_male (probability of 'male', "
                   "also called gender), smile, eyes_open, gaze_x, gaze_y, yaw, pitch, roll (degrees)).")
@click.option("--probe", "probes", multiple=True, type=click.Path(dir_okay=False),
              help="A LinearProbe .safetensors (e.g. beard) to add; repeatable.")
@click.option("--missing", type=click.Choice(["raise", "nan"]), default="nan", show_default=True,
              help="An image without a face: stop with an error, or score it as NaN.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write JSON lines here (e.g. labels.jsonl).")
@click.option("--json", "as_json", is_flag=True,
              help="Print JSON lines (the default output is already one JSON object per image; accepted for "
                   "symmetry with lpips and identity).")
def command(images, names, probes, missing, output, as_json) -> None:
    """Print one JSON object of scores per image: age in years, p_male = P(male), smile/eyes_open in [0,1],
    gaze_x/gaze_y in [-1,1], yaw/pitch/roll in degrees; null = no face (with --missing nan)."""
    from ..face.labellers import LinearProbe, ProbeLabeller, label_images, save_labels

    if output:
        from ._common import output_file

        output_file(output)
    wanted = tuple(NAMES.get(n.strip(), n.strip()) for n in names.split(",") if n.strip()) if names else None
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
        row = {"image": str(path), **{KEYS.get(k, k): _num(float(v[0])) for k, v in scores.items()}}
        rows.append(row)
        click.echo(json.dumps(row))
    if output:
        save_labels(rows, output)
