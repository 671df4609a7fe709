"""`chunkygan eval editing` (Table 2): calibration by linear regression, identity after calibrated edits, resume."""
import json
import math

import pytest
import torch

import chunkygan.eval.editing as editing
from chunkygan.eval.editing import EditingEvalError, calibrate, fit_rate, run_editing
from chunkygan.eval.methods import parse_method_specs
from chunkygan.project.projector import ProjectionConfig
from tiny_generators import tiny_sg2

pytest.importorskip("matplotlib", reason="matplotlib missing (calibration plot): pip install 'chunkygan[examples]'")


def test_fit_rate_recovers_a_shared_slope_with_per_image_offsets_and_skips_unscored():
    s = [-2.0, -1.0, 0.0, 1.0, 2.0]
    scores = [[10 + 0.5 * x for x in s], [3 + 0.5 * x for x in s], [None, 1.0, 1.5, float("nan"), 2.5], [None] * 5]
    rate, used = fit_rate(s, scores)
    assert math.isclose(rate, 0.5) and used == 13


def test_calibrate_gives_every_method_the_reference_effect():
    cal = calibrate("smile", {"w": 0.2, "w+": 0.1, "chunky-w+": -0.1, "s": None}, "w", 1.0, 2.0)
    assert cal.effect == pytest.approx(0.2)
    assert cal.strengths["w"] == pytest.approx(1.0) and cal.strengths["w+"] == pytest.approx(2.0)
    assert cal.strengths["chunky-w+"] is None and cal.strengths["s"] is None and "reference" in cal.notes["chunky-w+"]
    assert "outside the sweep" not in cal.notes.get("w+", "")
    assert "extrapolated" in calibrate("smile", {"w": 0.2, "w+": 0.05}, "w", 1.0, 2.0).notes["w+"]
    med = calibrate("smile", {"a": 0.1, "b": 0.3, "c": 0.2, "d": None}, "median", 2.0, 2.0)
    assert med.effect == pytest.approx(0.4) and med.strengths["c"] == pytest.approx(2.0)


@pytest.fixture()
def setup(monkeypatch):
    from chunkygan.assets import AssetError, resolve
    from chunkygan.edit.directions import Direction, DirectionBank

    try:
        resolve("arcface-w600k-mbf")
    except AssetError as e:
        pytest.skip(f"ArcFace weights missing: {e}")
    G = tiny_sg2()
    g = torch.Generator().manual_seed(0)
    bank = DirectionBank.for_generator(G, [Direction("smile", "w", torch.randn(16, generator=g), "tiny-sg2")])

    def fake_labeller(name, probes):  # a deterministic "classifier": mean brightness
        if name == "beard":
            raise EditingEvalError("beard has no classifier in any package: pass --probe beard=FILE")
        return lambda images: images.mean(dim=(1, 2, 3))

    monkeypatch.setattr(editing, "_labeller", fake_labeller)
    return G, bank


def test_table2_calibration_plot_raw_rows_and_resume(setup, eval_images, tmp_path):
    G, bank = setup
    methods = parse_method_specs("w chunky-w:lambda_reg=1")
    cfg = ProjectionConfig(steps=2, segments=2, loss_resolution=64)
    images = eval_images[:2]
    items = []
    kw = dict(G=G, generator_name="tiny-sg2", bank=bank, strengths=(-1.0, 0.0, 1.0))
    run = run_editing(images, tmp_path, methods, ["smile", "beard", "age"], cfg, on_item=items.append, **kw)
    for name in ("table2.md", "table2.csv", "calibration.png", "calibration.json", "editing/results.jsonl"):
        assert (tmp_path / name).is_file(), name
    table = (tmp_path / "table2.md").read_text()
    assert "**beard** is empty: beard has no classifier" in table
    assert "**age** is empty: no direction 'age' in the bank" in table
    assert len(items) == 2 * 2 * 2  # sweeps and edits of 2 methods x 2 images
    rows = [json.loads(line) for line in (tmp_path / "editing" / "results.jsonl").read_text().splitlines()]
    edits = [r for r in rows if r["kind"] == "edit"]
    cal = run.calibrations["smile"]
    assert cal.reference == "median" and cal.effect is not None
    # the calibrated edits change the labeller by the same amount for every method (up to linearity)
    for r in edits:
        assert r["strength"] == pytest.approx(cal.strengths[r["method"]], abs=1e-6)
        assert r["identity_projected"] is not None and r["identity_original"] is not None
    # an explicitly requested direction missing from the bank is an error
    with pytest.raises(EditingEvalError, match="no direction 'age'"):
        run_editing(images, tmp_path, methods, ["age"], cfg, require_all=True, **kw)
    # rerun: nothing is repeated, same table
    again = []
    run_editing(images, tmp_path, methods, ["smile", "beard", "age"], cfg, on_item=again.append, **kw)
    assert again == [] and (tmp_path / "table2.md").read_text() == table
    # a re-fitted bank (same name, another vector) never reuses the old direction's sweeps or edits
    from chunkygan.edit.directions import Direction, DirectionBank

    refit = DirectionBank.for_generator(G, [Direction("smile", "w", -bank.get("smile").vector, "tiny-sg2")])
    redo = []
    run_editing(images, tmp_path, methods, ["smile"], cfg, on_item=redo.append, **{**kw, "bank": refit})
    assert len(redo) == 2 * 2 * 2
