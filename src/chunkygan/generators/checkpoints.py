"""Import generator checkpoints safely and keep them in chunkygan's native format.

Formats (``load_checkpoint(path)`` picks by content, then by suffix):

* **NVIDIA network pickle** (``.pkl`` from stylegan2-ada-pytorch / stylegan3, e.g. ``ffhq.pkl``,
  ``stylegan2-ffhq-1024x1024.pkl``): read by :mod:`.safe_pickle`'s restricted unpickler, which never
  executes the source code these pickles embed. ``G_ema`` is loaded; ``G``, ``D``, ``augment_pipe`` and
  ``training_set_kwargs`` are parsed into inert records and ignored.
* **rosinality .pt/.pth** (``{"g_ema", "latent_avg", ["g", "d", "args", ...]}`` or a bare ``g_ema``
  state_dict): ``torch.load(weights_only=True)``; names and shapes mapped by :mod:`.rosinality`, the
  config inferred from tensor shapes. A state_dict with official names works too.
* **native**: ``NAME.safetensors`` + ``NAME.json`` beside it::

      {"format": "chunkygan-generator", "version": 1, "architecture": "stylegan2",
       "init_kwargs": {...}, "meta": {"source": ..., "source_sha256": ..., "licence": ...},
       "weights": {"file": "NAME.safetensors", "sha256": ...}}

Every path ends in ``load_state_dict(strict=True)`` after a check that reports missing, unexpected and
wrongly shaped tensors by name (:class:`CheckpointError`); nothing is ever loaded partially.
"""
from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..errors import ChunkyganError
from ..fileio import atomic_path, atomic_write_text, sha256_file
from ..registry import Registry
from .rosinality import infer_stylegan2_init_kwargs, is_rosinality_state_dict, rosinality_to_official
from .safe_pickle import PersistentObject, UnsafePickleError, module_state_dict, safe_load

log = logging.getLogger(__name__)

FORMAT = "chunkygan-generator"
VERSION = 1
NVIDIA_LICENCE = ("NVIDIA Source Code License-NC for NVIDIA's released StyleGAN2 networks (non-commercial "
                  "research use); check the licence of this file's origin")
ROSINALITY_LICENCE = ("unknown: weights converted from NVIDIA's StyleGAN2 releases carry NVIDIA's "
                      "non-commercial licence; check the licence of this file's origin")
W_AVG_SAMPLES = 10_000

#: architecture name -> "module:Class" (imported only when needed)
ARCHITECTURES: Registry[str] = Registry("generator architecture")
ARCHITECTURES.register("stylegan2", "chunkygan.generators.stylegan2:StyleGAN2Generator")
ARCHITECTURES.register("dcgan", "chunkygan.generators.dcgan:DCGANGenerator")


class CheckpointError(ChunkyganError):
    """A checkpoint cannot be loaded as a generator; the message says what is wrong and what to do."""


class UnsafeCheckpointError(CheckpointError):
    """The file asks to run code (or import something not on the allowlist); nothing of it was run."""


@dataclass
class ImportedCheckpoint:
    """Weights + constructor arguments read from a file, before any module is built."""

    architecture: str
    init_kwargs: dict
    state_dict: dict[str, torch.Tensor]
    meta: dict = field(default_factory=dict)
    name: str = ""
    estimate_w_avg: bool = False  # the file has no mapping.w_avg (rosinality train.py checkpoints)
    path: str = ""  # the file it was read from (for error messages)


# --- architecture registry -----------------------------------------------------------------------------

def architecture_class(name: str) -> type:
    """The generator class registered as ``name`` (imported lazily)."""
    target = ARCHITECTURES.get(name)
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)


def architecture_name(G: torch.nn.Module) -> str:
    """The registered architecture name of a generator instance."""
    for name in ARCHITECTURES.names():
        module, _, cls = ARCHITECTURES.get(name).partition(":")
        if type(G).__module__ == module and type(G).__name__ == cls:
            return name
    raise CheckpointError(f"{type(G).__name__} is not a registered generator architecture "
                          f"(known: {', '.join(ARCHITECTURES.names())}); register it in "
                          "chunkygan.generators.checkpoints.ARCHITECTURES to save it")


# --- public API -----------------------------------------------------------------------------------------

