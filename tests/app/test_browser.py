"""End to end in a real browser: Debian's chromium driven by Playwright (never a downloaded browser build).

Refuses a broken file with a message in the page, loads a photo through the file picker, paints a region with mouse events, projects it and sees the
progress, moves a slider and sees the canvas change, undoes and sees it return, and exports a PNG
equal to the library's render. With ``CHUNKYGAN_SCREENSHOTS=docs/img`` it runs on the default generator
and Grace Hopper's photo and writes the README's screenshots there (slower; for the docs only).
"""
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from app_helpers import photo_png, tiny_editor_parts
from chunkygan.app.editor import Editor, png_bytes
from chunkygan.session import EditSession

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = os.environ.get("CHUNKYGAN_SCREENSHOTS")


def _need_browser():
    if os.environ.get("CI") == "true":  # `make setup` installs both: a missing one is a failure in CI
        import playwright  # noqa: F401
        assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install -y chromium chromium-driver"
        return
    pytest.importorskip("playwright", reason="playwright is not installed: pip install -r requirements/app.txt")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium chromium-driver")


@pytest.fixture()
def served(tmp_path):
    _need_browser()
    from chunkygan.app.server import Server

    if SHOTS:
        import matplotlib.cbook

        from chunkygan.edit.directions import load_bank_for
        from chunkygan.generators import default_generator_name, load_generator

        G = load_generator(default_generator_name())
        bank = load_bank_for(G)
        photo = Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
        editor = Editor(G, bank, session_dir=tmp_path / "session", preview_every=10)
    else:
        G, bank = tiny_editor_parts()
        photo = tmp_path / "photo.png"
        photo.write_bytes(photo_png(40, 32))
        editor = Editor(G, bank, session_dir=tmp_path / "session", align=False, preview_every=5)
    server = Server(editor).start()
    server.photo = photo
    yield server
    server.stop()


@pytest.fixture()
def page(served):
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="chunkygan-chromium-")
    try:
        with sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, headless=True, args=FLAGS,
                                                       accept_downloads=True, viewport={"width": 1180, "height": 1000})
            pg = ctx.new_page()
            errors = []
            pg.on("pageerror", lambda e: errors.append(str(e)))
            pg.set_default_timeout(60_000)
            yield pg
            ctx.close()
            assert not errors, errors
    finally:
        shutil.rmtree(profile, ignore_errors=True)


CANVAS_DIGEST = """async () => {
  const c = document.getElementById('canvas');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const h = await crypto.subtle.digest('SHA-256', d);
  return Array.from(new Uint8Array(h)).map(b => b.toString(16).padStart(2, '0')).join('');
}"""


def shot(pg, name):
    """A screenshot for the README (only with CHUNKYGAN_SCREENSHOTS)."""
    if SHOTS:
        import io

        from PIL import Image

        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        im = Image.open(io.BytesIO(pg.screenshot())).convert("RGB")
        im.save(Path(SHOTS) / name, optimize=True)


def act(pg, editor, action, until, deadline_s=120):
    """Do ``action`` in the page, then wait until the server has a new state satisfying ``until()`` and the
    page has drawn the server's latest state."""
    before = editor.last_seq
    action()
    end = time.monotonic() + deadline_s
    while True:
        seq = editor.last_seq
        if seq > before and until() and not editor.busy and \
                pg.evaluate("() => document.body.dataset.seq || ''") == str(seq):
            return
        assert time.monotonic() < end, "the page did not get to the server's state"
        time.sleep(0.05)


def redrawn(pg, action):
    """Do ``action`` (a client-side view change) and wait until the picture is drawn again."""
    n = pg.evaluate("() => document.body.dataset.drawn || '0'")
    action()
    pg.wait_for_function("n => (document.body.dataset.drawn || '0') !== n", arg=n)


