"""Input size limits: a 16000 x 16000 image is refused before decoding; large JPEGs are draft-decoded."""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from reliability_helpers import assert_refused, project_args, run_cli


def png_claiming(path, w: int, h: int) -> None:
    """A tiny PNG file whose header claims ``w x h`` pixels (decoding it would need w*h*3 bytes)."""
    buf = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buf, format="PNG")
    raw = bytearray(buf.getvalue())
    ihdr = raw.index(b"IHDR")
    raw[ihdr + 4:ihdr + 12] = struct.pack(">II", w, h)
    raw[ihdr + 17:ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(raw[ihdr:ihdr + 17])))
    path.write_bytes(bytes(raw))


def test_16000_squared_image_is_refused_before_any_work(tiny, tmp_path, sentinel):
    huge = tmp_path / "huge.png"
    png_claiming(huge, 16000, 16000)  # 768 MB as 8-bit RGB, 3 GB as a float tensor
    args = project_args(tiny, tmp_path / "out")
    args[1] = huge
    r = run_cli(*args)
    assert_refused(r, 1, "16000x16000", "megapixels")
    assert "projecting" not in r.stdout
    sentinel.check()


def test_large_jpeg_is_decoded_at_a_reduced_size(tmp_path):
    from chunkygan.imageio import read_pil

    rng = np.random.default_rng(0)
    jpg, png = tmp_path / "big.jpg", tmp_path / "big.png"
    Image.fromarray(rng.integers(0, 255, (400, 300, 3), dtype=np.uint8)).save(jpg)
    im = read_pil(jpg, max_pixels=10_000)  # 120,000 pixels: 1/4 per side fits (75 x 100)
    assert im.size == (75, 100)
    Image.open(jpg).save(png)
    with pytest.raises(ValueError, match="larger than the limit"):
        read_pil(png, max_pixels=10_000)  # no draft decoding for PNG: refused


@pytest.mark.parametrize("case", ["truncated PNG", "text file", "empty file", "FIFO"])
def test_broken_images_are_refused(case, tiny, tmp_path, sentinel):
    import os

    bad = tmp_path / "bad.png"
    if case == "truncated PNG":
        bad.write_bytes(tiny["photo"].read_bytes()[:200])
    elif case == "text file":
        bad.write_text("not an image\n")
    elif case == "empty file":
        bad.write_bytes(b"")
    else:
        os.mkfifo(bad)  # reading it would block forever
    for args in (["lpips", bad, tiny["photo"]], project_args(tiny, tmp_path / "out")):
        if args[0] == "project":
            args[1] = bad
        assert_refused(run_cli(*args), 1, "bad.png")
    assert not (tmp_path / "out" / "metrics.json").exists()
    sentinel.check()
