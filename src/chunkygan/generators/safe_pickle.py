"""Read NVIDIA StyleGAN2 network pickles without executing anything from the file.

Official network pickles (``stylegan2-ada-pytorch`` / ``stylegan3``, e.g. ``ffhq.pkl``) are plain
``pickle.dump({"G": G, "D": D, "G_ema": G_ema, "augment_pipe": ..., "training_set_kwargs": ...})``
where every network object is a ``torch_utils.persistence`` class: it pickles as
``_reconstruct_persistent_obj(meta)`` with ``meta = {type, version, module_src, class_name, state}``;
``module_src`` is Python source that the official loader ``exec``\\ s, ``state`` is the module's
``__dict__`` (``_parameters``, ``_buffers``, ``_modules``, ``_init_kwargs``, numpy-scalar gains ...).
Tensors arrive through torch's own reduction: ``torch._utils._rebuild_tensor_v2(storage, offset, size,
stride, ...)`` with the storage as ``torch.storage._load_from_bytes(bytes)`` (a legacy ``torch.save`` of
that storage).

:class:`RestrictedUnpickler` resolves only an explicit list of globals; everything else is refused
with :class:`UnsafePickleError` naming the global, *before* anything is called. Persistent objects
become inert :class:`PersistentObject` records (their ``module_src`` is kept as a string and never
run), ``dnnlib.EasyDict`` becomes :class:`InertEasyDict` (a plain ``dict``), storages are read with
``torch.load(..., weights_only=True)``, numpy scalars are rebuilt from their raw bytes (numpy 1 names
``numpy.core.multiarray`` and numpy 2 names ``numpy._core.multiarray`` both work).
"""
from __future__ import annotations

import collections
import io
import pickle
from typing import Any, BinaryIO

import numpy as np
import torch

__all__ = ["UnsafePickleError", "RestrictedUnpickler", "PersistentObject", "InertEasyDict", "safe_load",
           "module_state_dict"]


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle needs something that is not on the allowlist (and was therefore not run)."""


class InertEasyDict(dict):
    """Stand-in for ``dnnlib.EasyDict``: a plain dict (no attribute magic, no code from the file)."""

    def __reduce__(self):  # pickles back as a plain dict
        return dict, (dict(self),)


class PersistentObject:
    """Inert record of a ``torch_utils.persistence`` object (network, layer, augment pipe).

    Attributes:
        class_name: class name in the pickled module (``"Generator"``, ``"SynthesisLayer"``, ...).
        module_src: the pickled module source, kept as text only: never compiled or executed.
        version: ``torch_utils.persistence`` format version (6 in all public releases).
        state: the object's ``__dict__`` (for ``nn.Module``\\ s: ``_parameters``, ``_buffers``,
            ``_modules``, ``_init_kwargs``, plain attributes).
    """

    __slots__ = ("class_name", "module_src", "version", "kind", "state")

    def __init__(self, class_name: str, module_src: str, version: Any, kind: str, state: dict):
        self.class_name, self.module_src, self.version, self.kind, self.state = (
            class_name, module_src, version, kind, state)

    def __setstate__(self, state):  # a BUILD on the placeholder never reaches real code
        raise UnsafePickleError("unexpected state update on a torch_utils.persistence object")

    @property
    def init_kwargs(self) -> dict:
        return self.state.get("_init_kwargs") or {}

    def __repr__(self) -> str:
        return f"PersistentObject({self.class_name!r}, {len(self.module_src)} chars of source never executed)"


def _reconstruct_persistent_obj(meta) -> PersistentObject:
    """``torch_utils.persistence._reconstruct_persistent_obj(meta)`` without importing/exec'ing ``module_src``."""
    if not isinstance(meta, dict):
        raise UnsafePickleError(f"torch_utils.persistence object with meta of type {type(meta).__name__}, expected dict")
    missing = {"type", "version", "module_src", "class_name", "state"} - set(meta)
    if missing:
        raise UnsafePickleError(f"torch_utils.persistence meta lacks {sorted(missing)}")
    if meta["type"] != "class" or not isinstance(meta["class_name"], str) or not isinstance(meta["module_src"], str):
        raise UnsafePickleError(f"unsupported torch_utils.persistence meta (type={meta['type']!r})")
    state = meta["state"]
    if not isinstance(state, dict):
        raise UnsafePickleError(f"torch_utils.persistence {meta['class_name']}: state is {type(state).__name__}")
    return PersistentObject(meta["class_name"], meta["module_src"], meta["version"], meta["type"], dict(state))


