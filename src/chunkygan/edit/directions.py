"""Editing directions and banks of them (Sec. 4.2: one direction moves every segment code alike).

A :class:`Direction` knows its latent space, its vector (or S-space ``(layer, channel)``), the layer
range it acts on, its unit (``scale``: strength 1 moves the code by ``scale·vector``), a default
strength and range, and the generator it was made for. A :class:`DirectionBank` holds many in one
``.safetensors`` file (tensors ``<name>`` + JSON metadata; loading never executes code) and refuses
a generator it was not made for.

Vector shapes by space: ``z`` ``[z_dim]``; ``w`` ``[w_dim]`` (optionally restricted to a range of
W+ layers); ``w+`` ``[num_ws, w_dim]``; ``s`` ``[sum(style_dims)]`` or a ``(layer, channel)`` pair.

How a direction moves codes of each space (:func:`direction_delta`):

====== ================================================================================
codes  accepted directions
====== ================================================================================
z      z
w      w (all layers)
w+     w (on its layer range), w+
s      s, (layer, channel), and w / w+ mapped through each style layer's affine (exact: the
       affines are linear + bias, so ``Δs_l = A_l·Δw_{i(l)}``)
====== ================================================================================
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Iterable, Sequence

import torch

from ..fileio import atomic_path

log = logging.getLogger(__name__)

FORMAT = "chunkygan.directions/1"
SPACES = ("z", "w", "w+", "s")


class DirectionError(ValueError):
    """A direction cannot be used as asked; the message says why and what to do."""


class GeneratorMismatchError(DirectionError):
    """A direction or bank was made for another generator."""


# --------------------------------------------------------------------------------------------------
# generator geometry


def generator_signature(G) -> dict:
    """The shape facts a direction must fit: ``{"z_dim", "w_dim", "num_ws", "style_dims"}``."""
    sig = {"z_dim": int(G.z_dim), "w_dim": int(getattr(G, "w_dim", G.z_dim)), "num_ws": int(getattr(G, "num_ws", 1))}
    if "s" in getattr(G, "spaces", ()):
        sig["style_dims"] = [int(c) for c in G.style_dims()]
    return sig


def style_w_indices(G) -> list[int]:
    """For each style layer (S order), the W+ index that drives it.

    Uses ``G.synthesis.layer_w_indices()`` when the generator has it, otherwise finds out by
    perturbing one W+ row at a time (the affines see exactly one row each).
    """
    syn = getattr(G, "synthesis", None)
    if syn is not None and hasattr(syn, "layer_w_indices"):
        return list(syn.layer_w_indices())
    dev = _device(G)
    with torch.no_grad():
        ws = torch.zeros(1 + G.num_ws, G.num_ws, G.w_dim, device=dev)
        for i in range(G.num_ws):
            ws[1 + i, i] = 1.0
        styles = G.styles(ws)
    out = []
    for s in styles:
        changed = (s[1:] - s[:1]).abs().amax(dim=1)
        out.append(int(changed.argmax()))
    return out


def parse_layers(text: str | Sequence[int] | None) -> tuple[int, int] | None:
    """``"0-5"`` (inclusive) or ``"3"`` or ``(start, stop)`` -> half-open ``(start, stop)``; None stays None."""
    if text is None or text == "":
        return None
    if isinstance(text, (tuple, list)):
        a, b = int(text[0]), int(text[1])
        if b <= a:
            raise DirectionError(f"layer range ({a}, {b}) is empty; stop must be greater than start")
        return a, b
    parts = str(text).replace(":", "-").split("-")
    try:
        if len(parts) == 1:
            a = int(parts[0])
            return a, a + 1
        if len(parts) == 2:
            a, b = int(parts[0]), int(parts[1])
            if b < a:
                raise DirectionError(f"layer range {text!r} runs backwards; write it as low-high, e.g. 0-5")
            return a, b + 1
    except ValueError:
        pass
    raise DirectionError(f"cannot read layer range {text!r}; write e.g. 0-5 (inclusive) or 7")


# --------------------------------------------------------------------------------------------------
# Direction


@dataclass
class Direction:
    """One editing direction.

    Attributes:
        name: short name, used on the command line (``smile``, ``sefa_0``).
        space: ``z``, ``w``, ``w+`` or ``s`` (see the module docstring for vector shapes).
        vector: the direction (None for an S-space channel direction).
        generator: name of the generator it was made for.
        layers: half-open range of W+ layers (``w``/``w+`` directions) or of style layers (``s``)
            it acts on; None = all.
        channel: ``(style layer, channel)`` for a StyleSpace channel direction.
        scale: size of one unit of strength (e.g. the latents' standard deviation along it).
        default_strength, strength_range: suggestions for UIs and sweeps.
        source: how it was made (``sefa``, ``pca``, ``linear``, ``interfacegan``, ``ganspace``, ``npy``,
            ``stylespace``, ``user``).
        description: free text.
        card: measured behaviour (see :mod:`chunkygan.edit.cards`): labeller response per unit strength,
            monotone share, identity change per unit, samples; empty when never measured.
    """

    name: str
    space: str
    vector: torch.Tensor | None
    generator: str
    layers: tuple[int, int] | None = None
    channel: tuple[int, int] | None = None
    scale: float = 1.0
    default_strength: float = 1.0
    strength_range: tuple[float, float] = (-3.0, 3.0)
    source: str = "user"
    description: str = ""
    card: dict = field(default_factory=dict)

    def __post_init__(self):
        self.space = self.space.lower().replace("wplus", "w+")
        if self.space not in SPACES:
            raise DirectionError(f"direction {self.name!r}: unknown space {self.space!r}; use one of {', '.join(SPACES)}")
        if (self.vector is None) == (self.channel is None):
            raise DirectionError(f"direction {self.name!r}: give either a vector or an S-space (layer, channel)")
        if self.channel is not None:
            if self.space != "s":
                raise DirectionError(f"direction {self.name!r}: a (layer, channel) direction lives in S space")
            self.channel = (int(self.channel[0]), int(self.channel[1]))
        if self.vector is not None:
            self.vector = self.vector.detach().to("cpu", torch.float32)
            want = 2 if self.space == "w+" else 1
            if self.vector.dim() != want:
                raise DirectionError(f"direction {self.name!r}: a {self.space} vector must have {want} dimension(s), "
                                     f"got shape {tuple(self.vector.shape)}")
            if not torch.isfinite(self.vector).all():
                raise DirectionError(f"direction {self.name!r}: the vector has NaN or infinite entries")
        if self.layers is not None:
            self.layers = parse_layers(self.layers)
        if not self.name or "/" in self.name or any(c.isspace() for c in self.name) or "=" in self.name:
            raise DirectionError(f"direction name {self.name!r}: use a non-empty name without spaces, '=' or '/'")
        self.strength_range = (float(self.strength_range[0]), float(self.strength_range[1]))

    def with_layers(self, layers) -> "Direction":
        """A copy acting on another layer range (``"0-5"``, ``(0, 6)``, None = all)."""
        return replace(self, layers=parse_layers(layers))

    def fits(self, G) -> str | None:
        """None when this direction can be used with ``G``; otherwise the reason (a sentence)."""
        sig = generator_signature(G)
        if self.space == "z":
            n = sig["z_dim"]
        elif self.space == "w":
            n = sig["w_dim"]
        elif self.space == "w+":
            if tuple(self.vector.shape) != (sig["num_ws"], sig["w_dim"]):
                return (f"direction {self.name!r} is a W+ vector of shape {tuple(self.vector.shape)}, the generator "
                        f"{G.name!r} has W+ shape ({sig['num_ws']}, {sig['w_dim']})")
            return None
        else:
            if "style_dims" not in sig:
                return f"generator {G.name!r} has no S space; direction {self.name!r} needs one"
            dims = sig["style_dims"]
            if self.channel is not None:
                layer, ch = self.channel
                if not 0 <= layer < len(dims) or not 0 <= ch < dims[layer]:
                    return (f"direction {self.name!r} names style layer {layer} channel {ch}; generator {G.name!r} "
                            f"has {len(dims)} style layers")
                return None
            n = sum(dims)
        if self.space != "s" and self.space not in G.spaces:
            return f"generator {G.name!r} has no {self.space} space (it offers {', '.join(G.spaces)})"
        if self.vector.numel() != n:
            return (f"direction {self.name!r} has {self.vector.numel()} entries; generator {G.name!r} needs {n} "
                    f"for its {self.space} space")
        return None

    def metadata(self) -> dict:
        d = asdict(self)
        d.pop("vector")
        return d


# --------------------------------------------------------------------------------------------------
# applying directions


def direction_delta(G, direction: Direction, strength: float, code_space: str,
                    layers: tuple[int, int] | str | None = None) -> torch.Tensor:
    """The change one code of ``code_space`` gets from ``strength`` along ``direction``.

    Returns a tensor shaped like one code (``[z_dim]``, ``[w_dim]``, ``[num_ws, w_dim]`` or
    ``[sum(style_dims)]``) on the generator's device. ``layers`` overrides the direction's range.
    """
    code_space = code_space.lower().replace("wplus", "w+")
    why = direction.fits(G)
    if why:
        raise DirectionError(why)
    layers = parse_layers(layers) if layers is not None else direction.layers
    dev = _device(G)
    amount = float(strength) * float(direction.scale)
    d = direction
    if code_space == "z":
        if d.space != "z":
            raise DirectionError(f"direction {d.name!r} lives in {d.space} space; codes in Z can only move along Z "
                                 "directions (the mapping network is not linear). Project in w/w+ or use a Z direction")
        _no_layers(d, layers, "z")
        return amount * d.vector.to(dev)
    if d.space == "z":
        raise DirectionError(f"direction {d.name!r} is a Z direction; it cannot move {code_space} codes "
                             "(the mapping network is not linear). Use a W/W+/S direction or project in z")
    num_ws, w_dim = G.num_ws, G.w_dim
    if code_space == "w":
        if d.space == "w" and (layers is None or layers == (0, num_ws)):
            return amount * d.vector.to(dev)
        raise DirectionError(f"direction {d.name!r} ({d.space}, layers {layers}) edits single layers; a W code has one "
                             "vector for all layers. Project in w+ to edit layer ranges")
    if d.space in ("w", "w+"):
        wdelta = d.vector.to(dev).expand(num_ws, w_dim) if d.space == "w" else d.vector.to(dev)
        keep = torch.zeros(num_ws, 1, device=dev)
        a, b = (0, num_ws) if layers is None else layers
        if not 0 <= a < b <= num_ws:
            raise DirectionError(f"layer range {a}-{b - 1} is outside the generator's W+ layers 0-{num_ws - 1}")
        keep[a:b] = 1
        wdelta = amount * wdelta * keep
        if code_space == "w+":
            return wdelta
        if code_space == "s":
            with torch.no_grad():
                zero = torch.zeros(1, num_ws, w_dim, device=dev)
                s1 = torch.cat(G.styles(wdelta.unsqueeze(0)), dim=1)
                s0 = torch.cat(G.styles(zero), dim=1)
            return (s1 - s0)[0]
    if d.space == "s":
        if code_space != "s":
            raise DirectionError(f"direction {d.name!r} is an S-space direction; codes in {code_space} cannot follow "
                                 "it. Project in s space to use StyleSpace channels")
        dims = G.style_dims()
        offsets = [0]
        for c in dims:
            offsets.append(offsets[-1] + c)
        if d.channel is not None:
            out = torch.zeros(offsets[-1], device=dev)
            out[offsets[d.channel[0]] + d.channel[1]] = amount
            return out
        out = amount * d.vector.to(dev)
        if layers is not None:
            a, b = layers
            if not 0 <= a < b <= len(dims):
                raise DirectionError(f"style layer range {a}-{b - 1} is outside 0-{len(dims) - 1}")
            keep = torch.zeros_like(out)
            keep[offsets[a]:offsets[b]] = 1
            out = out * keep
        return out
    raise DirectionError(f"unknown code space {code_space!r}")


def _no_layers(d: Direction, layers, space: str) -> None:
    if layers is not None:
        raise DirectionError(f"direction {d.name!r}: a layer range needs W+ or S codes, not {space}")


@dataclass
class Edit:
    """One term of an edit: ``strength`` along ``direction`` (optionally over other ``layers``)."""

    direction: Direction
    strength: float
    layers: tuple[int, int] | None = None


def apply_edits(G, codes: torch.Tensor, space: str, edits: Iterable[Edit | tuple],
                segments: Sequence[int] | None = None) -> torch.Tensor:
    """Move K segment codes ``[K, ...]`` along directions; returns new codes (input untouched).

    ``edits``: :class:`Edit` items or ``(direction, strength[, layers])`` tuples, summed.
    ``segments``: indices of the codes to move (local edit); None moves all of them (global edit,
    Sec. 4.2: every segment code changes in the same direction by the same amount). A strength of
    0 leaves codes bit-identical.
    """
    K = codes.shape[0]
    rows = list(range(K)) if segments is None else [int(i) for i in segments]
    bad = [i for i in rows if not 0 <= i < K]
    if bad:
        raise DirectionError(f"segment(s) {bad} do not exist; this projection has segments 0-{K - 1}")
    out = codes.clone()
    total = None
    for e in edits:
        e = e if isinstance(e, Edit) else Edit(*e)
        if float(e.strength) == 0.0:
            continue
        delta = direction_delta(G, e.direction, e.strength, space, e.layers)
        total = delta if total is None else total + delta
    if total is None or not rows:
        return out
    out[rows] = codes[rows] + total.to(codes)
    return out


# --------------------------------------------------------------------------------------------------
# DirectionBank


def generator_fingerprint(G) -> str:
    """16 hex digits of sha256 over the generator's parameter/buffer names, shapes and values (its weights)."""
    from ..segments.head import generator_fingerprint as fp

    return fp(G)


class DirectionBank:
    """Named directions made for one generator, stored in one ``.safetensors`` file.

    ``fingerprint``: :func:`generator_fingerprint` of the weights the bank was made for; banks are cached
    and looked up by it (:func:`default_bank_path`, :func:`load_bank_for`), never by the file name alone.
    """

    def __init__(self, generator: str, directions: Iterable[Direction] = (), signature: dict | None = None,
                 description: str = "", fingerprint: str = ""):
        self.generator = str(generator)
        self.signature = dict(signature or {})
        self.description = description
        self.fingerprint = str(fingerprint or "")
        self._dirs: dict[str, Direction] = {}
        for d in directions:
            self.add(d)

    @classmethod
    def for_generator(cls, G, directions: Iterable[Direction] = (), description: str = "") -> "DirectionBank":
        return cls(G.name, directions, generator_signature(G), description, generator_fingerprint(G))

    # -- container ----------------------------------------------------------------------------------
    def add(self, d: Direction, overwrite: bool = False) -> Direction:
        if d.generator != self.generator:
            raise GeneratorMismatchError(f"direction {d.name!r} was made for generator {d.generator!r}; this bank "
                                         f"is for {self.generator!r}")
        if d.name in self._dirs and not overwrite:
            raise DirectionError(f"the bank already has a direction called {d.name!r}; rename it or pass overwrite")
        self._dirs[d.name] = d
        return d

    def get(self, name: str) -> Direction:
        try:
            return self._dirs[name]
        except KeyError:
            known = ", ".join(self._dirs) or "(none)"
            near = f"{name}_unverified"
            hint = (f"; {near!r} is offered instead: its card is monotone on fewer than 90% of samples "
                    "(`chunkygan directions evaluate`)" if near in self._dirs else "")
            raise DirectionError(f"no direction called {name!r} for generator {self.generator!r}{hint}; known: {known}") \
                from None

    __getitem__ = get

    def names(self) -> list[str]:
        return list(self._dirs)

    def __iter__(self):
        return iter(self._dirs.values())

    def __len__(self) -> int:
        return len(self._dirs)

    def __contains__(self, name) -> bool:
        return name in self._dirs

    def merge(self, other: "DirectionBank", overwrite: bool = False) -> "DirectionBank":
        if other.generator != self.generator:
            raise GeneratorMismatchError(f"cannot merge a bank for generator {other.generator!r} into one for "
                                         f"{self.generator!r}")
        for d in other:
            self.add(d, overwrite=overwrite)
        return self

    # -- compatibility --------------------------------------------------------------------------------
    def check(self, G) -> None:
        """Raise :class:`GeneratorMismatchError` naming both generators unless the bank fits ``G``."""
        if G.name != self.generator:
            raise GeneratorMismatchError(
                f"these directions were made for generator {self.generator!r}, not for {G.name!r}; discover "
                f"directions for {G.name!r} (chunkygan directions discover --generator {G.name}) or load its own bank")
        if self.signature:
            sig = generator_signature(G)
            diff = {k: (v, sig.get(k)) for k, v in self.signature.items() if sig.get(k) != v}
            if diff:
                raise GeneratorMismatchError(
                    f"the bank for generator {self.generator!r} expects {', '.join(f'{k}={a}' for k, (a, _) in diff.items())}"
                    f" but the loaded {G.name!r} has {', '.join(f'{k}={b}' for k, (_, b) in diff.items())}")
        for d in self:
            why = d.fits(G)
            if why:
                raise GeneratorMismatchError(why)
        if self.fingerprint and self.fingerprint != generator_fingerprint(G):
            log.warning("this direction bank was made for other weights of %r (fingerprint %s, the loaded one is %s): "
                        "its directions may not do what their names say; discover directions for these weights",
                        G.name, self.fingerprint, generator_fingerprint(G))

    # -- file I/O -----------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the bank atomically: one tensor per vector direction plus JSON metadata."""
        from safetensors.torch import save_file

        tensors = {d.name: d.vector.contiguous().clone() for d in self if d.vector is not None}
        if not tensors:  # safetensors needs at least a header; an empty placeholder keeps the file valid
            tensors["__empty__"] = torch.zeros(0)
        meta = {"format": FORMAT, "generator": self.generator, "signature": json.dumps(self.signature),
                "description": self.description, "fingerprint": self.fingerprint,
                "directions": json.dumps([d.metadata() for d in self])}
        p = Path(path)
        with atomic_path(p) as tmp:
            save_file(tensors, str(tmp), metadata=meta)
        return p

    @classmethod
    def load(cls, path: str | os.PathLike) -> "DirectionBank":
        from safetensors import safe_open

        p = Path(path)
        if not p.is_file():
            raise DirectionError(f"{p}: no such direction bank file")
        try:
            with safe_open(str(p), framework="pt", device="cpu") as f:
                meta = f.metadata() or {}
                tensors = {k: f.get_tensor(k) for k in f.keys()}
        except Exception as e:  # safetensors has its own error types
            raise DirectionError(f"{p}: not a readable safetensors file ({e})") from None
        if meta.get("format") != FORMAT:
            raise DirectionError(f"{p}: format {meta.get('format')!r} is not {FORMAT!r}; import other formats with "
                                 "chunkygan.edit.directions.import_* (InterFaceGAN, GANSpace, .npy, StyleSpace)")
        try:
            entries = json.loads(meta["directions"])
            signature = json.loads(meta.get("signature", "{}"))
        except (KeyError, json.JSONDecodeError) as e:
            raise DirectionError(f"{p}: damaged metadata ({e})") from None
        bank = cls(meta.get("generator", ""), signature=signature, description=meta.get("description", ""),
                   fingerprint=meta.get("fingerprint", ""))
        for e in entries:
            vec = tensors.get(e["name"]) if e.get("channel") is None else None
            if e.get("channel") is None and vec is None:
                raise DirectionError(f"{p}: the vector of direction {e['name']!r} is missing")
            bank.add(Direction(
                name=e["name"], space=e["space"], vector=vec, generator=e["generator"],
                layers=tuple(e["layers"]) if e.get("layers") else None,
                channel=tuple(e["channel"]) if e.get("channel") else None, scale=float(e.get("scale", 1.0)),
                default_strength=float(e.get("default_strength", 1.0)),
                strength_range=tuple(e.get("strength_range", (-3.0, 3.0))), source=e.get("source", ""),
                description=e.get("description", ""), card=dict(e.get("card") or {})))
        return bank


# --------------------------------------------------------------------------------------------------
# importers for the formats people have


def import_interfacegan(path: str | os.PathLike, name: str, generator: str, layers=None,
                        scale: float = 1.0, default_strength: float = 1.0) -> Direction:
    """InterFaceGAN-style StyleGAN2 boundary as shipped by e4e / PTI / HyperStyle.

    Accepts ``torch.save`` tensors of shape ``[1,512]`` / ``[512]`` (a W direction) or
    ``[1,18,512]`` / ``[18,512]`` (a W+ direction), loaded with ``weights_only=True`` (no code runs),
    and InterFaceGAN's own ``.npy`` boundaries (``[1,512]``).
    """
    p = Path(path)
    if not p.is_file():
        raise DirectionError(f"{p}: no such boundary file")
    if p.suffix.lower() == ".npy":
        return import_npy(p, name, generator, layers=layers, scale=scale, source="interfacegan")
    try:
        t = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:
        raise DirectionError(f"{p}: not a plain torch.save tensor file ({e}); only tensors are accepted") from None
    if isinstance(t, dict) and len(t) == 1:
        t = next(iter(t.values()))
    if not isinstance(t, torch.Tensor):
        raise DirectionError(f"{p}: expected a tensor of shape [1,512] or [1,18,512], got {type(t).__name__}")
    return _direction_from_array(t.float(), p, name, generator, layers, scale, default_strength, "interfacegan")


def import_npy(path: str | os.PathLike, name: str, generator: str, layers=None, scale: float = 1.0,
               source: str = "npy", default_strength: float = 1.0) -> Direction:
    """A ``.npy`` W direction (``[512]``, ``[1,512]``) or W+ direction (``[num_ws,512]``) with a layer range."""
    import numpy as np

    p = Path(path)
    try:
        arr = np.load(p, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise DirectionError(f"{p}: not a plain .npy array ({e})") from None
    return _direction_from_array(torch.from_numpy(np.asarray(arr, dtype=np.float32)), p, name, generator, layers,
                                 scale, default_strength, source)


def _direction_from_array(t, p, name, generator, layers, scale, default_strength, source) -> Direction:
    if t.dim() == 3 and t.shape[0] == 1:
        t = t[0]
    if t.dim() == 2 and t.shape[0] == 1:
        t = t[0]
    if t.dim() == 1:
        space = "w"
    elif t.dim() == 2:
        space = "w+"
    else:
        raise DirectionError(f"{p}: a direction must be [512], [1,512] or [1,num_ws,512], got {tuple(t.shape)}")
    return Direction(name=name, space=space, vector=t, generator=generator, layers=parse_layers(layers),
                     scale=scale, default_strength=default_strength, source=source, description=f"imported from {p.name}")


def import_ganspace(path: str | os.PathLike, generator: str,
                    presets: Sequence[tuple[str, int, int, int, float]] | None = None,
                    components: int | None = 10) -> list[Direction]:
    """GANSpace PCA (Härkönen et al. 2020) as a list of directions.

    The file is a ``torch.save`` dict ``{"mean": [1,512], "comp": [80,1,512], "std": [80]}`` (as used
    by e4e) or GANSpace's ``.npz`` (``lat_mean``, ``lat_comp``, ``lat_stdev``). Every direction is
    ``comp[i]`` with ``scale = std[i]`` (strength in standard deviations). ``presets`` are
    ``(name, component, start_layer, end_layer, strength)`` as in e4e's ``ganspace_directions``
    (end exclusive); the preset strength becomes the default strength in std units — e4e sets the
    component's coordinate to that value instead of adding to it, so equal numbers do not give
    equal pictures. Without presets the first ``components`` components are returned as
    ``ganspace_<i>`` over all layers.
    """
    p = Path(path)
    if p.suffix.lower() == ".npz":
        import numpy as np

        with np.load(p, allow_pickle=False) as z:
            comp = torch.from_numpy(z["lat_comp"]).float()
            std = torch.from_numpy(z["lat_stdev"]).float()
    else:
        try:
            d = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as e:
            raise DirectionError(f"{p}: not a plain torch.save dict of tensors ({e})") from None
        if not isinstance(d, dict) or not {"comp", "std"} <= set(d):
            raise DirectionError(f"{p}: expected a dict with 'mean', 'comp' and 'std' tensors (GANSpace PCA)")
        comp, std = d["comp"].float(), d["std"].float()
    comp = comp.reshape(comp.shape[0], -1)
    std = std.reshape(-1)
    if std.numel() != comp.shape[0]:
        raise DirectionError(f"{p}: {comp.shape[0]} components but {std.numel()} standard deviations")
    out = []
    if presets:
        for name, idx, start, end, strength in presets:
            if not 0 <= idx < comp.shape[0]:
                raise DirectionError(f"preset {name!r}: component {idx} does not exist ({comp.shape[0]} in {p.name})")
            s = abs(float(strength))
            out.append(Direction(name=name, space="w", vector=comp[idx], generator=generator, layers=(start, end),
                                 scale=float(std[idx]), default_strength=float(strength),
                                 strength_range=(-2 * s or -3.0, 2 * s or 3.0), source="ganspace",
                                 description=f"GANSpace component {idx}, layers {start}-{end - 1}"))
    else:
        for i in range(min(components or comp.shape[0], comp.shape[0])):
            out.append(Direction(name=f"ganspace_{i}", space="w", vector=comp[i], generator=generator,
                                 scale=float(std[i]), source="ganspace", description=f"GANSpace component {i}"))
    return out


def import_stylespace(presets: str | os.PathLike | Sequence, generator: str, G=None,
                      scale_samples: int = 0, seed: int = 0) -> list[Direction]:
    """StyleSpace (Wu et al. 2021) ``(layer, channel)`` presets as S-space directions.

    ``presets``: a list of ``(name, layer, channel[, strength])`` tuples or dicts, or a JSON file of
    such dicts, or a text file with one ``name layer channel [strength]`` (or ``name,layer_channel``)
    per line. Layer indices count every style layer including toRGB, as in StyleSpace
    (4×4: conv1, torgb; then conv0, conv1, torgb per block), which is our S order. With ``G`` and
    ``scale_samples > 0`` each channel's unit is its standard deviation over that many samples
    (StyleSpace edits in such units); otherwise 1.
    """
    items = _read_presets(presets)
    std = style_channel_std(G, scale_samples, seed) if G is not None and scale_samples > 0 else None
    out = []
    for it in items:
        name, layer, ch, strength = it
        scale = 1.0 if std is None else float(std[layer][ch])
        out.append(Direction(name=name, space="s", vector=None, channel=(layer, ch), generator=generator,
                             scale=scale, default_strength=strength, strength_range=(-3 * abs(strength) or -3,
                                                                                    3 * abs(strength) or 3),
                             source="stylespace", description=f"StyleSpace layer {layer} channel {ch}"))
    return out


def _read_presets(presets) -> list[tuple[str, int, int, float]]:
    if isinstance(presets, (str, os.PathLike)):
        p = Path(presets)
        text = p.read_text()
        if p.suffix.lower() == ".json":
            presets = json.loads(text)
        else:
            presets = []
            for line in text.splitlines():
                line = line.split("#")[0].strip()
                if not line:
                    continue
                parts = line.replace(",", " ").split()
                if len(parts) in (2, 3) and "_" in parts[1]:  # StyleSpace's own "layer_channel" notation
                    parts = [parts[0], *parts[1].split("_", 1), *parts[2:]]
                presets.append(parts)
    items = []
    for it in presets:
        if isinstance(it, dict):
            name, layer, ch, s = it["name"], it["layer"], it["channel"], it.get("strength", 1.0)
        else:
            if len(it) < 3:
                raise DirectionError(f"StyleSpace preset {it!r}: need name, layer, channel[, strength]")
            name, layer, ch = it[0], it[1], it[2]
            s = it[3] if len(it) > 3 else 1.0
        items.append((str(name), int(layer), int(ch), float(s)))
    return items


def style_channel_std(G, samples: int = 1000, seed: int = 0, batch: int = 256) -> list[torch.Tensor]:
    """Standard deviation of every style channel over ``samples`` random ``z`` (list ``[C_l]`` in S order)."""
    g = torch.Generator().manual_seed(seed)
    dev = _device(G)
    acc = None
    with torch.no_grad():
        for i in range(0, samples, batch):
            n = min(batch, samples - i)
            z = torch.randn(n, G.z_dim, generator=g).to(dev)
            s = torch.cat(G.styles(G.mapping(z)), dim=1).double()
            acc = s if acc is None else torch.cat([acc, s])
    std = acc.std(dim=0).float().cpu()
    return list(torch.split(std, G.style_dims()))


# --------------------------------------------------------------------------------------------------
# banks for the built-in generators


def default_bank_path(G) -> Path:
    """Where the bank of discovered directions for the generator ``G`` lives in the cache directory.

    The file name carries the weights' :func:`generator_fingerprint`, so another checkpoint with the same
    name (or file name) never finds this bank: ``<cache>/directions/<name>-<fingerprint>.safetensors``.
    """
    from ..assets import cache_dir

    if isinstance(G, str):
        raise TypeError("default_bank_path needs the loaded generator (banks are keyed by its weights), not a name")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in G.name)
    return cache_dir() / "directions" / f"{safe}-{generator_fingerprint(G)}.safetensors"


def bundled_bank_path(generator: str) -> Path | None:
    """The bank shipped inside the package for a built-in generator (``chunkygan/data``), if any."""
    p = Path(__file__).resolve().parent.parent / "data" / f"directions-{generator}.safetensors"
    return p if p.is_file() else None


def load_bank_for(generator, path: str | os.PathLike | None = None) -> DirectionBank:
    """The bank for ``generator`` (a loaded generator, or a built-in generator's name).

    An explicit ``path`` wins. For a loaded generator: the cached bank of its weights' fingerprint, else
    the bank shipped in the package if it was made for the same weights. For a name: the shipped bank.
    """
    if path is not None:
        return DirectionBank.load(path)
    if isinstance(generator, str):
        p = bundled_bank_path(generator)
        if p is not None:
            return DirectionBank.load(p)
        raise DirectionError(f"no bundled direction bank for generator {generator!r}; make one with "
                             f"`chunkygan directions discover --generator {generator} --method sefa`")
    fp = generator_fingerprint(generator)
    cached = default_bank_path(generator)
    if cached.is_file():
        return DirectionBank.load(cached)
    p = bundled_bank_path(generator.name)
    if p is not None:
        bank = DirectionBank.load(p)
        if not bank.fingerprint or bank.fingerprint == fp:
            return bank
        log.info("the bundled bank of %s was made for weights %s, these are %s: not using it", generator.name,
                 bank.fingerprint, fp)
    raise DirectionError(f"no direction bank for these weights of {generator.name!r} (fingerprint {fp}); make one "
                         f"with `chunkygan directions discover --generator ... --method sefa` (saved to {cached})")


def _device(G) -> torch.device:
    try:
        return next(G.parameters()).device
    except (StopIteration, AttributeError):
        return torch.device("cpu")


__all__ = ["Direction", "DirectionBank", "DirectionError", "GeneratorMismatchError", "Edit", "apply_edits",
           "direction_delta", "parse_layers", "generator_signature", "style_w_indices", "import_interfacegan",
           "import_npy", "import_ganspace", "import_stylespace", "style_channel_std", "default_bank_path", "generator_fingerprint",
           "bundled_bank_path", "load_bank_for"]
