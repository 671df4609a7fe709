"""FFHQ-style face alignment and its inverse, paste-back.

The recipe is the one the FFHQ data set was made with (Karras et al. 2019, ``align_images`` of the
FFHQ repository), written here in PyTorch:

1. 68 landmarks -> eye centres, mouth corners;
2. an oriented square ``quad`` whose x axis follows the eye line (tilted by the eye-to-mouth
   direction), of half-width ``max(2 |eye_to_eye|, 1.8 |eye_to_mouth|)``, centred
   ``0.1 eye_to_mouth`` below the eye midpoint;
3. shrink the photo (antialiased) when the quad is much larger than the output;
4. where the quad leaves the photo: reflect-pad, blur the padding towards its outer edge and blend
   it towards the median colour (so the generator sees a plausible, soft background);
5. resample the quad to the output square (bilinear at 2x, then a 2x2 box filter).

:class:`FaceTransform` keeps the quad in the original photo's pixel coordinates, so the inverse
(:func:`paste_back`) warps an edited aligned image back into the photo through a feathered mask.

Coordinates are pixel indices ``(x, y)`` with pixel centres at integers (dlib's convention).
"""
from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..fileio import atomic_write_text

log = logging.getLogger(__name__)

#: 68-point landmark index ranges (iBUG 300-W layout)
EYE_LEFT = slice(36, 42)  # the eye on the image's left
EYE_RIGHT = slice(42, 48)
MOUTH_OUTER = slice(48, 60)


