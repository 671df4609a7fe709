"""Project many images: resumable, failure-tolerant, in this process or on Ray (:func:`project_many`).

Per image: load it, run a :class:`~chunkygan.project.projector.Projector` (Eq. 1-3), write the usual
outputs with :func:`~chunkygan.project.outputs.write_outputs` into ``OUT/<name>/`` (with ``pti``: after
pivotal tuning, the delta and the tuned reconstruction too, :mod:`.tuning`) and then, last and
atomically, ``done.json`` (see :mod:`chunkygan.batch.results`). A failing image is reported and the
batch goes on; a rerun skips every image whose ``done.json`` matches the input and settings.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import torch

from .inputs import list_inputs, output_names
from .results import DONE, ImageResult, finished_folders, fingerprint, read_done, write_done, write_summary

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkItem:
    """One input: its position in the batch, its path and its output folder."""

    index: int
    path: Path
    folder: Path


@dataclass
class BatchJob:
    """What every worker needs to project any item (picklable: it travels to Ray actors)."""

    config: object  # ProjectionConfig
    generator_name: str
    fingerprint: str
    static_mask: torch.Tensor | None = None
    mask_source_factory: Callable | None = None
    pti: object | None = None  # PTIConfig: tune each image after its projection


def generator_label(generator) -> str:
    """The name recorded for ``generator``: its name or path, or a module's ``name`` attribute."""
    if generator is None:
        from ..generators import default_generator_name

        return default_generator_name()
    if isinstance(generator, torch.nn.Module):
        return str(getattr(generator, "name", "") or type(generator).__name__)
    return str(generator)


def load_batch_generator(generator, device) -> torch.nn.Module:
    """A generator by name/path (loaded once), or a given module moved to ``device``."""
    if isinstance(generator, torch.nn.Module):
        return generator.to(device).eval().requires_grad_(False)
    from ..generators import load_generator

    return load_generator(generator_label(generator), device=device)


def project_items(items: list[WorkItem], G, job: BatchJob, *, batch_size: int = 1,
                  callback: Callable | None = None, worker: str | None = None) -> Iterator[ImageResult]:
    """Project ``items`` with the loaded generator ``G``, ``batch_size`` images per generator call.

    ``callback(paths, infos)`` runs after every optimisation step with the paths being optimised and
    their :class:`~chunkygan.project.projector.StepInfo` list. Yields one :class:`ImageResult` per item.
    """
    from ..project.projector import build_loss

    loss_fn = build_loss(job.config.loss, None)  # one module shared by every image (batched loss calls)
    for start in range(0, len(items), max(1, batch_size)):
        group = items[start:start + max(1, batch_size)]
        ready = []
        for it in group:
            try:
                ready.append((it, _make_projector(it, G, job, loss_fn)))
            except Exception as e:  # noqa: BLE001  (one bad image must not stop the batch)
                yield _failed(it, e, worker)
        if ready:
            yield from _run_group(ready, G, job, callback, worker)


def _make_projector(it: WorkItem, G, job: BatchJob, loss_fn):
    from ..imageio import load_image
    from ..project.projector import Projector

    target = load_image(it.path)
    if job.mask_source_factory is not None:  # G^S masks (the paper's automatic mode), X^S optimised jointly
        from ..pipelines.auto import auto_projector

        return auto_projector(G, target, job.config, source=job.mask_source_factory(), static_mask=job.static_mask,
                              generator_name=job.generator_name, loss_fn=loss_fn)
    return Projector(G, target, job.config, static_mask=job.static_mask, loss_fn=loss_fn,
                     generator_name=job.generator_name)


def _run_group(ready, G, job: BatchJob, callback, worker) -> Iterator[ImageResult]:
    from .batched import run_batched

    paths = [it.path for it, _ in ready]
    projectors = [p for _, p in ready]
    try:
        if len(projectors) == 1:
            for info in projectors[0]:
                if callback is not None:
                    callback(paths, [info])
        else:
            run_batched(projectors, None if callback is None else (lambda infos: callback(paths, infos)))
    except Exception as e:  # noqa: BLE001  (e.g. out of memory: this group fails, the batch goes on)
        for it, _ in ready:
            yield _failed(it, e, worker)
        return
    for it, p in ready:
        try:
            yield _finish(it, p, G, job, worker, callback)
        except Exception as e:  # noqa: BLE001
            yield _failed(it, e, worker)


def _finish(it: WorkItem, p, G, job: BatchJob, worker, callback=None) -> ImageResult:
    """Tune (with ``job.pti``: the delta and reconstruction_pti.png), write the outputs, then ``done.json``
    last (atomically)."""
    from ..fileio import remove_owned
    from ..project.outputs import write_outputs
    from .tuning import drop_delta, tune_into

    remove_owned(it.folder / DONE)  # an earlier run's marker must not vouch for files being replaced
    result = p.result(with_metrics=True)
    if job.pti is not None:  # pivotal tuning around this image's pivots, as `chunkygan project IMAGE --pti` does
        on_tune = None if callback is None else (lambda info: callback([it.path], [info]))
        tune_into(it.folder, G, result, job.pti, callback=on_tune, loss_fn=p.loss_fn)
    else:
        drop_delta(it.folder)
    write_outputs(it.folder, result, G, p.snapshots)
    metrics = dict(result.metrics)
    write_done(it.folder, it.path, job.fingerprint, metrics)
    return ImageResult(it.path, it.folder, "ok", None, metrics, it.index, worker)


