"""The offline evaluation set: real face photos with a clear licence that registry packages ship.

Nothing is downloaded and no image is committed: :func:`write_offline_set` reads the photos from the
installed packages (sha256-checked), FFHQ-aligns each face (face extra, :func:`chunkygan.align.align_face`)
and writes ``<name>.png`` plus ``SOURCES.md`` (source and licence of each). Two hard cases (the paper
picked occluded faces on purpose, Sec. 4.1 / Fig. 5) are made from the public-domain photos by covering
part of the aligned face, at positions taken from the FFHQ landmark template.

The set was fixed before anything was tuned on it.
"""
from __future__ import annotations

import importlib.metadata
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..fileio import atomic_write_text, sha256_file

log = logging.getLogger(__name__)


class OfflineSetError(OSError):
    """A photo of the offline set is missing or not the expected file; the message names the package."""


@dataclass(frozen=True)
class Photo:
    name: str
    package: str  # PyPI distribution
    path: str  # file inside the distribution
    sha256: str
    licence: str
    source: str
    occlude: str | None = None  # "eyes" (a dark band, like sunglasses) or "mouth" (a face mask)
    base: str | None = None  # the photo an occluded variant is made from
    pad_mode: str = "ffhq"  # where the FFHQ quad leaves the photo ("border": repeat edge pixels)


PHOTOS: tuple[Photo, ...] = (
    Photo("astronaut", "scikit-image", "skimage/data/astronaut.png",
          "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5", "public domain",
          "Eileen Collins, NASA Great Images (scikit-image `skimage.data.astronaut`)"),
    Photo("grace_hopper", "matplotlib", "matplotlib/mpl-data/sample_data/grace_hopper.jpg",
          "a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130", "public domain (US Navy photograph)",
          "Rear Admiral Grace M. Hopper, US Navy (matplotlib sample data `grace_hopper.jpg`)"),
    Photo("kodim04", "pyiqa", "ResultsCalibra/ref_dir/I04.bmp",
          "c8500941a30397bc9e613a297e1286bdb955f49926148f58e7963d6e82b03c9f", "Kodak Lossless True Color Image Suite: released by Eastman Kodak for unrestricted usage",
          "Kodak image 4 (girl in a red hat), the TID2013 reference image I04 shipped in the pyiqa 0.1.16 wheel",
          pad_mode="border"),  # the face fills the photo: FFHQ's blurred padding would cover most of it
    Photo("astronaut_sunglasses", "scikit-image", "skimage/data/astronaut.png", "", "public domain (derived)",
          "astronaut with a dark band over the eyes (made here: occlusion)", occlude="eyes", base="astronaut"),
    Photo("grace_hopper_mask", "matplotlib", "matplotlib/mpl-data/sample_data/grace_hopper.jpg", "",
          "public domain (derived)", "Grace Hopper with a light blue face mask over nose and mouth (made here: occlusion)",
          occlude="mouth", base="grace_hopper"),
)


def photo_file(photo: Photo) -> Path:
    """Where the installed package has the photo (:class:`OfflineSetError` if it is not installed)."""
    try:
        dist = importlib.metadata.distribution(photo.package)
    except importlib.metadata.PackageNotFoundError:
        raise OfflineSetError(f"{photo.name}: the package {photo.package} that ships it is not installed "
                              f"(`make setup` installs it)") from None
    p = Path(str(dist.locate_file(photo.path)))
    if not p.is_file():
        raise OfflineSetError(f"{photo.name}: {photo.package} has no {photo.path}; install the version `make setup` pins")
    if photo.sha256 and sha256_file(p) != photo.sha256:
        raise OfflineSetError(f"{photo.name}: {p} is not the expected file (sha256 differs); reinstall {photo.package}")
    return p


def occlude(image: torch.Tensor, what: str) -> torch.Tensor:
    """Cover the eyes (dark band) or nose and mouth (light blue mask) of an FFHQ-aligned ``[1,3,R,R]`` face."""
    from ..losses.identity import ffhq_keypoints

    R = image.shape[-1]
    kp = ffhq_keypoints(R)  # eyes, nose, mouth corners
    out = image.clone()
    if what == "eyes":
        y = kp[:2, 1].mean()
        x0, x1 = kp[0, 0] - 0.09 * R, kp[1, 0] + 0.09 * R
        y0, y1 = y - 0.055 * R, y + 0.055 * R
        colour = torch.tensor([-0.85, -0.85, -0.8])
    elif what == "mouth":
        x0, x1 = kp[3, 0] - 0.12 * R, kp[4, 0] + 0.12 * R
        y0, y1 = kp[2, 1] - 0.06 * R, kp[3:, 1].mean() + 0.13 * R
        colour = torch.tensor([0.45, 0.75, 0.95])
    else:
        raise ValueError(f"unknown occlusion {what!r}; use eyes or mouth")
    ys, xs = slice(max(0, round(y0)), round(y1)), slice(max(0, round(x0)), round(x1))
    out[:, :, ys, xs] = colour.view(1, 3, 1, 1)
    return out


def write_offline_set(out_dir: str | os.PathLike, resolution: int = 256, names: list[str] | None = None) -> list[Path]:
    """Write the FFHQ-aligned photos (``resolution`` px) and ``SOURCES.md`` into ``out_dir``; returns the images.

    A photo that is already there is not aligned again. Needs the face extra (dlib) for the alignment.
    """
    from ..align import align_face
    from ..imageio import load_image, save_image

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    want = [p for p in PHOTOS if names is None or p.name in names]
    unknown = set(names or ()) - {p.name for p in PHOTOS}
    if unknown:
        raise OfflineSetError(f"unknown photo(s) {', '.join(sorted(unknown))}; known: {', '.join(p.name for p in PHOTOS)}")
    aligned: dict[str, torch.Tensor] = {}
    paths = []
    for photo in want:
        dest = out / f"{photo.name}.png"
        paths.append(dest)
        if dest.is_file():
            continue
        key = photo.base or photo.name
        if key not in aligned:
            base = next(p for p in PHOTOS if p.name == key)
            photo_img = load_image(photo_file(base))
            aligned[key], tr = align_face(photo_img, resolution=resolution)
            if base.pad_mode != "ffhq":
                from ..align.ffhq import warp_quad

                aligned[key] = warp_quad(photo_img, tr.quad, resolution, pad_mode=base.pad_mode)
        img = aligned[key] if photo.occlude is None else occlude(aligned[key], photo.occlude)
        save_image(img, dest)
        log.info("wrote %s", dest)
    lines = ["# The offline evaluation set", "",
             "FFHQ-aligned (`chunkygan.align.align_face`) from photos that installed registry packages ship; "
             "nothing downloaded, nothing committed.", "",
             "| image | source | package file | licence |", "|---|---|---|---|"]
    for photo in want:
        lines.append(f"| {photo.name}.png | {photo.source} | {photo.package}: `{photo.path}` | {photo.licence} |")
    atomic_write_text(out / "SOURCES.md", "\n".join(lines) + "\n")
    return paths


__all__ = ["PHOTOS", "Photo", "write_offline_set", "photo_file", "occlude", "OfflineSetError"]
