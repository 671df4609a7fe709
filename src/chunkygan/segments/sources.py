"""Mask sources: where the soft masks ``S`` of Eq. 1 come from during projection.

A :class:`MaskSource` is an ``nn.Module`` whose ``forward(size)`` returns ``[K,1,H,W]`` soft masks
that sum to one over K (a softmax over K for the learnable ones). Its trainable parameters, if any,
are optimised jointly with the latent codes (Eq. 2 minimises over ``X^S`` and ``X^I`` together).

* :class:`FixedMasks` — masks given by the user (PNG folder or label image), optionally feathered;
  ``FixedMasks.full(...)`` is the single full mask of global projection (K = 1).
* :class:`LogitMasks` — free mask logits at a reduced resolution, upsampled smoothly (bilinear) and
  passed through a softmax over K: the fully automatic mode. Initialised as sensible regions:
  a coarse grid (:meth:`LogitMasks.grid`), k-means of the target's colours and positions
  (:meth:`LogitMasks.kmeans`) or given masks (:meth:`LogitMasks.from_masks`).
* :class:`GeneratorMasks` — the segment generator ``G^S(X^S)`` of the paper (DatasetGAN-style): any
  :class:`SegmentGenerator` (frozen) whose latent ``X^S`` is the trainable parameter.

``make_mask_source(name, ...)`` builds one by name (``full``, ``fixed``, ``grid``, ``kmeans``).
"""
from __future__ import annotations

import logging
import math
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import Registry
from .masks import SegmentMasks, check_masks, feather, from_labels, gaussian_blur, normalise, resize

log = logging.getLogger(__name__)

#: logit given to a region's own segment at initialisation (softmax: e^3 / (e^3 + K − 1) ≈ 0.87 for K = 4)
INIT_SHARPNESS = 3.0


def _hw(size) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


class MaskSource(nn.Module):
    """Interface: ``forward(size) -> [K,1,H,W]`` soft masks summing to one over K.

    Subclasses set ``kind`` (a short name saved with the projection), implement ``forward`` and, when
    they have state worth saving, ``state()`` / ``load_state()`` (plain tensors, saved as the
    projection's ``mask_params``). ``trainable`` says whether ``parameters()`` should be optimised.
    """

    kind = "abstract"

    @property
    def num_segments(self) -> int:
        raise NotImplementedError

    @property
    def trainable(self) -> bool:
        return any(p.requires_grad for p in self.parameters())

    def forward(self, size: int | tuple[int, int]) -> torch.Tensor:
        raise NotImplementedError

    def state(self) -> dict[str, torch.Tensor]:
        """Tensors that restore this source with :meth:`load_state` (saved as ``mask_params``)."""
        return {}

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        if state:
            raise ValueError(f"{self.kind} mask source has no parameters to load (got {sorted(state)})")

    def describe(self) -> dict:
        """JSON-friendly description for the resolved config."""
        return {"kind": self.kind, "segments": self.num_segments}


class FixedMasks(MaskSource):
    """User-given masks, kept fixed (``[K,1,H,W]``; resized to the requested size, feathered by ``sigma`` px)."""

    kind = "fixed"

    def __init__(self, masks: torch.Tensor | SegmentMasks, feather_sigma: float = 0.0):
        super().__init__()
        t = masks.tensor if isinstance(masks, SegmentMasks) else normalise(check_masks(masks))
        self.feather_sigma = float(feather_sigma)
        self.register_buffer("masks", t.clone())
        self._cache: tuple[tuple, torch.Tensor] | None = None

    @classmethod
    def full(cls, size: int | tuple[int, int] = 1) -> "FixedMasks":
        """A single mask of ones: K = 1, global projection."""
        src = cls(torch.ones(1, 1, *_hw(size)))
        src.kind = "full"
        return src

    @property
    def num_segments(self) -> int:
        return self.masks.shape[0]

    def forward(self, size):
        hw = _hw(size)
        key = (hw, self.masks.device, self.masks.data_ptr())
        if self._cache is None or self._cache[0] != key:
            m = torch.ones(1, 1, *hw, device=self.masks.device) if self.num_segments == 1 else resize(self.masks, hw)
            if self.feather_sigma > 0 and self.num_segments > 1:
                m = feather(m, self.feather_sigma)
            self._cache = (key, m)
        return self._cache[1]

    def state(self):
        return {} if self.kind == "full" else {"masks": self.masks}

    def load_state(self, state):
        if "masks" in state:
            self.masks = state["masks"].to(self.masks)
            self._cache = None

    def describe(self):
        return {**super().describe(), "feather": self.feather_sigma}


