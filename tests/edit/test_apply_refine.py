import pytest
import torch

from chunkygan.edit.apply import edit_projection, edited_composite, space_of_code
from chunkygan.edit.directions import Direction, DirectionError
from chunkygan.edit.refine import fill_hole, fit_in_mask
from chunkygan.latents import get_space
from chunkygan.project.io import Projection


def _column_masks(R=16):
    """Three vertical bands with 2-pixel linear ramps between them; exact zeros away from each band."""
    x = torch.arange(R).float()
    a = (1 - ((x - 4) / 2).clamp(0, 1))  # band 0: columns < 4, ramp to 6
    c = ((x - 10) / 2).clamp(0, 1)  # band 2: from column 10 (ramp 10-12)
    b = 1 - a - c
    m = torch.stack([a, b, c]).view(3, 1, 1, R).expand(3, 1, R, R).contiguous()
    return m


def _projection(G, space="w+", seed=0):
    g = torch.Generator().manual_seed(seed)
    sp = get_space(space)
    codes = sp.mean(G, 3) + 0.3 * torch.randn(sp.mean(G, 3).shape, generator=g)
    return Projection(codes=codes, space=space, masks=_column_masks(G.resolution), generator=G.name)


@pytest.mark.parametrize("space", ["w+", "w", "s"])
def test_local_edit_keeps_pixels_outside_edited_masks(sg2, space):
    proj = _projection(sg2, space)
    d = Direction("d", "w", torch.randn(16, generator=torch.Generator().manual_seed(1)), sg2.name, scale=2.0)
    before = proj.composite(sg2)
    same = edit_projection(sg2, proj, [(d, 0.0)])
    assert torch.equal(same.composite(sg2), before)  # strength 0 reproduces the projection exactly
    local = edit_projection(sg2, proj, [(d, 1.5)], segments=[2])
    after = local.composite(sg2)  # a fresh batched render of all K codes
    outside = proj.masks[2, 0] == 0
    diff = (after - before).abs()[0].amax(0)
    assert diff[outside].max() <= 1 / 255
    exact = edited_composite(sg2, proj, local)  # re-renders only the edited code
    assert torch.equal(exact[0][:, outside], before[0][:, outside])
    torch.testing.assert_close(exact, after)
    assert diff[~outside].max() > 0.01  # and the edit did something inside
    assert torch.equal(proj.codes, _projection(sg2, space).codes)  # input untouched
    glob = edit_projection(sg2, proj, [(d, 1.5)])
    assert (glob.composite(sg2) - before).abs()[0].amax(0)[outside].max() > 0.01


def test_z_projection_edit_on_dcgan(dcgan):
    proj = _projection(dcgan, "z")
    d = Direction("d", "z", torch.ones(8) / 8 ** 0.5, dcgan.name)
    out = edit_projection(dcgan, proj, [(d, 2.0)], segments=[0, 1])
    assert torch.equal(out.codes[2], proj.codes[2])
    torch.testing.assert_close(out.codes[0], proj.codes[0] + 2 * d.vector)


class LinearSegmentGenerator(torch.nn.Module):
    """A stand-in G^S: K mask logits linear in a W+ segment latent."""

    num_segments = 3

    def __init__(self, num_ws, w_dim, R=8):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.A = torch.randn(3 * R * R, num_ws * w_dim, generator=g) * 0.3
        self.R = R
        self.init = torch.zeros(1, num_ws, w_dim)

    def initial_latent(self):
        return self.init.clone()

    def forward(self, latent):
        return (self.A @ latent.reshape(-1)).view(1, 3, self.R, self.R)


def test_segment_latent_follows_the_edit(sg2):
    from chunkygan.segments.sources import GeneratorMasks

    src = GeneratorMasks(LinearSegmentGenerator(sg2.num_ws, sg2.w_dim))
    with torch.no_grad():
        masks = src(16)
    proj = Projection(codes=get_space("w+").mean(sg2, 3), space="w+", masks=masks, generator=sg2.name,
                      mask_source="generator", mask_params=src.state())
    d = Direction("yaw", "w", torch.ones(16), sg2.name)
    out = edit_projection(sg2, proj, [(d, 1.0)], mask_source=src, move_mask_latent=True)
    moved = src.latent.detach() + 1.0
    torch.testing.assert_close(out.mask_params["latent"], moved)
    expect = torch.softmax(torch.nn.functional.interpolate(
        src.segment_generator(moved).permute(1, 0, 2, 3), size=(16, 16), mode="bilinear", align_corners=False), 0)
    torch.testing.assert_close(out.masks, expect)
    assert not torch.allclose(out.masks, proj.masks)
    assert torch.equal(src.latent.detach(), torch.zeros_like(moved))  # the source itself is restored
    with pytest.raises(DirectionError, match="segment generator"):
        edit_projection(sg2, proj, [(d, 1.0)], move_mask_latent=True)


