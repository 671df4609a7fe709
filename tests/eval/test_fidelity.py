"""`chunkygan eval fidelity`: Table 1 / Fig. 4 files, rows recomputable from the written images, resumable."""
import json
import math

import pytest
import torch

from chunkygan.eval.fidelity import run_fidelity
from chunkygan.eval.methods import MethodSpecError, parse_method_spec, parse_method_specs
from chunkygan.eval.metrics import Metrics
from chunkygan.project.projector import ProjectionConfig
from tiny_generators import tiny_sg2

pytest.importorskip("matplotlib", reason="matplotlib missing (Fig. 4 plots): pip install 'chunkygan[examples]'")
METHODS = "w chunky-w:lambda_reg=1"


@pytest.fixture(scope="module")
def setup():
    from chunkygan.assets import AssetError, resolve

    try:
        resolve("arcface-w600k-mbf")
    except AssetError as e:
        pytest.skip(f"ArcFace weights missing: {e}")
    return tiny_sg2(), ProjectionConfig(steps=3, segments=2, loss_resolution=64), Metrics()


def _run(setup, images, out, **kw):
    G, cfg, metrics = setup
    return run_fidelity(images, out, parse_method_specs(METHODS), cfg, G=G, generator_name="tiny-sg2",
                        metrics=metrics, **kw)


def test_method_specs():
    s = parse_method_spec("chunky-w+:lambda_reg=1,segments=8")
    assert (s.method, s.options, s.space, s.chunky, s.lambda_reg) == ("chunky-w+", {"lambda_reg": 1, "segments": 8},
                                                                      "w+", True, 1.0)
    assert s.config(ProjectionConfig()).segments == 8 and s.slug == "chunky-wplus_lambda_reg-1_segments-8"
    assert [m.spec for m in parse_method_specs("w,chunky-w+:lambda_reg=1,s")] == ["w", "chunky-w+:lambda_reg=1", "s"]
    for bad in ("q+", "w:nonsense=1", "w:steps", "w w"):
        with pytest.raises(MethodSpecError):
            parse_method_specs(bad)


@pytest.fixture(scope="module")
def reference(setup, eval_images, tmp_path_factory):
    """One uninterrupted run."""
    out = tmp_path_factory.mktemp("fidelity") / "ref"
    return out, _run(setup, eval_images, out)


def test_writes_tables_plots_and_rows_recomputable_from_the_images(reference):
    out, run = reference
    assert run.projected == 6 and run.reused == 0 and not run.failed
    for name in ("results.jsonl", "table.md", "table.csv", "wins.json", "fig4_w.png"):
        assert (out / name).is_file(), name
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [(r["method"], r["image"]) for r in rows] == [(m, f"face{i}") for m in METHODS.split() for i in range(3)]
    table = (out / "table.md").read_text()
    assert "| `chunky-w:lambda_reg=1` | Ours in W reg. | 3 |" in table and "of 3 |" in table
    # recompute one row from the written images, independently of the evaluation code
    from chunkygan.imageio import load_image
    from chunkygan.losses.identity import FaceIdentity
    from chunkygan.losses.lpips import LPIPS

    row = rows[4]
    folder = out / row["folder"]
    target, recon = load_image(folder / "target.png"), load_image(folder / "reconstruction.png")
    up = lambda x: torch.nn.functional.interpolate(x, size=(256, 256), mode="bilinear", align_corners=False)  # noqa: E731
    lp = float(LPIPS("alex", working_resolution=None)(up(recon), up(target)))
    ident = 1 - float(FaceIdentity(landmarks="ffhq").similarity(recon, target))
    l2 = float(((recon - target) ** 2).mean())
    assert math.isclose(row["lpips"], lp, rel_tol=1e-5, abs_tol=1e-6)
    assert math.isclose(row["identity"], ident, rel_tol=1e-5, abs_tol=1e-6) and row["identity_error"] is None
    assert math.isclose(row["l2"], l2, rel_tol=1e-6, abs_tol=1e-7)
    assert json.loads((folder / "metrics.json").read_text())["steps"] == 3


def test_interrupted_run_resumes_without_repeating_a_pair_and_gives_the_same_table(setup, eval_images, reference,
                                                                                   tmp_path):
    ref = reference[0]
    out = tmp_path / "killed"
    seen = []

    class Killed(Exception):
        pass

    def kill_after_four(row, status):
        seen.append((row["method"], row["image"], status))
        if len(seen) == 4:  # the first method's three pairs and one of the second's
            raise Killed

    with pytest.raises(Killed):
        _run(setup, eval_images, out, on_pair=kill_after_four)
    again = []
    run = _run(setup, eval_images, out, on_pair=lambda row, status: again.append((row["method"], row["image"], status)))
    assert run.projected == 2 and run.reused == 4
    assert [a for a in again if a[2] == "skipped"] == [(m, i, "skipped") for m, i, _ in seen]
    for name in ("table.md", "table.csv", "wins.json"):
        assert (out / name).read_text() == (ref / name).read_text(), name
    strip = lambda p: [{k: v for k, v in json.loads(line).items() if k != "seconds"}  # noqa: E731
                       for line in p.read_text().splitlines()]
    assert strip(out / "results.jsonl") == strip(ref / "results.jsonl")
    # a third run has nothing left to do
    assert _run(setup, eval_images, out).projected == 0
