"""Labelled generated samples: the training data of InterFaceGAN-style boundaries (Shen et al. 2020).

``N`` seeded latents are rendered and scored by every built-in face labeller once; the scores are cached
on disk in chunks (resumable), keyed by the generator's weight fingerprint, the seed and the labeller
version, so fitting and re-fitting directions costs no labelling. Latents are W codes for style-based
generators (``G.mapping(z)``, no truncation) and Z codes otherwise.

Cost: the labellers dominate (64 px renders take ~1 ms each on one CPU thread; dlib age/gender ~200 ms with
its six averaged views and MediaPipe ~15 ms per image after upsampling to 128 px), so 4,000 samples take
~15 min per generator on one thread.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

log = logging.getLogger(__name__)

#: every built-in label (face extra); ``gender`` is P(male)
LABELS = ("age", "gender", "smile", "eyes_open", "gaze_x", "gaze_y", "yaw", "pitch", "roll")
#: bump when the labellers change what they return (invalidates cached labels)
LABELLER_VERSION = "v3-tta"


@dataclass
class LabelledSamples:
    """``latents [N,D]`` in ``space`` (``w`` or ``z``) and ``scores``: label name -> ``[N]`` (NaN = no face)."""

    latents: torch.Tensor
    space: str
    scores: dict[str, torch.Tensor]

    def __len__(self) -> int:
        return self.latents.shape[0]


def render(G, latents: torch.Tensor, space: str, batch: int = 100) -> torch.Tensor:
    """Images ``[N,3,R,R]`` of W codes ``[N,w_dim]`` (broadcast to all layers) or Z codes ``[N,z_dim]``."""
    dev = _device(G)
    out = []
    with torch.no_grad():
        for i in range(0, len(latents), batch):
            c = latents[i:i + batch].to(dev)
            out.append((G(c) if space == "z" else G.synthesis(c.unsqueeze(1).expand(-1, G.num_ws, -1))).cpu())
    return torch.cat(out)


def face_labeller(names: tuple[str, ...] = LABELS) -> Callable[[torch.Tensor], dict[str, torch.Tensor]]:
    """``images -> {name: [B]}`` for built-in labels (NaN + a warning where no face is found)."""
    from ..face.labellers import label_images

    return lambda images: label_images(images, names, missing="nan")


def labels_cache_dir(root: str | os.PathLike | None = None) -> Path:
    from ..assets import cache_dir

    return Path(root) if root is not None else cache_dir() / "labels"


def labelled_samples(G, n: int, seed: int = 1, labeller: Callable | None = None, names: tuple[str, ...] = LABELS,
                     cache: str | os.PathLike | None = None, chunk: int = 500,
                     progress: Callable[[int, int], None] | None = None) -> LabelledSamples:
    """``n`` seeded samples of ``G`` scored by ``labeller`` (default: the built-in face labellers), cached.

    Chunks of ``chunk`` samples are stored as ``<cache>/<generator>-<fingerprint>-<version>-s<seed>/<i>.safetensors``
    (latent seed ``seed``, chunk ``i`` of samples ``i*chunk ...``), so an interrupted run resumes and a
    larger ``n`` reuses the smaller run's labels. ``progress(done, n)`` after each chunk.
    """
    from safetensors.torch import load_file, save_file

    from ..fileio import atomic_path
    from ..segments.head import generator_fingerprint
    from .discover import sample_latents

    space = "w" if "w" in G.spaces else "z"
    version = LABELLER_VERSION if labeller is None else getattr(labeller, "version", "custom")
    folder = labels_cache_dir(cache) / f"{G.name}-{generator_fingerprint(G)}-{version}-s{seed}"
    lab = labeller or face_labeller(names)
    lat_all = sample_latents(G, ((n + chunk - 1) // chunk) * chunk, space, seed)
    lats, scores = [], {k: [] for k in names}
    for i in range(0, n, chunk):
        f = folder / f"{i // chunk:05d}-of-{chunk}.safetensors"
        lat = lat_all[i:i + chunk]
        t = load_file(str(f)) if f.is_file() else None
        if t is None or not all(k in t for k in names):
            s = lab(render(G, lat, space))
            t = {"latents": lat.contiguous(), **{k: torch.as_tensor(s[k]).float().reshape(-1) for k in names}}
            f.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(f) as tmp:
                save_file(t, str(tmp))
        lats.append(t["latents"])
        for k in names:
            scores[k].append(t[k])
        if progress:
            progress(min(i + chunk, n), n)
    latents = torch.cat(lats)[:n]
    return LabelledSamples(latents, space, {k: torch.cat(v)[:n] for k, v in scores.items()})


def _device(G) -> torch.device:
    try:
        return next(G.parameters()).device
    except (StopIteration, AttributeError):
        return torch.device("cpu")


__all__ = ["LabelledSamples", "labelled_samples", "render", "face_labeller", "LABELS", "labels_cache_dir"]
