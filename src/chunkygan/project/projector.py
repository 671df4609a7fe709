"""The ChunkyGAN projector: K latent codes blended by soft masks (Eq. 1-3), optimised jointly.

One step renders all K codes in **one batched generator call** (the K codes are the batch axis),
blends them with the masks, ``O = Σ_k G(X_k)·S_k`` (Eq. 1) or, with a static mask,
``O = S^X·I + (1 − S^X)·Σ_k G(X_k)·S_k`` (Eq. 3), and takes an Adam step on

    LPIPS(I, O) + w_L2·MSE(I, O) + λ_reg·Σ_k ‖X_k − X_μ‖² (+ λ_prior·prior(X))           (Eq. 2)

over the codes and, when the mask source is learnable, its parameters (mask logits or ``X^S``).
Global projection is the same code path with K = 1 and the full mask: methods ``w``, ``w+``,
``s``, ``z`` are K = 1; ``chunky-w``, ``chunky-w+``, ``chunky-s``, ``chunky-z`` use K segments.

:class:`Projector` is stepwise and iterable (a UI drives it and shows progress);
:func:`project` runs it to the end and returns a :class:`~chunkygan.project.io.Projection`.

>>> # doctest: +SKIP
>>> p = Projector(G, target, ProjectionConfig(method="chunky-w+", segments=4, steps=300))
>>> for info in p:                      # one optimisation step per iteration
...     print(info.step, info.loss)
>>> result = p.result()                 # codes, masks, config, metrics
"""
from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import torch

from ..device import keep_cpu_memory_mapped
from ..imageio import fit_square
from ..latents import dispersion, get_space
from ..segments.fragmentation import fragmentation
from ..segments.masks import SegmentMasks
from ..segments.sources import FixedMasks, GeneratorMasks, LogitMasks, MaskSource, edge_weights, make_mask_source
from ..composite.blend import compose as blend
from .io import Projection
from .schedule import SCHEDULES, lr_factor

log = logging.getLogger(__name__)

#: Adam learning rate for the codes when none is given, per latent space.
DEFAULT_LR = {"z": 0.05, "w": 0.1, "w+": 0.1, "s": 0.05}

METHODS = ("z", "w", "w+", "s", "chunky-z", "chunky-w", "chunky-w+", "chunky-s")

#: settings measured to keep a K > 1 projection editable (docs/editing.md, "On the photos"): the Eq. 2 dispersion
#: term pulls the K codes together, the W+ layer-spread prior keeps each code near W where the directions were
#: fitted. The README's editing recipe and the editor's automatic projection use them.
EDITING_RECIPE = {"lambda_reg": 1e-4, "lambda_prior": 1e-4}


def parse_method(method: str) -> tuple[str, bool]:
    """``"chunky-w+"`` -> (``"w+"``, True); ``"w"`` -> (``"w"``, False). Unknown names list the known ones."""
    m = method.lower().replace("wplus", "w+")
    chunky = m.startswith("chunky-")
    space = m[len("chunky-"):] if chunky else m
    if space not in ("z", "w", "w+", "s"):
        raise ValueError(f"unknown projection method {method!r}; known: {', '.join(METHODS)}")
    return space, chunky


