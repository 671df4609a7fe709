"""The editor's state behind the web page: one :class:`EditSession` plus what the page needs around it.

Every computation (rendering, projection, edits, saving) runs on one worker thread, one at a time:
quick steps are awaited by the request that asked for them, long ones (projections, hole filling)
run as jobs that report progress events (step, loss, a preview picture every few steps) and can be
cancelled; a cancelled or failing step leaves the session as it was. After every step that changes
the history the session is saved into the session folder, so a crash or a closed tab loses nothing.

Session folder layout (``--session DIR``): ``DIR/session/`` is the :meth:`EditSession.save` folder;
``DIR/photo.png`` and ``DIR/transform.json`` (only with a face) keep the opened photo and its FFHQ
alignment for the paste-back on export. :meth:`Editor.load` also takes a bare ``EditSession`` folder.
"""
from __future__ import annotations

import io
import itertools
import logging
import os
import tempfile
import threading
import time
import zipfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from ..imageio import ImageInputError, fit_square, load_image, save_image, tensor_to_pil
from ..session import EditSession, SessionError

log = logging.getLogger(__name__)

#: largest upload accepted, in bytes (the image loader's own pixel limit applies too)
MAX_UPLOAD_BYTES = 32 * 1024 * 1024
SESSION_SUBDIR = "session"
PHOTO_FILE = "photo.png"
TRANSFORM_FILE = "transform.json"


class EditorError(ValueError):
    """A request cannot be done; the message says why and what to do (shown in the page)."""


class BusyError(EditorError):
    """A long job (projection, hole filling) is running; wait for it or cancel it."""


class Cancelled(Exception):
    """Raised inside a job's progress callback when the user pressed Cancel."""


@dataclass
class Job:
    """One long computation: its progress and outcome (``status``: running, done, cancelled, failed)."""

    id: int
    kind: str
    steps: int
    step: int = 0
    loss: float | None = None
    status: str = "running"
    message: str = ""
    started: float = field(default_factory=time.perf_counter)
    cancel: threading.Event = field(default_factory=threading.Event)
    future: Future | None = None

    def to_dict(self) -> dict:
        return {"id": self.id, "kind": self.kind, "steps": self.steps, "step": self.step, "loss": self.loss,
                "status": self.status, "message": self.message,
                "seconds": round(time.perf_counter() - self.started, 3)}


def png_bytes(img: torch.Tensor) -> bytes:
    """``[1,3,H,W]`` in [-1,1] (or a ``[1,1,H,W]`` mask in [0,1]) -> PNG bytes (the same quantisation as save_image)."""
    buf = io.BytesIO()
    tensor_to_pil(img[0] if img.dim() == 4 and img.shape[1] == 1 else img).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def difference_heatmap(after: torch.Tensor, before: torch.Tensor, gain: float = 4.0) -> torch.Tensor:
    """Where two pictures ``[1,3,H,W]`` differ: mean |difference| over RGB (x ``gain``) as a black-red-yellow-white
    heat map ``[1,3,H,W]`` in [-1,1] (black = unchanged)."""
    d = ((after - before).abs().mean(dim=1, keepdim=True) / 2 * gain).clamp(0, 1)
    rgb = torch.cat([(3 * d).clamp(0, 1), (3 * d - 1).clamp(0, 1), (3 * d - 2).clamp(0, 1)], dim=1)
    return rgb * 2 - 1


