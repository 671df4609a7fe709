"""The browser editor's speed: slider change -> new picture, and a projection step through the server.

Runs the real server (uvicorn on 127.0.0.1, a free port) with the default generator on the CPU and
talks to it over HTTP like the page does:

* **slider change -> new image**: ``POST /api/edit`` (the session step, then the new picture rendered
  and PNG-encoded into the cache; the autosave of the history is queued behind it) then
  ``GET /api/image`` (that PNG) — the two requests the page makes when a slider is released; also
  the render and the encode alone, in the library. Between two slider moves the benchmark waits for
  the background autosave (a person pauses longer than that), whose time it prints too. Median of
  ``--repeats``.
* **projection overhead**: ``--steps`` steps of the local projection of one region (Eq. 3) through
  ``POST /api/project`` (job start, progress events, a preview PNG every 5 steps, the autosave at the
  end, waiting for the page-visible "done" state) against the same ``EditSession.project_region`` call
  directly; alternated, ``--runs`` each, printed as ratios of the medians and of the fastest runs
  (on a shared machine other jobs only add time, so the fastest runs are the cleaner estimate; aim: <= 1.1x).

Usage::

    python benchmarks/editor.py                   # 2 threads, default generator
    python benchmarks/editor.py --threads 1 --steps 50
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--generator", default=None)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    import tempfile
    from pathlib import Path

    import httpx2 as httpx
    from skimage.data import astronaut

    from chunkygan.app.editor import Editor, png_bytes
    from chunkygan.app.server import TOKEN_HEADER, Server
    from chunkygan.device import keep_cpu_memory_mapped
    from chunkygan.edit.directions import load_bank_for
    from chunkygan.generators import default_generator_name, load_generator
    from chunkygan.imageio import fit_square, pil_to_tensor
    from chunkygan.session import EditSession
    from PIL import Image

    keep_cpu_memory_mapped()
    G = load_generator(args.generator or default_generator_name())
    bank = load_bank_for(G)
    R = G.resolution
    photo = Image.fromarray(astronaut())
    buf = __import__("io").BytesIO()
    photo.save(buf, format="PNG")
    mask = torch.zeros(R, R)
    mask[R // 8: R // 2, R // 4: 3 * R // 4] = 1  # the face of the astronaut

    tmp = Path(tempfile.mkdtemp(prefix="chunkygan-bench-editor-"))
    editor = Editor(G, bank, session_dir=tmp / "session", align=False, preview_every=5)
    server = Server(editor).start()
    base = server.url.split("/?")[0]
    client = httpx.Client(base_url=base, headers={TOKEN_HEADER: server.token}, timeout=600)

    def ok(r):
        if r.status_code != 200:
            raise SystemExit(f"{r.request.url}: {r.status_code} {r.text}")
        return r

    def wait_done():
        while True:
            st = ok(client.get("/api/state")).json()
            if not st["busy"]:
                return st
            time.sleep(0.05)

    import base64

    mbuf = __import__("io").BytesIO()
    Image.fromarray((mask.numpy() * 255).astype("uint8"), "L").save(mbuf, format="PNG")
    mask_url = "data:image/png;base64," + base64.b64encode(mbuf.getvalue()).decode()
    ok(client.post("/api/open", content=buf.getvalue(), headers={"X-Filename": "astronaut.png"}))
    ok(client.post("/api/region", json={"mask": mask_url}))
    lib = EditSession(G, fit_square(pil_to_tensor(photo), R).clamp(-1, 1))
    lib.add_region(mask)

    # -- projection overhead: server vs library, alternated ------------------------------------------------
    direct, served, direct_cpu, served_cpu = [], [], [], []
    for _ in range(args.runs):
        t, c = time.perf_counter(), time.process_time()
        lib.project_region(0, steps=args.steps)
        direct.append(time.perf_counter() - t)
        direct_cpu.append(time.process_time() - c)
        lib.undo()
        t, c = time.perf_counter(), time.process_time()
        ok(client.post("/api/project", json={"layer": 0, "steps": args.steps}))
        editor.job.future.result()  # (waiting in-process: polling the server would add its own load)
        st = ok(client.get("/api/state")).json()
        served.append(time.perf_counter() - t)
        served_cpu.append(time.process_time() - c)
        assert st["job"]["status"] == "done", st["job"]
        ok(client.post("/api/undo"))
    ok(client.post("/api/redo"))

    # -- slider change -> new image ------------------------------------------------------------------------------
    name = "smile" if "smile" in bank else bank.names()[0]

    def slider(layer: int):
        edit_t, image_t, save_t, cpu_t = [], [], [], []
        for i in range(args.repeats):
            strength = 1.0 + (i % 2)
            t, c = time.perf_counter(), time.process_time()
            ok(client.post("/api/edit", json={"direction": name, "strength": strength, "target": [layer]}))
            t1 = time.perf_counter()
            ok(client.get("/api/image?view=after"))
            t2 = time.perf_counter()
            cpu_t.append(time.process_time() - c)
            editor.submit(lambda: None).result()  # a user pauses between slider moves: the autosave finishes
            save_t.append(time.perf_counter() - t2)
            edit_t.append(t1 - t)
            image_t.append(t2 - t1)
        return edit_t, image_t, save_t, cpu_t

    edit_t, image_t, save_t, cpu_t = slider(0)
    # then 4 more layers from an automatic projection (k-means, a few L2 steps): the slider moves one of 5
    ok(client.post("/api/auto", json={"segments": 4, "steps": 5, "loss": "l2"}))
    wait_done()
    edit5, image5, _, cpu5 = slider(0)
    s = editor.session
    render_t, encode_t, render_cpu = [], [], []
    for _ in range(args.repeats):
        s.__dict__.pop("_layer_images", None)  # a fresh render, not the session's cached layer images
        t, c = time.perf_counter(), time.process_time()
        img = s.render()
        t1 = time.perf_counter()
        render_cpu.append(time.process_time() - c)
        png_bytes(img)
        render_t.append(t1 - t)
        encode_t.append(time.perf_counter() - t1)
    client.close()
    server.stop()

    ms = lambda xs: 1000 * statistics.median(xs)  # noqa: E731
    print(f"generator {G.name} ({R}x{R}), CPU, {args.threads} thread(s); history length at the end: {len(s.history)}")
    print("slider change -> new image (median of %d):" % args.repeats)
    print(f"  POST /api/edit (step, render, encode) {ms(edit_t):7.1f} ms   (the autosave follows in the background)")
    print(f"  GET /api/image (the new PNG)          {ms(image_t):7.1f} ms")
    total = [a + b for a, b in zip(edit_t, image_t)]
    print(f"  total                                 {ms(total):7.1f} ms   (fastest {1000 * min(total):.1f} ms; "
          "aim <= 150 ms)")
    print(f"  CPU time of the process (all threads) per change: {ms(cpu_t):.1f} ms")
    print(f"  library: render {ms(render_t):.1f} ms (fastest {1000 * min(render_t):.1f} ms, CPU {ms(render_cpu):.1f} ms),"
          f" PNG encode {ms(encode_t):.1f} ms")
    print(f"  then the background autosave of the history: {ms(save_t):.1f} ms")
    total5 = [a + b for a, b in zip(edit5, image5)]
    print(f"  with 5 layers (one edited; the other 4 layer images come from the session's cache): "
          f"{ms(total5):.1f} ms (fastest {1000 * min(total5):.1f} ms, CPU {ms(cpu5):.1f} ms)")
    print(f"projection of one region, {args.steps} steps (median of {args.runs}):")
    print(f"  library EditSession.project_region    {statistics.median(direct):7.2f} s   (fastest {min(direct):.2f} s)")
    print(f"  through the server (POST + events)    {statistics.median(served):7.2f} s   (fastest {min(served):.2f} s)")
    print(f"  ratio server / library                {statistics.median(served) / statistics.median(direct):7.3f}x"
          f"   (fastest runs: {min(served) / min(direct):.3f}x; aim <= 1.1x)")
    print(f"  CPU time, server / library            {statistics.median(served_cpu) / statistics.median(direct_cpu):7.3f}x"
          f"   ({statistics.median(served_cpu):.2f} s / {statistics.median(direct_cpu):.2f} s)")


if __name__ == "__main__":
    main()
