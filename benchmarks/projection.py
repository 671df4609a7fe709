"""Seconds per projection step for K = 1, 2, 4, 8 segments, against the floor and a naive loop.

Generator: StyleGAN2 at 256 px with random weights and the FFHQ-256 channel sizes (stylegan2-ada
``paper256``: channel_base 16384, channel_max 512, 8 mapping layers), W+ space, LPIPS(alex) loss at 256 px.

For every K it times, in one run:

* ``projector``: one :meth:`chunkygan.project.projector.Projector.step` (free mask logits, Eq. 1-2, Adam);
* ``floor``: one batched generator forward+backward of the K codes plus the loss on their blend
  (no masks, no optimiser): the least any implementation must do;
* ``loop``: the same blend rendered with one generator call per segment (the naive way).

It prints ratios projector/floor (target: within 1.3x) and loop/projector (target: > 1 for K >= 4),
the memory of the tensors autograd saves for the backward pass, and the peak memory of one projector
step above the level before it (CUDA: the allocator's peak; CPU: sampled malloc in-use bytes, see
``benchmarks/generator.py``).

    python benchmarks/projection.py                 # short default (CPU-friendly)
    python benchmarks/projection.py --steps 10 --device cuda
    python benchmarks/projection.py --auto          # also the joint G^S mode (Eq. 2), relative to fixed masks

With ``--auto`` each K also times one step of the fully automatic mode: masks from a segment head
``G^S(X^S)`` (trained for a few steps on grid labels, since a random generator shows no faces; the
cost does not depend on what the head learned) with ``X^S`` optimised jointly, and prints auto/fixed:
its time per step relative to the fixed-mask mode with the same K.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch


def make_generator(resolution: int, device):
    from chunkygan.generators.stylegan2 import StyleGAN2Generator

    torch.manual_seed(0)
    G = StyleGAN2Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=resolution, img_channels=3,
                           mapping_kwargs={"num_layers": 8},
                           synthesis_kwargs={"channel_base": 16384, "channel_max": 512})
    return G.eval().requires_grad_(False).to(device)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, steps: int, warmup: int, device, clock=time.perf_counter) -> float:
    """Median seconds of ``fn()`` over ``steps`` runs after ``warmup`` runs, read from ``clock``."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(steps):
        t0 = clock()
        fn()
        sync(device)
        times.append(clock() - t0)
    return statistics.median(times)


