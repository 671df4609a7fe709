"""The result of a projection and its file format (``projection.safetensors``).

A :class:`Projection` holds everything needed to re-render, edit or resume a ChunkyGAN
projection: the K latent codes, the latent space, the final soft masks (and the mask source's
own parameters, e.g. free logits), the optional static mask and target, the generator identity
and the fully resolved configuration.

File format (safetensors; loading never executes code):

* tensors: ``codes`` ``[K,...]``, ``masks`` ``[K,1,H,W]``, optional ``static_mask`` ``[1,1,H,W]``,
  optional ``target`` ``[1,3,H,W]``, ``mask_params.<name>`` for each mask-source parameter and
  ``extra.<name>`` for anything else (optimiser state in checkpoints);
* metadata (strings): ``format`` = ``chunkygan.projection/1``, ``space``, ``mask_source``,
  ``generator``, ``step`` and JSON-encoded ``generator_meta``, ``config``, ``metrics``.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from ..errors import ChunkyganError
from ..fileio import atomic_path
from ..composite.blend import compose as blend

FORMAT = "chunkygan.projection/1"


class ProjectionFileError(ChunkyganError):
    """A projection file is missing, damaged or of another format; the message says which."""


@dataclass
class Projection:
    """K latent codes + soft masks that reconstruct one image (Eq. 1 / Eq. 3).

    Attributes:
        codes: ``[K, ...]`` parameters in ``space`` (``[K,z_dim]`` for z, ``[K,w_dim]`` for w,
            ``[K,num_ws,w_dim]`` for w+, ``[K,sum(style_dims)]`` for s).
        space: latent space name (``z``, ``w``, ``w+``, ``s``).
        masks: ``[K,1,H,W]`` final soft masks S, summing to one over K.
        generator: the generator's registered name or checkpoint path.
        mask_source: name of the mask source that produced ``masks`` (``full``, ``fixed``, ``logits``, ...).
        mask_params: the mask source's own tensors (e.g. ``{"logits": [K,1,h,w]}``), for resuming.
        static_mask: optional ``[1,1,H,W]`` S^X (Eq. 3), 1 = keep the input pixel.
        target: optional ``[1,3,H,W]`` input image I in [-1,1] at the generator resolution.
        generator_meta: the generator's ``meta`` dict (source, licence, sha256, ...).
        config: the fully resolved projection configuration (JSON-serialisable).
        metrics: e.g. ``{"lpips": ..., "l2": ..., "seconds": ..., "steps": ...}``.
        step: optimisation steps done.
        extra: further tensors (optimiser state in checkpoints).
    """

    codes: torch.Tensor
    space: str
    masks: torch.Tensor
    generator: str = ""
    mask_source: str = "fixed"
    mask_params: dict[str, torch.Tensor] = field(default_factory=dict)
    static_mask: torch.Tensor | None = None
    target: torch.Tensor | None = None
    generator_meta: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    step: int = 0
    extra: dict[str, torch.Tensor] = field(default_factory=dict)

    def __post_init__(self):
        if self.codes.shape[0] != self.masks.shape[0]:
            raise ProjectionFileError(f"{self.codes.shape[0]} codes but {self.masks.shape[0]} masks")
        if self.masks.dim() != 4 or self.masks.shape[1] != 1:
            raise ProjectionFileError(f"masks must be [K,1,H,W], got {tuple(self.masks.shape)}")

    @property
    def num_segments(self) -> int:
        return self.codes.shape[0]

    def to(self, device) -> "Projection":
        mv = lambda t: None if t is None else t.to(device)  # noqa: E731
        return replace(self, codes=self.codes.to(device), masks=self.masks.to(device),
                       static_mask=mv(self.static_mask), target=mv(self.target),
                       mask_params={k: v.to(device) for k, v in self.mask_params.items()},
                       extra={k: v.to(device) for k, v in self.extra.items()})

    @torch.no_grad()
    def renders(self, G, codes: torch.Tensor | None = None) -> torch.Tensor:
        """Each segment's full render G(X_k): ``[K,3,R,R]`` in one batched call (``codes`` overrides, e.g. edited)."""
        from ..latents import get_space

        c = self.codes if codes is None else codes
        dev = _device(G)
        return get_space(self.space).render(G, c.to(dev))

    @torch.no_grad()
    def composite(self, G, codes: torch.Tensor | None = None, masks: torch.Tensor | None = None) -> torch.Tensor:
        """The reconstruction O (Eq. 1, or Eq. 3 with the static mask): ``[1,3,R,R]``."""
        r = self.renders(G, codes)
        m = (self.masks if masks is None else masks).to(r)
        sx = None if self.static_mask is None else self.static_mask.to(r)
        tg = None if self.target is None else self.target.to(r)
        if m.shape[-2:] != r.shape[-2:]:
            from ..segments.masks import resize

            m = resize(m, tuple(r.shape[-2:]))
        return blend(r, m, sx, tg if sx is not None else None)

    # -- file I/O -------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write ``projection.safetensors`` atomically (see the module docstring for the layout)."""
        from safetensors.torch import save_file

        tensors = {"codes": self.codes, "masks": self.masks}
        if self.static_mask is not None:
            tensors["static_mask"] = self.static_mask
        if self.target is not None:
            tensors["target"] = self.target
        tensors.update({f"mask_params.{k}": v for k, v in self.mask_params.items()})
        tensors.update({f"extra.{k}": v for k, v in self.extra.items()})
        tensors = {k: v.detach().to("cpu", torch.float32).contiguous().clone() for k, v in tensors.items()}
        meta = {
            "format": FORMAT,
            "space": self.space,
            "mask_source": self.mask_source,
            "generator": str(self.generator),
            "step": str(int(self.step)),
            "generator_meta": json.dumps(self.generator_meta, default=str),
            "config": json.dumps(self.config, default=str),
            "metrics": json.dumps(self.metrics, default=str),
        }
        p = Path(path)
        with atomic_path(p) as tmp:
            save_file(tensors, str(tmp), metadata=meta)
        return p

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device = "cpu") -> "Projection":
        """Read a file written by :meth:`save` (safetensors: no code is executed)."""
        from safetensors import safe_open

        p = Path(path)
        if p.is_dir():
            p = p / "projection.safetensors"
        if not p.is_file():
            raise ProjectionFileError(f"{p}: no such projection file; give a projection.safetensors or its folder")
        try:
            with safe_open(str(p), framework="pt", device="cpu") as f:
                meta = f.metadata() or {}
                tensors = {k: f.get_tensor(k) for k in f.keys()}
        except Exception as e:  # safetensors raises its own error types for damaged headers
            raise ProjectionFileError(f"{p}: not a readable safetensors file ({e})") from None
        if meta.get("format") != FORMAT:
            raise ProjectionFileError(
                f"{p}: format {meta.get('format')!r} is not {FORMAT!r}; is this a chunkygan projection file?")
        for key in ("codes", "masks"):
            if key not in tensors:
                raise ProjectionFileError(f"{p}: the tensor {key!r} is missing; the file is incomplete")
        try:
            js = {k: json.loads(meta.get(k, "{}")) for k in ("generator_meta", "config", "metrics")}
        except json.JSONDecodeError as e:
            raise ProjectionFileError(f"{p}: damaged metadata ({e})") from None
        _check_loaded(p, meta, tensors, js)
        pick = lambda prefix: {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}  # noqa: E731
        proj = cls(
            codes=tensors["codes"], space=meta.get("space", ""), masks=tensors["masks"],
            generator=meta.get("generator", ""), mask_source=meta.get("mask_source", "fixed"),
            mask_params=pick("mask_params."), static_mask=tensors.get("static_mask"), target=tensors.get("target"),
            generator_meta=js["generator_meta"], config=js["config"], metrics=js["metrics"],
            step=int(meta.get("step", "0")), extra=pick("extra."),
        )
        return proj.to(device)


