"""SegmentMasks: normalisation, resizing, feathering, dilation, label/PNG-folder round trips, previews."""
import numpy as np
import pytest
import torch
from PIL import Image

from chunkygan.segments.masks import (MaskInputError, PALETTE, SegmentMasks, dilate, feather, fit, from_labels,
                                      load_static_mask, normalise, to_labels)


def _random_masks(k=3, h=12, w=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(k, 1, h, w, generator=g)


def test_normalise_sums_to_one_and_uncovered_pixels_become_uniform():
    m = _random_masks()
    m[:, :, 0, 0] = 0
    n = normalise(m)
    assert torch.allclose(n.sum(0), torch.ones(1, 12, 10), atol=1e-6)
    assert torch.allclose(n[:, 0, 0, 0], torch.full((3,), 1 / 3))
    # proportions are kept
    assert torch.allclose(n[0, 0, 5, 5] / n[1, 0, 5, 5], m[0, 0, 5, 5] / m[1, 0, 5, 5], rtol=1e-5)


def test_bad_masks_are_refused_with_a_clear_message():
    with pytest.raises(MaskInputError, match=r"\[K,1,H,W\]"):
        SegmentMasks(torch.rand(2, 3, 4, 4))
    with pytest.raises(MaskInputError, match="negative"):
        SegmentMasks(-torch.ones(2, 1, 4, 4))
    with pytest.raises(MaskInputError, match="NaN"):
        SegmentMasks(torch.full((2, 1, 4, 4), float("nan")))


def test_grid_labels_and_one_hot_round_trip():
    m = SegmentMasks.grid(2, (6, 8))
    lab = m.labels()
    assert lab[0, 0] == 0 and lab[0, 7] == 1 and lab[5, 0] == 2 and lab[5, 7] == 3
    assert torch.equal(to_labels(from_labels(lab, 4)), lab)
    assert torch.equal(SegmentMasks.from_labels(lab).tensor, m.tensor)


def test_resize_keeps_normalisation_and_fit_centre_crops_like_images():
    m = SegmentMasks(_random_masks(h=16, w=16))
    r = m.resize(7)
    assert r.size == (7, 7)
    assert torch.allclose(r.tensor.sum(0), torch.ones(1, 7, 7), atol=1e-5)
    # a 4x8 two-segment image: left half / right half; centre crop to 4x4 keeps columns 2..5
    lab = torch.zeros(4, 8, dtype=torch.long)
    lab[:, 4:] = 1
    f = fit(from_labels(lab), 4)
    assert torch.equal(to_labels(f)[0], torch.tensor([0, 0, 1, 1]))


def test_feather_softens_only_the_border():
    lab = torch.zeros(16, 16, dtype=torch.long)
    lab[:, 8:] = 1
    m = SegmentMasks.from_labels(lab).feather(1.5)
    assert torch.allclose(m.tensor.sum(0), torch.ones(1, 16, 16), atol=1e-5)
    assert 0.2 < m.tensor[0, 0, 5, 7] < 0.8  # at the border: soft
    assert m.tensor[0, 0, 5, 0] > 0.999  # far away: unchanged


def test_dilate_grows_a_region_by_the_radius():
    x = torch.zeros(1, 1, 9, 9)
    x[0, 0, 4, 4] = 1
    d = dilate(x, 2)
    assert d.sum() == 25 and d[0, 0, 2, 2] == 1 and d[0, 0, 1, 4] == 0
    # the class version grows all segments and renormalises: the border becomes a shared band
    lab = torch.zeros(8, 8, dtype=torch.long)
    lab[:, 4:] = 1
    m = SegmentMasks.from_labels(lab).dilate(1)
    assert torch.allclose(m.tensor[:, 0, 0, 3], torch.tensor([0.5, 0.5]))
    assert torch.allclose(m.tensor[:, 0, 0, 0], torch.tensor([1.0, 0.0]))


def test_label_image_round_trip(tmp_path):
    m = SegmentMasks.grid(2, 8)
    path = m.save_labels(tmp_path / "labels.png")
    back = SegmentMasks.load_labels(path)
    assert torch.equal(back.tensor, m.tensor)
    # a label image with grey values 0/128/255 (drawn in a paint program) gives three segments in order
    arr = np.zeros((4, 6), np.uint8)
    arr[:, 2:4] = 128
    arr[:, 4:] = 255
    Image.fromarray(arr).save(tmp_path / "painted.png")
    lab = SegmentMasks.load_labels(tmp_path / "painted.png").labels()
    assert torch.equal(lab[0], torch.tensor([0, 0, 1, 1, 2, 2]))
    # colour label images too
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[:, 2:] = (255, 0, 0)
    Image.fromarray(rgb).save(tmp_path / "colour.png")
    assert SegmentMasks.load_labels(tmp_path / "colour.png").num_segments == 2
    with pytest.raises(MaskInputError, match="more than"):
        SegmentMasks.load_labels(tmp_path / "painted.png", num_segments=2)


def test_png_folder_round_trip_keeps_soft_values(tmp_path):
    m = SegmentMasks(_random_masks(k=3, h=8, w=8)).feather(1.0)
    files = m.save_folder(tmp_path / "masks")
    assert [f.name for f in files] == ["segment_00.png", "segment_01.png", "segment_02.png"]
    back = SegmentMasks.load_folder(tmp_path / "masks")
    assert back.num_segments == 3
    assert (back.tensor - m.tensor).abs().max() < 3 / 255


def test_png_folder_that_does_not_cover_the_image_gets_a_rest_segment(tmp_path):
    folder = tmp_path / "user"
    folder.mkdir()
    a = np.zeros((8, 8), np.uint8)
    a[:4] = 255
    Image.fromarray(a).save(folder / "eyes.png")
    m = SegmentMasks.load_folder(folder, size=4)
    assert m.num_segments == 2 and m.size == (4, 4)
    assert torch.allclose(m.tensor[1, 0, 3], torch.ones(4))  # bottom rows belong to the rest segment
    with pytest.raises(MaskInputError, match="no .png"):
        SegmentMasks.load_folder(tmp_path / "user" / "..")  # tmp_path has no PNGs at top level
    with pytest.raises(MaskInputError, match="not a folder"):
        SegmentMasks.load_folder(tmp_path / "missing")


def test_preview_uses_the_palette_and_blends_over_an_image(tmp_path):
    m = SegmentMasks.grid(1, 4, rows=1)  # K = 1
    prev = m.preview()
    want = torch.tensor(PALETTE[0], dtype=torch.float32) / 127.5 - 1
    assert torch.allclose(prev[0, :, 0, 0], want)
    img = -torch.ones(1, 3, 8, 8)
    over = m.preview(img, alpha=0.5)
    assert over.shape == (1, 3, 8, 8)
    assert torch.allclose(over[0, :, 3, 3], 0.5 * want - 0.5)
    assert m.save_preview(tmp_path / "p.png").is_file()


def test_static_mask_loads_as_single_channel_in_unit_range(tmp_path):
    a = np.zeros((10, 20), np.uint8)
    a[:, 10:] = 255
    Image.fromarray(a).save(tmp_path / "sx.png")
    sx = load_static_mask(tmp_path / "sx.png", 10)
    assert sx.shape == (1, 1, 10, 10)
    assert sx[0, 0, 0, 0] == 0 and sx[0, 0, 0, -1] == 1
