"""Pure-PyTorch building blocks of StyleGAN2 (Karras et al. 2020, "Analyzing and Improving the Image
Quality of StyleGAN"): fused bias + activation, FIR up-sampling and the modulated convolution.

Written from the paper and the numerical conventions of NVlabs' ``torch_utils/ops`` (no custom CUDA
kernels: every op here is standard ``torch.nn.functional`` so it runs on CPU and CUDA alike).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

#: Activation name -> (function, default gain). StyleGAN2 scales lrelu by sqrt(2) to keep the
#: signal magnitude (He init for leaky ReLU with slope 0.2 is close to it).
ACTIVATIONS = {
    "linear": (lambda x: x, 1.0),
    "relu": (F.relu, math.sqrt(2)),
    "lrelu": (lambda x: F.leaky_relu(x, 0.2), math.sqrt(2)),
}


def check_activation(name: str) -> str:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; StyleGAN2 layers here support {', '.join(ACTIVATIONS)}")
    return name


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """Pixel-norm of the latent: ``x / sqrt(mean(x²) + eps)`` along ``dim`` (``[B,D] -> [B,D]``)."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


def bias_act(x: torch.Tensor, b: torch.Tensor | None, act: str = "linear", gain: float | None = None,
             clamp: float | None = None) -> torch.Tensor:
    """``clamp(act(x + b) * gain, ±clamp)`` with the bias broadcast along dim 1.

    ``x`` ``[B,C,...]``, ``b`` ``[C]`` or None; ``gain`` defaults to the activation's (sqrt 2 for lrelu).
    """
    fn, def_gain = ACTIVATIONS[act]
    gain = def_gain if gain is None else gain
    if b is not None:
        x = x + b.to(x.dtype).reshape([1, -1] + [1] * (x.ndim - 2))
    x = fn(x)
    if gain != 1:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