def load_checkpoint(path: str | os.PathLike) -> torch.nn.Module:
    """Build the generator stored in ``path`` (NVIDIA ``.pkl``, rosinality ``.pt``, native ``.safetensors``).

    Returns the module on CPU in eval mode with ``meta`` (source, sha256, licence) and ``name`` set.
    Raises :class:`CheckpointError` (or :class:`UnsafeCheckpointError`) with a readable message.
    """
    return build_generator(read_checkpoint(path))


def read_checkpoint(path: str | os.PathLike) -> ImportedCheckpoint:
    """Read weights and config from any supported file without building a module."""
    path = Path(path)
    kind = detect_format(path)
    log.info("reading %s (%s)", path, kind)
    reader = {"native": _read_native, "nvidia-pkl": _read_nvidia, "torch": _read_torch}[kind]
    ck = reader(path)
    ck.path = str(path)
    return ck


def detect_format(path: Path) -> str:
    """``"native"``, ``"nvidia-pkl"`` or ``"torch"`` (torch.save file) from the first bytes / suffix."""
    suffix = path.suffix.lower()
    if suffix in (".json", ".safetensors"):
        return "native"
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    with open(path, "rb") as f:
        head = f.read(16)
    if head[:4] == b"PK\x03\x04" or head.startswith(b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19"):
        return "torch"  # torch.save zip archive or legacy torch.save (magic number)
    if head[:1] == b"\x80":
        return "nvidia-pkl"  # pickle protocol >= 2
    if len(head) >= 9 and head[8:9] == b"{":
        return "native"  # safetensors: 8-byte header length, then JSON
    if suffix == ".pkl":
        return "nvidia-pkl"  # older pickle protocols have no header; the restricted unpickler decides
    raise CheckpointError(f"{path}: not a recognised generator checkpoint (expected an NVIDIA network .pkl, a "
                          "rosinality .pt, or a chunkygan .safetensors + .json)")


def build_generator(ck: ImportedCheckpoint) -> torch.nn.Module:
    """Construct the architecture from ``ck.init_kwargs`` and load ``ck.state_dict`` strictly.

    The checked tensors are assigned to the module (``load_state_dict(strict=True, assign=True)``), so a
    large generator is not copied a second time. (Building on the ``meta`` device would also skip the
    random initialisation, but costs seconds of one-time torch imports for its decompositions.)
    """
    source = ck.path or ck.meta.get("source", ck.name or "checkpoint")
    cls = architecture_class(ck.architecture)
    try:
        G = cls.from_config(ck.init_kwargs) if hasattr(cls, "from_config") else cls(**ck.init_kwargs)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{source}: its config cannot build a {ck.architecture} generator: {e}") from e
    expected = G.state_dict()
    sd = dict(ck.state_dict)
    if ck.estimate_w_avg:
        sd["mapping.w_avg"] = torch.zeros_like(expected["mapping.w_avg"])
    check_state_dict(expected, sd, source, ck.architecture)
    sd = {k: v.to(expected[k].dtype) for k, v in sd.items()}
    G.load_state_dict(sd, strict=True, assign=True)
    G.eval()
    if ck.estimate_w_avg:
        with torch.no_grad():
            z = torch.randn(W_AVG_SAMPLES, G.z_dim, generator=torch.Generator().manual_seed(0))
            G.mapping.w_avg.copy_(G.mapping(z)[:, 0].mean(0))
    G.meta = dict(ck.meta)
    G.name = ck.name or G.name
    return G


def check_state_dict(expected: dict, got: dict, source: str = "checkpoint", architecture: str = "") -> None:
    """Raise :class:`CheckpointError` naming missing, unexpected and wrongly shaped tensors."""
    missing = [k for k in expected if k not in got]
    unexpected = [k for k in got if k not in expected]
    wrong = [f"{k}: file {list(got[k].shape)} vs model {list(expected[k].shape)}"
             for k in expected if k in got and tuple(got[k].shape) != tuple(expected[k].shape)]
    if not (missing or unexpected or wrong):
        return
    parts = []
    if missing:
        parts.append(f"missing {len(missing)} tensor(s): {_short(missing)}")
    if unexpected:
        parts.append(f"unexpected {len(unexpected)} tensor(s): {_short(unexpected)}")
    if wrong:
        parts.append(f"{len(wrong)} tensor(s) with the wrong shape: {_short(wrong, 4)}")
    hint = _resolution_hint(expected, got)
    arch = f" {architecture}" if architecture else ""
    raise CheckpointError(f"{source}: the weights do not match the{arch} generator its config describes "
                          f"({'; '.join(parts)}).{hint} Nothing was loaded.")


def save_generator(G: torch.nn.Module, path: str | os.PathLike, meta: dict | None = None) -> tuple[Path, Path]:
    """Write ``G`` as ``<path>.safetensors`` + ``<path>.json`` (atomically); returns both paths.

    ``path`` may end in ``.safetensors``, ``.json`` or have no suffix. ``meta`` entries are added to
    (and override) ``G.meta``.
    """
    from safetensors.torch import save_file

    st_path, json_path = native_paths(path)
    arch = architecture_name(G)
    init_kwargs = _plain(getattr(G, "init_kwargs", None), "init_kwargs")
    if not isinstance(init_kwargs, dict):
        raise CheckpointError(f"{type(G).__name__} has no init_kwargs dict; cannot save it")
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in G.state_dict().items()}
    full_meta = _plain({**dict(getattr(G, "meta", {}) or {}), **(meta or {})}, "meta")
    if getattr(G, "name", None):
        full_meta.setdefault("name", G.name)
    with atomic_path(st_path) as tmp:
        save_file(tensors, str(tmp), metadata={"format": FORMAT, "architecture": arch})
        digest = sha256_file(tmp)
    config = {"format": FORMAT, "version": VERSION, "architecture": arch, "init_kwargs": init_kwargs,
              "meta": full_meta, "weights": {"file": st_path.name, "sha256": digest}}
    atomic_write_text(json_path, json.dumps(config, indent=1, sort_keys=False) + "\n")
    log.info("wrote %s and %s", st_path, json_path)
    return st_path, json_path


