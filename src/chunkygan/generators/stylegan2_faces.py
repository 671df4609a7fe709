"""The shipped style-based face generator ``stylegan2-faces-64`` (the default generator).

A 64×64 StyleGAN2 (our implementation, z_dim 100, w_dim 256, 4 mapping layers, skip architecture,
channels 256/256/256/128/64 at 4–64 px) distilled from the embedded DCGAN ``dcgan-faces-64`` by
``chunkygan distill`` (L1 + LPIPS between student(z) and teacher(z)); see ``docs/distill.md``.
It gives the offline install Z, W, W+ and S spaces on faces.

The weights are package data (``chunkygan/data/stylegan2-faces-64.safetensors``, float16, with its
``.json``: architecture, training command, steps, wall time, held-out LPIPS, licence); they are read
with safetensors and the JSON's sha256 is checked, so loading runs no code. The mean latent
(``mapping.w_avg``, over 100k z) is stored with them.

Licence: derived from a model trained on DigiFace-1M, so non-commercial research use only.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

import torch

NAME = "stylegan2-faces-64"
LICENCE = "derived from a model trained on DigiFace-1M: non-commercial research use only"


def data_path() -> Path:
    """``chunkygan/data/stylegan2-faces-64.json`` inside the installed package."""
    return Path(str(resources.files("chunkygan") / "data" / f"{NAME}.json"))


def load_embedded() -> torch.nn.Module:
    """Build ``stylegan2-faces-64`` from package data; CPU, float32, eval mode."""
    from .checkpoints import load_checkpoint

    path = data_path()
    if not path.is_file() or not path.with_suffix(".safetensors").is_file():
        raise FileNotFoundError(f"{path.with_suffix('.safetensors')} is missing: the package was installed "
                                "without its data files; reinstall chunkygan (pip install .)")
    G = load_checkpoint(path)
    G.name = NAME  # the JSON's meta carries the licence, training command and held-out LPIPS
    return G


def register(registry) -> None:
    from . import GeneratorSpec

    registry.register(NAME, GeneratorSpec(
        name=NAME,
        description="StyleGAN2 faces 64x64 (z_dim 100, w_dim 256), default; distilled from dcgan-faces-64 by "
                    "`chunkygan distill`, shipped as package data",
        resolution=64, spaces=("z", "w", "w+", "s"), licence=LICENCE, load=load_embedded,
        weights=str(data_path().with_suffix(".safetensors")),
    ))
