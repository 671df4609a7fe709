"""Face identity: detector decoding, Umeyama alignment, ArcFace (onnxruntime and converted PyTorch).

Photos: scikit-image's ``astronaut`` (Eileen Collins, NASA, public domain) and matplotlib's
``grace_hopper.jpg`` (US Navy, public domain), both shipped by those registry packages.
"""
import io

import numpy as np
import pytest
import torch
from PIL import Image

from chunkygan import assets
from chunkygan.imageio import pil_to_tensor, tensor_to_pil
from chunkygan.losses.identity import (ARCFACE_TEMPLATE, FaceIdentity, IdentityLoss, NoFaceError, anchor_centers,
                                       distance2bbox, distance2kps, nms, umeyama, warp_to_crop)

ort = pytest.importorskip("onnxruntime", reason="onnxruntime missing: pip install 'chunkygan[eval]'")
skdata = pytest.importorskip("skimage.data", reason="scikit-image missing: pip install 'chunkygan[examples]'")
matplotlib = pytest.importorskip("matplotlib", reason="matplotlib missing: pip install 'chunkygan[examples]'")


def _require(name):
    try:
        return assets.resolve(name)
    except assets.AssetError as e:
        pytest.skip(f"InsightFace weights missing: {e}")


@pytest.fixture(scope="module")
def fid():
    _require("scrfd-500m-kps")
    _require("arcface-w600k-mbf")
    return FaceIdentity()


@pytest.fixture(scope="module")
def astronaut():
    return pil_to_tensor(Image.fromarray(skdata.astronaut()))


@pytest.fixture(scope="module")
def hopper():
    from pathlib import Path
    return pil_to_tensor(Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"))


def _jpeg(t, quality=40):
    buf = io.BytesIO()
    tensor_to_pil(t).save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return pil_to_tensor(Image.open(buf))


# --- pure functions ---------------------------------------------------------------------------------

def test_umeyama_recovers_a_known_similarity_and_matches_scikit_image():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 400, (5, 2))
    ang, s, t = 0.3, 0.37, np.array([12.0, -4.0])
    rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    m = umeyama(src, src @ (s * rot).T + t)
    assert np.allclose(m, np.concatenate([s * rot, t[:, None]], 1), atol=1e-9)
    from skimage.transform import SimilarityTransform  # Umeyama's estimator, an outside reference
    ref = SimilarityTransform()
    with pytest.warns(FutureWarning) if hasattr(SimilarityTransform, "from_estimate") else _nullcontext():
        ref.estimate(src, ARCFACE_TEMPLATE)
    assert np.allclose(umeyama(src, ARCFACE_TEMPLATE), ref.params[:2], atol=1e-9)
    # a mirrored point set still gets a proper rotation (no reflection)
    m2 = umeyama(src, src * [-1, 1])
    assert np.linalg.det(m2[:, :2]) > 0


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def test_decoding_and_nms():
    c = anchor_centers(2, 3, 8)
    assert c.shape == (12, 2) and c[:2].tolist() == [[0, 0], [0, 0]] and c[2].tolist() == [8, 0] and c[-1].tolist() == [16, 8]
    box = distance2bbox(np.array([[10.0, 20.0]]), np.array([[1.0, 2.0, 3.0, 4.0]]))
    assert box.tolist() == [[9.0, 18.0, 13.0, 24.0]]
    kps = distance2kps(np.array([[10.0, 20.0]]), np.arange(10.0)[None])
    assert kps.shape == (1, 5, 2) and kps[0, 1].tolist() == [12.0, 23.0]
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], dtype=float)
    assert nms(boxes, np.array([0.9, 0.95, 0.5]), 0.4) == [1, 2]


def test_warp_to_crop_is_exact_for_integer_translations():
    g = torch.Generator().manual_seed(0)
    img = torch.rand(2, 3, 200, 150, generator=g) * 2 - 1
    m = np.array([[1.0, 0, -30], [0, 1.0, -40]])  # image px (30, 40) -> crop px (0, 0)
    crop = warp_to_crop(img, m)
    assert torch.allclose(crop, img[:, :, 40:152, 30:142], atol=1e-4)
    # outside the image the crop is black
    far = warp_to_crop(img, np.array([[1.0, 0, 500], [0, 1.0, 500]]))
    assert torch.allclose(far, torch.full_like(far, -1.0))


# --- networks ---------------------------------------------------------------------------------------