@dataclass
class Converted:
    """Result of :func:`convert_checkpoint`."""

    safetensors: Path
    json: Path
    generator: torch.nn.Module


def convert_checkpoint(src: str | os.PathLike, dst: str | os.PathLike, licence: str | None = None,
                       on_step: Callable[[str], None] | None = None) -> Converted:
    """Convert an NVIDIA ``.pkl`` / rosinality ``.pt`` (or native file) to native ``.safetensors`` + ``.json``.

    The written weights are read back and compared tensor by tensor (bit-identical) before returning.
    ``on_step(name)`` is called after each of the steps "read", "build", "write", "verify" (for progress bars).
    """
    step = on_step or (lambda name: None)
    ck = read_checkpoint(src)
    step("read")
    G = build_generator(ck)
    step("build")
    st_path, json_path = save_generator(G, dst, {"licence": licence} if licence else None)
    step("write")
    again = read_checkpoint(st_path)
    ref = G.state_dict()
    bad = [k for k in ref if not torch.equal(ref[k].cpu(), again.state_dict[k].to(ref[k].dtype))]
    if bad:  # pragma: no cover - would mean a safetensors bug
        raise CheckpointError(f"{st_path}: read-back differs from the source in {_short(bad)}")
    step("verify")
    return Converted(st_path, json_path, G)


def native_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """``(NAME.safetensors, NAME.json)`` for ``NAME``, ``NAME.safetensors`` or ``NAME.json``."""
    p = Path(path)
    if p.suffix.lower() in (".safetensors", ".json"):
        p = p.with_suffix("")
    return p.with_name(p.name + ".safetensors"), p.with_name(p.name + ".json")


