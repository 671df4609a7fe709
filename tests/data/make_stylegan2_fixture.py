"""Regenerate the StyleGAN2 outside-reference fixtures (run by hand; not part of the test suite).

Builds NVIDIA's official generator (``training/networks.py`` of a NVlabs/stylegan2-ada-pytorch
checkout, run on CPU where its custom ops fall back to their reference implementations) with random
weights from a fixed seed and stores, for each config:

* ``<name>.json``                 the official init kwargs and provenance,
* ``<name>.safetensors``          the official ``state_dict()`` (our random weights, not a release),
* ``<name>_outputs.safetensors``  fixed z (and c), the official ``mapping`` ws and images for
                                  truncation 1 and 0.7 with ``noise_mode="const"``.

Usage: ``python tests/data/make_stylegan2_fixture.py /path/to/stylegan2-ada-pytorch``
(the checkout's ``dnnlib`` imports ``requests``; any stub module of that name will do).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

HERE = Path(__file__).resolve().parent

CONFIGS = {
    # skip architecture, 4 blocks (4..32), conv clamp low enough to be active
    "stylegan2_official_tiny32": dict(
        z_dim=32, c_dim=0, w_dim=32, img_resolution=32, img_channels=3,
        mapping_kwargs=dict(num_layers=2),
        synthesis_kwargs=dict(channel_base=512, channel_max=32, num_fp16_res=0, conv_clamp=2)),
    # resnet architecture with a class-conditional mapping (embed layer)
    "stylegan2_official_cond8_resnet": dict(
        z_dim=16, c_dim=4, w_dim=16, img_resolution=8, img_channels=3,
        mapping_kwargs=dict(num_layers=2),
        synthesis_kwargs=dict(channel_base=128, channel_max=16, num_fp16_res=0, conv_clamp=256,
                              architecture="resnet")),
}


def randomise(G, seed: int) -> None:
    """Make every parameter matter: non-zero noise strengths and biases, a non-zero w_avg."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in G.named_parameters():
            if "noise_strength" in name or name.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.3 + (1.0 if "affine" in name else 0.0))
        G.mapping.w_avg.copy_(torch.randn(G.mapping.w_avg.shape, generator=g))


def main(official: str) -> None:
    sys.path.insert(0, official)
    from training.networks import Generator  # the official code, outside this project

    commit = subprocess.run(["git", "-C", official, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    for i, (name, kwargs) in enumerate(CONFIGS.items()):
        torch.manual_seed(1000 + i)
        G = Generator(**kwargs).eval()
        randomise(G, 2000 + i)
        g = torch.Generator().manual_seed(3000 + i)
        z = torch.randn(2, kwargs["z_dim"], generator=g)
        c = None
        if kwargs["c_dim"]:
            c = torch.nn.functional.one_hot(torch.tensor([1, 3]), kwargs["c_dim"]).float()
        out = {"z": z}
        if c is not None:
            out["c"] = c
        with torch.no_grad():
            out["ws_psi1"] = G.mapping(z, c)
            for psi, tag in ((1.0, "psi1"), (0.7, "psi0.7")):
                out[f"img_{tag}"] = G(z, c, truncation_psi=psi, noise_mode="const")
            out["img_psi1_nonoise"] = G(z, c, noise_mode="none")
        sd = {k: v.detach().contiguous().clone() for k, v in G.state_dict().items()}
        save_file(sd, str(HERE / f"{name}.safetensors"))
        save_file({k: v.contiguous() for k, v in out.items()}, str(HERE / f"{name}_outputs.safetensors"))
        meta = {"init_kwargs": kwargs, "state_dict_keys": list(sd),
                "source": "NVlabs/stylegan2-ada-pytorch training/networks.py Generator, CPU reference ops, "
                          "float32, random init (torch.manual_seed) - not a released model",
                "official_commit": commit, "torch": torch.__version__,
                "outputs": "G(z, c, truncation_psi, noise_mode='const'); ws_psi1 = G.mapping(z, c)"}
        (HERE / f"{name}.json").write_text(json.dumps(meta, indent=1) + "\n")
        print(name, {k: tuple(v.shape) for k, v in out.items()})


if __name__ == "__main__":
    main(sys.argv[1])
