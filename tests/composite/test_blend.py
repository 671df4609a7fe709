import pytest
import torch

from chunkygan.composite import alpha_over, blend, feather, static_composite


def _masks(k=3, h=8, w=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    m = torch.rand(k, 1, h, w, generator=g)
    return m / m.sum(0, keepdim=True)


def test_blend_is_eq1_weighted_sum():
    g = torch.Generator().manual_seed(1)
    imgs = torch.rand(3, 3, 8, 10, generator=g) * 2 - 1
    m = _masks()
    out = blend(imgs, m)
    assert out.shape == (1, 3, 8, 10)
    manual = imgs[0] * m[0] + imgs[1] * m[1] + imgs[2] * m[2]
    torch.testing.assert_close(out[0], manual)
    # one-hot masks select the images pixelwise
    hard = torch.zeros_like(m)
    hard[0, :, :, :5] = 1
    hard[2, :, :, 5:] = 1
    out = blend(imgs, hard)
    assert torch.equal(out[0, :, :, :5], imgs[0, :, :, :5])
    assert torch.equal(out[0, :, :, 5:], imgs[2, :, :, 5:])


def test_blend_rejects_mismatch():
    with pytest.raises(ValueError, match="one mask per code"):
        blend(torch.zeros(2, 3, 4, 4), torch.zeros(3, 1, 4, 4))
    with pytest.raises(ValueError, match="resize"):
        blend(torch.zeros(2, 3, 4, 4), torch.zeros(2, 1, 8, 8))


def test_static_composite_eq3():
    g = torch.Generator().manual_seed(2)
    base = torch.rand(1, 3, 8, 10, generator=g)
    imgs = torch.rand(3, 3, 8, 10, generator=g)
    m = _masks()
    sx = torch.zeros(1, 1, 8, 10)
    sx[..., :4] = 1
    out = static_composite(base, sx, imgs, m)
    assert torch.equal(out[..., :4], base[..., :4])  # static region untouched
    torch.testing.assert_close(out[..., 4:], blend(imgs, m)[..., 4:])
    soft = torch.full((1, 1, 8, 10), 0.25)
    torch.testing.assert_close(static_composite(base, soft, imgs, m), 0.25 * base + 0.75 * blend(imgs, m))
    torch.testing.assert_close(alpha_over(imgs[:1], base, soft), 0.25 * imgs[:1] + 0.75 * base)


def test_feather_keeps_partition_and_softens_edge():
    m = torch.zeros(2, 1, 16, 16)
    m[0, :, :, :8] = 1
    m[1] = 1 - m[0]
    f = feather(m, 4)
    torch.testing.assert_close(f.sum(0), torch.ones(1, 16, 16))
    assert 0.3 < f[0, 0, 5, 7] < 0.7 and 0.3 < f[0, 0, 5, 8] < 0.7  # the edge is now soft
    assert f[0, 0, 5, 0] > 0.99 and f[0, 0, 5, 15] < 0.01  # far from the edge nothing changes
    # monotone across the edge
    row = f[0, 0, 5]
    assert torch.all(row[1:] <= row[:-1] + 1e-6)
    assert torch.equal(feather(m, 0), m)
    with pytest.raises(ValueError):
        feather(m, -1)


def test_feather_single_mask_not_renormalised():
    m = torch.zeros(1, 1, 12, 12)
    m[..., 4:8, 4:8] = 1
    f = feather(m, 3)
    assert f.max() < 1 and f.min() >= 0 and f[0, 0, 0, 0] < 1e-3
    assert abs(f.sum().item() - m.sum().item()) < 0.5  # blur keeps the mass (replicate edges far away)
