"""Soft segment masks: the ``S`` of the paper's Eq. 1 (``O = Σ_k G(X_k)·S_k``).

Masks are float32 ``[K,1,H,W]`` in ``[0,1]`` that sum to one over ``K`` at every pixel.
:class:`SegmentMasks` wraps such a tensor with the operations a user or a UI needs (normalise,
resize, feather, dilate, label maps, colour-coded previews) and file I/O in two formats:

* a **label image**: one PNG whose grey value (or colour) says which segment a pixel belongs to;
* a **PNG folder**: one greyscale PNG per segment (``segment_00.png``, ``segment_01.png``, ...),
  white = inside; soft values are kept.

All file access goes through :mod:`chunkygan.imageio`; writes are atomic.

>>> m = SegmentMasks.grid(2, 8)
>>> m.num_segments, tuple(m.tensor.shape)
(4, (4, 1, 8, 8))
>>> bool(torch.allclose(m.tensor.sum(0), torch.ones(1, 8, 8)))
True
"""
from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .. import imageio

log = logging.getLogger(__name__)

#: Distinct colours for segment previews (RGB 0-255); repeats after 16 segments.
PALETTE = (
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (220, 190, 255),
    (170, 110, 40), (128, 0, 0), (170, 255, 195), (0, 0, 128),
)

#: Grey values up to this are read from a label image as segment indices directly (0, 1, 2, ...);
#: images with larger values (e.g. 0/128/255) have their distinct values numbered in sorted order.
MAX_DIRECT_LABEL = 63


class MaskInputError(ValueError):
    """Masks could not be used; the message says what is wrong and what to do."""


# --- functions on mask tensors ----------------------------------------------------------------

def check_masks(masks: torch.Tensor, name: str = "masks") -> torch.Tensor:
    """Validate a ``[K,1,H,W]`` mask tensor (finite, non-negative) and return it as float."""
    if not isinstance(masks, torch.Tensor) or masks.dim() != 4 or masks.shape[1] != 1:
        shape = tuple(masks.shape) if isinstance(masks, torch.Tensor) else type(masks).__name__
        raise MaskInputError(f"{name}: expected a [K,1,H,W] tensor, got {shape}")
    if masks.shape[0] < 1:
        raise MaskInputError(f"{name}: needs at least one segment")
    masks = masks.float()
    if not torch.isfinite(masks).all():
        raise MaskInputError(f"{name}: contains NaN or infinite values")
    if (masks < 0).any():
        raise MaskInputError(f"{name}: contains negative values; masks must be in [0,1]")
    return masks


