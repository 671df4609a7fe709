"""Which images a batch projects, and the output folder name of each.

An input *spec* is a file, a folder (its images, sorted by name), a glob (``photos/*.jpg``,
``data/**/*.png``) or a list file (``@list.txt``, or any existing ``.txt`` file): one path or glob per
line, ``#`` comments and blank lines ignored, relative paths taken from the list file's folder.
"""
from __future__ import annotations

import glob
import hashlib
import os
import re
from pathlib import Path

#: what a folder listing picks up (an explicitly named file is always tried, whatever its suffix)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".ppm", ".pgm", ".gif")

_GLOB_CHARS = re.compile(r"[*?\[]")


class InputListError(ValueError):
    """An input spec names nothing usable (a missing path, an empty folder, a glob without matches)."""


def is_glob(spec: str) -> bool:
    return bool(_GLOB_CHARS.search(str(spec)))


def is_list_file(spec: str) -> bool:
    s = str(spec)
    return s.startswith("@") or (s.lower().endswith(".txt") and Path(s).is_file())


def is_single_image(specs) -> bool:
    """True when ``specs`` is exactly one existing file that is not a list file (the one-image CLI path)."""
    specs = [specs] if isinstance(specs, (str, os.PathLike)) else list(specs)
    if len(specs) != 1:
        return False
    s = str(specs[0])
    return not is_list_file(s) and not is_glob(s) and not Path(s).is_dir()


def list_inputs(specs, *, recursive: bool = False, exclude: str | os.PathLike | None = None) -> list[Path]:
    """Expand input specs into image paths, in the order given (folders and globs sorted), duplicates dropped.

    Args:
        specs: one spec or several (see the module docstring).
        recursive: folders are searched in sub-folders too.
        exclude: a folder whose contents are never listed (the batch's own output folder).

    Raises :class:`InputListError` for a path that does not exist, a folder without images or a glob
    without matches. Paths inside list files are passed through unchecked (a missing one fails as that
    image, so one bad line does not stop a long list).
    """
    specs = [specs] if isinstance(specs, (str, os.PathLike)) else list(specs)
    ex = Path(exclude).resolve() if exclude is not None else None
    found: list[Path] = []
    for spec in specs:
        found.extend(_expand(str(spec), recursive, from_list=False))
    out, seen = [], set()
    for p in found:
        r = p.resolve()
        if r in seen or (ex is not None and (r == ex or ex in r.parents)):
            continue
        seen.add(r)
        out.append(p)
    if not out:
        raise InputListError(f"no images in {' '.join(map(str, specs))}; name image files, folders, globs or @list.txt")
    return out


def _expand(spec: str, recursive: bool, from_list: bool) -> list[Path]:
    if is_list_file(spec) and not from_list:
        return _read_list(Path(spec[1:] if spec.startswith("@") else spec), recursive)
    if is_glob(spec):
        hits = sorted(glob.glob(spec, recursive=True))
        if not hits and not from_list:
            raise InputListError(f"{spec}: the pattern matches no files")
        return [Path(h) for h in hits if not Path(h).is_dir()]
    p = Path(spec)
    if p.is_dir():
        pattern = "**/*" if recursive else "*"
        imgs = sorted(q for q in p.glob(pattern) if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES
                      and not q.name.startswith("."))
        if not imgs:
            raise InputListError(f"{p}: the folder has no images ({', '.join(IMAGE_SUFFIXES[:4])}, ...)"
                                 + ("" if recursive else "; search sub-folders with --recursive"))
        return imgs
    if not p.exists() and not from_list:
        raise InputListError(f"{p}: no such file or folder")
    return [p]


def _read_list(path: Path, recursive: bool) -> list[Path]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise InputListError(f"{path}: cannot read the list file ({e})") from None
    out = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        item = line if os.path.isabs(line) else str(path.parent / line)
        out.extend(_expand(item, recursive, from_list=True))
    return out


def _safe_stem(p: Path) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", p.stem).strip("._") or "image"
    return s[:80]


def output_names(paths, existing: dict[str, str] | None = None) -> list[str]:
    """A folder name per input: its file stem (characters outside ``[A-Za-z0-9._-]`` become ``_``).

    Stems that collide (case-insensitively, e.g. ``a/x.png`` and ``b/X.jpg``) all get ``-`` plus 8 hex
    digits of the SHA-1 of the resolved path, so names are collision-free and do not depend on the
    order of the inputs. ``existing`` (resolved input path -> folder name, from an earlier run) keeps
    those inputs' folders and keeps other inputs out of them.
    """
    existing = existing or {}
    resolved = [str(Path(p).resolve()) for p in paths]
    stems = [_safe_stem(Path(p)) for p in paths]
    counts: dict[str, int] = {}
    for s in stems:
        counts[s.casefold()] = counts.get(s.casefold(), 0) + 1
    owners = {name.casefold(): r for r, name in existing.items()}
    names = []
    for r, s in zip(resolved, stems):
        if r in existing:
            names.append(existing[r])
            continue
        if counts[s.casefold()] > 1 or owners.get(s.casefold(), r) != r:
            s = f"{s}-{hashlib.sha1(r.encode('utf-8')).hexdigest()[:8]}"
        names.append(s)
    return names


__all__ = ["list_inputs", "output_names", "is_single_image", "is_glob", "is_list_file", "InputListError",
           "IMAGE_SUFFIXES"]
