"""Pixel L1 / L2 (MSE): values against hand-computed numbers, batching, masks, working resolution."""
import pytest
import torch

from chunkygan.losses import LOSSES
from chunkygan.losses.pixel import PixelLoss, l1_loss, l2_loss


def test_values_by_hand():
    pred = torch.zeros(2, 3, 2, 2)
    target = torch.zeros(2, 3, 2, 2)
    target[0] = 0.5  # every difference 0.5
    target[1, :, 0, 0] = 2.0  # one pixel differs by 2
    assert torch.allclose(l1_loss(pred, target), torch.tensor([0.5, 0.5]))
    assert torch.allclose(l2_loss(pred, target), torch.tensor([0.25, 1.0]))
    assert torch.allclose(l2_loss(pred, target), ((pred - target) ** 2).flatten(1).mean(1))


def test_mask_ignores_outside_and_weights_inside():
    g = torch.Generator().manual_seed(0)
    pred, target = torch.rand(2, 3, 8, 8, generator=g), torch.rand(2, 3, 8, 8, generator=g)
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., :4, :] = 1
    base = l2_loss(pred, target, mask)
    pred2 = pred.clone()
    pred2[..., 4:, :] = 5.0
    assert torch.allclose(base, l2_loss(pred2, target, mask))
    assert torch.allclose(base, l2_loss(pred[..., :4, :], target[..., :4, :]))
    assert torch.equal(l1_loss(pred, target, torch.zeros(1, 1, 8, 8)), torch.zeros(2))


def test_registry_and_working_resolution():
    pred, target = torch.zeros(1, 3, 64, 64), torch.ones(1, 3, 64, 64)
    assert LOSSES.get("mse")()(pred, target).item() == pytest.approx(1.0)
    loss = LOSSES.get("l1")(working_resolution=16)
    assert isinstance(loss, PixelLoss) and loss(pred, target).item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="unknown pixel loss"):
        PixelLoss("l3")


def test_gradient_flows():
    pred = torch.zeros(1, 3, 4, 4, requires_grad=True)
    l1_loss(pred, torch.ones(1, 3, 4, 4)).sum().backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
