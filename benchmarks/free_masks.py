"""Free (k-means-initialised) masks with and without the smoothness prior: LPIPS and fragmentation.

For each demo photo and each prior weight λ_tv (``ProjectionConfig.mask_smoothness``), projects with K
free segments at the demo's settings (200 steps, seed 0, LPIPS loss at 128 px, metric at 256 px) and prints
LPIPS, L2, connected components per segment and boundary length / disc; writes the segment maps
(``<photo>-tv<λ>.png``: reconstruction | soft masks | argmax) and ``free_masks.json`` into ``--out``.

    OMP_NUM_THREADS=1 python benchmarks/free_masks.py --weights 0 0.01 0.03 0.1 --out out/bench/free_masks
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", nargs="+", default=["astronaut", "grace_hopper"])
    ap.add_argument("--weights", nargs="+", type=float, default=[0.0, 0.03])
    ap.add_argument("--edge-sigma", type=float, default=0.0, help="edge-aware weights (ProjectionConfig.mask_edge_sigma)")
    ap.add_argument("--segments", type=int, default=4)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--generator", default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="out/bench/free_masks")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from chunkygan.generators import default_generator_name, load_generator
    from chunkygan.imageio import make_grid, save_image
    from chunkygan.pipelines.demo import DEMO_LOSS_RESOLUTION, DEMO_PHOTOS
    from chunkygan.project.outputs import enlarge
    from chunkygan.project.projector import ProjectionConfig, Projector
    from chunkygan.segments.masks import colourise

    G = load_generator(args.generator or default_generator_name())
    sp = "w+" if "w+" in G.spaces else G.spaces[0]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for photo in args.photos:
        target = DEMO_PHOTOS[photo].load()
        for lam in args.weights:
            cfg = ProjectionConfig(method=f"chunky-{sp}", segments=args.segments, steps=args.steps, seed=0,
                                   loss_resolution=DEMO_LOSS_RESOLUTION, mask_smoothness=lam,
                                   mask_edge_sigma=args.edge_sigma)
            p = Projector(G, target, cfg)
            proj = p.run()
            m = proj.metrics
            f = m["fragmentation"]
            row = {"photo": photo, "mask_smoothness": lam, "edge_sigma": args.edge_sigma, "lpips": m["lpips"], "l2": m["l2"],
                   "components_mean": f["components_mean"], "components_max": f["components_max"],
                   "boundary_ratio_mean": f["boundary_ratio_mean"], "seconds": m["seconds"]}
            rows.append(row)
            print(json.dumps(row), flush=True)
            with torch.no_grad():
                hard = torch.nn.functional.one_hot(proj.masks.cpu().argmax(0)[0], proj.masks.shape[0])
                hard = hard.permute(2, 0, 1).unsqueeze(1).float()
                tiles = torch.cat([enlarge(p.output().cpu()), enlarge(colourise(proj.masks.cpu())), enlarge(colourise(hard))])
            save_image(make_grid(tiles, nrow=3), out / f"{photo}-tv{lam:g}-edge{args.edge_sigma:g}.png")
    (out / "free_masks.json").write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
