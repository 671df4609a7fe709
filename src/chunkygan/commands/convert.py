"""``chunkygan convert IN OUT``: NVIDIA .pkl / rosinality .pt -> chunkygan .safetensors + .json."""
from __future__ import annotations

import click


@click.command("convert")
@click.argument("src", type=click.Path(exists=True, dir_okay=False))
@click.argument("dst", type=click.Path(dir_okay=False))
@click.option("--licence", default=None,
              help="Licence text to record in the output's meta (default: a note to check the source's licence).")
@click.option("--force", is_flag=True, help="Overwrite existing output files.")
def command(src: str, dst: str, licence: str | None, force: bool) -> None:
    """Convert the generator checkpoint SRC to the native format at DST (NAME, NAME.safetensors or NAME.json).

    SRC is an NVIDIA StyleGAN2 network .pkl, a rosinality .pt/.pth, or a native file. Nothing from it is
    executed (restricted unpickler; torch.load(weights_only=True)). Both outputs are written atomically and
    the weights are read back and compared bit for bit.
    """
    from tqdm import tqdm

    from ..generators.checkpoints import CheckpointError, convert_checkpoint, native_paths

    from ..fileio import check_output_path

    for p in native_paths(dst):
        check_output_path(p)
    existing = [str(p) for p in native_paths(dst) if p.exists()]
    if existing and not force:
        raise click.ClickException(f"{', '.join(existing)} already exist(s); pass --force to overwrite")
    try:
        with tqdm(total=4, desc=f"convert {src}", unit="step", leave=False) as bar:
            def step(name: str) -> None:
                bar.set_postfix_str(f"{name} done")
                bar.update()

            out = convert_checkpoint(src, dst, licence=licence, on_step=step)
    except CheckpointError as e:
        raise click.ClickException(str(e)) from None
    G = out.generator
    click.echo(f"read {src}: {G.name}, {G.resolution}x{G.resolution}, "
               f"source format {G.meta.get('source_format', 'native')}")
    click.echo(f"wrote {out.safetensors}")
    click.echo(f"wrote {out.json}")
    click.echo(f"licence recorded: {G.meta.get('licence', 'unknown') if licence is None else licence}")
