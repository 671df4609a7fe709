"""Editability: the paper's Table 2 (Sec. 4.2), identity loss after edits of calibrated strength.

For every direction and method:

1. **Sweep.** Each image's projection (``OUT/projections/<method>/<image>/``, made as in
   :mod:`chunkygan.eval.fidelity` and shared with it) is edited globally (all K codes move by the same
   amount, Sec. 4.2) at every sweep strength; the direction's labeller scores each edited composite.
2. **Calibrate.** The rate of change of the score with the strength is fitted by least squares over
   the whole dataset (one slope per method, one intercept per image: ``score_is = a_i + r·s``). The
   target effect is the reference rate (the median of the methods' rates, or a named method's) times
   ``reference_strength``; each method then gets the strength ``s_m = effect / r_m`` that changes the
   attribute by that same amount.
3. **Measure.** Each projection is edited at ``s_m``; the identity distance (1 − cos of ArcFace) is
   measured between the projected and the edited image (Table 2 a) and between the original photo and
   the edited image (Table 2 b).

Every step writes one small JSON per (direction, method, image) atomically (``OUT/editing/sweep/...``,
``OUT/editing/edits/...``), so a rerun continues and repeats nothing that is finished. A direction
without a labeller (``beard`` without a user-trained probe) or missing from the generator's bank gets
an empty column whose note says why.
"""
from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from ..fileio import atomic_write_text
from .methods import MethodSpec

log = logging.getLogger(__name__)

#: the paper's four directions (Sec. 4.2)
PAPER_DIRECTIONS = ("gender", "smile", "age", "beard")
DEFAULT_STRENGTHS = (-2.0, -1.0, 0.0, 1.0, 2.0)


class EditingEvalError(ValueError):
    """A direction or labeller the editing evaluation cannot use; the message says what to do."""


@dataclass
class Calibration:
    """Per-method fitted rate (score units per unit strength) and the calibrated strength."""

    direction: str
    effect: float | None
    reference: str
    rates: dict[str, float | None] = field(default_factory=dict)
    strengths: dict[str, float | None] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


@dataclass
class EditingRun:
    out_dir: Path
    table: list[dict]
    calibrations: dict[str, Calibration]
    skipped_directions: dict[str, str]
    rows: list[dict]
    files: dict[str, Path] = field(default_factory=dict)


def fit_rate(strengths: list[float], scores: list[list[float]]) -> tuple[float | None, int]:
    """Least-squares slope of ``score = a_image + r·strength`` over images (NaN scores skipped).

    ``scores[i][j]`` is image i's score at ``strengths[j]``. Returns ``(r, number of scores used)``;
    r is None when fewer than two strengths of one image were scored."""
    num = den = 0.0
    used = 0
    for row in scores:
        pts = [(s, y) for s, y in zip(strengths, row) if y is not None and not math.isnan(y)]
        if len(pts) < 2:
            continue
        ms = sum(s for s, _ in pts) / len(pts)
        my = sum(y for _, y in pts) / len(pts)
        num += sum((s - ms) * (y - my) for s, y in pts)
        den += sum((s - ms) ** 2 for s, _ in pts)
        used += len(pts)
    return (num / den if den > 0 else None), used


