"""Pivotal tuning per segment (ChunkyGAN + PTI; beyond the paper, cf. its Fig. 7 and Sec. 5).

After a projection has found its K pivot codes ``X_k`` and masks ``S_k``, the generator's weights θ
are fine-tuned so that the composite matches the photo better (Roich et al., *Pivotal Tuning for
Latent-based Editing of Real Images*), with the projector's own objective and masks:

    min_Δ  LPIPS(I, O) + w_L2·MSE(I, O) + λ_loc·L_loc,    O = Σ_k G_{θ+Δ_k}(X_k)·S_k       (Eq. 1/3 + PTI)

Two designs (``mode``):

* ``shared``: one delta Δ for all segments (one batched render of the K pivots per step; the masks
  decide where each pivot has to match);
* ``per-segment``: one delta Δ_k per segment (K renders per step; editing segment k only sees Δ_k).

``L_loc`` is PTI's locality regulariser: codes on the segment between each pivot and a random code
of the same space are rendered by the tuned and by the original generator, and their LPIPS + L2
difference is penalised, so the generator stays as it was away from the pivots.

The generator itself is never modified: the base weights are shared and every render passes
``θ + Δ`` for the tuned tensors only (``torch.func.functional_call``), so a tuned render needs one
extra copy of the tuned tensors at a time, whatever K is. The delta is stored compactly
(:meth:`WeightDelta.save`, ``pti_delta.safetensors`` beside ``projection.safetensors``) in float16
when that does not change the reconstruction by more than ``fp16_tolerance``; the rounded delta is
the one used from then on, at save time and at render time, so a loaded delta reproduces the
reconstruction bit for bit. A delta is tied to the base generator's weight fingerprint.

>>> # doctest: +SKIP
>>> proj = project(G, photo, method="chunky-w+", segments=4, steps=200)
>>> delta = tune(G, proj, PTIConfig(steps=100, target_lpips=0.05))
>>> delta.save(folder / "pti_delta.safetensors")
>>> img = tuned_composite(G, proj, delta)           # [1,3,R,R]
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch import nn

from ..composite.blend import compose as blend
from ..fileio import atomic_path
from ..latents import get_space
from .io import Projection

log = logging.getLogger(__name__)

FORMAT = "chunkygan.pti_delta/1"
#: the delta's file name beside ``projection.safetensors``
DELTA_FILE = "pti_delta.safetensors"
MODES = ("shared", "per-segment")


class DeltaMismatchError(ValueError):
    """A tuned-weight delta does not belong to this generator or projection; the message says which."""


def generator_fingerprint(G) -> str:
    """The base generator's weight fingerprint (the same as segment heads use)."""
    from ..segments.head import generator_fingerprint as fp

    return fp(G)


@dataclass
class PTIConfig:
    """Pivotal tuning settings (PTI's defaults where they fit a 64-px generator).

    Args:
        steps: the most tuning steps (PTI: 350).
        lr: Adam learning rate of the weights (PTI: 3e-4).
        target_lpips: stop as soon as the composite's LPIPS (alex, the projector's metric) is at most
            this (PTI: 0.06); None: run all steps.
        locality: weight λ_loc of the locality regulariser (0: off; PTI uses it for edited generators).
        locality_samples: random codes per step (per segment in ``per-segment`` mode).
        mode: ``shared`` (one delta) or ``per-segment`` (one delta per segment).
        tune: which tensors: ``synthesis`` (all synthesis-network parameters; the whole generator when
            it has no separate synthesis network) or ``all`` (mapping too; only Z-space codes use it).
        fp16_tolerance: largest change of any reconstruction pixel (in [-1,1]) that storing the delta
            in float16 may cause; above it the delta is kept in float32.
        seed: seeds the locality samples.
    """

    steps: int = 100
    lr: float = 3e-4
    target_lpips: float | None = None
    locality: float = 0.0
    locality_samples: int = 1
    mode: str = "shared"
    tune: str = "synthesis"
    fp16_tolerance: float = 1.0 / 255
    seed: int = 0

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"unknown PTI mode {self.mode!r}; use one of {', '.join(MODES)}")
        if self.tune not in ("synthesis", "all"):
            raise ValueError(f"PTI tune must be 'synthesis' or 'all', not {self.tune!r}")
        if self.steps < 1:
            raise ValueError(f"PTI needs at least one step, got {self.steps}")
        if self.lr <= 0 or self.locality < 0:
            raise ValueError("the PTI learning rate must be positive and the locality weight non-negative")


