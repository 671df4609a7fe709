"""`chunkygan project IMAGE... -o OUT`: many inputs are a batch (one sub-folder per image), one file is not."""
import json

from click.testing import CliRunner

from chunkygan.cli import main

from batch_photos import make_photos

BASE = ["--steps", "2", "--loss", "l2", "--segments", "2", "--snapshots", "0", "--device", "cpu"]


def _run(args):
    return CliRunner().invoke(main, ["project", *args], catch_exceptions=False)


def test_folder_list_file_and_a_bad_input(tmp_path, gen_path):
    photos = make_photos(tmp_path / "in", ["a.png", "b.png"])
    other = make_photos(tmp_path / "more", ["a.png"], seed=1)  # same stem as in/a.png: gets its own folder
    (tmp_path / "list.txt").write_text(f"{other[0]}\nmissing.png\n")
    out = tmp_path / "out"
    r = _run([str(tmp_path / "in"), f"@{tmp_path / 'list.txt'}", "-o", str(out), "--generator", gen_path,
              "--batch-size", "2", *BASE])
    assert r.exit_code == 1 and "1 of 4 images failed" in r.output, r.output
    assert "missing.png: no such file" in r.output and "3 projected" in r.output
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [row["status"] for row in rows] == ["ok", "ok", "ok", "failed"]
    names = [row["output"] for row in rows]
    assert names[1] == "b" and names[0].startswith("a-") and names[2].startswith("a-") and names[0] != names[2]
    for name in names[:3]:
        assert (out / name / "done.json").is_file() and (out / name / "reconstruction.png").is_file()
    assert not (out / "reconstruction.png").exists()
    # the rerun skips the finished images
    r = _run([str(tmp_path / "in"), "-o", str(out), "--generator", gen_path, *BASE])
    assert r.exit_code == 0 and "0 projected, 2 finished earlier" in r.output, r.output
    assert photos[0].is_file()


def test_batch_refuses_single_image_options_and_empty_inputs(tmp_path, gen_path):
    make_photos(tmp_path / "in", ["a.png"])
    r = _run([str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--generator", gen_path, "--align", *BASE])
    assert r.exit_code == 1 and "--align: for one image only; drop it for a batch" in r.output
    (tmp_path / "empty").mkdir()
    r = _run([str(tmp_path / "empty"), "-o", str(tmp_path / "out"), "--generator", gen_path, *BASE])
    assert r.exit_code == 1 and "the folder has no images" in r.output
