"""Images per minute of a batch: one process, several images per generator call, and Ray workers.

In one run, on the same N photos (faces sampled from the default generator, saved as PNG) and the same
projection (default generator ``stylegan2-faces-64``, chunky-w+, K = 4, LPIPS(alex) at 256 px):

* ``1 process``: :func:`chunkygan.batch.project_many`, one image after another, one torch thread;
* ``1 process, 2 threads`` (``--two-threads``): the same with two intra-op threads;
* ``--batch-size B``: B images x K segments per generator call, one thread;
* ``Ray, W workers``: a local Ray with W CPUs, one actor (one thread) each.

Each time covers the whole ``project_many`` call: generator loading (and starting the Ray actors), every
image's outputs and ``done.json``, the summary. An untimed one-image run warms this process up first,
and a local Ray instance is started before the clock runs (a cluster is up before a batch is sent to it). Prints images/min and the ratio to ``1 process``.

    python benchmarks/batch.py                       # 8 images, 20 steps (a few minutes on 2 idle cores)
    python benchmarks/batch.py --images 16 --steps 50 --batch-size 8 --workers 2
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path

import torch


def make_photos(folder: Path, n: int, generator: str) -> None:
    """``n`` 64x64 faces sampled from ``generator`` (seeded)."""
    from chunkygan.generators import load_generator
    from chunkygan.imageio import save_image

    G = load_generator(generator)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        z = torch.randn(n, G.z_dim, generator=gen)
        imgs = G(z)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        save_image(imgs[i:i + 1].clamp(-1, 1), folder / f"face_{i:02d}.png")


def timed(label, photos, out, cfg, **kw):
    from chunkygan.batch import project_many

    t0 = time.perf_counter()
    results = list(project_many([str(photos)], out, cfg, resume=False, **kw))
    dt = time.perf_counter() - t0
    bad = [r for r in results if not r.ok]
    if bad:
        raise SystemExit(f"{label}: {len(bad)} images failed: {bad[0].error}")
    lpips = sum(r.metrics["lpips"] for r in results) / len(results)
    return len(results) * 60.0 / dt, dt, lpips


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--segments", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--generator", default="stylegan2-faces-64")
    ap.add_argument("--two-threads", action="store_true", help="also time one process with two torch threads")
    args = ap.parse_args()

    import ray

    from chunkygan.project.projector import ProjectionConfig

    cfg = ProjectionConfig(method="chunky-w+", segments=args.segments, steps=args.steps)
    root = Path(tempfile.mkdtemp(prefix="chunkygan-bench-batch-"))
    photos = root / "photos"
    make_photos(photos, args.images, args.generator)
    print(f"{args.images} images, {args.steps} steps, K = {args.segments}, {args.generator}, LPIPS(alex) at 256 px; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start")
    torch.set_num_threads(1)
    # warm-up (imports, the metric's LPIPS network, allocator): not timed
    timed("warm-up", photos / "face_00.png", root / "warm", dataclasses.replace(cfg, steps=1), generator=args.generator,
          device="cpu")
    rows = []
    rows.append(("1 process", *timed("single", photos, root / "single", cfg, generator=args.generator, device="cpu")))
    if args.two_threads:
        torch.set_num_threads(2)
        rows.append(("1 process, 2 threads",
                     *timed("threads", photos, root / "threads", cfg, generator=args.generator, device="cpu")))
    torch.set_num_threads(1)
    rows.append((f"--batch-size {args.batch_size}",
                 *timed("batch", photos, root / "batch", cfg, generator=args.generator, device="cpu",
                        batch_size=args.batch_size)))
    ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})
    try:
        rows.append((f"Ray, {args.workers} workers",
                     *timed("ray", photos, root / "ray", cfg, generator=args.generator, ray_address="local")))
    finally:
        ray.shutdown()
    base = rows[0][1]
    print(f"{'mode':<24}{'images/min':>12}{'seconds':>10}{'ratio':>8}{'mean LPIPS':>12}")
    for label, ipm, dt, lp in rows:
        print(f"{label:<24}{ipm:>12.2f}{dt:>10.1f}{ipm / base:>8.2f}{lp:>12.4f}")
    print(f"load average {os.getloadavg()[0]:.1f} at the end; outputs in {root}")


if __name__ == "__main__":
    main()
