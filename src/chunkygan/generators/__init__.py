"""Named generators and loading by name or path.

``load_generator("stylegan2-faces-64")`` builds a registered generator; a path to a checkpoint
(``.pkl``, ``.pt``, ``.safetensors``) is imported by :mod:`chunkygan.generators.checkpoints`.
An unknown name lists the known ones. ``GENERATORS.names()`` is in the order ``chunkygan models`` lists.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from ..registry import Registry


@dataclass(frozen=True)
class GeneratorSpec:
    name: str
    description: str
    resolution: int
    spaces: tuple[str, ...]
    licence: str
    load: Callable[[], torch.nn.Module]  # builds it on CPU, float32, eval mode
    weights: str = ""  # where the weights come from (asset name or package data)
    asset: str | None = None  # asset name in chunkygan.assets.ASSETS, if any
    notes: tuple[str, ...] = field(default_factory=tuple)


GENERATORS: Registry[GeneratorSpec] = Registry("generator")


def load_generator(name_or_path: str | os.PathLike, device: str | torch.device = "cpu") -> torch.nn.Module:
    """Build a generator by registered name or from a checkpoint file; eval mode, no gradients on weights."""
    _register_builtins()
    key = str(name_or_path)
    if key in GENERATORS:
        G = GENERATORS.get(key).load()
    elif Path(key).suffix.lower() in (".pkl", ".pt", ".pth", ".safetensors", ".json") or Path(key).exists():
        from .checkpoints import load_checkpoint

        G = load_checkpoint(key)
    else:
        GENERATORS.get(key)  # raises with the known names
        raise AssertionError  # pragma: no cover
    G.eval().requires_grad_(False)
    return G.to(device)


def default_generator_name() -> str:
    _register_builtins()
    return GENERATORS.names()[0]


_registered = False


def _register_builtins() -> None:
    """Register the built-in generators once (lazily: no import-time side effects)."""
    global _registered
    if _registered:
        return
    _registered = True
    from . import dcgan, official, stylegan2_faces

    stylegan2_faces.register(GENERATORS)  # first: the default generator
    dcgan.register(GENERATORS)
    official.register(GENERATORS)  # NVIDIA FFHQ checkpoints, after `chunkygan models download NAME`