@dataclass
class ProjectionConfig:
    """Everything that defines a projection run (saved, resolved, in ``projection.safetensors``).

    Args:
        method: ``w``/``w+``/``s``/``z`` (global, K = 1) or ``chunky-<space>`` (K = ``segments``).
        segments: K for ``chunky-*`` methods (ignored, i.e. 1, for global ones).
        masks: mask source: ``auto`` (``full`` for K = 1, else ``kmeans``), ``kmeans``, ``grid``,
            ``fixed`` (user masks kept fixed), ``refine`` (user masks as the start of free logits), ``full``.
        optimise_masks: optimise free mask logits jointly with the codes (the paper's joint mode).
        mask_resolution: side of the free logit grid (None: a quarter of the image side, 4..64).
        mask_lr: Adam learning rate of the mask logits / segment latent.
        mask_temperature: softmax temperature over K.
        mask_smoothness: weight of the smoothness prior on free mask logits (total variation of the soft
            masks on the logit grid, :meth:`~chunkygan.segments.sources.LogitMasks.total_variation`); it
            removes speckled, fragmented segments; 0.02 with ``mask_edge_sigma`` 0.2 was chosen on the demo photos
            (fewer regions per segment at ≤ 5% LPIPS cost, docs/projector.md); 0 disables. Other sources ignore it.
        mask_edge_sigma: edge-aware smoothness: neighbours whose target colours differ by ≫ σ (RGB in
            [-1,1], on the logit grid) may be split at little cost (:func:`~chunkygan.segments.sources.edge_weights`);
            0: plain total variation.
        mask_sharpness: initial logit of a region's own segment (3: 87% own weight for K = 4; higher
            starts harder, lower lets segments move more).
        position_weight: k-means initialisation: weight of pixel position against colour.
        feather: Gaussian feathering (px) of fixed user masks.
        steps: optimisation steps.
        lr: Adam learning rate of the codes (None: :data:`DEFAULT_LR` for the space).
        schedule: ``rampdown`` (StyleGAN2-ADA warm-up + cosine tail), ``cosine`` or ``constant``.
        rampup, rampdown: fractions of the run for the warm-up / the cosine tail.
        loss: reconstruction loss by name in :data:`chunkygan.losses.LOSSES` (``lpips-alex``, ``lpips-vgg``, ``l2``...).
        loss_resolution: the loss (and reported metrics) see images at this size: larger images are
            downsampled (antialiased), smaller ones upsampled bilinearly (a 64 px image gives AlexNet's
            LPIPS only 15x15 first-layer features, which the optimiser games; at 256 px it does not).
            None: native resolution.
        l2_weight: weight of an extra pixel MSE term (the paper uses LPIPS alone, i.e. 0; the default 1
            keeps colours right on small generators, where LPIPS alone tolerates colour shifts).
        lambda_reg: λ_reg of Eq. 2 (dispersion of the K codes around their mean).
        lambda_prior: weight of the latent space's own prior (Z: 0.5·mean(z²); W+: the layer spread
            Σ_l ‖w_l − w̄‖² of each code, which keeps a projection editable); 0 disables.
        init: ``auto`` (``mean`` for W/W+/S; ``search`` for Z, whose mean z = 0 can be a dead point,
            e.g. all ReLUs off in the embedded DCGAN), ``mean`` (the mean latent, as in the paper),
            ``search`` (the best of ``init_samples`` seeded random codes by the loss, shared by all K
            codes) or the path of an earlier projection.
        init_samples: how many random codes ``search`` tries.
        seed: seeds the k-means initialisation and anything else random.
        noise_mode: the generator's noise mode (``const`` for reproducible projections).
        snapshots: keep this many evenly spaced intermediate reconstructions (progression strip).
    """

    method: str = "chunky-w+"
    segments: int = 4
    masks: str = "auto"
    optimise_masks: bool = True
    mask_resolution: int | None = None
    mask_lr: float = 0.1
    mask_temperature: float = 1.0
    mask_smoothness: float = 0.02
    mask_edge_sigma: float = 0.2
    mask_sharpness: float = 3.0
    position_weight: float = 1.0
    feather: float = 0.0
    steps: int = 200
    lr: float | None = None
    schedule: str = "rampdown"
    rampup: float = 0.05
    rampdown: float = 0.25
    loss: str = "lpips-alex"
    loss_resolution: int | None = 256
    l2_weight: float = 1.0
    lambda_reg: float = 0.0
    lambda_prior: float = 0.0
    init: str = "auto"
    init_samples: int = 64
    seed: int = 0
    noise_mode: str = "const"
    snapshots: int = 0

    def __post_init__(self):
        self.space, self.chunky = parse_method(self.method)
        if not self.chunky:
            self.segments = 1
        if self.segments < 1:
            raise ValueError(f"segments must be at least 1, got {self.segments}")
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; known: {', '.join(SCHEDULES)}")
        if self.lambda_reg < 0 or self.l2_weight < 0 or self.lambda_prior < 0 or self.mask_smoothness < 0:
            raise ValueError("lambda_reg, l2_weight, lambda_prior and mask_smoothness must be non-negative")

    @property
    def code_lr(self) -> float:
        return DEFAULT_LR[self.space] if self.lr is None else float(self.lr)

    @property
    def init_kind(self) -> str:
        """``mean``, ``search`` or ``file`` (``init`` is then a path)."""
        if self.init == "auto":
            return "search" if self.space == "z" else "mean"
        return self.init if self.init in ("mean", "search") else "file"

    @property
    def mask_kind(self) -> str:
        if self.masks != "auto":
            return self.masks
        return "full" if self.segments == 1 else "kmeans"

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.update(space=self.space, code_lr=self.code_lr, mask_kind=self.mask_kind, init_kind=self.init_kind)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ProjectionConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class StepInfo:
    """What one step reports: 1-based ``step``, the total ``loss`` and its terms (before the update)."""

    step: int
    steps: int
    loss: float
    reconstruction: float
    dispersion: float
    lr: float
    terms: dict = field(default_factory=dict)


