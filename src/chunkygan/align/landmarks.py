"""dlib face detection and 68-point landmarks (iBUG 300-W layout).

The landmark model is dlib's ``shape_predictor_68_face_landmarks.dat`` (asset ``dlib-landmarks-68``),
trained on iBUG 300-W, whose terms exclude commercial use. The detector is dlib's built-in HOG
frontal face detector (no weight file).
"""
from __future__ import annotations

import functools
import logging

import numpy as np
import torch

from ..assets import resolve
from ..face.deps import NoFaceError, require

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=2)
def _models(asset: str = "dlib-landmarks-68"):
    dlib = require("dlib")
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(resolve(asset)))


def to_uint8_hwc(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """``[1,3,H,W]``/``[3,H,W]`` tensor in ``[-1,1]`` (or an ``[H,W,3]`` uint8 array) -> C-contiguous ``[H,W,3]`` uint8."""
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an [H,W,3] uint8 array, got {image.dtype} {image.shape}")
        return np.ascontiguousarray(image)
    t = image.detach().float().cpu()
    if t.dim() == 4:
        if t.shape[0] != 1:
            raise ValueError(f"expected one image, got a batch of {t.shape[0]}")
        t = t[0]
    if t.dim() != 3 or t.shape[0] != 3:
        raise ValueError(f"expected an RGB image [1,3,H,W], got shape {tuple(image.shape)}")
    return np.ascontiguousarray(((t.clamp(-1, 1) + 1) * 127.5 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy())


def detect_faces(image: torch.Tensor | np.ndarray, upsample: int = 1) -> list[tuple[np.ndarray, np.ndarray]]:
    """Detect faces and their 68 landmarks, largest face first.

    Args:
        image: ``[1,3,H,W]`` in ``[-1,1]`` or ``[H,W,3]`` uint8.
        upsample: times the HOG detector upsamples the image (finds smaller faces, slower).

    Returns:
        ``[(box [4] float64 (left, top, right, bottom), landmarks [68,2] float64 (x, y) pixels), ...]``,
        sorted by box area, largest first. Empty when no face is found.
    """
    arr = to_uint8_hwc(image)
    detector, predictor = _models()
    rects = detector(arr, upsample)
    faces = []
    for r in rects:
        shape = predictor(arr, r)
        lm = np.array([[shape.part(i).x, shape.part(i).y] for i in range(shape.num_parts)], dtype=np.float64)
        faces.append((np.array([r.left(), r.top(), r.right(), r.bottom()], dtype=np.float64), lm))
    faces.sort(key=lambda f: -(f[0][2] - f[0][0]) * (f[0][3] - f[0][1]))
    log.debug("dlib found %d face(s)", len(faces))
    return faces


def face_landmarks(image: torch.Tensor | np.ndarray, face_index: int | None = None, name: str = "image") -> np.ndarray:
    """The 68 landmarks ``[68,2]`` of one face: the largest by default, else ``face_index`` (0 = largest).

    Raises:
        NoFaceError: no face found, or ``face_index`` is out of range.
    """
    faces = detect_faces(image)
    if not faces:
        raise NoFaceError(f"{name}: no face found. Use a photo with a clearly visible, roughly frontal face "
                          f"at least ~80 pixels wide, or pass an already aligned image without --align.")
    i = 0 if face_index is None else face_index
    if not 0 <= i < len(faces):
        raise NoFaceError(f"{name}: face {i} was asked for but {len(faces)} face(s) were found "
                          f"(0 = largest, up to {len(faces) - 1})")
    if face_index is None and len(faces) > 1:
        log.info("%s: %d faces found; using the largest (choose another with --face N)", name, len(faces))
    return faces[i][1]