def saved_bytes(fn) -> int:
    """Bytes of all tensors autograd saves for backward during ``fn()`` (a device-agnostic memory measure)."""
    total = [0]

    def pack(t):
        total[0] += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return total[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ks", default="1,2,4,8")
    ap.add_argument("--steps", type=int, default=2, help="timed steps per measurement (median)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--clock", choices=["auto", "wall", "cpu"], default="auto",
                    help="wall: elapsed time; cpu: this process's CPU time (steadier on a shared CPU machine, "
                         "equal to wall time for one thread on an idle core); auto: cpu on CPU, wall on CUDA")
    ap.add_argument("--auto", action="store_true", help="also time the joint G^S mode (chunkygan project --auto)")
    args = ap.parse_args()

    from chunkygan.device import resolve_device
    from generator import PeakMemory  # benchmarks/generator.py (this script's folder is on sys.path)
    from chunkygan.latents import get_space
    from chunkygan.project.projector import ProjectionConfig, Projector, at_resolution, build_loss

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    G = make_generator(args.resolution, device)
    use_cpu_clock = args.clock == "cpu" or (args.clock == "auto" and device.type == "cpu")
    clock = time.process_time if use_cpu_clock else time.perf_counter
    loss_fn = build_loss("lpips-alex").to(device)
    g = torch.Generator().manual_seed(1)
    target = (torch.rand(1, 3, args.resolution, args.resolution, generator=g) * 2 - 1).to(device)
    space = get_space("w+")
    target256 = at_resolution(target, 256)
    print(f"StyleGAN2 {args.resolution}px random weights (FFHQ-256 channels), W+, LPIPS alex; device {device}, "
          f"{torch.get_num_threads()} threads, median of {args.steps} steps after {args.warmup} warm-up, "
          f"{'process CPU' if use_cpu_clock else 'wall'} time")
    print(f"{'K':>3} {'projector s':>12} {'floor s':>9} {'loop s':>9} {'proj/floor':>11} {'loop/proj':>10} "
          f"{'saved MB':>9} {'peak MB':>8}"
          + (f" {'auto s':>8} {'fixed s':>8} {'auto/fixed':>10}" if args.auto else ""))
    for K in [int(k) for k in args.ks.split(",")]:
        cfg = ProjectionConfig(method="chunky-w+", segments=K, steps=10 ** 6, loss_resolution=256, l2_weight=0.0,
                               masks="grid")
        p = Projector(G, target, cfg, loss_fn=loss_fn)
        masks = p.masks().detach()
        ws = space.mean(G, K).detach().clone().requires_grad_(True)

        def floor():
            imgs = G.synthesis(ws)
            loss = loss_fn(at_resolution(imgs.mean(dim=0, keepdim=True), 256), target256).sum()
            ws.grad = None
            loss.backward()

        def loop():
            out = 0
            for k in range(K):
                out = out + G.synthesis(ws[k:k + 1]) * masks[k:k + 1]
            loss = loss_fn(at_resolution(out, 256), target256).sum()
            ws.grad = None
            loss.backward()

        t_proj = timed(p.step, args.steps, args.warmup, device, clock)
        with PeakMemory(device) as peak_mem:  # one more step, outside the timing (CPU sampling costs a thread)
            p.step()
        peak = peak_mem.peak / 2 ** 20
        t_floor = timed(floor, args.steps, args.warmup, device, clock)
        t_loop = timed(loop, args.steps, args.warmup, device, clock)
        mem = saved_bytes(lambda: p.objective()) / 2 ** 20
        line = (f"{K:>3} {t_proj:>12.3f} {t_floor:>9.3f} {t_loop:>9.3f} {t_proj / t_floor:>10.2f}x "
                f"{t_loop / t_proj:>9.2f}x {mem:>9.0f} {peak:>8.0f}")
        if args.auto:
            t_auto, t_fixed = auto_vs_fixed(G, target, K, args, device, clock)
            line += f" {t_auto:>8.3f} {t_fixed:>8.3f} {t_auto / t_fixed:>9.2f}x"
        print(line, flush=True)


def grid_labeller(K: int):
    """Labels [K,1,s,s]: K vertical stripes, whatever the image (a stand-in for face parts on random weights)."""
    def label(image, size):
        idx = (torch.arange(size) * K // size).view(1, size).expand(size, size)
        return torch.nn.functional.one_hot(idx, K).permute(2, 0, 1).float().unsqueeze(1)
    return label


def auto_vs_fixed(G, target, K: int, args, device, clock) -> tuple[float, float]:
    """Seconds per step of the joint G^S mode and of the same K masks held fixed."""
    import tempfile

    from chunkygan.project.projector import ProjectionConfig, Projector
    from chunkygan.pipelines.auto import auto_mask_source, auto_projector
    from chunkygan.segments.head import save_head
    from chunkygan.segments.sources import FixedMasks
    from chunkygan.segments.train import auto_label, train_segment_head

    if K < 2:
        return float("nan"), float("nan")
    ts = auto_label(G, 2, 0, labeller=grid_labeller(K), names=[f"s{k}" for k in range(K)])
    head, meta = train_segment_head(G, training_set=ts, steps=3, min_share=0.0)
    with tempfile.TemporaryDirectory() as tmp:
        save_head(head, f"{tmp}/head", meta)
        src = auto_mask_source(G, f"{tmp}/head.safetensors")
    src = src.to(device)
    cfg = dict(method="chunky-w+", segments=K, steps=10 ** 6, loss_resolution=256, l2_weight=0.0)
    p_auto = auto_projector(G, target, ProjectionConfig(**cfg), source=src)
    with torch.no_grad():
        fixed = FixedMasks(src(G.resolution).detach())
    p_fixed = Projector(G, target, ProjectionConfig(**cfg), masks=fixed)
    return (timed(p_auto.step, args.steps, args.warmup, device, clock),
            timed(p_fixed.step, args.steps, args.warmup, device, clock))


if __name__ == "__main__":
    main()
