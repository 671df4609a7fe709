"""`chunkygan segments sample|train --labels|evaluate`: the hand-labelling workflow end to end on a tiny generator."""
import json

import numpy as np
import torch
from click.testing import CliRunner
from PIL import Image

from gs_tiny import tiny_sg2

from chunkygan.cli import main
from chunkygan.generators.checkpoints import save_generator
from chunkygan.segments.head import load_head


def test_sample_paint_train_refuse(tmp_path):
    G = tiny_sg2()
    gen, _ = save_generator(G, tmp_path / "tiny")
    other, _ = save_generator(tiny_sg2(seed=3), tmp_path / "other")
    r = CliRunner().invoke(main, ["segments", "sample", "--generator", str(gen), "-n", "6", "--no-auto",
                                  "-o", str(tmp_path / "s")])
    assert r.exit_code == 0, r.output
    info = json.loads((tmp_path / "s" / "samples.json").read_text())
    assert len(info["labels"]) == 6 and (tmp_path / "s" / "sample_005.png").exists()
    # "paint" the labels: top half hair (6), bottom-left skin (1), bottom-right background (0)
    lab = np.zeros((16, 16), np.uint8)
    lab[:8] = 6
    lab[8:, :8] = 1
    for name in info["labels"]:
        Image.fromarray(lab, "L").save(tmp_path / "s" / name)
    r = CliRunner().invoke(main, ["segments", "train", "--generator", str(gen), "--labels", str(tmp_path / "s"),
                                  "--steps", "40", "-o", str(tmp_path / "head")])
    assert r.exit_code == 0, r.output
    head, meta = load_head(tmp_path / "head.safetensors", G)
    assert meta["names"] == ["background", "skin", "hair"]  # classes nobody painted are merged away
    assert meta["labels"].startswith("folder:") and meta["seeds"] == list(range(6))
    # a head for another generator is refused with a message that says what to do
    r = CliRunner().invoke(main, ["segments", "evaluate", str(tmp_path / "head.safetensors"), "--generator", str(other)])
    assert r.exit_code != 0 and "segments train" in r.output
    # painted labels outside the class range are refused
    Image.fromarray(np.full((16, 16), 9, np.uint8), "L").save(tmp_path / "s" / info["labels"][0])
    r = CliRunner().invoke(main, ["segments", "train", "--generator", str(gen), "--labels", str(tmp_path / "s"),
                                  "--steps", "5", "-o", str(tmp_path / "head2")])
    assert r.exit_code != 0 and "class indices" in r.output


def test_project_auto_uses_the_segment_head(tmp_path):
    """`chunkygan project --auto --segment-head`: K from the head, X^S saved, Fig. 3 strip, resume, refusal."""
    from chunkygan.imageio import save_image
    from chunkygan.project.io import Projection
    from chunkygan.segments.head import save_head
    from chunkygan.segments.train import auto_label, train_segment_head

    from gs_tiny import colour_labeller

    G = tiny_sg2()
    gen, _ = save_generator(G, tmp_path / "tiny")
    other, _ = save_generator(tiny_sg2(seed=4), tmp_path / "other")
    ts = auto_label(G, 6, 0, 16, labeller=colour_labeller, names=("r", "g", "b"))
    head, meta = train_segment_head(G, training_set=ts, steps=20, min_share=0.0, hidden=8, hidden2=8)
    save_head(head, tmp_path / "head", meta)
    with torch.no_grad():
        save_image(G(torch.randn(1, 16, generator=torch.Generator().manual_seed(1))), tmp_path / "t.png")
    args = [str(tmp_path / "t.png"), "-o", str(tmp_path / "out"), "--generator", str(gen), "--auto", "--segment-head",
            str(tmp_path / "head.safetensors"), "--loss", "l2", "--snapshots", "0"]
    r = CliRunner().invoke(main, ["project", *args, "--steps", "6"])
    assert r.exit_code == 0, r.output
    proj = Projection.load(tmp_path / "out" / "projection.safetensors")
    assert proj.num_segments == 3 and proj.mask_source == "generator" and "latent" in proj.mask_params
    assert (tmp_path / "out" / "progression_segments.png").exists()
    r = CliRunner().invoke(main, ["project", *args, "--steps", "8", "--resume"])
    assert r.exit_code == 0 and "resuming" in r.output, r.output
    assert Projection.load(tmp_path / "out" / "projection.safetensors").step == 8
    r = CliRunner().invoke(main, ["project", str(tmp_path / "t.png"), "-o", str(tmp_path / "o2"), "--generator",
                                  str(other), "--auto", "--segment-head", str(tmp_path / "head.safetensors")])
    assert r.exit_code != 0 and "segments train" in r.output


