"""`chunkygan project IMAGE... --pti N`: each image is tuned after its projection, its delta saved beside it."""
import json

import pytest
import torch
from click.testing import CliRunner

from chunkygan.batch import DONE, project_many
from chunkygan.cli import main
from chunkygan.generators import load_generator
from chunkygan.imageio import save_image
from chunkygan.project.pti import DELTA_FILE, PTIConfig, load_tuned_projection, tuned_composite

from batch_photos import make_photos

PTI = PTIConfig(steps=3, lr=1e-3)


@pytest.fixture()
def photos(tmp_path):
    return make_photos(tmp_path / "in", ["a.png", "b.png", "c.png"])


def test_batched_projection_then_tuning_per_image_reloads_bit_identically(photos, gen_path, config, tmp_path):
    out = tmp_path / "out"
    results = list(project_many([str(tmp_path / "in")], out, config, generator=gen_path, device="cpu",
                                batch_size=2, pti=PTI))
    assert [r.status for r in results] == ["ok"] * 3
    G = load_generator(gen_path)
    for r in results:
        assert (r.output / DELTA_FILE).is_file() and (r.output / DONE).is_file()
        proj, delta = load_tuned_projection(r.output, G)  # the existing loader: checked against G and the pivots
        assert delta is not None and proj.config["pti"]["mode"] == "shared"
        done = json.loads((r.output / DONE).read_text())["metrics"]
        assert done["pti"]["steps"] == 3 and done["pti"] == json.loads((r.output / "metrics.json").read_text())["pti"]
        # the reloaded delta renders the tuned reconstruction bit for bit
        again = save_image(tuned_composite(G, proj, delta).cpu(), tmp_path / "again.png")
        assert again.read_bytes() == (r.output / "reconstruction_pti.png").read_bytes()
    # one delta per image: the deltas differ
    d = [load_tuned_projection(r.output, G)[1].tensors[0] for r in results]
    assert any(not torch.equal(d[0][n], d[1][n]) for n in d[0])


def test_rerun_skips_tuned_images_and_done_json_comes_after_the_delta(photos, gen_path, config, tmp_path,
                                                                     monkeypatch):
    import chunkygan.batch.tuning as tuning

    out = tmp_path / "out"
    real = tuning.tune_into

    def fail_on_b(folder, *a, **kw):  # the tuning of b dies: b must not look finished
        if folder.name == "b":
            raise OSError("disk full while tuning b")
        return real(folder, *a, **kw)

    monkeypatch.setattr(tuning, "tune_into", fail_on_b)
    first = {r.input.name: r for r in project_many([str(tmp_path / "in")], out, config, generator=gen_path,
                                                    device="cpu", pti=PTI)}
    assert first["b.png"].status == "failed" and "disk full" in first["b.png"].error
    assert not (out / "b" / DONE).exists() and (out / "a" / DONE).is_file()
    monkeypatch.setattr(tuning, "tune_into", real)
    tuned = []
    monkeypatch.setattr(tuning, "tune_into", lambda folder, *a, **kw: tuned.append(folder.name) or real(folder, *a, **kw))
    second = {r.input.name: r.status for r in project_many([str(tmp_path / "in")], out, config, generator=gen_path,
                                                            device="cpu", pti=PTI)}
    assert second == {"a.png": "skipped", "b.png": "ok", "c.png": "skipped"} and tuned == ["b"]
    # without PTI the settings differ: redone, and the old deltas and tuned reconstructions go
    again = list(project_many([str(tmp_path / "in")], out, config, generator=gen_path, device="cpu"))
    assert {r.status for r in again} == {"ok"} and not any((out / n / DELTA_FILE).exists() for n in "abc")
    load_tuned_projection(out / "a")  # an untuned projection without a stale delta: loads


def test_cli_batch_with_pti(photos, gen_path, tmp_path):
    out = tmp_path / "cli"
    args = ["project", str(tmp_path / "in"), "-o", str(out), "--generator", gen_path, "--steps", "2", "--loss", "l2",
            "--segments", "2", "--snapshots", "0", "--device", "cpu", "--pti", "2", "--pti-mode", "per-segment"]
    r = CliRunner().invoke(main, args, catch_exceptions=False)
    assert r.exit_code == 0 and "then PTI (per-segment, up to 2 steps" in r.output and "3 projected" in r.output, r.output
    for n in "abc":
        _, delta = load_tuned_projection(out / n, load_generator(gen_path))
        assert delta.mode == "per-segment" and delta.num_deltas == 2
    r = CliRunner().invoke(main, args, catch_exceptions=False)
    assert "0 projected, 3 finished earlier" in r.output, r.output