def ffhq_quad(landmarks: np.ndarray) -> np.ndarray:
    """The FFHQ crop quad from 68 landmarks.

    Args:
        landmarks: ``[68,2]`` (x, y) pixel coordinates.

    Returns:
        ``[4,2]`` float64 corners in order top-left, bottom-left, bottom-right, top-right (as seen in
        the aligned output).
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (68, 2):
        raise ValueError(f"expected 68 landmarks [68,2], got {lm.shape}")
    eye_left = lm[EYE_LEFT].mean(0)
    eye_right = lm[EYE_RIGHT].mean(0)
    eye_avg = (eye_left + eye_right) * 0.5
    eye_to_eye = eye_right - eye_left
    mouth = lm[MOUTH_OUTER]
    mouth_avg = (mouth[0] + mouth[6]) * 0.5
    eye_to_mouth = mouth_avg - eye_avg
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * [-1, 1]
    c = eye_avg + eye_to_mouth * 0.1
    return np.stack([c - x - y, c - x + y, c + x + y, c + x - y])


@dataclass
class FaceTransform:
    """Where an aligned ``resolution``-square image sits in its photo.

    ``quad`` ``[4,2]``: the aligned image's corners (top-left, bottom-left, bottom-right, top-right)
    in the photo's pixel coordinates. ``photo_size``: (width, height) of the photo.
    """

    quad: np.ndarray
    photo_size: tuple[int, int]
    resolution: int
    landmarks: np.ndarray | None = None  # [68,2] in photo coordinates, for reference

    @property
    def qsize(self) -> float:
        """Side length of the quad in photo pixels."""
        return float(np.hypot(*(self.quad[3] - self.quad[0])))

    @property
    def matrix(self) -> np.ndarray:
        """``[2,3]`` affine map from aligned pixel indices (u, v) to photo pixel coordinates (x, y)."""
        q0, q1, q3 = self.quad[0], self.quad[1], self.quad[3]
        ex, ey = (q3 - q0) / self.resolution, (q1 - q0) / self.resolution
        return np.stack([ex, ey, q0 + 0.5 * ex + 0.5 * ey], axis=1)

    def to_photo(self, points: np.ndarray) -> np.ndarray:
        """Aligned pixel coordinates ``[N,2]`` -> photo pixel coordinates ``[N,2]``."""
        p = np.asarray(points, dtype=np.float64)
        return p @ self.matrix[:, :2].T + self.matrix[:, 2]

    def to_aligned(self, points: np.ndarray) -> np.ndarray:
        """Photo pixel coordinates ``[N,2]`` -> aligned pixel coordinates ``[N,2]``."""
        a = self.matrix
        return (np.asarray(points, dtype=np.float64) - a[:, 2]) @ np.linalg.inv(a[:, :2]).T

    def to_dict(self) -> dict:
        d = {"format": "chunkygan.face_transform", "version": 1, "recipe": "ffhq",
             "quad": self.quad.tolist(), "photo_size": list(self.photo_size), "resolution": self.resolution}
        if self.landmarks is not None:
            d["landmarks"] = np.asarray(self.landmarks).tolist()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "FaceTransform":
        if not isinstance(d, dict) or d.get("format") != "chunkygan.face_transform":
            raise ValueError("not a chunkygan face transform (expected the JSON written by `chunkygan align`)")
        quad = np.asarray(d["quad"], dtype=np.float64)
        if quad.shape != (4, 2):
            raise ValueError(f"face transform: quad must be 4x2, got {quad.shape}")
        lm = d.get("landmarks")
        return cls(quad=quad, photo_size=(int(d["photo_size"][0]), int(d["photo_size"][1])),
                   resolution=int(d["resolution"]), landmarks=None if lm is None else np.asarray(lm, dtype=np.float64))

    def save(self, path: str | os.PathLike) -> Path:
        atomic_write_text(path, json.dumps(self.to_dict(), indent=1))
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "FaceTransform":
        p = Path(path)
        try:
            d = json.loads(p.read_text())
        except FileNotFoundError:
            raise ValueError(f"{p}: no such transform file (write one with `chunkygan align PHOTO -o OUT`)") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"{p}: not valid JSON ({e})") from None
        try:
            return cls.from_dict(d)
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{p}: {e}") from None


def _gaussian_blur(img: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``[B,C,H,W]`` with reflect borders."""
    if sigma < 0.3:
        return img
    r = max(1, int(math.ceil(3 * sigma)))
    r = min(r, img.shape[-1] - 1, img.shape[-2] - 1)
    x = torch.arange(-r, r + 1, device=img.device, dtype=img.dtype)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    k = k / k.sum()
    c = img.shape[1]
    out = F.conv2d(F.pad(img, (r, r, 0, 0), mode="reflect"), k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(F.pad(out, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _reflect_index(n: int, before: int, after: int, device) -> torch.Tensor:
    """Indices of a reflect-padded axis of length ``n`` (like numpy's ``reflect``, any pad width)."""
    i = torch.arange(-before, n + after, device=device)
    if n == 1:
        return torch.zeros_like(i)
    period = 2 * (n - 1)
    i = torch.remainder(i, period)
    return torch.where(i >= n, period - i, i)


def _pad_soft(img: torch.Tensor, pad: tuple[int, int, int, int], qsize: float) -> torch.Tensor:
    """FFHQ padding of ``[1,3,H,W]`` by (left, top, right, bottom): reflect, then blur and fade to the median."""
    _, _, h, w = img.shape
    left, top, right, bottom = pad
    img = img[:, :, _reflect_index(h, top, bottom, img.device)][:, :, :, _reflect_index(w, left, right, img.device)]
    hh, ww = img.shape[-2:]
    y = torch.arange(hh, device=img.device, dtype=img.dtype).view(-1, 1)
    x = torch.arange(ww, device=img.device, dtype=img.dtype).view(1, -1)
    mx = 1.0 - torch.minimum(x / max(left, 1e-6), (ww - 1 - x) / max(right, 1e-6))
    my = 1.0 - torch.minimum(y / max(top, 1e-6), (hh - 1 - y) / max(bottom, 1e-6))
    mask = torch.maximum(mx, my).clamp(min=0)  # 0 inside the photo, rising to 1 at the padded edge
    img = img + (_gaussian_blur(img, qsize * 0.02) - img) * (mask * 3.0 + 1.0).clamp(0, 1)
    median = img.flatten(2).median(dim=2).values.view(1, -1, 1, 1)
    return img + (median - img) * mask.clamp(0, 1)


def warp_quad(photo: torch.Tensor, quad: np.ndarray, resolution: int, pad_mode: str = "ffhq") -> torch.Tensor:
    """Resample the quad of ``photo`` ``[1,3,H,W]`` to a ``[1,3,R,R]`` square (steps 3-5 of the recipe).

    Args:
        photo: ``[1,3,H,W]`` in ``[-1,1]``, any device.
        quad: ``[4,2]`` corners (top-left, bottom-left, bottom-right, top-right) in photo pixels.
        resolution: output side ``R``.
        pad_mode: ``"ffhq"`` (reflect + blur + median fade where the quad leaves the photo) or
            ``"border"`` (repeat the edge pixels).
    """
    if photo.dim() != 4 or photo.shape[:2] != (1, 3):
        raise ValueError(f"expected a photo [1,3,H,W], got {tuple(photo.shape)}")
    img = photo.float()
    quad = np.asarray(quad, dtype=np.float64).copy()
    qsize = float(np.hypot(*(quad[3] - quad[0])))
    ss = 2 * resolution  # supersampled output side
    # 3. shrink: keep the quad at most ~ss pixels wide so bilinear sampling does not alias
    h, w = img.shape[-2:]
    if qsize > ss:
        f = qsize / ss
        nh, nw = max(1, round(h / f)), max(1, round(w / f))
        img = F.interpolate(img, size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)
        quad = (quad + 0.5) * [nw / w, nh / h] - 0.5
        qsize = float(np.hypot(*(quad[3] - quad[0])))
        h, w = nh, nw
    # 4. crop around the quad, padding where it leaves the photo
    border = max(int(round(qsize * 0.1)), 3)
    x0, y0 = int(math.floor(quad[:, 0].min())) - border, int(math.floor(quad[:, 1].min())) - border
    x1, y1 = int(math.ceil(quad[:, 0].max())) + border + 1, int(math.ceil(quad[:, 1].max())) + border + 1
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if cx1 <= cx0 or cy1 <= cy0:
        raise ValueError("the face quad lies outside the photo")
    img = img[:, :, cy0:cy1, cx0:cx1]
    quad = quad - [cx0, cy0]
    pad = (cx0 - x0, cy0 - y0, x1 - cx1, y1 - cy1)
    if max(pad) > border - 4:
        if pad_mode == "ffhq":
            p = max(int(round(qsize * 0.3)), 1)
            pad = tuple(max(v, p) if v > 0 else 0 for v in pad)
            img = _pad_soft(img, pad, qsize)
        else:
            img = F.pad(img, pad, mode="replicate")
        quad = quad + [pad[0], pad[1]]
    # 5. bilinear resampling of the quad at 2x, then a 2x2 box filter
    hh, ww = img.shape[-2:]
    t = (torch.arange(ss, device=img.device, dtype=torch.float64) + 0.5) / ss
    q = torch.as_tensor(quad, device=img.device, dtype=torch.float64)
    ex, ey = q[3] - q[0], q[1] - q[0]
    pts = q[0] + t.view(1, -1, 1) * ex + t.view(-1, 1, 1) * ey  # [ss,ss,2] (row = v, col = u)
    grid = torch.stack([(2 * pts[..., 0] + 1) / ww - 1, (2 * pts[..., 1] + 1) / hh - 1], dim=-1)
    out = F.grid_sample(img, grid.unsqueeze(0).to(img.dtype), mode="bilinear", padding_mode="border",
                        align_corners=False)
    return F.avg_pool2d(out, 2).clamp(-1, 1)


def align_face(image: torch.Tensor | str | os.PathLike, resolution: int = 1024, face_index: int | None = None,
               landmarks: np.ndarray | None = None, name: str | None = None) -> tuple[torch.Tensor, FaceTransform]:
    """Align a photo the FFHQ way.

    Args:
        image: ``[1,3,H,W]`` in ``[-1,1]`` (any device) or an image file path.
        resolution: side of the aligned output (the generator's resolution).
        face_index: which face when there are several (0 = largest, the default).
        landmarks: ``[68,2]`` landmarks to use instead of running dlib.
        name: how to call the image in messages (default: its path, or "image").

    Returns:
        ``(aligned [1,3,R,R] in [-1,1] on the image's device, FaceTransform)``.

    Raises:
        chunkygan.face.deps.NoFaceError: no face found (or ``face_index`` out of range).
        chunkygan.face.deps.MissingFaceExtraError: dlib is not installed and no ``landmarks`` given.
    """
    if not isinstance(image, torch.Tensor):
        from ..imageio import load_image

        name = name or str(image)
        image = load_image(image)
    name = name or "image"
    if resolution < 8:
        raise ValueError(f"resolution must be at least 8, got {resolution}")
    if landmarks is None:
        from .landmarks import face_landmarks

        landmarks = face_landmarks(image, face_index=face_index, name=name)
    quad = ffhq_quad(landmarks)
    tr = FaceTransform(quad=quad, photo_size=(image.shape[-1], image.shape[-2]), resolution=resolution,
                       landmarks=np.asarray(landmarks, dtype=np.float64))
    log.info("%s: face quad %.0f px wide -> %d px", name, tr.qsize, resolution)
    return warp_quad(image, quad, resolution), tr


def feather_mask(resolution: int, feather: float = 0.1, device=None) -> torch.Tensor:
    """``[1,1,R,R]`` mask: 1 in the middle, smoothly (smoothstep) down to 0 within ``feather * R`` of the edges."""
    t = (torch.arange(resolution, device=device, dtype=torch.float32) + 0.5) / resolution
    d = torch.minimum(t, 1 - t)
    r = (d / max(feather, 1e-6)).clamp(0, 1)
    r = r * r * (3 - 2 * r)
    return torch.minimum(r.view(-1, 1), r.view(1, -1)).view(1, 1, resolution, resolution)


def paste_back(edited: torch.Tensor, photo: torch.Tensor, transform: FaceTransform, mask: torch.Tensor | None = None,
               feather: float = 0.1) -> torch.Tensor:
    """Warp an edited aligned image back into its photo through a feathered mask (inverse of :func:`align_face`).

    ``out = photo * (1 - m) + warp(edited) * m`` where ``m`` is the feathered square (times ``mask``)
    warped the same way.

    Args:
        edited: ``[1,3,R',R']`` in ``[-1,1]``; any side (it is mapped onto the same quad).
        photo: ``[1,3,H,W]`` the original photo (size must match ``transform.photo_size``).
        transform: from :func:`align_face`.
        mask: optional ``[1,1,R',R']`` in ``[0,1]`` (aligned coordinates) limiting what is pasted,
            e.g. a face-part mask; multiplied with the feathered square.
        feather: width of the soft edge as a fraction of the aligned side.

    Returns:
        ``[1,3,H,W]`` on the photo's device.
    """
    if edited.dim() != 4 or edited.shape[:2] != (1, 3):
        raise ValueError(f"expected an edited image [1,3,R,R], got {tuple(edited.shape)}")
    _check_photo(photo, transform)
    dev = photo.device
    edited = edited.to(dev, torch.float32)
    r = edited.shape[-1]
    m = feather_mask(r, feather, device=dev)
    if mask is not None:
        if mask.shape[-2:] != edited.shape[-2:]:
            mask = F.interpolate(mask.float(), size=edited.shape[-2:], mode="bilinear", align_corners=False)
        m = m * mask.to(dev, torch.float32).view(1, 1, r, r)
    out = photo.clone()
    warped, box = warp_to_photo(torch.cat([edited, m], dim=1), transform)
    if warped is None:
        return out
    x0, y0, x1, y1 = box
    rgb, alpha = warped[:, :3], warped[:, 3:4].clamp(0, 1)
    region = out[:, :, y0:y1, x0:x1]
    out[:, :, y0:y1, x0:x1] = region * (1 - alpha) + rgb * alpha
    return out


def warp_to_photo(src: torch.Tensor, transform: FaceTransform, mode: str = "bilinear"):
    """Resample an aligned ``[1,C,R',R']`` image into the photo's pixel grid around the face quad.

    Returns ``(warped [1,C,y1-y0,x1-x0], (x0, y0, x1, y1))`` — the photo's box that holds the quad — or
    ``(None, None)`` when the quad misses the photo. Outside the quad the result is 0 (zero padding).
    """
    w, h = transform.photo_size
    dev = src.device
    qs = transform.qsize
    r = src.shape[-1]
    # antialias: bilinear sampling is fine up to ~4x minification (and keeps an unedited round trip
    # sharpest); beyond that, prefilter the aligned image down to twice the face's size in the photo
    if r > 4 * qs:
        n = max(8, int(round(2 * qs)))
        src = F.interpolate(src, size=(n, n), mode="bilinear", align_corners=False, antialias=True)
    quad = transform.quad
    x0, y0 = max(int(math.floor(quad[:, 0].min())) - 1, 0), max(int(math.floor(quad[:, 1].min())) - 1, 0)
    x1, y1 = min(int(math.ceil(quad[:, 0].max())) + 2, w), min(int(math.ceil(quad[:, 1].max())) + 2, h)
    if x1 <= x0 or y1 <= y0:
        return None, None
    # photo pixel (x, y) -> normalised aligned coordinates (a, b) in [0,1]: p = q0 + a*ex + b*ey
    q = torch.as_tensor(quad, device=dev, dtype=torch.float64)
    ex, ey = q[3] - q[0], q[1] - q[0]
    inv = torch.linalg.inv(torch.stack([ex, ey], dim=1))  # [2,2]
    ys = torch.arange(y0, y1, device=dev, dtype=torch.float64)
    xs = torch.arange(x0, x1, device=dev, dtype=torch.float64)
    p = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1) - q[0]  # [h',w',2]
    ab = p @ inv.T
    grid = (2 * ab - 1).to(src.dtype).unsqueeze(0)
    return F.grid_sample(src, grid, mode=mode, padding_mode="zeros", align_corners=False), (x0, y0, x1, y1)


# --------------------------------------------------------------------------------------------------
# local paste-back: only where the edit changes the image


def edit_region(edited: torch.Tensor, reconstruction: torch.Tensor | None = None, masks: torch.Tensor | None = None,
                threshold: float = 4 / 127.5, dilate: int = 2, feather: float = 2.0) -> torch.Tensor:
    """Where an edit changed the aligned image, as a soft mask ``[1,1,R,R]`` in ``[0,1]``.

    The hard region is ``masks`` (the edited segments' masks ``[k,1,R,R]``, summed, ``>= 0.5``) or, without
    them, the pixels where ``|edited - reconstruction|`` (max over RGB, images in ``[-1,1]``) exceeds
    ``threshold`` (default 4 grey levels). It is dilated by ``dilate`` px (max filter) and then softened
    towards the inside only: ``soft = blur(region) * region`` would leave a hard edge, so the region is
    dilated once more by the blur's radius ``ceil(1.5 feather)`` and blurred (σ = feather/2), then
    multiplied by that grown region. The support (``soft > 0``) is inside the hard region grown by
    ``dilate + ceil(1.5 feather)`` pixels — outside it nothing of the photo changes.
    """
    if masks is not None:
        hard = (masks.float().sum(0, keepdim=True).clamp(0, 1) >= 0.5).float()
    else:
        if reconstruction is None:
            raise ValueError("edit_region needs the edited segments' masks or the reconstruction to compare with")
        if edited.shape != reconstruction.shape:
            raise ValueError(f"edited {tuple(edited.shape)} and reconstruction {tuple(reconstruction.shape)} differ")
        hard = ((edited.float() - reconstruction.float()).abs().amax(1, keepdim=True) > threshold).float()
    if hard.shape[-2:] != edited.shape[-2:]:
        hard = (F.interpolate(hard, size=edited.shape[-2:], mode="bilinear", align_corners=False) >= 0.5).float()
    grow = lambda m, px: F.max_pool2d(m, 2 * px + 1, stride=1, padding=px) if px > 0 else m
    core = grow(hard, int(dilate))
    if feather <= 0:
        return core
    rad = int(math.ceil(1.5 * feather))
    outer = grow(core, rad)
    return (_gaussian_blur(outer, feather / 2) * outer).clamp(0, 1) if outer.shape[-1] > 2 * rad else outer


PASTE_MODES = ("delta", "poisson", "alpha")


def paste_back_local(edited: torch.Tensor, reconstruction: torch.Tensor, photo: torch.Tensor,
                     transform: FaceTransform, region: torch.Tensor | None = None, mode: str = "delta",
                     **region_kw) -> torch.Tensor:
    """Paste an edit into the photo only where it changes the image; every other photo pixel is bit-identical.

    Args:
        edited, reconstruction: ``[1,3,R,R]`` aligned images in ``[-1,1]`` (the edit and the unedited
            projection it was made from).
        photo: ``[1,3,H,W]`` the original photo (size ``transform.photo_size``).
        transform: from :func:`align_face`.
        region: ``[1,1,R,R]`` soft mask of what to paste (default :func:`edit_region` of the two images,
            with ``region_kw`` such as ``masks=``, ``threshold=``, ``dilate=``, ``feather=``).
        mode: ``"delta"`` — delta transfer, ``photo + warp(edited - reconstruction) * m``: the photo keeps its
            own detail and gets only what the edit changed (default); ``"poisson"`` — the warped edit is
            Poisson-blended (Pérez et al. 2003) into the photo inside ``m >= 0.5`` and alpha-blended by ``m``;
            ``"alpha"`` — the plain paste ``photo (1 - m) + warp(edited) m``.

    Returns ``[1,3,H,W]`` on the photo's device; pixels where the warped mask is 0 are copied from ``photo``.
    """
    if mode not in PASTE_MODES:
        raise ValueError(f"paste mode must be one of {', '.join(PASTE_MODES)}, not {mode!r}")
    _check_photo(photo, transform)
    dev = photo.device
    edited, reconstruction = edited.to(dev, torch.float32), reconstruction.to(dev, torch.float32)
    m = edit_region(edited, reconstruction, **region_kw) if region is None else region.to(dev, torch.float32)
    out = photo.clone()
    src = torch.cat([edited - reconstruction if mode == "delta" else edited, m], dim=1)
    warped, box = warp_to_photo(src, transform)
    if warped is None:
        return out
    x0, y0, x1, y1 = box
    rgb, alpha = warped[:, :3], warped[:, 3:4].clamp(0, 1)
    base = photo[:, :, y0:y1, x0:x1].float()
    if mode == "delta":
        new = (base + rgb * alpha).clamp(-1, 1)
    elif mode == "alpha":
        new = base * (1 - alpha) + rgb * alpha
    else:
        from ..composite.poisson import poisson_blend

        new = poisson_blend(rgb, base, alpha)
    out[:, :, y0:y1, x0:x1] = torch.where(alpha > 0, new.to(out.dtype), photo[:, :, y0:y1, x0:x1])
    return out


def _check_photo(photo: torch.Tensor, transform) -> None:
    """Refuse a photo ``[1,3,H,W]`` of another size than the one ``transform`` was made for."""
    w, h = transform.photo_size
    if tuple(photo.shape[-2:]) != (h, w):
        raise ValueError(f"the photo is {photo.shape[-1]}x{photo.shape[-2]} but the transform was made for a "
                         f"{w}x{h} photo; pass the photo that was aligned")
