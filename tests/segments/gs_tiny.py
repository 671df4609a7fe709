"""Tiny random generators and a synthetic labeller for the segment-generator tests."""
import torch

from chunkygan.generators.dcgan import DCGANGenerator
from chunkygan.generators.stylegan2 import StyleGAN2Generator


def tiny_sg2(seed=0, resolution=16):
    torch.manual_seed(seed)
    G = StyleGAN2Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=resolution, img_channels=3,
                           mapping_kwargs={"num_layers": 2}, synthesis_kwargs={"channel_base": 256, "channel_max": 16})
    with torch.no_grad():
        G.mapping.w_avg.normal_(generator=torch.Generator().manual_seed(seed + 1))
        for name, p in G.named_parameters():
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


def colour_labeller(image, size):
    """3 classes: which of R, G, B is largest in the (resized) generated image; hard one-hot [3,1,s,s]."""
    im = torch.nn.functional.interpolate(image.float(), size=(size, size), mode="area")[0]
    return torch.nn.functional.one_hot(im.argmax(0), 3).permute(2, 0, 1).float().unsqueeze(1)
