"""Latent spaces Z / W / W+ / S on a tiny random StyleGAN2, and the Eq. 2 dispersion regulariser."""
from __future__ import annotations

import pytest
import torch

from chunkygan.latents import SPACES, dispersion, get_space
from chunkygan.generators.stylegan2 import StyleGAN2Generator
from chunkygan.registry import UnknownNameError


@pytest.fixture(scope="module")
def G():
    torch.manual_seed(0)
    G = StyleGAN2Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3,
                           mapping_kwargs={"num_layers": 2}, channel_base=256, channel_max=16).eval()
    with torch.no_grad():
        G.mapping.w_avg.normal_(generator=torch.Generator().manual_seed(1))
        for name, p in G.named_parameters():
            if "noise_strength" in name:
                p.fill_(0.3)
    return G.requires_grad_(False)


class ZOnly(torch.nn.Module):
    """A minimal Z-only generator (like the DCGAN) to check the space/generator compatibility errors."""

    spaces = ("z",)
    name = "z-only"
    z_dim = w_dim = 4
    num_ws = 1
    resolution = 4

    def forward(self, z, truncation_psi=1.0, noise_mode="const"):
        return z[:, :3, None, None].expand(-1, 3, 4, 4).tanh()


def ws_for(G, n=3, seed=0):
    z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed))
    return G.mapping(z)


def test_lookup_by_name_and_aliases():
    assert [get_space(n).name for n in ("z", "w", "w+", "wplus", "W+", "s")] == ["z", "w", "w+", "w+", "w+", "s"]
    with pytest.raises(UnknownNameError, match="w\\+"):
        get_space("p")
    assert SPACES.names() == ["z", "w", "w+", "s"]


def test_parameter_shapes_at_the_mean(G):
    shapes = {name: tuple(get_space(name).mean(G, batch=3).shape) for name in ("z", "w", "w+", "s")}
    assert shapes == {"z": (3, 16), "w": (3, 16), "w+": (3, G.num_ws, 16), "s": (3, sum(G.style_dims()))}
    assert torch.equal(get_space("w").mean(G, 2)[1], G.mean_w())


def test_mean_codes_render_the_same_image_in_w_w_plus_and_s(G):
    imgs = {name: get_space(name).render(G, get_space(name).mean(G, batch=2)) for name in ("w", "w+", "s")}
    assert imgs["w"].shape == (2, 3, 16, 16)
    assert torch.equal(imgs["w"], imgs["w+"])
    assert torch.equal(imgs["w+"], imgs["s"])  # S split/concat round trip is exact


def test_from_ws_conversions(G):
    ws = ws_for(G) + 0.2 * torch.randn(3, G.num_ws, 16, generator=torch.Generator().manual_seed(3))
    wplus, w, s = get_space("w+"), get_space("w"), get_space("s")
    assert torch.equal(wplus.from_ws(G, ws), ws)
    assert torch.allclose(w.from_ws(G, ws), ws.mean(dim=1))
    params = s.from_ws(G, ws)
    assert params.shape == (3, sum(G.style_dims()))
    assert torch.equal(s.render(G, params), wplus.render(G, ws))
    assert [p.shape[1] for p in s.split(G, params)] == G.style_dims()
    with pytest.raises(NotImplementedError, match="z space"):
        get_space("z").from_ws(G, ws)


def test_z_space_renders_g_of_z_and_has_a_gaussian_prior(G):
    z = torch.randn(2, 16, generator=torch.Generator().manual_seed(4))
    assert torch.equal(get_space("z").render(G, z), G(z))
    assert torch.allclose(get_space("z").prior(G, z), 0.5 * z.pow(2).mean(dim=1))
    assert torch.equal(get_space("w").prior(G, torch.ones(2, 16)), torch.zeros(2))


def test_a_batch_of_k_codes_renders_like_k_separate_calls(G):
    ws = ws_for(G, n=4, seed=5)
    space = get_space("w+")
    batched = space.render(G, ws)
    separate = torch.cat([space.render(G, ws[k:k + 1]) for k in range(4)])
    assert (batched - separate).abs().max() < 1e-5


@pytest.mark.parametrize("name", ["z", "w", "w+", "s"])
def test_gradients_flow_to_the_parameters(G, name):
    space = get_space(name)
    params = (space.mean(G, 2) + 0.01).requires_grad_(True)
    space.render(G, params).square().mean().backward()
    assert params.grad is not None and params.grad.shape == params.shape and params.grad.abs().sum() > 0


def test_check_rejects_spaces_a_generator_lacks():
    g = ZOnly()
    get_space("z").check(g)
    with pytest.raises(ValueError, match="offers latent spaces z; 'w' is not one of them"):
        get_space("w").check(g)


def test_dispersion_eq2():
    assert dispersion(torch.randn(1, 5)).item() == 0.0
    x = torch.tensor([[0.0, 0.0], [2.0, 2.0], [1.0, 4.0]])  # mean (1, 2)
    # squared distances to the mean: 1+4, 1+0, 0+4
    assert dispersion(x).item() == pytest.approx(10.0)
    wplus = torch.randn(3, 4, 5, generator=torch.Generator().manual_seed(0))
    flat = wplus.reshape(3, -1)
    assert dispersion(wplus).item() == pytest.approx(((flat - flat.mean(0)) ** 2).sum().item(), rel=1e-6)
    # its gradient pulls every code towards the mean code
    x = x.clone().requires_grad_(True)
    dispersion(x).backward()
    assert torch.allclose(x.grad, 2 * (x.detach() - x.detach().mean(0)))


def test_w_plus_prior_is_the_layer_spread_and_zero_for_a_repeated_w_code(G):
    w = torch.randn(3, 16, generator=torch.Generator().manual_seed(6))
    repeated = w.unsqueeze(1).repeat(1, G.num_ws, 1)
    assert torch.allclose(get_space("w+").prior(G, repeated), torch.zeros(3), atol=1e-6)
    spread = repeated.clone()
    spread[:, 0] += 1.0  # one layer off by 1 in every dimension
    # Σ_l ‖w_l − w̄‖²: the moved layer is (1 − 1/L) away from the mean, the others 1/L, in each of 16 dims
    L = G.num_ws
    expected = 16 * ((1 - 1 / L) ** 2 + (L - 1) / L ** 2)
    assert torch.allclose(get_space("w+").prior(G, spread), torch.full((3,), expected), rtol=1e-5)
