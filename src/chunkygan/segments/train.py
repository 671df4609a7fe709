"""Training the segment generator's head from a few labelled generated images (DatasetGAN recipe).

1. :func:`sample_latents` draws N latents from a fixed seed (Z; for style-based generators mapped to W+).
2. Each generated image is labelled: automatically with the MediaPipe face parts
   (:func:`chunkygan.segments.face_parts.face_part_masks`, on the image upsampled to 256 px since
   MediaPipe misses small faces; samples where no face is found are replaced by the next seeds), or from
   user-painted label images in a folder written by :func:`write_samples` (the paper's "few annotated
   images" workflow).
3. :func:`fit_head` trains a :class:`~chunkygan.segments.head.SegmentHead` on the generator's block
   features with a soft-target cross-entropy (Adam, random mini-batches of whole images).

Everything random comes from ``seed``: the same seed gives the same head bit for bit on the same device.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from .features import block_features, default_working_resolution, feature_modules, latent_space_of, select_layers
from .head import SegmentHead, generator_fingerprint

log = logging.getLogger(__name__)

#: progress callback: (stage, done, total, info dict)
Progress = Callable[[str, int, int, dict], None]

LABEL_SIZE = 256  # the face labeller sees images at least this large


@dataclass
class TrainingSet:
    """Latents ``[N,...]`` in ``space``, soft labels ``[N,K,r,r]`` (sum to 1 over K) and class ``names``."""

    latents: torch.Tensor
    labels: torch.Tensor
    names: tuple[str, ...]
    space: str
    seeds: list[int] = field(default_factory=list)
    source: str = "face-parts"


def _device(G) -> torch.device:
    try:
        return next(G.parameters()).device
    except (StopIteration, AttributeError):
        return torch.device("cpu")


@torch.no_grad()
def sample_latents(G, seeds: Sequence[int], space: str | None = None, truncation_psi: float = 1.0) -> torch.Tensor:
    """One latent per seed (``z = randn(z_dim)`` from ``torch.Generator().manual_seed(seed)``), in ``space``.

    Z for Z-only generators; W+ (through the mapping, with truncation) for style-based ones.
    """
    space = space or latent_space_of(G)
    z = torch.stack([torch.randn(G.z_dim, generator=torch.Generator().manual_seed(int(s))) for s in seeds])
    z = z.to(_device(G))
    if space == "z":
        return z * truncation_psi if truncation_psi != 1 else z
    ws = G.mapping(z, truncation_psi=truncation_psi)
    from ..latents import get_space

    return get_space(space).from_ws(G, ws)


def face_part_labeller(image: torch.Tensor, size: int) -> torch.Tensor | None:
    """Soft face-part masks ``[7,1,size,size]`` of one generated image ``[1,3,R,R]`` (None: no face found).

    The image is upsampled (bicubic) to at least :data:`LABEL_SIZE` px for MediaPipe; the masks are
    area-downsampled to ``size``.
    """
    from ..face.deps import NoFaceError
    from .face_parts import face_part_masks

    im = image.detach().float().cpu()
    if im.shape[-1] < LABEL_SIZE:
        im = F.interpolate(im, size=(LABEL_SIZE, LABEL_SIZE), mode="bicubic", align_corners=False).clamp(-1, 1)
    try:
        parts = face_part_masks(im)
    except NoFaceError:
        return None
    m = parts.masks.float()
    if m.shape[-1] != size:
        m = F.interpolate(m, size=(size, size), mode="area")
    return m / m.sum(0, keepdim=True).clamp(min=1e-8)


@torch.no_grad()
def auto_label(G, n: int, seed: int = 0, resolution: int | None = None, labeller: Callable | None = None,
               names: Sequence[str] | None = None, progress: Progress | None = None,
               max_tries: int | None = None) -> TrainingSet:
    """N labelled samples from seeds ``seed, seed+1, ...`` (seeds whose image gets no label are skipped).

    ``labeller(image [1,3,R,R], size) -> [K,1,size,size] | None`` (default: the MediaPipe face parts).
    """
    from .face_parts import PART_NAMES

    lab = labeller or face_part_labeller
    names = tuple(names or PART_NAMES)
    r = resolution or default_working_resolution(G)
    space = latent_space_of(G)
    max_tries = max_tries or 3 * n + 10
    latents, labels, seeds = [], [], []
    s = seed
    while len(seeds) < n:
        if s - seed >= max_tries:
            raise RuntimeError(f"only {len(seeds)} of {n} generated samples could be labelled in {max_tries} tries; "
                               "the labeller finds no face in this generator's images — label them by hand "
                               "(`chunkygan segments sample`, then `train --labels DIR`)")
        x = sample_latents(G, [s], space)
        img = _render(G, x, space)
        m = lab(img, r)
        if m is not None:
            latents.append(x.cpu())
            labels.append(m[:, 0].cpu())
            seeds.append(s)
            if progress:
                progress("label", len(seeds), n, {"seed": s})
        else:
            log.info("seed %d: no label (no face found); trying the next seed", s)
        s += 1
    return TrainingSet(torch.cat(latents), torch.stack(labels), names, space, seeds)


def _render(G, x, space):
    from ..latents import get_space

    return get_space(space).render(G, x)


def merge_rare(ts: TrainingSet, min_share: float = 0.001, into: str | None = None) -> TrainingSet:
    """Merge classes covering less than ``min_share`` of all pixels into ``into`` (default: ``skin`` if
    present, else the first class). Returns a new set with fewer classes (or the same one)."""
    share = ts.labels.mean(dim=(0, 2, 3))
    rare = [i for i, s in enumerate(share.tolist()) if s < min_share]
    if not rare:
        return ts
    target = ts.names.index(into) if into else (ts.names.index("skin") if "skin" in ts.names else 0)
    rare = [i for i in rare if i != target]
    keep = [i for i in range(len(ts.names)) if i not in rare]
    lab = ts.labels.clone()
    lab[:, target] += lab[:, rare].sum(dim=1)
    log.info("merging rare classes %s into %s", [ts.names[i] for i in rare], ts.names[target])
    return TrainingSet(ts.latents, lab[:, keep], tuple(ts.names[i] for i in keep), ts.space, ts.seeds, ts.source)


@torch.no_grad()
def features_of(G, latents: torch.Tensor, space: str, layers: Sequence[int], batch: int = 8) -> list[torch.Tensor]:
    """Block features of all latents, concatenated over the batch: ``[[N,C_l,r_l,r_l]]`` on CPU."""
    out: list[list[torch.Tensor]] = []
    dev = _device(G)
    for chunk in latents.split(batch):
        fs = block_features(G, chunk.to(dev), space, layers)
        out.append([f.float().cpu() for f in fs])
    return [torch.cat([o[i] for o in out]) for i in range(len(layers))]


def fit_head(feats: list[torch.Tensor], labels: torch.Tensor, *, kind: str = "mlp", members: int = 1,
             hidden: int = 64, hidden2: int = 32, steps: int = 150, lr: float = 3e-3, batch: int = 8,
             class_balance: float = 0.5, seed: int = 0, progress: Progress | None = None) -> SegmentHead:
    """Train a head on features ``[[N,C_l,r_l,r_l]]`` and soft labels ``[N,K,r,r]``.

    Loss: soft-target cross-entropy ``−Σ_k w_k y_k log softmax(z)_k`` per pixel, with class weights
    ``w_k ∝ share_k^(−class_balance)`` (0: none; 0.5 helps the small parts: eyes, mouth), Adam with a
    cosine learning-rate decay, mini-batches of ``batch`` whole images drawn from ``seed``.
    """
    N, K, r = labels.shape[0], labels.shape[1], labels.shape[-1]
    dev = feats[0].device
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        head = SegmentHead([f.shape[1] for f in feats], K, r, hidden=hidden, hidden2=hidden2, members=members,
                           kind=kind).to(dev)
    head.set_normalisation(feats)
    share = labels.mean(dim=(0, 2, 3)).clamp(min=1e-4)
    w = share.pow(-class_balance)
    w = (w / (w * share).sum()).view(1, K, 1, 1).to(dev)
    opt = torch.optim.Adam(head.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=lr * 0.05)
    gen = torch.Generator().manual_seed(seed)
    head.train()
    for step in range(steps):
        idx = torch.randperm(N, generator=gen)[:batch]
        logits = head([f[idx] for f in feats])
        loss = -(w * labels[idx].to(dev) * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if progress:
            progress("train", step + 1, steps, {"loss": float(loss.detach())})
    return head.eval().requires_grad_(False)


def train_segment_head(G, n: int = 30, seed: int = 0, *, labels_dir: str | os.PathLike | None = None,
                       generator_name: str | None = None, resolution: int | None = None,
                       layers: Sequence[int] | str | None = None, min_share: float = 0.001,
                       progress: Progress | None = None, training_set: TrainingSet | None = None,
                       **fit_kw) -> tuple[SegmentHead, dict]:
    """Label N samples (or read ``labels_dir``) and train a head; returns ``(head, meta)`` ready for
    :func:`chunkygan.segments.head.save_head`. ``fit_kw`` go to :func:`fit_head`."""
    r = resolution or default_working_resolution(G)
    if training_set is None:
        if labels_dir is not None:
            training_set = read_label_folder(labels_dir, G, r)
        else:
            training_set = auto_label(G, n, seed, r, progress=progress)
    ts = merge_rare(training_set, min_share) if min_share > 0 else training_set
    idx = select_layers(G, layers)
    feats = features_of(G, ts.latents, ts.space, idx)
    head = fit_head(feats, ts.labels.to(feats[0]), seed=seed, progress=progress, **fit_kw)
    meta = {"generator": generator_name or getattr(G, "name", ""), "fingerprint": generator_fingerprint(G),
            "space": ts.space, "layers": idx, "layer_names": [feature_modules(G)[i][0] for i in idx],
            "names": list(ts.names), "labels": ts.source, "samples": len(ts.seeds) or int(ts.latents.shape[0]),
            "seeds": ts.seeds, "seed": seed, "resolution": r,
            "train": {k: v for k, v in fit_kw.items() if isinstance(v, (int, float, str))}}
    return head, meta


# --- user-painted labels ------------------------------------------------------------------------------

@torch.no_grad()
def write_samples(G, folder: str | os.PathLike, n: int = 30, seed: int = 0, auto: bool = True,
                  progress: Progress | None = None) -> Path:
    """Write N generated samples for hand labelling: ``sample_XXX.png``, ``label_XXX.png`` (pixel value =
    class index; the face-part labels when ``auto`` and a face is found, else all background),
    ``samples.json`` (generator, seeds, class names). Edit the label PNGs, then train with ``--labels``."""
    from PIL import Image
    import numpy as np

    from ..fileio import atomic_write_text
    from ..imageio import save_image
    from .face_parts import PART_NAMES

    d = Path(folder)
    d.mkdir(parents=True, exist_ok=True)
    space = latent_space_of(G)
    seeds = list(range(seed, seed + n))
    for i, s in enumerate(seeds):
        x = sample_latents(G, [s], space)
        img = _render(G, x, space)
        save_image(img, d / f"sample_{i:03d}.png")
        m = face_part_labeller(img, G.resolution) if auto else None
        lab = m[:, 0].argmax(0) if m is not None else torch.zeros(G.resolution, G.resolution, dtype=torch.long)
        save_image(Image.fromarray(lab.cpu().numpy().astype(np.uint8), "L"), d / f"label_{i:03d}.png")
        if progress:
            progress("sample", i + 1, n, {"seed": s})
    info = {"format": "chunkygan.segment_samples", "version": 1, "generator": getattr(G, "name", ""),
            "fingerprint": generator_fingerprint(G), "seeds": seeds, "space": space, "names": list(PART_NAMES),
            "labels": [f"label_{i:03d}.png" for i in range(n)]}
    atomic_write_text(d / "samples.json", json.dumps(info, indent=1))
    return d


def read_label_folder(folder: str | os.PathLike, G, resolution: int) -> TrainingSet:
    """Read a folder written by :func:`write_samples` (after hand editing of the label PNGs).

    Label images: 8-bit, pixel value = class index into ``samples.json``'s ``names``; any size (resized
    with nearest neighbour, then area-averaged to ``resolution``).
    """
    import numpy as np

    from ..imageio import read_pil

    d = Path(folder)
    js = d / "samples.json"
    if not js.exists():
        raise FileNotFoundError(f"{d} has no samples.json; create the folder with `chunkygan segments sample`")
    info = json.loads(js.read_text())
    if info.get("fingerprint") and info["fingerprint"] != generator_fingerprint(G):
        raise ValueError(f"{d} holds samples of generator {info.get('generator')!r}, not of "
                         f"{getattr(G, 'name', '?')!r}; sample again with this generator")
    names = tuple(info["names"])
    K = len(names)
    labels = []
    for name in info["labels"]:
        p = d / name
        if not p.exists():
            raise FileNotFoundError(f"label image {p} is missing (listed in samples.json)")
        arr = np.asarray(read_pil(p).convert("L"), dtype=np.int64)
        if arr.max() >= K:
            raise ValueError(f"{p}: pixel value {arr.max()} but only {K} classes ({', '.join(names)}); "
                             "label pixels must hold class indices 0..K-1")
        t = torch.from_numpy(arr)
        oh = F.one_hot(t, K).permute(2, 0, 1).float()[None]
        oh = F.interpolate(oh, size=(resolution, resolution), mode="area" if t.shape[-1] >= resolution else "nearest")
        labels.append(oh[0])
    latents = sample_latents(G, info["seeds"], info.get("space") or latent_space_of(G)).cpu()
    return TrainingSet(latents, torch.stack(labels), names, info.get("space") or latent_space_of(G),
                       list(info["seeds"]), source=f"folder:{d.name}")


# --- evaluation -------------------------------------------------------------------------------------------

def iou_table(pred: torch.Tensor, ref: torch.Tensor, K: int) -> torch.Tensor:
    """Per-class IoU ``[K]`` of hard label maps ``[N,H,W]`` (NaN for classes absent from both)."""
    ious = []
    for k in range(K):
        a, b = pred == k, ref == k
        union = (a | b).sum()
        ious.append(float("nan") if union == 0 else float((a & b).sum()) / float(union))
    return torch.tensor(ious)


@torch.no_grad()
def evaluate_head(G, head: SegmentHead, meta: dict, test: TrainingSet) -> dict:
    """IoU of the head's argmax against the labeller's argmax on a held-out set (same classes)."""
    names = list(meta["names"])
    if list(test.names) != names:
        test = _align_classes(test, names)
    feats = features_of(G, test.latents, test.space, meta["layers"])
    dev = next(head.parameters()).device
    preds = torch.cat([head([f[i:i + 8].to(dev) for f in feats]).argmax(1).cpu()
                       for i in range(0, test.latents.shape[0], 8)])
    ref = test.labels.argmax(1)
    if ref.shape[-1] != preds.shape[-1]:
        ref = F.interpolate(test.labels, size=preds.shape[-2:], mode="area").argmax(1)
    ious = iou_table(preds, ref, len(names))
    return {"iou": {n: round(float(v), 4) for n, v in zip(names, ious)},
            "mean_iou": round(float(ious.nanmean()), 4), "pixel_accuracy": round(float((preds == ref).float().mean()), 4),
            "samples": int(test.latents.shape[0])}


def _align_classes(ts: TrainingSet, names: list[str]) -> TrainingSet:
    """Re-express labels with merged classes: a class missing from ``names`` goes to skin (or class 0)."""
    fallback = names.index("skin") if "skin" in names else 0
    lab = torch.zeros(ts.labels.shape[0], len(names), *ts.labels.shape[-2:])
    for i, n in enumerate(ts.names):
        lab[:, names.index(n) if n in names else fallback] += ts.labels[:, i]
    return TrainingSet(ts.latents, lab, tuple(names), ts.space, ts.seeds, ts.source)


__all__ = ["TrainingSet", "sample_latents", "face_part_labeller", "auto_label", "merge_rare", "features_of",
           "fit_head", "train_segment_head", "write_samples", "read_label_folder", "iou_table", "evaluate_head"]
