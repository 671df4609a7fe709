"""The editor's HTTP API (Starlette's test client) against the same EditSession calls, and its refusals."""
import io

import pytest
import torch
from PIL import Image

from app_helpers import box_mask, mask_png, photo_png, tiny_editor_parts, wait_idle
from chunkygan.app.editor import Editor, png_bytes
from chunkygan.app.server import TOKEN_HEADER, create_app
from chunkygan.imageio import fit_square, pil_to_tensor
from chunkygan.session import EditSession

TOKEN = "test-token"


@pytest.fixture()
def client(tmp_path):
    from starlette.testclient import TestClient

    G, bank = tiny_editor_parts()
    editor = Editor(G, bank, session_dir=tmp_path / "autosave", align=False, max_upload_bytes=20_000,
                    preview_every=2)
    app = create_app(editor, TOKEN, hosts={"testserver"})
    with TestClient(app, headers={TOKEN_HEADER: TOKEN}) as c:
        c.editor = editor
        yield c
    editor.close()


def b64(data: bytes) -> str:
    import base64

    return "data:image/png;base64," + base64.b64encode(data).decode()


def ok(r):
    assert r.status_code == 200, r.text
    return r.json()


def run_job(client, path, body):
    ok(client.post(path, json=body))
    job = wait_idle(lambda: ok(client.get("/api/state")))
    assert job["status"] == "done", job
    return job


def test_steps_match_the_library_bit_for_bit(client, tmp_path):
    G, bank = client.editor.G, client.editor.bank
    photo = photo_png()
    ok(client.post("/api/open", content=photo, headers={"X-Filename": "face.png"}))
    lib = EditSession(G, fit_square(pil_to_tensor(Image.open(io.BytesIO(photo))), G.resolution).clamp(-1, 1))
    assert client.get("/api/image?view=after").content == png_bytes(lib.render())

    region = (3, 12, 4, 13)
    ok(client.post("/api/region", json={"mask": b64(mask_png(region)), "name": "face"}))
    lib.add_region(box_mask(region), name="face")
    run_job(client, "/api/project", {"layer": 0, "steps": 6})
    lib.project_region(0, steps=6)
    before = ok(client.get("/api/state"))["history"]
    r = client.post("/api/preview-edit", json={"direction": "smile", "strength": 1.5, "target": [0], "layers": "0-3"})
    assert r.status_code == 200 and ok(client.get("/api/state"))["history"] == before  # no step
    ok(client.post("/api/edit", json={"direction": "smile", "strength": 1.5, "target": [0], "layers": "0-3"}))
    assert r.content == client.get("/api/image?view=after").content  # the preview was the edit's picture
    lib.set_edits(bank.get("smile"), 1.5, (0, 4), [0])
    ok(client.post("/api/edit", json={"direction": "age", "strength": -0.5, "target": "all"}))
    lib.set_edits(bank.get("age"), -0.5)
    ok(client.post("/api/channel", json={"layer": 0, "style_layer": 1, "channel": 2, "strength": 3.0}))
    lib.set_channel_edit(1, 2, 3.0, 0)
    hole = (10, 15, 2, 8)
    run_job(client, "/api/fill", {"layer": 0, "steps": 4, "mask": b64(mask_png(hole))})
    lib.fill_hole(box_mask(hole), 0, steps=4)
    ok(client.post("/api/layer", json={"layer": 1, "blend": "poisson", "feather": 1.5}))
    lib.update_layer(1, blend="poisson", feather=1.5)
    ok(client.post("/api/commit"))
    lib.commit()
    ok(client.post("/api/undo"))
    lib.undo()
    ok(client.post("/api/undo"))
    lib.undo()
    st = ok(client.post("/api/redo"))["state"]
    lib.redo()
    assert st["history"] == lib.history and st["position"] == lib.position
    assert [L["name"] for L in st["layers"]] == ["face", "face-fill"] and st["layers"][1]["blend"] == "poisson"
    assert client.get("/api/image?view=after").content == png_bytes(lib.render())
    assert client.get("/api/export.png").content == png_bytes(lib.render())

    # saved after every step (the autosave folder) and by /api/save: both reload bit-identically
    auto = EditSession.load(tmp_path / "autosave" / "session", G)
    assert torch.equal(auto.render(), lib.render()) and auto.history == lib.history
    ok(client.post("/api/save", json={"folder": str(tmp_path / "saved")}))
    saved = EditSession.load(tmp_path / "saved" / "session", G)
    assert torch.equal(saved.render(), lib.render())
    for i, state in enumerate(lib._history):  # every state of the history, not only the current one
        assert torch.equal(saved.render(state=saved._history[i]), lib.render(state=state))

    ok(client.post("/api/undo"))
    ok(client.post("/api/load", json={"folder": str(tmp_path / "saved")}))
    st = ok(client.get("/api/state"))
    assert st["position"] == lib.position and st["history"] == lib.history
    assert client.get("/api/image?view=after").content == png_bytes(lib.render())
    diff = Image.open(io.BytesIO(client.get("/api/image?view=diff").content))
    assert diff.size == (16, 16)

    # the session folder as a zip, and `--session DIR` reopening the autosaved folder
    import zipfile

    z = zipfile.ZipFile(io.BytesIO(client.get("/api/export.zip").content))
    assert {"chunkygan-session/session/session.json", "chunkygan-session/photo.png"} <= set(z.namelist())
    again = Editor(G, bank, session_dir=tmp_path / "autosave", align=False)
    assert again.session.history == lib.history and torch.equal(again.session.render(), lib.render())
    again.close()


