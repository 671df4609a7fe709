"""Helpers of the fault-injection suite: CLI runners, the refusal check, a sentinel tree (fixtures: conftest.py).

Every case runs the real CLI -- in this process through click's runner (fast: torch is imported once), or
in a subprocess (``python -m chunkygan``) where a real process matters (SIGKILL, the traceback check) --
and checks the guarantees of issue #13 with :func:`assert_refused` and :class:`Sentinel`.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from chunkygan.cli import main

TESTS = Path(__file__).resolve().parents[1]


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    exception: BaseException | None = None


def run_cli(*args, cwd: Path | None = None) -> Run:
    """``chunkygan ARGS`` in this process (click's runner: exit code, stdout and stderr kept apart)."""
    old = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        r = CliRunner().invoke(main, [str(a) for a in args])
    finally:
        os.chdir(old)
    exc = r.exception if r.exception is not None and not isinstance(r.exception, SystemExit) else None
    return Run(r.exit_code, r.stdout, r.stderr, exc)


def run_sub(*args, cwd: Path | None = None, timeout: float = 120) -> Run:
    """``python -m chunkygan ARGS`` in a subprocess (one torch thread)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-m", "chunkygan", *[str(a) for a in args]], cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=timeout)
    return Run(p.returncode, p.stdout, p.stderr)


def assert_refused(r: Run, code: int = 1, *needles: str) -> str:
    """A clear refusal: exit ``code``, exactly one stderr line ``error: ...`` holding ``needles``, no traceback."""
    assert r.exception is None, f"unexpected exception {r.exception!r}"
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout, r.stderr
    assert r.code == code, (r.code, r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1, r.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def tree_hashes(root: Path) -> dict[str, tuple]:
    """Every entry under ``root`` (not following links): kind and content hash / link target."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = os.lstat(p)
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_file():
                out[rel] = ("file", hashlib.sha256(p.read_bytes()).hexdigest(), st.st_mode & 0o777)
            elif p.is_dir():
                out[rel] = ("dir", st.st_mode & 0o777)
            else:
                out[rel] = ("special", st.st_mode)
    return out


class Sentinel:
    """A tree of files the commands must never touch; :meth:`check` asserts not a byte changed."""

    def __init__(self, root: Path):
        self.root = root
        (root / "nested").mkdir(parents=True)
        (root / "notes.txt").write_text("my notes\n")
        (root / "photo.png").write_bytes(b"\x89PNG not really")
        (root / "nested" / "data.bin").write_bytes(os.urandom(256))
        os.symlink(root / "notes.txt", root / "link_to_notes.txt")
        os.mkfifo(root / "pipe")
        self.before = tree_hashes(root)

    def check(self) -> None:
        assert tree_hashes(self.root) == self.before, "a file outside the command's outputs changed"


def project_args(tiny: dict, out: Path, *extra) -> list:
    """A fast projection of the tiny photo into the tiny generator (l2 loss, K = 2)."""
    return ["project", tiny["photo"], "-o", out, "--generator", tiny["sg2"], "--loss", "l2", "--segments", 2,
            "--steps", 4, *extra]
