"""Generator features for the segment generator ``G^S`` (the DatasetGAN recipe, Sec. 3 of the paper).

For a latent, the activations of every synthesis block of the generator are collected with forward
hooks during one ordinary forward pass:

* style-based generators (:class:`~chunkygan.generators.stylegan2.StyleGAN2Generator`): the feature
  output ``x`` of every block ``synthesis.b4 ... synthesis.bR`` (``[B, C_r, r, r]``);
* the embedded DCGAN: the post-ReLU activation of every hidden block of ``main`` (4, 8, 16, 32 px).

DatasetGAN upsamples all of them to the output resolution and stacks them along channels; a per-pixel
classifier then reads the stack. :func:`stack_features` does exactly that (at a *working resolution*,
default ``min(R, 256)``, so 1024 models do not need a ``[B, ~5000, 1024, 1024]`` tensor), but the head in
:mod:`chunkygan.segments.head` never needs the stack: its first layer is linear per pixel, and bilinear
upsampling commutes with per-pixel linear maps, so it is applied to every block at the block's own
resolution and the (narrow) results are upsampled and summed. That is the memory-aware path:
:func:`block_features` returns the per-block list only.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..latents import get_space


def feature_modules(G) -> list[tuple[str, nn.Module]]:
    """The modules whose outputs are the features, coarse to fine, as ``(name, module)``.

    Style-based generators: the synthesis blocks ``synthesis.b4 ... synthesis.bR`` (their output is
    ``(x, img)``; ``x`` is taken). DCGAN-like generators (a ``main`` Sequential): every ``nn.ReLU``.
    """
    syn = getattr(G, "synthesis", None)
    if syn is not None and hasattr(syn, "blocks"):
        return [(f"synthesis.b{b.resolution}", b) for b in syn.blocks()]
    main = getattr(G, "main", None)
    if isinstance(main, nn.Sequential):
        mods = [(f"main.{i}", m) for i, m in enumerate(main) if isinstance(m, nn.ReLU)]
        if mods:
            return mods
    raise TypeError(f"cannot find feature layers in generator {getattr(G, 'name', type(G).__name__)!r}: expected "
                    "StyleGAN2-style synthesis blocks (synthesis.b4...) or a DCGAN 'main' Sequential with ReLUs")


def select_layers(G, layers: Sequence[int] | str | None = None, max_channels: int | None = None) -> list[int]:
    """Indices into :func:`feature_modules` to use.

    ``layers``: explicit indices, ``"all"``/None (every block) or ``"fine:N"`` (the N finest blocks).
    DatasetGAN uses all blocks; for very large generators the coarsest ones can be dropped.
    """
    n = len(feature_modules(G))
    if layers is None or layers == "all":
        idx = list(range(n))
    elif isinstance(layers, str) and layers.startswith("fine:"):
        k = int(layers.split(":", 1)[1])
        idx = list(range(max(0, n - k), n))
    else:
        idx = sorted({int(i) % n for i in layers})
    if not idx:
        raise ValueError(f"no feature layers selected from {n} (layers={layers!r})")
    return idx


@contextmanager
def _hooks(G, indices: Sequence[int], store: list):
    mods = feature_modules(G)
    handles = []
    for i in indices:
        def hook(_m, _inp, out, i=i):
            store.append((i, out[0] if isinstance(out, tuple) else out))
        handles.append(mods[i][1].register_forward_hook(hook))
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def block_features(G, latent: torch.Tensor, space: str, layers: Sequence[int] | None = None,
                   noise_mode: str = "const", with_image: bool = False):
    """Per-block activations of ``G`` at ``latent`` (one batched forward pass, differentiable).

    Args:
        latent: codes ``[B, ...]`` of latent space ``space`` (``z``, ``w``, ``w+`` or ``s``).
        layers: indices from :func:`select_layers` (default: all blocks).
        with_image: also return the rendered images ``[B,3,R,R]``.

    Returns:
        list of ``[B, C_l, r_l, r_l]`` tensors, coarse to fine (and the images when ``with_image``).
    """
    idx = list(range(len(feature_modules(G)))) if layers is None else list(layers)
    store: list = []
    with _hooks(G, idx, store):
        img = get_space(space).render(G, latent, noise_mode=noise_mode)
    by_idx = dict(store)
    feats = [by_idx[i] for i in idx]
    return (feats, img) if with_image else feats


def stack_features(feats: Sequence[torch.Tensor], resolution: int) -> torch.Tensor:
    """DatasetGAN stack: every block upsampled (bilinear; area-averaged if finer) to ``resolution`` and
    concatenated: ``[B, ΣC, r, r]``.

    Memory: ``B · ΣC · r² · 4`` bytes (e.g. 960 channels at 64 px: 15.7 MB per image); prefer the
    factorised head for large generators.
    """
    return torch.cat([f if f.shape[-1] == resolution else
                      F.interpolate(f, size=(resolution, resolution), mode="area") if f.shape[-1] > resolution else
                      F.interpolate(f, size=(resolution, resolution), mode="bilinear", align_corners=False)
                      for f in feats], dim=1)


def default_working_resolution(G) -> int:
    """Resolution at which the head predicts: the output resolution, at most 256."""
    return int(min(int(G.resolution), 256))


def latent_space_of(G) -> str:
    """The segment latent's space: W+ for style-based generators, else Z (the image codes' family)."""
    return "w+" if "w+" in getattr(G, "spaces", ()) else "z"


__all__ = ["feature_modules", "select_layers", "block_features", "stack_features", "default_working_resolution",
           "latent_space_of"]
