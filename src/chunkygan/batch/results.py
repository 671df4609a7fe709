"""Per-image results of a batch: the completion marker and the summary files.

Each finished image folder gets ``done.json`` **last** and atomically (after every output of
:func:`chunkygan.project.outputs.write_outputs`): its presence means the folder is complete, so a
killed batch leaves no folder that looks finished but is not. ``done.json`` records the input, a
fingerprint of the configuration and generator, and the image's metrics; a rerun skips an image only
when all three match. The batch folder gets ``results.jsonl`` and ``results.csv``: one row per input,
in input order, whichever run or worker finished it.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..fileio import atomic_write_text

DONE = "done.json"
SUMMARY_JSONL = "results.jsonl"
SUMMARY_CSV = "results.csv"
#: the leading summary columns; metrics follow, sorted by name
COLUMNS = ("input", "output", "status", "error")


@dataclass
class ImageResult:
    """What happened to one input.

    ``status``: ``ok`` (projected now), ``skipped`` (finished by an earlier run; ``metrics`` are from
    its ``done.json``) or ``failed`` (``error`` is a one-line reason; the batch went on).
    ``output`` is the image's folder; ``worker`` names the Ray actor that did it (None in-process).
    """

    input: Path
    output: Path
    status: str
    error: str | None = None
    metrics: dict = field(default_factory=dict)
    index: int = 0
    worker: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "skipped")

    def row(self, root: str | os.PathLike | None = None) -> dict:
        """The summary row: input, output folder (relative to ``root``), status (``ok``/``failed``), error, metrics."""
        out = Path(self.output)
        if root is not None:
            try:
                out = out.relative_to(root)
            except ValueError:
                pass
        return {"input": str(self.input), "output": str(out), "status": "ok" if self.ok else "failed",
                "error": self.error or "", **self.metrics}


def fingerprint(config: dict, generator: str) -> str:
    """SHA-256 (16 hex digits) of the resolved projection config and the generator's name: what makes a result."""
    blob = json.dumps({"config": config, "generator": generator}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def write_done(folder: str | os.PathLike, input_path: str | os.PathLike, fp: str, metrics: dict) -> Path:
    """Write ``done.json`` atomically (call it after every other output of the image)."""
    path = Path(folder) / DONE
    info = {"input": str(Path(input_path).resolve()), "fingerprint": fp, "metrics": metrics}
    atomic_write_text(path, json.dumps(info, indent=2, sort_keys=True) + "\n")
    return path


def read_done(folder: str | os.PathLike, input_path: str | os.PathLike, fp: str) -> dict | None:
    """The metrics recorded for ``input_path`` in ``folder/done.json`` when it is finished with fingerprint
    ``fp``; None when the folder is unfinished, belongs to another input or was made with other settings."""
    try:
        info = json.loads((Path(folder) / DONE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if info.get("input") != str(Path(input_path).resolve()) or info.get("fingerprint") != fp:
        return None
    return dict(info.get("metrics", {}))


def finished_folders(out_dir: str | os.PathLike) -> dict[str, str]:
    """Resolved input path -> folder name, from the ``done.json`` files directly inside ``out_dir``."""
    found = {}
    try:
        entries = sorted(os.scandir(out_dir), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return found
    for entry in entries:
        try:
            info = json.loads((Path(entry.path) / DONE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(info, dict) and isinstance(info.get("input"), str):
            found.setdefault(info["input"], entry.name)
    return found


def summary_rows(results, root: str | os.PathLike | None = None) -> list[dict]:
    """Summary rows in input order (``ImageResult.index``)."""
    return [r.row(root) for r in sorted(results, key=lambda r: r.index)]


def write_summary(out_dir: str | os.PathLike, results) -> tuple[Path, Path]:
    """Write ``results.jsonl`` and ``results.csv`` (atomically) into ``out_dir``; returns both paths."""
    out = Path(out_dir)
    rows = summary_rows(results, out)
    jsonl = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)
    flat = [_flatten(r) for r in rows]  # nested metrics become dotted columns (fragmentation.segments_used)
    metric_keys = sorted({k for r in flat for k in r} - set(COLUMNS))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=[*COLUMNS, *metric_keys], lineterminator="\n")
    w.writeheader()
    w.writerows(flat)
    atomic_write_text(out / SUMMARY_JSONL, jsonl)
    atomic_write_text(out / SUMMARY_CSV, buf.getvalue())
    return out / SUMMARY_JSONL, out / SUMMARY_CSV


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def read_summary(out_dir: str | os.PathLike) -> list[dict]:
    """The rows of ``out_dir/results.jsonl``."""
    text = (Path(out_dir) / SUMMARY_JSONL).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


__all__ = ["ImageResult", "write_summary", "read_summary", "summary_rows", "write_done", "read_done", "fingerprint", "finished_folders",
           "DONE", "SUMMARY_JSONL", "SUMMARY_CSV"]
