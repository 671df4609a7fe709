"""Seams at segment borders: the seam score sees a colour step along a mask border, soft masks and the
Poisson seam fix remove it, and nothing away from the borders changes."""
import pytest
import torch

from chunkygan.composite import blend
from chunkygan.composite.seams import (HARD_JUMP, LEVEL, SEAM_BAND, SHIFT_THRESHOLD, border_colour_shift, mask_jumps,
                                       seam_region, seam_score, seamless_composite, segment_borders)
from chunkygan.segments.masks import feather


def _photo(h=40, w=40):
    """A smooth colour ramp with some texture: ``[1,3,H,W]`` in [-1,1]."""
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    base = torch.stack([0.4 * xx, 0.3 * yy, 0.2 * xx * yy])
    return (base + 0.08 * torch.sin(5 * xx + 3 * yy) + 0.05 * torch.cos(7 * yy)).unsqueeze(0)


def _disc_masks(h=40, w=40, r=11.0):
    """Two hard segments: a disc (a 'nose') in a background. ``[2,1,H,W]``."""
    yy, xx = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
    inside = (((yy - h / 2) ** 2 + (xx - w / 2) ** 2) < r * r).float()
    return torch.stack([1 - inside, inside]).unsqueeze(1)


OFFSET = torch.tensor([0.25, -0.15, 0.1]).view(1, 3, 1, 1)  # ~20 8-bit levels per channel


def _shifted_renders(photo):
    """Segment 0 renders the photo, segment 1 the photo with a colour shift (a seam under hard masks)."""
    return torch.cat([photo, photo + OFFSET])


def test_segment_borders_are_the_label_changes():
    down, right = segment_borders(_disc_masks())
    assert down.any() and right.any()
    assert not down[:5].any() and not right[:, :5].any()  # the disc's border only, nothing near the image edge


def test_seam_score_is_high_for_a_colour_step_and_about_one_without():
    photo, masks = _photo(), _disc_masks()
    clean = seam_score(photo, photo, masks)
    assert clean.score == pytest.approx(1.0, abs=1e-3)
    seamed = blend(_shifted_renders(photo), masks)
    m = seam_score(seamed, photo, masks)
    assert m.score > 3, m
    assert m.border_edges > 40


def test_border_colour_shift_measures_the_step_between_neighbouring_renders():
    photo, masks = _photo(), _disc_masks()
    shift = border_colour_shift(_shifted_renders(photo), masks)
    assert shift[0, 1] == pytest.approx(float(OFFSET.abs().mean()), rel=1e-4)
    assert torch.isnan(shift[0, 0]) and shift[0, 1] == shift[1, 0]


def test_soft_masks_lower_the_seam_score():
    photo, masks = _photo(), _disc_masks()
    renders = _shifted_renders(photo)
    hard = seam_score(blend(renders, masks), photo, masks).score
    soft = seam_score(blend(renders, feather(masks, 1.5)), photo, masks).score
    assert soft < 0.6 * hard, (hard, soft)


def test_poisson_seam_fix_removes_the_step_and_keeps_far_pixels_bit_identical():
    photo, masks = _photo(), _disc_masks()
    renders = _shifted_renders(photo)
    plain = blend(renders, masks)
    fixed = seamless_composite(renders, masks)
    before, after = seam_score(plain, photo, masks).score, seam_score(fixed, photo, masks).score
    assert after < 0.2 * before and after < 2, (before, after)
    region = seam_region(renders, masks)
    changed = (fixed != plain).any(dim=1)[0]
    assert changed.any() and not (changed & ~region).any()  # only pixels within the band change
    down, right = segment_borders(masks)
    assert region.float().sum() < 0.5 * region.numel()
    # far from the border the composite is exactly Eq. 1
    assert torch.equal(fixed[..., ~region], plain[..., ~region])


def test_poisson_seam_fix_leaves_agreeing_renders_alone():
    photo, masks = _photo(), _disc_masks()
    renders = torch.cat([photo, photo + 2 * LEVEL])  # 2 levels apart: below the threshold
    assert SHIFT_THRESHOLD > 2 * LEVEL
    assert torch.equal(seamless_composite(renders, masks), blend(renders, masks))


def test_edit_mode_removes_the_seam_of_a_local_colour_change():
    """An edit that shifts one hard segment's colour: the change is pasted without its cut at the border, and
    pixels outside ``allowed`` (the edited segment) never change."""
    photo, masks = _photo(), _disc_masks()
    base = torch.cat([photo, photo + 0.05 * torch.cos(9 * photo)])  # two renders that agree inside their own segment
    edited = torch.cat([base[:1], base[1:] + OFFSET])  # a local edit of segment 1
    plain = blend(edited, masks)
    allowed = masks[1, 0] > 0
    fixed = seamless_composite(edited, masks, base_renders=base, allowed=allowed)
    reference = blend(base, masks)
    before, after = seam_score(plain, reference, masks).score, seam_score(fixed, reference, masks).score
    assert after < 0.5 * before, (before, after)
    assert torch.equal(fixed[..., ~allowed], plain[..., ~allowed])
    # deep inside the edited segment the edit is kept as it is
    inner = seam_region(edited - base, masks, band=SEAM_BAND + 1)
    assert torch.equal(fixed[..., ~inner], plain[..., ~inner])
    # no edit, no change: strength 0 reproduces the composite exactly
    assert torch.equal(seamless_composite(base, masks, base_renders=base), reference)


