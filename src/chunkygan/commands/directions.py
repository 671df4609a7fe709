"""``chunkygan directions list|discover|import``: direction banks per generator."""
from __future__ import annotations

from pathlib import Path

import click
import torch

from ._common import device_option, get_device


@click.group("directions")
def command() -> None:
    """List, discover and import editing directions (one bank per generator)."""


def _gname(generator):
    from ..generators import default_generator_name

    return generator or default_generator_name()


def _bank_or_empty(G, bank_path):
    from ..edit.directions import DirectionBank, DirectionError, load_bank_for

    try:
        return load_bank_for(G, bank_path) if (bank_path is None or Path(bank_path).is_file()) else \
            DirectionBank.for_generator(G)
    except DirectionError:
        return DirectionBank.for_generator(G)


def _save(bank, bank_path, G) -> Path:
    from ..edit.directions import default_bank_path

    p = Path(bank_path) if bank_path else default_bank_path(G)
    bank.save(p)
    return p


@command.command("list")
@click.option("--generator", default=None, help="Generator name or checkpoint (default: the default generator).")
@click.option("--bank", type=click.Path(dir_okay=False), default=None, help="A bank file instead of the generator's.")
def list_cmd(generator, bank) -> None:
    """One direction per line: name, space, layers, unit (scale), source, description[, card summary]."""
    from ..edit.directions import DirectionBank, DirectionError, load_bank_for
    from ..generators import load_generator

    name = _gname(generator)
    try:
        b = DirectionBank.load(bank) if bank else load_bank_for(load_generator(name))
    except DirectionError as e:
        if bank:
            raise click.ClickException(str(e)) from None
        from ..edit.discover import make_default_bank

        click.echo(f"# no direction bank for {name} yet; discovering SeFa and PCA directions", err=True)
        b = make_default_bank(load_generator(name))
    for d in b:
        where = f"channel {d.channel[0]}:{d.channel[1]}" if d.channel else (
            f"layers {d.layers[0]}-{d.layers[1] - 1}" if d.layers else "all layers")
        card = (f"\tcard: {d.card['response_per_unit']:+.3g} {d.card['label']}/unit, monotone on "
                f"{d.card['monotone_share']:.0%} of {d.card['read']}"
                + (f" (psi {d.card['truncation_psi']:g})" if d.card.get("truncation_psi") else "")) if d.card else ""
        click.echo(f"{d.name}\t{d.space}\t{where}\tscale {d.scale:.4g}\t{d.source}\t{d.description}{card}")


@command.command("discover")
@click.option("--method", type=click.Choice(["sefa", "pca", "linear"]), required=True)
@click.option("--generator", default=None, help="Generator name or checkpoint (default: the default generator).")
@click.option("-k", "count", type=int, default=5, show_default=True, help="Directions to keep (sefa, pca).")
@click.option("--samples", type=int, default=None, help="Samples (pca: 2000, linear: 500 by default).")
@click.option("--layers", default=None, help="sefa: W+ layer range whose affines are factorised, e.g. 0-3.")
@click.option("--labeller", default=None, help="linear: a label name (age, gender, smile, yaw, ...; needs the "
              "face extra) or 'brightness' (mean intensity, no extra needed).")
