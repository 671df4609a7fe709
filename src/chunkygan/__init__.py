"""chunkygan: real image inversion into StyleGAN-class generators by segments (ChunkyGAN), and editing.

The main API is importable from the top level (loaded on first use, so ``import chunkygan`` stays light)::

    from chunkygan import load_generator, Projector, project, EditSession, DirectionBank

``project`` is the :mod:`chunkygan.project` package, and calling it runs
:func:`chunkygan.project.projector.project`. The library reports through return values, callbacks
and :mod:`logging`; it never prints. Expected failures derive from :class:`chunkygan.errors.ChunkyganError`
or are the project's other ``ValueError``/``OSError`` subclasses (see :mod:`chunkygan.errors`).
"""

__version__ = "0.1.0"

#: top-level name -> module it lives in (imported on first access)
_LAZY = {
    "load_generator": "chunkygan.generators",
    "Projector": "chunkygan.project.projector",
    "ProjectionConfig": "chunkygan.project.projector",
    "Projection": "chunkygan.project.io",
    "EditSession": "chunkygan.session",
    "DirectionBank": "chunkygan.edit.directions",
    "ChunkyganError": "chunkygan.errors",
}


def __getattr__(name: str):
    if name == "project":
        import importlib

        return importlib.import_module("chunkygan.project")  # a callable package (see its __init__)
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'chunkygan' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY) + ["project"])


__all__ = sorted(list(_LAZY) + ["project", "__version__"])