def test_soft_transitions_are_left_to_the_blend():
    """Feathered masks (σ = 1 px, the default for semantic masks) spread a shift out themselves: no Poisson."""
    photo, masks = _photo(), feather(_disc_masks(), 1.0)
    base = torch.cat([photo, photo])
    edited = torch.cat([photo, photo + OFFSET])
    assert float(mask_jumps(masks)[0].max()) < HARD_JUMP
    assert torch.equal(seamless_composite(edited, masks, base_renders=base), blend(edited, masks))
    assert seamless_composite(edited, masks, base_renders=base, hard=None).ne(blend(edited, masks)).any()


def test_edited_composite_fixes_hard_seams_and_keeps_everything_outside_the_edited_segment(tmp_path):
    """The default of :func:`~chunkygan.edit.apply.edited_composite`: a local edit of a projection with hard
    masks gets the Poisson fix inside the edited segment only."""
    from tiny_generators import tiny_sg2

    from chunkygan.edit.apply import edit_projection, edited_composite
    from chunkygan.edit.directions import Direction
    from chunkygan.latents import get_space
    from chunkygan.project.io import Projection

    G = tiny_sg2()
    R = G.resolution
    masks = torch.zeros(2, 1, R, R)
    masks[0, :, :, : R // 2] = 1
    masks[1] = 1 - masks[0]
    codes = get_space("w+").mean(G, 2) + 0.3 * torch.randn(2, G.num_ws, G.w_dim, generator=torch.Generator().manual_seed(0))
    proj = Projection(codes=codes, space="w+", masks=masks, generator=G.name)
    d = Direction("d", "w", torch.randn(G.w_dim, generator=torch.Generator().manual_seed(1)), G.name, scale=2.0)
    local = edit_projection(G, proj, [(d, 1.5)], segments=[1])
    plain, fixed = edited_composite(G, proj, local, seams=False), edited_composite(G, proj, local)
    before = proj.composite(G)
    outside = masks[1, 0] == 0
    assert torch.equal(fixed[0][:, outside], before[0][:, outside])
    changed = (fixed != plain).any(1)[0]
    assert changed.any() and changed[:, R // 2: R // 2 + SEAM_BAND + 1].all()  # the band inside the edited half
    assert not changed[:, R // 2 + SEAM_BAND + 1:].any()
    assert seam_score(fixed, before, masks).score < seam_score(plain, before, masks).score
    assert torch.equal(edited_composite(G, proj, edit_projection(G, proj, [(d, 0.0)], segments=[1])), before)


def test_band_is_a_few_pixels():
    assert 1 <= SEAM_BAND <= 4


@pytest.mark.parametrize("feather_arg, soft", [([], True), (["--feather", "0"], False)])
def test_project_softens_semantic_masks_by_default(tmp_path, feather_arg, soft):
    """`chunkygan project --masks LABELS.png` (hard semantic masks) feathers them by default; --feather 0 keeps them."""
    import numpy as np
    from click.testing import CliRunner
    from PIL import Image
    from tiny_generators import tiny_sg2

    from chunkygan.cli import main
    from chunkygan.generators.checkpoints import save_generator
    from chunkygan.project.io import Projection

    st, _ = save_generator(tiny_sg2(), tmp_path / "tiny.safetensors")
    labels = np.zeros((16, 16), np.uint8)
    labels[5:11, 5:11] = 1  # a square 'nose' in a background
    Image.fromarray(labels).save(tmp_path / "labels.png")
    Image.fromarray((np.random.default_rng(0).random((16, 16, 3)) * 255).astype(np.uint8)).save(tmp_path / "photo.png")
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["project", str(tmp_path / "photo.png"), "-o", str(out), "--generator", str(st),
                                  "--masks", str(tmp_path / "labels.png"), "--steps", "1", "--snapshots", "0",
                                  "--loss", "l2", *feather_arg])
    assert r.exit_code == 0, r.output
    masks = Projection.load(out).masks
    jump = max(float(j.max()) for j in mask_jumps(masks))
    if soft:
        assert jump < HARD_JUMP and 0.2 < float(masks[1, 0, 5, 8]) < 0.8  # soft at the border
        assert float(masks[1, 0, 8, 8]) > 0.95  # and still the segment inside
    else:
        assert jump == 1.0
