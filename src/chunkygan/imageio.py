"""The one place where images cross between files and tensors.

Inside the library images are float32 ``[B,3,H,W]`` in ``[-1,1]``; masks are ``[K,1,H,W]`` in ``[0,1]``.
Reading accepts any mode PIL knows (RGBA, grayscale, 16-bit, palette), applies the EXIF rotation, and
fails with :class:`ImageInputError` (a ``ValueError``) that says what is wrong. Writing is atomic.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ChunkyganError
from .fileio import atomic_path

log = logging.getLogger(__name__)

#: Largest image decoded, in pixels (50 megapixels, e.g. 8660x5773; covers 48/50 MP camera files). Reading
#: one this size as a ``[1,3,H,W]`` float32 tensor peaks at about 1.3 GB of memory (measured, see the README).
MAX_PIXELS = 50_000_000
#: JPEGs up to this many pixels are still read: decoded at 1/2, 1/4 or 1/8 size (``Image.draft``) to fit
#: :data:`MAX_PIXELS`; any other format above :data:`MAX_PIXELS` is refused before decoding.
MAX_JPEG_PIXELS = 64 * MAX_PIXELS


class ImageInputError(ChunkyganError):
    """An input image could not be used; the message says why and what to do."""


def _draft_scale(w: int, h: int, max_pixels: int) -> int | None:
    """Smallest JPEG DCT reduction (1, 2, 4 or 8) that brings ``w x h`` within ``max_pixels``; None if none."""
    for s in (1, 2, 4, 8):
        if -(-w // s) * -(-h // s) <= max_pixels:
            return s
    return None


def read_pil(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open, decode and EXIF-rotate an image file, converted to 8-bit RGB.

    Images over ``max_pixels`` are refused before decoding, except JPEGs, which are decoded at a reduced
    size (1/2, 1/4 or 1/8 per side, at most ``64 * max_pixels`` in the file) so that memory stays bounded.
    """
    p = Path(path)
    if not p.exists():
        raise ImageInputError(f"{p}: no such file")
    if p.is_dir():
        raise ImageInputError(f"{p}: is a folder, expected an image file")
    if not p.is_file():
        raise ImageInputError(f"{p}: not a regular file (a device or pipe?); give an image file")
    if p.stat().st_size == 0:
        raise ImageInputError(f"{p}: the file is empty")
    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # we check the size ourselves, before decoding
    try:
        with Image.open(p) as im:
            w, h = im.size
            if w == 0 or h == 0:
                raise ImageInputError(f"{p}: the image has no pixels ({w}x{h})")
            if w * h > max_pixels:
                scale = _draft_scale(w, h, max_pixels) if im.format == "JPEG" else None
                if scale is None:
                    raise ImageInputError(
                        f"{p}: {w}x{h} pixels is larger than the limit of {max_pixels / 1e6:g} megapixels"
                        f"{' (JPEGs: ' + format(64 * max_pixels / 1e6, 'g') + ')' if im.format == 'JPEG' else ''}; "
                        "downscale it first")
                im.draft("RGB", (-(-w // scale), -(-h // scale)))
                log.info("%s: %dx%d is over %g megapixels; decoded at 1/%d size, %dx%d", p, w, h, max_pixels / 1e6,
                         scale, *im.size)
            im.load()
            im = ImageOps.exif_transpose(im)
            return to_rgb(im)
    except UnidentifiedImageError:
        raise ImageInputError(f"{p}: not an image format that Pillow can read (PNG, JPEG, WebP, TIFF, ...)") from None
    except Image.DecompressionBombError as e:  # pragma: no cover - we lift PIL's limit and check ourselves
        raise ImageInputError(f"{p}: {e}") from None
    except (OSError, SyntaxError, ValueError) as e:
        if isinstance(e, ImageInputError):
            raise
        raise ImageInputError(f"{p}: the image is damaged or truncated ({e}); re-export it") from None
    finally:
        Image.MAX_IMAGE_PIXELS = old


def to_rgb(im: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB (alpha is composited over white, 16-bit is rescaled)."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if arr.max() > 255 else 255.0
        arr = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(arr, "L").convert("RGB")
    if im.mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        top = 1.0 if arr.max() <= 1.0 else 255.0
        return Image.fromarray(np.clip(arr / top * 255 + 0.5, 0, 255).astype(np.uint8), "L").convert("RGB")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(bg, rgba).convert("RGB")
    return im.convert("RGB")


def pil_to_tensor(im: Image.Image) -> torch.Tensor:
    """PIL RGB -> float32 ``[1,3,H,W]`` in ``[-1,1]``."""
    arr = np.asarray(to_rgb(im))  # uint8 [H,W,3]; converted in place below to keep the peak memory low
    t = torch.from_numpy(arr.copy()).permute(2, 0, 1).unsqueeze(0).contiguous().float()
    return t.div_(127.5).sub_(1.0)


def tensor_to_pil(img: torch.Tensor) -> Image.Image:
    """``[3,H,W]`` or ``[1,3,H,W]`` in ``[-1,1]`` (or ``[1,H,W]`` mask in ``[0,1]``) -> PIL image."""
    t = img.detach().float().cpu()
    if t.dim() == 4:
        if t.shape[0] != 1:
            raise ValueError(f"expected one image, got a batch of {t.shape[0]}")
        t = t[0]
    if t.shape[0] == 1:  # mask
        arr = (t[0].clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()
        return Image.fromarray(arr, "L")
    arr = ((t.clamp(-1, 1) + 1) * 127.5 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(arr, "RGB")


def load_image(path: str | os.PathLike, resolution: int | None = None) -> torch.Tensor:
    """Read an image file as ``[1,3,H,W]`` in ``[-1,1]``; with ``resolution``, centre-crop and resize."""
    t = pil_to_tensor(read_pil(path))
    if resolution is not None:
        t = fit_square(t, resolution, name=str(path))
    return t


def fit_square(img: torch.Tensor, resolution: int, name: str = "image") -> torch.Tensor:
    """Centre-crop ``[B,C,H,W]`` to a square and resize it to ``resolution`` (antialiased), logging a note."""
    _, _, h, w = img.shape
    if h != w:
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        log.info("%s: %dx%d is not square; centre-cropped to %dx%d", name, w, h, s, s)
        img = img[:, :, top:top + s, left:left + s]
    if img.shape[-1] != resolution:
        log.info("%s: resized from %d to %d pixels", name, img.shape[-1], resolution)
        img = F.interpolate(img, size=(resolution, resolution), mode="bilinear", align_corners=False,
                            antialias=img.shape[-1] > resolution)
    return img


def save_image(img: torch.Tensor | Image.Image, path: str | os.PathLike) -> Path:
    """Write an image (tensor in ``[-1,1]`` or PIL) atomically; the format follows the suffix."""
    p = Path(path)
    im = img if isinstance(img, Image.Image) else tensor_to_pil(img)
    with atomic_path(p) as tmp:
        im.save(tmp, format=Image.registered_extensions().get(p.suffix.lower(), "PNG"))
    return p


def make_grid(images: torch.Tensor, nrow: int | None = None, pad: int = 2) -> torch.Tensor:
    """Tile ``[N,3,H,W]`` images into one ``[1,3,H',W']`` grid (padding is white)."""
    n, c, h, w = images.shape
    nrow = nrow or min(n, 8)
    ncol = (n + nrow - 1) // nrow
    grid = images.new_ones((c, ncol * (h + pad) + pad, nrow * (w + pad) + pad))
    for i in range(n):
        r, q = divmod(i, nrow)
        y, x = pad + r * (h + pad), pad + q * (w + pad)
        grid[:, y:y + h, x:x + w] = images[i]
    return grid.unsqueeze(0)
