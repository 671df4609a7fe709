"""`chunkygan project --align` on an unaligned photo, and automatic paste-back in `project` and `edit`."""
from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from chunkygan.cli import main
from chunkygan.face.deps import missing
from chunkygan.generators.checkpoints import save_generator
from chunkygan.imageio import load_image, save_image
from tiny_generators import tiny_sg2

NEED = missing(("dlib",), ("dlib-landmarks-68",))
pytestmark = [pytest.mark.face, pytest.mark.skipif(bool(NEED), reason=NEED or "ok")]


def test_project_align_and_edit_paste_back(tmp_path, photos, monkeypatch):
    monkeypatch.setenv("CHUNKYGAN_CACHE", str(tmp_path / "cache"))
    photo = photos["astronaut"]
    save_image(photo, tmp_path / "photo.png")
    gen, _ = save_generator(tiny_sg2(), tmp_path / "tiny")
    out = tmp_path / "proj"
    r = CliRunner().invoke(main, ["project", str(tmp_path / "photo.png"), "-o", str(out), "--generator", str(gen),
                                  "--align", "--segments", "2", "--steps", "2", "--loss", "l2", "--snapshots", "0"])
    assert r.exit_code == 0, r.output
    assert json.loads((out / "alignment.json").read_text())["photo"].endswith("photo.png")
    pasted = load_image(out / "photo_reconstruction.png")
    assert pasted.shape == photo.shape
    changed = ((pasted - load_image(tmp_path / "photo.png")).abs().amax(1)[0] > 2 / 255).float()
    ys, xs = torch.nonzero(changed, as_tuple=True)
    # only the face region changes: the astronaut's face lies around (240, 140) in the 512 px photo
    assert 0 < changed.mean() < 0.5
    assert 120 < float(xs.float().mean()) < 360 and 40 < float(ys.float().mean()) < 260
    r = CliRunner().invoke(main, ["edit", str(out), "--direction", "sefa_0=2", "-o", str(tmp_path / "edit")])
    assert r.exit_code == 0, r.output
    edited = load_image(tmp_path / "edit" / "photo_edited.png")
    assert edited.shape == photo.shape and not torch.equal(edited, pasted)


def test_align_without_a_face_is_a_clear_error(tmp_path):
    save_image(torch.zeros(1, 3, 64, 64), tmp_path / "blank.png")
    gen, _ = save_generator(tiny_sg2(), tmp_path / "tiny")
    r = CliRunner().invoke(main, ["project", str(tmp_path / "blank.png"), "-o", str(tmp_path / "o"), "--generator",
                                  str(gen), "--align", "--steps", "1"])
    assert r.exit_code != 0 and "face" in r.output.lower()
