"""NVIDIA's official FFHQ StyleGAN2 checkpoints by name, once ``chunkygan models download NAME`` fetched them.

Nothing downloads here: loading a name whose file is not in the cache raises an
:class:`~chunkygan.assets.AssetError` that names the download command. The pickle is read by the
restricted unpickler of :mod:`chunkygan.generators.checkpoints` (no code from the file runs).
"""
from __future__ import annotations


def _loader(name: str):
    def load():
        from ..assets import DOWNLOADS, AssetError, downloaded
        from .checkpoints import load_checkpoint

        path = downloaded(name)
        if path is None:
            d = DOWNLOADS.get(name)
            raise AssetError(f"{name} is not downloaded; fetch it once with `chunkygan models download {name} "
                             f"--accept-licence` ({d.licence.split(' (')[0]}), or pass the .pkl path as --generator")
        G = load_checkpoint(path)
        G.name = name
        return G

    return load


def register(registry) -> None:
    """Register every downloadable official generator (after the built-in ones, so the default stays first)."""
    from ..assets import DOWNLOADS
    from . import GeneratorSpec

    for name in DOWNLOADS.names():
        d = DOWNLOADS.get(name)
        registry.register(name, GeneratorSpec(
            name=name, description=d.description + " (download on request)", resolution=d.resolution,
            spaces=("z", "w", "w+", "s"), licence=d.licence, load=_loader(name),
            weights=str(d.path()) if d.path().is_file() else
            f"not downloaded: `chunkygan models download {name} --accept-licence` fetches {d.url}",
        ))
