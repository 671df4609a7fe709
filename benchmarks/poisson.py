"""Poisson blending time at 1024×1024 (Sec. 5 / Pérez et al.): one sparse LU for all three channels.

Run: ``.venv/bin/python benchmarks/poisson.py [--size 1024]``. Prints the time for a region
covering about 40 % and about 10 % of the image (a face segment is usually smaller).
"""
from __future__ import annotations

import argparse
import time

import torch

from chunkygan.composite import poisson_blend


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    n = a.size
    g = torch.Generator().manual_seed(0)
    target = torch.rand(1, 3, n, n, generator=g) * 2 - 1
    source = (target + 0.2 * torch.randn(1, 3, n, n, generator=g) + 0.3).clamp(-1, 1)
    yy, xx = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    for frac in (0.4, 0.1):
        r = (frac * n * n / 3.14159) ** 0.5
        mask = (((yy - n / 2) ** 2 + (xx - n / 2) ** 2) < r * r).float().view(1, 1, n, n)
        times = []
        for _ in range(a.repeats):
            t = time.perf_counter()
            poisson_blend(source, target, mask)
            times.append(time.perf_counter() - t)
        print(f"{n}x{n}, region {int(mask.sum())} px ({mask.mean().item():.0%}): "
              f"best of {a.repeats}: {min(times):.2f} s")


if __name__ == "__main__":
    main()
