"""Special output targets: never replaced, refused before any work, nothing else touched."""
from __future__ import annotations

import errno
import os
import stat
import subprocess

import pytest

from reliability_helpers import assert_refused, project_args, run_cli


def _symlink(tmp_path, sentinel):
    p = tmp_path / "out.png"
    os.symlink(sentinel.root / "notes.txt", p)
    return p, "symbolic link"


def _fifo(tmp_path, sentinel):
    p = tmp_path / "out.png"
    os.mkfifo(p)
    return p, "FIFO"


def _device(tmp_path, sentinel):
    """A /dev/full-like character device (made with mknod as root; else /dev/full itself, never written)."""
    p = tmp_path / "out.png"
    try:
        os.mknod(p, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    except PermissionError:
        return "/dev/full", "device"
    return p, "device"


def _parent_is_file(tmp_path, sentinel):
    return sentinel.root / "notes.txt" / "out.png", "not a folder"


def _folder(tmp_path, sentinel):
    (tmp_path / "dir.png").mkdir()
    return tmp_path / "dir.png", "is a directory"


def _no_extension(tmp_path, sentinel):
    return tmp_path / "out", "extension"


TARGETS = {"symlink": _symlink, "FIFO": _fifo, "device": _device, "parent is a file": _parent_is_file,
           "folder": _folder, "no extension": _no_extension}


@pytest.mark.parametrize("case", list(TARGETS))
def test_single_file_output_refused(case, tiny, tmp_path, sentinel):
    target, needle = TARGETS[case](tmp_path, sentinel)
    before = os.lstat(target) if os.path.lexists(target) else None
    r = run_cli("sample", "--generator", tiny["sg2"], "--seeds", "0", "-o", target)
    assert_refused(r, 2 if case == "folder" else 1, needle)  # (a folder is a usage error of click's path type)
    if before is not None:  # the special file is still there, unchanged in kind
        after = os.lstat(target)
        assert stat.S_IFMT(after.st_mode) == stat.S_IFMT(before.st_mode) and after.st_ino == before.st_ino
    sentinel.check()


@pytest.mark.parametrize("case", ["parent is a file", "folder is a FIFO"])
def test_folder_output_refused_before_any_work(case, tiny, tmp_path, sentinel):
    if case == "parent is a file":
        out = sentinel.root / "notes.txt" / "out"
    else:
        out = sentinel.root / "pipe"
    r = run_cli(*project_args(tiny, out, "--steps", 50))
    assert r.code != 0 and "Traceback" not in r.stderr and r.exception is None
    assert "projecting" not in r.stdout  # refused before loading the generator or running a step
    sentinel.check()


@pytest.fixture
def read_only_folder(tmp_path, monkeypatch):
    """(folder, expected words): a read-only tmpfs mount where mount(2) is allowed, else a chmod 555 folder
    (non-root), else (root without mount) a folder that os.access reports unwritable (monkeypatched)."""
    d = tmp_path / "ro"
    d.mkdir()
    mounted = False
    if os.geteuid() == 0 and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(d)],
                                            capture_output=True).returncode == 0:
        (d / "keep.txt").write_text("keep\n")
        mounted = subprocess.run(["mount", "-o", "remount,ro", str(d)], capture_output=True).returncode == 0
        if not mounted:
            subprocess.run(["umount", str(d)], capture_output=True)
    if not mounted:
        (d / "keep.txt").write_text("keep\n")
        d.chmod(0o555)
        if os.geteuid() == 0:  # root ignores permissions: simulate what a normal user sees
            real = os.access
            monkeypatch.setattr(os, "access", lambda p, mode, **k: False if str(p) == str(d) else real(p, mode, **k))
    yield d, ("read-only" if mounted else "not writable")
    if mounted:
        subprocess.run(["umount", str(d)], capture_output=True)
    else:
        d.chmod(0o755)


def test_read_only_folder_refused_before_any_work(read_only_folder, tiny, sentinel):
    folder, words = read_only_folder
    r = run_cli(*project_args(tiny, folder / "run", "--steps", 50))
    assert_refused(r, 1, words)
    assert "projecting" not in r.stdout
    assert sorted(p.name for p in folder.iterdir()) == ["keep.txt"]
    r = run_cli("sample", "--generator", tiny["sg2"], "--seeds", "0", "-o", folder / "keep.png")
    assert_refused(r, 1, words)
    sentinel.check()


def test_full_disk_keeps_old_files_and_marks_folder_incomplete(tiny, tmp_path, monkeypatch, sentinel):
    """ENOSPC while writing results: one line, no temporary file, metrics.json (the completion marker) absent,
    the earlier run's files that were not rewritten are intact; the single-file case keeps the old file."""
    from PIL import Image

    out = tmp_path / "run"
    assert run_cli(*project_args(tiny, out)).code == 0
    old_recon = (out / "reconstruction.png").read_bytes()
    real_save = Image.Image.save

    def full_disk_save(self, fp, *a, **k):
        if "segment_01" in str(fp):  # the disk fills up in the middle of the outputs
            with open(fp, "wb") as f:
                f.write(b"partial")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(fp))
        return real_save(self, fp, *a, **k)

    monkeypatch.setattr(Image.Image, "save", full_disk_save)
    r = run_cli(*project_args(tiny, out, "--steps", 7))  # another run: other results
    assert_refused(r, 1, "No space left on device", str(out / "segment_01.png"))
    assert not (out / "metrics.json").exists()
    assert not [p for p in out.iterdir() if ".tmp" in p.name]
    assert (out / "reconstruction.png").read_bytes() != old_recon  # rewritten before the disk filled...
    # ...and a single output keeps its previous content when its own write fails
    grid = tmp_path / "grid.png"
    monkeypatch.setattr(Image.Image, "save", real_save)
    assert run_cli("sample", "--generator", tiny["sg2"], "--seeds", "0", "-o", grid).code == 0
    old = grid.read_bytes()

    def always_full(self, fp, *a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(fp))

    monkeypatch.setattr(Image.Image, "save", always_full)
    assert_refused(run_cli("sample", "--generator", tiny["sg2"], "--seeds", "1", "-o", grid), 1, "No space left")
    assert grid.read_bytes() == old and sorted(p.name for p in tmp_path.iterdir() if ".tmp" in p.name) == []
    sentinel.check()


def test_align_output_without_extension_is_refused(tmp_path):
    """`-o` rule: one file needs its extension (was: a PNG called `out`)."""
    from PIL import Image

    photo = tmp_path / "p.png"
    Image.new("RGB", (32, 32)).save(photo)
    assert_refused(run_cli("align", photo, "-o", tmp_path / "out"), 1, "extension", "out.png")
    assert not (tmp_path / "out").exists()
