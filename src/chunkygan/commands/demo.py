"""``chunkygan demo -o out/demo``: the README's main command (global vs ChunkyGAN projection)."""
from __future__ import annotations

from pathlib import Path

import click

from ._common import device_option, get_device, output_folder


@click.command("demo")
@click.option("-o", "--output", default="out/demo", show_default=True, type=click.Path(file_okay=False))
@click.option("--photo", type=click.Choice(["astronaut", "grace_hopper"]), default="astronaut", show_default=True,
              help="Public-domain portrait shipped by scikit-image (astronaut) or matplotlib (grace_hopper).")
@click.option("--generator", default=None, help="Generator name or checkpoint path (default: the default generator).")
@click.option("--segments", type=click.IntRange(2, 64), default=4, show_default=True, help="K for the segment-wise projection.")
@click.option("--steps", type=click.IntRange(1, 1_000_000), default=200, show_default=True, help="Steps for each of the two projections.")
@click.option("--seed", type=int, default=0, show_default=True)
@device_option
def command(output, photo, generator, segments, steps, seed, device) -> None:
    """Project a public-domain face photo globally, with K free k-means segments and in the default mode
    (the paper's segment generator G^S for a style-based generator with a head; the default generator
    trains its head on first use, about 30 s), all with the same step budget, and write the side-by-side
    comparison and the metrics (LPIPS, L2, fragmentation, seconds)."""
    from tqdm import tqdm

    from ..pipelines.demo import DEMO_PHOTOS, run_demo

    output_folder(output)  # refused before any work if the results could not be written
    dev = get_device(device)
    click.echo(f"demo: {DEMO_PHOTOS[photo].description}")
    bars: dict = {}

    def progress(label, info):
        bar = bars.get(label)
        if bar is None:
            for b in bars.values():
                b.close()
            desc = {"global": "global (K=1)", "chunky": f"k-means (K={segments})"}.get(label, "G^S (default)")
            bar = bars[label] = tqdm(total=info.steps, desc=desc, unit="step", dynamic_ncols=True)
        bar.update(1)
        bar.set_postfix(loss=f"{info.loss:.4f}", refresh=False)

    from .segments import _Bars

    head_bars = _Bars()  # labelling + training of the default segment head on first use
    try:
        m = run_demo(output, photo=photo, generator=generator, segments=segments, steps=steps, seed=seed,
                     device=dev, callback=progress, head_progress=head_bars)
    except ImportError as e:
        raise click.ClickException(str(e)) from None
    finally:
        head_bars.close()
        for b in bars.values():
            b.close()
    g, c = m["global"], m["chunky"]
    out = Path(output)
    click.echo(f"global projection ({g['method']}):      LPIPS {g['lpips']:.4f}  L2 {g['l2']:.4f}  {g['seconds']:.0f} s")
    click.echo(f"k-means ({c['method']}, K={c['segments']}):    LPIPS {c['lpips']:.4f}  L2 {c['l2']:.4f}  "
               f"{c['seconds']:.0f} s")
    if "auto" in m:
        a = m["auto"]
        click.echo(f"default, G^S ({a['method']}, K={a['segments']}): LPIPS {a['lpips']:.4f}  L2 {a['l2']:.4f}  "
                   f"{a['seconds']:.0f} s")
        click.echo(f"LPIPS {100 * m['auto_lpips_reduction']:.0f}% lower with G^S segments, "
                   f"{100 * m['lpips_reduction']:.0f}% with k-means; total {m['total_seconds']:.0f} s")
    else:
        click.echo(f"LPIPS {100 * m['lpips_reduction']:.0f}% lower with segments; total {m['total_seconds']:.0f} s")
    click.echo(f"side by side: {out / 'comparison.png'}")
    click.echo(f"metrics:      {out / 'metrics.json'}")
    runs = ", ".join(f"{out / k}/" for k in ("global", "chunky", "auto") if k == "global" or k in m)
    click.echo(f"each run:     {runs} (projection.safetensors, segment renders, ...)")
