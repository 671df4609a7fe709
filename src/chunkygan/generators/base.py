"""The generator interface every part of chunkygan relies on.

A generator is a ``torch.nn.Module`` built on CPU in float32 (callers move it) that exposes:

* ``resolution`` (int), ``z_dim`` (int), ``w_dim`` (int; equals ``z_dim`` for Z-only models),
  ``num_ws`` (int; 1 for Z-only models), ``spaces`` (tuple of the latent space names it offers,
  a subset of ``("z", "w", "w+", "s")``), ``name`` (str) and ``meta`` (dict: source, licence, sha256...).
* ``forward(z, truncation_psi=1.0, noise_mode="const") -> [B,3,R,R]`` in ``[-1,1]`` for ``z`` ``[B,z_dim]``.

Style-based generators (``"w" in spaces``) also expose:

* ``mapping(z, truncation_psi=1.0, truncation_cutoff=None) -> ws [B,num_ws,w_dim]``
* ``synthesis(ws, noise_mode="const") -> [B,3,R,R]``
* ``mean_w() -> [w_dim]`` (the tracked ``w_avg``)
* ``style_dims() -> list[int]``: the width of every affine (style) output, in the fixed S-space order
  (per block: ``conv0`` (absent in the 4x4 block), ``conv1``, ``torgb``; blocks from 4x4 upwards)
* ``styles(ws) -> list[[B,C_l]]`` and ``synthesis_from_styles(styles, noise_mode="const")`` with
  ``synthesis_from_styles(styles(ws)) == synthesis(ws)`` exactly.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

SPACE_NAMES = ("z", "w", "w+", "s")


@runtime_checkable
class Generator(Protocol):
    resolution: int
    z_dim: int
    w_dim: int
    num_ws: int
    spaces: tuple[str, ...]
    name: str
    meta: dict

    def __call__(self, z: torch.Tensor, truncation_psi: float = 1.0, noise_mode: str = "const") -> torch.Tensor: ...


def is_style_based(G) -> bool:
    """True when the generator offers W (and so W+ and S) spaces."""
    return "w" in getattr(G, "spaces", ())
