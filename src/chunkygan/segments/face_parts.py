"""Soft face-part masks (skin, brows, eyes, nose, mouth, hair, background) from MediaPipe.

Geometry comes from the FaceLandmarker's 478 landmarks: each part is the convex hull of its
landmark group (MediaPipe's own ``FaceLandmarksConnections`` groups), rasterised and softened with a
Gaussian. Person vs background comes from MediaPipe's selfie segmentation.

**Hair is a heuristic**: the person mask minus the face oval, kept above the mouth line (fading out
towards the chin) and within about one face width of the face; neck, shoulders and clothes below the
chin go to the background. The other parts are only as good as the landmarks.

Parts are allocated in priority order (mouth, eyes, brows, nose, skin, hair), each taking its
soft share of what is left, and the background takes the rest, so the masks sum to one everywhere.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from ..fileio import atomic_write_text
from ..imageio import save_image

log = logging.getLogger(__name__)

PART_NAMES = ("background", "skin", "brows", "eyes", "nose", "mouth", "hair")
#: preview colours (RGB), one per part
PART_COLOURS = {
    "background": (0, 0, 0), "skin": (230, 180, 140), "brows": (120, 60, 20), "eyes": (40, 120, 255),
    "nose": (255, 140, 0), "mouth": (220, 20, 60), "hair": (150, 40, 200),
}
#: allocation order: earlier parts win where the convex hulls overlap
PRIORITY = ("mouth", "eyes", "brows", "nose", "skin", "hair")


def _groups() -> dict[str, list[list[int]]]:
    """Landmark index groups per part (each inner list becomes one convex hull)."""
    from ..face.deps import require

    require("mediapipe")
    from mediapipe.tasks.python.vision.face_landmarker import FaceLandmarksConnections as C

    def idx(conns) -> list[int]:
        return sorted({c.start for c in conns} | {c.end for c in conns})

    return {
        "skin": [idx(C.FACE_LANDMARKS_FACE_OVAL)],
        "brows": [idx(C.FACE_LANDMARKS_LEFT_EYEBROW), idx(C.FACE_LANDMARKS_RIGHT_EYEBROW)],
        "eyes": [idx(C.FACE_LANDMARKS_LEFT_EYE), idx(C.FACE_LANDMARKS_RIGHT_EYE)],
        "nose": [idx(C.FACE_LANDMARKS_NOSE)],
        "mouth": [idx(C.FACE_LANDMARKS_LIPS)],
    }


def _hull_mask(points: np.ndarray, h: int, w: int) -> np.ndarray:
    """Binary ``[H,W]`` float32 raster of the convex hull of ``points`` ``[N,2]`` (pixel coordinates)."""
    from scipy.spatial import ConvexHull

    poly = points[ConvexHull(points).vertices]
    im = Image.new("L", (w, h), 0)
    ImageDraw.Draw(im).polygon([(float(x), float(y)) for x, y in poly], fill=255)
    return np.asarray(im, dtype=np.float32) / 255.0


def _blur(m: torch.Tensor, sigma: float) -> torch.Tensor:
    from ..align.ffhq import _gaussian_blur

    return _gaussian_blur(m, sigma)


@dataclass
class FaceParts:
    """Face-part masks of one image: ``masks`` ``[K,1,H,W]`` summing to one over K, named by ``names``."""

    masks: torch.Tensor
    names: tuple[str, ...]
    landmarks: np.ndarray  # [478,3] MediaPipe landmarks in pixels
    person: torch.Tensor  # [1,1,H,W] selfie segmentation

    def __getitem__(self, name: str) -> torch.Tensor:
        """The ``[1,1,H,W]`` mask of one part."""
        if name not in self.names:
            raise KeyError(f"no part {name!r}; parts: {', '.join(self.names)}")
        return self.masks[self.names.index(name)].unsqueeze(0)

    def labels(self) -> torch.Tensor:
        """``[H,W]`` int64 index of the strongest part per pixel."""
        return self.masks[:, 0].argmax(0)


def face_part_masks(image: torch.Tensor, face_index: int | None = None, softness: float = 0.01,
                    hair_reach: float = 1.0) -> FaceParts:
    """Soft face-part masks for one image.

    Args:
        image: ``[1,3,H,W]`` in ``[-1,1]`` (any device; MediaPipe runs on the CPU).
        face_index: which face (0 = largest, the default).
        softness: Gaussian edge softness as a fraction of the face width.
        hair_reach: how far hair may extend sideways from the face centre, in face widths.

    Returns:
        :class:`FaceParts` with ``masks`` ``[7,1,H,W]`` in ``[0,1]``, summing to 1 over parts, in
        :data:`PART_NAMES` order, on the image's device.

    Raises:
        NoFaceError: MediaPipe finds no face.
    """
    from ..face.mediapipe_face import mesh_face, person_mask

    h, w = image.shape[-2:]
    face = mesh_face(image, face_index)
    person = person_mask(image)  # [1,1,H,W] CPU
    pts = face.landmarks[:, :2]
    sigma = max(softness * face.width, 0.5)
    raw: dict[str, torch.Tensor] = {}
    for part, groups in _groups().items():
        m = np.zeros((h, w), dtype=np.float32)
        for g in groups:
            m = np.maximum(m, _hull_mask(pts[g], h, w))
        raw[part] = _blur(torch.from_numpy(m).view(1, 1, h, w), sigma)
    # hair heuristic: person outside the face oval, above the mouth line (fading by the chin), near the face
    top, chin = pts[10], pts[152]  # forehead top and chin on the face's vertical axis
    axis = chin - top
    length = float(np.hypot(*axis))
    down = axis / length
    side = np.array([-down[1], down[0]])
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    rel_x, rel_y = xx - float(top[0]), yy - float(top[1])
    s = (rel_x * float(down[0]) + rel_y * float(down[1])) / length  # 0 at forehead top, 1 at the chin
    t = (rel_x * float(side[0]) + rel_y * float(side[1])).abs() / face.width
    above = ((0.9 - s) / 0.3).clamp(0, 1)
    near = ((hair_reach + 0.2 - t) / 0.2).clamp(0, 1)
    raw["hair"] = person * (1 - raw["skin"]).clamp(0, 1) * (above * near).view(1, 1, h, w)
    # priority allocation: each part takes its soft share of what is left; background gets the rest
    left = torch.ones(1, 1, h, w)
    alloc = {}
    for part in PRIORITY:
        alloc[part] = raw[part].clamp(0, 1) * left
        left = left - alloc[part]
    alloc["background"] = left.clamp(min=0)
    masks = torch.cat([alloc[n] for n in PART_NAMES], dim=0)
    masks = masks / masks.sum(0, keepdim=True).clamp(min=1e-8)
    return FaceParts(masks=masks.to(image.device), names=PART_NAMES, landmarks=face.landmarks, person=person.to(image.device))


def preview(parts: FaceParts, image: torch.Tensor | None = None, opacity: float = 0.55) -> torch.Tensor:
    """Colour-coded ``[1,3,H,W]`` picture of the parts (blended over ``image`` when given)."""
    colours = torch.tensor([PART_COLOURS[n] for n in parts.names], dtype=torch.float32, device=parts.masks.device)
    colours = colours / 127.5 - 1  # [K,3]
    pic = (parts.masks * colours.view(-1, 3, 1, 1)).sum(0, keepdim=True)
    if image is not None:
        pic = image.to(pic) * (1 - opacity) + pic * opacity
    return pic


def save_parts(parts: FaceParts, out_dir: str | os.PathLike, image: torch.Tensor | None = None) -> list[Path]:
    """Write the parts for a user to inspect and edit.

    Files: ``labels.png`` (8-bit, pixel value = part index, see ``parts.json``), ``preview.png``
    (colour-coded over the image), ``mask_<k>_<name>.png`` (one soft mask per part) and ``parts.json``
    (names, colours, the label file). Editing ``labels.png`` or the mask files and passing the folder
    back as ``--masks`` reuses them.
    """
    d = Path(out_dir)
    written = [save_image(Image.fromarray(parts.labels().cpu().numpy().astype(np.uint8), "L"), d / "labels.png"),
               save_image(preview(parts, image), d / "preview.png")]
    for k, name in enumerate(parts.names):
        written.append(save_image(parts.masks[k], d / f"mask_{k}_{name}.png"))
    meta = {"format": "chunkygan.face_parts", "version": 1, "names": list(parts.names),
            "colours": {n: list(PART_COLOURS[n]) for n in parts.names}, "labels": "labels.png",
            "masks": [f"mask_{k}_{n}.png" for k, n in enumerate(parts.names)],
            "note": "hair is a heuristic: person segmentation minus the face, above the mouth line"}
    atomic_write_text(d / "parts.json", json.dumps(meta, indent=1))
    written.append(d / "parts.json")
    return written
