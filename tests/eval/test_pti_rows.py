"""The evaluation's PTI rows (issue #16): `w+ + pti` / `chunky-w+ + pti`, scored on the tuned reconstruction."""
import pytest
import torch

from chunkygan.eval.fidelity import run_fidelity, score_pair
from chunkygan.eval.methods import (MethodSpecError, global_counterpart, parse_method_spec, parse_method_specs,
                                    untuned_counterpart)
from chunkygan.eval.metrics import Metrics
from chunkygan.project.io import Projection
from chunkygan.project.projector import ProjectionConfig
from chunkygan.project.pti import load_tuned_projection
from tiny_generators import tiny_sg2

pytest.importorskip("matplotlib", reason="matplotlib missing (Fig. 4 plots): pip install 'chunkygan[examples]'")
METHODS = "w+ w+ + pti chunky-w+ chunky-w++pti:pti_lr=0.002"


def test_pti_specs_aliases_and_counterparts():
    a, b, c = (parse_method_spec(t) for t in ("w++pti", "w+ + pti", "w+:pti"))
    assert a.spec == b.spec == "w++pti" and a.label == b.label == c.label == "w+ + pti"
    assert a.projection_slug == c.projection_slug == parse_method_spec("w+").slug  # one shared projection
    assert a.slug != c.slug != "wplus" and a.paper_name == "W+ + PTI"
    assert a.pti_config(350).steps == 350 and a.config(ProjectionConfig()).method == "w+"
    s = parse_method_spec("chunky-w+:lambda_reg=1,pti=50,pti_mode=per-segment,pti_target_lpips=0.05")
    assert s.options == {"lambda_reg": 1} and s.projection_spec == "chunky-w+:lambda_reg=1"
    cfg = s.pti_config(100)
    assert (cfg.steps, cfg.mode, cfg.target_lpips) == (50, "per-segment", 0.05) and s.paper_name == "Ours in W+ reg. + PTI"
    specs = parse_method_specs("w+ w++pti chunky-w+ chunky-w+ + pti")
    assert [x.spec for x in specs] == ["w+", "w++pti", "chunky-w+", "chunky-w++pti"]
    assert global_counterpart(specs[3], specs).spec == "w++pti" and global_counterpart(specs[2], specs).spec == "w+"
    assert untuned_counterpart(specs[3], specs).spec == "chunky-w+" and untuned_counterpart(specs[2], specs) is None
    for bad in ("w+:pti=0", "w+:pti_mode=twice", "q++pti", "w+:pti_lr"):
        with pytest.raises(MethodSpecError):
            parse_method_spec(bad)


@pytest.fixture(scope="module")
def tuned_run(eval_images, tmp_path_factory):
    from chunkygan.assets import AssetError, resolve

    try:
        resolve("arcface-w600k-mbf")
    except AssetError as e:
        pytest.skip(f"ArcFace weights missing: {e}")
    torch.manual_seed(0)
    G = tiny_sg2()
    out = tmp_path_factory.mktemp("pti_eval") / "out"
    kw = dict(G=G, generator_name="tiny-sg2", metrics=Metrics(), pti_steps=12)
    cfg = ProjectionConfig(steps=3, segments=2, loss_resolution=64)
    return G, out, cfg, kw, run_fidelity(eval_images[:2], out, parse_method_specs(METHODS), cfg, **kw)


def test_tuned_rows_score_the_tuned_reconstruction(tuned_run):
    G, out, _, _, run = tuned_run
    assert run.projected == 8 and not run.failed
    by = {(r["method"], r["image"]): r for r in run.rows}
    for tuned, base in (("w++pti", "w+"), ("chunky-w++pti:pti_lr=0.002", "chunky-w+")):
        for image in ("face0", "face1"):
            row, untuned = by[(tuned, image)], by[(base, image)]
            folder = out / row["folder"]
            assert (folder / "pti_delta.safetensors").is_file() and row["pti"]["steps"] == 12
            # the row is the tuned reconstruction's, recomputable from its PNG, and better than the untuned row
            again = score_pair(folder, Metrics(), "reconstruction_pti.png")
            assert again["lpips"] == pytest.approx(row["lpips"], abs=1e-6) and again["l2"] == pytest.approx(row["l2"])
            assert row["lpips"] < untuned["lpips"] and row["l2"] < untuned["l2"]
            # tuned from the untuned row's projection (the same budget), and a loadable tuned projection
            proj, delta = load_tuned_projection(folder, G)
            assert torch.equal(proj.codes, Projection.load(out / untuned["folder"]).codes) and delta is not None
    table = (out / "table.md").read_text()
    assert "| `w+ + pti` | W+ + PTI | 2 |" in table and "| `chunky-w+ + pti (lr=0.002)` |" in table
    assert "| `w+ + pti` | `w+` | 2 of 2 |" in table  # tuning lowered the LPIPS on both images


def test_interrupted_tuned_rows_resume_without_repeating_a_pair(tuned_run, eval_images, tmp_path, monkeypatch):
    import chunkygan.batch.tuning as tuning

    G, out, cfg, kw, reference = tuned_run
    specs = parse_method_specs(METHODS)
    fresh = tmp_path / "fresh"

    class Killed(Exception):
        pass

    def kill_after_the_fifth_row(row, status):
        if row.get("method") == "chunky-w+":
            raise Killed

    with pytest.raises(Killed):
        run_fidelity(eval_images[:2], fresh, specs, cfg, on_pair=kill_after_the_fifth_row, **kw)
    tuned, real = [], tuning.tune_into
    monkeypatch.setattr(tuning, "tune_into", lambda folder, *a, **k: tuned.append(folder.parent.name) or real(folder, *a, **k))
    run = run_fidelity(eval_images[:2], fresh, specs, cfg, **kw)
    assert run.reused == 5 and run.projected == 3 and tuned == ["chunky-wpluspluspti_pti_lr-0.002"] * 2
    # the resumed run writes the same rows and table as the uninterrupted one
    assert [r["lpips"] for r in run.rows] == [r["lpips"] for r in reference.rows]
    assert (fresh / "table.md").read_text() == (out / "table.md").read_text()


def test_table2_refuses_tuned_rows(eval_images, tmp_path):
    from chunkygan.eval.editing import EditingEvalError, run_editing

    with pytest.raises(EditingEvalError, match="Table 2 does not take tuned"):
        run_editing(eval_images, tmp_path, parse_method_specs("w+ w++pti"), ["smile"], ProjectionConfig(), G=None,
                    generator_name="tiny", bank=None)
