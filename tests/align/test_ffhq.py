"""FFHQ alignment and paste-back.

The geometry tests run without the face extra (landmarks are given); the photo tests need dlib and
the 68-point model and are marked ``face``.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from chunkygan.align.ffhq import FaceTransform, align_face, feather_mask, ffhq_quad, paste_back, warp_quad
from chunkygan.face.deps import NoFaceError, missing

NEED_DLIB = missing(("dlib",), ("dlib-landmarks-68",))
needs_dlib = pytest.mark.skipif(bool(NEED_DLIB), reason=NEED_DLIB or "ok")


def synthetic_landmarks(cx=100.0, cy=90.0, eye_dist=40.0, mouth_drop=45.0, angle_deg=0.0) -> np.ndarray:
    """68 points with the eyes and outer mouth placed like a face; the rest at the centre."""
    lm = np.tile([[cx, cy]], (68, 1)).astype(np.float64)
    ring = np.stack([np.cos(np.linspace(0, 2 * np.pi, 6, endpoint=False)),
                     np.sin(np.linspace(0, 2 * np.pi, 6, endpoint=False))], 1) * 3
    lm[36:42] = [cx - eye_dist / 2, cy] + ring
    lm[42:48] = [cx + eye_dist / 2, cy] + ring
    mouth = np.stack([np.linspace(-18, 18, 7), np.zeros(7)], 1)
    lm[48:55] = [cx, cy + mouth_drop] + mouth
    lm[55:60] = [cx, cy + mouth_drop + 5]
    a = math.radians(angle_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return (lm - [cx, cy]) @ rot.T + [cx, cy]


def smooth_photo(h=200, w=220, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, 3, h // 25, w // 25, generator=g) * 2 - 1  # features ~25 px, like a face photo
    return torch.nn.functional.interpolate(x, size=(h, w), mode="bicubic", align_corners=False).clamp(-1, 1)


def test_quad_follows_the_ffhq_recipe():
    lm = synthetic_landmarks(eye_dist=40, mouth_drop=45)
    q = ffhq_quad(lm)
    # half-width = max(2*|eye_to_eye|, 1.8*|eye_to_mouth|) = max(80, 81) = 81; centre 0.1*45 below the eyes
    assert np.allclose(q[3] - q[0], [162, 0], atol=1e-9)  # top edge horizontal
    assert np.allclose(q[1] - q[0], [0, 162], atol=1e-9)  # left edge vertical, pointing down
    assert np.allclose(q.mean(0), [100, 90 + 4.5], atol=1e-9)


def test_quad_rotates_with_the_face():
    q0 = ffhq_quad(synthetic_landmarks(angle_deg=0))
    q1 = ffhq_quad(synthetic_landmarks(angle_deg=25))
    top = q1[3] - q1[0]
    assert math.degrees(math.atan2(top[1], top[0])) == pytest.approx(25, abs=1e-6)
    assert np.hypot(*top) == pytest.approx(np.hypot(*(q0[3] - q0[0])))


def test_transform_maps_points_both_ways_and_saves(tmp_path):
    lm = synthetic_landmarks(angle_deg=-17)
    tr = FaceTransform(quad=ffhq_quad(lm), photo_size=(220, 200), resolution=64, landmarks=lm)
    pts = np.random.default_rng(0).uniform(0, 64, (10, 2))
    assert np.allclose(tr.to_aligned(tr.to_photo(pts)), pts)
    # the aligned corners' outer edges are the quad corners
    assert np.allclose(tr.to_photo(np.array([[-0.5, -0.5], [63.5, 63.5]])), tr.quad[[0, 2]])
    # eyes land level in aligned coordinates
    eyes = tr.to_aligned(np.stack([lm[36:42].mean(0), lm[42:48].mean(0)]))
    assert abs(eyes[0, 1] - eyes[1, 1]) < 1e-9
    p = tr.save(tmp_path / "t.json")
    tr2 = FaceTransform.load(p)
    assert np.allclose(tr2.quad, tr.quad) and tr2.photo_size == (220, 200) and tr2.resolution == 64
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="not a chunkygan face transform"):
        FaceTransform.load(tmp_path / "bad.json")


def test_warp_puts_a_photo_point_where_the_transform_says():
    photo = torch.full((1, 3, 200, 220), -1.0)
    lm = synthetic_landmarks(angle_deg=20)
    tr = FaceTransform(quad=ffhq_quad(lm), photo_size=(220, 200), resolution=64)
    target = np.array([[40.0, 20.0]])  # an aligned pixel
    x, y = np.rint(tr.to_photo(target)[0]).astype(int)
    photo[:, :, y - 2:y + 3, x - 2:x + 3] = 1.0
    out = warp_quad(photo, tr.quad, 64)
    v, u = np.unravel_index(out[0, 0].argmax().item(), (64, 64))
    assert abs(u - 40) <= 1 and abs(v - 20) <= 1


def test_align_and_paste_back_round_trip_with_given_landmarks():
    photo = smooth_photo()
    lm = synthetic_landmarks(angle_deg=12)
    aligned, tr = align_face(photo, 192, landmarks=lm)  # 192 >= quad side (162): no detail lost
    assert aligned.shape == (1, 3, 192, 192) and aligned.dtype == torch.float32
    back = paste_back(aligned, photo, tr)
    err = (back - photo).abs() * 127.5  # in 8-bit levels; only resampling blur remains
    assert err.mean() < 2 and err.max() < 25
    # an edited face changes only the quad's region
    changed = paste_back(torch.ones_like(aligned), photo, tr)
    inside = tr.to_aligned(np.array([[100.0, 95.0]]))[0]
    assert 0 < inside[0] < 192 and changed[0, :, 95, 100].min() > 0.99
    assert torch.equal(changed[..., :, 200:], photo[..., :, 200:])  # right of the quad


@pytest.mark.parametrize("angle", [0.0, 12.0])
def test_warp_and_paste_back_are_exact_on_linear_content(angle):
    """Bilinear resampling reproduces a linear ramp exactly, so any error here is geometry (a shift or a flip)."""
    h, w = 200, 220
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    photo = torch.stack([xx / w * 1.6 - 0.8, yy / h * 1.6 - 0.8, (xx + yy) / (h + w) - 0.5]).unsqueeze(0)
    a = math.radians(angle)
    c, ex = np.array([110.0, 100.0]), np.array([math.cos(a), math.sin(a)]) * 120
    ey = np.array([-ex[1], ex[0]])
    quad = np.stack([c - ex / 2 - ey / 2, c - ex / 2 + ey / 2, c + ex / 2 + ey / 2, c + ex / 2 - ey / 2])
    tr = FaceTransform(quad=quad, photo_size=(w, h), resolution=128)
    aligned = warp_quad(photo, quad, 128)
    uv = np.stack(np.meshgrid(np.arange(128), np.arange(128), indexing="xy"), -1).reshape(-1, 2)
    expected_red = torch.tensor(tr.to_photo(uv)[:, 0] / w * 1.6 - 0.8, dtype=torch.float32).view(128, 128)
    assert (aligned[0, 0] - expected_red).abs().max() * 127.5 < 0.01
    back = paste_back(aligned, photo, tr)
    assert (back - photo).abs().max() * 127.5 < 0.2


def test_paste_back_rejects_a_different_photo():
    photo = smooth_photo()
    aligned, tr = align_face(photo, 32, landmarks=synthetic_landmarks())
    with pytest.raises(ValueError, match="pass the photo that was aligned"):
        paste_back(aligned, photo[..., :100, :], tr)


def test_padding_where_the_quad_leaves_the_photo_is_soft():
    photo = smooth_photo(120, 120)
    lm = synthetic_landmarks(cx=20, cy=20, eye_dist=30, mouth_drop=30)  # face in the corner
    aligned, tr = align_face(photo, 64, landmarks=lm)
    assert torch.isfinite(aligned).all() and aligned.abs().max() <= 1
    # the padded top-left corner is the blurred, median-faded fill: far smoother than noise
    corner = aligned[..., :8, :8]
    assert corner.std() < photo.std()


def test_feather_mask_is_one_inside_and_zero_at_the_edge():
    m = feather_mask(40, 0.2)
    assert m[0, 0, 20, 20] == 1 and m[0, 0, 0, 0] < 0.02 and m.min() >= 0


def eye_mouth(lm: np.ndarray):
    el, er = lm[36:42].mean(0), lm[42:48].mean(0)
    mouth = (lm[48] + lm[54]) / 2
    return el, er, mouth


@pytest.mark.face
@needs_dlib
@pytest.mark.parametrize("which", ["astronaut", "grace_hopper"])
def test_photo_alignment_matches_the_ffhq_template(which, photos):
    from chunkygan.align.landmarks import face_landmarks

    r = 256
    aligned, tr = align_face(photos[which], r)
    lm = face_landmarks(aligned)  # landmarks found again in the output
    el, er, mouth = eye_mouth(lm)
    eye_avg = (el + er) / 2
    e2e, e2m = np.hypot(*(er - el)), np.hypot(*(mouth - eye_avg))
    assert abs(el[1] - er[1]) <= 0.01 * r  # eyes level
    assert abs(eye_avg[0] - r / 2) <= 0.02 * r  # centred
    # FFHQ template: quad half-width is max(2 e2e, 1.8 e2m) = R/2, eyes 0.1 e2m above the centre
    assert max(2 * e2e, 1.8 * e2m) == pytest.approx(r / 2, rel=0.06)
    assert eye_avg[1] == pytest.approx(r / 2 - 0.1 * e2m, abs=0.02 * r)


@pytest.mark.face
@needs_dlib
@pytest.mark.parametrize("which,r", [("astronaut", 256), ("grace_hopper", 512)])
def test_photo_round_trip_error_is_small(which, r, photos):
    photo = photos[which]
    aligned, tr = align_face(photo, r)
    back = paste_back(aligned, photo, tr)
    err = (back - photo).abs() * 127.5
    x0, y0 = np.clip(tr.quad.min(0), 0, None).astype(int)
    x1, y1 = tr.quad.max(0).astype(int)
    region = err[..., y0:y1, x0:x1]
    psnr = 10 * math.log10(255 ** 2 / (region ** 2).mean().item())
    assert err.mean() < 1.0  # 8-bit levels over the whole photo (measured: see docs/face.md)
    assert psnr > 35  # measured 38.0 dB (astronaut, 256) and 36.3 dB (Grace Hopper, 512)


@pytest.mark.face
@needs_dlib
def test_no_face_and_bad_face_index_are_clear_errors(photos):
    with pytest.raises(NoFaceError, match="no face found"):
        align_face(torch.zeros(1, 3, 128, 128), 64)
    with pytest.raises(NoFaceError, match=r"face 5 was asked for but \d face"):
        align_face(photos["astronaut"], 64, face_index=5)
