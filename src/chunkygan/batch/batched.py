"""Several images in one generator call: B projectors × K segments rendered as one batch of B·K codes.

Each image keeps its own :class:`~chunkygan.project.projector.Projector` (codes, masks, Adam state,
schedule); only the expensive parts run batched. One step renders all B·K codes in one generator
call, blends each image's K renders with its masks (Eq. 1/3), evaluates the reconstruction loss of
all B composites in one call, adds each image's own Eq. 2 terms and back-propagates the *sum* of the
B objectives once. The images share no parameters, so the gradient that reaches image i is exactly
the gradient of its own objective, and every projector then takes its own Adam step: the result is
the same optimisation as B separate runs, up to floating-point summation order.
"""
from __future__ import annotations

import time

import torch

from ..project.projector import Projector, StepInfo, at_resolution


def check_batchable(projectors: list[Projector]) -> None:
    """All projectors must share the generator, the latent space, the loss module and its resolution."""
    p0 = projectors[0]
    for p in projectors[1:]:
        if p.G is not p0.G or p.space.name != p0.space.name or p.loss_fn is not p0.loss_fn \
                or p.config.loss_resolution != p0.config.loss_resolution or p.config.noise_mode != p0.config.noise_mode:
            raise ValueError("batched projection needs one generator, latent space, loss module and loss resolution "
                             "for every image; pass the same loss_fn= to each Projector")


def batched_step(projectors: list[Projector]) -> list[StepInfo]:
    """One Adam step of every projector, with one generator call on the concatenated ``[B·K, ...]`` codes
    and one loss call on the ``[B,3,R,R]`` composites; returns each projector's :class:`StepInfo`."""
    check_batchable(projectors)
    t0 = time.perf_counter()
    p0 = projectors[0]
    codes = torch.cat([p.codes for p in projectors])                          # [B·K, ...]
    renders = p0.space.render(p0.G, codes, noise_mode=p0.config.noise_mode)  # [B·K,3,R,R]
    outs = [p.composite(r, p.masks()) for p, r in
            zip(projectors, renders.split([p.num_segments for p in projectors]))]  # B x [1,3,R,R]
    res = p0.config.loss_resolution
    pred = torch.cat([at_resolution(o, res) for o in outs])
    target = torch.cat([p._loss_target for p in projectors])
    rec = p0.loss_fn(pred, target).reshape(len(projectors), -1).mean(dim=1)  # [B]
    computed = [p.objective(out=o, reconstruction=rec[i]) for i, (p, o) in enumerate(zip(projectors, outs))]
    for p in projectors:
        p.optimizer.zero_grad(set_to_none=True)
    torch.stack([c[0] for c in computed]).sum().backward()
    shared = (time.perf_counter() - t0) / len(projectors)
    infos = []
    for p, c in zip(projectors, computed):
        infos.append(p.step(computed=c))
        p.seconds += shared
    return infos


def run_batched(projectors: list[Projector], callback=None) -> None:
    """Step all projectors (same number of steps) to the end; ``callback(infos)`` after each step."""
    steps = {p.config.steps - p.step_count for p in projectors}
    if len(steps) != 1:
        raise ValueError("batched projectors must have the same number of steps left")
    while not projectors[0].done:
        infos = batched_step(projectors)
        if callback is not None:
            callback(infos)


__all__ = ["batched_step", "run_batched", "check_batchable"]