class Projector:
    """Stepwise ChunkyGAN projection of one target image into a generator (Eq. 1-3).

    Args:
        G: generator (see :mod:`chunkygan.generators.base`); its device is used; weights stay frozen.
        target: ``[1,3,H,W]`` or ``[3,H,W]`` in [-1,1]; centre-cropped and resized to ``G.resolution``.
        config: :class:`ProjectionConfig` (keyword overrides are applied on top).
        masks: overrides the configured mask source: a :class:`MaskSource`, or user masks
            (:class:`SegmentMasks` / ``[K,1,H,W]``) used as ``fixed`` (default) or ``refine`` (config ``masks``).
        static_mask: ``[1,1,H,W]`` S^X of Eq. 3 (1 = keep the input pixel), resized to the resolution.
        init: an earlier :class:`Projection` (or its path) or codes ``[K,...]``; default: the mean latent.
        loss_fn: a ready loss module ``(pred, target, mask=None) -> [B]`` (default: built from ``config.loss``).
        generator_name: recorded in the result (name or checkpoint path).
    """

    def __init__(self, G, target: torch.Tensor, config: ProjectionConfig | None = None, *,
                 masks: MaskSource | SegmentMasks | torch.Tensor | None = None,
                 static_mask: torch.Tensor | None = None, init: Projection | str | Path | torch.Tensor | None = None,
                 loss_fn: Callable | None = None, generator_name: str | None = None, **overrides):
        cfg = config or ProjectionConfig()
        if overrides:
            cfg = ProjectionConfig.from_dict({**dataclasses.asdict(cfg), **overrides})
        self.config = cfg
        self.G = G
        self.space = get_space(cfg.space)
        self.space.check(G)
        self.device = _device(G)
        if self.device.type == "cpu":
            keep_cpu_memory_mapped()  # batched segments allocate >32 MiB blocks every layer
        R = int(G.resolution)
        self.resolution = R
        self.target = _prepare_target(target, R).to(self.device)
        self._loss_target = at_resolution(self.target, cfg.loss_resolution)
        self.static_mask = None if static_mask is None else _prepare_static(static_mask, R).to(self.device)
        self.generator_name = generator_name or getattr(G, "name", "")

        if isinstance(init, (str, Path)):
            init = Projection.load(init)
        if init is None and cfg.init_kind == "file":
            init = Projection.load(cfg.init)
        self.loss_fn = loss_fn if loss_fn is not None else build_loss(cfg.loss, None)
        if isinstance(self.loss_fn, torch.nn.Module):
            self.loss_fn = self.loss_fn.to(self.device).eval().requires_grad_(False)
        self.source = self._make_source(masks, init).to(self.device)
        K = self.source.num_segments
        if cfg.chunky and K != cfg.segments:
            log.info("using K = %d segments from the given masks (config said %d)", K, cfg.segments)
            self.config = cfg = dataclasses.replace(cfg, segments=K)
        elif not cfg.chunky and K != 1:
            raise ValueError(f"global method {cfg.method!r} uses one code, but the masks have {K} segments; "
                             f"use chunky-{cfg.space}")
        self.codes = torch.nn.Parameter(self._initial_codes(init, K))

        groups = [{"params": [self.codes], "lr": cfg.code_lr, "base_lr": cfg.code_lr}]
        mask_params = [p for p in self.source.parameters() if p.requires_grad] if cfg.optimise_masks else []
        if not cfg.optimise_masks:
            self.source.requires_grad_(False)
        if mask_params:
            groups.append({"params": mask_params, "lr": cfg.mask_lr, "base_lr": cfg.mask_lr})
        self.optimizer = torch.optim.Adam(groups, betas=(0.9, 0.999), eps=1e-8)
        self._tv_weights = None  # edge-aware smoothness weights, made on first use
        self.step_count = 0
        self.seconds = 0.0
        self.last_output: torch.Tensor | None = None
        self.snapshots: list[tuple[int, torch.Tensor]] = []

    # --- set-up --------------------------------------------------------------------------------
    def _make_source(self, masks, init: Projection | None) -> MaskSource:
        cfg, R = self.config, self.resolution
        if isinstance(masks, MaskSource):
            return masks
        if masks is not None:
            kind = cfg.masks if cfg.masks in ("fixed", "refine") else "fixed"
            return make_mask_source(kind, 0, R, masks=masks, resolution=cfg.mask_resolution,
                                    feather_sigma=cfg.feather, temperature=cfg.mask_temperature,
                                    sharpness=cfg.mask_sharpness)
        if isinstance(init, Projection) and init.num_segments == cfg.segments and cfg.chunky:
            # continue from the earlier projection's masks
            if "logits" in init.mask_params and cfg.mask_kind not in ("fixed", "full"):
                src = LogitMasks(init.mask_params["logits"], temperature=cfg.mask_temperature)
            elif cfg.mask_kind in ("fixed",) or not cfg.optimise_masks:
                src = FixedMasks(init.masks)
            else:
                src = LogitMasks.from_masks(init.masks, cfg.mask_resolution or _default_res(R),
                                            temperature=cfg.mask_temperature)
            return src
        if cfg.mask_kind in ("fixed", "refine"):
            raise ValueError(f"mask source {cfg.mask_kind!r} needs user masks (--masks DIR or a label image)")
        return make_mask_source(cfg.mask_kind, cfg.segments, R, target=self.target, resolution=cfg.mask_resolution,
                                seed=cfg.seed, position_weight=cfg.position_weight, temperature=cfg.mask_temperature,
                                sharpness=cfg.mask_sharpness)

    def _initial_codes(self, init, K: int) -> torch.Tensor:
        """Codes ``[K, ...]``: the mean latent (paper), or an earlier projection's codes (repeated if it had one)."""
        G = self.G
        if init is None and self.config.init_kind == "search":
            init = self.search_init()
        if init is None:
            return self.space.mean(G, K).detach().to(self.device).clone()
        if isinstance(init, Projection):
            codes, space = init.codes, init.space
        else:
            codes, space = torch.as_tensor(init), self.space.name
        codes = codes.detach().float().to(self.device)
        if space != self.space.name:
            codes = _convert_codes(G, codes, space, self.space.name)
        if codes.shape[0] == K:
            out = codes
        elif codes.shape[0] == 1:
            out = codes.repeat(K, *([1] * (codes.dim() - 1)))
        else:
            out = codes.mean(dim=0, keepdim=True).repeat(K, *([1] * (codes.dim() - 1)))
            log.info("init has %d codes, projection uses %d: starting all from their mean", codes.shape[0], K)
        want = tuple(self.space.mean(G, 1).shape[1:])
        if tuple(out.shape[1:]) != want:
            raise ValueError(f"init codes have shape {tuple(out.shape[1:])} per code; {self.space.name} space of this "
                             f"generator needs {want}")
        return out.clone()

    @torch.no_grad()
    def search_init(self, batch: int = 16) -> torch.Tensor:
        """The best of ``config.init_samples`` random codes (z ~ N(0,I) from ``config.seed``, mapped to the
        space) by the reconstruction loss against the target (Eq. 3 composite with one code): ``[1,...]``."""
        cfg, G = self.config, self.G
        gen = torch.Generator().manual_seed(cfg.seed)
        z = torch.randn(cfg.init_samples, G.z_dim, generator=gen).to(self.device)
        best, best_loss = None, float("inf")
        for chunk in z.split(batch):
            codes = chunk if self.space.name == "z" else self.space.from_ws(G, G.mapping(chunk))
            imgs = self.space.render(G, codes, noise_mode=cfg.noise_mode)
            if self.static_mask is not None:  # Eq. 3 with K = 1 for every candidate
                imgs = self.static_mask * self.target + (1 - self.static_mask) * imgs
            losses = self.loss_fn(at_resolution(imgs, cfg.loss_resolution),
                                  self._loss_target.expand(imgs.shape[0], -1, -1, -1)).flatten()
            i = int(losses.argmin())
            if float(losses[i]) < best_loss:
                best, best_loss = codes[i:i + 1].clone(), float(losses[i])
        log.info("init search: best of %d random codes has loss %.4f", cfg.init_samples, best_loss)
        return best

    # --- the optimisation ------------------------------------------------------------------------
    @property
    def num_segments(self) -> int:
        return self.codes.shape[0]

    def masks(self) -> torch.Tensor:
        """Current soft masks ``[K,1,R,R]`` (differentiable w.r.t. the mask parameters)."""
        return self.source((self.resolution, self.resolution))

    def render(self, codes: torch.Tensor | None = None) -> torch.Tensor:
        """All K codes in one batched generator call: ``[K,3,R,R]``."""
        return self.space.render(self.G, self.codes if codes is None else codes, noise_mode=self.config.noise_mode)

    def composite(self, renders: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """Eq. 1, or Eq. 3 with the static mask: ``[1,3,R,R]``."""
        return blend(renders, masks, self.static_mask, self.target)

    def objective(self, out: torch.Tensor | None = None,
                  reconstruction: torch.Tensor | None = None) -> tuple[torch.Tensor, dict, torch.Tensor]:
        """Eq. 2 at the current parameters: (total loss, its terms as tensors, the composite O).

        ``out`` (the composite ``[1,3,R,R]``) and ``reconstruction`` (its loss, a scalar) may be computed by
        the caller, e.g. for several images in one generator call (:mod:`chunkygan.batch.batched`)."""
        cfg = self.config
        if out is None:
            out = self.composite(self.render(), self.masks())
        rec = reconstruction if reconstruction is not None else \
            self.loss_fn(at_resolution(out, cfg.loss_resolution), self._loss_target).mean()
        terms = {"reconstruction": rec}
        total = rec
        if cfg.l2_weight > 0:
            terms["l2"] = (out - self.target).pow(2).mean()
            total = total + cfg.l2_weight * terms["l2"]
        disp = dispersion(self.codes) if self.num_segments > 1 else rec.new_zeros(())
        terms["dispersion"] = disp
        if cfg.lambda_reg > 0:
            total = total + cfg.lambda_reg * disp
        if cfg.lambda_prior > 0:
            terms["prior"] = self.space.prior(self.G, self.codes).sum()
            total = total + cfg.lambda_prior * terms["prior"]
        if cfg.mask_smoothness > 0 and isinstance(self.source, LogitMasks) and self.source.trainable:
            if self._tv_weights is None and cfg.mask_edge_sigma > 0:
                self._tv_weights = edge_weights(self.target, self.source.resolution, cfg.mask_edge_sigma)
            terms["mask_tv"] = self.source.total_variation(self._tv_weights)
            total = total + cfg.mask_smoothness * terms["mask_tv"]
        return total, terms, out

    @property
    def done(self) -> bool:
        return self.step_count >= self.config.steps

    def step(self, computed: tuple[torch.Tensor, dict, torch.Tensor] | None = None) -> StepInfo:
        """One Adam step on Eq. 2 (codes and learnable mask parameters); returns the pre-step losses.

        ``computed``: an :meth:`objective` result whose gradients the caller has already back-propagated
        into the parameters (several projectors sharing one generator call, :mod:`chunkygan.batch.batched`)."""
        if self.done:
            raise StopIteration(f"all {self.config.steps} steps are done")
        t0 = time.perf_counter()
        cfg = self.config
        f = lr_factor(self.step_count, cfg.steps, cfg.schedule, cfg.rampup, cfg.rampdown)
        for g in self.optimizer.param_groups:
            g["lr"] = g["base_lr"] * f
        if computed is None:
            total, terms, out = self.objective()
            self.optimizer.zero_grad(set_to_none=True)
            total.backward()
        else:
            total, terms, out = computed
        self.optimizer.step()
        self.step_count += 1
        self.last_output = out.detach()
        if cfg.snapshots > 0 and self._snapshot_due():
            self.snapshots.append((self.step_count - 1, self.last_output.cpu()))
        info = StepInfo(step=self.step_count, steps=cfg.steps, loss=float(total.detach()),
                        reconstruction=float(terms["reconstruction"].detach()),
                        dispersion=float(terms["dispersion"].detach()),
                        lr=cfg.code_lr * f, terms={k: float(v.detach()) for k, v in terms.items()})
        self.seconds += time.perf_counter() - t0
        return info

    def _snapshot_due(self) -> bool:
        n, s = self.config.snapshots, self.config.steps
        marks = {round(i * (s - 1) / max(1, n - 1)) for i in range(n)} if n > 1 else {0}
        return (self.step_count - 1) in marks

    def __iter__(self) -> Iterator[StepInfo]:
        while not self.done:
            yield self.step()

    def run(self, callback: Callable[[StepInfo], None] | None = None, checkpoint_path: str | Path | None = None,
            checkpoint_every: int = 0) -> Projection:
        """Run the remaining steps, calling ``callback(info)`` after each and saving a checkpoint every
        ``checkpoint_every`` steps to ``checkpoint_path``; returns :meth:`result` with metrics."""
        for info in self:
            if callback is not None:
                callback(info)
            if checkpoint_path and checkpoint_every > 0 and info.step % checkpoint_every == 0 and not self.done:
                self.checkpoint().save(checkpoint_path)
        return self.result(with_metrics=True)

    # --- results, checkpoints ----------------------------------------------------------------------
    @torch.no_grad()
    def output(self) -> torch.Tensor:
        """The current composite O ``[1,3,R,R]`` at the current parameters."""
        return self.composite(self.render(), self.masks()).detach()

    @torch.no_grad()
    def result(self, with_metrics: bool = False) -> Projection:
        """The current state as a :class:`Projection` (codes, masks, config, generator identity)."""
        cfg = self.config
        config = {**cfg.to_dict(), "mask_source": self.source.describe(), "resolution": self.resolution}
        proj = Projection(
            codes=self.codes.detach().clone(), space=self.space.name, masks=self.masks().detach().clone(),
            generator=str(self.generator_name), mask_source=self.source.kind,
            mask_params={k: v.detach().clone() for k, v in self.source.state().items()},
            static_mask=None if self.static_mask is None else self.static_mask.clone(),
            target=self.target.clone(), generator_meta=dict(getattr(self.G, "meta", {}) or {}),
            config=config, step=self.step_count,
        )
        if with_metrics:
            out = self.output()
            proj.metrics = {**measure(out, self.target), "seconds": round(self.seconds, 3), "steps": self.step_count,
                            "segments": self.num_segments, "method": cfg.method}
            if self.num_segments > 1:  # connected regions per segment, boundary vs a disc (segments/fragmentation.py)
                frag = fragmentation(proj.masks)
                proj.metrics["fragmentation"] = {k: v for k, v in frag.items() if k != "per_segment"}
        return proj

    def checkpoint(self) -> Projection:
        """:meth:`result` plus the optimiser state, for :meth:`resume`."""
        proj = self.result()
        state = self.optimizer.state_dict()["state"]
        for idx, st in state.items():
            for key, val in st.items():
                proj.extra[f"optim.{idx}.{key}"] = torch.as_tensor(val, dtype=torch.float32).detach().clone()
        proj.metrics = {"seconds": round(self.seconds, 3)}
        return proj

    @classmethod
    def resume(cls, G, checkpoint: Projection | str | Path, *, mask_source: MaskSource | None = None,
               loss_fn: Callable | None = None, **overrides) -> "Projector":
        """Continue a run from :meth:`checkpoint`: same config, codes, masks and optimiser state.

        ``overrides`` may change e.g. ``steps`` (to extend a finished run). Fixed-mask and free-logit
        sources are rebuilt from the file; a segment-generator source must be passed as ``mask_source``.
        """
        ck = checkpoint if isinstance(checkpoint, Projection) else Projection.load(checkpoint)
        cfg = ProjectionConfig.from_dict({**ck.config, **overrides})
        if ck.target is None:
            raise ValueError("the checkpoint has no target image; it was not written by Projector.checkpoint()")
        if mask_source is None:
            if ck.mask_source == "logits":
                mask_source = LogitMasks(ck.mask_params["logits"], temperature=cfg.mask_temperature)
            elif ck.mask_source == "generator":
                raise ValueError("this checkpoint used a segment generator; pass it as mask_source=")
            else:
                mask_source = FixedMasks(ck.masks, feather_sigma=0.0)
                mask_source.kind = ck.mask_source
        else:
            mask_source.load_state(ck.mask_params)
        p = cls(G, ck.target, cfg, masks=mask_source, static_mask=ck.static_mask, init=ck.codes,
                loss_fn=loss_fn, generator_name=ck.generator)
        optim = {}
        for key, val in ck.extra.items():
            if key.startswith("optim."):
                _, idx, name = key.split(".", 2)
                optim.setdefault(int(idx), {})[name] = val.to(p.device) if name != "step" else val.cpu()
        if optim:
            sd = p.optimizer.state_dict()
            sd["state"] = optim
            p.optimizer.load_state_dict(sd)
        p.step_count = ck.step
        p.seconds = float(ck.metrics.get("seconds", 0.0))
        return p


def project(G, target: torch.Tensor, config: ProjectionConfig | None = None, *,
            callback: Callable[[StepInfo], None] | None = None, **kwargs) -> Projection:
    """Project ``target`` into ``G`` and return the :class:`Projection` with metrics.

    ``kwargs`` are :class:`Projector` arguments (``masks``, ``static_mask``, ``init``, ``loss_fn``,
    ``generator_name``) or :class:`ProjectionConfig` fields (e.g. ``method="chunky-w+", segments=8``).
    """
    return Projector(G, target, config, **kwargs).run(callback)


# --- losses and metrics ---------------------------------------------------------------------------

def at_resolution(x: torch.Tensor, resolution: int | None) -> torch.Tensor:
    """Resize ``[B,C,H,W]`` so the longest side is ``resolution`` (bilinear up, antialiased down); None: as is."""
    if resolution is None or max(x.shape[-2:]) == resolution:
        return x
    s = resolution / max(x.shape[-2:])
    size = (max(1, round(x.shape[-2] * s)), max(1, round(x.shape[-1] * s)))
    return torch.nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=s < 1)


