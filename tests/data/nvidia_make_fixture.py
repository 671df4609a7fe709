"""Regenerate ``nvidia_snapshot_{ada,sg3}.pkl`` (run by hand; not part of the test suite).

Writes a network snapshot exactly as NVIDIA's training loop does (``training_loop.py``:
``pickle.dump(dict(training_set_kwargs=dict(...), G=..., D=..., G_ema=..., augment_pipe=...))``) with
NVIDIA's own code, on tiny randomly initialised networks (our weights, not a release), and the
official ``G_ema`` output for fixed z (truncation 0.7, const noise, fp32). Then every embedded
``module_src`` string (NVIDIA's source code, which the official loader would ``exec``) is overwritten
in place by a same-length comment, so the committed file holds the exact pickle opcode structure of an
official snapshot but no third-party code.

Usage (outside the project; the checkouts' ``dnnlib`` imports ``requests`` and stylegan3's
``conv2d_gradfix`` imports ``pkg_resources``: stub modules of those names on ``sys.path`` will do)::

    python tests/data/nvidia_make_fixture.py ada /path/to/NVlabs/stylegan2-ada-pytorch
    python tests/data/nvidia_make_fixture.py sg3 /path/to/NVlabs/stylegan3
"""
from __future__ import annotations

import copy
import pickle
import pickletools
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
BLANK = b"# NVIDIA module source removed from this chunkygan test fixture\n"


def blank_module_sources(raw: bytes) -> bytes:
    """Overwrite each pickled string that is Python module source with a same-length comment."""
    out = bytearray(raw)
    n = 0
    for op, arg, pos in pickletools.genops(raw):
        if isinstance(arg, str) and "import torch" in arg and "persistent_class" in arg:
            size = len(arg.encode("utf-8"))
            start = pos + {"SHORT_BINUNICODE": 2, "BINUNICODE": 5, "BINUNICODE8": 9}[op.name]
            assert out[start:start + size] == arg.encode("utf-8")
            out[start:start + size] = (BLANK * (size // len(BLANK) + 1))[:size]
            n += 1
    assert n >= 2 and b"import torch" not in out
    return bytes(out)


def main(flavour: str, repo: str) -> None:
    sys.path.insert(0, repo)
    import dnnlib  # the official code, outside this project
    from training.augment import AugmentPipe

    small = dict(channel_base=64, channel_max=8, num_fp16_res=2, conv_clamp=256)
    if flavour == "ada":  # stylegan2-ada-pytorch: nested synthesis_kwargs
        from training.networks import Discriminator, Generator
        G_kwargs = dnnlib.EasyDict(z_dim=8, w_dim=8, mapping_kwargs=dnnlib.EasyDict(num_layers=2),
                                   synthesis_kwargs=dnnlib.EasyDict(**small))
    else:  # stylegan3 repo, networks_stylegan2: flat synthesis keywords
        from training.networks_stylegan2 import Discriminator, Generator
        G_kwargs = dnnlib.EasyDict(z_dim=8, w_dim=8, mapping_kwargs=dnnlib.EasyDict(num_layers=2),
                                   fused_modconv_default="inference_only", **small)
    common = dict(c_dim=0, img_resolution=16, img_channels=3)
    torch.manual_seed(0)
    G = Generator(**G_kwargs, **common).requires_grad_(False)
    D = Discriminator(channel_base=64, channel_max=8, **common)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in G.named_parameters():
            if "noise_strength" in name or name.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.3 + (1.0 if "affine" in name else 0.0))
        G.mapping.w_avg.copy_(torch.randn(G.mapping.w_avg.shape, generator=g))
    G_ema = copy.deepcopy(G).eval()
    augment_pipe = AugmentPipe(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1)
    training_set_kwargs = dnnlib.EasyDict(class_name="training.dataset.ImageFolderDataset", path="/data/ffhq.zip",
                                          use_labels=False, max_size=70000, xflip=True, resolution=16)
    snapshot = dict(training_set_kwargs=dict(training_set_kwargs))
    for name, module in [("G", G), ("D", D), ("G_ema", G_ema), ("augment_pipe", augment_pipe)]:
        snapshot[name] = copy.deepcopy(module).eval().requires_grad_(False).cpu()
    raw = blank_module_sources(pickle.dumps(snapshot))
    z = torch.randn(2, 8, generator=g)
    with torch.no_grad():
        img = G_ema(z, None, truncation_psi=0.7, noise_mode="const", force_fp32=True)
    (HERE / f"nvidia_snapshot_{flavour}.pkl").write_bytes(raw)
    torch.save({"z": z, "img": img, "truncation_psi": 0.7, "torch": str(torch.__version__)},
               HERE / f"nvidia_snapshot_{flavour}_outputs.pt")
    print(flavour, len(raw), "bytes; image std", img.std().item())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
