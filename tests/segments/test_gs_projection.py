"""G^S as the projector's mask source: masks, gradients to X^S, joint optimisation, freezing, determinism,
editing that moves X^S, and `auto_mask_source` refusing a head for another generator."""
import pytest
import torch

from gs_tiny import colour_labeller, tiny_dcgan, tiny_sg2

from chunkygan.pipelines.auto import auto_projector, edit_with_segments
from chunkygan.segments.gs import SegmentGenerator, SegmentGeneratorMasks, auto_mask_source
from chunkygan.segments.head import HeadMismatchError, save_head
from chunkygan.segments.train import auto_label, train_segment_head


def _head_file(G, tmp_path, names=("r", "g", "b")):
    ts = auto_label(G, 8, seed=0, resolution=16, labeller=colour_labeller, names=names)
    head, meta = train_segment_head(G, training_set=ts, steps=60, min_share=0.0, hidden=16, hidden2=8)
    return save_head(head, tmp_path / f"{G.name}-head", meta)[0]


@pytest.fixture(scope="module")
def sg2_head(tmp_path_factory):
    G = tiny_sg2()
    return G, _head_file(G, tmp_path_factory.mktemp("head"))


def _target(G, seed=7):
    with torch.no_grad():
        return G(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(seed)))


def test_masks_are_soft_and_differentiable(sg2_head):
    G, path = sg2_head
    src = auto_mask_source(G, path)
    assert isinstance(src, SegmentGeneratorMasks) and src.num_segments == 3 and src.kind == "generator"
    assert tuple(src.latent.shape) == (1, G.num_ws, G.w_dim)  # X^S in W+, like the codes
    m = src(16)
    assert m.shape == (3, 1, 16, 16) and m.min() >= 0
    torch.testing.assert_close(m.sum(0), torch.ones(1, 16, 16))
    (m[0] * torch.linspace(0, 1, 16)).sum().backward()
    assert src.latent.grad is not None and float(src.latent.grad.abs().sum()) > 0
    assert all(p.grad is None for p in src.segment_generator.parameters())  # G and head stay frozen
    # masks follow the latent: another latent gives other masks
    sg = src.segment_generator
    other = G.mapping(torch.randn(1, 16, generator=torch.Generator().manual_seed(3)))
    assert not torch.allclose(sg.masks(other), sg.masks(sg.initial_latent()))


def test_joint_projection_moves_codes_and_xs_and_is_deterministic(sg2_head):
    G, path = sg2_head
    kw = dict(steps=4, loss="l2", loss_resolution=None, l2_weight=0.0, mask_lr=0.05)
    p = auto_projector(G, _target(G), head_path=path, **kw)
    assert p.num_segments == 3 and p.config.method == "chunky-w+"
    x0, c0 = p.source.latent.detach().clone(), p.codes.detach().clone()
    torch.testing.assert_close(x0, c0[:1])  # X^S starts at the codes' latent (the mean)
    res = p.run()
    assert not torch.equal(p.source.latent.detach(), x0) and not torch.equal(p.codes.detach(), c0)
    assert res.mask_source == "generator" and torch.equal(res.mask_params["latent"], p.source.latent.detach())
    q = auto_projector(G, _target(G), head_path=path, **kw)
    res2 = q.run()
    assert torch.equal(res.codes, res2.codes) and torch.equal(res.mask_params["latent"], res2.mask_params["latent"])

    frozen_codes = auto_projector(G, _target(G), head_path=path, freeze_codes=True, **kw)
    c1 = frozen_codes.codes.detach().clone()
    x1 = frozen_codes.source.latent.detach().clone()
    frozen_codes.run()
    assert torch.equal(frozen_codes.codes.detach(), c1) and not torch.equal(frozen_codes.source.latent.detach(), x1)

    frozen_xs = auto_projector(G, _target(G), head_path=path, freeze_segments=True, **kw)
    x2 = frozen_xs.source.latent.detach().clone()
    frozen_xs.run()
    assert torch.equal(frozen_xs.source.latent.detach(), x2)
    with pytest.raises(ValueError, match="nothing to optimise"):
        auto_projector(G, _target(G), head_path=path, freeze_codes=True, freeze_segments=True, **kw)