@click.option("--labels", "labels_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="linear: user labels, one 'SEED LABEL' per line (z from torch.Generator(SEED), label 0/1 or a score).")
@click.option("--name", default=None, help="Name (linear) or name prefix (sefa, pca) of the new directions.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--bank", "bank_path", type=click.Path(dir_okay=False), default=None,
              help="Bank file to add to (default: the generator's bank in the cache directory).")
@click.option("--replace", is_flag=True, help="Replace directions of the same name.")
@device_option
def discover_cmd(method, generator, count, samples, layers, labeller, labels_file, name, seed, bank_path, replace,
                 device) -> None:
    """Find directions for a generator without downloads and add them to its bank."""
    from tqdm import tqdm

    from ..edit import discover as disc
    from ..edit.directions import DirectionError
    from ..generators import load_generator

    G = load_generator(_gname(generator), device=get_device(device))
    if method == "sefa":
        found = disc.sefa(G, k=count, layers=layers, seed=seed, prefix=name or "sefa")
    elif method == "pca":
        found = disc.pca(G, k=count, samples=samples or 2000, seed=seed, prefix=name or "pca")
    else:
        if bool(labeller) == bool(labels_file):
            raise click.UsageError("--method linear needs exactly one of --labeller NAME or --labels FILE")
        if labels_file:
            seeds, labels = _read_labels(labels_file)
            z = torch.stack([torch.randn(G.z_dim, generator=torch.Generator().manual_seed(s)) for s in seeds])
            if "w" in G.spaces:
                with torch.no_grad():
                    lat = G.mapping(z.to(next(G.parameters()).device))[:, 0].cpu()
            else:
                lat = z
            found = [disc.boundary_from_labelled(G, lat, labels, name or Path(labels_file).stem)]
        else:
            lab = _labeller(labeller)
            n = samples or 500
            with tqdm(total=n, desc=f"scoring {labeller}", unit="img") as bar:
                def progress(done, total):
                    bar.update(done - bar.n)
                found = [disc.linear_boundary(G, lab, name or labeller, samples=n, seed=seed, progress=progress)]
    bank = _bank_or_empty(G, bank_path)
    try:
        for d in found:
            bank.add(d, overwrite=replace)
    except DirectionError as e:
        raise click.ClickException(f"{e} (pass --replace, or --name for another name)") from None
    p = _save(bank, bank_path, G)
    for d in found:
        click.echo(f"{d.name}\t{d.space}\tscale {d.scale:.4g}\t{d.description}")
    click.echo(f"saved {len(found)} direction(s) to {p} ({len(bank)} in the bank)")


def _labeller(name):
    if name == "brightness":
        return lambda images: images.mean(dim=(1, 2, 3))
    try:
        from ..face.labellers import labeller
    except ImportError as e:
        raise click.ClickException(f"labeller {name!r} needs the face extra: pip install 'chunkygan[face]' ({e})")
    try:
        return labeller(name, missing="nan")
    except ValueError as e:
        raise click.ClickException(str(e)) from None


def _read_labels(path):
    seeds, labels = [], []
    for i, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.split("#")[0].strip()
        if not line:
            continue
        parts = line.replace(",", " ").split()
        if len(parts) != 2:
            raise click.ClickException(f"{path}:{i}: expected 'SEED LABEL', got {line!r}")
        try:
            seeds.append(int(parts[0]))
            labels.append(float(parts[1]))
        except ValueError:
            raise click.ClickException(f"{path}:{i}: SEED must be an integer and LABEL a number") from None
    if len(seeds) < 4:
        raise click.ClickException(f"{path}: need at least 4 labelled seeds, found {len(seeds)}")
    return seeds, labels


@command.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["interfacegan", "ganspace", "npy", "stylespace"]), required=True)
@click.option("--generator", required=True, help="The generator these directions were made for (name or checkpoint).")
@click.option("--name", default=None, help="Direction name (interfacegan, npy; default: the file name).")
@click.option("--layers", default=None, help="W+ layer range, e.g. 0-5 (interfacegan, npy).")
@click.option("--components", type=int, default=10, show_default=True, help="ganspace: components to import.")
@click.option("--bank", "bank_path", type=click.Path(dir_okay=False), default=None,
              help="Bank file to add to (default: the generator's bank in the cache directory).")
@click.option("--replace", is_flag=True, help="Replace directions of the same name.")
def import_cmd(file, fmt, generator, name, layers, components, bank_path, replace) -> None:
    """Import directions from the formats people share (files are read without executing code)."""
    from ..edit import directions as D
    from ..generators import load_generator

    G = load_generator(generator)
    try:
        if fmt == "interfacegan":
            found = [D.import_interfacegan(file, name or Path(file).stem, G.name, layers)]
        elif fmt == "npy":
            found = [D.import_npy(file, name or Path(file).stem, G.name, layers)]
        elif fmt == "ganspace":
            found = D.import_ganspace(file, G.name, components=components)
        else:
            found = D.import_stylespace(file, G.name, G=G, scale_samples=1000)
        bank = _bank_or_empty(G, bank_path)
        for d in found:
            why = d.fits(G)
            if why:
                raise D.DirectionError(why)
            bank.add(d, overwrite=replace)
    except D.DirectionError as e:
        raise click.ClickException(str(e)) from None
    p = _save(bank, bank_path, G)
    click.echo(f"imported {len(found)} direction(s) into {p}")


