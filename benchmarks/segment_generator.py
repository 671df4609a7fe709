"""The segment generator G^S on the embedded face generator: head accuracy and fully automatic projection.

1. ``iou``: heads trained from N automatically labelled samples (MediaPipe face parts, seeds 0...) ->
   IoU against the same labeller on held-out generated samples (seeds 10000...), for the per-pixel MLP
   (DatasetGAN), an MLP ensemble and the light conv head; training seconds of each.
2. ``project``: for each demo photo (astronaut, Grace Hopper) at the same step budget:
   global projection (K = 1), ChunkyGAN with k-means free masks (K = 4, the projector's default) and the
   fully automatic mode (masks from G^S(X^S), X^S optimised jointly; K = the head's classes).
   Prints LPIPS (alex, 256 px) of each and the seconds per step relative to global / k-means, and writes
   the Fig. 3 progression strips (iterations 1, 5, 9, 15, 23, 37 and the last).
3. ``speed``: process CPU seconds per step of the joint G^S mode against the same K masks kept fixed
   (the fixed-mask mode) and global projection.
4. ``edit``: a global edit (default ``yaw``) of an automatic projection with X^S moved along the same
   direction: sideways shift of the eyes/nose/mouth segments, and a strip.

    python benchmarks/segment_generator.py iou --out /tmp/gs_bench
    python benchmarks/segment_generator.py project --steps 200 --out /tmp/gs_bench
    python benchmarks/segment_generator.py speed --steps 12 --photos astronaut   # CPU s/step: auto vs fixed vs global

Needs the face extra (MediaPipe) and the demo photos (scikit-image, matplotlib).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch


def iou_bench(args) -> dict:
    from chunkygan.generators import load_generator
    from chunkygan.segments.head import save_head
    from chunkygan.segments.train import auto_label, evaluate_head, train_segment_head

    from dataclasses import replace

    G = load_generator(args.generator)
    t0 = time.perf_counter()
    n_max = max(args.train)
    labelled = auto_label(G, n_max, seed=0)
    t_label = time.perf_counter() - t0
    test = auto_label(G, args.test, seed=10000)
    out = {"label_seconds_per_image": round(t_label / n_max, 3), "heads": {}}
    variants = (("mlp", dict(kind="mlp")), ("mlp-ensemble-5", dict(kind="mlp", members=5)),
                ("conv", dict(kind="conv")), ("conv-fine3", dict(kind="conv", layers="fine:3")),
                ("mlp-fine3", dict(kind="mlp", layers="fine:3")))
    for (base, kw), n in ((v, n) for v in variants for n in args.train):
        name = base if n == 30 else f"{base}-n{n}"  # the first N labelled samples (seeds 0...)
        if args.heads and base not in args.heads:
            continue
        train = replace(labelled, latents=labelled.latents[:n], labels=labelled.labels[:n], seeds=labelled.seeds[:n])
        t0 = time.perf_counter()
        head, meta = train_segment_head(G, training_set=train, steps=args.head_steps, **kw)
        secs = time.perf_counter() - t0
        res = evaluate_head(G, head, meta, test)
        main = [res["iou"][n] for n in ("background", "skin", "nose", "mouth", "hair") if n in res["iou"]]
        res.update(train_seconds=round(secs, 1), mean_iou_main=round(sum(main) / len(main), 4))
        out["heads"][name] = res
        print(name, json.dumps(res), flush=True)
        if args.out:
            save_head(head, Path(args.out) / f"head-{name}", meta)
    return out


def project_bench(args) -> dict:
    from chunkygan.generators import load_generator
    from chunkygan.imageio import save_image
    from chunkygan.pipelines.demo import DEMO_LOSS_RESOLUTION, DEMO_PHOTOS
    from chunkygan.project.projector import ProjectionConfig, Projector
    from chunkygan.pipelines.auto import auto_mask_source, auto_projector, run_with_progression
    from chunkygan.segments.gs import progression_strip

    G = load_generator(args.generator)
    src = auto_mask_source(G, args.head)
    space = src.segment_generator.space
    results = {}
    for photo in args.photos:
        target = DEMO_PHOTOS[photo].load()
        row = {}
        common = dict(steps=args.steps, seed=args.seed, loss_resolution=DEMO_LOSS_RESOLUTION)
        for label in ("global", "kmeans", "auto"):
            if label == "global":
                p = Projector(G, target, ProjectionConfig(method=space, **common))
            elif label == "kmeans":
                p = Projector(G, target, ProjectionConfig(method=f"chunky-{space}", segments=4, **common))
            else:
                src = auto_mask_source(G, args.head, temperature=args.temperature)
                p = auto_projector(G, target, ProjectionConfig(method=f"chunky-{space}", segments=src.num_segments,
                                                               mask_lr=args.mask_lr, **common), source=src)
            proj, frames = run_with_progression(p)
            row[label] = {"lpips": proj.metrics["lpips"], "l2": proj.metrics["l2"], "segments": p.num_segments,
                          "seconds_per_step": round(p.seconds / p.step_count, 4)}
            if args.out:
                save_image(progression_strip(frames, p.target), Path(args.out) / f"{photo}-{label}-progression.png")
            print(photo, label, json.dumps(row[label]), flush=True)
        g, a = row["global"]["lpips"], row["auto"]["lpips"]
        row["auto_vs_global_lpips_reduction"] = round(1 - a / g, 4)
        row["auto_vs_kmeans_lpips_reduction"] = round(1 - a / row["kmeans"]["lpips"], 4)
        row["auto_step_time_vs_kmeans"] = round(row["auto"]["seconds_per_step"] / row["kmeans"]["seconds_per_step"], 3)
        row["auto_step_time_vs_global"] = round(row["auto"]["seconds_per_step"] / row["global"]["seconds_per_step"], 3)
        print(photo, json.dumps({k: v for k, v in row.items() if not isinstance(v, dict)}), flush=True)
        results[photo] = row
    return results


def speed_bench(args) -> dict:
    """Process CPU seconds per step (steady on a shared machine; run with --threads 1): the joint G^S mode vs
    the same K masks kept fixed (the fixed-mask mode) vs global projection, on one photo."""
    from chunkygan.generators import load_generator
    from chunkygan.pipelines.demo import DEMO_LOSS_RESOLUTION, DEMO_PHOTOS
    from chunkygan.project.projector import ProjectionConfig, Projector
    from chunkygan.pipelines.auto import auto_mask_source, auto_projector
    from chunkygan.segments.sources import FixedMasks

    G = load_generator(args.generator)
    target = DEMO_PHOTOS[args.photos[0]].load()
    src = auto_mask_source(G, args.head)
    space, K = src.segment_generator.space, src.num_segments
    common = dict(seed=args.seed, loss_resolution=DEMO_LOSS_RESOLUTION, steps=args.steps)
    with torch.no_grad():
        fixed = FixedMasks(src(G.resolution).detach())
    makers = {
        "global": lambda: Projector(G, target, ProjectionConfig(method=space, **common)),
        "fixed": lambda: Projector(G, target, ProjectionConfig(method=f"chunky-{space}", segments=K, **common),
                                   masks=fixed),
        "auto": lambda: auto_projector(G, target, ProjectionConfig(method=f"chunky-{space}", segments=K, **common),
                                       source=auto_mask_source(G, args.head)),
    }
    out = {}
    for label, make in makers.items():
        p = make()
        for _ in range(2):  # warm-up
            p.step()
        t0 = time.process_time()
        n = args.steps - 2
        for _ in range(n):
            p.step()
        out[label] = round((time.process_time() - t0) / n, 4)
    out["auto_vs_fixed"] = round(out["auto"] / out["fixed"], 3)
    out["auto_vs_global"] = round(out["auto"] / out["global"], 3)
    out["segments"] = K
    print(json.dumps(out), flush=True)
    return out


def edit_bench(args) -> dict:
    """Fully automatic projection of one photo, then a global ``yaw`` edit (bundled direction bank) with the
    masks kept and with X^S moved along the same direction (Sec. 4.2). Reports how far the face-part
    segments' centroids move sideways (pixels) and writes a strip: composites and segment maps per strength."""
    from chunkygan.edit.apply import edited_composite
    from chunkygan.edit.directions import Edit, load_bank_for
    from chunkygan.generators import load_generator
    from chunkygan.imageio import save_image
    from chunkygan.pipelines.demo import DEMO_LOSS_RESOLUTION, DEMO_PHOTOS
    from chunkygan.project.projector import ProjectionConfig
    from chunkygan.pipelines.auto import auto_mask_source, auto_projector, edit_with_segments
    from chunkygan.segments.gs import progression_strip

    G = load_generator(args.generator)
    target = DEMO_PHOTOS[args.photos[0]].load()
    src = auto_mask_source(G, args.head)
    space = src.segment_generator.space
    p = auto_projector(G, target, ProjectionConfig(method=f"chunky-{space}", segments=src.num_segments, steps=args.steps,
                                                   seed=args.seed, loss_resolution=DEMO_LOSS_RESOLUTION), source=src)
    proj = p.run()
    d = load_bank_for(getattr(G, "name", args.generator)).get(args.direction)
    names = list(src.segment_generator.names)
    face = [names.index(n) for n in ("eyes", "nose", "mouth") if n in names]
    xs = torch.arange(G.resolution, dtype=torch.float32).view(1, 1, -1)

    def centroid_x(masks):
        m = masks[face, 0].float().cpu()
        return float((m * xs).sum() / m.sum())

    frames, out = [], {"direction": args.direction, "strengths": args.strengths, "kept_masks_shift": [],
                       "moved_masks_shift": []}
    base = centroid_x(proj.masks)
    for a in args.strengths:
        kept = edit_with_segments(G, proj, [Edit(d, 0.0)], src)  # X^S unchanged ...
        from dataclasses import replace

        kept = replace(kept, codes=edit_with_segments(G, proj, [Edit(d, a)], src).codes)  # ... codes edited
        moved = edit_with_segments(G, proj, [Edit(d, a)], src)
        out["kept_masks_shift"].append(round(centroid_x(kept.masks) - base, 2))
        out["moved_masks_shift"].append(round(centroid_x(moved.masks) - base, 2))
        frames.append((a, edited_composite(G, proj, moved).cpu(), moved.masks.cpu()))
    print(json.dumps(out), flush=True)
    if args.out:
        save_image(progression_strip(frames), Path(args.out) / f"{args.photos[0]}-{args.direction}-edit.png")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["iou", "project", "speed", "edit"])
    ap.add_argument("--direction", default="yaw")
    ap.add_argument("--strengths", type=float, nargs="*", default=[-2.0, -1.0, 0.0, 1.0, 2.0])
    ap.add_argument("--generator", default="dcgan-faces-64")
    ap.add_argument("--train", type=int, nargs="+", default=[30], help="labelled training samples (several: each)")
    ap.add_argument("--test", type=int, default=100)
    ap.add_argument("--head-steps", type=int, default=150)
    ap.add_argument("--heads", nargs="*", default=None,
                    help="subset of mlp, mlp-ensemble-5, conv, conv-fine3, mlp-fine3 (fine3: the 3 finest blocks)")
    ap.add_argument("--head", default=None, help="head file (default: the cached default head, trained if missing)")
    ap.add_argument("--photos", nargs="*", default=["astronaut", "grace_hopper"])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--mask-lr", type=float, default=0.1)
    ap.add_argument("--temperature", type=float, default=2.0, help="softmax temperature of the G^S masks")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
    res = {"iou": iou_bench, "project": project_bench, "speed": speed_bench, "edit": edit_bench}[args.what](args)
    if args.out:
        (Path(args.out) / f"{args.what}.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
