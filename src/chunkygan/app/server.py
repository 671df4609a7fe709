"""The editor's ASGI app (Starlette) and how to serve it (uvicorn): I/O only, every step is an :class:`Editor` call.

Security (Jupyter-style): every request needs the access token (``?token=`` or the ``X-Chunkygan-Token``
header) and a Host header naming this machine (``127.0.0.1``, ``localhost``, ``[::1]`` or the bound
host), which stops DNS-rebinding pages from talking to the server; it binds to 127.0.0.1 by default.

Endpoints (JSON unless said otherwise; errors are ``{"error": message}`` with 400, 403, 409 busy, 413):

==========================  =====================================================================
GET  /                      the page (static/index.html)
GET  /static/<file>         the page's CSS/JS
GET  /api/state             layers, history, directions, job
GET  /api/events            server-sent events: state changes, job progress (step, loss), previews
GET  /api/image?view=       PNG: after (composite), before (base), diff (heat map), preview (job)
GET  /api/mask?layer=i      PNG: a layer's mask
POST /api/open              body: the photo's bytes (``X-Filename`` header); size-limited
POST /api/region            {mask: PNG data URL, name}: a new region (layer)
POST /api/layer             {layer, name?, visible?, blend?, mask?, feather?}
POST /api/remove            {layer}
POST /api/project           {layer, steps, lr}: local projection (Eq. 3) as a job
POST /api/auto              {segments, steps, masks: kmeans|generator}: automatic projection as a job
POST /api/fill              {layer, mask, steps}: hole filling (Fig. 10) as a job
POST /api/cancel            stop the running job (the session stays as it was)
POST /api/edit              {direction, strength, layers: "a-b"|null, target: [i..]|"all"}
POST /api/preview-edit      the same, answered with the PNG it would give; no history step (slider drag)
POST /api/channel           {layer, style_layer, channel, strength}: a StyleSpace edit
POST /api/commit|undo|redo
POST /api/save, /api/load   {folder}
GET  /api/export.png        the composite (pasted back into the photo when a face was aligned)
GET  /api/export.zip        the session folder
==========================  =====================================================================
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import io
import json
import logging
import secrets
import socket
import threading
from importlib import resources
from pathlib import Path

from .editor import BusyError, Editor, EditorError, png_bytes

log = logging.getLogger(__name__)

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
TOKEN_HEADER = "x-chunkygan-token"
#: largest mask (painted on the page) accepted, in pixels per side, and largest JSON request body
MAX_MASK_SIDE = 4096
MAX_JSON_BYTES = 16 * 2**20


def _starlette():
    try:
        import starlette  # noqa: F401
    except ImportError as e:
        raise ImportError(f"the browser editor needs the app extra ({e}); install it: pip install 'chunkygan[app]' "
                          "(or pip install -r requirements/app.txt)") from None


def static_dir() -> Path:
    return Path(str(resources.files("chunkygan.app") / "static"))


def host_name(host_header: str) -> str:
    """``"127.0.0.1:8000"`` -> ``"127.0.0.1"``, ``"[::1]:80"`` -> ``"::1"``."""
    h = host_header.strip().lower()
    if h.startswith("["):
        return h[1:h.find("]")] if "]" in h else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


def decode_mask(data_url: str):
    """A PNG (data URL or base64) -> mask ``[H,W]`` float in [0,1] (its luminance)."""
    import numpy as np
    import torch
    from PIL import Image, UnidentifiedImageError

    if not isinstance(data_url, str) or not data_url:
        raise EditorError("no mask was sent; paint a region first")
    b64 = data_url.split(",", 1)[1] if data_url.startswith("data:") else data_url
    try:
        raw = base64.b64decode(b64, validate=True)
        with Image.open(io.BytesIO(raw)) as im:
            if max(im.size) > MAX_MASK_SIDE:
                raise EditorError(f"the mask is {im.size[0]}x{im.size[1]}; at most {MAX_MASK_SIDE} px per side")
            arr = np.asarray(im.convert("L"), dtype=np.float32) / 255.0
    except (binascii.Error, UnidentifiedImageError, OSError, ValueError) as e:
        if isinstance(e, EditorError):
            raise
        raise EditorError(f"the mask is not a readable PNG ({e})") from None
    return torch.from_numpy(arr.copy())


def create_app(editor: Editor, token: str, hosts=()):
    """The Starlette app serving ``editor``; ``hosts``: further accepted Host names (besides this machine's)."""
    _starlette()
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    allowed = LOCAL_HOSTS | {h.lower() for h in hosts}
    static = static_dir()

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    async def on_worker(fn, *args):
        """Run ``fn`` on the editor's worker; map expected failures to JSON errors."""
        if editor.busy:
            j = editor.job
            return error(409, f"a {j.kind} is running (step {j.step}/{j.steps}); wait for it or press Cancel")
        try:
            out = await asyncio.wrap_future(editor.submit(fn, *args))
        except BusyError as e:
            return error(409, str(e))
        except (EditorError, ValueError) as e:
            return error(400, str(e))
        if isinstance(out, Response):
            return out
        return JSONResponse({**(out or {}), "state": editor.state()})

    async def body_json(request: Request) -> dict:
        raw = bytearray()
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > MAX_JSON_BYTES:
                raise EditorError(f"the request is larger than {MAX_JSON_BYTES // 2**20} MiB; paint a smaller mask")
        try:
            data = json.loads(bytes(raw) or b"{}")
        except json.JSONDecodeError as e:
            raise EditorError(f"the request body is not JSON ({e})") from None
        if not isinstance(data, dict):
            raise EditorError("the request body must be a JSON object")
        return data

    def endpoint(fn):
        async def wrapped(request: Request):
            try:
                return await fn(request)
            except (EditorError, ValueError) as e:  # e.g. a bad layer range (DirectionError) or number
                return error(409 if isinstance(e, BusyError) else 400, str(e))
        return wrapped

    # -- pages ---------------------------------------------------------------------------------------------
    async def index(request: Request):
        html = (static / "index.html").read_text().replace("__TOKEN__", token)
        return Response(html, media_type="text/html", headers={"Cache-Control": "no-store"})

    async def static_file(request: Request):
        name = request.path_params["name"]
        path = static / name
        if "/" in name or name.startswith(".") or not path.is_file():
            return error(404, f"no file {name!r}")
        return FileResponse(path, headers={"Cache-Control": "no-store"})

    # -- reads -----------------------------------------------------------------------------------------------
    async def state(request: Request):
        return JSONResponse(editor.state())

    async def image(request: Request):
        view = request.query_params.get("view", "after")
        if view == "preview":
            if editor.preview_png is None:
                return error(404, "no preview yet")
            return Response(editor.preview_png, media_type="image/png", headers={"Cache-Control": "no-store"})
        if editor.session is None:
            return error(400, "no photo is open yet; open one first")
        cached = editor.cached_image(view)  # made right after each step; no wait for the worker
        if cached is not None:
            return Response(cached, media_type="image/png", headers={"Cache-Control": "no-store"})
        if editor.busy:
            return error(409, "busy: the picture is shown when the running job ends")
        return await on_worker(lambda: Response(editor.image(view), media_type="image/png",
                                                headers={"Cache-Control": "no-store"}))

    async def mask(request: Request):
        try:
            i = int(request.query_params.get("layer", "-1"))
        except ValueError:
            raise EditorError("layer must be a number") from None
        return Response(editor.mask_png(i), media_type="image/png", headers={"Cache-Control": "no-store"})

    async def events(request: Request):
        try:
            since = int(request.query_params.get("since", "0"))
        except ValueError:
            since = 0

        async def stream():
            last, idle = since, 0
            yield "retry: 1000\n\n"
            while not await request.is_disconnected():
                new = editor.events_since(last)
                for e in new:
                    last = e["seq"]
                    yield f"id: {e['seq']}\ndata: {json.dumps(e)}\n\n"
                idle = 0 if new else idle + 1
                if idle >= 150:  # a comment every ~15 s keeps proxies from closing the stream
                    idle = 0
                    yield ": keep-alive\n\n"
                await asyncio.sleep(0.1)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    # -- opening / saving ------------------------------------------------------------------------------------
    async def open_photo(request: Request):
        name = Path(request.headers.get("x-filename", "upload")).name[:200] or "upload"
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > editor.max_upload_bytes:
            return error(413, f"{name}: {int(declared) / 2**20:.1f} MiB is more than the limit of "
                              f"{editor.max_upload_bytes / 2**20:.0f} MiB; downscale the photo first")
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > editor.max_upload_bytes:
                return error(413, f"{name}: more than the limit of {editor.max_upload_bytes / 2**20:.0f} MiB; "
                                  "downscale the photo first")
        if not data:
            return error(400, f"{name}: the upload is empty")
        return await on_worker(editor.open_bytes, bytes(data), name)

    async def save(request: Request):
        d = await body_json(request)
        folder = d.get("folder") or editor.session_dir
        if not folder:
            raise EditorError("give a folder to save into")
        return await on_worker(lambda: {"folder": str(editor.save(Path(folder)))})

    async def load(request: Request):
        d = await body_json(request)
        if not d.get("folder"):
            raise EditorError("give the folder of a saved session")
        return await on_worker(editor.load, Path(d["folder"]))

    async def export_png(request: Request):
        def run():
            data, note = editor.export_png()
            return Response(data, media_type="image/png",
                            headers={"Content-Disposition": 'attachment; filename="chunkygan-edit.png"',
                                     "X-Chunkygan-Note": note})
        return await on_worker(run)

    async def export_zip(request: Request):
        return await on_worker(lambda: Response(editor.export_zip(), media_type="application/zip", headers={
            "Content-Disposition": 'attachment; filename="chunkygan-session.zip"'}))

    # -- session steps ---------------------------------------------------------------------------------------
    def layer_of(d: dict) -> int:
        try:
            return int(d.get("layer", -1))
        except (TypeError, ValueError):
            raise EditorError("layer must be a number") from None

    def number(d: dict, key: str, default, kind=float):
        try:
            return kind(d.get(key, default))
        except (TypeError, ValueError):
            raise EditorError(f"{key} must be a number") from None

    async def region(request: Request):
        d = await body_json(request)
        m = decode_mask(d.get("mask"))
        return await on_worker(editor.step, lambda s: s.add_region(m, name=str(d.get("name") or "")))

    async def layer(request: Request):
        d = await body_json(request)
        i = layer_of(d)
        m = decode_mask(d["mask"]) if d.get("mask") else None
        kw = {k: d[k] for k in ("name", "visible", "blend") if d.get(k) is not None}
        feather = number(d, "feather", 0.0)
        return await on_worker(editor.step, lambda s: s.update_layer(i, mask=m, feather=feather, **kw))

    async def remove(request: Request):
        d = await body_json(request)
        i = layer_of(d)
        return await on_worker(editor.step, lambda s: s.remove_layer(i))

    def edit_request(d: dict):
        """An edit request's (direction, strength, W+ layers or None, layer indices or None = all)."""
        from ..edit.directions import parse_layers

        direction = editor.direction(str(d.get("direction", "")))
        strength = number(d, "strength", 0.0)
        lay = parse_layers(d.get("layers")) if d.get("layers") else None
        target = d.get("target", "all")
        indices = None if target == "all" else [int(i) for i in (target if isinstance(target, list) else [target])]
        return direction, strength, lay, indices

    async def edit(request: Request):
        direction, strength, lay, indices = edit_request(await body_json(request))
        return await on_worker(editor.step, lambda s: s.set_edits(direction, strength, lay, indices))

    async def preview_edit(request: Request):
        """The picture an edit would give, as PNG, without a history step (while a slider is dragged)."""
        direction, strength, lay, indices = edit_request(await body_json(request))

        def run():
            try:
                img = editor._need_session().preview_edits(direction, strength, lay, indices)
            except ValueError as e:
                raise EditorError(str(e)) from None
            return Response(png_bytes(img), media_type="image/png", headers={"Cache-Control": "no-store"})
        return await on_worker(run)

    async def channel(request: Request):
        d = await body_json(request)
        i, sl, ch = layer_of(d), number(d, "style_layer", 0, int), number(d, "channel", 0, int)
        strength = number(d, "strength", 0.0)
        return await on_worker(editor.step, lambda s: s.set_channel_edit(sl, ch, strength, i))

    async def simple(request: Request):
        what = request.path_params["what"]
        fn = {"commit": lambda s: s.commit(), "undo": lambda s: s.undo(), "redo": lambda s: s.redo()}.get(what)
        if fn is None:
            return error(404, f"no endpoint /api/{what}")
        return await on_worker(editor.step, fn)

    async def job_response(start) -> JSONResponse:
        if editor.busy:
            return error(409, f"a {editor.job.kind} is running; wait for it or press Cancel")
        job = start()
        return JSONResponse({"job": job.to_dict(), "state": editor.state()})

    async def project(request: Request):
        d = await body_json(request)
        i, steps, lr = layer_of(d), number(d, "steps", 100, int), number(d, "lr", 0.05)
        if not 1 <= steps <= 10000:
            raise EditorError("steps must be between 1 and 10000")
        return await job_response(lambda: editor.start_job("projection", steps, lambda s, cb, pv: s.project_region(
            i, steps=steps, lr=lr, callback=cb, preview=pv, preview_every=editor.preview_every)))

    async def auto(request: Request):
        d = await body_json(request)
        k, steps = number(d, "segments", 4, int), number(d, "steps", 100, int)
        masks = d.get("masks", "kmeans")
        loss = str(d.get("loss", "lpips-alex"))
        if masks not in ("kmeans", "generator"):
            raise EditorError("masks must be 'kmeans' or 'generator' (the segment generator G^S)")
        if not 1 <= steps <= 10000 or not 1 <= k <= 16:
            raise EditorError("steps must be 1-10000 and segments 1-16")

        def run(s, cb, pv):
            source = None
            if masks == "generator":
                from ..segments.gs import auto_mask_source

                source = auto_mask_source(editor.G, train_if_missing=False)
            s.project_auto(segments=k, steps=steps, mask_source=source, callback=cb, preview=pv,
                           preview_every=editor.preview_every, loss=loss)
        return await job_response(lambda: editor.start_job("automatic projection", steps, run))

    async def fill(request: Request):
        d = await body_json(request)
        i, steps = layer_of(d), number(d, "steps", 100, int)
        m = decode_mask(d.get("mask"))
        if not 1 <= steps <= 10000:
            raise EditorError("steps must be between 1 and 10000")
        R = editor.G.resolution
        if tuple(m.shape) != (R, R):
            import torch.nn.functional as F

            m = F.interpolate(m[None, None], size=(R, R), mode="bilinear", align_corners=False)[0, 0]
        return await job_response(lambda: editor.start_job("hole filling", steps, lambda s, cb, pv: s.fill_hole(
            m, i, steps=steps, callback=cb, preview=pv, preview_every=editor.preview_every)))

    async def cancel(request: Request):
        return JSONResponse(editor.cancel())

    routes = [Route("/", endpoint(index)), Route("/static/{name}", endpoint(static_file)),
              Route("/api/state", endpoint(state)), Route("/api/events", events),
              Route("/api/image", endpoint(image)), Route("/api/mask", endpoint(mask)),
              Route("/api/open", endpoint(open_photo), methods=["POST"]),
              Route("/api/save", endpoint(save), methods=["POST"]), Route("/api/load", endpoint(load), methods=["POST"]),
              Route("/api/export.png", endpoint(export_png)), Route("/api/export.zip", endpoint(export_zip)),
              Route("/api/region", endpoint(region), methods=["POST"]),
              Route("/api/layer", endpoint(layer), methods=["POST"]),
              Route("/api/remove", endpoint(remove), methods=["POST"]),
              Route("/api/edit", endpoint(edit), methods=["POST"]),
              Route("/api/channel", endpoint(channel), methods=["POST"]),
              Route("/api/preview-edit", endpoint(preview_edit), methods=["POST"]),
              Route("/api/project", endpoint(project), methods=["POST"]),
              Route("/api/auto", endpoint(auto), methods=["POST"]),
              Route("/api/fill", endpoint(fill), methods=["POST"]),
              Route("/api/cancel", endpoint(cancel), methods=["POST"]),
              Route("/api/{what:str}", endpoint(simple), methods=["POST"])]
    app = Starlette(routes=routes)
    return Guard(app, token, allowed)


class Guard:
    """ASGI middleware: refuse requests without the token or with a foreign Host header (403, JSON or text)."""

    def __init__(self, app, token: str, hosts):
        self.app, self.token, self.hosts = app, token, frozenset(hosts)

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        from starlette.requests import Request
        from starlette.responses import JSONResponse

        req = Request(scope)
        host = host_name(req.headers.get("host", ""))
        if host not in self.hosts:
            msg = (f"foreign Host header {req.headers.get('host', '')!r}: the editor only answers requests "
                   f"addressed to this machine ({', '.join(sorted(self.hosts))})")
            return await JSONResponse({"error": msg}, status_code=403)(scope, receive, send)
        given = req.query_params.get("token") or req.headers.get(TOKEN_HEADER) or ""
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            msg = ("missing or wrong token: open the full URL that `chunkygan editor` printed "
                   "(it ends in ?token=...)")
            return await JSONResponse({"error": msg}, status_code=403)(scope, receive, send)
        return await self.app(scope, receive, send)


def new_token() -> str:
    return secrets.token_urlsafe(24)


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening socket (``port=0``: a free port chosen by the OS)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP (not 0): asyncio then sets TCP_NODELAY on accepted connections; without it every
    # keep-alive response waits ~40 ms for Nagle + the client's delayed ACK
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port} ({e.strerror}); choose another --port (0 = any free one)") \
            from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


def url_for(sock: socket.socket, token: str) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/?token={token}"


class Server:
    """uvicorn serving ``create_app(editor, token)`` on a bound socket, in the foreground or a thread."""

    def __init__(self, editor: Editor, host: str = "127.0.0.1", port: int = 0, token: str | None = None,
                 allow_hosts=()):
        _starlette()
        import uvicorn

        self.editor, self.token = editor, token or new_token()
        self.sock = bind(host, port)
        self.url = url_for(self.sock, self.token)
        app = create_app(editor, self.token, hosts={host, *allow_hosts})
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1,
                                                     lifespan="off"))
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        """Serve until Ctrl-C."""
        try:
            self._server.run(sockets=[self.sock])
        finally:
            self.editor.close()

    def start(self) -> "Server":
        """Serve in a background thread (tests, benchmarks)."""
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the editor server did not start")
            threading.Event().wait(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.editor.close()


__all__ = ["create_app", "Server", "Guard", "bind", "new_token", "decode_mask", "host_name"]