class LogitMasks(MaskSource):
    """Free mask logits ``[K,1,h,w]`` at a low resolution: ``S = softmax_K(upsample(logits) / T)``.

    The low resolution keeps masks smooth and cheap to optimise (the paper notes per-pixel masks
    would be memory-hungry and ignore domain knowledge); ``T`` is the softmax temperature.
    """

    kind = "logits"

    def __init__(self, logits: torch.Tensor, temperature: float = 1.0, trainable: bool = True):
        super().__init__()
        if logits.dim() != 4 or logits.shape[1] != 1:
            raise ValueError(f"logits must be [K,1,h,w], got {tuple(logits.shape)}")
        self.logits = nn.Parameter(logits.detach().clone().float(), requires_grad=trainable)
        self.temperature = float(temperature)

    @property
    def num_segments(self) -> int:
        return self.logits.shape[0]

    @property
    def resolution(self) -> tuple[int, int]:
        return tuple(self.logits.shape[-2:])

    def forward(self, size):
        """``[K,1,h,w]`` logits -> bilinear upsampling to ``size`` -> softmax over K: ``[K,1,H,W]``."""
        hw = _hw(size)
        up = self.logits if tuple(self.logits.shape[-2:]) == hw else F.interpolate(
            self.logits, size=hw, mode="bilinear", align_corners=False)
        return torch.softmax(up / self.temperature, dim=0)

    def total_variation(self, weights: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """Smoothness prior on the free masks: total variation of ``softmax_K(logits / T)`` on the logit grid,
        ``Σ_k Σ_edges w_pq·|S_k(p) − S_k(q)| / (h·w)`` (4-neighbour edges p–q). For hard masks and w = 1 it is
        twice the boundary length in grid edges per grid pixel — the relaxed perimeter (Potts) prior, which
        removes isolated speckles and ragged borders. ``weights``: (vertical ``[h-1,w]``, horizontal
        ``[h,w-1]``) edge weights, e.g. :func:`edge_weights` of the target (boundaries along image edges
        cost less). A scalar tensor, differentiable w.r.t. the logits."""
        s = torch.softmax(self.logits / self.temperature, dim=0)
        h, w = s.shape[-2:]
        dv, dh = (s[..., 1:, :] - s[..., :-1, :]).abs(), (s[..., :, 1:] - s[..., :, :-1]).abs()
        if weights is not None:
            dv, dh = dv * weights[0], dh * weights[1]
        return (dv.sum() + dh.sum()) / (h * w)

    def state(self):
        return {"logits": self.logits.detach()}

    def load_state(self, state):
        if "logits" not in state:
            raise ValueError(f"logit mask state needs 'logits', got {sorted(state)}")
        if state["logits"].shape != self.logits.shape:
            raise ValueError(f"saved logits are {tuple(state['logits'].shape)}, expected {tuple(self.logits.shape)}")
        with torch.no_grad():
            self.logits.copy_(state["logits"].to(self.logits))

    def describe(self):
        return {**super().describe(), "resolution": list(self.resolution), "temperature": self.temperature}

    # --- initialisations -----------------------------------------------------------------------
    @classmethod
    def from_masks(cls, masks: torch.Tensor, resolution: int | tuple[int, int], sharpness: float = INIT_SHARPNESS,
                   smooth: float = 0.5, **kw) -> "LogitMasks":
        """Logits whose softmax reproduces ``masks`` ``[K,1,H,W]`` (hard ones at ``sharpness``) at ``resolution``.

        Each pixel's logits are ``sharpness · S_k`` after resizing and a light blur of ``smooth``
        logit pixels, so every segment starts as a soft region around its mask.
        """
        m = resize(masks.float(), _hw(resolution))
        if smooth > 0:
            m = normalise(gaussian_blur(m, smooth))
        return cls(sharpness * m, **kw)

    @classmethod
    def grid(cls, k: int, resolution: int | tuple[int, int], **kw) -> "LogitMasks":
        """K segments as a ``rows x cols`` grid (rows = the largest divisor of K not above sqrt(K))."""
        rows = max(d for d in range(1, int(math.isqrt(k)) + 1) if k % d == 0)
        cols = k // rows
        h, w = _hw(resolution)
        yi = torch.div(torch.arange(h) * rows, h, rounding_mode="floor")
        xi = torch.div(torch.arange(w) * cols, w, rounding_mode="floor")
        labels = yi[:, None] * cols + xi[None, :]
        return cls.from_masks(from_labels(labels, k), (h, w), **kw)

    @classmethod
    def kmeans(cls, target: torch.Tensor, k: int, resolution: int | tuple[int, int], position_weight: float = 1.0,
               seed: int = 0, **kw) -> "LogitMasks":
        """K segments from k-means of the target's colours and positions at ``resolution``.

        Features per pixel: RGB in [-1,1] and ``position_weight ·`` (x, y) in [-1,1]; clustering with
        ``scipy.cluster.vq.kmeans2`` (k-means++ seeding from ``seed``). Larger ``position_weight``
        gives compact, grid-like regions; smaller follows colours.
        """
        from scipy.cluster.vq import kmeans2
        import numpy as np

        h, w = _hw(resolution)
        img = target.detach().float().cpu()
        if img.dim() == 4:
            img = img[0]
        small = F.interpolate(img[None], size=(h, w), mode="bilinear", align_corners=False, antialias=True)[0]
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
        feats = torch.cat([small, position_weight * torch.stack([xs, ys])], dim=0).reshape(5, -1).T
        feats = feats.double().numpy()
        if k > feats.shape[0]:
            raise ValueError(f"cannot make {k} segments from a {h}x{w} logit grid; raise the mask resolution")
        _, labels = kmeans2(feats, k, minit="++", seed=np.random.default_rng(seed), iter=20)
        labels = torch.from_numpy(labels.astype(np.int64)).reshape(h, w)
        return cls.from_masks(from_labels(labels, k), (h, w), **kw)


def edge_weights(target: torch.Tensor, resolution: int | tuple[int, int], sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Edge-aware weights for :meth:`LogitMasks.total_variation`: ``w_pq = exp(−‖I_p − I_q‖² / 2σ²)`` between
    4-neighbours of the target ``[1,3,H,W]`` (in [-1,1]) area-resized to the logit grid; ~1 inside flat
    regions, ~0 across strong image edges. Returns (vertical ``[h-1,w]``, horizontal ``[h,w-1]``)."""
    h, w = _hw(resolution)
    t = F.interpolate(target.detach().float(), size=(h, w), mode="area")[0]
    dv = (t[:, 1:, :] - t[:, :-1, :]).pow(2).sum(0)
    dh = (t[:, :, 1:] - t[:, :, :-1]).pow(2).sum(0)
    return torch.exp(-dv / (2 * sigma ** 2)), torch.exp(-dh / (2 * sigma ** 2))


@runtime_checkable
class SegmentGenerator(Protocol):
    """The segment generator ``G^S`` of Eq. 2 (e.g. a DatasetGAN-style head on StyleGAN2 features).

    It maps a segment latent ``X^S`` to K mask logits; it is frozen during projection and only
    ``X^S`` is optimised. ``num_segments`` is K; ``initial_latent()`` gives the starting ``X^S``
    (e.g. the mean latent, batch axis 1); ``__call__(latent)`` returns logits ``[1,K,h,w]``.
    """

    num_segments: int

    def initial_latent(self) -> torch.Tensor: ...

    def __call__(self, latent: torch.Tensor) -> torch.Tensor: ...


class GeneratorMasks(MaskSource):
    """Masks ``S = softmax_K(upsample(G^S(X^S)))`` with the segment latent ``X^S`` optimised (Eq. 2)."""

    kind = "generator"

    def __init__(self, segment_generator: SegmentGenerator, latent: torch.Tensor | None = None, temperature: float = 1.0):
        super().__init__()
        if not isinstance(segment_generator, SegmentGenerator):
            raise TypeError("segment_generator must offer num_segments, initial_latent() and __call__(latent)")
        self.segment_generator = segment_generator
        if isinstance(segment_generator, nn.Module):
            segment_generator.requires_grad_(False)
        x = segment_generator.initial_latent() if latent is None else latent
        self.latent = nn.Parameter(x.detach().clone().float())
        self.temperature = float(temperature)

    @property
    def num_segments(self) -> int:
        return int(self.segment_generator.num_segments)

    def forward(self, size):
        logits = self.segment_generator(self.latent)
        if logits.dim() == 4 and logits.shape[0] == 1:
            logits = logits.permute(1, 0, 2, 3)  # [1,K,h,w] -> [K,1,h,w]
        if logits.shape[0] != self.num_segments or logits.shape[1] != 1:
            raise ValueError(f"segment generator returned {tuple(logits.shape)}, expected [1,{self.num_segments},h,w]")
        hw = _hw(size)
        if tuple(logits.shape[-2:]) != hw:
            logits = F.interpolate(logits, size=hw, mode="bilinear", align_corners=False)
        return torch.softmax(logits / self.temperature, dim=0)

    def state(self):
        return {"latent": self.latent.detach()}

    def load_state(self, state):
        with torch.no_grad():
            self.latent.copy_(state["latent"].to(self.latent))

    def describe(self):
        return {**super().describe(), "segment_generator": type(self.segment_generator).__name__}


# --- by name -----------------------------------------------------------------------------------------

MASK_SOURCES: Registry = Registry("mask source")
MASK_SOURCES.register("full", lambda k, size, **kw: FixedMasks.full(size))
MASK_SOURCES.register("grid", lambda k, size, resolution, **kw: LogitMasks.grid(k, resolution, **_kw(kw)))
MASK_SOURCES.register("kmeans", lambda k, size, resolution, target, seed=0, position_weight=1.0, **kw:
                      LogitMasks.kmeans(target, k, resolution, position_weight=position_weight, seed=seed, **_kw(kw)))


def _kw(kw: dict) -> dict:
    return {k: v for k, v in kw.items() if k in ("temperature", "trainable", "sharpness")}


def default_mask_resolution(image_size: int) -> int:
    """Logit grid for free masks: a quarter of the image side, between 4 and 64 (16 for 64 px images)."""
    return int(min(64, max(4, image_size // 4)))


def make_mask_source(name: str, k: int, size: int | tuple[int, int], *, target: torch.Tensor | None = None,
                     resolution: int | None = None, seed: int = 0, masks=None, feather_sigma: float = 0.0,
                     trainable: bool = True, **kw) -> MaskSource:
    """Build a mask source by name.

    Args:
        name: ``full`` (K = 1), ``fixed`` (``masks`` kept as given), ``refine`` (``masks`` as the start of
            free logits), ``grid`` or ``kmeans`` (free logits initialised as regions; ``kmeans`` needs ``target``).
        k: number of segments K.
        size: output mask size (the generator resolution).
        resolution: logit grid size (default :func:`default_mask_resolution`).
        masks: ``SegmentMasks`` or ``[K,1,H,W]`` for ``fixed`` / ``refine``.
        trainable: optimise the logits (False keeps the initial regions fixed).
    """
    res = resolution or default_mask_resolution(_hw(size)[0])
    if name in ("fixed", "refine"):
        if masks is None:
            raise ValueError(f"mask source {name!r} needs masks (a PNG folder or label image)")
        t = masks.tensor if isinstance(masks, SegmentMasks) else masks
        if name == "fixed":
            return FixedMasks(t, feather_sigma=feather_sigma)
        return LogitMasks.from_masks(t, res, trainable=trainable, **_kw(kw))
    if name == "full" and k != 1:
        raise ValueError(f"the full mask is one segment; got K = {k}")
    if name == "kmeans" and target is None:
        raise ValueError("k-means mask initialisation needs the target image")
    return MASK_SOURCES.get(name)(k, size, resolution=res, target=target, seed=seed, trainable=trainable, **kw)


__all__ = ["MaskSource", "FixedMasks", "LogitMasks", "edge_weights", "GeneratorMasks", "SegmentGenerator", "MASK_SOURCES",
           "make_mask_source", "default_mask_resolution", "INIT_SHARPNESS"]
