"""The batch on Ray (``cluster`` extra): one actor per GPU, or per CPU slot when there is none.

Each actor loads the generator once and projects one image per call, writing its outputs and
``done.json`` straight into the image's folder (atomically; the folder must be on storage every node
sees, e.g. a shared file system, for a multi-node cluster). The driver hands the next unfinished image
to whichever actor is free and yields results as they come. An actor that dies loses only the image it
was working on: that image goes back to the front of the queue for the other actors (a new actor is
started only when none is left), at most ``max_attempts`` times.
"""
from __future__ import annotations

import collections
import logging
import uuid
from typing import Iterator

from .results import ImageResult
from .runner import BatchJob, WorkItem, load_batch_generator, project_items

log = logging.getLogger(__name__)


class ClusterExtraMissing(ImportError):
    """``ray`` is not installed."""


def import_ray():
    try:
        import ray
    except ImportError:
        raise ClusterExtraMissing("--ray needs the cluster extra: pip install 'chunkygan[cluster]' "
                                  "(or -r requirements/cluster.txt)") from None
    return ray


class BatchWorker:
    """A Ray actor body: the generator loaded once, then :meth:`project` per image (one torch thread each
    on CPU, so projections are deterministic and the actors do not fight over cores)."""

    def __init__(self, generator, job: BatchJob, device: str, threads: int, name: str):
        import torch

        torch.set_num_threads(max(1, threads))
        self.name = name
        self.job = job
        self.G = load_batch_generator(generator, torch.device(device))

    def project(self, item: WorkItem) -> ImageResult:
        return next(iter(project_items([item], self.G, self.job, worker=self.name)))

    def ping(self) -> str:
        return self.name


def connect(address: str | None):
    """Join Ray: ``None``/``"local"`` starts a local instance (or uses one already started in this process)."""
    ray = import_ray()
    if not ray.is_initialized():
        if address in (None, "", "local"):
            ray.init(include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
        return ray, True
    return ray, False


def project_on_ray(items: list[WorkItem], generator, job: BatchJob, *, address: str | None = "local",
                   workers: int | None = None, device: str = "auto", threads: int = 1,
                   max_attempts: int = 3) -> Iterator[ImageResult]:
    """Project ``items`` on Ray actors; yields one :class:`ImageResult` per item as it finishes."""
    import torch

    ray, started = connect(address)
    res = ray.cluster_resources()
    gpus = int(res.get("GPU", 0))
    use_gpu = gpus > 0 and str(device) != "cpu"
    slots = gpus if use_gpu else max(1, int(res.get("CPU", 1)))
    n = max(1, min(slots, workers or slots, len(items)))
    options = {"num_gpus": 1, "num_cpus": 1} if use_gpu else {"num_cpus": 1}
    gen = ray.put(generator.cpu()) if isinstance(generator, torch.nn.Module) else generator
    actor_cls = ray.remote(**options)(BatchWorker)
    token = uuid.uuid4().hex[:8]
    counter = iter(range(1 << 30))

    def start():
        name = f"chunkygan-batch-{token}-{next(counter)}"
        return actor_cls.options(name=name).remote(gen, job, "cuda" if use_gpu else "cpu", threads, name)

    log.info("projecting %d images on %d Ray actors (%s)", len(items), n, "one GPU each" if use_gpu else "one CPU each")
    actors = [start() for _ in range(n)]
    idle = collections.deque(actors)
    queue = collections.deque(items)
    attempts: collections.Counter = collections.Counter()
    inflight: dict = {}
    restarts = 0
    try:
        while queue or inflight:
            while idle and queue:
                actor, item = idle.popleft(), queue.popleft()
                inflight[actor.project.remote(item)] = (actor, item)
            if not inflight:  # every actor died: start one more, up to n replacements
                if restarts >= n:
                    for item in queue:
                        yield _lost(item, "every Ray worker died")
                    return
                restarts += 1
                fresh = start()
                actors.append(fresh)
                idle.append(fresh)
                continue
            (ref,), _ = ray.wait(list(inflight), num_returns=1)
            actor, item = inflight.pop(ref)
            try:
                result = ray.get(ref)
            except ray.exceptions.RayActorError as e:
                attempts[item.index] += 1
                actors.remove(actor)
                log.warning("a Ray worker died while projecting %s (%s)", item.path, type(e).__name__)
                if attempts[item.index] >= max_attempts:
                    yield _lost(item, f"the Ray worker died {attempts[item.index]} times while projecting it")
                else:
                    queue.appendleft(item)  # the next free actor retries it
                continue
            except ray.exceptions.RayTaskError as e:  # an unexpected error inside project(): this image only
                idle.append(actor)
                yield _lost(item, str(e).strip().splitlines()[-1])
                continue
            idle.append(actor)
            yield result
    finally:
        for a in actors:
            ray.kill(a)
        if started:
            ray.shutdown()


def _lost(item: WorkItem, msg: str) -> ImageResult:
    return ImageResult(item.path, item.folder, "failed", msg, {}, item.index, None)


__all__ = ["project_on_ray", "connect", "BatchWorker", "ClusterExtraMissing", "import_ray"]