def make_fir_filter(taps=(1, 3, 3, 1)) -> torch.Tensor:
    """Separable low-pass filter ``f ⊗ f / sum`` as a float32 ``[k,k]`` tensor (DC gain 1)."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    if f.ndim == 0:
        f = f[None]
    if f.ndim == 1:
        f = torch.outer(f, f)
    if f.ndim != 2 or f.shape[0] != f.shape[1]:
        raise ValueError(f"resample_filter must be a list of taps or a square 2-D kernel, got shape {tuple(f.shape)}")
    return f / f.sum()


def _depthwise(f: torch.Tensor, channels: int, dtype: torch.dtype, gain: float) -> torch.Tensor:
    """``[k,k]`` filter -> ``[C,1,k,k]`` depthwise weight, flipped (true convolution), times ``gain``."""
    return (f.flip([0, 1]) * gain).to(dtype)[None, None].expand(channels, 1, *f.shape)


def upsample2d(x: torch.Tensor, f: torch.Tensor, up: int = 2) -> torch.Tensor:
    """FIR up-sampling ``[B,C,H,W] -> [B,C,uH,uW]``: zero insertion, then the filter with gain ``up²``.

    Done as one depthwise transposed convolution: a stride-``up`` transpose with the filter is exactly
    "insert zeros, then convolve", and cropping ``k-1-p0`` pixels at the start reproduces the padding
    ``p0 = (k+up-1)//2`` NVIDIA's ``upsample2d`` uses, so the output grid is aligned identically.
    """
    C, k = x.shape[1], f.shape[-1]
    c0 = k - 1 - (k + up - 1) // 2
    if c0 < 0:
        raise ValueError(f"a {k}-tap resample filter is too short for {up}x up-sampling")
    w = (f * float(up * up)).to(x.dtype)[None, None].expand(C, 1, k, k)
    y = F.conv_transpose2d(x, w, stride=up, groups=C)  # [B,C,(H-1)up+k,(W-1)up+k]
    return y[:, :, c0:c0 + x.shape[2] * up, c0:c0 + x.shape[3] * up]


def blur(x: torch.Tensor, f: torch.Tensor, pad: int, gain: float = 1.0) -> torch.Tensor:
    """Zero-pad by ``pad`` on every side and convolve each channel with ``f·gain`` (``[B,C,H,W]``)."""
    C = x.shape[1]
    return F.conv2d(x, _depthwise(f, C, x.dtype, gain), padding=pad, groups=C)


def conv2d_up2(x: torch.Tensor, w: torch.Tensor, f: torch.Tensor, groups: int = 1) -> torch.Tensor:
    """3x3 (any odd k) convolution with 2x FIR up-sampling, as in StyleGAN2's ``conv0``.

    ``x`` ``[B, I·g, H, W]``, ``w`` ``[O·g, I, k, k]`` -> ``[B, O·g, 2H, 2W]``. Equivalent to
    "upsample by zero insertion, pad, convolve with ``w``, low-pass with ``f`` (gain 4)" and executed as
    a stride-2 transposed convolution with the un-flipped kernel followed by the FIR filter, which is
    the order (and the orientation) NVIDIA's ``conv2d_resample`` uses for ``up=2, flip_weight=False``.
    """
    out_total, in_per_group, kh, kw = w.shape
    if groups == 1:
        wt = w.transpose(0, 1)
    else:
        wt = w.reshape(groups, out_total // groups, in_per_group, kh, kw).transpose(1, 2)
        wt = wt.reshape(groups * in_per_group, out_total // groups, kh, kw)
    x = F.conv_transpose2d(x, wt, stride=2, groups=groups)  # [B, O, 2H+k-2, 2W+k-2]
    fk = f.shape[-1]
    # Padding relative to the up-sampled image, as derived by conv2d_resample for up=2:
    p0 = kw // 2 + (fk + 1) // 2 - (kw - 1)
    p1 = kw // 2 + (fk - 2) // 2 - (kw - 2)
    if p0 == p1 and p0 >= 0:
        return blur(x, f, p0, gain=4.0)
    x = F.pad(x, [p0, p1, p0, p1])
    return blur(x, f, 0, gain=4.0)


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, *, demodulate: bool = True,
                     up: bool = False, f: torch.Tensor | None = None, noise: torch.Tensor | None = None,
                     bias: torch.Tensor | None = None, act: str = "linear", gain: float | None = None,
                     clamp: float | None = None, fused: bool = True) -> torch.Tensor:
    """StyleGAN2 modulated convolution (paper Sec. 2.2, Eq. 1-3) followed by noise, bias and activation.

    ``x`` ``[B,I,H,W]``, ``weight`` ``[O,I,k,k]``, ``styles`` ``[B,I]`` -> ``[B,O,H',W']`` (``H' = 2H`` when
    ``up``). Modulation ``w'_{oik} = s_i·w_{oik}`` (Eq. 1), demodulation
    ``w''_{oik} = w'_{oik} / sqrt(Σ_{i,k} w'²_{oik} + 1e-8)`` (Eq. 3); then
    ``clamp(act(conv + noise + bias)·gain, ±clamp)`` exactly like :func:`bias_act`.

    ``fused=True`` builds per-sample weights and runs one grouped convolution (NVIDIA's default at
    inference); ``fused=False`` scales the activations instead (``x·s`` -> shared conv -> ``·d``), so a
    batch of B codes is one ordinary convolution (faster for B > 1 on CPU; same maths).
    """
    B = x.shape[0]
    O, I, kh, kw = weight.shape
    if styles.shape != (B, I):
        raise ValueError(f"styles must be [{B},{I}], got {tuple(styles.shape)}")
    if x.dtype == torch.float16 and demodulate:
        # Pre-normalise (cancels out under demodulation) so that fp16 does not overflow.
        weight = weight * (1 / math.sqrt(I * kh * kw) / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True))
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)
    pad = kw // 2

    if not fused:
        scale = None
        if demodulate:
            # Σ_{i,k} (s_i w_oik)² = Σ_i s_i² · Σ_k w_oik²  -> one [B,I]x[I,O] matmul, no per-sample weights.
            scale = (styles.square() @ weight.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt()  # [B,O]
        x = x * styles.to(x.dtype).reshape(B, -1, 1, 1)
        w = weight.to(x.dtype)
        x = conv2d_up2(x, w, f) if up else F.conv2d(x, w, padding=pad)
    else:
        scale = None
        w = weight.unsqueeze(0) * styles.reshape(B, 1, -1, 1, 1)  # [B,O,I,k,k]
        if demodulate:
            w = w * (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt().reshape(B, -1, 1, 1, 1)
        w = w.reshape(-1, I, kh, kw).to(x.dtype)
        x = x.reshape(1, -1, *x.shape[2:])
        x = conv2d_up2(x, w, f, groups=B) if up else F.conv2d(x, w, padding=pad, groups=B)
        x = x.reshape(B, -1, *x.shape[2:])
    return _epilogue(x, scale, noise, bias, act, gain, clamp)


def _epilogue(x, scale, noise, bias, act, gain, clamp):
    """``clamp(act(x·scale + noise + bias)·gain, ±clamp)`` in as few passes over ``x`` as possible.

    The activations here are positively homogeneous (``act(v)·g = act(v·g)`` for ``g > 0``), so the gain
    is folded into the small ``scale [B,O]``, ``noise`` and ``bias [O]`` tensors; in-place steps are used
    only on tensors autograd has not saved.
    """
    fn, def_gain = ACTIVATIONS[act]
    g = def_gain if gain is None else float(gain)
    B, O = x.shape[:2]
    b = (bias.to(x.dtype) * g).reshape(1, O, 1, 1) if bias is not None else None
    if scale is not None:
        s = (scale.to(x.dtype) * g).reshape(B, O, 1, 1)
        x = torch.addcmul(b, x, s) if b is not None else x * s
    elif b is not None:
        x = torch.add(b, x, alpha=g) if g != 1 else x + b
    elif g != 1:
        x = x * g
    if noise is not None:
        x = x.add_(noise.to(x.dtype) * g)  # x is a fresh tensor that autograd has not saved
    if act == "lrelu":
        x = F.leaky_relu_(x, 0.2)  # autograd saves its result; nothing below modifies it in place
    elif act == "relu":
        x = F.relu_(x)
    if clamp is not None and clamp >= 0:
        x = x.clamp_(-clamp, clamp) if not torch.is_grad_enabled() else x.clamp(-clamp, clamp)
    return x
