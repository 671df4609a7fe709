"""Latent spaces as objects: Z, W, W+ and S (StyleSpace).

Each space maps its free parameters (one flat-per-code tensor, batch axis first, so that K segment
codes are simply a batch of K) to what the generator consumes, knows its initialisation (the mean
latent) and its own regulariser. The ChunkyGAN dispersion term of Eq. 2 is :func:`dispersion`.

Parameter shapes for a batch of B codes:

====== ===================== ==================================================
space  params                rendered as
====== ===================== ==================================================
z      ``[B, z_dim]``        ``G(z)``
w      ``[B, w_dim]``        ``G.synthesis(w broadcast to [B, num_ws, w_dim])``
w+     ``[B, num_ws, w_dim]`` ``G.synthesis(ws)``
s      ``[B, sum(style_dims)]`` ``G.synthesis_from_styles(split(params))``
====== ===================== ==================================================
"""
from __future__ import annotations

import torch

from .generators.base import is_style_based
from .registry import Registry


class LatentSpace:
    """Base class; subclasses set ``name`` and implement the three methods."""

    name = ""

    def mean(self, G, batch: int = 1) -> torch.Tensor:
        """Initial parameters at the mean latent, ``batch`` identical codes."""
        raise NotImplementedError

    def render(self, G, params: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        """Parameters ``[B, ...]`` -> images ``[B,3,R,R]`` in one batched generator call."""
        raise NotImplementedError

    def from_ws(self, G, ws: torch.Tensor) -> torch.Tensor:
        """Convert W+ codes ``[B,num_ws,w_dim]`` into this space's parameters (for --init across spaces)."""
        raise NotImplementedError(f"cannot convert W+ codes into {self.name} space")

    def prior(self, G, params: torch.Tensor) -> torch.Tensor:
        """The space's own regulariser (per code, ``[B]``); zero unless the space defines one."""
        return params.new_zeros(params.shape[0])

    def check(self, G) -> None:
        if self.name not in G.spaces:
            raise ValueError(
                f"generator {G.name!r} offers latent spaces {', '.join(G.spaces)}; {self.name!r} is not one of them")


class ZSpace(LatentSpace):
    name = "z"

    def mean(self, G, batch=1):
        return torch.zeros(batch, G.z_dim, device=_device(G))

    def render(self, G, params, noise_mode="const"):
        return G(params, noise_mode=noise_mode)

    def prior(self, G, params):
        """Negative log-density of N(0, I) up to a constant: 0.5·‖z‖² / z_dim (keeps z on the prior)."""
        return 0.5 * params.pow(2).mean(dim=1)


class WSpace(LatentSpace):
    name = "w"

    def mean(self, G, batch=1):
        return G.mean_w().detach().to(_device(G)).unsqueeze(0).repeat(batch, 1).clone()

    def render(self, G, params, noise_mode="const"):
        ws = params.unsqueeze(1).expand(-1, G.num_ws, -1)
        return G.synthesis(ws, noise_mode=noise_mode)

    def from_ws(self, G, ws):
        return ws.mean(dim=1)


class WPlusSpace(LatentSpace):
    name = "w+"

    def mean(self, G, batch=1):
        return G.mean_w().detach().to(_device(G)).view(1, 1, -1).repeat(batch, G.num_ws, 1).clone()

    def render(self, G, params, noise_mode="const"):
        return G.synthesis(params, noise_mode=noise_mode)

    def from_ws(self, G, ws):
        return ws.clone()

    def prior(self, G, params):
        """Layer spread of each code ``[B,num_ws,w_dim]`` -> ``[B]``: ``Σ_l ‖w_l − w̄‖²``, ``w̄`` its mean over layers.

        Zero for a W code repeated on every layer; keeping it small keeps a W+ projection near W, where
        directions fitted on W samples behave (e4e's delta regularisation, Tov et al. 2021). Same units as
        the Eq. 2 dispersion term."""
        return (params - params.mean(dim=1, keepdim=True)).pow(2).sum(dim=(1, 2))


class SSpace(LatentSpace):
    """StyleSpace: all affine outputs concatenated in the generator's documented order."""

    name = "s"

    def mean(self, G, batch=1):
        ws = WPlusSpace().mean(G, batch)
        return self.from_ws(G, ws)

    def split(self, G, params: torch.Tensor) -> list[torch.Tensor]:
        return list(torch.split(params, G.style_dims(), dim=1))

    def render(self, G, params, noise_mode="const"):
        return G.synthesis_from_styles(self.split(G, params), noise_mode=noise_mode)

    def from_ws(self, G, ws):
        with torch.no_grad():
            return torch.cat(G.styles(ws), dim=1)


SPACES: Registry[LatentSpace] = Registry("latent space")
for _cls in (ZSpace, WSpace, WPlusSpace, SSpace):
    SPACES.register(_cls.name, _cls())


def get_space(name: str) -> LatentSpace:
    """Look a space up by name (``z``, ``w``, ``w+``/``wplus``, ``s``)."""
    name = name.lower().replace("wplus", "w+")
    return SPACES.get(name)


def dispersion(params: torch.Tensor) -> torch.Tensor:
    """Eq. 2 regulariser: Σ_k ‖X_k − X_μ‖² over the K codes ``[K, ...]`` (scalar; 0 for K = 1)."""
    flat = params.reshape(params.shape[0], -1)
    return (flat - flat.mean(dim=0, keepdim=True)).pow(2).sum()


def _device(G) -> torch.device:
    try:
        return next(G.parameters()).device
    except (StopIteration, AttributeError):
        return torch.device("cpu")


__all__ = ["LatentSpace", "ZSpace", "WSpace", "WPlusSpace", "SSpace", "SPACES", "get_space", "dispersion",
           "is_style_based"]