class Editor:
    """The editor's state and its one worker (see the module docstring).

    Args:
        G: the generator (on its device).
        bank: the :class:`chunkygan.edit.directions.DirectionBank` for ``G`` (None: no direction sliders).
        session_dir: the folder saved into after every step (created; an existing editor or session
            folder is reopened).
        space: latent space of new layers (``w+`` default; ``s`` for StyleSpace-native layers).
        max_upload_bytes: uploads larger than this are refused before decoding.
        preview_every: a progress preview picture every this many steps.
        align: try FFHQ face alignment (face extra) on open; without a face a centre crop is used.
    """

    def __init__(self, G, bank=None, session_dir: str | os.PathLike | None = None, space: str = "w+",
                 max_upload_bytes: int = MAX_UPLOAD_BYTES, preview_every: int = 5, align: bool = True):
        self.G, self.bank, self.space = G, bank, space
        self.max_upload_bytes = int(max_upload_bytes)
        self.preview_every = int(preview_every)
        self.align = align
        self.session: EditSession | None = None
        self.photo: torch.Tensor | None = None  # the full opened photo [1,3,H,W] (for paste-back)
        self.transform = None  # FaceTransform when a face was aligned
        self.note = "open a photo to start"
        self.session_dir = Path(session_dir) if session_dir is not None else None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chunkygan-editor")
        self._lock = threading.Lock()
        self._events: list[dict] = []
        self._seq = itertools.count(1)
        self._job_ids = itertools.count(1)
        self.job: Job | None = None
        self.preview_png: bytes | None = None
        self._cache: dict[tuple, tuple] = {}  # (id(state), view) -> (state, PNG bytes)
        if self.session_dir is not None:
            d = self.session_dir
            if d.exists() and (not d.is_dir() or any(d.iterdir())) and _saved_session(d) is None:
                raise EditorError(f"{d} exists and is not a saved session; give a new or empty folder, or a session")
            if _saved_session(d) is not None:
                self._load_now(d)

    # -- the worker -------------------------------------------------------------------------------------
    def submit(self, fn: Callable, *args, **kw) -> Future:
        """Run ``fn`` on the worker thread (after whatever it is doing)."""
        return self._worker.submit(fn, *args, **kw)

    def close(self) -> None:
        if self.job and self.job.status == "running":
            self.job.cancel.set()
        self._worker.shutdown(wait=True)  # lets a queued autosave finish

    @property
    def busy(self) -> bool:
        return self.job is not None and self.job.status == "running"

    def _check_idle(self) -> None:
        if self.busy:
            raise BusyError(f"a {self.job.kind} is running (step {self.job.step}/{self.job.steps}); wait for it or "
                            "press Cancel")

    def _need_session(self) -> EditSession:
        if self.session is None:
            raise EditorError("no photo is open yet; open one first (file picker or drag and drop)")
        return self.session

    # -- events (server-sent to the page) ----------------------------------------------------------------
    def emit(self, kind: str, **data) -> None:
        with self._lock:
            self._events.append({"seq": next(self._seq), "type": kind, **data})
            del self._events[:-200]

    def events_since(self, seq: int) -> list[dict]:
        with self._lock:
            return [e for e in self._events if e["seq"] > seq]

    @property
    def last_seq(self) -> int:
        with self._lock:
            return self._events[-1]["seq"] if self._events else 0

    # -- opening ---------------------------------------------------------------------------------------
    def open_bytes(self, data: bytes, filename: str = "upload") -> dict:
        """Open an uploaded photo (worker thread): size limit, then the CLI's image loader, then align or crop."""
        self._check_idle()
        if len(data) > self.max_upload_bytes:
            raise EditorError(f"{filename}: {len(data) / 2**20:.1f} MiB is more than the limit of "
                              f"{self.max_upload_bytes / 2**20:.0f} MiB; downscale the photo first")
        suffix = Path(filename).suffix.lower()
        if not suffix or len(suffix) > 6 or not suffix[1:].isalnum():
            suffix = ".img"
        with tempfile.TemporaryDirectory(prefix="chunkygan-upload-") as tmp:
            path = Path(tmp) / f"upload{suffix}"
            path.write_bytes(data)
            try:
                photo = load_image(path)
            except ImageInputError as e:
                raise EditorError(str(e).replace(str(path), filename)) from None
        return self._open_tensor(photo, filename)

    def open_path(self, path: str | os.PathLike) -> dict:
        """Open a photo file (the CLI argument)."""
        self._check_idle()
        p = Path(path)
        if p.is_file() and p.stat().st_size > self.max_upload_bytes:
            raise EditorError(f"{p}: larger than the limit of {self.max_upload_bytes / 2**20:.0f} MiB")
        try:
            photo = load_image(p)
        except ImageInputError as e:
            raise EditorError(str(e)) from None
        return self._open_tensor(photo, p.name)

    def _open_tensor(self, photo: torch.Tensor, name: str) -> dict:
        R = self.G.resolution
        aligned, transform, note = None, None, ""
        if self.align:
            try:
                from ..align import align_face

                aligned, transform = align_face(photo, resolution=R, name=name)
                note = f"{name}: face aligned the FFHQ way; exports are pasted back into the full photo"
            except ImportError as e:  # the face extra is missing
                note = f"{name}: face alignment needs the face extra ({str(e).split('.')[0]}); using a centre crop"
            except ValueError as e:  # no face found
                note = f"{name}: no face found ({e}); using a centre crop"
        if aligned is None:
            aligned = fit_square(photo, R, name=name)
            note = note or f"{name}: centre-cropped to {R}x{R}"
        self.session = EditSession(self.G, aligned.cpu().clamp(-1, 1), space=self.space)
        self.photo, self.transform, self.note = photo.cpu(), transform, note
        self._cache.clear()
        self._autosave(photo_too=True)
        self.emit("state", note=note)
        return {"note": note}

    # -- saving / loading ------------------------------------------------------------------------------
    def _autosave(self, photo_too: bool = False) -> None:
        if self.session_dir is None or self.session is None:
            return
        self.save(self.session_dir, photo_too=photo_too)

    def _after_change(self) -> None:
        """After a step (worker thread): render the new picture into the cache, then save in the background.

        The save is queued on the same worker, so the page gets its picture first and every later step
        still sees the saved folder; a failing save is shown in the page.
        """
        try:
            self.image("after")
        except EditorError:
            pass

        def save():
            try:
                self._autosave()
            except (OSError, ValueError) as e:
                log.error("autosave failed: %s", e)
                self.emit("error", message=f"the session could not be saved: {e}")

        self._worker.submit(save)

    def save(self, folder: str | os.PathLike, photo_too: bool = True) -> Path:
        """Write the editor folder: ``session/`` (EditSession.save) + the photo and its alignment."""
        s = self._need_session()
        folder = Path(folder)
        if folder.exists() and any(folder.iterdir()) and _saved_session(folder) is None:
            raise EditorError(f"{folder} exists and is not an editor session; choose an empty or new folder")
        folder.mkdir(parents=True, exist_ok=True)
        s.save(folder / SESSION_SUBDIR)
        if photo_too:
            if self.photo is not None:
                save_image(self.photo, folder / PHOTO_FILE)
            elif (folder / PHOTO_FILE).exists():
                (folder / PHOTO_FILE).unlink()
            if self.transform is not None:
                self.transform.save(folder / TRANSFORM_FILE)
            elif (folder / TRANSFORM_FILE).exists():
                (folder / TRANSFORM_FILE).unlink()
        return folder

    def load(self, folder: str | os.PathLike) -> dict:
        """Open a saved session (an editor folder or a bare EditSession folder); it is then saved into the
        editor's own session folder, as every step is."""
        self._check_idle()
        out = self._load_now(Path(folder))
        self._autosave(photo_too=True)
        return out

    def _load_now(self, folder: Path) -> dict:
        where = _saved_session(folder)
        if where is None:
            raise EditorError(f"{folder}: not a saved session (no session.json in it or in {folder / SESSION_SUBDIR})")
        try:
            session = EditSession.load(where, self.G)
        except SessionError as e:
            raise EditorError(str(e)) from None
        photo = transform = None
        if where != folder and (folder / PHOTO_FILE).is_file():
            photo = load_image(folder / PHOTO_FILE)
            if (folder / TRANSFORM_FILE).is_file():
                from ..align import FaceTransform

                transform = FaceTransform.load(folder / TRANSFORM_FILE)
        self.session, self.photo, self.transform = session, photo, transform
        self.note = f"reopened the session in {folder}"
        self._cache.clear()
        self.emit("state", note=self.note)
        return {"note": self.note}

    def export_png(self) -> tuple[bytes, str]:
        """The current composite as PNG: pasted back into the photo when it was aligned, else the crop."""
        s = self._need_session()
        img = s.render()
        if self.transform is not None and self.photo is not None:
            return png_bytes(self.pasted_back(img)), "the edited regions pasted back into the full photo"
        return png_bytes(img), f"no face alignment: the {img.shape[-1]}x{img.shape[-1]} centre crop"

    def pasted_back(self, img: torch.Tensor) -> torch.Tensor:
        """The aligned picture ``img`` put back into the full photo by delta transfer
        (:func:`chunkygan.align.ffhq.paste_back_local`) inside the regions the session touched: the photo
        keeps its own detail and resolution, and gets what the edits changed; every other pixel is the photo's."""
        from ..align.ffhq import paste_back_local

        s = self._need_session()
        return paste_back_local(img, s.original, self.photo, self.transform, region=s.touched_mask(),
                                mode="delta").clamp(-1, 1)

    def export_zip(self) -> bytes:
        """The session folder (saved now) as a zip file."""
        self._need_session()
        with tempfile.TemporaryDirectory(prefix="chunkygan-export-") as tmp:
            folder = self.save(Path(tmp) / "chunkygan-session")
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
                for f in sorted(folder.rglob("*")):
                    if f.is_file():
                        z.write(f, f.relative_to(folder.parent).as_posix())
            return buf.getvalue()

    # -- quick steps (worker thread) -------------------------------------------------------------------
    def step(self, fn: Callable[[EditSession], object]) -> dict:
        """Run one session step; a failing step leaves the session as it was; save after success."""
        self._check_idle()
        s = self._need_session()
        try:
            fn(s)
        except (SessionError, ValueError) as e:
            raise EditorError(str(e)) from None
        self._after_change()
        self.emit("state")
        return {"label": s.history[s.position]}

    def direction(self, name: str):
        if self.bank is None:
            raise EditorError("no direction bank is loaded for this generator")
        try:
            return self.bank.get(name)
        except ValueError as e:
            raise EditorError(str(e)) from None

    def cached_image(self, view: str = "after") -> bytes | None:
        """The PNG of the current state's ``view`` if it is made already (any thread; no computing)."""
        s = self.session
        hit = None if s is None else self._cache.get((id(s.state), view))
        return hit[1] if hit is not None and hit[0] is s.state else None

    def image(self, view: str = "after") -> bytes:
        """PNG of the current picture: ``after`` (composite), ``before`` (base), ``diff`` (heat map)."""
        s = self._need_session()
        st = s.state
        key = (id(st), view)
        hit = self._cache.get(key)
        if hit is not None and hit[0] is st:  # the entry keeps its state alive, so ids are not reused
            return hit[1]
        if view == "after":
            img = s.render(state=st)
        elif view == "before":
            img = st.base
        elif view == "diff":
            img = difference_heatmap(s.render(state=st), st.base)
        else:
            raise EditorError(f"unknown view {view!r}; use after, before or diff")
        data = png_bytes(img)
        if len(self._cache) > 64:
            self._cache.clear()
        self._cache[key] = (st, data)
        return data

    def mask_png(self, index: int) -> bytes:
        s = self._need_session()
        if not 0 <= index < len(s.layers):
            raise EditorError(f"there is no layer {index}")
        return png_bytes(s.layers[index].mask)

    def state(self) -> dict:
        """What the page shows: layers, history, directions, job (cheap; safe while a job runs)."""
        s = self.session
        out = {"generator": self.G.name, "resolution": self.G.resolution, "space": self.space,
               "num_ws": int(getattr(self.G, "num_ws", 1)), "note": self.note, "busy": self.busy,
               "job": None if self.job is None else self.job.to_dict(), "seq": self.last_seq,
               "session_dir": None if self.session_dir is None else str(self.session_dir),
               "aligned": self.transform is not None,
               "style_dims": [int(c) for c in self.G.style_dims()] if "s" in self.G.spaces else [],
               "directions": self._directions(),
               "open": s is not None}
        if s is not None:
            st = s.state
            out.update(position=s.position, history=s.history, can_undo=s.can_undo(), can_redo=s.can_redo(),
                       layers=[{"name": L.name, "visible": L.visible, "blend": L.blend, "space": L.space,
                                "projected": L.code is not None,
                                "edits": [{"direction": e.direction.name, "strength": e.strength,
                                           "layers": list(e.layers) if e.layers else None} for e in L.edits]}
                               for L in st.layers])
        return out

    def _directions(self) -> list[dict]:
        """The bank's directions that fit the generator, as the page lists them (computed once)."""
        if getattr(self, "_direction_list", None) is None:
            self._direction_list = [] if self.bank is None else [
                {"name": d.name, "space": d.space, "default": d.default_strength, "range": list(d.strength_range),
                 "description": d.description} for d in self.bank if d.fits(self.G) is None]
        return self._direction_list

    # -- long jobs -------------------------------------------------------------------------------------
    def start_job(self, kind: str, steps: int, run: Callable[[EditSession, Callable, Callable], object]) -> Job:
        """Start ``run(session, callback, preview)`` on the worker as a cancellable job with progress events."""
        self._check_idle()
        self._need_session()
        job = Job(id=next(self._job_ids), kind=kind, steps=int(steps))
        self.job = job
        self.emit("job", job=job.to_dict())

        def callback(step: int, loss: float) -> None:
            job.step, job.loss = step + 1, float(loss)
            self.emit("progress", job=job.to_dict())
            if job.cancel.is_set():
                raise Cancelled()

        def preview(step: int, img: torch.Tensor) -> None:
            self.preview_png = png_bytes(img)
            self.emit("preview", job=job.to_dict())

        def body():
            try:
                run(self.session, callback, preview)
                job.status, job.message = "done", f"{kind} finished in {time.perf_counter() - job.started:.1f} s"
                self._after_change()
            except Cancelled:
                job.status, job.message = "cancelled", f"{kind} cancelled at step {job.step}; nothing changed"
            except (SessionError, ValueError, OSError) as e:
                job.status, job.message = "failed", str(e)
            except Exception as e:  # noqa: BLE001 -- shown in the page, logged in full
                log.exception("%s failed", kind)
                job.status, job.message = "failed", f"{type(e).__name__}: {e}"
            self.emit("job", job=job.to_dict())
            self.emit("state")

        job.future = self._worker.submit(body)
        return job

    def cancel(self) -> dict:
        if not self.busy:
            raise EditorError("nothing is running")
        self.job.cancel.set()
        return {"job": self.job.to_dict()}


def _saved_session(folder: Path) -> Path | None:
    """The EditSession folder inside an editor folder (or the folder itself if it is one), else None."""
    if (folder / SESSION_SUBDIR / "session.json").is_file():
        return folder / SESSION_SUBDIR
    if (folder / "session.json").is_file():
        return folder
    return None


__all__ = ["Editor", "EditorError", "BusyError", "Job", "difference_heatmap", "png_bytes", "MAX_UPLOAD_BYTES"]
