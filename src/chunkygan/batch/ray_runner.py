"""The batch on Ray (``cluster`` extra): one actor per GPU, or per CPU slot when there is none.

Each actor loads the generator once and projects one image per call (``batch_size`` images together
with ``--batch-size``), writing its outputs and ``done.json`` straight into the image's folder
(atomically; for a multi-node cluster the folder must be on storage every node sees). The driver hands
the next unfinished images to whichever actor is free and yields results as they come. An actor that
dies loses only the images it was working on: they go back to the front of the queue for the other
actors (a new actor is started only when none is left), at most ``max_attempts`` times each.
"""
from __future__ import annotations

import collections
import logging
import os
import uuid
from pathlib import Path
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

    def project(self, items: list[WorkItem]) -> list[ImageResult]:
        """Project ``items`` together (one generator call per step for all of them, :mod:`.batched`)."""
        return list(project_items(items, self.G, self.job, batch_size=len(items), worker=self.name))

    def ping(self) -> str:
        return self.name


class RayUnreachable(ConnectionError):
    """An explicit ``--ray HOST:PORT`` address that does not answer."""


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast on an explicit ``[ray://]HOST:PORT`` that nothing listens on (``ray.init`` would retry for
    minutes); ``auto`` and other forms are left to Ray."""
    import socket

    hostport = address[len("ray://"):] if address.startswith("ray://") else address
    host, sep, port = hostport.rpartition(":")
    if not sep or not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as e:
        raise RayUnreachable(f"no Ray cluster answers at {address} ({e.strerror or e}); start one with "
                             "`ray start --head` and pass its address, or use --ray alone for a local one") from None


def connect(address: str | None):
    """Join Ray: ``None``/``"local"`` starts a local instance (or uses one already started in this process)."""
    ray = import_ray()
    if not ray.is_initialized():
        if address in (None, "", "local"):
            ray.init(include_dashboard=False, log_to_driver=False)
        else:
            check_reachable(address)
            ray.init(address=address, log_to_driver=False)
        return ray, True
    return ray, False


def project_on_ray(items: list[WorkItem], generator, job: BatchJob, *, address: str | None = "local",
                   workers: int | None = None, device: str = "auto", threads: int = 1, batch_size: int = 1,
                   max_attempts: int = 3) -> Iterator[ImageResult]:
    """Project ``items`` on Ray actors, ``batch_size`` images per actor call (and per generator call);
    yields one :class:`ImageResult` per item as it finishes."""
    import torch

    ray, started = connect(address)
    res = ray.cluster_resources()
    gpus = int(res.get("GPU", 0))
    use_gpu = gpus > 0 and str(device) != "cpu"
    slots = gpus if use_gpu else max(1, int(res.get("CPU", 1)))
    batch_size = max(1, batch_size)
    n = max(1, min(slots, workers or slots, -(-len(items) // batch_size)))
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
                actor = idle.popleft()
                group = [queue.popleft() for _ in range(min(batch_size, len(queue)))]
                inflight[actor.project.remote([_absolute(i) for i in group])] = (actor, group)
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
            actor, group = inflight.pop(ref)
            try:
                results = ray.get(ref)
            except ray.exceptions.RayActorError as e:
                actors.remove(actor)
                log.warning("a Ray worker died while projecting %s (%s)", ", ".join(str(i.path) for i in group),
                            type(e).__name__)
                for item in reversed(group):
                    attempts[item.index] += 1
                    if attempts[item.index] >= max_attempts:
                        yield _lost(item, f"the Ray worker died {attempts[item.index]} times while projecting it")
                    else:
                        queue.appendleft(item)  # the next free actor retries it
                continue
            except ray.exceptions.RayTaskError as e:  # an unexpected error inside project(): these images only
                idle.append(actor)
                for item in group:
                    yield _lost(item, str(e).strip().splitlines()[-1])
                continue
            idle.append(actor)
            by_index = {i.index: i for i in group}
            for r in results:  # report the paths as the caller gave them (actors got absolute ones)
                item = by_index[r.index]
                if r.error:
                    r.error = r.error.replace(str(_absolute(item).path), str(item.path))
                r.input, r.output = item.path, item.folder
                yield r
    finally:
        for a in actors:
            ray.kill(a)
        if started:
            ray.shutdown()


def _absolute(item: WorkItem) -> WorkItem:
    """The item with absolute paths: a worker's working folder need not be the driver's."""
    return WorkItem(item.index, Path(os.path.abspath(item.path)), Path(os.path.abspath(item.folder)))


def _lost(item: WorkItem, msg: str) -> ImageResult:
    return ImageResult(item.path, item.folder, "failed", msg, {}, item.index, None)


__all__ = ["project_on_ray", "connect", "BatchWorker", "ClusterExtraMissing", "import_ray"]
