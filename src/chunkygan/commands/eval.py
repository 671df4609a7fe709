"""``chunkygan eval photos|fidelity|editing``: the paper's evaluation (Table 1, Fig. 4, Table 2) in one command."""
from __future__ import annotations

import logging
from pathlib import Path

import click

from ._common import device_option, get_device

log = logging.getLogger(__name__)


@click.group("eval")
def command() -> None:
    """The paper's evaluation on your photos and generator: fidelity (Table 1, Fig. 4) and editing (Table 2)."""


@command.command("photos")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Folder for the photos.")
@click.option("--resolution", type=int, default=256, show_default=True, help="Side of the aligned crops.")
def photos(output, resolution) -> None:
    """Write the offline evaluation set: FFHQ-aligned public-domain face photos that installed packages ship
    (face extra), with SOURCES.md giving the source and licence of each."""
    from ..eval.dataset import OfflineSetError, write_offline_set
    from ..face.deps import MissingFaceExtraError, NoFaceError

    try:
        paths = write_offline_set(output, resolution=resolution)
    except (OfflineSetError, MissingFaceExtraError, NoFaceError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"wrote {len(paths)} photos and SOURCES.md to {output}/")


def _inputs(images, out: Path, align: bool, resolution: int) -> list[Path]:
    from ..batch.inputs import InputListError, list_inputs, output_names

    try:
        paths = list_inputs(list(images), exclude=out / "projections")
    except InputListError as e:
        raise click.ClickException(str(e)) from None
    if not align:
        return paths
    from ..align import align_face
    from ..face.deps import MissingFaceExtraError, NoFaceError
    from ..imageio import ImageInputError, save_image

    aligned = []
    for p, name in zip(paths, output_names(paths)):
        dest = out / "aligned" / f"{name}.png"
        if not dest.is_file():
            try:
                img, _ = align_face(p, resolution=resolution)
            except (MissingFaceExtraError, NoFaceError, ImageInputError) as e:
                raise click.ClickException(f"--align: {e}") from None
            save_image(img, dest)
        aligned.append(dest)
    return aligned


def _methods(text):
    from ..eval.methods import MethodSpecError, parse_method_specs

    try:
        return parse_method_specs(text)
    except MethodSpecError as e:
        raise click.BadParameter(str(e), param_hint="--methods") from None


def common_options(f):
    f = click.option("--no-resume", is_flag=True, help="Redo every pair, even those finished by an earlier run.")(f)
    f = click.option("--batch-size", type=int, default=1, show_default=True,
                     help="Images per generator call (the batch runner).")(f)
    f = click.option("--ray", "ray_address", default=None,
                     help="Project on Ray (local, auto or ray://host:port) through the batch runner.")(f)
    f = click.option("--seed", type=int, default=0, show_default=True)(f)
    f = click.option("--align", is_flag=True, help="IMAGES are unaligned photos: FFHQ-align them first (face extra).")(f)
    f = click.option("--auto", "auto", is_flag=True,
                     help="Segment-wise methods take their masks from the segment generator G^S (K = its classes).")(f)
    f = click.option("--segments", type=int, default=4, show_default=True, help="K of the segment-wise methods.")(f)
    f = click.option("--loss-resolution", type=int, default=256, show_default=True,
                     help="Side (px) at which the projection's LPIPS loss sees the images (the metric is always 256).")(f)
    f = click.option("--steps", type=int, default=200, show_default=True, help="Projection steps per pair.")(f)
    f = click.option("--generator", default=None, help="Generator name or checkpoint path (default: the default one).")(f)
    f = click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Output folder.")(f)
    f = click.argument("images", nargs=-1, required=True)(f)
    return device_option(f)


def _setup(generator, device, steps, segments, seed, auto, loss_resolution=256):
    from ..generators import default_generator_name, load_generator
    from ..project.projector import ProjectionConfig

    dev = get_device(device)
    name = generator or default_generator_name()
    try:
        G = load_generator(name, device=dev)
        base = ProjectionConfig(steps=steps, segments=segments, seed=seed, loss_resolution=loss_resolution)
    except (ValueError, OSError, KeyError) as e:
        raise click.ClickException(str(e)) from None
    factory = None
    if auto:
        from ..segments.gs import auto_mask_source

        try:
            auto_mask_source(G)  # trains and caches the default head once, before the loop
        except (FileNotFoundError, ImportError, RuntimeError, ValueError) as e:
            raise click.ClickException(str(e)) from None
        factory = lambda: auto_mask_source(G)  # noqa: E731  (a fresh X^S per image)
    return G, str(name), base, factory


