"""The segment generator ``G^S(X^S)`` (Eq. 2) and fully automatic joint projection.

``G^S`` is the image generator ``G`` (frozen) followed by a trained per-pixel head
(:mod:`chunkygan.segments.head`): ``S = softmax_K(head(features of G at X^S))``. ``X^S`` lives in the
same latent space family as the image codes (W+ for style-based generators, Z for the embedded
DCGAN) and is optimised jointly with the K image codes from the same starting latent, so segments
align with facial parts and refine during the optimisation (Fig. 3).

* :class:`SegmentGenerator` — ``G`` + head, offering the projector's ``SegmentGenerator`` protocol
  (``num_segments``, ``initial_latent()``, ``__call__(latent) -> [1,K,r,r]`` logits).
* :class:`SegmentGeneratorMasks` — the :class:`~chunkygan.segments.sources.GeneratorMasks` mask source
  for it (``X^S`` is its trainable ``latent``; ``kind = "generator"``), describing its head.
* :func:`auto_mask_source` — the source for a generator from a head file, or a default head trained
  on first use (cached per generator fingerprint).
* :func:`mask_source_for` — the source of a saved projection, ``X^S`` restored.
* :func:`progression_strip` — the Fig. 3 picture (composites over colour-coded segment maps).

The drivers that combine ``G^S`` with the projector and the editor (``auto_projector``,
``edit_with_segments``, ``run_with_progression``) live above both, in :mod:`chunkygan.pipelines.auto`:
this module never imports ``project/`` or ``edit/``.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
from torch import nn

from .features import block_features
from .head import SegmentHead, check_generator, generator_fingerprint, load_head, save_head
from .sources import GeneratorMasks

log = logging.getLogger(__name__)


class SegmentGenerator(nn.Module):
    """``G^S``: latent ``X^S`` ``[1,...]`` -> segment logits ``[1,K,r,r]`` (r: the head's working resolution).

    Args:
        G: the image generator (frozen, shared with the projector; never copied).
        head: a trained :class:`SegmentHead`.
        info: the head's metadata (``space``, ``layers``, ``names``...), checked against ``G``.
    """

    def __init__(self, G, head: SegmentHead, info: dict, check: bool = True):
        super().__init__()
        if check:
            check_generator(info, G)
        self.G = G
        self.head = head.eval().requires_grad_(False)
        self.info = dict(info)
        self.space = info["space"]
        self.layers = list(info["layers"])
        self.names = tuple(info["names"])
        self.num_segments = len(self.names)

    @classmethod
    def from_file(cls, G, path: str | os.PathLike) -> "SegmentGenerator":
        """Load a head file (refused with a clear message if it was trained for another generator)."""
        head, info = load_head(path, G)
        g = cls(G, head, info, check=False)
        g.info["path"] = str(path)
        return g

    def initial_latent(self) -> torch.Tensor:
        """The mean latent of the head's space ``[1,...]`` (Z: zeros; W+: ``w_avg`` broadcast)."""
        from ..latents import get_space

        return get_space(self.space).mean(self.G, 1)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        """``[B,...]`` latents -> logits ``[B,K,r,r]`` (differentiable w.r.t. the latent)."""
        feats = block_features(self.G, latent, self.space, self.layers)
        return self.head(feats)

    @torch.no_grad()
    def masks(self, latent: torch.Tensor, size: int | None = None) -> torch.Tensor:
        """Soft masks ``[K,1,size,size]`` of one latent (default size: the generator resolution)."""
        src = SegmentGeneratorMasks(self, latent)
        return src(size or int(self.G.resolution))


class SegmentGeneratorMasks(GeneratorMasks):
    """Mask source ``S = softmax_K(upsample(G^S(X^S)) / T)`` with ``X^S`` trainable (Eq. 2)."""

    def __init__(self, segment_generator: SegmentGenerator, latent: torch.Tensor | None = None,
                 temperature: float = 1.0, trainable: bool = True):
        super().__init__(segment_generator, latent=latent, temperature=temperature)
        self.latent.requires_grad_(trainable)

    def describe(self):
        sg = self.segment_generator
        return {**super().describe(), "names": list(sg.names), "space": sg.space,
                "head": sg.info.get("path", ""), "head_generator": sg.info.get("generator", ""),
                "fingerprint": sg.info.get("fingerprint", ""), "temperature": self.temperature}


def default_head_path(G) -> Path:
    """Where the default head of a generator is cached: ``<cache>/segment_heads/<name>-<fingerprint>.safetensors``."""
    from ..assets import cache_dir

    name = str(getattr(G, "name", "generator")).replace("/", "_") or "generator"
    return cache_dir() / "segment_heads" / f"{name}-{generator_fingerprint(G)}.safetensors"


#: softmax temperature of the G^S masks in automatic projection: the head's logits are confident; softer
#: masks (T = 2) gave 7% / 5% lower final LPIPS than T = 1 on the two demo photos (docs/segment_generator.md)
AUTO_TEMPERATURE = 2.0


def auto_mask_source(G, head_path: str | os.PathLike | None = None, train_if_missing: bool = True,
                     temperature: float = AUTO_TEMPERATURE, progress=None, **train_kw) -> SegmentGeneratorMasks:
    """The ``G^S`` mask source for ``G`` (masks ``softmax_K(logits / temperature)``).

    ``head_path``: a head file (refused if trained for another generator). None: the cached default head
    of this generator (:func:`default_head_path`), trained on first use from 30 automatically labelled
    samples (seed 0) when ``train_if_missing`` — this needs the face extra (MediaPipe).
    """
    if head_path is None:
        path = default_head_path(G)
        if not path.exists():
            if not train_if_missing:
                raise FileNotFoundError(f"no segment head for generator {getattr(G, 'name', '?')!r} at {path}; "
                                        "train one with `chunkygan segments train` and pass it")
            from .train import train_segment_head

            log.info("training the default segment head for %s (cached at %s)", getattr(G, "name", "?"), path)
            head, meta = train_segment_head(G, progress=progress, **train_kw)
            save_head(head, path, meta)
        head_path = path
    sg = SegmentGenerator.from_file(G, head_path)
    return SegmentGeneratorMasks(sg, temperature=temperature)


def mask_source_for(G, projection, head_path: str | os.PathLike | None = None) -> SegmentGeneratorMasks:
    """Rebuild the G^S mask source of a saved projection (``mask_source == "generator"``), X^S restored.

    The head is ``head_path``, else the path recorded in the projection's config (if it still exists),
    else the generator's cached default head; it must belong to ``G`` and have the projection's K.
    """
    if projection.mask_source != "generator" or "latent" not in projection.mask_params:
        raise ValueError("this projection's masks do not come from a segment generator (project with --auto)")
    described = projection.config.get("mask_source") or {}
    if head_path is None:
        recorded = described.get("head") or ""
        head_path = recorded if recorded and Path(recorded).exists() else None
    src = auto_mask_source(G, head_path, train_if_missing=False,
                           temperature=float(described.get("temperature", AUTO_TEMPERATURE)))
    if src.num_segments != projection.num_segments:
        raise ValueError(f"the segment head has {src.num_segments} classes but the projection {projection.num_segments} "
                         "segments; pass the head it was made with")
    src.load_state({"latent": projection.mask_params["latent"]})
    return src.to(projection.codes.device)


def progression_strip(frames, target: torch.Tensor | None = None, min_size: int = 128) -> torch.Tensor:
    """Fig. 3-style strip ``[1,3,H',W']``: top row the composites, bottom row the colour-coded segment maps
    (:func:`chunkygan.segments.masks.colourise`), one column per frame (and the target first, if given,
    above a blank tile). Tiles are enlarged by nearest neighbour to at least ``min_size`` px."""
    import torch.nn.functional as F

    from ..imageio import make_grid
    from .masks import colourise

    imgs = [f[1].float().cpu() for f in frames]
    maps = [colourise(f[2].float().cpu()) for f in frames]
    if target is not None:
        t = target.float().cpu()
        if t.shape[-1] != imgs[0].shape[-1]:
            t = F.interpolate(t, size=imgs[0].shape[-2:], mode="bilinear", align_corners=False, antialias=True)
        imgs, maps = [t] + imgs, [torch.ones_like(t)] + maps
    tiles = torch.cat(imgs + maps)
    f = max(1, -(-min_size // tiles.shape[-1]))
    if f > 1:
        tiles = F.interpolate(tiles, scale_factor=f, mode="nearest")
    return make_grid(tiles, nrow=len(imgs))


__all__ = ["SegmentGenerator", "SegmentGeneratorMasks", "auto_mask_source", "default_head_path", "mask_source_for",
           "AUTO_TEMPERATURE", "progression_strip"]