def build_loss(name: str, working_resolution: int | None = None):
    """A reconstruction loss module by name from :data:`chunkygan.losses.LOSSES`."""
    from ..losses import LOSSES

    factory = LOSSES.get(name)
    try:
        return factory(working_resolution=working_resolution)
    except TypeError:
        return factory()


_METRIC_LPIPS: dict = {}


def metric_lpips():
    """The LPIPS(alex, v0.1) module used for reported metrics (built once per process)."""
    if "alex" not in _METRIC_LPIPS:
        _METRIC_LPIPS["alex"] = build_loss("lpips-alex", None).eval().requires_grad_(False)
    return _METRIC_LPIPS["alex"]


@torch.no_grad()
def measure(output: torch.Tensor, target: torch.Tensor, lpips_resolution: int | None = 256) -> dict:
    """``lpips`` (alex, v0.1, images resized to ``lpips_resolution`` px) and ``l2`` (MSE of images in
    [-1,1] at their own resolution) of ``output`` vs ``target``."""
    lp = metric_lpips().to(output.device)
    a, b = at_resolution(output, lpips_resolution), at_resolution(target, lpips_resolution)
    return {"lpips": round(float(lp(a, b).mean()), 6),
            "l2": round(float((output - target).pow(2).mean()), 6)}