def calibrate(direction: str, rates: dict[str, float | None], reference: str, reference_strength: float,
              max_strength: float) -> Calibration:
    """Strengths giving every method the same effect (Sec. 4.2): the reference's rate times ``reference_strength``.

    ``reference`` is a method, or ``"median"``: the median of the fitted rates (robust to one method whose
    edits barely move the labeller, which would make every calibrated edit tiny)."""
    cal = Calibration(direction, None, reference, dict(rates))
    if reference == "median":
        valid = sorted(r for r in rates.values() if r is not None)
        r_ref = None if not valid else (valid[len(valid) // 2] if len(valid) % 2 else
                                        (valid[len(valid) // 2 - 1] + valid[len(valid) // 2]) / 2)
    else:
        r_ref = rates.get(reference)
    if r_ref is None or abs(r_ref) < 1e-9:
        for m in rates:
            cal.strengths[m] = None
            cal.notes[m] = f"the reference method {reference} does not change the score"
        return cal
    effect = r_ref * reference_strength
    cal.effect = effect
    for m, r in rates.items():
        if r is None or abs(r) < 1e-9 or (r > 0) != (r_ref > 0):
            cal.strengths[m] = None
            cal.notes[m] = "the edit does not move the score the reference's way; no strength gives the same effect"
            continue
        s = effect / r
        cal.strengths[m] = s
        if abs(s) > max_strength:
            cal.notes[m] = f"calibrated strength {s:.2f} lies outside the sweep (±{max_strength:g}): extrapolated"
    return cal


def direction_id(direction) -> str:
    """A short hash of what a direction does (vector, layers, scale, space): resumed results of another
    direction under the same name are recomputed."""
    import hashlib

    h = hashlib.sha256()
    if direction.vector is not None:
        h.update(direction.vector.detach().cpu().float().contiguous().numpy().tobytes())
    h.update(repr((direction.space, direction.layers, float(direction.scale), getattr(direction, "channel", None))).encode())
    return h.hexdigest()[:16]


def _edited_image(G, proj, direction, strength: float) -> torch.Tensor:
    from ..edit.apply import edit_projection, edited_composite

    edited = edit_projection(G, proj, [(direction, float(strength))])
    return edited_composite(G, proj, edited).float().cpu()


def _labeller(name: str, probes: dict[str, str]):
    """A labeller ``[B,3,H,W] -> [B]`` for ``name``; :class:`EditingEvalError` with the reason if there is none."""
    from ..face.labellers import LABELLERS, labeller

    if name == "beard" and name not in probes:
        raise EditingEvalError("beard has no classifier in any package: train a linear probe on ArcFace features of "
                               "your labelled examples (chunkygan.face.labellers.LinearProbe.fit, .save) and pass "
                               "--probe beard=FILE")
    if name not in LABELLERS and name not in probes:
        raise EditingEvalError(f"no labeller for {name!r} (known: {', '.join(sorted(LABELLERS))}; others need "
                               f"--probe {name}=FILE)")
    try:
        return labeller(name, missing="nan", probe=probes.get(name))
    except (ImportError, OSError, ValueError) as e:
        raise EditingEvalError(f"labeller {name!r} is unavailable: {e}") from None


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def run_editing(inputs: list[Path], out_dir: str | os.PathLike, methods: list[MethodSpec], directions: list[str],
                base_config, *, G, generator_name: str, bank, probes: dict[str, str] | None = None,
                strengths: tuple[float, ...] = DEFAULT_STRENGTHS, reference: str | None = "median",
                reference_strength: float = 1.0, metrics=None, resume: bool = True,
                ray_address: str | None = None, batch_size: int = 1, on_item: Callable[[str], None] | None = None,
                on_step: Callable | None = None, require_all: bool = False) -> EditingRun:
    """Table 2 for ``directions`` (names in ``bank``) and ``methods``; see the module docstring.

    ``require_all``: a requested direction missing from the bank raises :class:`EditingEvalError`
    (otherwise its column is left empty with the reason, as it always is for a direction without a labeller).
    """
    from ..batch.inputs import output_names
    from ..imageio import load_image, save_image
    from ..project.io import Projection
    from .metrics import Metrics
    from .report import write_editing_reports
    from .runner import project_inputs

    out = Path(out_dir)
    metrics = metrics or Metrics()
    probes = dict(probes or {})
    names = output_names(inputs)
    name_of = {Path(i).resolve(): n for i, n in zip(inputs, names)}
    reference = reference or "median"
    tuned = [m.spec for m in methods if m.pti is not None]
    if tuned:
        raise EditingEvalError(f"{', '.join(tuned)}: Table 2 does not take tuned (PTI) rows yet; drop them (edits of "
                               "tuned projections: `chunkygan edit` on a `chunkygan project --pti` folder)")
    if reference != "median" and reference not in [m.spec for m in methods]:
        raise EditingEvalError(f"reference method {reference!r} is not among the methods ({', '.join(m.spec for m in methods)})")
    # which directions can be evaluated
    usable: dict[str, tuple] = {}
    skipped: dict[str, str] = {}
    for d in directions:
        try:
            lab = _labeller(d, probes)
        except EditingEvalError as e:  # never fatal: the column says why it is empty
            skipped[d] = str(e)
            log.warning("%s", e)
            continue
        if d not in bank:
            msg = (f"no direction {d!r} in the bank of {generator_name} (it has: {', '.join(bank.names())}); fit one "
                   f"with `chunkygan directions discover --method linear` and the {d} labeller")
            if require_all:
                raise EditingEvalError(msg)
            skipped[d] = msg
            log.warning("%s", msg)
            continue
        usable[d] = (bank.get(d), lab)
    # 0. the projections (shared with the fidelity evaluation)
    folders: dict[tuple[str, str], Path] = {}
    for spec in methods:
        cfg = spec.config(base_config)
        for inp, folder, status in project_inputs(inputs, out / "projections" / spec.slug, cfg, G=G,
                                                  generator_name=generator_name, resume=resume,
                                                  ray_address=ray_address, batch_size=batch_size, on_step=on_step):
            if status.startswith("failed"):
                raise EditingEvalError(f"projecting {inp} with {spec.spec} failed: {status}")
            folders[(spec.spec, name_of[Path(inp).resolve()])] = folder
    dev = next(G.parameters()).device
    proj_cache: dict[tuple[str, str], Projection] = {}

    def projection(m: str, n: str) -> Projection:
        if (m, n) not in proj_cache:
            proj_cache[(m, n)] = Projection.load(folders[(m, n)] / "projection.safetensors", device=dev)
        return proj_cache[(m, n)]

    calibrations: dict[str, Calibration] = {}
    rows: list[dict] = []
    sweep = [float(s) for s in strengths]
    for d, (direction, lab) in usable.items():
        did = direction_id(direction)  # a re-fitted bank must never reuse the old direction's scores
        rates = {}
        for spec in methods:
            # 1. sweep
            per_image = []
            for n in names:
                path = out / "editing" / "sweep" / d / spec.slug / f"{n}.json"
                rec = _read(path) if resume else None
                if rec is None or rec.get("strengths") != sweep or rec.get("direction_id") != did:
                    proj = projection(spec.spec, n)
                    imgs = torch.cat([_edited_image(G, proj, direction, s) for s in sweep])
                    scores = [float(v) for v in torch.as_tensor(lab(imgs)).float().reshape(-1)]
                    rec = {"kind": "sweep", "direction": d, "method": spec.spec, "image": n, "strengths": sweep,
                           "direction_id": did, "scores": [None if math.isnan(v) else v for v in scores]}
                    atomic_write_text(path, json.dumps(rec, sort_keys=True) + "\n")
                    if on_item is not None:
                        on_item(f"sweep {d} {spec.spec} {n}")
                rows.append(rec)
                per_image.append(rec["scores"])
            rates[spec.spec], _ = fit_rate(sweep, per_image)
        # 2. calibrate
        cal = calibrate(d, rates, reference, reference_strength, max(abs(s) for s in sweep))
        calibrations[d] = cal
        # 3. identity after the calibrated edit
        for spec in methods:
            s = cal.strengths.get(spec.spec)
            for n in names:
                path = out / "editing" / "edits" / d / spec.slug / f"{n}.json"
                rec = _read(path) if resume else None
                if s is None:
                    rows.append({"kind": "edit", "direction": d, "method": spec.spec, "image": n, "strength": None,
                                 "identity_projected": None, "identity_original": None,
                                 "error": cal.notes.get(spec.spec)})
                    continue
                if rec is None or rec.get("strength") != round(s, 6) or rec.get("direction_id") != did:
                    folder = folders[(spec.spec, n)]
                    img_path = out / "editing" / "edits" / d / spec.slug / f"{n}.png"
                    save_image(_edited_image(G, projection(spec.spec, n), direction, s), img_path)
                    edited = load_image(img_path)
                    recon, target = load_image(folder / "reconstruction.png"), load_image(folder / "target.png")
                    ia, ea = metrics.identity(edited, recon)
                    ib, eb = metrics.identity(edited, target)
                    score = float(torch.as_tensor(lab(edited)).float().reshape(-1)[0])
                    rec = {"kind": "edit", "direction": d, "method": spec.spec, "image": n, "strength": round(s, 6),
                           "direction_id": did, "edited": os.path.relpath(img_path, out), "score": None if math.isnan(score) else score,
                           "identity_projected": None if math.isnan(ia[0]) else ia[0],
                           "identity_original": None if math.isnan(ib[0]) else ib[0],
                           "error": ea[0] or eb[0]}
                    atomic_write_text(path, json.dumps(rec, sort_keys=True) + "\n")
                    if on_item is not None:
                        on_item(f"edit {d} {spec.spec} {n}")
                rows.append(rec)
    run = EditingRun(out, [], calibrations, skipped, rows)
    run.files = write_editing_reports(out, run, methods, directions)
    return run


__all__ = ["run_editing", "fit_rate", "calibrate", "Calibration", "EditingRun", "EditingEvalError",
           "PAPER_DIRECTIONS", "DEFAULT_STRENGTHS"]
