"""Pivotal tuning per segment (project/pti.py) on a tiny random StyleGAN2: storage, refusal, early stop,
locality, local edits, and the --pti / edit commands."""
import json

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from chunkygan.edit.apply import edit_projection
from chunkygan.edit.directions import Direction
from chunkygan.project.io import Projection
from chunkygan.project.pti import (DELTA_FILE, DeltaMismatchError, PivotalTuner, PTIConfig, WeightDelta, attach,
                                   load_tuned_projection, render_with, tune, tuned_composite, tuned_edited_composite)

from tiny_generators import tiny_sg2

R = 16


@pytest.fixture(scope="module")
def G():
    return tiny_sg2()


def _projection(G, K=2, seed=0) -> Projection:
    """K random W+ pivots, hard left/right masks (zeros outside each segment), a target image; L2 loss."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        codes = G.mapping(torch.randn(K, G.z_dim, generator=g))
        target = (G.synthesis(G.mapping(torch.randn(1, G.z_dim, generator=g))) * 0.8).clamp(-1, 1)
    masks = torch.zeros(K, 1, R, R)
    cols = torch.arange(R).view(1, R).expand(R, R)
    for k in range(K):
        masks[k, 0] = ((cols * K // R) == k).float()
    return Projection(codes=codes, space="w+", masks=masks, target=target, generator="tiny-sg2",
                      config={"loss": "l2", "loss_resolution": None, "l2_weight": 0.0, "noise_mode": "const"})


@pytest.fixture(scope="module")
def proj(G):
    return _projection(G)


FAST = dict(steps=4, lr=1e-2)


@pytest.mark.parametrize("mode", ["shared", "per-segment"])
def test_save_load_round_trip_is_bit_identical(G, proj, mode, tmp_path):
    before = {k: v.clone() for k, v in G.state_dict().items()}
    delta = tune(G, proj, mode=mode, **FAST)
    assert all(torch.equal(before[k], v) for k, v in G.state_dict().items()), "the base generator must not change"
    assert delta.num_deltas == (1 if mode == "shared" else 2)
    assert delta.meta["metrics"]["dtype"] == "float16"
    assert all(t.dtype == torch.float16 for d in delta.tensors for t in d.values())
    img = tuned_composite(G, proj, delta)
    assert not torch.equal(img, proj.composite(G)), "tuning must change the reconstruction"
    delta.save(tmp_path / DELTA_FILE)
    loaded = WeightDelta.load(tmp_path / DELTA_FILE, G, proj.num_segments)
    assert torch.equal(tuned_composite(G, proj, loaded), img)
    # float32 storage (when float16 would move a pixel by more than the tolerance) round-trips exactly too
    d32 = tune(G, proj, mode=mode, fp16_tolerance=0.0, **FAST)
    assert d32.meta["metrics"]["dtype"] == "float32"
    d32.save(tmp_path / "d32.safetensors")
    assert torch.equal(tuned_composite(G, proj, WeightDelta.load(tmp_path / "d32.safetensors", G)),
                       tuned_composite(G, proj, d32))


def test_tuning_lowers_the_reconstruction_loss(G, proj):
    delta = tune(G, proj, steps=15, lr=1e-2)
    target = proj.target
    mse = lambda img: float((img - target).pow(2).mean())  # noqa: E731
    assert mse(tuned_composite(G, proj, delta)) < 0.9 * mse(proj.composite(G))


def test_delta_is_refused_for_another_generator(G, proj, tmp_path):
    delta = tune(G, proj, steps=1, lr=1e-3)
    delta.save(tmp_path / DELTA_FILE)
    other = tiny_sg2(seed=5)
    with pytest.raises(DeltaMismatchError) as e:
        WeightDelta.load(tmp_path / DELTA_FILE, other)
    msg = str(e.value)
    assert delta.fingerprint in msg and "tiny-sg2" in msg and "weights" in msg
    from chunkygan.project.pti import generator_fingerprint

    assert generator_fingerprint(other) in msg
    per = tune(G, proj, steps=1, lr=1e-3, mode="per-segment")
    with pytest.raises(DeltaMismatchError, match="2 per-segment deltas"):
        per.check(G, num_segments=3)


def test_early_stop_at_the_target(G, proj):
    free = PivotalTuner(G, proj, PTIConfig(steps=12, lr=1e-2, target_lpips=0.0))  # a target makes it measure
    trace = [info.lpips for info in free]
    assert free.step_count == 12 and not free.stopped_early
    target = trace[5]
    assert target < trace[0]
    stopped = PivotalTuner(G, proj, PTIConfig(steps=12, lr=1e-2, target_lpips=target))
    infos = list(stopped)
    assert stopped.stopped_early and stopped.step_count < 12
    assert infos[-1].lpips <= target and all(i.lpips > target for i in infos[:-1])
    assert stopped.result().meta["metrics"]["stopped_early"] is True


def test_locality_term_lowers_the_change_away_from_the_pivots(G, proj):
    g = torch.Generator().manual_seed(123)
    with torch.no_grad():
        away = G.mapping(torch.randn(8, G.z_dim, generator=g))
        ref = G.synthesis(away, noise_mode="const")

    def change(locality):
        d = tune(G, proj, steps=10, lr=1e-2, locality=locality, locality_samples=2, fp16_tolerance=1.0)
        with torch.no_grad():
            return float((render_with(G, d.tensors[0], away, "w+") - ref).abs().mean())

    free, local = change(0.0), change(5.0)
    assert local < 0.8 * free, (local, free)


@pytest.mark.parametrize("mode", ["shared", "per-segment"])
def test_local_edit_of_a_tuned_projection_leaves_other_pixels_unchanged(G, proj, mode):
    delta = tune(G, proj, mode=mode, **FAST)
    direction = Direction(name="d", space="w", vector=torch.randn(G.w_dim, generator=torch.Generator().manual_seed(3)),
                          generator="tiny-sg2")
    edited = edit_projection(G, proj, [(direction, 3.0)], segments=[0])
    before, after = tuned_composite(G, proj, delta), tuned_edited_composite(G, proj, edited, delta)
    outside = (proj.masks[0:1] == 0).expand_as(after)
    assert torch.equal(after[outside], before[outside])
    assert not torch.equal(after, before)


def test_per_segment_deltas_are_separate(G, proj):
    delta = tune(G, proj, mode="per-segment", **FAST)
    name = next(iter(delta.tensors[0]))
    assert not torch.equal(delta.tensors[0][name], delta.tensors[1][name])


def test_stale_or_missing_delta_is_refused(G, proj, tmp_path):
    delta = tune(G, proj, steps=1, lr=1e-3)
    attach(proj, delta)
    proj.save(tmp_path / "projection.safetensors")
    with pytest.raises(DeltaMismatchError, match="missing"):
        load_tuned_projection(tmp_path, G)
    delta.save(tmp_path / DELTA_FILE)
    p2, d2 = load_tuned_projection(tmp_path / "projection.safetensors", G)
    assert torch.equal(tuned_composite(G, p2, d2), tuned_composite(G, proj, delta))
    other = _projection(G, seed=1)
    other.save(tmp_path / "projection.safetensors")
    with pytest.raises(DeltaMismatchError, match="other pivot codes"):
        load_tuned_projection(tmp_path, G)


# --- commands ---------------------------------------------------------------------------------------------

def test_project_pti_then_edit_the_tuned_projection(G, tmp_path):
    from chunkygan.cli import main
    from chunkygan.edit.directions import DirectionBank
    from chunkygan.generators.checkpoints import save_generator

    gen, _ = save_generator(tiny_sg2(), tmp_path / "tiny.safetensors")
    photo = tmp_path / "photo.png"
    Image.fromarray((torch.rand(R, R, 3, generator=torch.Generator().manual_seed(0)) * 255).byte().numpy()).save(photo)
    out = tmp_path / "out"
    run = lambda args: CliRunner().invoke(main, args, catch_exceptions=False)  # noqa: E731
    r = run(["project", str(photo), "-o", str(out), "--generator", str(gen), "--segments", "2", "--steps", "2",
             "--loss", "l2", "--snapshots", "0", "--device", "cpu", "--pti", "3", "--pti-lr", "1e-2",
             "--pti-mode", "per-segment"])
    assert r.exit_code == 0, r.output
    assert (out / DELTA_FILE).is_file() and (out / "reconstruction_pti.png").is_file()
    m = json.loads((out / "metrics.json").read_text())
    assert m["pti"]["steps"] == 3 and m["pti"]["lpips"] <= m["pti"]["lpips_before"] + 0.05
    proj, delta = load_tuned_projection(out, G)
    assert delta.mode == "per-segment"
    # edit: render with the tuned weights; the edited projection keeps its delta
    from chunkygan.generators import load_generator

    Gf = load_generator(str(gen))
    bank = DirectionBank.for_generator(Gf, [Direction(name="d", space="w", vector=torch.ones(G.w_dim),
                                                      generator=Gf.name)])
    bank.save(tmp_path / "bank.safetensors")
    r = run(["edit", str(out), "--direction", "d=1", "--segments", "0", "--bank", str(tmp_path / "bank.safetensors"),
             "-o", str(tmp_path / "ed"), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert "tuned projection" in r.output
    ed, ed_delta = load_tuned_projection(tmp_path / "ed", G)
    assert ed_delta is not None
    other, _ = save_generator(tiny_sg2(seed=5), tmp_path / "other.safetensors")
    r = CliRunner().invoke(main, ["edit", str(out), "--direction", "d=1", "--generator", str(other), "-o",
                                  str(tmp_path / "ed2"), "--device", "cpu"])
    assert r.exit_code != 0 and "was tuned from generator" in r.output and "Traceback" not in r.output
    # a new projection without --pti into the same folder drops the old delta
    r = run(["project", str(photo), "-o", str(out), "--generator", str(gen), "--segments", "2", "--steps", "1",
             "--loss", "l2", "--snapshots", "0", "--device", "cpu"])
    assert r.exit_code == 0 and not (out / DELTA_FILE).exists()


def test_single_image_pti_uses_the_batch_step_and_an_untuned_rerun_removes_only_its_files(tmp_path, monkeypatch):
    """`project IMAGE --pti` tunes through batch.tuning.tune_into; a rerun without --pti removes the delta and
    reconstruction_pti.png (the old code kept the png) and nothing the command does not own."""
    import chunkygan.batch.tuning as tuning
    from chunkygan.cli import main
    from chunkygan.generators.checkpoints import save_generator

    gen, _ = save_generator(tiny_sg2(), tmp_path / "tiny.safetensors")
    photo = tmp_path / "photo.png"
    Image.fromarray((torch.rand(R, R, 3, generator=torch.Generator().manual_seed(1)) * 255).byte().numpy()).save(photo)
    out = tmp_path / "out"
    base = ["project", str(photo), "-o", str(out), "--generator", str(gen), "--segments", "2", "--steps", "1",
            "--loss", "l2", "--snapshots", "0", "--device", "cpu"]
    calls = []
    real = tuning.tune_into
    monkeypatch.setattr(tuning, "tune_into", lambda folder, *a, **kw: calls.append(folder) or real(folder, *a, **kw))
    r = CliRunner().invoke(main, base + ["--pti", "2"], catch_exceptions=False)
    assert r.exit_code == 0 and calls == [out] and "PTI: LPIPS" in r.output, r.output
    assert (out / DELTA_FILE).is_file() and (out / "reconstruction_pti.png").is_file()
    assert json.loads((out / "metrics.json").read_text())["pti"]["steps"] == 2
    (out / "notes.txt").write_text("mine")  # the user's own files in the output folder
    (tmp_path / "keep.png").write_bytes((out / "reconstruction_pti.png").read_bytes())
    (out / "pti_preview.png").symlink_to(tmp_path / "keep.png")
    r = CliRunner().invoke(main, base, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert not (out / DELTA_FILE).exists() and not (out / "reconstruction_pti.png").exists()
    assert "removed" in r.output and "pti" not in json.loads((out / "metrics.json").read_text())
    assert (out / "notes.txt").read_text() == "mine" and (out / "pti_preview.png").is_symlink()
    assert (tmp_path / "keep.png").is_file() and calls == [out]
    assert load_tuned_projection(out, tiny_sg2())[1] is None  # untuned, and no stale delta to refuse


def test_edit_session_tuned_layer_round_trip(G, proj, tmp_path):
    from chunkygan.session import EditSession, SessionError

    s = EditSession(G, proj.target.clone())
    s.add_region(proj.masks[0])
    from chunkygan.edit.refine import masked_l2

    s.project_region(steps=2, loss=masked_l2)
    untuned = s.render()
    s.tune_region(steps=2, lr=1e-2)
    tuned = s.render()
    assert s.layers[0].delta is not None and not torch.equal(tuned, untuned)
    assert torch.equal(tuned[(proj.masks[0:1] == 0).expand_as(tuned)], untuned[(proj.masks[0:1] == 0).expand_as(tuned)])
    s.save(tmp_path / "session")
    assert torch.equal(EditSession.load(tmp_path / "session", G).render(), tuned)
    with pytest.raises(SessionError, match="weights"):
        EditSession.load(tmp_path / "session", tiny_sg2(seed=5))


def test_generator_without_a_synthesis_network_tunes_all_its_weights(tmp_path):
    from tiny_generators import tiny_dcgan

    D = tiny_dcgan()
    g = torch.Generator().manual_seed(0)
    proj = Projection(codes=torch.randn(2, D.z_dim, generator=g), space="z", masks=torch.full((2, 1, R, R), 0.5),
                      target=torch.rand(1, 3, R, R, generator=g) * 2 - 1, generator="tiny-dcgan",
                      config={"loss": "l2", "loss_resolution": None, "l2_weight": 0.0})
    delta = tune(D, proj, **FAST)
    assert set(delta.tensors[0]) == {n for n, _ in D.named_parameters()}
    delta.save(tmp_path / DELTA_FILE)
    assert torch.equal(tuned_composite(D, proj, WeightDelta.load(tmp_path / DELTA_FILE, D)), tuned_composite(D, proj, delta))
