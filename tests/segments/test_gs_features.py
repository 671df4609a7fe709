"""Features of G for the segment head: the right layers, hooks removed, and the factorised head is exactly
DatasetGAN's MLP on the stacked upsampled features."""
import torch
import torch.nn.functional as F

from gs_tiny import tiny_dcgan, tiny_sg2

from chunkygan.segments.features import block_features, feature_modules, select_layers, stack_features
from chunkygan.segments.head import SegmentHead


def test_layer_names_and_shapes():
    G = tiny_sg2()
    names = [n for n, _ in feature_modules(G)]
    assert names == ["synthesis.b4", "synthesis.b8", "synthesis.b16"]
    ws = G.mapping(torch.randn(2, 16, generator=torch.Generator().manual_seed(0)))
    feats, img = block_features(G, ws, "w+", with_image=True)
    assert [tuple(f.shape[-2:]) for f in feats] == [(4, 4), (8, 8), (16, 16)]
    assert all(f.shape[0] == 2 for f in feats)
    torch.testing.assert_close(img, G.synthesis(ws))  # the hooks do not change the render

    D = tiny_dcgan()
    feats = block_features(D, torch.randn(3, 8, generator=torch.Generator().manual_seed(1)), "z")
    # post-ReLU activations of the hidden blocks (16 px, ngf 4: 8 channels at 4 px, 4 channels at 8 px)
    assert [tuple(f.shape[1:]) for f in feats] == [(8, 4, 4), (4, 8, 8)]
    assert all(float(f.min()) >= 0 for f in feats)  # after ReLU
    # no hook is left behind
    assert all(len(m._forward_hooks) == 0 for _, m in feature_modules(D) + feature_modules(G))


def test_layer_selection():
    G = tiny_sg2()
    assert select_layers(G) == [0, 1, 2]
    assert select_layers(G, "fine:2") == [1, 2]
    assert select_layers(G, [-1]) == [2]


def test_factorised_head_equals_mlp_on_stacked_features():
    """head(per-block features) == MLP(stack of bilinearly upsampled features): the memory-aware path is exact."""
    G = tiny_sg2()
    ws = G.mapping(torch.randn(2, 16, generator=torch.Generator().manual_seed(2)))
    feats = block_features(G, ws, "w+")
    torch.manual_seed(0)
    head = SegmentHead([f.shape[1] for f in feats], 4, 16, hidden=8, hidden2=6, members=2)
    head.set_normalisation(feats)
    stack = stack_features(feats, 16)  # [2, ΣC, 16, 16]
    mean = torch.cat([getattr(head, f"mean{i}") for i in range(3)]).view(1, -1, 1, 1)
    std = torch.cat([getattr(head, f"std{i}") for i in range(3)]).view(1, -1, 1, 1)
    w1 = torch.cat([c.weight for c in head.first], dim=1)  # [M*h, ΣC, 1, 1]
    h = F.relu(F.conv2d((stack - mean) / std, w1, head.bias))
    h = F.relu(head.second(h))
    ref = head.third(h).view(2, 2, 4, 16, 16).mean(1)
    torch.testing.assert_close(head(feats), ref, rtol=1e-4, atol=1e-5)


def test_factorised_head_below_output_resolution():
    """Working resolution 8 on a 16 px generator: finer blocks are area-averaged, still equal to the stacked MLP."""
    G = tiny_sg2()
    ws = G.mapping(torch.randn(1, 16, generator=torch.Generator().manual_seed(3)))
    feats = block_features(G, ws, "w+")
    torch.manual_seed(1)
    head = SegmentHead([f.shape[1] for f in feats], 3, 8, hidden=8, hidden2=4)
    stack = stack_features(feats, 8)
    assert stack.shape[-1] == 8
    mean = torch.cat([getattr(head, f"mean{i}") for i in range(3)]).view(1, -1, 1, 1)
    w1 = torch.cat([c.weight for c in head.first], dim=1)
    ref = head.third(F.relu(head.second(F.relu(F.conv2d(stack - mean, w1, head.bias)))))
    torch.testing.assert_close(head(feats), ref, rtol=1e-4, atol=1e-5)
