"""Pivotal tuning after a projection, writing its files into a projection folder (one image, batch, evaluation).

:func:`tune_into` is the per-image PTI stage of ``chunkygan project IMAGE... --pti``, of the evaluation's
``w+ + pti`` rows and of the single-image ``chunkygan project IMAGE --pti`` (commands/_pti.py), so every path
writes the same files the same way. It tunes the generator around the projection's K pivots
(:class:`~chunkygan.project.pti.PivotalTuner`), writes ``pti_delta.safetensors`` and
``reconstruction_pti.png`` beside where ``projection.safetensors`` goes, records the delta in the
projection (``config.pti``) and its metrics in ``metrics["pti"]``. The caller then writes the
projection's own files and its completion marker (``done.json`` in a batch, metrics.json for one image).
:func:`drop_delta` is the other half: an untuned rerun into the same folder removes both files.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

#: the tuned reconstruction beside ``reconstruction.png`` (the untuned one)
TUNED_RECONSTRUCTION = "reconstruction_pti.png"


def tune_into(folder: str | os.PathLike, G, proj, config, *, callback: Callable | None = None, loss_fn=None):
    """Tune ``G`` around ``proj``'s pivots and write the delta and the tuned reconstruction into ``folder``.

    Args:
        proj: the :class:`~chunkygan.project.io.Projection` (with its target); updated in place: ``config.pti``
            names the delta, ``metrics["pti"]`` holds ``lpips_before``, ``lpips``, ``l2``, ``steps``, ...
        config: :class:`~chunkygan.project.pti.PTIConfig`.
        callback: ``callback(info)`` with each :class:`~chunkygan.project.pti.TuneStep`.
    Returns the stored :class:`~chunkygan.project.pti.WeightDelta`.
    """
    from ..imageio import save_image
    from ..project.pti import DELTA_FILE, PivotalTuner, attach, tuned_composite

    out = Path(folder)
    delta = PivotalTuner(G, proj, config, loss_fn=loss_fn).run(callback)
    out.mkdir(parents=True, exist_ok=True)
    delta.save(out / DELTA_FILE)
    attach(proj, delta)
    save_image(tuned_composite(G, proj, delta).cpu(), out / TUNED_RECONSTRUCTION)
    proj.metrics = {**proj.metrics, "pti": delta.meta["metrics"]}
    return delta


def drop_delta(folder: str | os.PathLike) -> list[Path]:
    """An untuned result must not keep an older run's delta and tuned reconstruction beside it.

    Removes only those two names, and only regular files (never a link or a folder); returns the removed paths.
    """
    from ..fileio import remove_owned
    from ..project.pti import DELTA_FILE

    return [p for p in (Path(folder) / DELTA_FILE, Path(folder) / TUNED_RECONSTRUCTION) if remove_owned(p)]


__all__ = ["tune_into", "drop_delta", "TUNED_RECONSTRUCTION"]