# --- torch tensors ----------------------------------------------------------------------------------

def _load_storage_from_bytes(data: bytes):
    """``torch.storage._load_from_bytes``: a legacy ``torch.save`` of one storage, read ``weights_only``."""
    if not isinstance(data, (bytes, bytearray)):
        raise UnsafePickleError(f"torch.storage._load_from_bytes got {type(data).__name__}, expected bytes")
    try:
        storage = torch.load(io.BytesIO(bytes(data)), map_location="cpu", weights_only=True)
    except Exception as e:  # torch's own restricted unpickler refused or the bytes are corrupt
        raise UnsafePickleError(f"an embedded tensor storage could not be read safely: {e}") from e
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise UnsafePickleError(f"embedded storage bytes hold a {type(storage).__name__}, expected a storage")
    return storage


def _ints(x, what: str) -> tuple[int, ...]:
    if not isinstance(x, (tuple, list, torch.Size)) or not all(isinstance(i, int) for i in x):
        raise UnsafePickleError(f"tensor {what} must be a tuple of ints, got {x!r}")
    return tuple(x)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    """``torch._utils._rebuild_tensor_v2`` with checked arguments (hooks refused); returns a plain tensor."""
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise UnsafePickleError(f"tensor storage is a {type(storage).__name__}, expected a torch storage")
    if backward_hooks:
        raise UnsafePickleError("tensor with backward hooks (callable objects) refused")
    if not isinstance(storage_offset, int):
        raise UnsafePickleError(f"tensor storage offset must be an int, got {storage_offset!r}")
    size, stride = _ints(size, "size"), _ints(stride, "stride")
    try:
        return torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, False,
                                               collections.OrderedDict())
    except RuntimeError as e:  # e.g. a view outside its storage
        raise UnsafePickleError(f"invalid tensor layout (size {size}, stride {stride}): {e}") from e


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _rebuild_tensor_v2(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None):
    """``torch._utils._rebuild_parameter(_with_state)``: we only need the tensor itself."""
    if not isinstance(data, torch.Tensor):
        raise UnsafePickleError(f"parameter data is a {type(data).__name__}, expected a tensor")
    if backward_hooks:
        raise UnsafePickleError("parameter with backward hooks (callable objects) refused")
    return data


# --- numpy scalars and arrays -------------------------------------------------------------------------

def _numpy_dtype(spec, align=False, copy=False):
    """``numpy.dtype(spec, align, copy)`` for plain (non-object) type strings such as ``'f8'``."""
    if not isinstance(spec, str):
        raise UnsafePickleError(f"numpy dtype from {type(spec).__name__} refused; only type strings are read")
    dt = np.dtype(spec)
    if dt.hasobject:
        raise UnsafePickleError("numpy object dtype refused (it can hold arbitrary Python objects)")
    return dt


def _numpy_scalar(dtype, data=None):
    """``numpy.core.multiarray.scalar(dtype, raw_bytes)`` rebuilt from the bytes (no object dtypes)."""
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise UnsafePickleError(f"numpy scalar with dtype {dtype!r} refused")
    if not isinstance(data, (bytes, bytearray)) or len(data) != dtype.itemsize:
        raise UnsafePickleError(f"numpy scalar of {dtype} needs {dtype.itemsize} raw bytes")
    return np.frombuffer(bytes(data), dtype=dtype)[0]


def _numpy_reconstruct(cls, shape, typecode):
    """``numpy.core.multiarray._reconstruct(ndarray, (0,), b'b')``: an empty array; its BUILD fills it."""
    if cls is not np.ndarray or _ints(shape, "shape") != (0,):  # numpy always writes (ndarray, (0,), b'b')
        raise UnsafePickleError(f"numpy array reconstruction of {cls!r} with shape {shape!r} refused")
    return np.ndarray.__new__(np.ndarray, (0,), np.dtype("b"))


def _numpy_frombuffer(buf, dtype, shape, order):
    """``numpy._core.numeric._frombuffer``: how pickle protocol 5 stores a numpy array (raw bytes)."""
    if not isinstance(dtype, np.dtype) or dtype.hasobject or order not in ("C", "F"):
        raise UnsafePickleError(f"numpy array with dtype {dtype!r} / order {order!r} refused")
    shape = _ints(shape, "shape")
    data = bytes(buf) if isinstance(buf, (bytes, bytearray, memoryview, pickle.PickleBuffer)) else None
    if data is None or len(data) != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
        raise UnsafePickleError(f"numpy array of shape {shape} and {dtype} does not match its raw data")
    return np.frombuffer(data, dtype=dtype).reshape(shape, order=order).copy(order=order)


