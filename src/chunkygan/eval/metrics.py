"""The evaluation metrics, defined once (paper Sec. 4.1 Table 1, Sec. 4.2 Table 2).

All take images ``[B,3,H,W]`` (or ``[1,...]`` against ``[B,...]``) with values in ``[-1,1]`` and return one
value per row:

``lpips``
    LPIPS v0.1 (Zhang et al. 2018) with the AlexNet trunk (``net="vgg"`` on request), both images
    resized to 256x256 first (bilinear up, antialiased down: the inversion literature's convention and
    what ``chunkygan project`` reports in ``metrics.json``). Lower is better; 0 = identical.
``identity``
    ``1 - cos(e_a, e_b)`` of ArcFace (InsightFace ``w600k_mbf``) descriptors. With ``landmarks="ffhq"``
    (the default here: everything the evaluation compares is an FFHQ-aligned crop or a render of the
    generator) ArcFace's five-point alignment is taken from the FFHQ template
    (:func:`chunkygan.losses.identity.ffhq_keypoints`); with ``"detect"`` SCRFD finds the face (padded and
    upscaled when needed). 0 = same descriptor, about 1 = unrelated people. A row whose face cannot be
    scored is NaN with its reason in ``errors``: it is never silently dropped; :func:`summarise` counts it.
``l2``
    Mean squared error over pixels and channels of the images in ``[-1,1]`` (so values lie in ``[0,4]``;
    divide by 4 for images scaled to ``[0,1]``), at the first image's resolution (the second is resized
    to it if needed).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

#: LPIPS working size (px): both images are resized to this square before the network
LPIPS_RESOLUTION = 256
L2_RANGE = "images in [-1,1]: MSE in [0,4]"


def _pairs(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if a.dim() != 4 or b.dim() != 4 or a.shape[1] != 3 or b.shape[1] != 3:
        raise ValueError(f"metrics need images [B,3,H,W], got {tuple(a.shape)} and {tuple(b.shape)}")
    n = max(len(a), len(b))
    if len(a) not in (1, n) or len(b) not in (1, n):
        raise ValueError(f"batch sizes {len(a)} and {len(b)} do not match")
    return a.float().expand(n, -1, -1, -1), b.float().expand(n, -1, -1, -1)


def resize_to(x: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of ``[B,C,H,W]`` to ``size`` (antialiased when shrinking)."""
    size = (size, size) if isinstance(size, int) else tuple(size)
    if tuple(x.shape[-2:]) == size:
        return x
    shrink = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    return torch.nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=shrink)


def l2(a: torch.Tensor, b: torch.Tensor) -> list[float]:
    """MSE per row of images in ``[-1,1]`` (range ``[0,4]``), at ``a``'s resolution."""
    a, b = _pairs(a, b)
    b = resize_to(b, tuple(a.shape[-2:]))
    return [float(v) for v in (a - b).pow(2).flatten(1).mean(1)]


class Metrics:
    """LPIPS, identity and L2 with the definitions in the module docstring; networks load on first use."""

    def __init__(self, lpips_net: str = "alex", landmarks: str = "ffhq", device: str | torch.device = "cpu"):
        self.lpips_net, self.landmarks, self.device = lpips_net, landmarks, torch.device(device)
        self._lpips = None
        self._identity = None

    @property
    def lpips_module(self):
        if self._lpips is None:
            from ..losses.lpips import LPIPS

            self._lpips = LPIPS(self.lpips_net, working_resolution=None).eval().requires_grad_(False).to(self.device)
        return self._lpips

    @property
    def face_identity(self):
        if self._identity is None:
            from ..losses.identity import FaceIdentity

            self._identity = FaceIdentity(landmarks=self.landmarks)
        return self._identity

    @torch.no_grad()
    def lpips(self, a: torch.Tensor, b: torch.Tensor) -> list[float]:
        """LPIPS v0.1 per row, both images at 256x256."""
        a, b = _pairs(a, b)
        a, b = resize_to(a, LPIPS_RESOLUTION).to(self.device), resize_to(b, LPIPS_RESOLUTION).to(self.device)
        return [float(v) for v in self.lpips_module(a, b).flatten()]

    def identity(self, a: torch.Tensor, b: torch.Tensor) -> tuple[list[float], list[str | None]]:
        """``1 - cos`` of ArcFace descriptors per row (NaN where no face could be scored) and the errors."""
        a, b = _pairs(a, b)
        return self.face_identity.distances(a.cpu(), b.cpu())

    def l2(self, a: torch.Tensor, b: torch.Tensor) -> list[float]:
        return l2(a, b)

    def all(self, a: torch.Tensor, b: torch.Tensor, identity: bool = True) -> list[dict]:
        """One dict per row: ``lpips``, ``l2`` and (with ``identity``) ``identity`` + ``identity_error``."""
        lp, sq = self.lpips(a, b), self.l2(a, b)
        rows = [{"lpips": lp[i], "l2": sq[i]} for i in range(len(lp))]
        if identity:
            dist, err = self.identity(a, b)
            for r, d, e in zip(rows, dist, err):
                r["identity"] = None if math.isnan(d) else d
                r["identity_error"] = e
        return rows


@dataclass
class Summary:
    """Mean and (sample) standard deviation of the scored values, and how many rows could not be scored."""

    mean: float
    std: float
    n: int
    failed: int

    def format(self, digits: int = 4) -> str:
        if self.n == 0:
            return "n/a" + (f" ({self.failed} unscored)" if self.failed else "")
        text = f"{self.mean:.{digits}f} ± {self.std:.{digits}f}"
        return text + (f" ({self.failed} unscored)" if self.failed else "")


def summarise(values) -> Summary:
    """Mean ± std over the finite values; None/NaN rows are counted in ``failed``, not dropped silently."""
    values = list(values)
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    failed = len(values) - len(vals)
    if not vals:
        return Summary(float("nan"), float("nan"), 0, failed)
    mean = sum(vals) / len(vals)
    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0
    return Summary(mean, std, len(vals), failed)


__all__ = ["Metrics", "Summary", "summarise", "l2", "resize_to", "LPIPS_RESOLUTION", "L2_RANGE"]
