"""rosinality/stylegan2-pytorch ``Generator`` weights -> official StyleGAN2 names and config.

rosinality's ``model.py`` is the same network as NVIDIA's config F, stored differently:

==========================================  =============================================  ==========
rosinality (``g_ema`` state_dict)           official (``G_ema.state_dict()``)              conversion
==========================================  =============================================  ==========
``style.{i}.weight/bias`` (i = 1..n_mlp)    ``mapping.fc{i-1}.weight/bias``                same (both
                                                                                           keep lr_mul
                                                                                           as a runtime
                                                                                           gain)
``input.input`` [1,C,4,4]                   ``synthesis.b4.const`` [C,4,4]                 squeeze
``conv1.*`` / ``to_rgb1.*``                 ``synthesis.b4.conv1.*`` / ``b4.torgb.*``
``convs.{2k}`` / ``convs.{2k+1}``           ``synthesis.b{2^(k+3)}.conv0`` / ``.conv1``
``to_rgbs.{k}``                             ``synthesis.b{2^(k+3)}.torgb``
``*.conv.weight`` [1,O,I,k,k]               ``*.weight`` [O,I,k,k]                          squeeze
``*.conv.modulation.weight/bias``           ``*.affine.weight/bias``                        same (both
                                                                                           store
                                                                                           bias_init=1)
``*.activate.bias`` [O]                     ``*.bias`` [O]
``*.noise.weight`` [1]                      ``*.noise_strength`` []                         squeeze
``noises.noise_{j}`` [1,1,R,R]              ``noise_const`` [R,R] (j=0: b4.conv1; j=2k+1:   squeeze
                                            conv0, j=2k+2: conv1 of b{2^(k+3)})
``to_rgb*.bias`` [1,3,1,1]                  ``torgb.bias`` [3]                              flatten
``*.blur.kernel``, ``*.upsample.kernel``    ``*.resample_filter``                           / up² (=4)
==========================================  =============================================  ==========

Why the numbers agree without rescaling: rosinality multiplies conv weights by ``1/sqrt(fan_in)`` at run
time where NVIDIA does not, but demodulation divides that factor out again; the ToRGB layer (no
demodulation) applies the same ``1/sqrt(C_in)`` in both. rosinality's up-sampling conv weights were
flipped when converted from TensorFlow exactly as NVIDIA's ``conv0`` weights (``legacy.py``), and its blur
kernels carry the up-sampling gain (×4) that NVIDIA's ``upfirdn2d`` applies at run time.
"""
from __future__ import annotations

import re

import torch

__all__ = ["is_rosinality_state_dict", "rosinality_to_official", "infer_stylegan2_init_kwargs",
           "standard_resample_filter"]


def is_rosinality_state_dict(sd: dict) -> bool:
    return isinstance(sd, dict) and "input.input" in sd and "style.1.weight" in sd


def standard_resample_filter() -> torch.Tensor:
    """NVIDIA ``upfirdn2d.setup_filter([1,3,3,1])``: the normalised 4×4 binomial kernel ``[4,4]``."""
    f = torch.tensor([1.0, 3.0, 3.0, 1.0])
    f = f[:, None] * f[None, :]
    return f / f.sum()


class _Taker:
    """Pops tensors by name, remembering which names were asked for, to report what is missing/left over."""

    def __init__(self, sd: dict):
        self.sd = dict(sd)
        self.missing: list[str] = []

    def take(self, name: str) -> torch.Tensor | None:
        t = self.sd.pop(name, None)
        if t is None:
            self.missing.append(name)
        return t


