"""Identity on what the evaluation compares: FFHQ-aligned crops and 64 px renders (issue #18)."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from chunkygan.eval.metrics import Metrics, summarise

pytest.importorskip("onnxruntime", reason="onnxruntime missing: pip install 'chunkygan[eval]'")


def _require_weights():
    from chunkygan.assets import AssetError, resolve

    try:
        resolve("arcface-w600k-mbf"), resolve("scrfd-500m-kps")
    except AssetError as e:
        pytest.skip(f"InsightFace weights missing: {e}")


@pytest.fixture(scope="module")
def fids():
    """FaceIdentity with detection (and the padded retry) and with FFHQ-template landmarks, one detector."""
    _require_weights()
    from chunkygan.losses.identity import FaceIdentity

    detect = FaceIdentity()
    return {"detect": detect, "ffhq": FaceIdentity(landmarks="ffhq", detector=detect.detector)}


@pytest.fixture(scope="module")
def aligned(photos):
    pytest.importorskip("dlib", reason="dlib missing (face extra) for FFHQ alignment")
    from chunkygan.align import align_face

    return {k: align_face(v, resolution=256)[0] for k, v in photos.items()}


def test_ffhq_template_matches_detected_keypoints_on_aligned_crops_and_64px(aligned, fids):
    from chunkygan.losses.identity import detect_padded, ffhq_keypoints

    det = fids["detect"].detector
    for name, img in aligned.items():
        for R in (256, 64):
            x = img if R == 256 else F.interpolate(img, size=(R, R), mode="area")
            kp = detect_padded(det, x, name).keypoints
            err = np.abs(kp - ffhq_keypoints(R))
            assert err[:2].max() < 0.03 * R, (name, R, err)  # eyes: where the FFHQ recipe puts them
            assert err.max() < 0.08 * R, (name, R, err)  # nose and mouth move with the face's expression


def test_identity_scores_every_aligned_crop_and_its_64px_version(aligned, fids):
    a, b = aligned["astronaut"], aligned["grace_hopper"]
    a64, b64 = (F.interpolate(x, size=(64, 64), mode="area") for x in (a, b))
    for landmarks in ("ffhq", "detect"):
        m = Metrics(landmarks=landmarks)
        m._identity = fids[landmarks]
        same, err = m.identity(torch.cat([a64, b64]), torch.cat([a, b]))
        assert err == [None, None]
        assert max(same) < 0.2, (landmarks, same)  # 1 - cos: same person at 64 and 256 px
        diff, _ = m.identity(a64, b)
        assert diff[0] > 0.7, (landmarks, diff)


def test_identity_scores_64px_renders_that_the_plain_detector_misses(fids):
    from chunkygan.generators import load_generator

    G = load_generator("stylegan2-faces-64")
    with torch.no_grad():
        imgs = G.synthesis(G.mapping(torch.randn(3, G.z_dim, generator=torch.Generator().manual_seed(0))),
                           noise_mode="const").clamp(-1, 1)
    fid = fids["detect"]
    missed = sum(len(fid.detector(imgs[i:i + 1])) == 0 for i in range(3))
    dist, err = fid.distances(imgs, imgs.flip(-1))  # detection with the padded retry
    assert err == [None] * 3 and all(d < 0.3 for d in dist), (missed, dist)
    dist_t, err_t = fids["ffhq"].distances(imgs, imgs.flip(-1))
    assert err_t == [None] * 3 and all(d < 0.3 for d in dist_t), dist_t


def test_a_row_without_a_face_is_reported_not_dropped(fids):
    m = Metrics(landmarks="detect")
    m._identity = fids["detect"]
    blank = torch.zeros(1, 3, 64, 64)
    face = torch.rand(1, 3, 64, 64) * 2 - 1
    dist, err = m.identity(torch.cat([blank, blank]), torch.cat([face, blank]))
    assert all(math.isnan(d) for d in dist) and all("no face" in e for e in err)
    s = summarise([0.1, None, 0.3])
    assert (s.n, s.failed) == (2, 1) and abs(s.mean - 0.2) < 1e-12
    assert "1 unscored" in s.format()
