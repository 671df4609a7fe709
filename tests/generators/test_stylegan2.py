"""StyleGAN2 generator: official parity (fixtures from NVIDIA's code), interface, latent spaces, dtypes."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from chunkygan.generators.base import Generator as GeneratorProtocol
from chunkygan.generators.stylegan2 import StyleGAN2Generator

DATA = Path(__file__).resolve().parents[1] / "data"
FIXTURES = ["stylegan2_official_tiny32", "stylegan2_official_cond8_resnet"]


def tiny(res=16, c_dim=0, seed=0, **synthesis):
    """A small random generator with non-zero noise strengths (so noise modes matter)."""
    torch.manual_seed(seed)
    kw = dict(channel_base=16 * res, channel_max=16)
    kw.update(synthesis)
    G = StyleGAN2Generator(z_dim=16, c_dim=c_dim, w_dim=16, img_resolution=res, img_channels=3,
                           mapping_kwargs={"num_layers": 2}, synthesis_kwargs=kw).eval()
    with torch.no_grad():
        for name, p in G.named_parameters():
            if "noise_strength" in name:
                p.fill_(0.5)
        G.mapping.w_avg.normal_(generator=torch.Generator().manual_seed(seed + 1))
    return G


def zs(n, dim=16, seed=0):
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------------------------------------
# Outside reference: outputs of NVIDIA's own Generator (see tests/data/make_stylegan2_fixture.py)


@pytest.mark.parametrize("name", FIXTURES)
@pytest.mark.parametrize("fused", [True, False])
def test_matches_official_outputs(name, fused):
    meta = json.loads((DATA / f"{name}.json").read_text())
    G = StyleGAN2Generator.from_config(meta["init_kwargs"]).eval()
    state = load_file(str(DATA / f"{name}.safetensors"))
    assert list(G.state_dict()) == meta["state_dict_keys"]  # same keys, same order as the official module
    G.load_state_dict(state, strict=True)
    ref = load_file(str(DATA / f"{name}_outputs.safetensors"))
    z, c = ref["z"], ref.get("c")
    with torch.no_grad():
        ws = G.mapping(z, c=c)
        assert (ws - ref["ws_psi1"]).abs().max() <= 1e-5
        for psi, tag in ((1.0, "psi1"), (0.7, "psi0.7")):
            img = G(z, psi, "const", c=c, fused_modconv=fused)
            assert img.dtype == torch.float32 and img.shape == ref[f"img_{tag}"].shape
            assert (img - ref[f"img_{tag}"]).abs().max() <= 1e-4, tag
        img = G(z, 1.0, "none", c=c, fused_modconv=fused)
        assert (img - ref["img_psi1_nonoise"]).abs().max() <= 1e-4
        # the references are not trivially equal to each other
        assert (ref["img_psi1"] - ref["img_psi0.7"]).abs().max() > 1e-2
        assert (ref["img_psi1"] - ref["img_psi1_nonoise"]).abs().max() > 1e-2


def test_state_dict_keys_match_official_naming():
    # Taken from NVlabs stylegan2-ada-pytorch Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=8,
    # img_channels=3, mapping_kwargs=dict(num_layers=2), synthesis_kwargs=dict(channel_base=64, channel_max=8))
    official = [
        'synthesis.b4.const', 'synthesis.b4.resample_filter', 'synthesis.b4.conv1.weight',
        'synthesis.b4.conv1.noise_strength', 'synthesis.b4.conv1.bias', 'synthesis.b4.conv1.resample_filter',
        'synthesis.b4.conv1.noise_const', 'synthesis.b4.conv1.affine.weight', 'synthesis.b4.conv1.affine.bias',
        'synthesis.b4.torgb.weight', 'synthesis.b4.torgb.bias', 'synthesis.b4.torgb.affine.weight',
        'synthesis.b4.torgb.affine.bias', 'synthesis.b8.resample_filter', 'synthesis.b8.conv0.weight',
        'synthesis.b8.conv0.noise_strength', 'synthesis.b8.conv0.bias', 'synthesis.b8.conv0.resample_filter',
        'synthesis.b8.conv0.noise_const', 'synthesis.b8.conv0.affine.weight', 'synthesis.b8.conv0.affine.bias',
        'synthesis.b8.conv1.weight', 'synthesis.b8.conv1.noise_strength', 'synthesis.b8.conv1.bias',
        'synthesis.b8.conv1.resample_filter', 'synthesis.b8.conv1.noise_const', 'synthesis.b8.conv1.affine.weight',
        'synthesis.b8.conv1.affine.bias', 'synthesis.b8.torgb.weight', 'synthesis.b8.torgb.bias',
        'synthesis.b8.torgb.affine.weight', 'synthesis.b8.torgb.affine.bias', 'mapping.w_avg', 'mapping.fc0.weight',
        'mapping.fc0.bias', 'mapping.fc1.weight', 'mapping.fc1.bias']
    G = StyleGAN2Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=8, img_channels=3,
                           mapping_kwargs=dict(num_layers=2), synthesis_kwargs=dict(channel_base=64, channel_max=8))
    assert list(G.state_dict()) == official
    assert G.state_dict()["synthesis.b8.conv0.noise_const"].shape == (8, 8)
    assert G.state_dict()["synthesis.b8.torgb.weight"].shape == (3, 8, 1, 1)
    f = G.state_dict()["synthesis.b8.resample_filter"]
    assert torch.allclose(f, torch.outer(torch.tensor([1., 3, 3, 1]), torch.tensor([1., 3, 3, 1])) / 64)


# ------------------------------------------------------------------------------------------------
# Shapes and interface


@pytest.mark.parametrize("res", [8, 16, 32, 64])
def test_shapes_and_num_ws(res):
    G = tiny(res)
    assert isinstance(G, GeneratorProtocol)
    n_blocks = int(math.log2(res)) - 1
    assert G.resolution == res and G.num_ws == 2 * n_blocks
    assert G.spaces == ("z", "w", "w+", "s") and G.z_dim == 16 and G.w_dim == 16
    assert len(G.style_dims()) == 3 * n_blocks - 1  # conv0 (not at 4x4), conv1, torgb per block
    z = zs(2)
    ws = G.mapping(z)
    assert ws.shape == (2, G.num_ws, 16)
    img = G.synthesis(ws)
    assert img.shape == (2, 3, res, res) and img.dtype == torch.float32 and torch.isfinite(img).all()
    assert torch.equal(G(z), img)
    styles = G.styles(ws)
    assert [s.shape[1] for s in styles] == G.style_dims()
    assert G.mean_w().shape == (16,)


def test_style_dims_order_and_widths():
    G = tiny(16, channel_base=128, channel_max=32)  # channels: 4->32, 8->16, 16->8
    # style width = input channels: b4.conv1, b4.torgb, b8.conv0, b8.conv1, b8.torgb, b16.conv0, b16.conv1, b16.torgb
    assert G.style_dims() == [32, 32, 32, 16, 16, 16, 8, 8]
    orig = tiny(16, architecture="orig")
    assert len(orig.style_dims()) == 6 and orig.num_ws == 6  # torgb only in the last block (5 convs + 1)


def test_init_kwargs_json_round_trip_and_flat_form():
    G = tiny(16, conv_clamp=256)
    kwargs = json.loads(json.dumps(G.init_kwargs))
    assert kwargs["synthesis_kwargs"]["conv_clamp"] == 256 and kwargs["mapping_kwargs"] == {"num_layers": 2}
    H = StyleGAN2Generator.from_config(kwargs).eval()
    H.load_state_dict(G.state_dict(), strict=True)
    z = zs(2)
    assert torch.equal(H(z), G(z))
    flat = StyleGAN2Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3,
                              mapping_kwargs={"num_layers": 2}, **kwargs["synthesis_kwargs"])
    assert flat.init_kwargs == G.init_kwargs


def test_bad_configs_and_inputs_have_clear_errors():
    with pytest.raises(TypeError, match="unknown StyleGAN2 synthesis options"):
        StyleGAN2Generator(8, 0, 8, 8, 3, channel_bse=64)
    with pytest.raises(ValueError, match="power of two"):
        StyleGAN2Generator(8, 0, 8, 48, 3, channel_base=64)
    with pytest.raises(ValueError, match="architecture"):
        StyleGAN2Generator(8, 0, 8, 8, 3, channel_base=64, architecture="unet")
    G = tiny(8)
    with pytest.raises(ValueError, match=r"ws must have shape \[B,4,16\]"):
        G.synthesis(torch.zeros(1, 3, 16))
    with pytest.raises(ValueError, match="noise_mode"):
        G.synthesis(G.mapping(zs(1)), noise_mode="fixed")
    with pytest.raises(ValueError, match="style tensors"):
        G.synthesis_from_styles(G.styles(G.mapping(zs(1)))[:-1])
    with pytest.raises(TypeError, match="c=..."):
        G.mapping(zs(1), None)  # the official mapping(z, c) call order
    cond = tiny(8, c_dim=3)
    with pytest.raises(ValueError, match="conditional"):
        cond(zs(1))
    assert cond(zs(2), c=torch.eye(3)[:2]).shape == (2, 3, 8, 8)


# ------------------------------------------------------------------------------------------------
# Latent spaces, noise, truncation


def test_w_broadcast_equals_repeated_w_plus():
    G = tiny(16)
    w = G.mapping(zs(3))[:, 0]
    a = G.synthesis(w.unsqueeze(1).expand(-1, G.num_ws, -1))
    b = G.synthesis(w.unsqueeze(1).repeat(1, G.num_ws, 1).clone())
    assert torch.equal(a, b)


@pytest.mark.parametrize("fused", [True, False])
def test_s_space_round_trip_is_exact(fused):
    G = tiny(16)
    ws = G.mapping(zs(2)) + 0.1 * torch.randn(2, G.num_ws, 16, generator=torch.Generator().manual_seed(5))
    styles = G.styles(ws)
    assert torch.equal(G.synthesis_from_styles(styles, fused_modconv=fused), G.synthesis(ws, fused_modconv=fused))
    # every style channel is live: changing the last torgb style changes the image
    styles[-1] = styles[-1] + 1.0
    assert not torch.allclose(G.synthesis_from_styles(styles), G.synthesis(ws))


def test_torgb_style_uses_the_w_shared_with_next_conv0():
    G = tiny(16)
    ws = G.mapping(zs(1)).clone()
    ws[:, 1] += 1.0  # w index 1 drives b4.torgb and b8.conv0 (S order: b4.conv1, b4.torgb, b8.conv0, ...)
    changed = [not torch.allclose(a, b) for a, b in zip(G.styles(ws), G.styles(G.mapping(zs(1))))]
    assert changed == [False, True, True, False, False, False, False, False]


def test_fused_and_unfused_modconv_agree():
    G = tiny(32)
    ws = G.mapping(zs(3))
    a = G.synthesis(ws, fused_modconv=True)
    b = G.synthesis(ws, fused_modconv=False)
    assert (a - b).abs().max() < 1e-5


def test_fused_modconv_attribute_selects_the_path():
    G = tiny(16)
    ws = G.mapping(zs(2))
    fused, unfused = G.synthesis(ws, fused_modconv=True), G.synthesis(ws, fused_modconv=False)
    assert not torch.equal(fused, unfused)  # different op order, so not bit-identical ...
    G.fused_modconv = True
    assert G.synthesis.fused_modconv is True and torch.equal(G.synthesis(ws), fused)
    G.fused_modconv = False
    assert torch.equal(G.synthesis(ws), unfused)
    G.fused_modconv = None  # automatic: activation scaling for a batch of codes
    assert torch.equal(G.synthesis(ws), unfused)
    with torch.no_grad():  # a single code without gradients: fused
        assert torch.equal(G.synthesis(ws[:1]), G.synthesis(ws[:1], fused_modconv=True))
    # gradients flowing to the styles: activation scaling even for one code
    assert torch.equal(G.synthesis(ws[:1]), G.synthesis(ws[:1], fused_modconv=False))


def test_noise_modes_and_determinism():
    G = tiny(16)
    ws = G.mapping(zs(2))
    const1, const2 = G.synthesis(ws, "const"), G.synthesis(ws, "const")
    assert torch.equal(const1, const2)
    r1 = G.synthesis(ws, "random", generator=torch.Generator().manual_seed(7))
    r2 = G.synthesis(ws, "random", generator=torch.Generator().manual_seed(7))
    r3 = G.synthesis(ws, "random", generator=torch.Generator().manual_seed(8))
    none = G.synthesis(ws, "none")
    assert torch.equal(r1, r2)
    assert (r1 - r3).abs().max() > 1e-3 and (r1 - const1).abs().max() > 1e-3 and (none - const1).abs().max() > 1e-3
    # with zero noise strength the modes coincide
    with torch.no_grad():
        for name, p in G.named_parameters():
            if "noise_strength" in name:
                p.zero_()
    assert torch.equal(G.synthesis(ws, "const"), G.synthesis(ws, "none"))


def test_truncation():
    G = tiny(16)
    z = zs(4)
    w_avg = G.mean_w()
    ws1 = G.mapping(z)
    assert torch.allclose(G.mapping(z, 0.0), w_avg.expand_as(ws1), atol=1e-6)
    assert torch.allclose(G.mapping(z, 0.5), w_avg + 0.5 * (ws1 - w_avg), atol=1e-6)
    cut = G.mapping(z, 0.5, truncation_cutoff=3)
    assert torch.allclose(cut[:, :3], w_avg + 0.5 * (ws1[:, :3] - w_avg), atol=1e-6)
    assert torch.equal(cut[:, 3:], ws1[:, 3:])
    img0 = G(z, truncation_psi=0.0)
    assert torch.allclose(img0, img0[:1].expand_as(img0), atol=1e-6)  # all codes collapse onto w_avg


def test_w_avg_tracks_only_in_training_mode():
    G = tiny(8)
    before = G.mean_w().clone()
    G.mapping(zs(4))
    assert torch.equal(G.mean_w(), before)
    G.train()
    ws = G.mapping(zs(4))
    assert torch.allclose(G.mean_w(), ws[:, 0].mean(0).lerp(before, 0.995), atol=1e-6)


def test_gradients_reach_ws_and_styles():
    G = tiny(16).requires_grad_(False)
    ws = G.mapping(zs(2)).requires_grad_(True)
    for fused in (True, False):
        G.synthesis(ws, fused_modconv=fused).square().mean().backward()
        assert ws.grad is not None and ws.grad.abs().sum() > 0
        if fused:
            g_fused, ws.grad = ws.grad.clone(), None
    assert torch.allclose(ws.grad, g_fused, atol=1e-6, rtol=1e-4)


def test_batched_codes_equal_separate_calls():
    G = tiny(16)
    ws = G.mapping(zs(4))
    batched = G.synthesis(ws)
    single = torch.cat([G.synthesis(ws[i:i + 1]) for i in range(4)])
    assert (batched - single).abs().max() < 1e-5


def _conv_input_layouts(G, ws) -> set[bool]:
    """Whether each synthesis conv's input was channels-last during one forward+backward."""
    seen: set[bool] = set()
    hooks = [layer.register_forward_pre_hook(lambda m, args: seen.add(
        args[0].is_contiguous(memory_format=torch.channels_last) and not args[0].is_contiguous()))
        for layer in G.synthesis.modulated_layers()]
    try:
        G.synthesis(ws).square().mean().backward()
    finally:
        for h in hooks:
            h.remove()
    return seen


