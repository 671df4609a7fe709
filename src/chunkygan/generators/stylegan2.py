"""StyleGAN2 generator in pure PyTorch, parameter-compatible with NVIDIA's official releases.

The architecture follows Karras et al. 2020 (config F, "skip" generator) as implemented in NVlabs
``stylegan2-ada-pytorch`` / ``stylegan3`` (``networks_stylegan2.Generator``): the constructor takes
the same keyword arguments and ``state_dict()`` has the same keys (``mapping.fc0.weight``,
``mapping.w_avg``, ``synthesis.b4.const``, ``synthesis.b8.conv0.noise_const``, ...), so official
``G_ema`` weights load with ``load_state_dict(strict=True)``. Outputs agree with the official code to
<= 1e-4 (see ``docs/stylegan2.md`` and ``tests/generators/test_stylegan2.py``).

Latent spaces: Z ``[B,z_dim]`` -> (mapping) -> W+ ``[B,num_ws,w_dim]`` -> (affines) -> S (one style
vector per modulated layer) -> (synthesis) -> image ``[B,img_channels,R,R]`` in about [-1,1].

S-space order (``style_dims()``, ``styles()``, ``synthesis_from_styles()``): blocks from 4x4 up; in each
block ``conv0`` (absent at 4x4), ``conv1``, ``torgb`` (only where the block has one: every block for the
"skip" architecture, the last one for "orig"/"resnet"). A ToRGB style is the raw affine output; its
``1/sqrt(C_in)`` weight gain is applied inside the layer.

Example::

    >>> G = StyleGAN2Generator(z_dim=32, c_dim=0, w_dim=32, img_resolution=16, img_channels=3,
    ...                        mapping_kwargs={"num_layers": 2}, channel_base=256, channel_max=32)
    >>> G(torch.randn(2, 32)).shape
    torch.Size([2, 3, 16, 16])
"""
from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import nn

from ._ops import (bias_act, check_activation, make_fir_filter, modulated_conv2d, normalize_2nd_moment,
                   upsample2d)

__all__ = ["StyleGAN2Generator", "MappingNetwork", "SynthesisNetwork", "NOISE_MODES", "ARCHITECTURES"]

NOISE_MODES = ("const", "random", "none")
ARCHITECTURES = ("orig", "skip", "resnet")

_MAPPING_KEYS = {"num_layers", "embed_features", "layer_features", "activation", "lr_multiplier", "w_avg_beta"}
_SYNTHESIS_KEYS = {"channel_base", "channel_max", "num_fp16_res", "architecture", "resample_filter",
                   "conv_clamp", "fp16_channels_last", "fused_modconv_default", "use_noise", "activation",
                   "kernel_size"}


# --------------------------------------------------------------------------------------------------
# Layers (attribute and buffer names are the official ones; they are the state_dict keys).