def rosinality_to_official(sd: dict) -> dict[str, torch.Tensor]:
    """Rename/reshape a rosinality ``g_ema`` state_dict to official keys (``mapping.w_avg`` not included).

    Raises ``ValueError`` listing missing and unexpected tensors (never a partial result).
    """
    n_rgbs = sum(1 for k in sd if re.fullmatch(r"to_rgbs\.\d+\.conv\.weight", k))
    n_mlp = sum(1 for k in sd if re.fullmatch(r"style\.\d+\.weight", k))
    T = _Taker(sd)
    out: dict[str, torch.Tensor] = {}

    def put(name, t, fn=lambda x: x):
        if t is not None:
            out[name] = fn(t)

    for i in range(1, n_mlp + 1):
        put(f"mapping.fc{i - 1}.weight", T.take(f"style.{i}.weight"))
        put(f"mapping.fc{i - 1}.bias", T.take(f"style.{i}.bias"))
    put("synthesis.b4.const", T.take("input.input"), lambda t: t.reshape(t.shape[1:]))

    kernels = []

    def styled_conv(src: str, dst: str, noise_idx: int):
        put(f"{dst}.weight", T.take(f"{src}.conv.weight"), lambda t: t.reshape(t.shape[1:]))
        put(f"{dst}.affine.weight", T.take(f"{src}.conv.modulation.weight"))
        put(f"{dst}.affine.bias", T.take(f"{src}.conv.modulation.bias"))
        put(f"{dst}.noise_strength", T.take(f"{src}.noise.weight"), lambda t: t.reshape([]))
        put(f"{dst}.bias", T.take(f"{src}.activate.bias"))
        put(f"{dst}.noise_const", T.take(f"noises.noise_{noise_idx}"), lambda t: t.reshape(t.shape[-2:]))
        blur = T.sd.pop(f"{src}.conv.blur.kernel", None)
        if blur is not None:
            kernels.append(blur)

    def to_rgb(src: str, dst: str):
        put(f"{dst}.weight", T.take(f"{src}.conv.weight"), lambda t: t.reshape(t.shape[1:]))
        put(f"{dst}.affine.weight", T.take(f"{src}.conv.modulation.weight"))
        put(f"{dst}.affine.bias", T.take(f"{src}.conv.modulation.bias"))
        put(f"{dst}.bias", T.take(f"{src}.bias"), lambda t: t.reshape(-1))
        up = T.sd.pop(f"{src}.upsample.kernel", None)
        if up is not None:
            kernels.append(up)

    styled_conv("conv1", "synthesis.b4.conv1", 0)
    to_rgb("to_rgb1", "synthesis.b4.torgb")
    for k in range(n_rgbs):
        res = 2 ** (k + 3)
        styled_conv(f"convs.{2 * k}", f"synthesis.b{res}.conv0", 2 * k + 1)
        styled_conv(f"convs.{2 * k + 1}", f"synthesis.b{res}.conv1", 2 * k + 2)
        to_rgb(f"to_rgbs.{k}", f"synthesis.b{res}.torgb")

    problems = []
    if T.missing:
        problems.append(f"missing {len(T.missing)} tensor(s): {_short(T.missing)}")
    if T.sd:
        problems.append(f"unexpected {len(T.sd)} tensor(s): {_short(sorted(T.sd))}")
    if problems:
        raise ValueError("not a complete rosinality StyleGAN2 generator: " + "; ".join(problems))

    # Resampling filter: rosinality stores it with the up-sampling gain (factor² = 4) folded in.
    filt = standard_resample_filter() if not kernels else kernels[0].float() / 4
    for k in kernels:
        if k.shape != filt.shape or not torch.allclose(k.float() / 4, filt):
            raise ValueError("rosinality blur kernels differ between layers; cannot convert")
    resolutions = [4] + [2 ** (k + 3) for k in range(n_rgbs)]
    for res in resolutions:
        out[f"synthesis.b{res}.resample_filter"] = filt.clone()
        for layer in (("conv0", "conv1") if res > 4 else ("conv1",)):
            out[f"synthesis.b{res}.{layer}.resample_filter"] = filt.clone()
    return out


def _short(names: list[str], n: int = 6) -> str:
    return ", ".join(names[:n]) + (f", ... ({len(names) - n} more)" if len(names) > n else "")