def test_auto_projection_makes_layers_that_reproduce_the_composite(client):
    ok(client.post("/api/open", content=photo_png(), headers={"X-Filename": "p.png"}))
    run_job(client, "/api/auto", {"segments": 3, "steps": 4, "loss": "l2"})
    st = ok(client.get("/api/state"))
    assert [L["name"] for L in st["layers"]] == ["segment0", "segment1", "segment2"]
    assert client.get("/api/image?view=preview").status_code == 200


def test_cancel_leaves_the_session_unchanged(client):
    ok(client.post("/api/open", content=photo_png(), headers={"X-Filename": "p.png"}))
    ok(client.post("/api/region", json={"mask": b64(mask_png((0, 8, 0, 8)))}))
    before = ok(client.get("/api/state"))["history"]
    ok(client.post("/api/project", json={"layer": 0, "steps": 5000}))
    r = client.post("/api/undo")
    assert r.status_code == 409 and "running" in r.json()["error"]
    ok(client.post("/api/cancel"))
    job = wait_idle(lambda: ok(client.get("/api/state")))
    assert job["status"] == "cancelled"
    assert ok(client.get("/api/state"))["history"] == before


def test_refusals_leave_the_session_unchanged(client):
    from starlette.testclient import TestClient

    ok(client.post("/api/open", content=photo_png(), headers={"X-Filename": "p.png"}))
    before_img = client.get("/api/image").content
    before = ok(client.get("/api/state"))

    bare = TestClient(client.app)
    r = bare.get("/api/state")
    assert r.status_code == 403 and "token" in r.json()["error"]
    r = bare.post("/api/undo", headers={TOKEN_HEADER: "wrong"})
    assert r.status_code == 403
    r = client.get("/api/state", headers={"host": "evil.example:8000"})
    assert r.status_code == 403 and "Host" in r.json()["error"]
    r = client.post("/api/open", content=photo_png(), headers={"host": "evil.example"})
    assert r.status_code == 403

    big = b"\x89PNG" + b"0" * 30_000
    r = client.post("/api/open", content=big, headers={"X-Filename": "huge.png"})
    assert r.status_code == 413 and "limit" in r.json()["error"]
    r = client.post("/api/open", content=b"this is not an image", headers={"X-Filename": "broken.jpg"})
    assert r.status_code == 400 and "broken.jpg" in r.json()["error"] and "/tmp" not in r.json()["error"]
    truncated = photo_png(64, 64)[:300]
    r = client.post("/api/open", content=truncated, headers={"X-Filename": "cut.png"})
    assert r.status_code == 400 and "cut.png" in r.json()["error"]
    r = client.post("/api/region", json={"mask": "data:image/png;base64,AAAA"})
    assert r.status_code == 400 and "mask" in r.json()["error"]
    r = client.post("/api/undo")
    assert r.status_code == 400 and "nothing to undo" in r.json()["error"]
    assert client.post("/api/nonsense").status_code == 404
    r = client.post("/api/edit", json={"direction": "smile", "strength": 1, "layers": "x-y"})
    assert r.status_code == 400 and "x-y" in r.json()["error"]
    r = client.post("/api/edit", json={"direction": "smile", "strength": 1, "target": ["a"]})
    assert r.status_code == 400
    r = client.post("/api/edit", json={"direction": "no-such", "strength": 1})
    assert r.status_code == 400 and "no-such" in r.json()["error"]

    after = ok(client.get("/api/state"))
    assert after["history"] == before["history"] and after["note"] == before["note"]
    assert client.get("/api/image").content == before_img


