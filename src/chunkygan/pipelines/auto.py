"""The paper's fully automatic projection (Eq. 2): ``G^S(X^S)`` masks optimised jointly with the K codes.

A driver above :mod:`chunkygan.segments.gs` (the segment generator), :mod:`chunkygan.project.projector`
and :mod:`chunkygan.edit.apply`, which it combines:

* :func:`choose_masks` — the default mask mode of ``chunkygan project``: ``G^S`` when a segment head
  exists for the generator (or can be trained on first use: the face extra is installed) and the
  image shows a face (SCRFD, when the face extra is installed); k-means free masks otherwise, with the reason.
* :func:`auto_projector` — a :class:`~chunkygan.project.projector.Projector` with ``G^S`` masks, ``X^S``
  started at the same latent as the codes, and options to freeze the codes or ``X^S``.
* :func:`edit_with_segments` — an edit that moves ``X^S`` along the same directions as the codes.
* :func:`run_with_progression` — run a projector keeping the Fig. 3 frames
  (:func:`chunkygan.segments.gs.progression_strip` draws them).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import torch

from ..segments.gs import SegmentGeneratorMasks, auto_mask_source, default_head_path, mask_source_for

log = logging.getLogger(__name__)

#: mask modes of ``chunkygan project --masks NAME`` (anything else is a user mask folder / label image):
#: ``gs`` the segment generator (the paper's mode), ``kmeans``/``free`` free logits started from k-means of
#: colour and position, ``grid`` free logits started as a grid.
MASK_MODES = ("gs", "kmeans", "free", "grid")


@dataclass(frozen=True)
class MaskChoice:
    """The mask mode picked for one image: ``mode`` (``gs`` or ``kmeans``), a one-line ``reason`` and, for
    ``gs``, the ``head`` file (None: the default head is trained on first use and cached)."""

    mode: str
    reason: str
    head: Path | None = None


def face_extra_can_train() -> str:
    """Why the default segment head cannot be trained here ('' when it can: the face extra's MediaPipe
    FaceLandmarker labels the generated samples)."""
    from ..face.deps import missing

    return missing(("mediapipe",), ("mediapipe-face-landmarker",))


def is_builtin(G) -> bool:
    """Whether ``G`` is one of the registered face generators, whose default head is trained on first use."""
    from ..generators import GENERATORS, default_generator_name

    default_generator_name()  # registers the built-ins
    return str(getattr(G, "name", "")) in GENERATORS


@lru_cache(maxsize=1)
def _face_detector():
    from ..losses.identity import FaceDetector

    return FaceDetector()


def detect_face(image: torch.Tensor) -> bool | None:
    """Whether ``image`` ``[1,3,H,W]`` in [-1,1] shows a face (SCRFD-500M, score >= 0.5; once more on a padded,
    upscaled copy, since SCRFD misses faces that fill the frame); None when the detector is not installed (onnxruntime and the SCRFD weights come with the face extra)."""
    from ..face.deps import missing

    if missing(("onnxruntime",), ("scrfd-500m-kps",)):
        return None
    from ..losses.identity import NoFaceError, detect_padded

    try:
        if _face_detector()(image):
            return True
        detect_padded(_face_detector(), image)  # faces that fill the frame (aligned crops) need a border
        return True
    except NoFaceError:
        return False
    except (ImportError, OSError, RuntimeError) as e:  # a broken runtime must not stop a projection
        log.warning("face detection failed (%s); treating the image as not a face", e)
        return None


def choose_masks(G, image: torch.Tensor, head_path: str | os.PathLike | None = None,
                 face_detector: Callable[[torch.Tensor], bool | None] | None = None) -> MaskChoice:
    """The default mask mode for projecting ``image`` ``[1,3,H,W]`` into ``G`` (never raises for a missing extra).

    ``gs`` (the paper's Eq. 2 mode) when a head is at hand — ``head_path``, the generator's cached default
    head (:func:`~chunkygan.segments.gs.default_head_path`) or, for a built-in generator, one that can be
    trained on first use (face extra installed) — and ``face_detector(image)`` (default :func:`detect_face`) finds a face;
    ``kmeans`` otherwise, and always for generators without W+ (on the Z-only DCGAN the G^S mode is
    measured 40-80% worse than k-means free masks).
    """
    if "w+" not in getattr(G, "spaces", ()):
        # measured: on the Z-only DCGAN, G^S masks fit far worse than k-means (docs/segment_generator.md)
        return MaskChoice("kmeans", "G^S masks are the default only for style-based (W+) generators; "
                                    "--masks gs uses them anyway")
    if head_path is not None:
        head, how = Path(head_path), f"segment head {head_path}"
    else:
        cached = default_head_path(G)
        if cached.exists():
            head, how = cached, "the cached default segment head"
        elif not is_builtin(G):
            return MaskChoice("kmeans", "no segment head for this generator (make one with `chunkygan segments train` "
                                        "and pass --segment-head)")
        else:
            why = face_extra_can_train()
            if why:
                return MaskChoice("kmeans", f"no segment head for this generator and none can be trained here ({why})")
            head, how = None, "the default segment head (trained on first use, about 30 s)"
    face = (face_detector or detect_face)(image)
    if face is None:
        return MaskChoice("kmeans", "no face detector installed (face extra: onnxruntime + SCRFD weights)")
    if not face:
        return MaskChoice("kmeans", "no face found in the image")
    return MaskChoice("gs", f"a face was found; masks from G^S with {how}", head)


def auto_projector(G, target: torch.Tensor, config=None, *, source: SegmentGeneratorMasks | None = None,
                   head_path=None, freeze_codes: bool = False, freeze_segments: bool = False, **kwargs):
    """A Projector for fully automatic ChunkyGAN projection with ``G^S`` masks (Eq. 2).

    K = the head's number of classes. The codes start as the projector decides (the mean latent; for Z
    the best of seeded random codes, since z = 0 is a dead point of the DCGAN) and ``X^S`` starts at the
    same latent (the first code). ``freeze_codes`` optimises only ``X^S``; ``freeze_segments`` only the codes.
    ``kwargs``: :class:`~chunkygan.project.projector.Projector` arguments or config fields.
    """
    from ..project.projector import ProjectionConfig, Projector

    src = source if source is not None else auto_mask_source(G, head_path)
    space = src.segment_generator.space
    cfg = config or ProjectionConfig(method=f"chunky-{space}", segments=src.num_segments)
    if freeze_codes and freeze_segments:
        raise ValueError("freezing both the codes and X^S leaves nothing to optimise")
    kwargs.setdefault("segments", src.num_segments)
    if freeze_segments:
        kwargs["optimise_masks"] = False
    p = Projector(G, target, cfg, masks=src, **kwargs)
    if p.space.name == space:
        with torch.no_grad():
            src.latent.copy_(p.codes[:1].detach())
    if freeze_codes:
        p.codes.requires_grad_(False)
    if not freeze_segments:
        src.latent.requires_grad_(True)
    return p


def edit_with_segments(G, projection, edits, source: SegmentGeneratorMasks | None = None, segments=None):
    """Edit the codes and move ``X^S`` along the same directions (Sec. 4.2, geometric edits such as yaw).

    Thin wrapper around :func:`chunkygan.edit.apply.edit_projection` with ``move_mask_latent=True``;
    ``source``: the projection's mask source (default: :func:`mask_source_for`); X^S is taken from the projection.
    """
    from ..edit.apply import edit_projection

    if source is None:
        source = mask_source_for(G, projection)
    if "latent" in projection.mask_params:
        source.load_state({"latent": projection.mask_params["latent"]})
    return edit_projection(G, projection, edits, segments=segments, mask_source=source, move_mask_latent=True)


#: iterations shown in the paper's Fig. 3 progression (1-based; the last step is added)
FIG3_STEPS = (1, 5, 9, 15, 23, 37)


def run_with_progression(projector, marks=FIG3_STEPS, callback=None):
    """Run the projector to the end, keeping the composite and the masks after the steps in ``marks``
    (1-based) and after the last one. Returns ``(projection with metrics, frames)`` where frames is a list
    of ``(step, image [1,3,R,R], masks [K,1,R,R])`` on the CPU; ``callback(info)`` after every step."""
    want = {int(m) for m in marks if 0 < int(m) <= projector.config.steps} | {projector.config.steps}
    frames = []
    for info in projector:
        if callback is not None:
            callback(info)
        if info.step in want:
            with torch.no_grad():
                frames.append((info.step, projector.output().cpu(), projector.masks().detach().cpu()))
    return projector.result(with_metrics=True), frames


__all__ = ["MASK_MODES", "MaskChoice", "choose_masks", "detect_face", "face_extra_can_train", "auto_projector",
           "edit_with_segments", "run_with_progression", "FIG3_STEPS", "mask_source_for", "auto_mask_source"]
