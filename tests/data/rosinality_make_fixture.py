"""Regenerate ``rosinality_tiny64.pt`` + ``rosinality_tiny64_outputs.pt`` (run by hand; not part of the tests).

Runs rosinality/stylegan2-pytorch's own ``model.py`` (commit bef283a) outside the project on tiny random
weights (ours, not a release) and stores its ``g_ema`` state_dict + ``latent_avg`` in the layout of
rosinality's ``convert_weight.py`` output, and its images for fixed z / W+ with const noise
(``randomize_noise=False``), also with truncation 0.7.

Set-up (in a scratch directory, never in the repo), e.g. ``/tmp/ros``:

1. copy ``model.py`` and ``op/`` of the checkout there;
2. in ``op/fused_act.py`` and ``op/upfirdn2d.py`` replace the ``torch.utils.cpp_extension.load(...)`` call
   (it compiles CUDA at import) by ``None``: on CPU rosinality's code already uses its own native paths
   (``upfirdn2d_native``, ``F.leaky_relu`` fallback), so the model runs unchanged;
3. after the Generator's ``self.channels = {...}`` dict add
   ``self.channels = {k: max(v // 32, 1) for k, v in self.channels.items()}`` (tiny widths: 16 up to
   32x32, 8*channel_multiplier at 64x64) - the only change to the network;
4. ``python tests/data/rosinality_make_fixture.py tests/data`` (``ROS_DIR`` defaults to /tmp/ros).
"""
import os
import sys

import torch

sys.path.insert(0, os.environ.get("ROS_DIR", "/tmp/ros"))
from model import Generator  # noqa: E402  rosinality's code, outside this project

out_dir = sys.argv[1]
torch.manual_seed(1234)
g = Generator(size=64, style_dim=32, n_mlp=3, channel_multiplier=1).eval()
gen = torch.Generator().manual_seed(99)
with torch.no_grad():
    for name, p in g.named_parameters():
        if name.endswith("noise.weight"):
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
        elif name.endswith("modulation.bias"):
            p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen))
        elif name.startswith("style.") and name.endswith(".bias"):
            p.copy_(10 * torch.randn(p.shape, generator=gen))  # lr_mul 0.01 -> effective 0.1
        elif name.startswith("to_rgb") and name.endswith("conv.weight"):
            p.mul_(0.3)
        elif name.endswith("bias"):
            p.copy_(0.2 * torch.randn(p.shape, generator=gen))
    latent_avg = g.mean_latent(2048)[0]
    z = torch.randn(2, 32, generator=gen)
    w = g.get_latent(z)
    ws = torch.randn(1, g.n_latent, 32, generator=gen)
    img_z, _ = g([z], randomize_noise=False)
    img_trunc, _ = g([z[:1]], randomize_noise=False, truncation=0.7, truncation_latent=latent_avg[None])
    img_ws, _ = g([ws], input_is_latent=True, randomize_noise=False)
print(g.n_latent, img_z.shape, img_z.abs().max(), img_z.std(), img_ws.std())
sd = {k: v.clone() for k, v in g.state_dict().items()}
torch.save({"g_ema": sd, "latent_avg": latent_avg.clone()}, f"{out_dir}/rosinality_tiny64.pt")
torch.save({"z": z, "w": w, "ws": ws, "img_z": img_z, "img_trunc": img_trunc, "truncation_psi": 0.7,
            "img_ws": img_ws}, f"{out_dir}/rosinality_tiny64_outputs.pt")
