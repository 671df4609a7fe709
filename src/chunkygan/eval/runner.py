"""Project many images with one method: the evaluation's only projection loop, over the batch runner.

:func:`project_inputs` yields one ``(input, folder, status)`` per input, in input order. When
``chunkygan.batch.project_many`` (issue #15) is importable it does the work (resumable, completion
marker ``done.json`` written last, optionally on a Ray cluster); otherwise a small in-process loop with
the same folder layout and the same completion markers (:mod:`chunkygan.batch.results`) stands in.
Either way every folder is what ``chunkygan project`` writes, and a finished image is never redone.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable, Iterator

log = logging.getLogger(__name__)


def _batch_runner():
    try:
        from ..batch import project_many  # noqa: F401  (issue #15)
    except ImportError:
        return None
    return project_many


def project_inputs(inputs: list[Path], out_dir: str | os.PathLike, config, *, G, generator_name: str,
                   resume: bool = True, ray_address: str | None = None, mask_source_factory: Callable | None = None,
                   on_step: Callable | None = None, batch_size: int = 1) -> Iterator[tuple[Path, Path, str]]:
    """Project every input with ``config`` into ``out_dir/<name>/``; yields ``(input, folder, status)``.

    ``status`` is ``ok`` (projected now), ``skipped`` (finished earlier with the same settings) or
    ``failed: <reason>``. ``mask_source_factory()`` (the ``--auto`` G^S source) forces the in-process loop.
    ``on_step(info)`` is called after every optimisation step of the in-process loop (progress bars).
    """
    runner = _batch_runner() if mask_source_factory is None else None
    if runner is not None:
        callback = None if on_step is None else (lambda paths, infos: on_step(infos[0]))  # one call per step
        device = str(next(G.parameters()).device) if any(True for _ in G.parameters()) else "cpu"
        # Ray workers load the generator themselves (by name or path); in process the loaded module is reused
        gen = str(generator_name) if ray_address is not None else G
        for r in runner(inputs, out_dir, config, generator=gen, device=device, resume=resume, ray_address=ray_address,
                        batch_size=batch_size, callback=callback):
            status = r.status if r.ok else f"failed: {r.error}"
            yield Path(r.input), Path(r.output), status
        return
    yield from _local_loop(inputs, Path(out_dir), config, G, generator_name, resume, mask_source_factory, on_step)


def _local_loop(inputs, out_dir: Path, config, G, generator_name, resume, mask_source_factory, on_step):
    """The stand-in for ``project_many``: one image after another in this process."""
    from ..batch.inputs import output_names
    from ..batch.results import fingerprint, read_done, write_done
    from ..imageio import ImageInputError, load_image
    from ..project.outputs import write_outputs
    from ..project.projector import Projector

    fp = fingerprint({**config.to_dict(), "auto": mask_source_factory is not None}, str(generator_name))
    for inp, name in zip(inputs, output_names(inputs)):
        folder = out_dir / name
        if resume and read_done(folder, inp, fp) is not None:
            yield Path(inp), folder, "skipped"
            continue
        try:
            target = load_image(inp)
        except ImageInputError as e:
            yield Path(inp), folder, f"failed: {e}"
            continue
        if mask_source_factory is not None:
            from ..pipelines.auto import auto_projector

            p = auto_projector(G, target, config, source=mask_source_factory(), generator_name=str(generator_name))
        else:
            p = Projector(G, target, config, generator_name=str(generator_name))
        for info in p:
            if on_step is not None:
                on_step(info)
        result = p.result(with_metrics=True)
        write_outputs(folder, result, G, p.snapshots)
        write_done(folder, inp, fp, result.metrics)
        yield Path(inp), folder, "ok"


__all__ = ["project_inputs"]
