"""The per-pixel classifier of the segment generator ``G^S`` (DatasetGAN-style) and its file format.

:class:`SegmentHead` maps the generator's block features to K segment logits at a working resolution:

* ``kind="mlp"`` — DatasetGAN's per-pixel MLP ensemble: ``M`` members, each
  ``Linear(ΣC → hidden) → ReLU → Linear(hidden → hidden2) → ReLU → Linear(hidden2 → K)``, logits averaged.
  All layers are 1×1 convolutions over the whole feature map (no per-pixel Python loops).
* ``kind="conv"`` — the same, with the last two layers 3×3 convolutions (a light convolutional head
  that sees a little spatial context).

The first layer is linear per pixel, so instead of stacking the upsampled features (DatasetGAN) it is
applied to every block at its own resolution and the narrow outputs are upsampled and summed: exactly
the same function (bilinear upsampling is linear and per channel), but never a ``[B, ΣC, r, r]`` tensor.
Features are standardised per channel with statistics measured on the training samples.

Files: ``HEAD.safetensors`` (weights) + ``HEAD.json`` (architecture, class names, and the generator it
belongs to: name and a fingerprint of its weights). :func:`load_head` refuses a head for another
generator with a clear message. Nothing is ever executed from these files.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..fileio import atomic_write_text

FORMAT = "chunkygan.segment_head"
VERSION = 1


class HeadMismatchError(ValueError):
    """The head file was trained for another generator (or is not a segment head)."""


def generator_fingerprint(G) -> str:
    """sha256 (first 16 hex digits) over the generator's parameter and buffer names, shapes and float32 values."""
    h = hashlib.sha256()
    for name, t in sorted(G.state_dict().items()):
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


