"""`chunkygan project` and `chunkygan demo` end to end on a tiny random StyleGAN2 checkpoint."""
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from chunkygan.cli import main
from chunkygan.generators.checkpoints import save_generator
from chunkygan.project.io import Projection

from tiny_generators import tiny_sg2

OUTPUTS = ["projection.safetensors", "target.png", "reconstruction.png", "segments.png", "segment_00.png",
           "segment_01.png", "comparison.png", "progression.png", "metrics.json", "checkpoint.safetensors"]


@pytest.fixture(scope="module")
def gen_path(tmp_path_factory):
    st, _ = save_generator(tiny_sg2(), tmp_path_factory.mktemp("gen") / "tiny.safetensors")
    return str(st)


@pytest.fixture()
def photo(tmp_path):
    """A non-square RGBA photo: the CLI must accept it, crop and resize it."""
    rng = np.random.default_rng(0)
    arr = (rng.random((30, 40, 4)) * 255).astype(np.uint8)
    arr[..., 3] = 255
    p = tmp_path / "photo.png"
    Image.fromarray(arr, "RGBA").save(p)
    return p


def _run(args):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def test_project_writes_every_output(gen_path, photo, tmp_path):
    out = tmp_path / "out"
    r = _run(["project", str(photo), "-o", str(out), "--generator", gen_path, "--segments", "2", "--steps", "3",
              "--loss", "l2", "--snapshots", "2", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert "centre-cropped" in r.output and "LPIPS" in r.output
    for name in OUTPUTS:
        assert (out / name).is_file(), name
    m = json.loads((out / "metrics.json").read_text())
    assert {"lpips", "l2", "seconds", "steps"} <= set(m) and m["steps"] == 3
    proj = Projection.load(out)
    assert proj.num_segments == 2 and proj.space == "w+" and proj.generator == gen_path
    assert proj.config["steps"] == 3 and proj.config["segments"] == 2
    assert proj.config["lambda_prior"] == 0.0
    assert Image.open(out / "reconstruction.png").size == (16, 16)


def test_lambda_prior_reaches_the_projector_and_is_checked(gen_path, photo, tmp_path):
    out = tmp_path / "out"
    base = ["project", str(photo), "-o", str(out), "--generator", gen_path, "--segments", "2", "--steps", "2",
            "--loss", "l2", "--snapshots", "0", "--masks", "kmeans"]
    r = _run(base + ["--lambda-prior", "1e-3"])
    assert r.exit_code == 0, r.output
    assert Projection.load(out).config["lambda_prior"] == pytest.approx(1e-3)
    r = CliRunner().invoke(main, base + ["--lambda-prior", "-1"])
    assert r.exit_code != 0 and "--lambda-prior" in r.output
    r = _run(base + ["--lambda-prior", "1e-3", "--space", "w"])
    assert r.exit_code == 0 and "no effect in w space" in r.output


def test_resume_extends_a_run_and_global_mode(gen_path, photo, tmp_path):
    out = tmp_path / "out"
    base = ["project", str(photo), "-o", str(out), "--generator", gen_path, "--loss", "l2", "--snapshots", "0"]
    assert _run(base + ["--segments", "1", "--steps", "2"]).exit_code == 0
    assert Projection.load(out).num_segments == 1
    r = _run(base + ["--segments", "1", "--steps", "4", "--resume"])
    assert r.exit_code == 0, r.output
    assert "resuming" in r.output and "at step 2 of 4" in r.output
    assert json.loads((out / "metrics.json").read_text())["steps"] == 4


def test_user_masks_and_static_mask(gen_path, photo, tmp_path):
    masks = tmp_path / "masks"
    masks.mkdir()
    top = np.zeros((16, 16), np.uint8)
    top[:8] = 255
    Image.fromarray(top).save(masks / "a.png")
    Image.fromarray(255 - top).save(masks / "b.png")
    sx = np.zeros((16, 16), np.uint8)
    sx[:, :4] = 255
    Image.fromarray(sx).save(tmp_path / "static.png")
    out = tmp_path / "out"
    r = _run(["project", str(photo), "-o", str(out), "--generator", gen_path, "--masks", str(masks),
              "--static-mask", str(tmp_path / "static.png"), "--steps", "2", "--loss", "l2", "--snapshots", "0"])
    assert r.exit_code == 0, r.output
    proj = Projection.load(out)
    assert proj.num_segments == 2 and proj.mask_source == "fixed" and proj.static_mask is not None
    recon = np.asarray(Image.open(out / "reconstruction.png"))
    target = np.asarray(Image.open(out / "target.png"))
    assert (recon[:, :4] == target[:, :4]).all()  # Eq. 3: kept pixels are the input


def test_bad_inputs_give_clear_errors(gen_path, tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    r = CliRunner().invoke(main, ["project", str(empty), "-o", str(tmp_path / "o"), "--generator", gen_path])
    assert r.exit_code != 0 and "empty" in r.output
    text = tmp_path / "notes.png"
    text.write_text("hello")
    r = CliRunner().invoke(main, ["project", str(text), "-o", str(tmp_path / "o"), "--generator", gen_path])
    assert r.exit_code != 0 and "Pillow" in r.output
    r = CliRunner().invoke(main, ["project", str(text), "-o", str(tmp_path / "o"), "--space", "q",
                                  "--generator", gen_path])
    assert r.exit_code != 0


def test_demo_command_on_a_tiny_generator(gen_path, tmp_path):
    pytest.importorskip("skimage", reason="the astronaut demo photo ships with scikit-image (extra 'examples')")
    out = tmp_path / "demo"
    r = _run(["demo", "-o", str(out), "--generator", gen_path, "--steps", "2", "--segments", "2"])
    assert r.exit_code == 0, r.output
    assert str(out / "comparison.png") in r.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["photo"] == "astronaut" and m["global"]["segments"] == 1 and m["chunky"]["segments"] == 2
    assert m["global"]["steps"] == m["chunky"]["steps"] == 2
    for sub in ("global", "chunky"):
        assert (out / sub / "projection.safetensors").is_file()