def _failed(it: WorkItem, e: BaseException, worker) -> ImageResult:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    if not isinstance(e, (ValueError, OSError)):
        msg = f"{type(e).__name__}: {msg}"
    log.info("%s failed: %s", it.path, msg, exc_info=not isinstance(e, (ValueError, OSError)))
    return ImageResult(it.path, it.folder, "failed", msg, {}, it.index, worker)


def plan(inputs, out_dir: str | os.PathLike, *, recursive: bool = False) -> list[WorkItem]:
    """The work items of a batch: inputs expanded (:func:`~chunkygan.batch.inputs.list_inputs`) and an
    output folder ``out_dir/<name>`` each (:func:`~chunkygan.batch.inputs.output_names`; an input that an
    earlier run finished keeps that run's folder, whatever else this run's inputs are)."""
    out = Path(out_dir)
    paths = list_inputs(inputs, recursive=recursive, exclude=out)
    return [WorkItem(i, p, out / name) for i, (p, name) in enumerate(zip(paths, output_names(paths, finished_folders(out))))]


def project_many(inputs, out_dir: str | os.PathLike, config=None, *, generator=None, generator_name: str | None = None,
                 device="auto",
                 batch_size: int = 1, ray_address: str | None = None, workers: int | None = None,
                 resume: bool = True, callback: Callable | None = None, static_mask: torch.Tensor | None = None,
                 recursive: bool = False, summary: bool = True,
                 mask_source_factory: Callable | None = None, pti=None) -> Iterator[ImageResult]:
    """Project every input image into ``generator`` and yield one :class:`ImageResult` per image.

    Args:
        inputs: files, folders, globs, list files (``@list.txt``), or ready paths; see
            :func:`~chunkygan.batch.inputs.list_inputs`.
        out_dir: the batch folder: one sub-folder per image (:func:`~chunkygan.batch.inputs.output_names`)
            plus ``results.jsonl`` / ``results.csv`` at the end.
        config: :class:`~chunkygan.project.projector.ProjectionConfig` used for every image (default: its defaults).
        generator: name, checkpoint path or module (default: the default generator); loaded once per process.
        generator_name: the name recorded in the results (default: the name or path, or the module's ``name``).
        device: ``auto``, ``cpu`` or ``cuda[:N]`` for the in-process run (Ray workers use their GPU when
            the cluster has GPUs, else the CPU).
        batch_size: images per generator call (B·K codes per call; see :mod:`.batched`), in this process or
            in each Ray actor.
        ray_address: run on Ray: ``"local"`` starts (or joins) a local Ray, ``"auto"`` or
            ``"ray://host:10001"`` an existing cluster. One actor per GPU, or per CPU when there is none.
        workers: at most this many Ray actors.
        resume: skip images whose ``done.json`` matches the input, config and generator (False: redo all).
        callback: ``callback(paths, infos)`` after every optimisation step (in-process runs only).
        static_mask: ``[1,1,H,W]`` S^X of Eq. 3 applied to every image.
        recursive: folders are searched in sub-folders too.
        summary: write ``results.jsonl`` / ``results.csv`` when every image has a result.
        mask_source_factory: ``factory()`` -> a fresh segment-generator mask source per image (``--auto``,
            :func:`chunkygan.pipelines.auto.auto_projector`); it must be picklable for Ray.
        pti: a :class:`~chunkygan.project.pti.PTIConfig`: after its projection each image is tuned
            (:func:`.tuning.tune_into`: ``pti_delta.safetensors`` and ``reconstruction_pti.png`` beside
            ``projection.safetensors``, ``metrics["pti"]``) before ``done.json``; the callback then also gets
            the :class:`~chunkygan.project.pti.TuneStep` of every tuning step.

    Skipped images come first, then results in the order they finish; the summary lists every input in
    input order. Raises :class:`~chunkygan.batch.inputs.InputListError` (a ``ValueError``) when the
    inputs name no images.
    """
    from ..project.projector import ProjectionConfig

    cfg = config if config is not None else ProjectionConfig()
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    items = plan(inputs, out_dir, recursive=recursive)
    label = generator_name or generator_label(generator)
    settings = cfg.to_dict() if mask_source_factory is None else {**cfg.to_dict(), "auto": True}
    if pti is not None:  # (absent otherwise: markers of untuned batches keep their fingerprint)
        settings["pti"] = dict(vars(pti))
    job = BatchJob(cfg, label, fingerprint(settings, label), static_mask, mask_source_factory, pti)
    results: list[ImageResult] = []
    pending = []
    for it in items:
        metrics = read_done(it.folder, it.path, job.fingerprint) if resume else None
        if metrics is None:
            pending.append(it)
        else:
            r = ImageResult(it.path, it.folder, "skipped", None, metrics, it.index)
            results.append(r)
            yield r
    if pending:
        log.info("%d of %d images to project (%d finished earlier)", len(pending), len(items), len(items) - len(pending))
        if ray_address is not None:
            from .ray_runner import project_on_ray

            stream = project_on_ray(pending, generator, job, address=ray_address, workers=workers, device=device,
                                    batch_size=batch_size)
        else:
            from ..device import resolve_device

            G = load_batch_generator(generator, resolve_device(device))
            stream = project_items(pending, G, job, batch_size=batch_size, callback=callback)
        for r in stream:
            results.append(r)
            yield r
    if summary:
        write_summary(out_dir, results)


__all__ = ["project_many", "project_items", "plan", "WorkItem", "BatchJob", "load_batch_generator", "generator_label"]
