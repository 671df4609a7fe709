"""The fragmentation metric on synthetic masks, and the smoothness prior on free mask logits."""
import torch

from chunkygan.project.projector import ProjectionConfig, Projector
from chunkygan.segments.fragmentation import fragmentation, segment_stats
from chunkygan.segments.sources import LogitMasks

from tiny_generators import tiny_sg2


def _two(mask):
    return torch.stack([mask, 1 - mask])[:, None]


def test_one_disc_is_one_component_with_the_boundary_of_a_disc():
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    disc = (((yy - 32) ** 2 + (xx - 30) ** 2) < 18 ** 2).float()
    f = fragmentation(_two(disc))
    assert f["components_max"] == 1 and f["segments_used"] == 2
    assert 0.9 < f["per_segment"][0]["boundary_ratio"] < 1.1  # the disc itself
    # a half-plane: its only boundary is the straight middle line (image borders do not count)
    half = (xx < 32).float()
    assert segment_stats((1 - half).long().numpy(), 1) == {"area": 2048, "components": 1, "boundary": 64,
                                                          "boundary_ratio": round(64 / (8 * (2048 / 3.14159265) ** 0.5), 4)}


def test_salt_and_pepper_is_many_components():
    noise = (torch.rand(64, 64, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    f = fragmentation(_two(noise))
    assert f["components_mean"] > 100 and f["boundary_ratio_mean"] > 10
    empty = fragmentation(torch.stack([torch.ones(8, 8), torch.zeros(8, 8), torch.zeros(8, 8)])[:, None])
    assert empty["segments_used"] == 1 and empty["components_max"] == 1  # empty segments are not counted


def test_total_variation_is_the_relaxed_boundary_length():
    hard = torch.zeros(2, 1, 8, 8)
    hard[0, :, :, :4] = 1
    hard[1, :, :, 4:] = 1
    src = LogitMasks(50 * hard)  # practically hard softmax
    torch.testing.assert_close(src.total_variation(), torch.tensor(2 * 8 / 64.0), atol=1e-4, rtol=0)
    src.total_variation().backward()
    assert src.logits.grad is not None


def test_the_prior_lowers_fragmentation_on_a_tiny_generator():
    """Speckled starting logits: with the prior the free masks end in far fewer regions than without."""
    G = tiny_sg2()
    with torch.no_grad():
        target = G(torch.randn(1, 16, generator=torch.Generator().manual_seed(5)))
    start = 2.0 * torch.randn(4, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    ends = {}
    for lam in (0.0, 0.5):
        cfg = ProjectionConfig(method="chunky-w+", segments=4, steps=30, loss="l2", loss_resolution=None,
                               mask_smoothness=lam, mask_lr=0.1)
        p = Projector(G, target, cfg, masks=LogitMasks(start))
        proj = p.run()
        ends[lam] = (proj.metrics["fragmentation"], float(p.source.total_variation().detach()))
    assert fragmentation(LogitMasks(start)(16))["components_mean"] > 3  # the start is speckled
    assert ends[0.5][1] < 0.5 * ends[0.0][1]
    assert ends[0.5][0]["components_mean"] < ends[0.0][0]["components_mean"]
    assert ends[0.5][0]["boundary_ratio_mean"] < ends[0.0][0]["boundary_ratio_mean"]


def test_edge_weights_make_boundaries_along_image_edges_cheap():
    from chunkygan.segments.sources import edge_weights

    target = -torch.ones(1, 3, 8, 8)
    target[..., 4:] = 1  # a vertical image edge between columns 3 and 4
    hard = torch.zeros(2, 1, 8, 8)
    hard[0, :, :, :4] = 1
    hard[1, :, :, 4:] = 1
    along, across = LogitMasks(50 * hard), LogitMasks(50 * hard.transpose(-1, -2))
    w = edge_weights(target, 8, sigma=0.2)
    with torch.no_grad():
        assert float(along.total_variation(w)) < 1e-3 < float(across.total_variation(w))
    torch.testing.assert_close(along.total_variation(), across.total_variation())  # the same without weights
