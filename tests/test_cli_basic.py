from click.testing import CliRunner

from chunkygan.cli import main
from chunkygan.commands._common import parse_int_list


def test_parse_int_list():
    assert parse_int_list("0-3") == [0, 1, 2, 3]
    assert parse_int_list("1,5-6") == [1, 5, 6]


def test_models_lists_default_first():
    r = CliRunner().invoke(main, ["models"])
    assert r.exit_code == 0, r.output
    names = [line.split()[0] for line in r.output.splitlines() if line and not line[0].isspace()]
    assert names[:2] == ["stylegan2-faces-64", "dcgan-faces-64"], r.output
    assert "non-commercial" in r.output


def test_sample_writes_grid(tmp_path):
    out = tmp_path / "grid.png"
    r = CliRunner().invoke(main, ["sample", "--seeds", "0-1", "-o", str(out), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    from PIL import Image

    assert Image.open(out).size == (2 * 66 + 2, 66 + 2)


def test_env_reports_assets():
    r = CliRunner().invoke(main, ["env"])
    assert r.exit_code == 0, r.output
    assert "lpips-alex: ok" in r.output
    assert "CPU allocator: " in r.output and "CHUNKYGAN_CPU_ALLOCATOR=system" in r.output


def test_help_lists_every_registered_command():
    """Each COMMANDS entry imports (a missing module would break `chunkygan --help`)."""
    from chunkygan.cli import COMMANDS

    r = CliRunner().invoke(main, ["--help"])
    assert r.exit_code == 0, r.output
    for name in COMMANDS:
        assert f"  {name} " in r.output, name
