"""``chunkygan lpips`` and ``chunkygan identity`` print their number as the last token."""
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from chunkygan.cli import main

DATA = Path(__file__).parent.parent / "data" / "lpips_official"


def _run(args):
    r = CliRunner().invoke(main, args)
    return r, r.output.strip().splitlines()


def test_lpips_prints_the_official_distance():
    r, lines = _run(["lpips", str(DATA / "ex_ref.png"), str(DATA / "ex_p0.png"), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert float(lines[-1].split()[-1]) == pytest.approx(0.721881, abs=2e-6)
    r, lines = _run(["lpips", str(DATA / "ex_ref.png"), str(DATA / "ex_p1.png"), "--net", "vgg", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert float(lines[-1].split()[-1]) == pytest.approx(0.421664, abs=2e-6)


def test_lpips_resizes_with_a_note(tmp_path):
    big = tmp_path / "big.png"
    Image.open(DATA / "ex_p0.png").resize((128, 128), Image.NEAREST).save(big)
    r, lines = _run(["lpips", str(DATA / "ex_ref.png"), str(big), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert "resized" in r.output
    # nearest 2x upsampling, then the antialiased bilinear downsampling in the command: nearly the same image
    assert float(lines[-1].split()[-1]) == pytest.approx(0.721881, abs=0.02)


def test_lpips_bad_image_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    r, _ = _run(["lpips", str(DATA / "ex_ref.png"), str(bad)])
    assert r.exit_code != 0 and "bad.png" in r.output


def test_identity_command(tmp_path):
    pytest.importorskip("onnxruntime", reason="onnxruntime missing: pip install 'chunkygan[eval]'")
    skdata = pytest.importorskip("skimage.data", reason="scikit-image missing: pip install 'chunkygan[examples]'")
    mpl = pytest.importorskip("matplotlib", reason="matplotlib missing: pip install 'chunkygan[examples]'")
    astro, coffee = tmp_path / "astronaut.png", tmp_path / "coffee.png"
    Image.fromarray(skdata.astronaut()).save(astro)
    Image.fromarray(skdata.coffee()).save(coffee)
    hopper = Path(mpl.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    r, lines = _run(["identity", str(astro), str(astro)])
    assert r.exit_code == 0, r.output
    assert float(lines[-1].split()[-1]) == pytest.approx(1.0, abs=1e-3)
    r, lines = _run(["identity", str(astro), str(hopper)])
    assert r.exit_code == 0, r.output
    assert float(lines[-1].split()[-1]) < 0.3
    r, _ = _run(["identity", str(astro), str(coffee)])
    assert r.exit_code == 1 and "coffee.png: no face found" in r.output