def test_z_space_generator_starts_xs_from_the_searched_code(tmp_path):
    D = tiny_dcgan()
    path = _head_file(D, tmp_path)
    p = auto_projector(D, _target(D), head_path=path, steps=2, loss="l2", loss_resolution=None, init_samples=4)
    assert p.config.method == "chunky-z"
    torch.testing.assert_close(p.source.latent.detach(), p.codes[:1].detach())
    assert float(p.source.latent.detach().abs().sum()) > 0  # not the dead point z = 0
    p.run()


def test_edit_moves_segment_latent(sg2_head):
    from chunkygan.edit.directions import Direction, Edit

    G, path = sg2_head
    p = auto_projector(G, _target(G), head_path=path, steps=2, loss="l2", loss_resolution=None)
    proj = p.run()
    vec = torch.randn(G.w_dim, generator=torch.Generator().manual_seed(4))
    d = Direction("test", "w", vec, generator=G.name)
    edited = edit_with_segments(G, proj, [Edit(d, 3.0)], p.source)
    moved = edited.mask_params["latent"]
    torch.testing.assert_close(moved - proj.mask_params["latent"], 3.0 * vec.expand_as(moved))
    torch.testing.assert_close(edited.codes - proj.codes, 3.0 * vec.expand_as(proj.codes))
    assert not torch.allclose(edited.masks, proj.masks)
    torch.testing.assert_close(p.source.latent.detach(), proj.mask_params["latent"])  # the source is restored


def test_head_for_another_generator_is_refused(sg2_head):
    _, path = sg2_head
    with pytest.raises(HeadMismatchError, match="segments train"):
        auto_mask_source(tiny_sg2(seed=9), path)


def test_missing_default_head_without_training(monkeypatch, tmp_path):
    monkeypatch.setenv("CHUNKYGAN_CACHE", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="segments train"):
        auto_mask_source(tiny_sg2(), None, train_if_missing=False)


def test_progression_frames_at_fig3_steps(sg2_head):
    from chunkygan.pipelines.auto import run_with_progression
    from chunkygan.segments.gs import progression_strip

    G, path = sg2_head
    p = auto_projector(G, _target(G), head_path=path, steps=10, loss="l2", loss_resolution=None)
    proj, frames = run_with_progression(p)
    assert [f[0] for f in frames] == [1, 5, 9, 10]
    torch.testing.assert_close(frames[-1][2], proj.masks.cpu())
    assert not torch.equal(frames[0][2], frames[-1][2])  # the segments move during the joint optimisation
    strip = progression_strip(frames, p.target, min_size=32)
    assert strip.shape[:2] == (1, 3) and strip.shape[-1] > strip.shape[-2] > 64  # 2 rows, 5 columns of 32 px


def test_saved_projection_rebuilds_its_segment_source(sg2_head, tmp_path):
    from chunkygan.edit.directions import Direction, Edit
    from chunkygan.project.io import Projection
    from chunkygan.segments.gs import mask_source_for

    G, path = sg2_head
    p = auto_projector(G, _target(G), head_path=path, steps=3, loss="l2", loss_resolution=None)
    p.run().save(tmp_path / "proj.safetensors")
    proj = Projection.load(tmp_path / "proj.safetensors")
    src = mask_source_for(G, proj)  # the head path recorded in the projection's config
    torch.testing.assert_close(src(16), proj.masks)
    d = Direction("test", "w", torch.ones(G.w_dim), generator=G.name)
    edited = edit_with_segments(G, proj, [Edit(d, 1.0)])
    assert not torch.allclose(edited.masks, proj.masks)
    proj.mask_source = "logits"
    with pytest.raises(ValueError, match="--auto"):
        mask_source_for(G, proj)
