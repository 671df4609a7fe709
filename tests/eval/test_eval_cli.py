"""`chunkygan eval fidelity|editing` on a checkpoint file: files, resume message, one-line errors."""
import pytest
from click.testing import CliRunner

from chunkygan.cli import main

pytest.importorskip("matplotlib", reason="matplotlib missing (plots): pip install 'chunkygan[examples]'")


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    from chunkygan.generators.checkpoints import save_generator
    from tiny_generators import tiny_sg2

    st, _ = save_generator(tiny_sg2(), tmp_path_factory.mktemp("gen") / "tiny.safetensors")
    return str(st)


def test_fidelity_cli_writes_the_table_and_resumes(eval_images, tiny_path, tmp_path):
    from chunkygan.assets import AssetError, resolve

    try:
        resolve("arcface-w600k-mbf")
    except AssetError as e:
        pytest.skip(f"ArcFace weights missing: {e}")
    args = ["eval", "fidelity", str(eval_images[0]), str(eval_images[1]), "-o", str(tmp_path), "--generator", tiny_path, "--steps", "2", "--segments", "2",
            "--methods", "w,chunky-w", "--device", "cpu"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "| `chunky-w` | Ours in W | 2 |" in res.output and "4 pairs projected now, 0 finished earlier" in res.output
    assert (tmp_path / "fig4_w.png").is_file() and (tmp_path / "projections" / "chunky-w" / "face0" / "done.json").is_file()
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0 and "0 pairs projected now, 4 finished earlier" in res.output, res.output


def test_bad_specs_and_missing_bank_are_one_line_errors(eval_images, tiny_path, tmp_path):
    folder = str(eval_images[0].parent)
    res = CliRunner().invoke(main, ["eval", "fidelity", folder, "-o", str(tmp_path), "--methods", "w:nonsense=1"])
    assert res.exit_code != 0 and "unknown option 'nonsense'" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(main, ["eval", "editing", folder, "-o", str(tmp_path), "--generator", tiny_path,
                                    "--device", "cpu"])
    assert res.exit_code != 0 and "direction bank" in res.output, res.output
