"""Poisson blending: a paste with a constant colour offset loses its seam and keeps its interior gradients."""
import numpy as np
import pytest
import torch

from chunkygan.composite import poisson_blend


def _scene(h=48, w=56):
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    target = torch.stack([0.5 * torch.sin(3 * xx + 1), 0.4 * torch.cos(2 * yy), 0.3 * xx * yy]).unsqueeze(0)
    mask = torch.zeros(1, 1, h, w)
    mask[..., 12:36, 10:42] = 1
    # the pasted part: the same smooth background plus an interior texture, shifted in colour
    texture = torch.zeros(1, 3, h, w)
    texture[..., 18:30, 16:36] = 0.2 * torch.sin(torch.arange(20.0) * 1.3).view(1, 1, 1, 20)
    offset = torch.tensor([0.3, -0.2, 0.15]).view(1, 3, 1, 1)
    source = target + texture + offset
    return source, target, mask, texture


def _seam_edges(region):
    """Pairs (p inside, q outside) of 4-neighbours across the region border."""
    pairs = []
    h, w = region.shape
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        ys, xs = np.nonzero(region)
        ny, nx = ys + dy, xs + dx
        ok = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
        ys, xs, ny, nx = ys[ok], xs[ok], ny[ok], nx[ok]
        out = ~region[ny, nx]
        pairs.append((ys[out], xs[out], ny[out], nx[out]))
    return [np.concatenate(p) for p in zip(*pairs)]


def _seam_gradient_error(img, source, region):
    """Mean |∇img − ∇source| over the seam edges (the guidance field is the source's gradient)."""
    ys, xs, ny, nx = _seam_edges(region)
    gi = img[0][:, ny, nx] - img[0][:, ys, xs]
    gs = source[0][:, ny, nx] - source[0][:, ys, xs]
    return (gi - gs).abs().mean().item()


def test_seam_gradient_error_drops_90_percent_and_interior_keeps_gradients():
    source, target, mask, texture = _scene()
    region = mask[0, 0].numpy() > 0.5
    naive = mask * source + (1 - mask) * target
    out = poisson_blend(source, target, mask)
    e_naive = _seam_gradient_error(naive, source, region)
    e_poisson = _seam_gradient_error(out, source, region)
    assert e_naive > 0.1
    assert e_poisson <= 0.1 * e_naive, (e_naive, e_poisson)
    # interior gradients: identical to the source's (up to solver precision)
    inner = out[..., 14:34, 12:40]
    src_inner = source[..., 14:34, 12:40]
    for dim in (-1, -2):
        gi, gs = torch.diff(inner, dim=dim), torch.diff(src_inner, dim=dim)
        assert (gi - gs).abs().max() < 1e-4 * gs.abs().max() + 1e-5
    # with a constant offset the exact answer is known: background + texture, offset removed
    torch.testing.assert_close(out, target + texture, atol=1e-5, rtol=0)
    # outside the region the target is untouched
    assert torch.equal(out[..., :12, :], target[..., :12, :])


def test_soft_mask_and_device_dtype_kept():
    source, target, mask, _ = _scene()
    source = target + 0.3
    soft = 0.8 * mask
    out = poisson_blend(source, target, soft)
    assert out.dtype == source.dtype and out.shape == source.shape
    # where alpha = 0.8 the result is 0.8·corrected + 0.2·target; corrected ≈ target (pure offset paste)
    torch.testing.assert_close(out, target, atol=1e-5, rtol=0)


def test_empty_and_full_regions():
    source, target, mask, _ = _scene()
    assert torch.equal(poisson_blend(source, target, torch.zeros_like(mask)), target)
    full = poisson_blend(source, target, torch.ones_like(mask))
    assert torch.equal(full, source)
    with pytest.raises(ValueError, match="mask must be"):
        poisson_blend(source, target, torch.ones(1, 48, 56))


def test_two_disconnected_regions_with_different_offsets():
    h = w = 32
    target = torch.zeros(1, 3, h, w)
    source = torch.zeros(1, 3, h, w)
    mask = torch.zeros(1, 1, h, w)
    mask[..., 4:12, 4:12] = 1
    mask[..., 20:28, 18:28] = 1
    # a full generated image whose colour is off by a different amount around each part
    source[..., :, :16] = 0.5
    source[..., :, 16:] = -0.25
    out = poisson_blend(source, target, mask)
    torch.testing.assert_close(out, target, atol=1e-6, rtol=0)


@pytest.mark.parametrize("shape", ["disc", "line", "pixel", "two"])
def test_nested_dissection_is_a_permutation(shape):
    from chunkygan.composite.poisson import nested_dissection

    n = 40
    yy, xx = np.mgrid[:n, :n]
    region = {"disc": (yy - 20) ** 2 + (xx - 17) ** 2 < 150, "line": (yy == 5) & (xx > 2),
              "pixel": (yy == 3) & (xx == 3), "two": ((yy < 10) & (xx < 10)) | ((yy > 30) & (xx > 25))}[shape]
    ys, xs = np.nonzero(region)
    perm = nested_dissection(ys, xs, leaf=4)
    assert np.array_equal(np.sort(perm), np.arange(ys.size))
