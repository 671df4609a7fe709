"""Shared pieces of the editor tests: a tiny generator with a small direction bank, photos as bytes."""
import io
import time

import numpy as np
import torch
from PIL import Image

from chunkygan.edit.directions import Direction, DirectionBank
from tiny_generators import tiny_sg2


def tiny_editor_parts(seed=0):
    """A tiny StyleGAN2 (16 px) and a bank with one W and one W+ direction for it."""
    G = tiny_sg2(seed)
    g = torch.Generator().manual_seed(seed + 5)
    bank = DirectionBank.for_generator(G, [
        Direction("smile", "w", torch.randn(G.w_dim, generator=g), G.name, default_strength=1.0),
        Direction("age", "w+", torch.randn(G.num_ws, G.w_dim, generator=g), G.name, default_strength=1.0),
    ])
    return G, bank


def photo_png(w=24, h=20, seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr, "RGB").save(buf, format="PNG")
    return buf.getvalue()


def mask_png(box, size=16) -> bytes:
    """A binary mask PNG (255 inside ``box`` = (top, bottom, left, right))."""
    arr = np.zeros((size, size), np.uint8)
    t, b, l, r = box
    arr[t:b, l:r] = 255
    buf = io.BytesIO()
    Image.fromarray(arr, "L").save(buf, format="PNG")
    return buf.getvalue()


def box_mask(box, size=16) -> torch.Tensor:
    m = torch.zeros(size, size)
    t, b, l, r = box
    m[t:b, l:r] = 1
    return m


def wait_idle(get_state, deadline_s=120):
    """Poll the editor's state until no job runs; returns the last job (a deadline only against hangs)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        st = get_state()
        if not st["busy"]:
            return st["job"]
        time.sleep(0.02)
    raise AssertionError("the job did not finish")