@command.command("evaluate")
@click.option("--generator", default=None, help="Generator name or checkpoint (default: the default generator).")
@click.option("--bank", "bank_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="A bank file (default: the generator's cached or bundled bank).")
@click.option("--names", default=None, help="Comma-separated direction names (default: every direction whose card "
              "is stored, or whose label is known with --measure).")
@click.option("--measure", is_flag=True, help="Measure the cards now (face extra; slow: the labellers run on "
              "SAMPLES x 4 images per direction) instead of printing the stored ones.")
@click.option("--samples", type=int, default=500, show_default=True, help="Held-out samples per card (--measure).")
@click.option("--seed", type=int, default=3, show_default=True, help="Seed of the held-out samples (--measure).")
@click.option("--psi", type=click.FloatRange(0, 1, min_open=True), default=None,
              help="Truncation of the held-out samples (--measure; default 0.7, InterFaceGAN's; 1 = none).")
@click.option("--no-identity", is_flag=True, help="Skip the ArcFace identity change (--measure).")
@click.option("--json", "as_json", is_flag=True, help="Print the cards as one JSON object.")
@device_option
def evaluate_cmd(generator, bank_path, names, measure, samples, seed, psi, no_identity, as_json, device) -> None:
    """Print each direction's card: labeller response per unit, monotone share, identity change per unit."""
    import json

    from tqdm import tqdm

    from ..edit.cards import SHIP_THRESHOLD, format_card
    from ..edit.directions import DirectionError, load_bank_for
    from ..edit.named import TARGETS
    from ..generators import load_generator

    G = load_generator(_gname(generator), device=get_device(device))
    try:
        b = load_bank_for(G, bank_path)
        b.check(G)
    except DirectionError as e:
        raise click.ClickException(str(e)) from None
    wanted = [n.strip() for n in names.split(",") if n.strip()] if names else None
    for n in wanted or []:
        if n not in b:
            raise click.ClickException(f"no direction called {n!r} in the bank; known: {', '.join(b.names())}")
    cards = {}
    if measure:
        from ..edit.cards import CARD_TRUNCATION, card_latents, identity_distances, measure_card
        from ..face.labellers import LABELLERS, labeller

        space = "w" if "w" in G.spaces else "z"
        psi = CARD_TRUNCATION if psi is None else psi
        lat = card_latents(G, samples, space, seed, psi=psi)
        todo = wanted or [d.name for d in b if TARGETS.get(d.name, d.name) in LABELLERS]
        for n in todo:
            label = TARGETS.get(n, n)
            if label not in LABELLERS:
                raise click.ClickException(f"direction {n!r}: no labeller measures {label!r}; known labels: "
                                           f"{', '.join(sorted(LABELLERS))}")
            try:
                lab = labeller(label, missing="nan")
                with tqdm(total=5, desc=f"card {n}", unit="strength") as bar:
                    cards[n] = measure_card(G, b[n], lab, label, lat, space,
                                            identity=None if no_identity else identity_distances,
                                            progress=lambda i, k: bar.update(i - bar.n), truncation_psi=psi)
            except (ImportError, OSError, ValueError) as e:
                raise click.ClickException(f"direction {n!r}: {e}") from None
    else:
        cards = {d.name: d.card for d in b if (wanted is None and d.card) or (wanted and d.name in wanted)}
        if not cards:
            click.echo(f"# no stored cards in this bank; measure them with --measure", err=True)
    if as_json:
        click.echo(json.dumps({"generator": G.name, "ship_threshold": SHIP_THRESHOLD, "cards": cards}, indent=1))
        return
    click.echo("direction\tlabel\tresponse\tmonotone\tidentity change\tread\tverdict")
    for n, c in cards.items():
        click.echo(format_card(n, c))
