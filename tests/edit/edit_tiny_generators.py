"""Tiny random generators for the editing tests."""
import torch

from chunkygan.generators.dcgan import DCGANGenerator
from chunkygan.generators.stylegan2 import StyleGAN2Generator


def make_tiny_sg2(seed=0, name="tiny-sg2"):
    torch.manual_seed(seed)
    G = StyleGAN2Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3,
                           mapping_kwargs={"num_layers": 2}, channel_base=256, channel_max=16).eval()
    with torch.no_grad():
        G.mapping.w_avg.normal_(generator=torch.Generator().manual_seed(seed + 1))
    G.name = name
    return G.requires_grad_(False)


def make_tiny_dcgan(seed=0, name="tiny-dcgan"):
    torch.manual_seed(seed)
    G = DCGANGenerator(z_dim=8, ngf=4, img_resolution=16).eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics
        for m in G.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    G.name = name
    return G.requires_grad_(False)
