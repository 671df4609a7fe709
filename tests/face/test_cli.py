"""`chunkygan align / paste / masks / label` end to end on the astronaut photo (face extra), and error paths."""
from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from chunkygan.cli import main
from chunkygan.face.deps import MissingFaceExtraError, missing, require
from chunkygan.imageio import load_image, save_image

NEED = missing(("dlib", "mediapipe", "onnxruntime"), ("dlib-landmarks-68", "dlib-landmarks-5", "age-v1", "gender-v1",
                                                       "mediapipe-face-landmarker"))
needs_face = pytest.mark.skipif(bool(NEED), reason=NEED or "ok")


def test_a_missing_extra_names_what_to_install():
    with pytest.raises(MissingFaceExtraError, match=r"pip install 'chunkygan\[face\]'"):
        require("chunkygan_no_such_module")


def test_paste_rejects_a_bad_transform_file(tmp_path):
    save_image(torch.zeros(1, 3, 32, 32), tmp_path / "a.png")
    (tmp_path / "t.json").write_text("[1, 2]")
    r = CliRunner().invoke(main, ["paste", str(tmp_path / "a.png"), "--into", str(tmp_path / "a.png"),
                                  "--transform", str(tmp_path / "t.json"), "-o", str(tmp_path / "o.png")])
    assert r.exit_code != 0 and "transform" in r.output


@pytest.mark.face
@needs_face
def test_align_paste_masks_label(tmp_path, photos):
    photo = tmp_path / "astronaut.png"
    save_image(photos["astronaut"], photo)
    run = lambda *a: CliRunner().invoke(main, [str(x) for x in a], catch_exceptions=False)

    r = run("align", photo, "-o", tmp_path / "face.png", "--resolution", 128)
    assert r.exit_code == 0, r.output
    assert load_image(tmp_path / "face.png").shape == (1, 3, 128, 128)
    assert (tmp_path / "face.transform.json").is_file()

    r = run("paste", tmp_path / "face.png", "--into", photo, "--transform", tmp_path / "face.transform.json",
            "-o", tmp_path / "back.png")
    assert r.exit_code == 0, r.output
    back, orig = load_image(tmp_path / "back.png"), load_image(photo)
    assert back.shape == orig.shape and ((back - orig).abs() * 127.5).mean() < 1.5

    r = run("masks", tmp_path / "face.png", "-o", tmp_path / "masks")
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "masks" / "parts.json").read_text())["names"][0] == "background"

    r = run("label", photo, "--labels", "age,smile", "-o", tmp_path / "labels.jsonl")
    assert r.exit_code == 0, r.output
    row = json.loads((tmp_path / "labels.jsonl").read_text().splitlines()[0])
    assert set(row) == {"image", "age", "smile"} and row["smile"] > 0.5


@pytest.mark.face
@needs_face
def test_no_face_errors_and_nan(tmp_path):
    blank = tmp_path / "blank.png"
    save_image(torch.zeros(1, 3, 96, 96), blank)
    r = CliRunner().invoke(main, ["align", str(blank), "-o", str(tmp_path / "x.png")])
    assert r.exit_code != 0 and "no face found" in r.output and "blank.png" in r.output
    r = CliRunner().invoke(main, ["label", str(blank), "--labels", "smile", "--missing", "raise"])
    assert r.exit_code != 0 and "no face found" in r.output
    r = CliRunner().invoke(main, ["label", str(blank), "--labels", "smile"])
    assert r.exit_code == 0 and json.loads(r.output.strip().splitlines()[-1])["smile"] is None
