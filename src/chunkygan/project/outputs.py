"""Write a projection's results into a folder with stable names (each file atomically).

=========================== =====================================================================
``projection.safetensors``  codes, masks, mask parameters, space, generator, resolved config
``target.png``              the input as the projector saw it (cropped/resized to the resolution)
``reconstruction.png``      the composite O (Eq. 1 / Eq. 3)
``segments.png``            colour-coded segment map (soft masks mixed with :data:`~chunkygan.segments.masks.PALETTE`)
``segment_XX.png``          each code's full render G(X_k)
``comparison.png``          target | reconstruction | segments over the reconstruction, enlarged
``progression.png``         intermediate reconstructions (only with snapshots; cf. the paper's Fig. 3)
``metrics.json``            ``lpips``, ``l2``, ``seconds``, ``steps``, ... (written last: its presence
                            means the folder is complete)
=========================== =====================================================================

Reusing a folder: :func:`begin_outputs` first removes ``metrics.json`` (the folder is marked incomplete
while files change), and :func:`finish_outputs` removes the files of this table that an earlier run left
and this one did not write (e.g. ``segment_03.png`` of a K = 4 run beside a K = 2 run), then writes
``metrics.json``. Only regular files with these names are ever removed; anything else in the folder stays.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import torch
import torch.nn.functional as F

from ..fileio import atomic_write_text, remove_owned
from ..imageio import make_grid, save_image
from ..segments.masks import SegmentMasks
from .io import Projection

#: comparison tiles are enlarged (nearest neighbour, integer factor) to at least this many pixels
MIN_TILE = 256


def enlarge(img: torch.Tensor, min_size: int = MIN_TILE) -> torch.Tensor:
    """Nearest-neighbour enlargement of ``[B,C,H,W]`` by the smallest integer factor reaching ``min_size``."""
    f = max(1, -(-min_size // img.shape[-1]))
    return img if f == 1 else F.interpolate(img, scale_factor=f, mode="nearest")


#: the result files a projection folder may hold (see the table above); only these are ever removed as stale
RESULT_FILES = re.compile(r"(projection\.safetensors|target\.png|reconstruction\.png|segments\.png|segment_\d{2,}\.png"
                          r"|comparison\.png|progression\.png|progression_segments\.png|photo_reconstruction\.png"
                          r"|metrics\.json)")
#: the completion marker, written last and only when every other file was written
MARKER = "metrics.json"


#: a temporary file of :func:`chunkygan.fileio.atomic_path` (``.NAME-STEM.XXXXXXXX.tmp.SUFFIX``), left only by a kill
_TEMP = re.compile(r"\.(?P<stem>.+)\.[A-Za-z0-9_]{8}\.tmp(?P<suffix>\.[A-Za-z0-9]+)?")


def begin_outputs(folder: str | os.PathLike) -> Path:
    """Create ``folder``, remove its completion marker (an earlier run's results are now in flux) and the
    temporary files a killed run may have left beside its result files."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    remove_owned(out / MARKER)
    for entry in os.scandir(out):
        m = _TEMP.fullmatch(entry.name)
        if m and (RESULT_FILES.fullmatch(m["stem"] + (m["suffix"] or "")) or
                  m["stem"] + (m["suffix"] or "") == "checkpoint.safetensors"):
            remove_owned(entry.path)
    return out


def finish_outputs(folder: str | os.PathLike, files: dict[str, Path], metrics: dict) -> Path:
    """Remove stale result files (names in :data:`RESULT_FILES` not in ``files``), then write ``metrics.json``."""
    out = Path(folder)
    keep = {Path(p).name for p in files.values() if p is not None}
    for entry in os.scandir(out):
        if entry.name not in keep and entry.name != MARKER and RESULT_FILES.fullmatch(entry.name):
            remove_owned(entry.path)
    atomic_write_text(out / MARKER, json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return out / MARKER


def snapshot_files(folder: str | os.PathLike, pattern: re.Pattern) -> dict[str, tuple[int, int]]:
    """``name -> (inode, mtime_ns)`` of the regular files in ``folder`` whose names match ``pattern``."""
    out = {}
    if Path(folder).is_dir():
        for entry in os.scandir(folder):
            if pattern.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                st = entry.stat(follow_symlinks=False)
                out[entry.name] = (st.st_ino, st.st_mtime_ns)
    return out


def remove_unchanged(folder: str | os.PathLike, pattern: re.Pattern, before: dict[str, tuple[int, int]]) -> list[str]:
    """Remove the files of :func:`snapshot_files` ``before`` that this run did not rewrite (stale results of an
    earlier run, e.g. ``edited_4.png`` of a 5-step sweep beside a 3-step one); returns their names."""
    gone = []
    for name, (ino, mtime) in before.items():
        p = Path(folder) / name
        try:
            st = os.lstat(p)
        except FileNotFoundError:
            continue
        if (st.st_ino, st.st_mtime_ns) == (ino, mtime) and remove_owned(p):
            gone.append(name)
    return gone


def write_outputs(folder: str | os.PathLike, proj: Projection, G,
                  snapshots: list[tuple[int, torch.Tensor]] | None = None, complete: bool = True) -> dict[str, Path]:
    """Write all result files for ``proj`` (rendered with ``G``) into ``folder``; returns name -> path.

    ``complete=False`` leaves the folder marked incomplete (no ``metrics.json``): the caller writes more
    files and then calls :func:`finish_outputs` itself.
    """
    out = begin_outputs(folder)
    files: dict[str, Path] = {}
    files["projection"] = proj.save(out / "projection.safetensors")
    with torch.no_grad():
        renders = proj.renders(G).float().cpu()
        recon = proj.composite(G).float().cpu()
    masks = SegmentMasks(proj.masks.float().cpu(), normalised=True)
    if proj.target is not None:
        files["target"] = save_image(proj.target.cpu(), out / "target.png")
    files["reconstruction"] = save_image(recon, out / "reconstruction.png")
    files["segments"] = masks.save_preview(out / "segments.png")
    for k in range(renders.shape[0]):
        files[f"segment_{k:02d}"] = save_image(renders[k:k + 1], out / f"segment_{k:02d}.png")
    tiles = [t for t in (proj.target.cpu() if proj.target is not None else None, recon,
                         masks.preview(recon, alpha=0.5)) if t is not None]
    files["comparison"] = save_image(make_grid(enlarge(torch.cat(tiles)), nrow=len(tiles)), out / "comparison.png")
    if snapshots:
        strip = torch.cat([s.float().cpu() for _, s in snapshots] + [recon])
        files["progression"] = save_image(make_grid(enlarge(strip, 128), nrow=strip.shape[0]), out / "progression.png")
    if complete:
        files["metrics"] = finish_outputs(out, files, dict(proj.metrics))
    return files


__all__ = ["write_outputs", "begin_outputs", "finish_outputs", "snapshot_files", "remove_unchanged", "enlarge", "MIN_TILE", "RESULT_FILES", "MARKER"]
