"""Invalid names and numbers: refused at the boundary with the allowed range, never a traceback or NaN output."""
from __future__ import annotations

import pytest
import torch

from reliability_helpers import assert_refused, project_args, run_cli

PROJECT_CASES = {
    "unknown loss": (["--loss", "bogus"], 1, "unknown loss 'bogus'"),
    "--segments abc": (["--segments", "abc"], 2, "--segments"),
    "--mask-resolution 0": (["--mask-resolution", "0"], 2, "1<=x"),
    "--mask-resolution -5": (["--mask-resolution", "-5"], 2, "1<=x"),
    "--mask-resolution huge": (["--mask-resolution", "100000"], 2, "--mask-resolution"),
    "--mask-resolution above R": (["--mask-resolution", "17"], 2, "larger than the generator resolution 16"),
    "negative --lr": (["--lr", "-0.1"], 2, "> 0 and <= 1"),
    "absurd --lr": (["--lr", "1e9"], 2, "> 0 and <= 1"),
    "NaN --lr": (["--lr", "nan"], 2, "not a finite number"),
    "NaN --l2-weight": (["--l2-weight", "nan"], 2, "not a finite number"),
    "inf --lambda-reg": (["--lambda-reg", "inf"], 2, "not a finite number"),
    "zero --steps": (["--steps", "0"], 2, "--steps"),
    "negative --feather": (["--feather", "-1"], 2, "--feather"),
}


@pytest.mark.parametrize("case", list(PROJECT_CASES))
def test_project_refuses_bad_values(case, tiny, tmp_path, sentinel):
    extra, code, needle = PROJECT_CASES[case]
    out = tmp_path / "out"
    r = run_cli(*project_args(tiny, out), *extra)  # later options win over project_args' defaults
    assert_refused(r, code, needle)
    assert "projecting" not in r.stdout and not (out / "metrics.json").exists()
    sentinel.check()


EDIT_CASES = {
    "NaN strength": (["--direction", "sefa_0=nan"], 2, "finite"),
    "inf strength": (["--direction", "sefa_0=inf"], 2, "finite"),
    "huge strength": (["--direction", "sefa_0=1e30"], 2, "from -100 to 100"),
    "NaN sweep end": (["--direction", "sefa_0=-1:nan:3"], 2, "finite"),
    "--segments abc": (["--direction", "sefa_0=1", "--segments", "abc"], 2, "whole numbers"),
    "unknown segment": (["--direction", "sefa_0=1", "--segments", "7"], 2, "segments 0-1"),
}


@pytest.mark.parametrize("case", list(EDIT_CASES))
def test_edit_refuses_bad_values(case, tiny, tmp_path, sentinel):
    extra, code, needle = EDIT_CASES[case]
    out = tmp_path / "edit"
    assert_refused(run_cli("edit", tiny["proj"], "-o", out, *extra), code, needle)
    assert not out.exists()
    sentinel.check()


def test_edit_with_the_wrong_generator_names_both(tiny, tmp_path, sentinel):
    """Was: AttributeError: 'DCGANGenerator' object has no attribute 'synthesis' (a traceback)."""
    out = tmp_path / "edit"
    line = assert_refused(run_cli("edit", tiny["proj"], "--generator", tiny["dc"], "--direction", "sefa_0=1",
                                  "-o", out), 1, str(tiny["sg2"]), str(tiny["dc"]))
    assert "does not fit" in line and not out.exists()
    sentinel.check()


def test_large_valid_strength_gives_finite_output(tiny, tmp_path):
    from chunkygan.imageio import load_image
    from chunkygan.project.io import Projection

    out = tmp_path / "edit"
    r = run_cli("edit", tiny["proj"], "-o", out, "--direction", "sefa_0=100")
    assert r.code == 0 and r.exception is None, r.stderr
    assert torch.isfinite(Projection.load(out).codes).all()
    assert load_image(out / "edited.png").std() > 0  # not one flat (all-black) colour


@pytest.mark.parametrize("side", [8, 24])
def test_lpips_on_tiny_images(side, tmp_path, sentinel):
    from PIL import Image

    a = tmp_path / "a.png"
    Image.new("RGB", (side, side), (10, 200, 30)).save(a)
    assert_refused(run_cli("lpips", a, a), 1, "too small for LPIPS", "--resolution 256")
    r = run_cli("lpips", a, a, "--resolution", 256, "--json")  # the remedy the message names works
    assert r.code == 0, r.stderr
    sentinel.check()


def test_unknown_names_of_other_kinds(tiny, tmp_path):
    assert_refused(run_cli("edit", tiny["proj"], "-o", tmp_path / "e", "--direction", "no_such_dir=1"), 1,
                   "no_such_dir")
    assert_refused(run_cli("sample", "--seeds", "0-99999999", "-o", tmp_path / "g.png"), 2, "--seeds")