@dataclass
class WeightDelta:
    """Tuned weights as differences to a base generator: ``θ_k = θ + Δ_k``.

    Attributes:
        tensors: one dict ``name -> Δ`` per delta (1 in ``shared`` mode, K in ``per-segment`` mode);
            float16 or float32, applied as ``θ + Δ.float()``.
        mode: ``shared`` or ``per-segment``.
        generator: the base generator's name; ``fingerprint``: its weight fingerprint.
        meta: the PTI config and metrics (JSON-serialisable).
    """

    tensors: list[dict[str, torch.Tensor]]
    mode: str
    generator: str
    fingerprint: str
    meta: dict = field(default_factory=dict)

    @property
    def num_deltas(self) -> int:
        return len(self.tensors)

    def for_segment(self, k: int) -> dict[str, torch.Tensor]:
        """The delta segment ``k`` renders with (the shared one in ``shared`` mode)."""
        return self.tensors[0] if self.mode == "shared" else self.tensors[k]

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for d in self.tensors for t in d.values())

    def check(self, G, num_segments: int | None = None, path: str | os.PathLike = "the PTI delta") -> None:
        """Refuse a delta made for another generator (or, per segment, for another K)."""
        fp = generator_fingerprint(G)
        if fp != self.fingerprint:
            raise DeltaMismatchError(
                f"{path} was tuned from generator {self.generator!r} (weights {self.fingerprint}), not from "
                f"{getattr(G, 'name', '?')!r} (weights {fp}); use that generator or tune again (--pti)")
        if self.mode == "per-segment" and num_segments is not None and num_segments != self.num_deltas:
            raise DeltaMismatchError(f"{path} holds {self.num_deltas} per-segment deltas but the projection has "
                                     f"{num_segments} segments; tune this projection again")

    def save(self, path: str | os.PathLike) -> Path:
        """Write the delta atomically (safetensors: ``d<k>.<param name>`` plus JSON metadata)."""
        from safetensors.torch import save_file

        tensors = {f"d{k}.{n}": t.detach().cpu().contiguous() for k, d in enumerate(self.tensors) for n, t in d.items()}
        meta = {"format": FORMAT, "mode": self.mode, "generator": self.generator, "fingerprint": self.fingerprint,
                "deltas": str(self.num_deltas), "meta": json.dumps(self.meta, default=str)}
        p = Path(path)
        with atomic_path(p) as tmp:
            save_file(tensors, str(tmp), metadata=meta)
        return p

    @classmethod
    def load(cls, path: str | os.PathLike, G=None, num_segments: int | None = None) -> "WeightDelta":
        """Read a delta (checked against ``G``'s fingerprint and the projection's K when given)."""
        from safetensors import safe_open

        p = Path(path)
        if not p.is_file():
            raise DeltaMismatchError(f"{p}: no such PTI delta file")
        try:
            with safe_open(str(p), framework="pt", device="cpu") as f:
                meta = f.metadata() or {}
                raw = {k: f.get_tensor(k) for k in f.keys()}
        except Exception as e:  # safetensors' own error types for damaged headers
            raise DeltaMismatchError(f"{p}: not a readable safetensors file ({e})") from None
        if meta.get("format") != FORMAT:
            raise DeltaMismatchError(f"{p}: format {meta.get('format')!r} is not {FORMAT!r}; not a PTI delta")
        tensors: list[dict[str, torch.Tensor]] = [{} for _ in range(int(meta["deltas"]))]
        for key, t in raw.items():
            k, name = key.split(".", 1)
            tensors[int(k[1:])][name] = t
        delta = cls(tensors=tensors, mode=meta["mode"], generator=meta.get("generator", ""),
                    fingerprint=meta.get("fingerprint", ""), meta=json.loads(meta.get("meta", "{}")))
        if G is not None:
            delta.check(G, num_segments, p)
        return delta


