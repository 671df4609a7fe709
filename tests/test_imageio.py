import numpy as np
import pytest
import torch
from PIL import Image

from chunkygan.imageio import ImageInputError, fit_square, load_image, make_grid, save_image, tensor_to_pil


def test_roundtrip_png(tmp_path):
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    save_image(x, tmp_path / "a.png")
    y = load_image(tmp_path / "a.png")
    assert y.shape == (1, 3, 16, 16)
    assert (x - y).abs().max() <= 1 / 127.5 + 1e-6


@pytest.mark.parametrize("mode", ["RGBA", "L", "I;16", "P", "LA", "CMYK"])
def test_modes_become_rgb(tmp_path, mode):
    arr = (np.arange(64).reshape(8, 8) * 4).astype(np.uint8)
    if mode == "I;16":
        im = Image.fromarray(arr.astype(np.uint16) * 257)  # 16-bit grey
        assert im.mode.startswith("I")
    else:
        im = Image.fromarray(arr, "L").convert(mode)
    path = tmp_path / ("a.tif" if mode == "CMYK" else "a.png")
    im.save(path)
    t = load_image(path)
    assert t.shape == (1, 3, 8, 8) and t.min() >= -1 and t.max() <= 1
    if mode in ("L", "I;16"):
        # grey ramp preserved (16-bit rescaled to 8-bit)
        assert abs(float(t[0, 0, 7, 7]) - (arr[7, 7] / 127.5 - 1)) < 0.02


def test_exif_rotation_applied(tmp_path):
    im = Image.new("RGB", (20, 10), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    im.save(tmp_path / "r.jpg", exif=exif)
    assert load_image(tmp_path / "r.jpg").shape == (1, 3, 20, 10)


def test_bad_inputs_clear_errors(tmp_path):
    with pytest.raises(ImageInputError, match="no such file"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageInputError, match="empty"):
        load_image(tmp_path / "empty.png")
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(ImageInputError, match="not an image format"):
        load_image(tmp_path / "text.png")
    Image.new("RGB", (64, 64), (1, 2, 3)).save(tmp_path / "full.jpg")
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "trunc.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageInputError, match="damaged or truncated"):
        load_image(tmp_path / "trunc.jpg")


def test_enormous_refused_before_decoding(tmp_path):
    Image.new("L", (400, 300)).save(tmp_path / "big.png")
    from chunkygan.imageio import read_pil

    with pytest.raises(ImageInputError, match="larger than the limit"):
        read_pil(tmp_path / "big.png", max_pixels=100_000)


def test_fit_square_crops_centre():
    x = torch.zeros(1, 3, 10, 20)
    x[..., 5:15] = 1
    y = fit_square(x, 10)
    assert y.shape == (1, 3, 10, 10) and torch.all(y == 1)


def test_save_is_atomic_on_failure(tmp_path, monkeypatch):
    p = tmp_path / "keep.png"
    save_image(torch.zeros(1, 3, 4, 4), p)
    before = p.read_bytes()
    monkeypatch.setattr(Image.Image, "save", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        save_image(torch.ones(1, 3, 4, 4), p)
    assert p.read_bytes() == before
    assert [f.name for f in tmp_path.iterdir()] == ["keep.png"]


def test_grid_and_mask_to_pil():
    g = make_grid(torch.zeros(5, 3, 4, 4), nrow=3, pad=1)
    assert g.shape == (1, 3, 2 * 5 + 1, 3 * 5 + 1)
    assert tensor_to_pil(torch.ones(1, 4, 4)).mode == "L"


def test_outputs_get_umask_permissions(tmp_path):
    import os

    mask = os.umask(0o022)
    try:
        save_image(torch.zeros(1, 3, 4, 4), tmp_path / "p.png")
    finally:
        os.umask(mask)
    assert (tmp_path / "p.png").stat().st_mode & 0o777 == 0o644
