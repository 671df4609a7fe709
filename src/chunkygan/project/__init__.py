"""Segment-wise (ChunkyGAN) and global projection of images into a generator.

``from chunkygan.project import Projector, ProjectionConfig, project, Projection`` (imported lazily).
"""
from __future__ import annotations

_LAZY = {
    "Projector": "projector", "ProjectionConfig": "projector", "StepInfo": "projector", "project": "projector",
    "METHODS": "projector", "Projection": "io", "load_projection": "io", "save_projection": "io",
    "blend": "blend", "write_outputs": "outputs",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'chunkygan.project' has no attribute {name!r}")


__all__ = sorted(_LAZY)


class _CallablePackage(__import__("types").ModuleType):
    """``chunkygan.project(G, target, ...)`` runs :func:`chunkygan.project.projector.project`, so that
    ``from chunkygan import project`` gives the function's behaviour and the package at once."""

    def __call__(self, *args, **kwargs):
        from .projector import project

        return project(*args, **kwargs)


__import__("sys").modules[__name__].__class__ = _CallablePackage