def test_space_of_code(sg2, dcgan):
    assert space_of_code(sg2, torch.zeros(1, sg2.num_ws, 16)) == "w+"
    assert space_of_code(sg2, torch.zeros(1, 16)) == "w"
    assert space_of_code(sg2, torch.zeros(1, sum(sg2.style_dims()))) == "s"
    assert space_of_code(dcgan, torch.zeros(1, 8)) == "z"


def test_fit_in_mask_projects_a_region(sg2):
    sp = get_space("w+")
    g = torch.Generator().manual_seed(3)
    true = sp.mean(sg2) + 0.5 * torch.randn(1, sg2.num_ws, 16, generator=g)
    target = sp.render(sg2, true).detach()
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 4:12, 4:12] = 1
    res = fit_in_mask(sg2, "w+", sp.mean(sg2), target, mask, steps=30, lr=0.05)
    assert res.losses[-1] < 0.5 * res.losses[0]
    named = fit_in_mask(sg2, "w+", sp.mean(sg2), target, mask, steps=3, loss="lpips-alex")
    assert named.losses[-1] < named.losses[0]
    with pytest.raises(ValueError, match="empty"):
        fit_in_mask(sg2, "w+", sp.mean(sg2), target, torch.zeros(1, 1, 16, 16))
    with pytest.raises(ValueError, match="generator resolution"):
        fit_in_mask(sg2, "w+", sp.mean(sg2), target[..., :8, :8], mask)


def test_fill_hole_lowers_loss_inside_s2_and_keeps_the_rest(sg2):
    """Fig. 10: X₁ is refined inside a correction mask with two connected parts."""
    sp = get_space("w+")
    g = torch.Generator().manual_seed(4)
    x1 = sp.mean(sg2) + 0.4 * torch.randn(1, sg2.num_ws, 16, generator=g)
    other = sp.mean(sg2) + 0.4 * torch.randn(1, sg2.num_ws, 16, generator=g)
    composite = sp.render(sg2, other).detach()  # the current composite differs from G(X₁)
    s2 = torch.zeros(1, 1, 16, 16)
    s2[..., 2:6, 2:7] = 1
    s2[..., 9:14, 10:15] = 1
    s2[..., 9:14, 9] = 0.5  # a soft edge
    seen = []
    res = fill_hole(sg2, "w+", x1, composite, s2, steps=40, lr=0.05, callback=lambda i, v: seen.append(v))
    assert len(seen) == 40
    assert res.loss_after < 0.5 * res.loss_before
    outside = s2[0, 0] == 0
    assert torch.equal(res.composite[0][:, outside], composite[0][:, outside])
    inside = s2[0, 0] == 1
    torch.testing.assert_close(res.composite[0][:, inside], res.render[0][:, inside])
    assert not torch.equal(res.code, x1)


def test_a_w_projection_takes_layer_range_edits_as_w_plus(sg2):
    """A W projection edited on a layer range becomes W+ (each layer its W code first); full-range edits stay W."""
    g = torch.Generator().manual_seed(5)
    codes = get_space("w").mean(sg2, 2) + 0.3 * torch.randn(2, 16, generator=g)
    masks = torch.softmax(torch.randn(2, 1, 16, 16, generator=g), 0)
    proj = Projection(codes=codes, space="w", masks=masks, generator=sg2.name)
    d = Direction("pose", "w", torch.randn(16, generator=g), sg2.name, layers=(0, 2))
    zero = edit_projection(sg2, proj, [(d, 0.0)])
    assert zero.space == "w" and torch.equal(zero.codes, proj.codes)
    out = edit_projection(sg2, proj, [(d, 1.5)])
    assert out.space == "w+" and out.codes.shape == (2, sg2.num_ws, 16)
    torch.testing.assert_close(out.codes[:, 2:], codes.unsqueeze(1).expand(-1, sg2.num_ws - 2, -1))  # untouched layers
    assert not torch.allclose(out.codes[:, :2], codes.unsqueeze(1).expand(-1, 2, -1))
    same = edit_projection(sg2, proj, [(d, 1e-9)])  # the promotion itself changes no pixel
    torch.testing.assert_close(same.composite(sg2), proj.composite(sg2), atol=1e-5, rtol=0)
    full = edit_projection(sg2, proj, [(d.with_layers(None), 1.0)])
    assert full.space == "w"