class _Progress:
    """A bar over (image, method) pairs and one over the current projection's steps."""

    def __init__(self, pairs: int, steps: int, what: str = "pairs"):
        from tqdm import tqdm

        self.pairs = tqdm(total=pairs, desc=what, unit="pair", position=0, dynamic_ncols=True)
        self.steps = tqdm(total=steps, desc="project", unit="step", position=1, leave=False, dynamic_ncols=True)

    def step(self, info) -> None:  # a projection's StepInfo, or a PTI row's TuneStep
        if info.step == 1:
            self.steps.reset(total=info.steps)
            self.steps.set_description("project" if hasattr(info, "lr") else "pti")
        self.steps.update(1)

    def pair(self, row: dict, status: str) -> None:
        self.pairs.update(1)
        if "lpips" in row:
            self.pairs.set_postfix_str(f"{row['method']} {row['image']}: LPIPS {row['lpips']:.3f}", refresh=False)
        if status.startswith("failed"):
            self.pairs.write(f"{row.get('method')} {row.get('image')}: {status}")

    def close(self) -> None:
        self.steps.close()
        self.pairs.close()


@command.command("fidelity")
@common_options
@click.option("--methods", default=None,
              help="Method specs (space- or comma-separated; options after a colon, e.g. chunky-w+:lambda_reg=1; "
                   "w++pti / chunky-w++pti or the option pti=STEPS add pivotal tuning after the projection). "
                   "Default: the paper's Table 1 rows: w chunky-w w+ chunky-w+ chunky-w+:lambda_reg=1 s chunky-s.")
@click.option("--pti-steps", type=click.IntRange(1, 1_000_000), default=100, show_default=True,
              help="Tuning steps of the PTI rows (w++pti, chunky-w++pti) that do not give pti=STEPS themselves.")
@click.option("--lpips-net", type=click.Choice(["alex", "vgg"]), default="alex", show_default=True,
              help="LPIPS trunk of the metric.")
def fidelity(images, output, generator, steps, loss_resolution, segments, auto, align, seed, ray_address, batch_size,
             no_resume, device, methods, lpips_net, pti_steps) -> None:
    """Projection fidelity (Table 1, Figure 4): project every IMAGE (a folder, glob, file or @list.txt) with every method and score it.

    Writes OUT/results.jsonl (a row per pair), table.md and table.csv (mean ± std per method),
    fig4_<space>.png (global vs segment-wise LPIPS per image) and wins.json; the projections are under
    OUT/projections/<method>/<image>/. Rerunning continues an interrupted run and repeats no finished pair.
    """
    from ..eval.fidelity import run_fidelity
    from ..eval.methods import TABLE1_METHODS
    from ..eval.metrics import Metrics

    out = Path(output)
    specs = _methods(methods or " ".join(TABLE1_METHODS))
    G, name, base, factory = _setup(generator, device, steps, segments, seed, auto, loss_resolution)
    inputs = _inputs(images, out, align, max(256, G.resolution))
    bars = _Progress(len(inputs) * len(specs), steps)
    try:
        run = run_fidelity(inputs, out, specs, base, G=G, generator_name=name, metrics=Metrics(lpips_net=lpips_net),
                           resume=not no_resume, mask_source_factory=factory, ray_address=ray_address,
                           batch_size=batch_size, on_pair=bars.pair, on_step=bars.step, pti_steps=pti_steps)
    except (ValueError, OSError) as e:
        raise click.ClickException(str(e)) from None
    finally:
        bars.close()
    click.echo((out / "table.md").read_text())
    click.echo(f"{run.projected} pairs projected now, {run.reused} finished earlier"
               + (f", {len(run.failed)} failed" if run.failed else ""))
    click.echo(f"wrote {', '.join(p.name for p in run.files.values())} to {out}/")
    if run.failed:
        raise click.ClickException(f"{len(run.failed)} pair(s) failed; first: {run.failed[0]}")