def test_detects_the_astronauts_face_with_plausible_keypoints(fid, astronaut):
    faces = fid.detector(astronaut)
    assert len(faces) == 1
    f = faces[0]
    x1, y1, x2, y2 = f.box
    assert 150 < x1 < 210 and 230 < x2 < 300 and 30 < y1 < 100 and 150 < y2 < 210, f.box
    le, re, nose, ml, mr = f.keypoints
    assert le[0] < nose[0] < re[0] and ml[0] < mr[0]
    assert max(le[1], re[1]) < nose[1] < min(ml[1], mr[1])
    assert ((f.keypoints >= f.box[:2]) & (f.keypoints <= f.box[2:])).all()


def test_same_face_under_augmentation_scores_much_higher_than_different_people(fid, astronaut, hopper):
    for img in (astronaut, hopper):
        augmented = torch.cat([_jpeg(img), (img + 0.2).clamp(-1, 1), torch.roll(img, (7, -5), (2, 3))])
        same = fid.similarity(augmented, img)
        assert (same > 0.8).all(), same
    different = fid.similarity(astronaut, hopper)
    assert different.item() < 0.3, different
    assert same.min() - different.item() > 0.5


# Official InsightFace pipeline (its SCRFD class, norm_crop, ArcFace preprocessing) on the same ONNX
# files, from tests/losses/make_identity_reference.py.
OFFICIAL_KPS = {
    "astronaut": [[204.13, 100.59], [246.77, 103.56], [223.84, 129.15], [201.98, 139.71], [245.68, 142.34]],
    "hopper": [[226.14, 195.08], [305.61, 192.52], [266.48, 239.81], [233.42, 278.02], [299.47, 275.85]],
}
OFFICIAL_SIM = {"astronaut_bright": 0.9939, "astronaut_flip": 0.9659, "hopper_shift": 0.9902, "astronaut_hopper": 0.0072}


def test_matches_the_official_insightface_pipeline(fid, astronaut, hopper):
    for name, img in (("astronaut", astronaut), ("hopper", hopper)):
        kps = fid.detector.main_face(img).keypoints
        assert np.abs(kps - np.array(OFFICIAL_KPS[name])).max() < 0.3, (name, kps)
    bright = ((astronaut + 1) * 127.5).round().add(25).clamp(0, 255) / 127.5 - 1  # +25 grey levels
    got = {
        "astronaut_bright": fid.similarity(astronaut, bright).item(),
        "astronaut_flip": fid.similarity(astronaut, astronaut.flip(-1)).item(),
        "hopper_shift": fid.similarity(hopper, torch.roll(hopper, (7, -5), (2, 3))).item(),
        "astronaut_hopper": fid.similarity(astronaut, hopper).item(),
    }
    # our bilinear resizes are float, OpenCV's are fixed-point: similarities agree to a few 1e-3
    for k, v in OFFICIAL_SIM.items():
        assert abs(got[k] - v) < 5e-3, (k, got[k], v)


def test_no_face_is_a_clear_error(fid):
    coffee = pil_to_tensor(Image.fromarray(skdata.coffee()))
    with pytest.raises(NoFaceError, match="no face found"):
        fid.similarity(coffee, coffee, names=("coffee.png", "coffee.png"))


def test_converted_arcface_matches_onnxruntime(fid):
    from chunkygan.losses._onnx_torch import OnnxModule
    net = OnnxModule(_require("arcface-w600k-mbf"))
    x = torch.rand(2, 3, 112, 112, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        ours = torch.nn.functional.normalize(net(x), dim=1)
    ref = fid.embed_crops(x)
    assert torch.allclose(ours, ref, atol=1e-4)


def test_converter_refuses_unsupported_operators():
    from chunkygan.losses._onnx_torch import OnnxConversionError, OnnxModule
    with pytest.raises(OnnxConversionError, match="not supported.*|.*Gather"):
        OnnxModule(_require("scrfd-500m-kps"))


def test_identity_loss_is_differentiable_and_respects_masks(fid, astronaut, hopper):
    loss = IdentityLoss(detector=fid.detector)
    assert loss(astronaut, astronaut).abs().item() < 1e-5
    noisy = (astronaut + 0.05 * torch.randn(astronaut.shape, generator=torch.Generator().manual_seed(0))).clamp(-1, 1)
    other = torch.nn.functional.interpolate(hopper[..., 44:556, :], size=(512, 512), mode="area")
    x = torch.cat([noisy, other]).requires_grad_(True)
    value = loss(x, astronaut)  # the batch-1 target broadcasts
    value.sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad[0].abs().sum() > 0
    assert value[0].item() < 0.1 and value[1].item() > 0.5, value
    mask = torch.ones(1, 1, 512, 512)
    mask[..., 300:, :] = 0  # below the chin
    changed = noisy.clone()
    changed[..., 300:, :] = 1.0
    with torch.no_grad():
        both = loss(torch.cat([noisy, changed]), astronaut, mask)
    assert torch.allclose(both[0], both[1], atol=1e-6)
