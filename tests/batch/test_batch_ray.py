"""The batch on a local Ray cluster with two CPU workers (the `cluster` extra, installed by `make`)."""
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from chunkygan.batch import DONE, project_many, read_summary
from chunkygan.cli import main
from chunkygan.project.io import Projection

from batch_photos import make_photos

if os.environ.get("CI"):
    import ray  # installed by `make` (requirements/cluster.txt): never skipped in CI
else:
    ray = pytest.importorskip("ray", reason="needs the cluster extra: pip install -r requirements/cluster.txt")

NAMES = [f"p{i}.png" for i in range(6)]


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local Ray with 2 CPUs for the module: project_many(ray_address="local") joins it."""
    if ray.is_initialized():  # left running by another module: start our own 2-CPU one
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})
    yield
    ray.shutdown()


def test_two_ray_workers_give_the_same_results_as_one_process(tmp_path, gen_path, config, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative paths: the workers get absolute ones, the summary keeps these
    photos = make_photos(Path("in"), NAMES[:4])
    Path("in/bad.png").write_text("not an image")
    local = list(project_many(["in"], "local", config, generator=gen_path, device="cpu"))
    on_ray = list(project_many(["in"], "ray", config, generator=gen_path, ray_address="local"))
    assert len({r.worker for r in on_ray if r.worker}) == 2  # both actors took images
    assert sorted(str(r.input) for r in on_ray) == sorted(str(r.input) for r in local)
    rows_local, rows_ray = read_summary("local"), read_summary("ray")
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(rows_ray) == strip(rows_local)  # bitwise-equal metrics: one torch thread per worker
    assert rows_ray[0]["input"] == "in/bad.png" and "not an image format" in rows_ray[0]["error"]
    for p in photos:
        a, b = Projection.load(Path("local") / p.stem), Projection.load(Path("ray") / p.stem)
        assert (a.codes == b.codes).all() and (a.masks == b.masks).all()
    # the CLI on Ray: a rerun with one more photo projects only that one
    make_photos(Path("in"), ["new.png"], seed=3)
    r = CliRunner().invoke(main, ["project", "in", "-o", "ray", "--generator", gen_path, "--segments", "2", "--steps",
                                  "4", "--loss", "l2", "--masks", "kmeans", "--snapshots", "0", "--ray", "local"])
    assert r.exit_code == 1 and "1 projected, 4 finished earlier (skipped), 1 failed" in r.output, r.output
    assert (Path("ray") / "new" / DONE).is_file() and len(read_summary("ray")) == 6


def test_a_killed_worker_loses_only_its_images(tmp_path, gen_path, config, caplog):
    make_photos(tmp_path / "in", NAMES)
    seen, killed = [], []
    # two images per actor call (and per generator call): 3 groups for 2 actors
    for r in project_many([str(tmp_path / "in")], tmp_path / "out", config, generator=gen_path, ray_address="local",
                          batch_size=2):
        seen.append(r.input.name)
        if not killed:  # the actor that just reported has already been handed the third group: kill it mid-way
            ray.kill(ray.get_actor(r.worker), no_restart=True)
            killed.append(r.worker)
    assert sorted(seen) == sorted(NAMES) and len(seen) == len(NAMES)  # every image exactly once
    assert "a Ray worker died while projecting" in caplog.text  # its group was taken away and redone
    rows = read_summary(tmp_path / "out")
    assert [r["input"] for r in rows] == [str(tmp_path / "in" / n) for n in NAMES]
    assert all(r["status"] == "ok" for r in rows)
    assert all((tmp_path / "out" / n[:-4] / DONE).is_file() for n in NAMES)


def test_ray_workers_tune_each_image_like_one_process(tmp_path, gen_path, config):
    """--ray with --pti: the actors run the same per-image tuning; the deltas equal the in-process ones."""
    import torch

    from chunkygan.generators import load_generator
    from chunkygan.project.pti import DELTA_FILE, PTIConfig, load_tuned_projection

    make_photos(tmp_path / "in", NAMES[:1])
    pti = PTIConfig(steps=2, lr=1e-3)
    local = list(project_many([str(tmp_path / "in")], tmp_path / "local", config, generator=gen_path, device="cpu",
                              pti=pti))
    on_ray = list(project_many([str(tmp_path / "in")], tmp_path / "ray", config, generator=gen_path,
                               ray_address="local", workers=1, pti=pti))
    assert [r.status for r in local + on_ray] == ["ok"] * 2
    G = load_generator(gen_path)
    for n in NAMES[:1]:
        folder = tmp_path / "ray" / n[:-4]
        assert (folder / DELTA_FILE).is_file() and (folder / DONE).is_file()
        (_, a), (_, b) = load_tuned_projection(tmp_path / "local" / n[:-4], G), load_tuned_projection(folder, G)
        assert all(torch.equal(a.tensors[0][k], b.tensors[0][k]) for k in a.tensors[0])