def _probes(items) -> dict[str, str]:
    out = {}
    for item in items:
        name, eq, path = item.partition("=")
        if not eq or not name or not Path(path).is_file():
            raise click.BadParameter(f"{item!r}: give NAME=FILE with an existing probe file", param_hint="--probe")
        out[name] = path
    return out


def _strengths(text: str) -> tuple[float, ...]:
    try:
        if ":" in text:
            lo, hi, n = text.split(":")
            lo, hi, n = float(lo), float(hi), int(n)
            if n < 2:
                raise ValueError
            return tuple(round(lo + (hi - lo) * i / (n - 1), 6) for i in range(n))
        vals = tuple(float(v) for v in text.split(","))
        if len(vals) < 2:
            raise ValueError
        return vals
    except ValueError:
        raise click.BadParameter(f"{text!r}: give LO:HI:N (e.g. -2:2:5) or a comma list of at least two strengths",
                                 param_hint="--strengths") from None


@command.command("editing")
@common_options
@click.option("--methods", default=None,
              help="Method specs; default: the paper's Table 2 rows: w w+ chunky-w+ chunky-w+:lambda_reg=1.")
@click.option("--directions", default=None,
              help="Direction names in the generator's bank, comma-separated (default: the paper's gender, smile, "
                   "age, beard; those the bank or the labellers lack get an empty column saying why).")
@click.option("--bank", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Direction bank file (default: the generator's bank).")
@click.option("--probe", "probe", multiple=True, help="NAME=FILE: a user-trained linear probe as the labeller of NAME "
                                                      "(beard has no packaged classifier).")
@click.option("--strengths", default="-2:2:5", show_default=True, help="Calibration sweep: LO:HI:N or a comma list.")
@click.option("--reference", default="median", show_default=True,
              help="The rate the target effect is taken from: 'median' (of all methods' fitted rates) or a method spec.")
@click.option("--reference-strength", type=float, default=1.0, show_default=True,
              help="The target effect is the reference rate times this strength.")
def editing(images, output, generator, steps, loss_resolution, segments, auto, align, seed, ray_address, batch_size,
            no_resume, device, methods, directions, bank, probe, strengths, reference, reference_strength) -> None:
    """Editability (Table 2): identity loss after edits whose strengths are calibrated per method.

    Projects every IMAGE with every method (reusing OUT/projections from `chunkygan eval fidelity -o OUT`),
    sweeps each direction's strength, fits the labeller's rate of change per method and edits every
    projection at the strength that gives the same effect. Writes OUT/table2.md, table2.csv,
    calibration.png, calibration.json and OUT/editing/results.jsonl (raw sweep and edit rows).
    """
    from ..edit.directions import DirectionError, load_bank_for
    from ..eval.editing import PAPER_DIRECTIONS, EditingEvalError, run_editing
    from ..eval.methods import TABLE2_METHODS

    if auto:
        raise click.ClickException("--auto is not supported by `eval editing` yet (edits of G^S projections move X^S "
                                   "too); run it without --auto")
    out = Path(output)
    specs = _methods(methods or " ".join(TABLE2_METHODS))
    dirs = [d.strip() for d in (directions or ",".join(PAPER_DIRECTIONS)).split(",") if d.strip()]
    G, name, base, _ = _setup(generator, device, steps, segments, seed, False, loss_resolution)
    try:
        dbank = load_bank_for(name, bank)
        dbank.check(G)
    except (DirectionError, OSError) as e:
        raise click.ClickException(str(e)) from None
    inputs = _inputs(images, out, align, max(256, G.resolution))
    from tqdm import tqdm

    bar = tqdm(desc="editing", unit="item", dynamic_ncols=True)
    try:
        run = run_editing(inputs, out, specs, dirs, base, G=G, generator_name=name, bank=dbank,
                          probes=_probes(probe), strengths=_strengths(strengths), reference=reference,
                          reference_strength=reference_strength, resume=not no_resume, ray_address=ray_address,
                          batch_size=batch_size, on_item=lambda what: (bar.update(1), bar.set_postfix_str(what)),
                          require_all=directions is not None)
    except (EditingEvalError, ValueError, OSError) as e:
        raise click.ClickException(str(e)) from None
    finally:
        bar.close()
    click.echo((out / "table2.md").read_text())
    click.echo(f"wrote {', '.join(str(p.relative_to(out)) for p in run.files.values())} to {out}/")