def test_edit_a_photo_in_the_browser(served, page, tmp_path):
    pg, editor = page, served.editor
    steps = 200 if SHOTS else 150
    pg.goto(served.url)
    pg.wait_for_selector("#photo-input", state="attached")
    # progress lines shown during the projection, recorded as they appear
    pg.evaluate("""() => { window.progressSeen = [];
      new MutationObserver(() => window.progressSeen.push(document.getElementById('progress').textContent))
        .observe(document.getElementById('progress'), {childList: true, characterData: true, subtree: true}); }""")

    # a broken file: a clear message in the page, nothing opened
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"this is not a picture")
    pg.set_input_files("#photo-input", str(broken))
    pg.wait_for_selector("#error:not([hidden])")
    assert "broken.jpg" in pg.inner_text("#error-text") and editor.session is None

    act(pg, editor, lambda: pg.set_input_files("#photo-input", str(served.photo)),
        lambda: editor.session is not None)
    empty = pg.evaluate(CANVAS_DIGEST)

    # paint a region with the mouse: zig-zag strokes over the middle of the picture (the face)
    pg.fill("#brush-size", "110")
    box = pg.locator("#overlay").bounding_box()
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    pg.mouse.move(x0 + 0.3 * w, y0 + 0.3 * h)
    pg.mouse.down()
    for row in range(5):
        y = y0 + (0.3 + 0.1 * row) * h
        for t in range(11):
            x = 0.3 + 0.4 * t / 10 if row % 2 == 0 else 0.7 - 0.4 * t / 10
            pg.mouse.move(x0 + x * w, y)
    pg.mouse.up()
    shot(pg, "editor-paint.png")
    act(pg, editor, lambda: pg.click("#add-region"), lambda: len(editor.session.layers) == 1)
    assert float(editor.session.layers[0].mask.sum()) > 0

    # project the region (Eq. 3) and see the progress
    pg.fill("#project-steps", str(steps))
    def start_and_watch():
        pg.click("#project")
        if SHOTS:  # the live progress: step, loss and the preview on the canvas
            while editor.job is None or editor.job.step < steps // 2:
                time.sleep(0.05)
            pg.wait_for_function("() => !document.getElementById('progress-box').hidden")
            time.sleep(1)
            shot(pg, "editor-progress.png")

    act(pg, editor, start_and_watch, lambda: editor.session.layers[0].code is not None)
    pg.wait_for_function("() => document.getElementById('job-message').textContent.includes('finished')")
    seen = pg.evaluate("() => window.progressSeen")
    assert any(f"/{steps}" in s and "loss" in s for s in seen), seen
    assert editor.session.layers[0].code is not None
    projected = pg.evaluate(CANVAS_DIGEST)
    assert projected != empty
    shot(pg, "editor-projected.png")

    # move a slider: the canvas changes; undo: it comes back
    name = "smile" if SHOTS else editor.bank.names()[0]
    slider = pg.locator(f"input[data-direction='{name}']")
    act(pg, editor, lambda: slider.fill("2"), lambda: len(editor.session.layers[0].edits) == 1)
    edited = pg.evaluate(CANVAS_DIGEST)
    assert edited != projected
    assert editor.session.layers[0].edits[0].strength == 2.0
    if SHOTS:
        pg.uncheck("#show-masks")  # the overlay is drawn over the canvas, not into it
        shot(pg, "editor-edit.png")
    redrawn(pg, lambda: pg.check("input[name=view][value=diff]"))
    shot(pg, "editor-difference.png")
    redrawn(pg, lambda: pg.check("input[name=view][value=after]"))
    assert pg.evaluate(CANVAS_DIGEST) == edited

    act(pg, editor, lambda: pg.click("#undo"), lambda: editor.session.layers[0].edits == ())
    assert pg.evaluate(CANVAS_DIGEST) == projected
    assert editor.session.layers[0].edits == ()
    pg.click("h1")  # keyboard focus on the page, not in an input
    act(pg, editor, lambda: pg.keyboard.press("Control+y"), lambda: editor.session.layers[0].edits != ())
    assert pg.evaluate(CANVAS_DIGEST) == edited

    # export: the PNG equals the library's render of the saved session
    with pg.expect_download() as dl:
        pg.click("#export-png")
    out = tmp_path / "export.png"
    dl.value.save_as(out)
    reopened = EditSession.load(tmp_path / "session" / "session", editor.G)
    render = reopened.render()
    if editor.transform is None:
        assert out.read_bytes() == png_bytes(render)
    else:  # pasted back into the photo: the same as the library's paste-back of the same render
        from chunkygan.align.ffhq import paste_back_local

        pasted = paste_back_local(render, reopened.original, editor.photo, editor.transform,
                                  region=reopened.touched_mask(), mode="delta")
        assert out.read_bytes() == png_bytes(pasted.clamp(-1, 1))
