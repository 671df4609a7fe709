"""LPIPS speed: forward+backward (gradient w.r.t. the prediction, weights frozen) per net, size, batch.

For each net (alex, vgg), input size (256, 1024) and batch (1, 8) it times ``LPIPS(pred, target)``
followed by ``backward()``, twice:

* ``native``  at the input size (``working_resolution=None``), what the metric costs at full size;
* ``wr256``   with the default working resolution 256 (inputs area-downsampled first), what the
  projector pays per step.

and prints, from the same run, the ratios "batch 8 / (8 x batch 1)" (below 1: batching segments pays)
and "1024 native / 1024 at wr256". Times are the median of ``--repeats`` runs after one warm-up.

Usage::

    python benchmarks/losses.py                          # CPU (and CUDA if present), alex and vgg
    python benchmarks/losses.py --device cuda --repeats 10
    python benchmarks/losses.py --nets alex --sizes 256  # quick
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from chunkygan.losses.lpips import LPIPS


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def time_fwd_bwd(model: LPIPS, size: int, batch: int, dev: torch.device, repeats: int) -> float:
    g = torch.Generator().manual_seed(0)
    pred = (torch.rand(batch, 3, size, size, generator=g) * 2 - 1).to(dev)
    target = (torch.rand(batch, 3, size, size, generator=g) * 2 - 1).to(dev)
    times = []
    for i in range(repeats + 1):
        x = pred.clone().requires_grad_(True)
        _sync(dev)
        t = time.perf_counter()
        model(x, target).sum().backward()
        _sync(dev)
        if i:  # the first run is a warm-up
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", nargs="*", default=None, help="cpu, cuda (default: cpu and cuda if present)")
    ap.add_argument("--nets", nargs="*", default=["alex", "vgg"])
    ap.add_argument("--sizes", nargs="*", type=int, default=[256, 1024])
    ap.add_argument("--batch", nargs="*", type=int, default=[1, 8])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    devices = args.device or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    for name in devices:
        dev = torch.device(name)
        label = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU"
        for net in args.nets:
            res: dict[tuple, float] = {}
            for mode, wr in (("native", None), ("wr256", 256)):
                model = LPIPS(net, working_resolution=wr).to(dev)
                for size in args.sizes:
                    if mode == "wr256" and size <= 256:
                        continue  # identical to native
                    for b in args.batch:
                        t = time_fwd_bwd(model, size, b, dev, args.repeats)
                        res[(mode, size, b)] = t
                        print(f"{label:>24} {net:>4} {mode:>6} {size:>5}px batch {b:>2}: "
                              f"{t * 1000:9.1f} ms fwd+bwd  ({t / b * 1000:8.1f} ms/image)", flush=True)
            for (mode, size, b), t in sorted(res.items()):
                if b > 1 and (mode, size, 1) in res:
                    print(f"{label:>24} {net:>4} {mode:>6} {size:>5}px: batch {b} / ({b} x batch 1) = "
                          f"{t / (b * res[(mode, size, 1)]):.2f}")
            for b in args.batch:
                if ("native", 1024, b) in res and ("wr256", 1024, b) in res:
                    print(f"{label:>24} {net:>4} 1024px batch {b}: native / wr256 = "
                          f"{res[('native', 1024, b)] / res[('wr256', 1024, b)]:.1f}")


if __name__ == "__main__":
    main()