class FullyConnectedLayer(nn.Module):
    """Equalised-learning-rate linear layer: ``act(x @ (W·g)ᵀ + b·lr) `` with ``g = lr / sqrt(in)``.

    ``x`` ``[B,in] -> [B,out]``. Weights are stored divided by the lr multiplier (paper: StyleGAN
    Sec. C "equalized learning rate"; the mapping network uses lr 0.01).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation: str = "linear",
                 lr_multiplier: float = 1.0, bias_init: float = 0.0):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.activation = check_activation(activation)
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias
        if b is not None:
            b = b.to(x.dtype)
            if self.bias_gain != 1:
                b = b * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, act=self.activation)


class MappingNetwork(nn.Module):
    """Z (+ optional class label C) -> W, broadcast to ``num_ws`` copies, with truncation.

    ``z`` ``[B,z_dim]`` -> ``ws`` ``[B,num_ws,w_dim]``. ``w_avg`` is the running mean of W (decay
    ``w_avg_beta``, updated only in training mode); truncation: ``w <- w_avg + psi·(w - w_avg)``
    for the first ``truncation_cutoff`` ws (all when None) (StyleGAN Sec. 3 / Appendix B).
    """

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: int | None, num_layers: int = 8,
                 embed_features: int | None = None, layer_features: int | None = None,
                 activation: str = "lrelu", lr_multiplier: float = 0.01, w_avg_beta: float | None = 0.995):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers, self.w_avg_beta = num_layers, w_avg_beta
        if num_layers < 1:
            raise ValueError(f"mapping num_layers must be >= 1, got {num_layers}")
        if z_dim == 0 and c_dim == 0:
            raise ValueError("a generator needs z_dim > 0 or c_dim > 0")
        embed_features = w_dim if embed_features is None else embed_features
        embed_features = 0 if c_dim == 0 else embed_features
        layer_features = w_dim if layer_features is None else layer_features
        features = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for idx in range(num_layers):
            setattr(self, f"fc{idx}", FullyConnectedLayer(features[idx], features[idx + 1], activation=activation,
                                                          lr_multiplier=lr_multiplier))
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z: torch.Tensor | None, truncation_psi: float = 1.0, truncation_cutoff: int | None = None, *,
                c: torch.Tensor | None = None, update_w_avg: bool | None = None) -> torch.Tensor:
        if truncation_psi is None or isinstance(truncation_psi, torch.Tensor):
            raise TypeError("mapping(z, truncation_psi, truncation_cutoff, c=None): the second argument is "
                            "truncation_psi (a float); pass class labels as c=... (the official code's mapping(z, c) "
                            "order is not used here)")
        dtype = self.fc0.weight.dtype
        x = None
        if self.z_dim > 0:
            _check_shape(z, [None, self.z_dim], "z")
            x = normalize_2nd_moment(z.to(dtype))
        if self.c_dim > 0:
            if c is None:
                raise ValueError(f"this generator is conditional (c_dim={self.c_dim}); pass c=[B,{self.c_dim}] labels")
            _check_shape(c, [None, self.c_dim], "c")
            y = normalize_2nd_moment(self.embed(c.to(dtype)))
            x = torch.cat([x, y], dim=1) if x is not None else y
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)
        if update_w_avg is None:
            update_w_avg = self.training
        if update_w_avg and self.w_avg_beta is not None:
            with torch.no_grad():
                self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        if self.num_ws is not None:
            x = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        if truncation_psi != 1:
            if self.w_avg_beta is None:
                raise ValueError("truncation needs the tracked w_avg, but this mapping network has w_avg_beta=None")
            if self.num_ws is None or truncation_cutoff is None:
                x = self.w_avg.to(x.dtype).lerp(x, truncation_psi)
            else:
                x = x.clone()
                x[:, :truncation_cutoff] = self.w_avg.to(x.dtype).lerp(x[:, :truncation_cutoff], truncation_psi)
        return x


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (optionally 2x up), noise, bias, lrelu·sqrt(2), clamp (StyleGAN2 Fig. 2d).

    ``x`` ``[B,I,R/up,R/up]`` and style ``[B,I]`` -> ``[B,O,R,R]``. Noise ``[.,1,R,R]`` is scaled by the
    learned ``noise_strength``; ``noise_const`` is the fixed noise used by ``noise_mode="const"``.
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, kernel_size: int = 3,
                 up: int = 1, use_noise: bool = True, activation: str = "lrelu", resample_filter=(1, 3, 3, 1),
                 conv_clamp: float | None = None):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.resolution, self.up, self.use_noise = resolution, up, use_noise
        self.activation, self.conv_clamp = check_activation(activation), conv_clamp
        self.register_buffer("resample_filter", make_fir_filter(resample_filter))
        self.act_gain = 1.0 if activation == "linear" else math.sqrt(2)
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))

    def make_noise(self, batch: int, noise_mode: str, device, dtype,
                   generator: torch.Generator | None = None) -> torch.Tensor | None:
        """The noise image for this layer ``[B|1,1,R,R]`` (already scaled by ``noise_strength``) or None."""
        if not self.use_noise or noise_mode == "none":
            return None
        if noise_mode == "const":
            return (self.noise_const * self.noise_strength).to(dtype)
        gen_device = generator.device if generator is not None else device
        n = torch.randn([batch, 1, self.resolution, self.resolution], generator=generator, device=gen_device)
        return (n.to(device) * self.noise_strength).to(dtype)

    def forward(self, x: torch.Tensor, styles: torch.Tensor, noise: torch.Tensor | None = None,
                fused_modconv: bool = True, gain: float = 1.0) -> torch.Tensor:
        _check_shape(x, [None, self.in_channels, self.resolution // self.up, self.resolution // self.up], "x")
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return modulated_conv2d(x, self.weight, styles, demodulate=True, up=self.up == 2, f=self.resample_filter,
                                noise=noise, bias=self.bias, act=self.activation, gain=self.act_gain * gain,
                                clamp=clamp, fused=fused_modconv)


class ToRGBLayer(nn.Module):
    """Modulated 1x1 conv to colours without demodulation, plus bias (StyleGAN2 Fig. 7 "tRGB").

    ``x`` ``[B,C,R,R]``, raw style ``[B,C]`` -> ``[B,img_channels,R,R]``.
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, kernel_size: int = 1,
                 conv_clamp: float | None = None):
        super().__init__()
        self.in_channels, self.out_channels, self.conv_clamp = in_channels, out_channels, conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)

    def forward(self, x: torch.Tensor, styles: torch.Tensor, fused_modconv: bool = True) -> torch.Tensor:
        return modulated_conv2d(x, self.weight, styles * self.weight_gain, demodulate=False, bias=self.bias,
                                clamp=self.conv_clamp, fused=fused_modconv)


