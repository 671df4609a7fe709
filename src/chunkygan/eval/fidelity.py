"""Projection fidelity: the paper's Table 1 and Fig. 4 (Sec. 4.1) on any images, generator and methods.

Every (image, method) pair is projected once (:func:`chunkygan.eval.runner.project_inputs`, folders as
``chunkygan project`` writes them, under ``OUT/projections/<method>/<image>/``) and scored from the
written ``target.png`` and ``reconstruction.png`` with :mod:`chunkygan.eval.metrics`. The pair's row is
written atomically to ``OUT/rows/<method>/<image>.json`` as its completion marker, so an interrupted run
continues where it stopped and never repeats a finished pair. ``results.jsonl`` and the reports are
rebuilt from all rows, in (method, image) order, so a resumed run writes the same files as an
uninterrupted one.

A tuned row (``w++pti``: the issue's ``w+ + pti``, :mod:`chunkygan.eval.methods`) tunes the finished
projection of its untuned spec (shared with the ``w+`` row, so both are at the same projection budget)
with :func:`chunkygan.batch.tuning.tune_into` into ``OUT/projections/<tuned method>/<image>/`` (the files
``chunkygan project --pti`` writes) and is scored on ``reconstruction_pti.png``, the tuned reconstruction.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..batch.tuning import TUNED_RECONSTRUCTION
from ..fileio import atomic_write_text
from .methods import MethodSpec
from .metrics import L2_RANGE, LPIPS_RESOLUTION, Metrics

log = logging.getLogger(__name__)

ROW_FORMAT = "chunkygan.eval.fidelity/1"


@dataclass
class FidelityRun:
    """What a fidelity run did: rows in (method, image) order and how many pairs were done now/before."""

    rows: list[dict]
    out_dir: Path
    projected: int = 0
    reused: int = 0
    failed: list[str] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)


def score_pair(folder: Path, metrics: Metrics, reconstruction: str = "reconstruction.png") -> dict:
    """LPIPS, identity and L2 of ``folder/<reconstruction>`` against ``folder/target.png`` (as written)."""
    from ..imageio import load_image

    target, recon = load_image(folder / "target.png"), load_image(folder / reconstruction)
    return metrics.all(recon, target)[0]


def tune_pair(G, spec: MethodSpec, projection_folder: Path, dest: Path, pti_steps: int | None,
              on_step: Callable | None = None) -> Path:
    """The PTI stage of a tuned row: tune ``G`` around the finished projection in ``projection_folder`` and
    write a complete tuned projection folder ``dest`` (delta, reconstruction_pti.png, the projection's files,
    metrics.json last). Returns ``dest``."""
    from ..batch.tuning import tune_into
    from ..project.io import Projection
    from ..project.outputs import write_outputs

    proj = Projection.load(projection_folder / "projection.safetensors")  # (the tuner moves it to G's device)
    tune_into(dest, G, proj, spec.pti_config(pti_steps), callback=on_step)
    write_outputs(dest, proj, G)
    return dest


def _row(spec: MethodSpec, cfg, name: str, inp: Path, folder: Path, out_dir: Path, scores: dict, generator: str) -> dict:
    info = {}
    try:
        info = json.loads((folder / "metrics.json").read_text())
    except (OSError, ValueError):
        pass
    tuned = {} if spec.pti is None else {"pti": info.get("pti"), "label": spec.label}
    return {
        **tuned,
        "format": ROW_FORMAT, "image": name, "input": str(inp), "method": spec.spec, "projection": cfg.method,
        "space": spec.space, "chunky": spec.chunky, "lambda_reg": cfg.lambda_reg,
        "segments": int(info.get("segments", cfg.segments)), "steps": cfg.steps, "generator": generator,
        "folder": os.path.relpath(folder, out_dir), **scores,
        "lpips_net": "alex", "lpips_resolution": LPIPS_RESOLUTION, "l2_range": L2_RANGE,
        "seconds": info.get("seconds"),
    }


def row_path(out_dir: Path, spec: MethodSpec, name: str) -> Path:
    return out_dir / "rows" / spec.slug / f"{name}.json"


def run_fidelity(inputs: list[Path], out_dir: str | os.PathLike, methods: list[MethodSpec], base_config, *, G,
                 generator_name: str, metrics: Metrics | None = None, resume: bool = True,
                 mask_source_factory: Callable | None = None, ray_address: str | None = None,
                 on_pair: Callable[[dict, str], None] | None = None, on_step: Callable | None = None,
                 batch_size: int = 1, pti_steps: int | None = None) -> FidelityRun:
    """Project and score every (image, method) pair, then write ``results.jsonl`` and the reports.

    Args:
        inputs: image paths (FFHQ-aligned faces; :func:`chunkygan.batch.inputs.list_inputs` expands specs).
        methods: the rows of the table (:func:`chunkygan.eval.methods.parse_method_specs`).
        base_config: the common :class:`~chunkygan.project.projector.ProjectionConfig` (steps, K, seed, ...);
            each method's options override it.
        mask_source_factory: makes a fresh ``G^S`` mask source per image (``--auto``), used for the
            segment-wise methods.
        on_pair(row, status): called for every pair (``ok``, ``skipped`` or ``failed: ...``).
        on_step(info): after every projection step (and every PTI step of a tuned row).
        pti_steps: tuning steps of the tuned rows (``w++pti``) that do not give ``pti=STEPS`` themselves
            (default: :class:`~chunkygan.project.pti.PTIConfig`'s).
    """
    from ..batch.inputs import output_names
    from .report import write_fidelity_reports
    from .runner import project_inputs

    out = Path(out_dir)
    metrics = metrics or Metrics()
    names = output_names(inputs)
    name_of = {Path(i).resolve(): n for i, n in zip(inputs, names)}
    run = FidelityRun(rows=[], out_dir=out)
    for spec in methods:
        cfg = spec.config(base_config)
        have = {n for n in names if resume and row_path(out, spec, n).is_file()}
        for n in names:
            if n in have:
                run.reused += 1
                if on_pair is not None:
                    on_pair(json.loads(row_path(out, spec, n).read_text()), "skipped")
        if len(have) == len(names):
            continue
        factory = mask_source_factory if spec.chunky else None
        # all inputs go to the runner (it names folders from the whole list and skips finished ones itself)
        for inp, folder, status in project_inputs(
                inputs, out / "projections" / spec.projection_slug, cfg, G=G, generator_name=generator_name,
                resume=resume, mask_source_factory=factory, ray_address=ray_address, on_step=on_step,
                batch_size=batch_size):
            name = name_of[Path(inp).resolve()]
            if name in have:
                continue
            recon = "reconstruction.png"
            if spec.pti is not None and not status.startswith("failed"):
                try:  # the tuned row: PTI on the finished projection, scored on the tuned reconstruction
                    folder = tune_pair(G, spec, folder, out / "projections" / spec.slug / folder.name, pti_steps,
                                       on_step)
                    recon, status = TUNED_RECONSTRUCTION, "ok"
                except (ValueError, OSError) as e:
                    status = f"failed: {e}"
            if status.startswith("failed"):
                run.failed.append(f"{spec.spec} {name}: {status}")
                if on_pair is not None:
                    on_pair({"method": spec.spec, "image": name}, status)
                continue
            row = _row(spec, cfg, name, inp, folder, out, score_pair(folder, metrics, recon), str(generator_name))
            row["lpips_net"] = metrics.lpips_net
            atomic_write_text(row_path(out, spec, name), json.dumps(row, sort_keys=True) + "\n")
            run.projected += status == "ok"
            run.reused += status == "skipped"
            if on_pair is not None:
                on_pair(row, status)
    run.rows = collect_rows(out, methods, names)
    run.files = write_fidelity_reports(out, run.rows, methods)
    return run


def collect_rows(out_dir: Path, methods: list[MethodSpec], names: list[str]) -> list[dict]:
    """All finished rows in (method, image) order."""
    rows = []
    for spec in methods:
        for n in names:
            p = row_path(out_dir, spec, n)
            if p.is_file():
                rows.append(json.loads(p.read_text()))
    return rows


__all__ = ["run_fidelity", "score_pair", "collect_rows", "FidelityRun", "row_path"]