# --- helpers ------------------------------------------------------------------------------------------

def _device(G) -> torch.device:
    try:
        return next(G.parameters()).device
    except (StopIteration, AttributeError):
        return torch.device("cpu")


def _default_res(R: int) -> int:
    from ..segments.sources import default_mask_resolution

    return default_mask_resolution(R)


def _prepare_target(target: torch.Tensor, R: int) -> torch.Tensor:
    t = torch.as_tensor(target).float()
    if t.dim() == 3:
        t = t.unsqueeze(0)
    if t.dim() != 4 or t.shape[0] != 1 or t.shape[1] != 3:
        raise ValueError(f"target must be one RGB image [1,3,H,W] or [3,H,W] in [-1,1], got {tuple(t.shape)}")
    if t.min() < -1.01 or t.max() > 1.01:
        raise ValueError(f"target values must be in [-1,1] (got {float(t.min()):.2f}..{float(t.max()):.2f}); "
                         "load images with chunkygan.imageio.load_image")
    return fit_square(t, R, name="target")


def _prepare_static(sx: torch.Tensor, R: int) -> torch.Tensor:
    from ..segments.masks import fit

    t = torch.as_tensor(sx).float()
    while t.dim() < 4:
        t = t.unsqueeze(0)
    if t.shape[:2] != (1, 1):
        raise ValueError(f"static mask must be [1,1,H,W], got {tuple(t.shape)}")
    return fit(t, R, renormalise=False).clamp(0, 1)


def _convert_codes(G, codes: torch.Tensor, src: str, dst: str) -> torch.Tensor:
    """Codes from one space into another via W+ (z -> w+ through the mapping; w -> w+ by broadcasting)."""
    if src == "z":
        with torch.no_grad():
            ws = G.mapping(codes)
    elif src == "w":
        ws = codes.unsqueeze(1).expand(-1, G.num_ws, -1)
    elif src == "w+":
        ws = codes
    else:
        raise ValueError(f"cannot start a {dst} projection from {src} codes; project in {src} space or from the mean")
    return get_space(dst).from_ws(G, ws)


__all__ = ["Projector", "ProjectionConfig", "StepInfo", "project", "parse_method", "METHODS", "DEFAULT_LR",
           "build_loss", "measure"]