class Conv2dLayer(nn.Module):
    """Plain equalised-lr 1x1 conv with 2x FIR up-sampling: the "resnet" architecture's skip branch.

    ``[B,I,R/2,R/2] -> [B,O,R,R]``, no bias, linear, output scaled by ``gain``.
    """

    def __init__(self, in_channels: int, out_channels: int, resample_filter=(1, 3, 3, 1)):
        super().__init__()
        self.register_buffer("resample_filter", make_fir_filter(resample_filter))
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, 1, 1]))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        w = (self.weight * self.weight_gain).to(x.dtype)
        x = upsample2d(torch.nn.functional.conv2d(x, w), self.resample_filter)
        return x * gain if gain != 1 else x


class SynthesisBlock(nn.Module):
    """One resolution level: (const | conv0 with 2x up) -> conv1 -> (torgb, added to the up-sampled image).

    ``x`` ``[B,C_in,R/2,R/2]`` (None at 4x4), ``img`` ``[B,3,R/2,R/2]`` or None, styles for its layers ->
    ``(x [B,C_out,R,R], img [B,3,R,R] float32 or None)``.
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int,
                 is_last: bool, architecture: str = "skip", resample_filter=(1, 3, 3, 1),
                 conv_clamp: float | None = None, use_fp16: bool = False, **layer_kwargs):
        super().__init__()
        self.in_channels, self.out_channels, self.w_dim = in_channels, out_channels, w_dim
        self.resolution, self.img_channels, self.is_last = resolution, img_channels, is_last
        self.architecture, self.use_fp16 = architecture, use_fp16
        self.register_buffer("resample_filter", make_fir_filter(resample_filter))
        self.num_conv = self.num_torgb = 0
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=2,
                                        resample_filter=resample_filter, conv_clamp=conv_clamp, **layer_kwargs)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp,
                                    **layer_kwargs)
        self.num_conv += 1
        if is_last or architecture == "skip":
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
            self.num_torgb += 1
        if in_channels != 0 and architecture == "resnet":
            self.skip = Conv2dLayer(in_channels, out_channels, resample_filter=resample_filter)

    def layers(self) -> list[nn.Module]:
        """The modulated layers in S-space order."""
        names = ("conv0", "conv1", "torgb")
        return [getattr(self, n) for n in names if hasattr(self, n)]

    def forward(self, x, img, styles: list[torch.Tensor], noises: list, fused_modconv: bool, dtype: torch.dtype,
                memory_format: torch.memory_format = torch.contiguous_format):
        it = iter(styles)
        nit = iter(noises)
        if self.in_channels == 0:
            x = self.const.to(dtype).unsqueeze(0).repeat([styles[0].shape[0], 1, 1, 1])
            x = x.contiguous(memory_format=memory_format)  # later layers keep the input's layout
            x = self.conv1(x, next(it), next(nit), fused_modconv=fused_modconv)
        elif self.architecture == "resnet":
            x = x.to(dtype)
            y = self.skip(x, gain=math.sqrt(0.5))
            x = self.conv0(x, next(it), next(nit), fused_modconv=fused_modconv)
            x = self.conv1(x, next(it), next(nit), fused_modconv=fused_modconv, gain=math.sqrt(0.5))
            x = y + x
        else:
            x = x.to(dtype)
            x = self.conv0(x, next(it), next(nit), fused_modconv=fused_modconv)
            x = self.conv1(x, next(it), next(nit), fused_modconv=fused_modconv)
        if img is not None:
            img = upsample2d(img, self.resample_filter.float())
        if self.num_torgb:
            y = self.torgb(x, next(it), fused_modconv=fused_modconv).to(torch.float32)
            img = img + y if img is not None else y
        return x, img


class SynthesisNetwork(nn.Module):
    """W+ ``[B,num_ws,w_dim]`` -> image ``[B,img_channels,R,R]`` through blocks ``b4 ... bR``.

    Channels at resolution r: ``min(channel_base // r, channel_max)``.
    """

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, channel_base: int = 32768,
                 channel_max: int = 512, num_fp16_res: int = 0, architecture: str = "skip",
                 fp16_channels_last: bool = False, fused_modconv_default: Any = None, **block_kwargs):
        super().__init__()
        if architecture not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {architecture!r}; use one of {', '.join(ARCHITECTURES)}")
        if img_resolution < 4 or img_resolution & (img_resolution - 1):
            raise ValueError(f"img_resolution must be a power of two >= 4 (e.g. 256, 1024), got {img_resolution}")
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.img_resolution_log2 = int(math.log2(img_resolution))
        self.num_fp16_res = num_fp16_res  # kept for the config; compute dtype follows the parameters
        self.fused_modconv: bool | None = None  # None = automatic (see StyleGAN2Generator)
        self.channels_last: bool | None = None  # None = automatic: on CPU (see StyleGAN2Generator)
        self.block_resolutions = [2 ** i for i in range(2, self.img_resolution_log2 + 1)]
        channels = {r: min(channel_base // r, channel_max) for r in self.block_resolutions}
        if min(channels.values()) < 1:
            raise ValueError(f"channel_base={channel_base} gives 0 channels at {img_resolution}x{img_resolution}; "
                             f"use channel_base >= {img_resolution}")
        fp16_resolution = max(2 ** (self.img_resolution_log2 + 1 - num_fp16_res), 8)
        self.num_ws = 0
        for res in self.block_resolutions:
            block = SynthesisBlock(channels[res // 2] if res > 4 else 0, channels[res], w_dim, res, img_channels,
                                   is_last=res == img_resolution, architecture=architecture,
                                   use_fp16=res >= fp16_resolution, **block_kwargs)
            self.num_ws += block.num_conv + (block.num_torgb if res == img_resolution else 0)
            setattr(self, f"b{res}", block)

    def blocks(self) -> list[SynthesisBlock]:
        return [getattr(self, f"b{r}") for r in self.block_resolutions]

    def modulated_layers(self) -> list[nn.Module]:
        """All modulated layers (SynthesisLayer / ToRGBLayer) in S-space order."""
        return [layer for block in self.blocks() for layer in block.layers()]

    def layer_w_indices(self) -> list[int]:
        """For each modulated layer in S order, the index of the w (in W+) that drives it.

        A block's torgb shares its w with the next block's conv0 (official ``w_idx += num_conv``).
        """
        out, w_idx = [], 0
        for block in self.blocks():
            out.extend(w_idx + i for i in range(block.num_conv + block.num_torgb))
            w_idx += block.num_conv
        return out

    def style_dims(self) -> list[int]:
        return [layer.in_channels for layer in self.modulated_layers()]

    def styles(self, ws: torch.Tensor) -> list[torch.Tensor]:
        """W+ ``[B,num_ws,w_dim]`` -> affine outputs ``[B,C_l]`` in S order."""
        _check_shape(ws, [None, self.num_ws, self.w_dim], "ws")
        layers = self.modulated_layers()
        ws = ws.to(layers[0].weight.dtype)
        return [layer.affine(ws[:, i]) for layer, i in zip(layers, self.layer_w_indices())]

    def synthesis_from_styles(self, styles: list[torch.Tensor], noise_mode: str = "const", *,
                              generator: torch.Generator | None = None,
                              fused_modconv: bool | None = None) -> torch.Tensor:
        """S codes (list in ``style_dims()`` order, each ``[B,C_l]``) -> images ``[B,img_channels,R,R]`` float32."""
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {', '.join(NOISE_MODES)}, got {noise_mode!r}")
        styles = list(styles)
        dims = self.style_dims()
        if len(styles) != len(dims):
            raise ValueError(f"expected {len(dims)} style tensors (see style_dims()), got {len(styles)}")
        B = styles[0].shape[0]
        for i, (s, d) in enumerate(zip(styles, dims)):
            if not isinstance(s, torch.Tensor) or s.ndim != 2 or s.shape != (B, d):
                raise ValueError(f"style {i} must be [{B},{d}], got {list(getattr(s, 'shape', []))}")
        ref = self.b4.const
        dtype, device = ref.dtype, ref.device
        if fused_modconv is None:
            fused_modconv = self.fused_modconv
        if fused_modconv is None:
            fused_modconv = B == 1 and not (torch.is_grad_enabled() and any(s.requires_grad for s in styles))
        channels_last = self.channels_last if self.channels_last is not None else device.type == "cpu"
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        x = img = None
        pos = 0
        for block in self.blocks():
            layers = block.layers()
            block_styles = [s.to(dtype) for s in styles[pos:pos + len(layers)]]
            noises = [layer.make_noise(B, noise_mode, device, dtype, generator)
                      for layer in layers if isinstance(layer, SynthesisLayer)]
            x, img = block(x, img, block_styles, noises, bool(fused_modconv), dtype, memory_format)
            pos += len(layers)
        return img.contiguous()

    def forward(self, ws: torch.Tensor, noise_mode: str = "const", *, generator: torch.Generator | None = None,
                fused_modconv: bool | None = None) -> torch.Tensor:
        """W+ ``[B,num_ws,w_dim]`` -> images; exactly ``synthesis_from_styles(styles(ws))``."""
        return self.synthesis_from_styles(self.styles(ws), noise_mode, generator=generator,
                                          fused_modconv=fused_modconv)


class StyleGAN2Generator(nn.Module):
    """The official StyleGAN2 generator (mapping + synthesis) with chunkygan's generator interface.

    Arguments are NVIDIA's ``Generator`` keyword arguments: ``z_dim``, ``c_dim``, ``w_dim``,
    ``img_resolution``, ``img_channels``, ``mapping_kwargs`` (``num_layers``, ``embed_features``,
    ``layer_features``, ``activation``, ``lr_multiplier``, ``w_avg_beta``) and synthesis options either as
    ``synthesis_kwargs={...}`` (stylegan2-ada-pytorch) or flat keywords (stylegan3): ``channel_base``,
    ``channel_max``, ``num_fp16_res``, ``architecture`` ("skip", "orig", "resnet"), ``conv_clamp``,
    ``resample_filter``, ``use_noise``, ``activation``, ``kernel_size``.

    Computation runs in the dtype of the parameters (float32 by default; ``G.half()`` or
    ``G.to(torch.bfloat16)`` opt in to reduced precision, ``num_fp16_res`` is recorded but not used);
    returned images are always float32.

    ``fused_modconv`` (attribute or call keyword; default None = automatic): True runs modulated
    convolutions as grouped convolutions with per-sample weights, False scales the activations and shares
    one ordinary convolution across the batch. Automatic picks fused only for a single code without
    gradients (there both are equally fast and fused is bit-closer to NVIDIA's output); for a batch of
    codes, and whenever gradients flow to the styles (projection), the activation-scaling path is faster on
    CPU (1.6-2x for forward+backward, see ``docs/stylegan2.md``). Both agree with NVIDIA's code to < 1e-4.

    ``channels_last`` (attribute; default None = automatic, on CPU only): run the synthesis activations in
    NHWC layout. oneDNN's convolutions then skip a layout conversion per call; for a batch of 4 codes at
    256 px a forward+backward costs 0.86 of four single-code calls instead of 0.95. Images are returned
    in the ordinary (contiguous) layout either way.
    """

    spaces = ("z", "w", "w+", "s")

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, img_resolution: int, img_channels: int = 3,
                 mapping_kwargs: dict | None = None, synthesis_kwargs: dict | None = None, **extra_synthesis_kwargs):
        super().__init__()
        mapping_kwargs = dict(mapping_kwargs or {})
        synthesis_kwargs = dict(synthesis_kwargs or {})
        clash = set(synthesis_kwargs) & set(extra_synthesis_kwargs)
        if clash:
            raise TypeError(f"synthesis options given twice (in synthesis_kwargs and as keywords): {sorted(clash)}")
        synthesis_kwargs.update(extra_synthesis_kwargs)
        _check_keys(mapping_kwargs, _MAPPING_KEYS, "mapping_kwargs")
        _check_keys(synthesis_kwargs, _SYNTHESIS_KEYS, "synthesis options")
        if "resample_filter" in synthesis_kwargs:
            synthesis_kwargs["resample_filter"] = list(synthesis_kwargs["resample_filter"])
        self.z_dim, self.c_dim, self.w_dim = int(z_dim), int(c_dim), int(w_dim)
        self.img_resolution, self.img_channels = int(img_resolution), int(img_channels)
        self.init_kwargs = copy.deepcopy(dict(z_dim=self.z_dim, c_dim=self.c_dim, w_dim=self.w_dim,
                                              img_resolution=self.img_resolution, img_channels=self.img_channels,
                                              mapping_kwargs=mapping_kwargs, synthesis_kwargs=synthesis_kwargs))
        self.synthesis = SynthesisNetwork(w_dim=self.w_dim, img_resolution=self.img_resolution,
                                          img_channels=self.img_channels, **synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim=self.z_dim, c_dim=self.c_dim, w_dim=self.w_dim, num_ws=self.num_ws,
                                      **mapping_kwargs)
        self.name = "stylegan2"
        self.meta: dict = {}

    # -- configuration ------------------------------------------------------------------------------

    @classmethod
    def from_config(cls, kwargs: dict) -> "StyleGAN2Generator":
        """Build (randomly initialised, CPU, float32) from an ``init_kwargs`` dict (official or ours)."""
        if not isinstance(kwargs, dict):
            raise TypeError(f"from_config expects a dict of StyleGAN2 init kwargs, got {type(kwargs).__name__}")
        return cls(**copy.deepcopy(kwargs))

    @property
    def resolution(self) -> int:
        return self.img_resolution

    def extra_repr(self) -> str:
        return (f"resolution={self.img_resolution}, z_dim={self.z_dim}, w_dim={self.w_dim}, "
                f"num_ws={self.num_ws}, c_dim={self.c_dim}")

    # -- interface ----------------------------------------------------------------------------------
    # ``G.mapping`` and ``G.synthesis`` are the sub-networks themselves (as in the official code), callable as
    # ``G.mapping(z, truncation_psi, truncation_cutoff, c=None)`` and ``G.synthesis(ws, noise_mode)``.

    def forward(self, z: torch.Tensor, truncation_psi: float = 1.0, noise_mode: str = "const", *,
                c: torch.Tensor | None = None, truncation_cutoff: int | None = None,
                generator: torch.Generator | None = None, fused_modconv: bool | None = None) -> torch.Tensor:
        """``z`` ``[B,z_dim]`` -> images ``[B,img_channels,R,R]`` (float32, about [-1,1])."""
        ws = self.mapping(z, truncation_psi, truncation_cutoff, c=c)
        return self.synthesis(ws, noise_mode, generator=generator, fused_modconv=fused_modconv)

    @property
    def fused_modconv(self) -> bool | None:
        """Modulated-conv strategy: None = automatic, True = grouped conv, False = activation scaling."""
        return self.synthesis.fused_modconv

    @fused_modconv.setter
    def fused_modconv(self, value: bool | None) -> None:
        self.synthesis.fused_modconv = value

    def mean_w(self) -> torch.Tensor:
        """The tracked mean latent ``w_avg`` ``[w_dim]``."""
        if not hasattr(self.mapping, "w_avg"):
            raise ValueError("this generator does not track w_avg (mapping w_avg_beta=None)")
        return self.mapping.w_avg

    def style_dims(self) -> list[int]:
        """Width of every style vector in S order (per block: conv0, conv1, torgb; blocks 4x4 upwards)."""
        return self.synthesis.style_dims()

    def styles(self, ws: torch.Tensor) -> list[torch.Tensor]:
        """W+ ``[B,num_ws,w_dim]`` -> list of affine outputs ``[B,C_l]`` in S order."""
        return self.synthesis.styles(ws)

    def synthesis_from_styles(self, styles: list[torch.Tensor], noise_mode: str = "const", *,
                              generator: torch.Generator | None = None,
                              fused_modconv: bool | None = None) -> torch.Tensor:
        """S-space codes (list in ``style_dims()`` order, each ``[B,C_l]``) -> images ``[B,C,R,R]`` float32."""
        return self.synthesis.synthesis_from_styles(styles, noise_mode, generator=generator,
                                                    fused_modconv=fused_modconv)


def _check_shape(t, shape, name):
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a tensor of shape {shape}, got {type(t).__name__}")
    if t.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, t.shape)):
        want = "[" + ",".join("B" if s is None else str(s) for s in shape) + "]"
        raise ValueError(f"{name} must have shape {want}, got {list(t.shape)}")


def _check_keys(kwargs: dict, known: set, what: str) -> None:
    unknown = set(kwargs) - known
    if unknown:
        raise TypeError(f"unknown StyleGAN2 {what}: {sorted(unknown)}; known: {sorted(known)}")
