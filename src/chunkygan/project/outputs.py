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
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch
import torch.nn.functional as F

from ..fileio import atomic_write_text
from ..imageio import make_grid, save_image
from ..segments.masks import SegmentMasks
from .io import Projection

#: comparison tiles are enlarged (nearest neighbour, integer factor) to at least this many pixels
MIN_TILE = 256


def enlarge(img: torch.Tensor, min_size: int = MIN_TILE) -> torch.Tensor:
    """Nearest-neighbour enlargement of ``[B,C,H,W]`` by the smallest integer factor reaching ``min_size``."""
    f = max(1, -(-min_size // img.shape[-1]))
    return img if f == 1 else F.interpolate(img, scale_factor=f, mode="nearest")


def write_outputs(folder: str | os.PathLike, proj: Projection, G,
                  snapshots: list[tuple[int, torch.Tensor]] | None = None) -> dict[str, Path]:
    """Write all result files for ``proj`` (rendered with ``G``) into ``folder``; returns name -> path."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
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
    metrics = dict(proj.metrics)
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    files["metrics"] = out / "metrics.json"
    return files


__all__ = ["write_outputs", "enlarge", "MIN_TILE"]
