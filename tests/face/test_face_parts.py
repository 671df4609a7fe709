"""Face-part masks on public-domain photos (needs the face extra: mediapipe + model files)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from chunkygan.face.deps import NoFaceError, missing

NEED = missing(("mediapipe",), ("mediapipe-face-landmarker",))
if not NEED:
    from chunkygan.face.mediapipe_face import selfie_model_path

    try:
        selfie_model_path()
    except Exception as e:  # AssetError: the npm model is not installed
        NEED = f"selfie_segmentation.tflite is not installed (npm @mediapipe/selfie_segmentation): {e}"
pytestmark = [pytest.mark.face, pytest.mark.skipif(bool(NEED), reason=NEED or "ok")]


@pytest.fixture(scope="module")
def parts(photos):
    from chunkygan.segments.face_parts import face_part_masks

    return {k: face_part_masks(v) for k, v in photos.items()}


@pytest.mark.parametrize("which", ["astronaut", "grace_hopper"])
def test_parts_sum_to_one_and_cover_the_right_landmarks(which, parts, photos):
    from chunkygan.segments.face_parts import PART_NAMES

    p = parts[which]
    h, w = photos[which].shape[-2:]
    assert p.masks.shape == (len(PART_NAMES), 1, h, w)
    assert p.masks.min() >= 0 and p.masks.max() <= 1
    assert torch.allclose(p.masks.sum(0), torch.ones(1, h, w), atol=1e-5)
    lab = p.labels()

    def label_at(i: int) -> str:
        x, y = np.rint(p.landmarks[i, :2]).astype(int)
        return p.names[lab[y, x]]

    def mask_at(name: str, i: int) -> float:
        x, y = np.rint(p.landmarks[i, :2]).astype(int)
        return float(p[name][0, 0, y, x])

    # inner-lip landmarks (upper 13, lower 14, corners 78/308) lie in the mouth mask
    for i in (13, 14, 82, 312, 87, 317):
        assert label_at(i) == "mouth" and mask_at("mouth", i) > 0.5, i
    for i in (468, 473):  # iris centres
        assert label_at(i) == "eyes", i
    assert label_at(4) == "nose"  # nose tip
    for i in (105, 334):  # mid-brows
        assert mask_at("brows", i) > 0.3, i
    for i in (50, 280):  # cheeks
        assert label_at(i) == "skin", i
    assert p.masks[0, 0, :5, :5].mean() > 0.9  # the top-left corner (flag / backdrop) is background
    assert p["hair"].sum() > 0.01 * h * w  # the hair heuristic finds something above the face


def test_save_parts_writes_an_editable_label_image(parts, photos, tmp_path):
    from PIL import Image

    from chunkygan.segments.face_parts import save_parts

    p = parts["astronaut"]
    save_parts(p, tmp_path, photos["astronaut"])
    meta = json.loads((tmp_path / "parts.json").read_text())
    assert meta["names"] == list(p.names)
    labels = np.asarray(Image.open(tmp_path / "labels.png"))
    assert labels.shape == tuple(p.masks.shape[-2:]) and labels.max() < len(p.names)
    assert np.array_equal(labels, p.labels().numpy())
    mouth = np.asarray(Image.open(tmp_path / f"mask_{p.names.index('mouth')}_mouth.png"), dtype=np.float32) / 255
    assert np.abs(mouth - p["mouth"][0, 0].numpy()).max() < 1 / 255 + 1e-6
    assert (tmp_path / "preview.png").is_file()
    # the folder passed back as --masks gives exactly the parts, not labels.png / preview.png as extra masks
    from chunkygan.segments.masks import MaskInputError, SegmentMasks

    back = SegmentMasks.load(tmp_path)
    assert back.num_segments == len(p.names)
    assert (back.tensor[p.names.index("mouth"), 0] - p["mouth"][0, 0]).abs().max() < 1 / 255 + 1e-6
    (tmp_path / f"mask_{p.names.index('mouth')}_mouth.png").unlink()
    with pytest.raises(MaskInputError, match="do not exist"):
        SegmentMasks.load(tmp_path)


def test_no_face_is_a_clear_error():
    from chunkygan.segments.face_parts import face_part_masks

    with pytest.raises(NoFaceError, match="no face"):
        face_part_masks(torch.zeros(1, 3, 128, 128))


def test_metadata_is_added_to_a_model_without_it():
    from mediapipe.tasks.metadata import schema_py_generated as tfl

    from chunkygan.face.mediapipe_face import selfie_model_path, with_image_metadata

    raw = selfie_model_path().read_bytes()
    assert tfl.Model.GetRootAsModel(raw, 0).MetadataLength() == 0
    m = tfl.Model.GetRootAsModel(with_image_metadata(raw), 0)
    names = [m.Metadata(i).Name() for i in range(m.MetadataLength())]
    assert b"TFLITE_METADATA" in names