def read_nvidia_pickle(path: str | os.PathLike) -> object:
    """The whole NVIDIA network pickle as inert data (networks as :class:`PersistentObject` records).

    Raises :class:`UnsafeCheckpointError` naming the first global that is not on the allowlist;
    nothing from the file is executed.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return safe_load(f)
    except UnsafePickleError as e:
        raise UnsafeCheckpointError(f"{path}: {e}") from None
    except Exception as e:  # truncated/corrupt pickles: UnpicklingError, EOFError, ValueError, ...
        raise CheckpointError(f"{path}: not a readable network pickle ({type(e).__name__}: {e})") from None


# --- readers --------------------------------------------------------------------------------------------

def _read_nvidia(path: Path) -> ImportedCheckpoint:
    data = read_nvidia_pickle(path)
    if not isinstance(data, dict) or "G_ema" not in data:
        keys = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
        raise CheckpointError(f"{path}: not an NVIDIA network pickle: expected a dict with 'G_ema', found {keys}")
    G = data["G_ema"]
    if not isinstance(G, PersistentObject):
        raise CheckpointError(f"{path}: G_ema is a {type(G).__name__}, not a torch_utils.persistence network")
    try:
        sd = module_state_dict(G)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: G_ema ({G.class_name}) is not a usable network: {e}") from None
    if "synthesis.b4.const" not in sd or G.class_name != "Generator":
        what = ("a StyleGAN3 (alias-free) generator" if "synthesis.input.affine.weight" in sd
                else f"a {G.class_name} without synthesis.b4.const")
        raise CheckpointError(f"{path}: G_ema is {what}; only StyleGAN2 generators (networks_stylegan2 / "
                              "stylegan2-ada-pytorch training/networks.py) are supported")
    kwargs = _official_kwargs(_plain(G.init_kwargs, "G_ema init_kwargs"))
    if "conv_clamp" not in kwargs["synthesis_kwargs"]:
        # The default differs between repositories (stylegan2-ada-pytorch: None, stylegan3: 256), so read the
        # value the pickled layer actually stored instead of trusting either default.
        clamp = _stored_conv_clamp(G)
        if clamp is not _MISSING:
            kwargs["synthesis_kwargs"]["conv_clamp"] = clamp
    meta = _source_meta(path, "nvidia-pkl", NVIDIA_LICENCE)
    meta["init_kwargs_official"] = _plain(G.init_kwargs, "G_ema init_kwargs")
    return ImportedCheckpoint("stylegan2", kwargs, {k: v.float() for k, v in sd.items()}, meta, path.stem)


def _read_torch(path: Path) -> ImportedCheckpoint:
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):  # rosinality train.py stores its args
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        if "weights only" not in str(e).lower():
            raise CheckpointError(f"{path}: not a readable torch checkpoint ({type(e).__name__}: {e})") from None
        lines = str(e).splitlines()
        detail = next((m for m in lines if "Unsupported global" in m or "GLOBAL" in m), lines[0] if lines else "")
        raise UnsafeCheckpointError(
            f"{path}: torch.load(weights_only=True) refused it ({detail.strip()}). chunkygan reads only tensors "
            "and plain containers from .pt files; it never unpickles arbitrary objects") from None
    latent_avg = None
    if isinstance(obj, dict) and "g_ema" in obj:
        sd, latent_avg = obj["g_ema"], obj.get("latent_avg")
    else:
        sd = obj
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        keys = sorted(map(str, obj))[:12] if isinstance(obj, dict) else type(obj).__name__
        raise CheckpointError(f"{path}: not a generator checkpoint: expected rosinality's {{'g_ema': state_dict, "
                              f"'latent_avg': ...}} or a state_dict, found {keys}")
    meta = _source_meta(path, "torch", ROSINALITY_LICENCE)
    try:
        if is_rosinality_state_dict(sd):
            official = rosinality_to_official(sd)
            meta["source_format"] = "rosinality-pt"
        elif "synthesis.b4.const" in sd:
            official = dict(sd)
            meta["source_format"] = "stylegan2-state-dict"
        else:
            raise CheckpointError(f"{path}: not a StyleGAN2 generator: none of rosinality's ('input.input', "
                                  f"'style.1.weight') or NVIDIA's ('synthesis.b4.const') tensors; found "
                                  f"{_short(sorted(sd))}")
        kwargs = infer_stylegan2_init_kwargs(official)
    except (KeyError, ValueError) as e:
        if isinstance(e, CheckpointError):
            raise
        raise CheckpointError(f"{path}: {e}") from None
    official = {k: v.float() for k, v in official.items()}
    estimate = False
    if latent_avg is not None:
        official["mapping.w_avg"] = latent_avg.reshape(-1).float()
    elif "mapping.w_avg" not in official:
        estimate = True
        meta["w_avg"] = (f"estimated: mean of {W_AVG_SAMPLES} mapped z (seed 0); the checkpoint has no latent_avg")
        log.warning("%s has no latent_avg; estimating w_avg from %d samples", path, W_AVG_SAMPLES)
    return ImportedCheckpoint("stylegan2", kwargs, official, meta, path.stem, estimate_w_avg=estimate)


def _read_native(path: Path) -> ImportedCheckpoint:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    st_path, json_path = native_paths(path)
    for p, what in ((json_path, "config"), (st_path, "weights")):
        if not p.is_file():
            raise CheckpointError(f"{path}: the native format needs {p.name} ({what}) beside it; write both with "
                                  "chunkygan.generators.checkpoints.save_generator or `chunkygan convert`")
    try:
        cfg = json.loads(json_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{json_path}: not valid JSON ({e})") from None
    if not isinstance(cfg, dict) or cfg.get("format") != FORMAT:
        raise CheckpointError(f"{json_path}: not a chunkygan generator config (format must be {FORMAT!r})")
    if cfg.get("version") != VERSION:
        raise CheckpointError(f"{json_path}: format version {cfg.get('version')!r} is not supported (this chunkygan "
                              f"reads version {VERSION}); upgrade chunkygan")
    arch = cfg.get("architecture")
    if arch not in ARCHITECTURES:
        raise CheckpointError(f"{json_path}: unknown architecture {arch!r} (known: {', '.join(ARCHITECTURES.names())})")
    if not isinstance(cfg.get("init_kwargs"), dict):
        raise CheckpointError(f"{json_path}: 'init_kwargs' must be an object")
    want = (cfg.get("weights") or {}).get("sha256")
    if want and sha256_file(st_path) != want:
        raise CheckpointError(f"{st_path}: sha256 differs from the one recorded in {json_path.name}; the weights "
                              "and config do not belong together (or the file is corrupt)")
    try:
        sd = load_file(str(st_path), device="cpu")
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{st_path}: not a readable safetensors file ({e})") from None
    meta = dict(cfg.get("meta") or {})
    meta.setdefault("source", str(st_path))
    return ImportedCheckpoint(arch, cfg["init_kwargs"], sd, meta, meta.get("name", st_path.stem))


# --- helpers --------------------------------------------------------------------------------------------

_TOP_KEYS = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs", "synthesis_kwargs")


_MISSING = object()


def _stored_conv_clamp(G: PersistentObject):
    """``conv_clamp`` as stored in the pickled ``synthesis.b4.conv1`` layer's attributes (inert data)."""
    node = G
    for name in ("synthesis", "b4", "conv1"):
        mods = node.state.get("_modules", {}) if isinstance(node, PersistentObject) else {}
        node = mods.get(name)
        if node is None:
            return _MISSING
    value = node.state.get("conv_clamp", _MISSING) if isinstance(node, PersistentObject) else _MISSING
    return value if value is None or isinstance(value, (int, float)) or value is _MISSING else _MISSING


