"""The project's expected failures, and how the CLI recognises them.

An *expected* failure is a refusal with a one-line message that says what is wrong and what to do
(a damaged checkpoint, an unknown name, an unwritable output path, an out-of-range number...). The
CLI prints it as ``error: <message>`` with exit code 1 and no traceback; anything else is a bug and
keeps its traceback. Library errors subclass :class:`ChunkyganError` (a ``ValueError``), or are one
of the project's own exception classes (any class defined under ``chunkygan.`` that derives from
``ValueError``, ``KeyError``, ``ImportError``, ``RuntimeError`` or ``pickle.UnpicklingError``); file-system errors (``OSError``)
are expected too.
"""
from __future__ import annotations

import errno
import os
import pickle


class ChunkyganError(ValueError):
    """Base of the project's expected failures; the message is one line (what is wrong, what to do)."""


class OutputPathError(ChunkyganError):
    """An output path the command must not or cannot write (device, FIFO, symlink, unwritable folder)."""


class ResourceLimitError(ChunkyganError):
    """An input larger than the documented limits (see :data:`chunkygan.imageio.MAX_PIXELS`)."""


_PROJECT_BASES = (ValueError, KeyError, ImportError, RuntimeError, pickle.UnpicklingError)


def is_expected(exc: BaseException) -> bool:
    """True for the refusals that should end with one line and no traceback (see the module docstring)."""
    if isinstance(exc, (ChunkyganError, OSError)):
        return True
    cls = type(exc)
    return cls.__module__.startswith("chunkygan.") and isinstance(exc, _PROJECT_BASES)


#: friendlier hints for common file-system errors
_OS_HINTS = {
    errno.ENOSPC: "free some space or write elsewhere",
    errno.EROFS: "the file system is read-only; write elsewhere",
    errno.EACCES: "check the permissions or write elsewhere",
    errno.EPERM: "check the permissions or write elsewhere",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "give a file name, not a folder",
    errno.EDQUOT: "the disk quota is exceeded; free some space or write elsewhere",
}


def one_line(exc: BaseException) -> str:
    """The exception as one line of text (OSErrors as ``PATH: reason (hint)``)."""
    if isinstance(exc, OSError) and exc.strerror:
        where = exc.filename if exc.filename is not None else ""
        if exc.filename2 is not None:
            where = f"{where} -> {exc.filename2}"
        hint = _OS_HINTS.get(exc.errno or 0)
        text = f"{os.fsdecode(where) + ': ' if where else ''}{exc.strerror}" + (f" ({hint})" if hint else "")
    else:
        text = str(exc) or type(exc).__name__
        if isinstance(exc, KeyError) and type(exc).__str__ is KeyError.__str__ and exc.args:
            text = str(exc.args[0])
    return " ".join(text.split())  # one line, whatever the message held


__all__ = ["ChunkyganError", "OutputPathError", "ResourceLimitError", "is_expected", "one_line"]
