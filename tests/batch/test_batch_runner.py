"""project_many in one process: mixed inputs, kill + rerun, the summary, several images per generator call."""
import dataclasses
import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from chunkygan.batch import DONE, project_many, read_summary
from chunkygan.project.io import Projection
from chunkygan.project.projector import ProjectionConfig


def stable(rows):
    """Summary rows without the wall-clock time (the only field that differs between runs)."""
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def test_mixed_inputs_finish_the_good_ones_and_list_the_bad(mixed, gen_path, config, tmp_path):
    out = tmp_path / "out"
    results = list(project_many([str(mixed)], out, config, generator=gen_path, device="cpu"))
    by_name = {r.input.name: r for r in results}
    assert sorted(by_name) == ["a.png", "b.jpg", "broken.png", "c.png", "notes.png"]
    for n in ("a.png", "b.jpg", "c.png"):
        r = by_name[n]
        assert r.status == "ok" and r.error is None and r.metrics["steps"] == 4
        assert (r.output / DONE).is_file() and (r.output / "reconstruction.png").is_file()
        assert Projection.load(r.output).num_segments == 2
    assert "damaged or truncated" in by_name["broken.png"].error
    assert "not an image format" in by_name["notes.png"].error
    assert not (out / "broken" / DONE).exists() and not (out / "notes" / DONE).exists()
    rows = read_summary(out)
    assert [r["input"] for r in rows] == [str(mixed / n) for n in sorted(by_name)]  # input order
    assert [r["status"] for r in rows] == ["ok", "ok", "failed", "ok", "failed"]
    assert rows[0]["output"] == "a" and rows[0]["lpips"] == by_name["a.png"].metrics["lpips"]
    csv_lines = (out / "results.csv").read_text().splitlines()
    assert csv_lines[0].startswith("input,output,status,error,") and len(csv_lines) == 6


KILLER = textwrap.dedent("""
    import os, signal, sys
    import torch
    torch.set_num_threads(1)
    from chunkygan.batch import project_many
    from chunkygan.project.projector import ProjectionConfig

    def die_in_c(paths, infos):  # SIGKILL (no clean-up at all) in the middle of the 4th image, c.png
        if paths[0].name == "c.png" and infos[0].step == 2:
            os.kill(os.getpid(), signal.SIGKILL)

    cfg = ProjectionConfig(method="chunky-w+", segments=2, steps=4, loss="l2", masks="kmeans")
    for r in project_many([sys.argv[1]], sys.argv[2], cfg, generator=sys.argv[3], device="cpu", callback=die_in_c):
        print(r.input.name, r.status, flush=True)
""")


def test_kill_and_rerun_redoes_only_unfinished_images(mixed, gen_path, config, tmp_path):
    out = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-c", KILLER, str(mixed), str(out), gen_path], capture_output=True,
                       text=True, env=env, timeout=300)
    assert p.returncode == -9, p.stderr[-2000:]
    assert p.stdout.split() == ["a.png", "ok", "b.jpg", "ok", "broken.png", "failed"]
    assert not (out / "results.jsonl").exists()
    done_a = (out / "a" / DONE).stat().st_mtime_ns
    # a folder left half-written (outputs but no done.json) counts as unfinished
    (out / "c").mkdir(exist_ok=True)
    (out / "c" / "metrics.json").write_text("{}")

    rerun = {r.input.name: r.status for r in project_many([str(mixed)], out, config, generator=gen_path, device="cpu")}
    assert rerun == {"a.png": "skipped", "b.jpg": "skipped", "broken.png": "failed", "c.png": "ok",
                     "notes.png": "failed"}
    assert (out / "a" / DONE).stat().st_mtime_ns == done_a  # finished images are not touched

    clean = tmp_path / "clean"
    list(project_many([str(mixed)], clean, config, generator=gen_path, device="cpu"))
    assert stable(read_summary(out)) == stable(read_summary(clean))
    assert (out / "results.csv").read_text().count("\n") == 6

    # other settings make a finished image unfinished again
    again = list(project_many([str(mixed / "a.png")], out, dataclasses.replace(config, steps=5),
                              generator=gen_path, device="cpu"))
    assert again[0].status == "ok" and again[0].metrics["steps"] == 5


def test_several_images_per_generator_call_match_one_at_a_time(mixed, gen_path, config, tmp_path):
    one = {r.input.name: r for r in project_many([str(mixed / "*.png")], tmp_path / "b1", config, generator=gen_path,
                                                 device="cpu")}
    calls = []

    def spy(paths, infos):
        calls.append(len(paths))

    four = {r.input.name: r for r in project_many([str(mixed / "*.png")], tmp_path / "b4", config, generator=gen_path,
                                                  device="cpu", batch_size=4, callback=spy)}
    # a.png, broken.png, c.png, notes.png in one group: the two readable ones step together, 4 steps
    assert calls == [2] * 4
    assert {n: r.status for n, r in four.items()} == {n: r.status for n, r in one.items()}
    for n in ("a.png", "c.png"):
        assert four[n].metrics["l2"] == pytest.approx(one[n].metrics["l2"], rel=1e-4, abs=1e-6)
        a, b = Projection.load(one[n].output), Projection.load(four[n].output)
        torch.testing.assert_close(a.codes, b.codes, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(a.masks, b.masks, rtol=1e-4, atol=1e-5)
    assert json.loads((tmp_path / "b4" / "a" / "metrics.json").read_text())["steps"] == 4


def _colour_labeller(image, size):
    """3 classes: the largest of R, G, B per pixel (a synthetic labeller for a tiny head)."""
    im = torch.nn.functional.interpolate(image.float(), size=(size, size), mode="area")[0]
    return torch.nn.functional.one_hot(im.argmax(0), 3).permute(2, 0, 1).float().unsqueeze(1)


def test_segment_generator_masks_per_image_in_a_batch(mixed, tmp_path):
    """mask_source_factory= (the paper's G^S mode): a fresh G^S source per image, two images per call."""
    from chunkygan.segments.gs import auto_mask_source
    from chunkygan.segments.head import save_head
    from chunkygan.segments.train import auto_label, train_segment_head

    from tiny_generators import tiny_sg2

    G = tiny_sg2()
    ts = auto_label(G, 8, seed=0, resolution=16, labeller=_colour_labeller, names=("r", "g", "b"))
    head, meta = train_segment_head(G, training_set=ts, steps=20, min_share=0.0, hidden=16, hidden2=8)
    head_path = save_head(head, tmp_path / "head", meta)[0]
    cfg = ProjectionConfig(method="chunky-w+", segments=3, steps=3, loss="l2")
    results = list(project_many([str(mixed / "a.png"), str(mixed / "c.png")], tmp_path / "out", cfg, generator=G,
                                device="cpu", batch_size=2, mask_source_factory=lambda: auto_mask_source(G, head_path)))
    assert [r.status for r in results] == ["ok", "ok"]
    for r in results:
        proj = Projection.load(r.output)
        assert proj.mask_source == "generator" and proj.num_segments == 3 and "latent" in proj.mask_params
    # the G^S run is a different setting from the k-means one: not skipped by a k-means rerun
    again = list(project_many([str(mixed / "a.png")], tmp_path / "out", cfg, generator=G, device="cpu"))
    assert again[0].status == "ok"