def _official_kwargs(kwargs: dict) -> dict:
    """Official init kwargs in the stylegan2-ada-pytorch nested form.

    stylegan3's ``networks_stylegan2.Generator`` takes synthesis options as flat keywords; those move into
    ``synthesis_kwargs`` (``class_name``, if present, is dropped).
    """
    out = {k: kwargs[k] for k in _TOP_KEYS if k in kwargs}
    out["mapping_kwargs"] = dict(out.get("mapping_kwargs") or {})
    synth = dict(out.get("synthesis_kwargs") or {})
    for k, v in kwargs.items():
        if k not in _TOP_KEYS and k != "class_name":
            synth[k] = v
    out["synthesis_kwargs"] = synth
    return out


def _plain(x, what: str):
    """JSON-ready copy: dicts (EasyDict too), lists, str, bool, int, float, None; numpy scalars unwrapped."""
    if isinstance(x, dict):
        return {str(k): _plain(v, what) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v, what) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if x is None or isinstance(x, (str, bool, int, float)):
        return x
    raise CheckpointError(f"{what} holds a {type(x).__name__}, which is not plain data")


def _source_meta(path: Path, fmt: str, licence: str) -> dict:
    return {"source": path.name, "source_sha256": sha256_file(path), "source_format": fmt, "licence": licence}


def _short(names: list[str], n: int = 6) -> str:
    return ", ".join(names[:n]) + (f", ... ({len(names) - n} more)" if len(names) > n else "")


def _resolutions(keys) -> set[int]:
    return {int(m.group(1)) for k in keys if (m := re.match(r"synthesis\.b(\d+)\.", k))}


def _resolution_hint(expected: dict, got: dict) -> str:
    re_, rg = _resolutions(expected), _resolutions(got)
    if re_ and rg and max(re_) != max(rg):
        return (f" The file holds a {max(rg)}x{max(rg)} generator but the config describes "
                f"{max(re_)}x{max(re_)}.")
    return ""