def test_edit_move_segments_moves_the_segment_latent(tmp_path, monkeypatch):
    """`chunkygan edit --move-segments`: X^S moves with the codes and the masks are re-rendered (Sec. 4.2)."""
    from chunkygan.imageio import save_image
    from chunkygan.project.io import Projection
    from chunkygan.segments.head import save_head
    from chunkygan.segments.train import auto_label, train_segment_head

    from gs_tiny import colour_labeller

    monkeypatch.setenv("CHUNKYGAN_CACHE", str(tmp_path / "cache"))
    G = tiny_sg2()
    gen, _ = save_generator(G, tmp_path / "tiny")
    ts = auto_label(G, 6, 0, 16, labeller=colour_labeller, names=("r", "g", "b"))
    head, meta = train_segment_head(G, training_set=ts, steps=20, min_share=0.0, hidden=8, hidden2=8)
    save_head(head, tmp_path / "head", meta)
    with torch.no_grad():
        save_image(G(torch.randn(1, 16, generator=torch.Generator().manual_seed(1))), tmp_path / "t.png")
    r = CliRunner().invoke(main, ["project", str(tmp_path / "t.png"), "-o", str(tmp_path / "out"), "--generator",
                                  str(gen), "--auto", "--segment-head", str(tmp_path / "head.safetensors"),
                                  "--loss", "l2", "--snapshots", "0", "--steps", "4"])
    assert r.exit_code == 0, r.output
    src = Projection.load(tmp_path / "out" / "projection.safetensors")
    common = ["edit", str(tmp_path / "out"), "--direction", "sefa_0=3", "--segment-head",
              str(tmp_path / "head.safetensors")]
    r = CliRunner().invoke(main, [*common, "--move-segments", "-o", str(tmp_path / "moved")])
    assert r.exit_code == 0, r.output
    moved = Projection.load(tmp_path / "moved" / "projection.safetensors")
    assert not torch.equal(moved.mask_params["latent"], src.mask_params["latent"])
    assert (moved.masks - src.masks).abs().max() > 1e-4
    assert torch.allclose(moved.masks.sum(0), torch.ones_like(moved.masks[0]), atol=1e-5)
    r = CliRunner().invoke(main, [*common, "-o", str(tmp_path / "auto")])  # global edit of a G^S projection: moves
    assert r.exit_code == 0, r.output
    auto = Projection.load(tmp_path / "auto" / "projection.safetensors")
    assert torch.equal(auto.mask_params["latent"], moved.mask_params["latent"])
    for extra in (["--fixed-segments"], ["--segments", "0"]):  # asked to keep them, or a local edit: masks stay
        r = CliRunner().invoke(main, [*common, *extra, "-o", str(tmp_path / "still")])
        assert r.exit_code == 0, r.output
        still = Projection.load(tmp_path / "still" / "projection.safetensors")
        assert torch.equal(still.masks, src.masks) and torch.equal(still.mask_params["latent"], src.mask_params["latent"])
    # a projection whose masks do not come from G^S is refused with the reason
    r = CliRunner().invoke(main, ["project", str(tmp_path / "t.png"), "-o", str(tmp_path / "free"), "--generator",
                                  str(gen), "--segments", "2", "--loss", "l2", "--snapshots", "0", "--steps", "2"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["edit", str(tmp_path / "free"), "--direction", "sefa_0=1", "--move-segments",
                                  "-o", str(tmp_path / "bad")])
    assert r.exit_code != 0 and "segment generator" in r.output