# --- rendering with base weights + delta (no copy of the generator) -------------------------------------

class _Renderer(nn.Module):
    """``codes -> space.render(G, codes)`` as a module, so ``functional_call`` can swap G's tensors."""

    def __init__(self, G, space: str, noise_mode: str):
        super().__init__()
        self.G = G
        self.space = get_space(space)
        self.noise_mode = noise_mode

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        return self.space.render(self.G, codes, noise_mode=self.noise_mode)


def _tuned_params(G, delta: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``{"G.<name>": θ + Δ}`` for the tuned tensors only (all others stay G's own, shared)."""
    params = dict(G.named_parameters())
    return {f"G.{n}": params[n] + d.to(params[n].device, torch.float32) for n, d in delta.items()}


def render_with(G, delta: dict[str, torch.Tensor] | None, codes: torch.Tensor, space: str,
                noise_mode: str = "const") -> torch.Tensor:
    """``G_{θ+Δ}(codes)``: ``[N,3,R,R]`` for ``codes`` ``[N,...]`` in ``space`` (differentiable in Δ)."""
    r = _Renderer(G, space, noise_mode)
    if not delta:
        return r(codes)
    return torch.func.functional_call(r, _tuned_params(G, delta), (codes,), strict=False)


@torch.no_grad()
def tuned_renders(G, proj: Projection, delta: WeightDelta, codes: torch.Tensor | None = None,
                  segments: list[int] | None = None) -> torch.Tensor:
    """Each segment's render with its tuned weights: ``[N,3,R,R]``.

    ``codes`` ``[N,...]`` (default: the projection's K codes) belong to ``segments`` (default 0..N-1);
    in ``shared`` mode they are rendered in one batch, per segment one call per code.
    """
    c = (proj.codes if codes is None else codes).to(_device(G))
    seg = list(range(c.shape[0])) if segments is None else list(segments)
    noise = str(proj.config.get("noise_mode", "const"))
    if delta.mode == "shared":
        return render_with(G, delta.tensors[0], c, proj.space, noise)
    return torch.cat([render_with(G, delta.for_segment(k), c[i:i + 1], proj.space, noise) for i, k in enumerate(seg)])


@torch.no_grad()
def tuned_composite(G, proj: Projection, delta: WeightDelta, codes: torch.Tensor | None = None) -> torch.Tensor:
    """The tuned reconstruction O (Eq. 1 / Eq. 3 with every segment's tuned weights): ``[1,3,R,R]``."""
    r = tuned_renders(G, proj, delta, codes)
    return _compose(r, proj)


@torch.no_grad()
def tuned_edited_composite(G, original: Projection, edited: Projection, delta: WeightDelta,
                           base_renders: torch.Tensor | None = None) -> torch.Tensor:
    """Like :func:`chunkygan.edit.apply.edited_composite`, with tuned weights: only the segments whose codes
    changed are re-rendered (each with its own delta), so pixels outside them keep their values bit for bit."""
    r = tuned_renders(G, original, delta) if base_renders is None else base_renders
    changed = [k for k in range(edited.codes.shape[0]) if not torch.equal(edited.codes[k], original.codes[k])]
    if changed:
        r = r.clone()
        r[changed] = tuned_renders(G, edited, delta, edited.codes[changed], segments=changed)
    return _compose(r, edited)


def _compose(renders: torch.Tensor, proj: Projection) -> torch.Tensor:
    m = proj.masks.to(renders)
    if m.shape[-2:] != renders.shape[-2:]:
        from ..segments.masks import resize

        m = resize(m, tuple(renders.shape[-2:]))
    sx = None if proj.static_mask is None else proj.static_mask.to(renders)
    tg = None if proj.target is None else proj.target.to(renders)
    return blend(renders, m, sx, tg if sx is not None else None)


# --- the tuning ------------------------------------------------------------------------------------------

@dataclass
class TuneStep:
    """What one tuning step reports (before its update): LPIPS of the composite (None when the loss is not
    the LPIPS metric and no target is set), total loss, locality term."""

    step: int
    steps: int
    lpips: float | None
    loss: float
    locality: float


class PivotalTuner:
    """Stepwise pivotal tuning of ``G`` around a projection's K pivots (see the module docstring).

    Args:
        G: the base generator (its weights stay untouched).
        proj: a :class:`Projection` with its ``target`` (as written by the projector).
        config: :class:`PTIConfig`.
        loss_fn: the reconstruction loss (default: the projection's own, from its config).
    """

    def __init__(self, G, proj: Projection, config: PTIConfig | None = None, loss_fn: Callable | None = None):
        from .projector import at_resolution, build_loss

        self.config = cfg = config or PTIConfig()
        if proj.target is None:
            raise ValueError("pivotal tuning needs the projection's target image; this projection file has none "
                             "(project again with `chunkygan project`)")
        self.G, self.proj = G, proj
        self.device = _device(G)
        self.space = proj.space
        pc = proj.config
        self.noise_mode = str(pc.get("noise_mode", "const"))
        self.loss_resolution = pc.get("loss_resolution", 256)
        self.l2_weight = float(pc.get("l2_weight", 1.0))
        self.loss_name = str(pc.get("loss", "lpips-alex"))
        self.loss_fn = loss_fn if loss_fn is not None else build_loss(self.loss_name, None)
        if isinstance(self.loss_fn, nn.Module):
            self.loss_fn = self.loss_fn.to(self.device).eval().requires_grad_(False)
        self._at = at_resolution
        self.codes = proj.codes.detach().to(self.device)
        self.masks = proj.masks.detach().to(self.device)
        self.target = proj.target.detach().to(self.device)
        self.static_mask = None if proj.static_mask is None else proj.static_mask.to(self.device)
        self._loss_target = at_resolution(self.target, self.loss_resolution)
        # the loss IS the metric when it is LPIPS(alex) at the metric's 256 px: early stopping reads it for free
        self._loss_is_metric = self.loss_name == "lpips-alex" and self.loss_resolution == 256
        K = self.codes.shape[0]
        names = self._tuned_names()
        n = 1 if cfg.mode == "shared" else K
        params = dict(G.named_parameters())
        self.deltas = [{name: torch.zeros_like(params[name], dtype=torch.float32, requires_grad=True)
                        for name in names} for _ in range(n)]
        self.optimizer = torch.optim.Adam([t for d in self.deltas for t in d.values()], lr=cfg.lr)
        self._gen = torch.Generator().manual_seed(cfg.seed)
        self.step_count = 0
        self.stopped_early = False
        self.seconds = 0.0
        self.lpips_start: float | None = None
        self.last_lpips: float | None = None

    def _tuned_names(self) -> list[str]:
        names = [n for n, _ in self.G.named_parameters()]
        if self.config.tune == "synthesis" and hasattr(self.G, "synthesis"):
            names = [n for n in names if n.startswith("synthesis.")]
        if not names:
            raise ValueError(f"generator {getattr(self.G, 'name', '?')!r} has no parameters to tune")
        return names

    # -- objective ---------------------------------------------------------------------------------------
    def renders(self) -> torch.Tensor:
        """The K pivots rendered with their current (float32) deltas: ``[K,3,R,R]``."""
        if self.config.mode == "shared":
            return render_with(self.G, self.deltas[0], self.codes, self.space, self.noise_mode)
        return torch.cat([render_with(self.G, self.deltas[k], self.codes[k:k + 1], self.space, self.noise_mode)
                          for k in range(self.codes.shape[0])])

    def locality_term(self) -> torch.Tensor:
        """PTI's regulariser: LPIPS + L2 between tuned and original renders of codes interpolated from each
        pivot towards a random code (uniform fraction), summed over the deltas."""
        total = self.codes.new_zeros(())
        cfg = self.config
        K = self.codes.shape[0]
        for d, delta in enumerate(self.deltas):
            pivots = self.codes if cfg.mode == "shared" else self.codes[d:d + 1]
            idx = torch.randint(pivots.shape[0], (cfg.locality_samples,), generator=self._gen)
            piv = pivots[idx]
            rand = self.random_codes(cfg.locality_samples)
            t = torch.rand(cfg.locality_samples, generator=self._gen).to(piv).view(-1, *([1] * (piv.dim() - 1)))
            codes = piv + t * (rand - piv)
            with torch.no_grad():
                ref = render_with(self.G, None, codes, self.space, self.noise_mode)
            out = render_with(self.G, delta, codes, self.space, self.noise_mode)
            lp = self.loss_fn(self._at(out, self.loss_resolution), self._at(ref, self.loss_resolution)).mean()
            total = total + lp + (out - ref).pow(2).mean()
        return total / (1 if cfg.mode == "shared" else K)

    @torch.no_grad()
    def random_codes(self, n: int) -> torch.Tensor:
        """``n`` random codes of the projection's space (z ~ N(0,I), mapped): ``[n,...]``."""
        z = torch.randn(n, self.G.z_dim, generator=self._gen).to(self.device)
        if self.space == "z":
            return z
        return get_space(self.space).from_ws(self.G, self.G.mapping(z))

    def objective(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(total loss, reconstruction loss, locality term, composite O ``[1,3,R,R]``)."""
        out = blend(self.renders(), self.masks, self.static_mask, self.target if self.static_mask is not None else None)
        rec = self.loss_fn(self._at(out, self.loss_resolution), self._loss_target).mean()
        total = rec
        if self.l2_weight > 0:
            total = total + self.l2_weight * (out - self.target).pow(2).mean()
        loc = rec.new_zeros(())
        if self.config.locality > 0:
            loc = self.locality_term()
            total = total + self.config.locality * loc
        return total, rec, loc, out

    # -- steps -------------------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self.stopped_early or self.step_count >= self.config.steps

    def step(self) -> TuneStep:
        """One Adam step on the deltas; stops (no update) once the LPIPS reaches ``target_lpips``."""
        if self.done:
            raise StopIteration("pivotal tuning is done")
        from .projector import measure

        t0 = time.perf_counter()
        total, rec, loc, out = self.objective()
        target = self.config.target_lpips
        lp = None  # the metric costs an extra LPIPS at 256 px unless the loss is that metric: only when needed
        if self._loss_is_metric:
            lp = float(rec.detach())
        elif target is not None:
            lp = measure(out.detach(), self.target)["lpips"]
        if self.lpips_start is None:
            self.lpips_start = lp
        self.last_lpips = lp
        if target is not None and lp <= target:
            self.stopped_early = True
            log.info("PTI: LPIPS %.4f reached the target %.4f after %d steps", lp, target, self.step_count)
        else:
            self.optimizer.zero_grad(set_to_none=True)
            total.backward()
            self.optimizer.step()
            self.step_count += 1
        self.seconds += time.perf_counter() - t0
        return TuneStep(step=self.step_count, steps=self.config.steps, lpips=lp, loss=float(total.detach()),
                        locality=float(loc.detach()))

    def __iter__(self) -> Iterator[TuneStep]:
        while not self.done:
            yield self.step()

    def run(self, callback: Callable[[TuneStep], None] | None = None) -> WeightDelta:
        for info in self:
            if callback is not None:
                callback(info)
        return self.result()

    @torch.no_grad()
    def result(self) -> WeightDelta:
        """The delta as stored (float16 when it changes no reconstruction pixel by more than the tolerance),
        with metrics measured on exactly the stored delta."""
        from .projector import measure

        cfg = self.config
        exact = [{n: t.detach().clone() for n, t in d.items()} for d in self.deltas]
        half = [{n: t.half() for n, t in d.items()} for d in exact]
        base = {"tensors": half, "mode": cfg.mode, "generator": str(getattr(self.G, "name", "") or
                                                                          self.proj.generator),
                "fingerprint": generator_fingerprint(self.G)}
        img_half = tuned_composite(self.G, self.proj, WeightDelta(**base))
        img_exact = tuned_composite(self.G, self.proj, WeightDelta(**{**base, "tensors": exact}))
        err = float((img_half - img_exact).abs().max())
        dtype = "float16" if err <= cfg.fp16_tolerance else "float32"
        delta = WeightDelta(**{**base, "tensors": half if dtype == "float16" else exact})
        img = img_half if dtype == "float16" else img_exact
        before = measure(self.proj.composite(self.G).to(self.device), self.target)
        after = measure(img, self.target)
        delta.meta = {
            "config": {**cfg.__dict__}, "space": self.space, "segments": int(self.codes.shape[0]),
            "pivots_sha256": _codes_hash(self.proj.codes),
            "metrics": {"lpips_before": before["lpips"], "l2_before": before["l2"], "lpips": after["lpips"],
                        "l2": after["l2"], "steps": self.step_count, "stopped_early": self.stopped_early,
                        "seconds": round(self.seconds, 3), "dtype": dtype, "fp16_max_pixel_change": err,
                        "tuned_tensors": len(exact[0]), "bytes": delta.nbytes},
        }
        return delta


def tune(G, proj: Projection, config: PTIConfig | None = None, *, callback: Callable[[TuneStep], None] | None = None,
         **overrides) -> WeightDelta:
    """Pivotal tuning of ``G`` around ``proj``'s pivots; returns the stored :class:`WeightDelta` (with metrics).

    ``overrides`` are :class:`PTIConfig` fields (e.g. ``steps=50, mode="per-segment"``).
    """
    cfg = config or PTIConfig()
    if overrides:
        cfg = PTIConfig(**{**cfg.__dict__, **overrides})
    return PivotalTuner(G, proj, cfg).run(callback)


# --- files beside a projection ----------------------------------------------------------------------------

def delta_path(projection_path: str | os.PathLike) -> Path:
    """Where the delta of ``.../projection.safetensors`` (or of its folder) lives."""
    p = Path(projection_path)
    return (p if p.is_dir() else p.parent) / DELTA_FILE


def attach(proj: Projection, delta: WeightDelta) -> Projection:
    """Record in ``proj.config["pti"]`` which delta belongs to it (saved with the projection; edits keep it)."""
    proj.config = {**proj.config, "pti": {"file": DELTA_FILE, "mode": delta.mode,
                                          "pivots_sha256": delta.meta.get("pivots_sha256"),
                                          "fingerprint": delta.fingerprint}}
    return proj


def load_tuned_projection(path: str | os.PathLike, G=None, device: str | torch.device = "cpu"
                          ) -> tuple[Projection, WeightDelta | None]:
    """The projection at ``path`` and its PTI delta (None when it has none), checked against ``G``.

    A delta file beside a projection that was not tuned with it (another run wrote the projection)
    is refused rather than silently applied.
    """
    proj = Projection.load(path, device)
    dp = delta_path(path)
    if not dp.is_file():
        if proj.config.get("pti"):
            raise DeltaMismatchError(f"{path} was tuned (--pti) but its {DELTA_FILE} is missing beside it; "
                                     "copy it along or project again")
        return proj, None
    delta = WeightDelta.load(dp, G, proj.num_segments)
    want = (proj.config.get("pti") or {}).get("pivots_sha256")
    if want != delta.meta.get("pivots_sha256"):
        raise DeltaMismatchError(f"{dp} was tuned for other pivot codes than the projection beside it; "
                                 f"delete it or tune this projection again")
    return proj, delta


def _codes_hash(codes: torch.Tensor) -> str:
    return hashlib.sha256(codes.detach().to("cpu", torch.float32).contiguous().numpy().tobytes()).hexdigest()[:16]


def _device(G) -> torch.device:
    try:
        return next(G.parameters()).device
    except (StopIteration, AttributeError):
        return torch.device("cpu")


__all__ = ["PTIConfig", "PivotalTuner", "TuneStep", "WeightDelta", "DeltaMismatchError", "tune", "render_with",
           "tuned_renders", "tuned_composite", "tuned_edited_composite", "delta_path", "load_tuned_projection", "attach",
           "DELTA_FILE", "MODES", "generator_fingerprint"]