def test_channels_last_layout_is_automatic_on_cpu_and_changes_nothing_but_speed():
    G = tiny(16).requires_grad_(False)
    ws = G.mapping(zs(3)).requires_grad_(True)
    assert _conv_input_layouts(G, ws) == {True}  # automatic: NHWC on CPU
    ws.grad = None
    img_nhwc = G.synthesis(ws)
    img_nhwc.square().mean().backward()
    g_nhwc, ws.grad = ws.grad.clone(), None
    G.synthesis.channels_last = False
    assert _conv_input_layouts(G, ws) == {False}
    ws.grad = None
    img = G.synthesis(ws)
    img.square().mean().backward()
    assert img_nhwc.is_contiguous() and img.is_contiguous()  # callers may .view() the images
    assert (img_nhwc - img).abs().max() < 1e-5
    assert torch.allclose(ws.grad, g_nhwc, atol=1e-6, rtol=1e-4)


# ------------------------------------------------------------------------------------------------
# Precision and devices


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_reduced_precision_runs_and_stays_close(dtype):
    G = tiny(16)
    z = zs(2)
    ref = G(z)
    try:
        H = tiny(16).to(dtype)
        out = H(z)
    except RuntimeError as e:  # pragma: no cover - depends on the torch build
        pytest.skip(f"this torch build cannot run {dtype} convolutions on CPU: {e}")
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    assert H.synthesis.b16.conv1.weight.dtype == dtype
    tol = 0.05 if dtype == torch.float16 else 0.15
    assert (out - ref).abs().max() < tol * ref.abs().max()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (torch.cuda.is_available() is False)")
def test_cuda_matches_cpu():
    G = tiny(32)
    z = zs(3)
    ref = G(z)
    out = G.cuda()(z.cuda()).cpu()
    assert (out - ref).abs().max() < 1e-3


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("up", [False, True])
def test_modulated_conv_gradcheck(fused, up):
    """float64 gradcheck of the modulated conv + noise + bias + lrelu + clamp (in-place steps included)."""
    from chunkygan.generators._ops import make_fir_filter, modulated_conv2d

    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 2, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 2, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    s = (torch.randn(2, 2, generator=g, dtype=torch.float64) + 1).requires_grad_(True)
    b = torch.randn(2, generator=g, dtype=torch.float64, requires_grad=True)
    R = 6 if up else 3
    noise = torch.randn(1, 1, R, R, generator=g, dtype=torch.float64)
    f = make_fir_filter().double()

    def fn(x, w, s, b):
        return modulated_conv2d(x, w, s, up=up, f=f, noise=noise, bias=b, act="lrelu", gain=math.sqrt(2),
                                clamp=1.5, fused=fused)

    assert torch.autograd.gradcheck(fn, (x, w, s, b), eps=1e-6, atol=1e-5, fast_mode=True)
