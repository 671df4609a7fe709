"""``chunkygan demo -o out/demo``: the README's main command (global vs ChunkyGAN projection)."""
from __future__ import annotations

from pathlib import Path

import click

from ._common import device_option, get_device


@click.command("demo")
@click.option("-o", "--output", default="out/demo", show_default=True, type=click.Path(file_okay=False))
@click.option("--photo", type=click.Choice(["astronaut", "grace_hopper"]), default="astronaut", show_default=True,
              help="Public-domain portrait shipped by scikit-image (astronaut) or matplotlib (grace_hopper).")
@click.option("--generator", default=None, help="Generator name or checkpoint path (default: the default generator).")
@click.option("--segments", type=int, default=4, show_default=True, help="K for the segment-wise projection.")
@click.option("--steps", type=int, default=200, show_default=True, help="Steps for each of the two projections.")
@click.option("--seed", type=int, default=0, show_default=True)
@device_option
def command(output, photo, generator, segments, steps, seed, device) -> None:
    """Project a public-domain face photo globally and with K segments (same step budget) and write
    the side-by-side comparison and the metrics (LPIPS, L2, seconds)."""
    from tqdm import tqdm

    from ..pipelines.demo import DEMO_PHOTOS, run_demo

    dev = get_device(device)
    click.echo(f"demo: {DEMO_PHOTOS[photo].description}")
    bars: dict = {}

    def progress(label, info):
        bar = bars.get(label)
        if bar is None:
            for b in bars.values():
                b.close()
            desc = "global (K=1)" if label == "global" else f"segments (K={segments})"
            bar = bars[label] = tqdm(total=info.steps, desc=desc, unit="step", dynamic_ncols=True)
        bar.update(1)
        bar.set_postfix(loss=f"{info.loss:.4f}", refresh=False)

    try:
        m = run_demo(output, photo=photo, generator=generator, segments=segments, steps=steps, seed=seed,
                     device=dev, callback=progress)
    except ImportError as e:
        raise click.ClickException(str(e)) from None
    finally:
        for b in bars.values():
            b.close()
    g, c = m["global"], m["chunky"]
    out = Path(output)
    click.echo(f"global projection ({g['method']}):      LPIPS {g['lpips']:.4f}  L2 {g['l2']:.4f}  {g['seconds']:.0f} s")
    click.echo(f"segment-wise ({c['method']}, K={c['segments']}): LPIPS {c['lpips']:.4f}  L2 {c['l2']:.4f}  "
               f"{c['seconds']:.0f} s")
    click.echo(f"LPIPS {100 * m['lpips_reduction']:.0f}% lower with segments; total {m['total_seconds']:.0f} s")
    click.echo(f"side by side: {out / 'comparison.png'}")
    click.echo(f"metrics:      {out / 'metrics.json'}")
    click.echo(f"each run:     {out / 'global'}/, {out / 'chunky'}/ (projection.safetensors, segment renders, ...)")