def normalise(masks: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Scale ``[K,1,H,W]`` non-negative masks to sum to one over K; uncovered pixels become uniform 1/K."""
    total = masks.sum(dim=0, keepdim=True)
    uniform = torch.full_like(masks, 1.0 / masks.shape[0])
    return torch.where(total > eps, masks / total.clamp_min(eps), uniform)


def resize(masks: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Resize ``[K,1,H,W]`` masks to ``size`` (bilinear, antialiased when shrinking) and renormalise."""
    hw = (size, size) if isinstance(size, int) else tuple(size)
    if tuple(masks.shape[-2:]) == hw:
        return masks
    shrink = hw[0] < masks.shape[-2] or hw[1] < masks.shape[-1]
    out = F.interpolate(masks, size=hw, mode="bilinear", align_corners=False, antialias=shrink)
    return normalise(out.clamp_min(0))


def fit(masks: torch.Tensor, size: int | tuple[int, int], renormalise: bool = True) -> torch.Tensor:
    """Fit ``[K,1,H,W]`` masks to ``size`` the way :func:`chunkygan.imageio.fit_square` fits images:
    a non-square mask is centre-cropped to a square when the target is square, then resized."""
    hw = (size, size) if isinstance(size, int) else tuple(size)
    h, w = masks.shape[-2:]
    if h != w and hw[0] == hw[1]:
        s = min(h, w)
        masks = masks[..., (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    if tuple(masks.shape[-2:]) == hw:
        return masks
    shrink = hw[0] < masks.shape[-2] or hw[1] < masks.shape[-1]
    out = F.interpolate(masks, size=hw, mode="bilinear", align_corners=False, antialias=shrink).clamp(0, 1)
    return normalise(out) if renormalise else out


def gaussian_blur(masks: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``[N,1,H,W]`` with reflect padding (``sigma`` in pixels)."""
    if sigma <= 0:
        return masks
    radius = max(1, int(math.ceil(3 * sigma)))
    radius = min(radius, max(1, min(masks.shape[-2:]) - 1))
    x = torch.arange(-radius, radius + 1, dtype=masks.dtype, device=masks.device)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    k = k / k.sum()
    out = F.pad(masks, (radius, radius, 0, 0), mode="reflect")
    out = F.conv2d(out, k.view(1, 1, 1, -1))
    out = F.pad(out, (0, 0, radius, radius), mode="reflect")
    return F.conv2d(out, k.view(1, 1, -1, 1))


def feather(masks: torch.Tensor, sigma: float) -> torch.Tensor:
    """Soften segment borders: Gaussian-blur every mask by ``sigma`` pixels, then renormalise over K."""
    return normalise(gaussian_blur(masks, sigma).clamp_min(0))


def dilate(masks: torch.Tensor, radius: int) -> torch.Tensor:
    """Grow every mask by ``radius`` pixels (max filter, square footprint), without renormalising.

    For a single region (e.g. a static mask ``S^X`` or a user-drawn segment) this is the usual
    dilation; use :meth:`SegmentMasks.dilate` to grow all segments and renormalise the overlap.
    """
    if radius <= 0:
        return masks
    return F.max_pool2d(masks, kernel_size=2 * radius + 1, stride=1, padding=radius)


def from_labels(labels: torch.Tensor, num_segments: int | None = None) -> torch.Tensor:
    """Integer label map ``[H,W]`` (values 0..K-1) -> one-hot masks ``[K,1,H,W]``."""
    labels = labels.long()
    if labels.min() < 0:
        raise MaskInputError("label map contains negative labels")
    k = int(labels.max()) + 1 if num_segments is None else int(num_segments)
    if int(labels.max()) >= k:
        raise MaskInputError(f"label map has label {int(labels.max())} but only {k} segments were asked for")
    return F.one_hot(labels, k).permute(2, 0, 1).unsqueeze(1).float()


def to_labels(masks: torch.Tensor) -> torch.Tensor:
    """Hard assignment: ``[K,1,H,W]`` -> ``[H,W]`` index of the largest mask at each pixel."""
    return masks[:, 0].argmax(dim=0)


def colourise(masks: torch.Tensor) -> torch.Tensor:
    """Colour-coded map of soft masks: ``Σ_k S_k · palette_k`` -> ``[1,3,H,W]`` in ``[-1,1]``."""
    k = masks.shape[0]
    pal = torch.tensor([PALETTE[i % len(PALETTE)] for i in range(k)], dtype=masks.dtype, device=masks.device)
    pal = pal / 127.5 - 1.0  # [K,3]
    return (masks * pal.view(k, 3, 1, 1)).sum(dim=0, keepdim=True)


# --- the class ------------------------------------------------------------------------------------

class SegmentMasks:
    """K soft masks ``[K,1,H,W]`` that sum to one over K (normalised on construction).

    Args:
        masks: non-negative ``[K,1,H,W]`` tensor (or ``[K,H,W]``); normalised unless ``normalised=False``
            is passed for masks that already sum to one.
    """

    def __init__(self, masks: torch.Tensor, normalised: bool = False):
        if isinstance(masks, torch.Tensor) and masks.dim() == 3:
            masks = masks.unsqueeze(1)
        masks = check_masks(masks)
        self.tensor = masks if normalised else normalise(masks)

    # construction --------------------------------------------------------------------------------
    @classmethod
    def full(cls, size: int | tuple[int, int]) -> "SegmentMasks":
        """One segment covering the whole image (K = 1: global projection)."""
        h, w = (size, size) if isinstance(size, int) else size
        return cls(torch.ones(1, 1, h, w), normalised=True)

    @classmethod
    def grid(cls, n: int, size: int | tuple[int, int], rows: int | None = None) -> "SegmentMasks":
        """A hard ``rows x cols`` grid of segments; ``grid(2, s)`` is 2x2 = 4 segments; ``rows`` sets rows."""
        h, w = (size, size) if isinstance(size, int) else size
        rows = rows or n
        cols = n
        yi = torch.div(torch.arange(h) * rows, h, rounding_mode="floor")
        xi = torch.div(torch.arange(w) * cols, w, rounding_mode="floor")
        labels = yi[:, None] * cols + xi[None, :]
        return cls(from_labels(labels, rows * cols), normalised=True)

    @classmethod
    def from_labels(cls, labels: torch.Tensor, num_segments: int | None = None) -> "SegmentMasks":
        return cls(from_labels(labels, num_segments), normalised=True)

    # properties ------------------------------------------------------------------------------------
    @property
    def num_segments(self) -> int:
        return self.tensor.shape[0]

    @property
    def size(self) -> tuple[int, int]:
        return tuple(self.tensor.shape[-2:])

    def __len__(self) -> int:
        return self.num_segments

    def __repr__(self) -> str:
        return f"SegmentMasks(K={self.num_segments}, size={self.size[1]}x{self.size[0]})"

    # operations (each returns a new SegmentMasks) --------------------------------------------------
    def to(self, device) -> "SegmentMasks":
        return SegmentMasks(self.tensor.to(device), normalised=True)

    def resize(self, size: int | tuple[int, int]) -> "SegmentMasks":
        return SegmentMasks(resize(self.tensor, size), normalised=True)

    def feather(self, sigma: float) -> "SegmentMasks":
        return SegmentMasks(feather(self.tensor, sigma), normalised=True)

    def dilate(self, radius: int) -> "SegmentMasks":
        """Grow all segments by ``radius`` px and renormalise: neighbours share a soft band of width ~2·radius."""
        return SegmentMasks(normalise(dilate(self.tensor, radius)), normalised=True)

    def labels(self) -> torch.Tensor:
        return to_labels(self.tensor)

    def preview(self, image: torch.Tensor | None = None, alpha: float = 0.5) -> torch.Tensor:
        """Colour-coded map ``[1,3,H,W]`` in ``[-1,1]``; over ``image`` (``[1,3,H',W']``) with ``alpha`` opacity."""
        colours = colourise(self.tensor)
        if image is None:
            return colours
        img = image.to(colours)
        if img.shape[-2:] != colours.shape[-2:]:
            colours = F.interpolate(colours, size=img.shape[-2:], mode="bilinear", align_corners=False)
        return (1 - alpha) * img + alpha * colours

    # file I/O --------------------------------------------------------------------------------------
    def save_labels(self, path: str | os.PathLike) -> Path:
        """Write the hard label map as an 8-bit greyscale PNG (grey value = segment index; K <= 64)."""
        if self.num_segments > MAX_DIRECT_LABEL + 1:
            raise MaskInputError(f"a label image holds at most {MAX_DIRECT_LABEL + 1} segments; use save_folder")
        arr = self.labels().to(torch.uint8).cpu().numpy()
        return imageio.save_image(Image.fromarray(arr, "L"), path)

    @classmethod
    def load_labels(cls, path: str | os.PathLike, num_segments: int | None = None,
                    size: int | tuple[int, int] | None = None) -> "SegmentMasks":
        """Read a label image: grey values 0..63 are segment indices; larger grey values or colours
        are numbered in sorted order. ``size`` resizes with nearest-neighbour sampling first."""
        im = imageio.read_pil(path)
        if size is not None:
            hw = (size, size) if isinstance(size, int) else tuple(size)
            w, h = im.size
            if h != w and hw[0] == hw[1]:  # centre crop, as imageio.fit_square does for images
                s = min(h, w)
                im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
            im = im.resize((hw[1], hw[0]), Image.NEAREST)
        arr = np.asarray(im).astype(np.int64)  # [H,W,3]
        if (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all():
            grey = arr[..., 0]
            if grey.max() <= MAX_DIRECT_LABEL:
                labels = grey
            else:
                _, labels = np.unique(grey, return_inverse=True)
        else:
            code = (arr[..., 0] << 16) | (arr[..., 1] << 8) | arr[..., 2]
            _, labels = np.unique(code, return_inverse=True)
        labels = torch.from_numpy(labels.reshape(arr.shape[:2]))
        k = int(labels.max()) + 1
        if num_segments is not None:
            if k > num_segments:
                raise MaskInputError(f"{path}: the label image has {k} segments, more than the {num_segments} asked for")
            k = num_segments
        if k > 256:
            raise MaskInputError(f"{path}: {k} distinct labels; is this a label image (not a photo)?")
        return cls.from_labels(labels, k)

    def save_folder(self, folder: str | os.PathLike, prefix: str = "segment_") -> list[Path]:
        """Write one greyscale PNG per segment (``segment_00.png`` ...), soft values kept (8-bit)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        return [imageio.save_image(imageio.tensor_to_pil(self.tensor[k]), folder / f"{prefix}{k:02d}.png")
                for k in range(self.num_segments)]

    @classmethod
    def load_folder(cls, folder: str | os.PathLike, size: int | tuple[int, int] | None = None,
                    complete: bool = True) -> "SegmentMasks":
        """Read every ``*.png`` in ``folder`` (sorted by name) as one soft mask (white = inside).

        A folder written by ``chunkygan masks`` (its ``parts.json`` lists the mask files) gives exactly those
        masks in that order; its ``labels.png`` and ``preview.png`` are not masks. With ``complete`` (default), pixels the masks do not fully cover go to an extra "rest"
        segment (``1 − Σ_k S_k``), so user masks need not tile the image; overlaps are renormalised.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise MaskInputError(f"{folder}: not a folder; give a folder of PNG masks (one per segment)")
        files = _listed_parts(folder)
        if files is None:
            files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png" and not p.name.startswith("."))
        if not files:
            raise MaskInputError(f"{folder}: contains no .png masks")
        masks = []
        for p in files:
            im = imageio.read_pil(p)
            t = torch.from_numpy(np.asarray(im, dtype=np.float32).mean(axis=2) / 255.0)
            if masks and t.shape != masks[0].shape:
                raise MaskInputError(f"{p}: size {t.shape[1]}x{t.shape[0]} differs from {files[0].name} "
                                     f"({masks[0].shape[1]}x{masks[0].shape[0]}); all masks must be the same size")
            masks.append(t)
        m = torch.stack(masks).unsqueeze(1)
        if complete:
            rest = (1 - m.sum(dim=0, keepdim=True)).clamp_min(0)
            if rest.max() > 4 / 255:  # more than 8-bit rounding of masks that tile the image
                log.info("%s: masks leave %.1f%% of the image uncovered; adding a rest segment",
                         folder, 100 * float((rest > 0.5).float().mean()))
                m = torch.cat([m, rest], dim=0)
        return cls(fit(m, size) if size is not None else m)

    @classmethod
    def load(cls, path: str | os.PathLike, size: int | tuple[int, int] | None = None) -> "SegmentMasks":
        """A folder of PNGs or one label image, whichever ``path`` is."""
        return cls.load_folder(path, size) if Path(path).is_dir() else cls.load_labels(path, size=size)

    def save_preview(self, path: str | os.PathLike, image: torch.Tensor | None = None, alpha: float = 0.5) -> Path:
        return imageio.save_image(self.preview(image, alpha), path)


def _listed_parts(folder: Path) -> list[Path] | None:
    """The mask files a ``chunkygan masks`` folder lists in its ``parts.json``; None for any other folder."""
    import json

    meta_path = folder / "parts.json"
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as e:
        raise MaskInputError(f"{meta_path}: unreadable ({e}); delete it to read every PNG in the folder") from None
    if not isinstance(meta, dict) or meta.get("format") != "chunkygan.face_parts":
        return None
    names = meta.get("masks")
    if not isinstance(names, list) or not all(isinstance(n, str) and "/" not in n and "\\" not in n for n in names):
        raise MaskInputError(f"{meta_path}: 'masks' must list the mask file names")
    files = [folder / n for n in names]
    gone = [f.name for f in files if not f.is_file()]
    if gone:
        raise MaskInputError(f"{folder}: parts.json lists {', '.join(gone)}, which do not exist; rerun `chunkygan masks`")
    return files


def load_static_mask(path: str | os.PathLike, size: int | tuple[int, int]) -> torch.Tensor:
    """A static mask ``S^X`` (Eq. 3) from a greyscale image (white = keep the input) -> ``[1,1,H,W]`` in [0,1]."""
    im = imageio.read_pil(path)
    t = torch.from_numpy(np.asarray(im, dtype=np.float32).mean(axis=2) / 255.0)[None, None]
    return fit(t, size, renormalise=False).clamp(0, 1)


__all__ = ["SegmentMasks", "MaskInputError", "PALETTE", "check_masks", "normalise", "resize", "fit", "feather", "dilate",
           "gaussian_blur", "from_labels", "to_labels", "colourise", "load_static_mask"]
