"""Tiny random generators shared by the tests (importable from any test: tests/ is on sys.path via its conftest)."""
import torch

from chunkygan.generators.dcgan import DCGANGenerator
from chunkygan.generators.stylegan2 import StyleGAN2Generator


def tiny_sg2(seed=0, resolution=16):
    """A tiny random StyleGAN2 (w_dim 16, 16 px) with a non-trivial w_avg."""
    torch.manual_seed(seed)
    G = StyleGAN2Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=resolution, img_channels=3,
                           mapping_kwargs={"num_layers": 2}, synthesis_kwargs={"channel_base": 256, "channel_max": 16})
    with torch.no_grad():
        G.mapping.w_avg.normal_(generator=torch.Generator().manual_seed(seed + 1))
        for name, p in G.named_parameters():  # outputs mostly inside [-1,1], like a trained generator's
            if name.endswith(("torgb.weight", "torgb.bias")):
                p.mul_(0.3)
    G.name = "tiny-sg2"
    return G.eval().requires_grad_(False)


def tiny_dcgan(seed=0):
    torch.manual_seed(seed)
    G = DCGANGenerator(z_dim=8, ngf=4, img_resolution=16).eval()
    with torch.no_grad():
        for m in G.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    G.name = "tiny-dcgan"
    return G.requires_grad_(False)