def _channel_base(channels: dict[int, int], channel_max: int) -> int:
    """A ``channel_base`` with ``min(channel_base // r, channel_max) == channels[r]`` for every r."""
    lo, hi = 1, None
    for r, c in channels.items():
        if c == channel_max:
            lo = max(lo, channel_max * r)
        else:
            lo = max(lo, c * r)
            hi = min(hi, c * r + r - 1) if hi is not None else c * r + r - 1
    if hi is not None and lo > hi:
        raise ValueError(f"channel widths {channels} cannot be written as min(channel_base // res, channel_max); "
                         "this generator layout is not supported (rosinality channel_multiplier > 2?)")
    for nice in (32768, 16384, 65536):
        if lo <= nice and (hi is None or nice <= hi):
            return nice
    return lo


def infer_stylegan2_init_kwargs(sd: dict, lr_multiplier: float = 0.01) -> dict:
    """Official ``Generator`` init kwargs from an official-named state_dict's tensor shapes.

    ``lr_multiplier`` (mapping learning-rate multiplier, a run-time gain) cannot be seen in the weights;
    0.01 is the value of every public StyleGAN2 (NVIDIA and rosinality defaults).
    """
    fcs = sorted(int(m.group(1)) for k in sd if (m := re.fullmatch(r"mapping\.fc(\d+)\.weight", k)))
    blocks = sorted(int(m.group(1)) for k in sd if (m := re.fullmatch(r"synthesis\.b(\d+)\.conv1\.weight", k)))
    if not fcs or fcs != list(range(len(fcs))):
        raise ValueError(f"mapping layers mapping.fc0..fcN incomplete (found {fcs})")
    if not blocks or blocks != [2 ** i for i in range(2, 2 + len(blocks))]:
        raise ValueError(f"synthesis blocks must be b4, b8, ... consecutively (found {blocks})")
    embed = sd.get("mapping.embed.weight")
    c_dim, embed_features = (0, 0) if embed is None else (embed.shape[1], embed.shape[0])
    fc0 = sd["mapping.fc0.weight"]
    w_dim = sd[f"mapping.fc{fcs[-1]}.weight"].shape[0]
    mapping_kwargs: dict = {"num_layers": len(fcs), "lr_multiplier": lr_multiplier}
    if len(fcs) > 1 and fc0.shape[0] != w_dim:
        mapping_kwargs["layer_features"] = int(fc0.shape[0])
    if c_dim and embed_features != w_dim:
        mapping_kwargs["embed_features"] = int(embed_features)
    res = blocks[-1]
    channels = {r: int(sd[f"synthesis.b{r}.conv1.weight"].shape[0]) for r in blocks}
    channel_max = max(channels.values())
    has_rgb = [f"synthesis.b{r}.torgb.weight" in sd for r in blocks]
    if any(f"synthesis.b{r}.skip.weight" in sd for r in blocks):
        architecture = "resnet"
    elif all(has_rgb):
        architecture = "skip"
    else:
        architecture = "orig"
    synthesis_kwargs: dict = {"channel_base": _channel_base(channels, channel_max), "channel_max": channel_max,
                              "num_fp16_res": 0, "conv_clamp": None, "architecture": architecture}
    kernel = sd[f"synthesis.b{res}.conv1.weight"].shape[-1]
    if kernel != 3:
        synthesis_kwargs["kernel_size"] = int(kernel)
    if not any(k.endswith("noise_const") for k in sd):
        synthesis_kwargs["use_noise"] = False
    filt = sd.get("synthesis.b4.resample_filter")
    if filt is not None and (filt.shape != (4, 4) or not torch.allclose(filt.float(), standard_resample_filter())):
        synthesis_kwargs["resample_filter"] = [float(x) for x in filt.float().sum(0)]
    return {"z_dim": int(fc0.shape[1]) - embed_features, "c_dim": int(c_dim), "w_dim": int(w_dim),
            "img_resolution": int(res), "img_channels": int(sd[f"synthesis.b{res}.torgb.weight"].shape[0]),
            "mapping_kwargs": mapping_kwargs, "synthesis_kwargs": synthesis_kwargs}
