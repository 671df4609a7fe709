"""CLI conventions (issue #17 item 6): `python -m chunkygan`, WARNING by default with -v/-q, one `-o` rule,
`--json` with self-explaining keys, `lpips --resolution` = the projector's metric, top-level exports,
py.typed, and `env` reporting assets where the commands really find them."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from chunkygan.cli import main
from chunkygan.imageio import save_image

PY = [sys.executable, "-m", "chunkygan"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def test_python_m_chunkygan_and_one_error_path():
    r = subprocess.run(PY + ["sample", "--generator", "nope"], capture_output=True, text=True, env=ENV)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: unknown generator 'nope'; known: "), r.stderr
    r = CliRunner().invoke(main, ["--help"], prog_name="chunkygan")
    assert r.exit_code == 0 and "project" in r.stdout and "-q, --quiet" in r.stdout
    r = CliRunner().invoke(main, ["-vv", "sample", "--generator", "nope"])  # -vv: the traceback too
    assert r.exit_code == 1 and "Traceback" in r.stderr and r.stderr.strip().splitlines()[-1].startswith("error: ")


@pytest.mark.parametrize("flags, level", [([], logging.WARNING), (["-v"], logging.INFO), (["-vv"], logging.DEBUG),
                                          (["-q"], logging.ERROR)])
def test_log_level_flags(flags, level):
    loggers = [logging.getLogger(), logging.getLogger("chunkygan")]
    saved = [lg.level for lg in loggers]
    try:
        r = CliRunner().invoke(main, [*flags, "models"])
        assert r.exit_code == 0, r.output
        assert logging.getLogger("chunkygan.project").getEffectiveLevel() == level
    finally:  # the CLI configures process-wide logging: give later tests theirs back
        for lg, lvl in zip(loggers, saved):
            lg.setLevel(lvl)


def test_output_rule_file_needs_extension_folder_must_be_folder(tmp_path):
    r = CliRunner().invoke(main, ["sample", "--seeds", "0", "-o", str(tmp_path / "grid")])
    assert r.exit_code == 1 and "extension, e.g." in r.stderr and not (tmp_path / "grid").exists()
    (tmp_path / "file.txt").write_text("x")
    r = CliRunner().invoke(main, ["masks", str(tmp_path / "file.txt"), "-o", str(tmp_path / "file.txt")])
    assert r.exit_code != 0 and "Traceback" not in r.stderr and (tmp_path / "file.txt").read_text() == "x"


def test_lpips_json_and_resolution_match_the_projector_metric(tmp_path):
    from chunkygan.imageio import load_image
    from chunkygan.project.projector import measure

    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(1, 3, 64, 64, generator=g) * 2 - 1, torch.rand(1, 3, 64, 64, generator=g) * 2 - 1
    save_image(a, tmp_path / "a.png")
    save_image(b, tmp_path / "b.png")
    r = CliRunner().invoke(main, ["lpips", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--resolution", "256",
                                  "--json"])
    assert r.exit_code == 0, r.output
    row = json.loads(r.stdout)
    assert set(row) >= {"image_a", "image_b", "lpips", "net", "resolution"} and row["resolution"] == [256, 256]
    want = measure(load_image(tmp_path / "a.png"), load_image(tmp_path / "b.png"))["lpips"]  # metrics.json's number
    assert abs(row["lpips"] - want) < 1e-5


def test_top_level_exports_are_lazy_and_typed():
    code = ("import sys, chunkygan; assert 'torch' not in sys.modules, 'import chunkygan loaded torch'; "
            "from chunkygan import load_generator, Projector, project, EditSession, DirectionBank; "
            "from chunkygan.project.projector import Projector as P; assert Projector is P and callable(project)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV)
    assert r.returncode == 0, r.stderr
    import chunkygan

    assert (Path(chunkygan.__file__).parent / "py.typed").is_file()
    import tomllib

    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["chunkygan"]


def test_env_reports_the_selfie_model_where_masks_finds_it():
    from chunkygan.assets import AssetError

    r = CliRunner().invoke(main, ["env"])
    assert r.exit_code == 0, r.output
    line = next(ln for ln in r.output.splitlines() if "mediapipe-selfie-segmentation:" in ln)
    try:
        from chunkygan.face.mediapipe_face import selfie_model_path

        path = selfie_model_path()
    except (AssetError, ImportError):
        assert "MISSING" in line
    else:
        assert "ok   " in line and str(path) in line
    assert "generators:" in r.output and "stylegan2-faces-64:" in r.output


def _face_ready() -> str:
    from chunkygan.face.deps import missing

    return missing(("dlib", "mediapipe", "onnxruntime"), ("dlib-landmarks-5", "age-v1", "gender-v1",
                                                          "mediapipe-face-landmarker", "arcface-w600k-mbf",
                                                          "scrfd-500m-kps"))


@pytest.mark.face
@pytest.mark.skipif(bool(_face_ready()), reason=_face_ready() or "ok")
def test_label_and_identity_json_keys(photos, tmp_path):
    save_image(photos["astronaut"], tmp_path / "astronaut.png")
    img = str(tmp_path / "astronaut.png")
    r = CliRunner().invoke(main, ["label", img, "--labels", "age,gender", "--json"])
    assert r.exit_code == 0, r.output
    row = json.loads(r.stdout.strip().splitlines()[-1])
    assert set(row) == {"image", "age", "p_male"} and 0 <= row["p_male"] <= 1
    r = CliRunner().invoke(main, ["label", img, "--labels", "p_male"])  # the printed name works as a label name too
    assert r.exit_code == 0 and "p_male" in json.loads(r.stdout.strip().splitlines()[-1])
    r = CliRunner().invoke(main, ["identity", img, img, "--json"])
    assert r.exit_code == 0, r.output
    row = json.loads(r.stdout)
    assert set(row) == {"image_a", "image_b", "arcface_cosine_similarity"}
    assert row["arcface_cosine_similarity"] > 0.99
