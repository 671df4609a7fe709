"""Seconds and peak memory of pivotal tuning (project/pti.py) relative to the projection it follows.

For each generator (the default ``stylegan2-faces-64`` and, as a "large" one, a 256-px StyleGAN2
with random weights and the FFHQ-256 channel sizes) and K segments, it measures in one run, all in
W+ with LPIPS(alex) at 256 px plus pixel MSE (the projector's defaults):

* ``proj s``: one projector step (``chunky-w+``, free mask logits, Adam over codes and masks);
* ``shared s`` / ``per-seg s``: one tuning step with one shared delta / one delta per segment,
  and the ratio of each to the projector step (``x proj``);
* the peak memory of one step of each (CUDA: the allocator's peak; CPU: sampled malloc in-use
  bytes above the level before the step, see ``benchmarks/generator.py``);
* ``render +MB``: extra peak memory of rendering the K segments with the tuned weights over
  rendering them untuned (the larger of shared and per-segment), against the size of the tuned tensors (``tuned MB``) and of the whole
  generator (``G MB``): the base weights are shared, so a tuned render costs about one copy of the
  tuned tensors, not a second generator per segment;
* ``state MB``: what tuning keeps between steps (float32 delta + Adam's two moments, 3 copies of the
  tuned tensors, per delta: ``shared`` / ``per-segment``), on top of the step peaks above;
* ``delta MB``: the stored delta (float16) of a shared tune.

    python benchmarks/pti.py                     # both generators, K = 1 and 4 (CPU-friendly)
    python benchmarks/pti.py --generators default --ks 4 --steps 3
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch


def timed(fn, steps: int, warmup: int, clock) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return statistics.median(times)


def peak_of(fn, device) -> float:
    from generator import PeakMemory  # benchmarks/generator.py (this script's folder is on sys.path)

    with PeakMemory(device) as pm:
        fn()
    return pm.peak / 2 ** 20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--generators", default="default,256", help="comma list of: default, 256")
    ap.add_argument("--ks", default="1,4")
    ap.add_argument("--steps", type=int, default=3, help="timed steps per measurement (median)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    from chunkygan.device import resolve_device
    from chunkygan.generators import default_generator_name, load_generator
    from chunkygan.project.projector import ProjectionConfig, Projector, build_loss
    from chunkygan.project.pti import PivotalTuner, PTIConfig, tuned_renders

    device = resolve_device(a.device)
    clock = time.process_time if device.type == "cpu" else time.perf_counter
    loss_fn = build_loss("lpips-alex").to(device)
    print(f"device {device}, {torch.get_num_threads()} thread(s), median of {a.steps} steps after {a.warmup} warm-up, "
          f"{'process CPU' if device.type == 'cpu' else 'wall'} time; W+, LPIPS(alex) at 256 px + MSE")
    print(f"{'generator':>20} {'K':>2} {'proj s':>7} {'shared s':>9} {'x proj':>7} {'per-seg s':>10} {'x proj':>7} "
          f"{'proj MB':>8} {'shared MB':>10} {'per-seg MB':>11} {'render +MB':>11} {'tuned MB':>9} {'G MB':>6} "
          f"{'state MB':>11} {'delta MB':>9}")
    for gname in a.generators.split(","):
        if gname == "default":
            G = load_generator(default_generator_name(), device=device)
            label = G.name
        else:
            from projection import make_generator  # benchmarks/projection.py

            G = make_generator(int(gname), device)
            label = f"random {gname}px"
        R = G.resolution
        target = (torch.rand(1, 3, R, R, generator=torch.Generator().manual_seed(1)) * 2 - 1).to(device)
        g_mb = sum(t.numel() * t.element_size() for t in G.state_dict().values()) / 2 ** 20
        for K in [int(k) for k in a.ks.split(",")]:
            cfg = ProjectionConfig(method="chunky-w+" if K > 1 else "w+", segments=K, steps=10 ** 6,
                                   masks="kmeans" if K > 1 else "auto")
            p = Projector(G, target, cfg, loss_fn=loss_fn)
            t_proj = timed(p.step, a.steps, a.warmup, clock)
            m_proj = peak_of(p.step, device)
            proj = p.result()
            res = {}
            for mode in ("shared", "per-segment"):
                if mode == "per-segment" and K == 1:
                    res[mode] = (float("nan"), float("nan"), None)
                    continue
                tuner = PivotalTuner(G, proj, PTIConfig(steps=10 ** 6, mode=mode), loss_fn=loss_fn)
                t = timed(tuner.step, a.steps, a.warmup, clock)
                m = peak_of(tuner.step, device)
                res[mode] = (t, m, tuner)
            shared = res["shared"][2]
            delta = shared.result()
            tuned_mb = sum(t.numel() * 4 for t in shared.deltas[0].values()) / 2 ** 20
            with torch.no_grad():
                base_mb = peak_of(lambda: proj.renders(G), device)
                render_mb = peak_of(lambda: tuned_renders(G, proj, delta), device)
                if K > 1:  # per segment: K deltas, rendered one after another (one tuned copy at a time)
                    per = res["per-segment"][2].result()
                    render_mb = max(render_mb, peak_of(lambda: tuned_renders(G, proj, per), device))
            t_sh, m_sh, _ = res["shared"]
            t_ps, m_ps, _ = res["per-segment"]
            print(f"{label:>20} {K:>2} {t_proj:>7.3f} {t_sh:>9.3f} {t_sh / t_proj:>6.2f}x {t_ps:>10.3f} "
                  f"{t_ps / t_proj:>6.2f}x {m_proj:>8.0f} {m_sh:>10.0f} {m_ps:>11.0f} {render_mb - base_mb:>11.1f} "
                  f"{tuned_mb:>9.1f} {g_mb:>6.1f} {3 * tuned_mb:>5.0f}/{3 * K * tuned_mb:<5.0f} "
                  f"{delta.nbytes / 2 ** 20:>9.1f}", flush=True)


if __name__ == "__main__":
    main()
