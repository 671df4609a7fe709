"""The browser editor (``chunkygan editor``): a thin ASGI server over :class:`chunkygan.session.EditSession`.

- :mod:`.editor`: :class:`Editor`, the one object the server drives: the session, the opened photo
  and its alignment, the direction bank, the folder it saves into after every step, and one worker
  thread that runs every computation in turn (long ones as cancellable jobs with progress events).
- :mod:`.server`: the Starlette app (token + Host checks, JSON/PNG endpoints, server-sent events)
  and :func:`.server.serve` (uvicorn on 127.0.0.1, ``port=0`` picks a free port).
- ``static/``: the page (plain HTML/CSS/JavaScript on a 2D canvas; no build step, nothing from the network).

Needs the ``app`` extra (``pip install 'chunkygan[app]'``); nothing here is imported by the library.
"""
