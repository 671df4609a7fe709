"""StyleGAN2 generator speed and memory: forward and forward+backward per batch size and resolution.

Measures ``G.synthesis(ws)`` (the call a projector makes; grads w.r.t. ``ws`` only, weights frozen)
with FFHQ config-F channel sizes and random weights, for both modulated-convolution strategies:

* ``fused``   per-sample weights + one grouped convolution (NVIDIA's inference default),
* ``unfused`` activations scaled by the styles + one ordinary convolution shared by the batch,
* ``auto``    what ``StyleGAN2Generator`` picks (fused for a batch of 1, unfused otherwise).

It also prints, per resolution, the ratio "one batched call of K codes / K separate calls" (below 1
means batching the K segment codes pays). Peak memory is ``torch.cuda.max_memory_allocated`` on CUDA and
on CPU the sampled peak of glibc's malloc in-use bytes (``mallinfo2``) above the level before the call.

Usage::

    python benchmarks/generator.py                       # 64 and 256 on CPU, 1 thread (and CUDA if present)
    python benchmarks/generator.py --res 64 256 1024 --batch 1 4 8 --device cuda
"""
from __future__ import annotations

import argparse
import ctypes
import gc
import os
import threading
import time

import torch

from chunkygan.device import keep_cpu_memory_mapped
from chunkygan.generators.stylegan2 import StyleGAN2Generator

CONFIGS = {  # resolution -> channel_base of the official FFHQ models (config F)
    64: 16384,  # same width schedule as stylegan2-ffhq-256 (256 ch at 64x64)
    256: 16384,  # stylegan2-ada-pytorch "paper256" / stylegan2-ffhq-256x256
    512: 32768,
    1024: 32768,  # stylegan2-ffhq-1024x1024 (config F)
}


def build(res: int) -> StyleGAN2Generator:
    torch.manual_seed(0)
    G = StyleGAN2Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=res, img_channels=3,
                           mapping_kwargs={"num_layers": 8},
                           synthesis_kwargs={"channel_base": CONFIGS.get(res, 32768), "channel_max": 512,
                                             "num_fp16_res": 4, "conv_clamp": 256})
    return G.eval().requires_grad_(False)


class _MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]


def _heap_in_use_fn():
    """Bytes currently allocated through malloc (glibc ``mallinfo2``), or the process RSS as a fallback."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2

        def in_use() -> int:
            m = libc.mallinfo2()
            return m.uordblks + m.hblkhd
        return in_use, "malloc in-use bytes"
    except (OSError, AttributeError):
        def rss() -> int:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        return rss, "process RSS"


class PeakMemory:
    """Peak extra memory (bytes) during a ``with`` block: the CUDA allocator's peak, or on CPU the
    sampled (every ~1 ms) peak of malloc's in-use bytes above the level at entry."""

    _fn, source = _heap_in_use_fn()
    in_use = staticmethod(_fn)

    def __init__(self, device: torch.device):
        self.device, self.peak = device, 0

    def __enter__(self):
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
        else:
            self.base = self.top = self.in_use()
            self.stop = threading.Event()
            self.thread = threading.Thread(target=self._sample, daemon=True)
            self.thread.start()
        return self

    def _sample(self):
        while not self.stop.is_set():
            self.top = max(self.top, self.in_use())
            time.sleep(0.001)

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated() - self.base
        else:
            self.stop.set()
            self.thread.join()
            self.peak = max(self.top, self.in_use()) - self.base
        return False


