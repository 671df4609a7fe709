"""Safe, atomic file writes: an output either appears whole or not at all, and only where it may.

Rules (issue #13, "nothing lost"):

* an output is written to a temporary file beside it and renamed onto the target, so an interrupted or
  failed write (a crash, ``SIGKILL``, a full disk) leaves the old file intact and no temporary file;
* the target may be missing or a regular file; a symlink, device, FIFO, socket or folder at the target is
  refused (never replaced), and so is a parent that is not a writable folder;
* :func:`check_output_path` / :func:`check_output_folder` run the same checks up front, so commands refuse
  before any long work.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from .errors import OutputPathError


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _check_target(path: Path) -> None:
    """Refuse a target that exists and is not a plain regular file."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except NotADirectoryError:
        raise OutputPathError(f"{path}: a part of the path is a file, not a folder; choose another output") from None
    if not stat.S_ISREG(st.st_mode):
        raise OutputPathError(f"{path} is {_kind(st.st_mode)}; refusing to replace it with an output file "
                              "(give the path of a new or regular file)")


def _check_folder(folder: Path, create: bool) -> None:
    """``folder`` must be (or, with ``create``, be creatable as) a writable folder; never follows into files."""
    p = folder
    missing = []
    while True:
        try:
            st = os.stat(p)
            break
        except FileNotFoundError:
            missing.append(p)
            if p.parent == p:
                raise OutputPathError(f"{folder}: no such folder") from None
            p = p.parent
        except NotADirectoryError:
            missing.append(p)
            p = p.parent
    if not stat.S_ISDIR(st.st_mode):
        raise OutputPathError(f"{p} is {_kind(st.st_mode) if not stat.S_ISREG(st.st_mode) else 'a file'}, not a "
                              f"folder; cannot write {folder} (choose another output)")
    if missing and not create:
        raise OutputPathError(f"{folder}: no such folder")
    try:
        read_only = bool(os.statvfs(p).f_flag & os.ST_RDONLY)
    except (AttributeError, OSError):  # pragma: no cover - platforms without statvfs
        read_only = False
    if read_only:
        raise OutputPathError(f"{p}: the file system is read-only; write elsewhere")
    if not os.access(p, os.W_OK | os.X_OK):
        raise OutputPathError(f"{p}: the folder is not writable (permission denied); write elsewhere")


def check_output_path(path: str | os.PathLike, *, suffix_required: bool = True) -> Path:
    """Preflight for a single-file output: refuse before any work if it could not be written safely.

    ``suffix_required``: the file name must carry its format's extension (``out.png``, not ``out``).
    """
    p = Path(path)
    if suffix_required and not p.suffix:
        raise OutputPathError(f"{p}: give the output file with its extension, e.g. {p}.png")
    if p.is_dir() and not p.is_symlink():
        raise OutputPathError(f"{p} is a folder; this command writes one file, give e.g. {p / 'out.png'}")
    _check_target(p)
    _check_folder(p.parent if str(p.parent) else Path("."), create=True)
    return p


def check_output_folder(folder: str | os.PathLike) -> Path:
    """Preflight for a command writing several files into ``folder`` (created if missing)."""
    p = Path(folder)
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        _check_folder(p, create=True)
        return p
    except NotADirectoryError:
        _check_folder(p, create=True)  # raises: a parent is a file
        return p
    if stat.S_ISLNK(st.st_mode) and Path(p).is_dir():
        st = os.stat(p)  # a symlink to a folder is fine: we write inside it, never replace it
    if not stat.S_ISDIR(st.st_mode):
        raise OutputPathError(f"{p} is {_kind(st.st_mode) if not stat.S_ISREG(st.st_mode) else 'a file'}; "
                              "this command writes several files: give a folder")
    _check_folder(p, create=False)
    return p


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is renamed onto ``path``.

    The temporary file keeps ``path``'s suffix so writers that infer the format from it work.
    On an exception the temporary file is removed and ``path`` is left as it was. A target that is not
    a regular file (symlink, device, FIFO, folder) is refused with :class:`~chunkygan.errors.OutputPathError`.
    """
    path = Path(path)
    _check_target(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        _check_folder(path.parent, create=True)  # names the file in the way
        raise
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():  # mkstemp creates 0600; give the file the usual umask-based mode
            os.chmod(tmp_path, 0o666 & ~_umask())
        _check_target(path)  # again: something may have appeared at the target meanwhile
        os.replace(tmp_path, path)
    except OSError as e:
        if e.filename is not None and Path(os.fsdecode(e.filename)) == tmp_path:
            e.filename = str(path)  # report the output the user named, not our temporary file
        raise
    finally:
        if os.path.lexists(tmp_path):
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_with(path: str | os.PathLike, writer: Callable[[Path], None]) -> None:
    """Call ``writer(tmp_path)`` and move the result onto ``path`` atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)


def remove_owned(path: str | os.PathLike) -> bool:
    """Delete ``path`` if it is a regular file (one this project wrote); never a link, folder or device."""
    p = Path(path)
    try:
        st = os.lstat(p)
    except (FileNotFoundError, NotADirectoryError):
        return False
    if not stat.S_ISREG(st.st_mode):
        return False
    p.unlink()
    return True


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text", "atomic_write_with", "check_output_path",
           "check_output_folder", "remove_owned", "sha256_file", "OutputPathError"]