def _latin1_bytes(text, encoding="latin1"):
    """``_codecs.encode(str, 'latin1')``: how pickle protocol <= 2 spells a bytes object."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickleError("_codecs.encode is only allowed for protocol-2 bytes (str, 'latin1')")
    return text.encode("latin1")


# --- the allowlist ----------------------------------------------------------------------------------------

_ALLOWED: dict[tuple[str, str], Any] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("dnnlib.util", "EasyDict"): InertEasyDict,
    ("dnnlib", "EasyDict"): InertEasyDict,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_storage_from_bytes,
    ("torch", "Size"): torch.Size,
    ("_codecs", "encode"): _latin1_bytes,
    ("numpy", "dtype"): _numpy_dtype,
    ("numpy", "ndarray"): np.ndarray,
}
for _np_core in ("numpy.core.multiarray", "numpy._core.multiarray"):  # numpy 1 / numpy 2 spellings
    _ALLOWED[(_np_core, "scalar")] = _numpy_scalar
    _ALLOWED[(_np_core, "_reconstruct")] = _numpy_reconstruct
    _ALLOWED[(_np_core.replace("multiarray", "numeric"), "_frombuffer")] = _numpy_frombuffer

_HINTS = {
    "dnnlib.tflib.network": "this is a TensorFlow StyleGAN/StyleGAN2 pickle; convert it to a PyTorch pickle "
                            "with NVIDIA's stylegan2-ada-pytorch legacy.py first (in an environment you trust)",
}


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose ``find_class`` knows only :data:`_ALLOWED`; nothing else is imported.

    Every callable the pickle can invoke (REDUCE, NEWOBJ, BUILD targets) must come from ``find_class``,
    so refusing unknown globals there means nothing outside the allowlist can ever run.
    """

    def find_class(self, module: str, name: str):
        module = {"__builtin__": "builtins", "copy_reg": "copyreg"}.get(module, module)  # protocol <= 2 names
        obj = _ALLOWED.get((module, name))
        if obj is not None:
            return obj
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        hint = _HINTS.get(module, "chunkygan reads only tensors, numbers, containers and inert placeholders of "
                                  "NVIDIA's torch_utils.persistence objects; it never runs code from a checkpoint")
        raise UnsafePickleError(f"refused: the pickle asks for the global '{module}.{name}', which is not on "
                                f"chunkygan's allowlist ({hint})")

    def persistent_load(self, pid):
        raise UnsafePickleError(f"refused: persistent id {str(pid)[:80]!r}; this looks like a torch.save file, "
                                "not a network pickle (load it with torch.load(weights_only=True))")


def safe_load(f: BinaryIO) -> Any:
    """Unpickle ``f`` with :class:`RestrictedUnpickler`; raises :class:`UnsafePickleError` on anything else."""
    return RestrictedUnpickler(f).load()


def module_state_dict(obj: PersistentObject, prefix: str = "") -> dict[str, torch.Tensor]:
    """``nn.Module.state_dict()`` of an inert persistent module: parameters and persistent buffers.

    Walks ``state['_parameters']``, ``state['_buffers']`` (minus ``_non_persistent_buffers_set``) and
    ``state['_modules']`` recursively; keys are dotted like ``synthesis.b4.conv1.affine.weight``.
    """
    if not isinstance(obj, PersistentObject):
        raise TypeError(f"{prefix or 'object'}: expected a persistent torch module, got {type(obj).__name__}")
    st = obj.state
    if not all(isinstance(st.get(k), dict) for k in ("_parameters", "_buffers", "_modules")):
        raise ValueError(f"{prefix or obj.class_name}: not a torch.nn.Module (no _parameters/_buffers/_modules)")
    out: dict[str, torch.Tensor] = {}
    skip = set(st.get("_non_persistent_buffers_set") or ())
    for kind in ("_parameters", "_buffers"):
        for name, t in st[kind].items():
            if t is None or (kind == "_buffers" and name in skip):
                continue
            if type(t) is not torch.Tensor:
                raise ValueError(f"{prefix}{name}: expected a tensor, got {type(t).__name__}")
            out[prefix + name] = t.detach()  # a fresh tensor object: nothing set on the original comes along
    for name, sub in st["_modules"].items():
        if sub is not None:
            out.update(module_state_dict(sub, f"{prefix}{name}."))
    return out
