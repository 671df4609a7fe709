"""The default mask mode of `chunkygan project`: G^S (the paper's mode) for a face when a segment head is at
hand, k-means free masks otherwise; `--masks NAME` picks a mode by name and `--masks DIR` stays user masks."""
import pytest
import torch
from click.testing import CliRunner

from gs_tiny import colour_labeller, tiny_sg2

from chunkygan.cli import main
from chunkygan.face.deps import missing
from chunkygan.generators import load_generator
from chunkygan.generators.checkpoints import save_generator
from chunkygan.imageio import save_image
from chunkygan.pipelines import auto
from chunkygan.project.io import Projection
from chunkygan.segments.gs import default_head_path
from chunkygan.segments.head import save_head
from chunkygan.segments.train import auto_label, train_segment_head


@pytest.fixture()
def tiny_with_default_head(tmp_path, monkeypatch):
    """A tiny generator checkpoint whose cached default head (3 colour classes) is in a private cache."""
    monkeypatch.setenv("CHUNKYGAN_CACHE", str(tmp_path / "cache"))
    gen, _ = save_generator(tiny_sg2(), tmp_path / "tiny")
    G = load_generator(gen)
    ts = auto_label(G, 6, 0, 16, labeller=colour_labeller, names=("r", "g", "b"))
    head, meta = train_segment_head(G, training_set=ts, steps=20, min_share=0.0, hidden=8, hidden2=8)
    save_head(head, default_head_path(G), meta)
    with torch.no_grad():
        save_image(G(torch.randn(1, 16, generator=torch.Generator().manual_seed(1))), tmp_path / "t.png")
    return G, str(gen), tmp_path / "t.png"


def test_choose_masks_face_and_head_give_gs_else_kmeans(tiny_with_default_head, monkeypatch):
    G, _, _ = tiny_with_default_head
    img = torch.zeros(1, 3, 16, 16)
    c = auto.choose_masks(G, img, face_detector=lambda im: True)
    assert c.mode == "gs" and c.head == default_head_path(G) and "face" in c.reason
    assert auto.choose_masks(G, img, face_detector=lambda im: False).mode == "kmeans"
    none = auto.choose_masks(G, img, face_detector=lambda im: None)  # no detector installed
    assert none.mode == "kmeans" and "detector" in none.reason
    from gs_tiny import tiny_dcgan

    z_only = auto.choose_masks(tiny_dcgan(), img, face_detector=lambda im: True)  # Z-only generators: k-means
    assert z_only.mode == "kmeans" and "W+" in z_only.reason
    # no head: k-means, whatever the image shows (only built-in generators train one on first use) ...
    default_head_path(G).unlink()
    c = auto.choose_masks(G, img, face_detector=lambda im: True)
    assert c.mode == "kmeans" and "segments train" in c.reason
    # ... and only when the face extra can label samples
    monkeypatch.setattr(auto, "is_builtin", lambda G: True)
    monkeypatch.setattr(auto, "face_extra_can_train", lambda: "")
    c = auto.choose_masks(G, img, face_detector=lambda im: True)
    assert c.mode == "gs" and c.head is None and "first use" in c.reason
    monkeypatch.setattr(auto, "face_extra_can_train", lambda: "mediapipe is not installed")
    c = auto.choose_masks(G, img, face_detector=lambda im: True)
    assert c.mode == "kmeans" and "mediapipe" in c.reason


def test_project_default_is_gs_for_a_face_and_kmeans_otherwise(tiny_with_default_head, tmp_path, monkeypatch):
    _, gen, image = tiny_with_default_head
    base = [str(image), "--generator", gen, "--loss", "l2", "--snapshots", "0", "--steps", "3"]
    monkeypatch.setattr(auto, "detect_face", lambda im: True)
    r = CliRunner().invoke(main, ["project", *base, "-o", str(tmp_path / "face")])
    assert r.exit_code == 0, r.output
    proj = Projection.load(tmp_path / "face" / "projection.safetensors")
    assert proj.mask_source == "generator" and proj.num_segments == 3 and "G^S" in r.output
    assert (tmp_path / "face" / "progression_segments.png").exists()
    # `--masks kmeans` (or free / grid) picks the free masks by name, with K = 4 by default
    r = CliRunner().invoke(main, ["project", *base, "--masks", "kmeans", "-o", str(tmp_path / "named")])
    assert r.exit_code == 0, r.output
    named = Projection.load(tmp_path / "named" / "projection.safetensors")
    assert named.mask_source == "logits" and named.num_segments == 4 and named.config["mask_kind"] == "kmeans"
    assert "fragmentation" in named.metrics
    monkeypatch.setattr(auto, "detect_face", lambda im: False)
    r = CliRunner().invoke(main, ["project", *base, "-o", str(tmp_path / "noface")])
    assert r.exit_code == 0, r.output
    proj = Projection.load(tmp_path / "noface" / "projection.safetensors")
    assert proj.mask_source == "logits" and proj.num_segments == 4 and "no face" in r.output
    r = CliRunner().invoke(main, ["project", *base, "--masks", "nonsense", "-o", str(tmp_path / "bad")])
    assert r.exit_code != 0 and "kmeans" in r.output
    # a K the head cannot make is refused in one line, never silently replaced by the head's K
    r = CliRunner().invoke(main, ["project", *base, "--masks", "gs", "--segments", "4", "-o", str(tmp_path / "k4")])
    assert r.exit_code != 0 and "K = 3" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "k4" / "projection.safetensors").exists()


NEED_SCRFD = missing(("onnxruntime",), ("scrfd-500m-kps",))


@pytest.mark.skipif(bool(NEED_SCRFD), reason=NEED_SCRFD)
def test_detect_face_on_a_photo_and_on_noise(photos):
    from chunkygan.pipelines.demo import DEMO_PHOTOS

    assert auto.detect_face(DEMO_PHOTOS["astronaut"].load()) is True
    assert auto.detect_face(DEMO_PHOTOS["grace_hopper"].load()) is True  # the face fills this crop
    assert auto.detect_face(photos["grace_hopper"]) is True
    noise = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert auto.detect_face(noise) is False
