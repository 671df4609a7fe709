"""``--device auto|cpu|cuda`` resolution and the CPU allocator setting that batched segments need."""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

import torch

log = logging.getLogger(__name__)

#: Set to ``system`` to leave the C allocator exactly as the platform configured it.
ALLOCATOR_ENV = "CHUNKYGAN_CPU_ALLOCATOR"
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # glibc <malloc.h> mallopt parameters
_allocator_state: bool | None = None


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``auto`` picks CUDA when available; asking for CUDA without it is a clear error."""
    if isinstance(name, torch.device):
        return name
    name = (name or "auto").lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but this PyTorch build sees no CUDA device; use --device cpu")
    if name not in ("cpu",) and not name.startswith("cuda"):
        raise ValueError(f"unknown device {name!r}; use auto, cpu or cuda[:N]")
    return torch.device(name)


def keep_cpu_memory_mapped() -> bool:
    """Keep freed CPU tensor memory inside the process instead of returning it to the OS (glibc only).

    glibc serves every allocation above 32 MiB with a fresh ``mmap`` and unmaps it on free, so each
    new large tensor page-faults and zero-fills all its pages again. A batch of K segments at 256 px
    has activations of 16·K MiB, so at K ≥ 2 every layer pays this; at K = 4 it cost a projection step
    ~25% (8.6 s of system time in a 28 s benchmark) and made a loop over segments faster than one
    batched call. ``mallopt(M_MMAP_MAX, 0)`` serves large blocks from the heap and a high
    ``M_TRIM_THRESHOLD`` keeps them there, like PyTorch's CUDA caching allocator does on the GPU. The
    price: the process keeps its peak memory until it exits.

    Applied once per process (idempotent); a no-op returning False on non-glibc platforms or when
    the environment variable ``CHUNKYGAN_CPU_ALLOCATOR=system`` is set. Returns True when applied.
    """
    global _allocator_state
    if _allocator_state is not None:
        return _allocator_state
    _allocator_state = False
    if os.environ.get(ALLOCATOR_ENV, "").lower() == "system":
        log.debug("%s=system: leaving the C allocator as it is", ALLOCATOR_ENV)
        return False
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other C libraries have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = mallopt(_M_MMAP_MAX, 0) == 1 and mallopt(_M_TRIM_THRESHOLD, 2 ** 31 - 1) == 1
    log.debug("CPU allocator keeps large blocks mapped: %s", ok)
    _allocator_state = bool(ok)
    return _allocator_state