def timed(fn, device, repeats: int, warmup: int) -> tuple[float, int]:
    """Median time (s) of ``fn()`` over ``repeats`` runs after ``warmup`` runs, and the peak memory (bytes).

    CUDA: wall time between synchronisations. CPU: process CPU time (all threads), which unlike wall time
    stays meaningful on a machine shared with other jobs; ``--threads 1`` gives the steadiest numbers.
    """
    for _ in range(warmup):
        fn()
    clock = time.perf_counter if device.type == "cuda" else time.process_time
    times, peak = [], 0
    for _ in range(repeats):
        with PeakMemory(device) as mem:
            t = clock()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(clock() - t)
        peak = max(peak, mem.peak)
    return sorted(times)[len(times) // 2], peak


def bench_case(G, ws, mode: str, device, repeats: int, warmup: int):
    fused = {"fused": True, "unfused": False, "auto": None}[mode]

    def fwd():
        with torch.no_grad():
            return G.synthesis(ws, fused_modconv=fused)

    def fwd_bwd():
        x = ws.detach().requires_grad_(True)
        G.synthesis(x, fused_modconv=fused).square().mean().backward()
        return x.grad

    t_f, m_f = timed(fwd, device, repeats, warmup)
    t_fb, m_fb = timed(fwd_bwd, device, repeats, warmup)
    return t_f, t_fb, m_f, m_fb


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--res", type=int, nargs="+", default=[64, 256], help="resolutions (64 256 512 1024)")
    p.add_argument("--batch", type=int, nargs="+", default=[1, 4, 8], help="batch sizes (K segment codes)")
    p.add_argument("--modes", nargs="+", default=["fused", "unfused"], choices=["fused", "unfused", "auto"])
    p.add_argument("--device", nargs="+", default=None, help="cpu and/or cuda (default: cpu, plus cuda if present)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per case (median)")
    p.add_argument("--warmup", type=int, default=1, help="untimed runs before each case")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: steady CPU-time numbers)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    kept = keep_cpu_memory_mapped()  # as the projector and CLI do on CPU (see chunkygan.device)
    devices = args.device or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    print(f"torch {torch.__version__}, CPU threads {torch.get_num_threads()}, CPU memory: {PeakMemory.source}, "
          f"large blocks kept in the heap: {kept}")
    for dev_name in devices:
        device = torch.device(dev_name)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise SystemExit("--device cuda asked for, but torch sees no CUDA device")
        label = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
        clock = "wall ms" if device.type == "cuda" else f"CPU ms ({torch.get_num_threads()} thread(s))"
        print(f"\n## {label}: times are {clock}, median of {args.repeats} after {args.warmup} warm-up run(s)\n")
        print("| res | batch | modconv | fwd ms | fwd ms/img | fwd+bwd ms | fwd+bwd ms/img | peak MB fwd | peak MB fwd+bwd |")
        print("|---:|---:|---|---:|---:|---:|---:|---:|---:|")
        ratios = []
        for res in args.res:
            G = build(res).to(device)
            results = {}
            for batch in args.batch:
                ws = G.mapping(torch.randn(batch, 512, generator=torch.Generator().manual_seed(batch)).to(device))
                for mode in args.modes:
                    t_f, t_fb, m_f, m_fb = bench_case(G, ws, mode, device, args.repeats, args.warmup)
                    results[(batch, mode)] = (t_f, t_fb)
                    print(f"| {res} | {batch} | {mode} | {t_f * 1e3:.0f} | {t_f * 1e3 / batch:.0f} | {t_fb * 1e3:.0f} | "
                          f"{t_fb * 1e3 / batch:.0f} | {m_f / 2**20:.0f} | {m_fb / 2**20:.0f} |", flush=True)
            for batch in args.batch:
                if batch == 1 or 1 not in args.batch:
                    continue
                one = {m: results[(1, m)] for m in args.modes}
                best_single = min(one.values(), key=lambda t: t[1])  # K separate calls, each in its best mode
                for mode in args.modes:
                    t_f, t_fb = results[(batch, mode)]
                    ratios.append((res, batch, mode, t_f / (batch * best_single[0]), t_fb / (batch * best_single[1])))
            del G
        if ratios:
            print("\nOne batched call of K codes / K separate batch-1 calls (each in its fastest mode); < 1 = batching pays:\n")
            print("| res | K | batched modconv | ratio fwd | ratio fwd+bwd |")
            print("|---:|---:|---|---:|---:|")
            for res, k, mode, rf, rfb in ratios:
                print(f"| {res} | {k} | {mode} | {rf:.2f} | {rfb:.2f} |")


if __name__ == "__main__":
    main()
