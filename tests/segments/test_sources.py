"""Mask sources: soft masks summing to one, sensible initial regions, gradients, state round trips."""
import pytest
import torch

from chunkygan.segments.masks import SegmentMasks
from chunkygan.segments.sources import (FixedMasks, GeneratorMasks, LogitMasks, default_mask_resolution,
                                        make_mask_source)


def _sums_to_one(m):
    return torch.allclose(m.sum(0), torch.ones_like(m[0]), atol=1e-5)


def test_full_mask_is_one_segment_of_ones():
    src = FixedMasks.full(8)
    m = src(16)
    assert m.shape == (1, 1, 16, 16) and torch.equal(m, torch.ones(1, 1, 16, 16))
    assert not src.trainable and src.kind == "full"


def test_fixed_masks_are_resized_and_feathered():
    m = SegmentMasks.grid(2, 8)
    src = FixedMasks(m, feather_sigma=1.0)
    out = src(16)
    assert out.shape == (4, 1, 16, 16) and _sums_to_one(out)
    assert 0.2 < out[0, 0, 2, 7] < 0.8  # soft at the border after feathering
    assert not src.trainable


def test_grid_logits_start_as_the_grid_and_stay_soft():
    src = LogitMasks.grid(4, 8)
    m = src(32)
    assert m.shape == (4, 1, 32, 32) and _sums_to_one(m)
    assert torch.equal(SegmentMasks(m).labels(), SegmentMasks.grid(2, 32).labels())
    assert 0.5 < float(m.detach().max()) < 0.99  # regions, but not hard: every segment can still grow
    six = LogitMasks.grid(6, 12)(12)  # 2 rows x 3 columns
    assert SegmentMasks(six).labels()[0, -1] == 2 and SegmentMasks(six).labels()[-1, 0] == 3


def test_kmeans_separates_colours_and_is_seeded():
    target = -torch.ones(1, 3, 16, 16)
    target[..., 8:, :] = 1  # white bottom half, black top half
    src = LogitMasks.kmeans(target, 2, 8, position_weight=0.1, seed=0)
    lab = SegmentMasks(src(16)).labels()
    assert lab[0, 0] != lab[15, 0]
    assert (lab[:6] == lab[0, 0]).all() and (lab[10:] == lab[15, 0]).all()
    again = LogitMasks.kmeans(target, 2, 8, position_weight=0.1, seed=0)
    assert torch.equal(src.logits, again.logits)


def test_logit_gradients_flow_and_state_round_trips():
    src = LogitMasks.grid(3, 4)
    (src(8)[0] * torch.arange(64.0).view(1, 8, 8)).sum().backward()
    assert src.logits.grad is not None and src.logits.grad.abs().sum() > 0
    other = LogitMasks.grid(3, 4)
    with torch.no_grad():
        src.logits.add_(1.0 * torch.randn(3, 1, 4, 4, generator=torch.Generator().manual_seed(0)))
    other.load_state(src.state())
    assert torch.equal(other(8), src(8))
    with pytest.raises(ValueError, match="expected"):
        LogitMasks.grid(2, 4).load_state(src.state())


class _LinearSegGen(torch.nn.Module):
    num_segments = 3

    def __init__(self):
        super().__init__()
        self.A = torch.nn.Parameter(torch.randn(3 * 4 * 4, 5, generator=torch.Generator().manual_seed(0)))

    def initial_latent(self):
        return torch.zeros(1, 5)

    def forward(self, latent):
        return (self.A @ latent.reshape(-1)).view(1, 3, 4, 4)


def test_segment_generator_source_optimises_only_its_latent():
    gen = _LinearSegGen()
    src = GeneratorMasks(gen)
    with torch.no_grad():
        src.latent.fill_(0.3)
    m = src(8)
    assert m.shape == (3, 1, 8, 8) and _sums_to_one(m)
    m[0].sum().backward()
    assert src.latent.grad.abs().sum() > 0 and gen.A.grad is None
    assert [n for n, p in src.named_parameters() if p.requires_grad] == ["latent"]
    copy = GeneratorMasks(_LinearSegGen())
    copy.load_state(src.state())
    assert torch.equal(copy(8), src(8).detach())
    with pytest.raises(TypeError, match="initial_latent"):
        GeneratorMasks(object())


def test_make_mask_source_by_name_and_errors():
    t = torch.zeros(1, 3, 32, 32)
    assert isinstance(make_mask_source("kmeans", 4, 32, target=t), LogitMasks)
    assert make_mask_source("kmeans", 4, 32, target=t).resolution == (default_mask_resolution(32),) * 2
    assert make_mask_source("grid", 4, 32, resolution=4).resolution == (4, 4)
    assert make_mask_source("full", 1, 32).kind == "full"
    assert isinstance(make_mask_source("fixed", 0, 32, masks=SegmentMasks.grid(2, 8)), FixedMasks)
    refine = make_mask_source("refine", 0, 32, masks=SegmentMasks.grid(2, 8), resolution=8)
    assert isinstance(refine, LogitMasks) and refine.trainable
    with pytest.raises(ValueError, match="needs masks"):
        make_mask_source("fixed", 2, 32)
    with pytest.raises(ValueError, match="target"):
        make_mask_source("kmeans", 2, 32)
    with pytest.raises(KeyError, match="known: full, grid, kmeans"):
        make_mask_source("blobs", 2, 32)
