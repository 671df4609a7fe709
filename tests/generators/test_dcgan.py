import numpy as np
import pytest
import torch

from chunkygan.generators import GENERATORS, default_generator_name, load_generator
from chunkygan.generators.dcgan import DCGANGenerator
from chunkygan.latents import get_space


def test_embedded_dcgan_loads_and_renders():
    G = load_generator("dcgan-faces-64")
    assert G.resolution == 64 and G.spaces == ("z",) and G.z_dim == 100
    n_params = sum(p.numel() for p in G.parameters())
    assert n_params == 3_576_704  # as published for the checkpoint
    z = torch.randn(3, 100, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        x = G(z)
        x1 = G(z[1:2])
    assert x.shape == (3, 3, 64, 64) and x.min() >= -1 and x.max() <= 1
    assert torch.allclose(x[1:2], x1, atol=1e-5)  # eval mode: batch-independent
    assert x.std() > 0.1  # a real image, not a constant


def test_embedded_matches_reference_architecture():
    """Outside reference: the published PyTorch-tutorial DCGAN (a plain Sequential) with the same weights."""
    from torch import nn

    G = load_generator("dcgan-faces-64")
    ngf, nz = 64, 100
    ref = nn.Sequential(
        nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
        nn.ConvTranspose2d(ngf, 3, 4, 2, 1, bias=False), nn.Tanh())
    ref.load_state_dict(G.main.state_dict())
    ref.eval()
    z = torch.randn(2, nz, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.equal(ref(z[:, :, None, None]), G(z))


def test_default_is_listed_first_and_unknown_lists_known():
    assert default_generator_name() == GENERATORS.names()[0]
    with pytest.raises(KeyError, match="known: .*dcgan-faces-64"):
        load_generator("no-such-generator")


def test_z_space_render_and_truncation():
    G = DCGANGenerator(z_dim=8, ngf=4, img_resolution=16).eval()
    space = get_space("z")
    z = space.mean(G, 2)
    assert z.shape == (2, 8) and torch.all(z == 0)
    zz = torch.randn(2, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert space.render(G, zz).shape == (2, 3, 16, 16)
        assert torch.equal(G(zz, truncation_psi=0.0), G(torch.zeros(2, 8)))
    with pytest.raises(ValueError, match="offers latent spaces z"):
        get_space("w+").check(G)