class SegmentHead(nn.Module):
    """Block features ``[[B,C_l,r_l,r_l]]`` -> segment logits ``[B,K,r,r]`` at the working resolution ``r``.

    Args:
        block_channels: channels ``C_l`` of the feature blocks it reads (coarse to fine).
        num_classes: K.
        resolution: working resolution ``r`` of the logits.
        hidden, hidden2: widths of the two hidden layers (DatasetGAN: 128, 32; ours default 64, 32).
        members: ensemble size M (DatasetGAN: 10).
        kind: ``mlp`` (1×1 layers) or ``conv`` (3×3 in the last two layers).
    """

    def __init__(self, block_channels: Sequence[int], num_classes: int, resolution: int, hidden: int = 64,
                 hidden2: int = 32, members: int = 1, kind: str = "mlp"):
        super().__init__()
        if kind not in ("mlp", "conv"):
            raise ValueError(f"head kind must be 'mlp' or 'conv', got {kind!r}")
        if num_classes < 2:
            raise ValueError(f"a segment head needs at least 2 classes, got {num_classes}")
        self.config = dict(block_channels=[int(c) for c in block_channels], num_classes=int(num_classes),
                           resolution=int(resolution), hidden=int(hidden), hidden2=int(hidden2),
                           members=int(members), kind=kind)
        M, k = int(members), (1 if kind == "mlp" else 3)
        self.num_classes, self.resolution, self.members = int(num_classes), int(resolution), M
        self.first = nn.ModuleList(nn.Conv2d(c, M * hidden, 1, bias=False) for c in block_channels)
        self.bias = nn.Parameter(torch.zeros(M * hidden))
        self.second = nn.Conv2d(M * hidden, M * hidden2, k, padding=k // 2, groups=M)
        self.third = nn.Conv2d(M * hidden2, M * num_classes, k, padding=k // 2, groups=M)
        for c_i, c in enumerate(block_channels):
            self.register_buffer(f"mean{c_i}", torch.zeros(c))
            self.register_buffer(f"std{c_i}", torch.ones(c))

    def set_normalisation(self, feats: Sequence[torch.Tensor]) -> None:
        """Per-channel mean and std of the training features (``[N,C_l,r_l,r_l]`` per block)."""
        for i, f in enumerate(feats):
            getattr(self, f"mean{i}").copy_(f.mean(dim=(0, 2, 3)))
            getattr(self, f"std{i}").copy_(f.std(dim=(0, 2, 3)).clamp(min=1e-3))

    def forward(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        """Logits ``[B,K,r,r]``, the mean over the M members (Eq.: ``Σ_l up(W_l · norm(f_l))`` first)."""
        if len(feats) != len(self.first):
            raise ValueError(f"head expects {len(self.first)} feature blocks, got {len(feats)}")
        r = self.resolution
        h = None
        for i, (f, conv) in enumerate(zip(feats, self.first)):
            if f.shape[1] != conv.in_channels:
                raise ValueError(f"feature block {i} has {f.shape[1]} channels, the head expects {conv.in_channels}")
            if f.shape[-1] > r:  # blocks finer than the working resolution: area-average first (cheaper, no aliasing)
                f = F.interpolate(f, size=(r, r), mode="area")
            y = conv((f - getattr(self, f"mean{i}").view(1, -1, 1, 1)) / getattr(self, f"std{i}").view(1, -1, 1, 1))
            if y.shape[-1] != r:
                y = F.interpolate(y, size=(r, r), mode="bilinear", align_corners=False)
            h = y if h is None else h + y
        h = F.relu(h + self.bias.view(1, -1, 1, 1))
        h = F.relu(self.second(h))
        out = self.third(h)  # [B, M*K, r, r]
        B = out.shape[0]
        return out.view(B, self.members, self.num_classes, r, r).mean(dim=1)


def save_head(head: SegmentHead, path: str | os.PathLike, meta: dict) -> tuple[Path, Path]:
    """Write ``path`` (``.safetensors``) and its ``.json`` sidecar atomically; ``meta`` must name the generator."""
    from safetensors.torch import save as st_save

    from ..fileio import atomic_write_bytes

    p = Path(path)
    if p.suffix != ".safetensors":
        p = p.with_suffix(".safetensors")
    for key in ("generator", "fingerprint", "space", "layers", "names"):
        if key not in meta:
            raise ValueError(f"head metadata needs {key!r}")
    info = {"format": FORMAT, "version": VERSION, "head": head.config, **meta}
    tensors = {k: v.detach().cpu().contiguous() for k, v in head.state_dict().items()}
    atomic_write_bytes(p, st_save(tensors, metadata={"format": FORMAT, "generator": str(meta["generator"]),
                                                     "fingerprint": str(meta["fingerprint"])}))
    atomic_write_text(p.with_suffix(".json"), json.dumps(info, indent=1))
    return p, p.with_suffix(".json")


def read_head_info(path: str | os.PathLike) -> dict:
    """The JSON sidecar of a head file (checked to be a segment head)."""
    p = Path(path)
    js = p.with_suffix(".json")
    if not p.with_suffix(".safetensors").exists() or not js.exists():
        raise FileNotFoundError(f"segment head {p}: need both {p.with_suffix('.safetensors').name} and {js.name}; "
                                "train one with `chunkygan segments train`")
    info = json.loads(js.read_text())
    if info.get("format") != FORMAT:
        raise HeadMismatchError(f"{js} is not a chunkygan segment head (format {info.get('format')!r})")
    if int(info.get("version", 0)) > VERSION:
        raise HeadMismatchError(f"{js} has format version {info['version']}; this chunkygan reads up to {VERSION}")
    return info


def load_head(path: str | os.PathLike, G=None) -> tuple[SegmentHead, dict]:
    """Load a head (CPU, float32, eval) and its metadata; with ``G``, refuse a head made for another generator."""
    from safetensors.torch import load_file

    p = Path(path).with_suffix(".safetensors")
    info = read_head_info(p)
    if G is not None:
        check_generator(info, G, p)
    cfg = info["head"]
    head = SegmentHead(cfg["block_channels"], cfg["num_classes"], cfg["resolution"], hidden=cfg["hidden"],
                       hidden2=cfg["hidden2"], members=cfg["members"], kind=cfg["kind"])
    state = load_file(str(p))
    missing = set(head.state_dict()) ^ set(state)
    if missing:
        raise HeadMismatchError(f"{p}: weights do not match the architecture in its JSON (keys {sorted(missing)[:5]})")
    head.load_state_dict(state, strict=True)
    return head.eval(), info


def check_generator(info: dict, G, path="head") -> None:
    """Raise :class:`HeadMismatchError` unless the head ``info`` was trained on this exact generator."""
    fp = generator_fingerprint(G)
    if info.get("fingerprint") != fp:
        raise HeadMismatchError(
            f"{path} is a segment head for generator {info.get('generator')!r} (weights {info.get('fingerprint')}), "
            f"not for {getattr(G, 'name', '?')!r} (weights {fp}). Train one for this generator with "
            f"`chunkygan segments train --generator {getattr(G, 'name', 'NAME')} -o HEAD`.")


__all__ = ["SegmentHead", "HeadMismatchError", "generator_fingerprint", "save_head", "load_head", "read_head_info",
           "check_generator"]
