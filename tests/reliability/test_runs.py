"""Reused folders, resumed and killed runs: stale files go, mismatched resumes are refused, a resumed run
ends exactly like an uninterrupted one."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from PIL import Image

from reliability_helpers import assert_refused, project_args, run_cli, tree_hashes


def test_reused_folder_has_no_stale_results(tiny, tmp_path):
    out = tmp_path / "run"
    assert run_cli(*project_args(tiny, out, "--segments", 4, "--snapshots", 2)).code == 0
    assert (out / "segment_03.png").is_file() and (out / "progression.png").is_file()
    (out / "my_notes.txt").write_text("mine\n")
    (out / "segment_09.png").mkdir()  # not a file this project wrote: left alone
    r = run_cli(*project_args(tiny, out, "--segments", 2, "--snapshots", 0))
    assert r.code == 0, r.stderr
    names = sorted(p.name for p in out.iterdir())
    assert "segment_02.png" not in names and "segment_03.png" not in names and "progression.png" not in names
    assert {"segment_00.png", "segment_01.png", "metrics.json", "my_notes.txt", "segment_09.png"} <= set(names)


RESUME_CASES = {
    "another IMAGE": (lambda t: ["--image", t["other"]], "another image"),
    "another generator": (lambda t: ["--generator", t["dc"]], "generator"),
    "another K": (lambda t: ["--segments", 3], "K = 2"),
    "another space": (lambda t: ["--space", "w"], "latent space 'w+'"),
}


@pytest.mark.parametrize("case", list(RESUME_CASES))
def test_resume_refuses_a_different_run(case, tiny, tmp_path, sentinel):
    out = tmp_path / "run"
    assert run_cli(*project_args(tiny, out)).code == 0
    before = tree_hashes(out)
    change, needle = RESUME_CASES[case]
    extra = change(tiny)
    args = project_args(tiny, out, "--resume", "--steps", 6)
    if extra[0] == "--image":
        args[1] = extra[1]
        extra = []
    assert_refused(run_cli(*args, *extra), 1, needle, "--resume")
    assert tree_hashes(out) == before  # nothing of the finished run changed
    sentinel.check()


def _interrupted_then_resumed(tiny, out, monkeypatch):
    import chunkygan.commands.project as cmd

    real = cmd.save_checkpoint

    def save_then_interrupt(p, path):
        real(p, path)
        raise KeyboardInterrupt  # Ctrl-C right after the first periodic checkpoint

    monkeypatch.setattr(cmd, "save_checkpoint", save_then_interrupt)
    r = run_cli(*project_args(tiny, out, "--steps", 8, "--checkpoint-every", 3, "--snapshots", 4))
    assert r.code != 0 and not (out / "metrics.json").exists()  # interrupted: the folder is marked incomplete
    monkeypatch.setattr(cmd, "save_checkpoint", real)
    r = run_cli(*project_args(tiny, out, "--steps", 8, "--checkpoint-every", 3, "--snapshots", 4, "--resume"))
    assert r.code == 0, r.stderr
    assert "resuming" in r.stdout


def test_resumed_progression_is_as_long_as_uninterrupted(tiny, tmp_path, monkeypatch):
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    assert run_cli(*project_args(tiny, full, "--steps", 8, "--checkpoint-every", 3, "--snapshots", 4)).code == 0
    _interrupted_then_resumed(tiny, resumed, monkeypatch)
    a, b = Image.open(full / "progression.png"), Image.open(resumed / "progression.png")
    assert a.size == b.size
    assert (full / "progression.png").read_bytes() == (resumed / "progression.png").read_bytes()


def test_sigkill_during_run_then_resume(tiny, tmp_path):
    """A real process killed with SIGKILL mid-run (between or during writes), then `--resume` in the same folder:
    the result equals the uninterrupted run's bit for bit, and the folder holds no partial file."""
    from chunkygan.project.io import Projection

    full, killed = tmp_path / "full", tmp_path / "killed"
    args = project_args(tiny, killed, "--steps", 16, "--checkpoint-every", 2, "--snapshots", 4)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "chunkygan", *map(str, args)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (killed / "checkpoint.safetensors").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "metrics.json").exists() or proc.returncode == 0
    Projection.load(killed / "checkpoint.safetensors")  # whole, never half-written
    (killed / ".segment_00.abcd_123.tmp.png").write_bytes(b"half")  # what a kill during a write leaves
    (killed / ".my_hidden").write_text("mine")
    r = run_cli(*args, "--resume")
    assert r.code == 0, r.stderr
    assert run_cli(*project_args(tiny, full, "--steps", 16, "--checkpoint-every", 2, "--snapshots", 4)).code == 0
    a, b = Projection.load(full), Projection.load(killed)
    assert torch.equal(a.codes, b.codes) and torch.equal(a.masks, b.masks)
    assert Image.open(full / "progression.png").size == Image.open(killed / "progression.png").size
    assert (killed / "metrics.json").is_file()
    assert not (killed / ".segment_00.abcd_123.tmp.png").exists() and (killed / ".my_hidden").read_text() == "mine"


def test_reused_edit_folder_has_no_stale_results(tiny, tmp_path):
    """A 5-step sweep, then a 3-step sweep, then a single edit into one folder: only the last run's files."""
    out = tmp_path / "edit"
    assert run_cli("edit", tiny["proj"], "--direction", "sefa_0=-1:1:5", "-o", out).code == 0
    assert (out / "edited_4.png").is_file()
    (out / "mine.txt").write_text("mine\n")
    assert run_cli("edit", tiny["proj"], "--direction", "sefa_0=-1:1:3", "-o", out).code == 0
    names = {p.name for p in out.iterdir()}
    assert "edited_2.png" in names and "edited_3.png" not in names and "edited_4.png" not in names
    assert run_cli("edit", tiny["proj"], "--direction", "sefa_0=1", "-o", out).code == 0
    names = {p.name for p in out.iterdir()}
    assert {"edited.png", "projection.safetensors", "mine.txt"} <= names
    assert not {"strip.png", "sweep.json", "edited_0.png"} & names


DAMAGED_PROJECTION = {
    "NaN codes": (lambda t, m: t["codes"].fill_(float("nan")), "codes", "NaN"),
    "masks out of range": (lambda t, m: t["masks"].mul_(5), "masks", "outside [0, 1]"),
    "unknown space": (lambda t, m: m.__setitem__("space", "q"), "space", "'q'"),
    "step not a number": (lambda t, m: m.__setitem__("step", "ten"), "step", "whole number"),
}


@pytest.mark.parametrize("case", list(DAMAGED_PROJECTION))
def test_damaged_projection_or_checkpoint_is_refused(case, tiny, tmp_path, sentinel):
    """`edit` of a damaged projection and `--resume` from a damaged checkpoint: one line naming the entry."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    out = tmp_path / "run"
    assert run_cli(*project_args(tiny, out)).code == 0
    damage, entry, why = DAMAGED_PROJECTION[case]
    for name in ("projection.safetensors", "checkpoint.safetensors"):
        with safe_open(str(out / name), framework="pt") as f:
            meta, tensors = dict(f.metadata()), {k: f.get_tensor(k) for k in f.keys()}
        damage(tensors, meta)
        save_file(tensors, str(out / name), metadata=meta)
    line = assert_refused(run_cli("edit", out, "--direction", "sefa_0=1", "-o", tmp_path / "e"), 1, entry, why)
    assert "projection.safetensors" in line and not (tmp_path / "e").exists()
    assert_refused(run_cli(*project_args(tiny, out, "--resume", "--steps", 6)), 1, entry, why)
    sentinel.check()