def test_page_and_static_files_need_the_token(client):
    from starlette.testclient import TestClient

    page = client.get(f"/?token={TOKEN}")
    assert page.status_code == 200 and f"token={TOKEN}" in page.text
    assert client.get("/static/editor.js").status_code == 200
    assert TestClient(client.app).get("/static/editor.js").status_code == 403
    assert client.get("/static/..%2Fserver.py").status_code == 404


def test_host_names():
    from chunkygan.app.server import host_name

    assert host_name("127.0.0.1:8000") == "127.0.0.1"
    assert host_name("[::1]:80") == "::1"
    assert host_name("LOCALHOST") == "localhost"
    assert host_name("evil.example:1") == "evil.example"


def test_cli_refuses_a_broken_photo_in_one_line(tmp_path):
    from click.testing import CliRunner

    from chunkygan.cli import main

    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a picture")
    r = CliRunner().invoke(main, ["editor", str(bad), "--session", str(tmp_path / "s"), "--no-align"])
    assert r.exit_code != 0 and "broken.jpg" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "s").exists() or not any((tmp_path / "s").iterdir())

    other = tmp_path / "not-a-session"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    r = CliRunner().invoke(main, ["editor", "--session", str(other)])
    assert r.exit_code != 0 and "not a saved session" in r.output and "Traceback" not in r.output
    assert [f.name for f in other.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("args", [["--port", "-5"], ["--port", "70000"], ["--max-upload-mb", "nan"],
                                  ["--max-upload-mb", "0"]])
def test_cli_refuses_bad_numbers_in_one_line(tmp_path, args):
    """Out-of-range ports and upload limits end in one usage line (were: a traceback from bind/int)."""
    from click.testing import CliRunner

    from chunkygan.cli import main

    r = CliRunner().invoke(main, ["editor", "--session", str(tmp_path / "s"), *args])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert len([line for line in r.output.splitlines() if line.strip()]) == 1 and args[0] in r.output
    assert not (tmp_path / "s").exists()


def test_face_photo_is_aligned_and_exports_into_the_full_photo(tmp_path):
    """With the face extra: FFHQ alignment on open; the export is the full photo, changed only near the region."""
    import os

    import numpy as np
    from starlette.testclient import TestClient

    from chunkygan.face.deps import missing

    why = missing(("dlib",), ("dlib-landmarks-68",))
    if why and os.environ.get("CI") != "true":
        pytest.skip(f"face extra: {why}")
    cbook = pytest.importorskip("matplotlib.cbook", reason="matplotlib (the test photo grace_hopper.jpg) is missing")
    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    G, bank = tiny_editor_parts()
    editor = Editor(G, bank, session_dir=tmp_path / "s", align=True)
    with TestClient(create_app(editor, TOKEN, hosts={"testserver"}), headers={TOKEN_HEADER: TOKEN}) as c:
        st = ok(c.post("/api/open", content=open(path, "rb").read(), headers={"X-Filename": "hopper.jpg"}))["state"]
        assert st["aligned"] and "aligned" in st["note"]
        ok(c.post("/api/region", json={"mask": b64(mask_png((6, 10, 6, 10)))}))
        run_job(c, "/api/project", {"layer": 0, "steps": 3})
        r = c.get("/api/export.png")
        assert "pasted back" in r.headers["x-chunkygan-note"]
    editor.close()
    out = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB"))
    photo = np.asarray(Image.open(path).convert("RGB"))
    assert out.shape == photo.shape
    changed = (out != photo).any(axis=2)
    assert 0 < changed.mean() < 0.2  # only around the small region, the rest of the photo bit for bit


def test_the_page_files_ship_as_package_data():
    """Every file of app/static/ matches a package-data glob in pyproject.toml (so a wheel works offline)."""
    import fnmatch
    import tomllib
    from pathlib import Path

    import chunkygan
    from chunkygan.app.server import static_dir

    root = Path(chunkygan.__file__).parent
    pyproject = root.parents[1] / "pyproject.toml"
    if not pyproject.is_file():
        pytest.skip("not a source checkout (pyproject.toml is not beside src/)")
    globs = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["package-data"]["chunkygan"]
    files = [f.relative_to(root).as_posix() for f in static_dir().iterdir() if f.is_file()]
    assert {"app/static/index.html", "app/static/editor.js", "app/static/editor.css"} <= set(files)
    assert all(any(fnmatch.fnmatch(f, g) for g in globs) for f in files), (files, globs)
    html = (static_dir() / "index.html").read_text()
    assert "http://" not in html and "https://" not in html  # nothing from the network