#: latent spaces a projection file may name (chunkygan.latents)
SPACES = ("z", "w", "w+", "s")


def _check_loaded(p: Path, meta: dict, tensors: dict, js: dict) -> None:
    """Validate a loaded file: known space, whole step, JSON objects, float tensors of the documented shapes
    with finite values and masks in [0,1]. Raises :class:`ProjectionFileError` naming the bad entry."""
    def bad(entry: str, why: str):
        raise ProjectionFileError(f"{p}: {entry}: {why}; the file is damaged (project again or use another file)")

    if meta.get("space", "") not in SPACES:
        bad("space", f"{meta.get('space')!r} is not one of {', '.join(SPACES)}")
    try:
        int(meta.get("step", "0"))
    except ValueError:
        bad("step", f"{meta.get('step')!r} is not a whole number")
    for key, value in js.items():
        if not isinstance(value, dict):
            bad(key, f"expected a JSON object, got {type(value).__name__}")
    for key, t in tensors.items():
        if not t.is_floating_point():
            bad(key, f"expected a float tensor, got {t.dtype}")
        if not bool(torch.isfinite(t).all()):
            bad(key, "holds NaN or infinite values")
    codes, masks = tensors["codes"], tensors["masks"]
    if codes.dim() < 2 or codes.shape[0] < 1:
        bad("codes", f"expected [K,...] with K >= 1, got {tuple(codes.shape)}")
    if masks.dim() != 4 or masks.shape[:2] != (codes.shape[0], 1):
        bad("masks", f"expected [{codes.shape[0]},1,H,W] (one per code), got {tuple(masks.shape)}")
    for key in ("masks", "static_mask"):
        t = tensors.get(key)
        if t is not None and t.numel() and (float(t.min()) < -1e-4 or float(t.max()) > 1 + 1e-4):
            bad(key, "values outside [0, 1]")
    for key, channels in (("static_mask", 1), ("target", 3)):
        t = tensors.get(key)
        if t is not None and (t.dim() != 4 or t.shape[:2] != (1, channels)):
            bad(key, f"expected [1,{channels},H,W], got {tuple(t.shape)}")


def save_projection(proj: Projection, path: str | os.PathLike) -> Path:
    return proj.save(path)


def load_projection(path: str | os.PathLike, device: str | torch.device = "cpu") -> Projection:
    return Projection.load(path, device)


def _device(G) -> torch.device:
    try:
        return next(G.parameters()).device
    except (StopIteration, AttributeError):
        return torch.device("cpu")


__all__ = ["Projection", "ProjectionFileError", "FORMAT", "save_projection", "load_projection"]
