"""Head training (learns a labelling, deterministic), file round trip, and refusal for another generator."""
import json

import pytest
import torch

from gs_tiny import colour_labeller, tiny_dcgan, tiny_sg2

from chunkygan.segments.head import HeadMismatchError, load_head, save_head
from chunkygan.segments.train import auto_label, evaluate_head, train_segment_head


@pytest.fixture(scope="module")
def trained():
    G = tiny_sg2()
    ts = auto_label(G, 12, seed=0, resolution=16, labeller=colour_labeller, names=("r", "g", "b"))
    head, meta = train_segment_head(G, training_set=ts, steps=150, min_share=0.0, hidden=16, hidden2=8)
    return G, ts, head, meta


def test_head_learns_labelling_better_than_chance(trained):
    G, _, head, meta = trained
    test = auto_label(G, 8, seed=1000, resolution=16, labeller=colour_labeller, names=("r", "g", "b"))
    res = evaluate_head(G, head, meta, test)
    majority = float(test.labels.mean(dim=(0, 2, 3)).max())
    assert res["pixel_accuracy"] > max(0.6, majority + 0.1), res
    assert res["mean_iou"] > 0.4, res


def test_training_is_deterministic(trained):
    G, ts, head, _ = trained
    head2, _ = train_segment_head(G, training_set=ts, steps=150, min_share=0.0, hidden=16, hidden2=8)
    for (k, a), (_, b) in zip(head.state_dict().items(), head2.state_dict().items()):
        assert torch.equal(a, b), k
    head3, _ = train_segment_head(G, training_set=ts, steps=150, min_share=0.0, hidden=16, hidden2=8, seed=1)
    assert not torch.equal(head.third.weight, head3.third.weight)


def test_round_trip_and_refusal(trained, tmp_path):
    G, ts, head, meta = trained
    p, js = save_head(head, tmp_path / "head", meta)
    info = json.loads(js.read_text())
    assert info["generator"] == "tiny-sg2" and info["names"] == ["r", "g", "b"] and len(info["fingerprint"]) == 16
    loaded, _ = load_head(p, G)
    feats = [torch.randn(1, c, 4 * 2 ** i, 4 * 2 ** i) for i, c in enumerate(head.config["block_channels"])]
    torch.testing.assert_close(loaded(feats), head(feats))
    with pytest.raises(HeadMismatchError, match="not for 'tiny-sg2'|segments train"):
        load_head(p, tiny_sg2(seed=5))  # same architecture, other weights
    with pytest.raises(HeadMismatchError, match="tiny-dcgan"):
        load_head(p, tiny_dcgan())


def test_labeller_failures_are_skipped():
    G = tiny_dcgan()
    calls = []

    def flaky(image, size):
        calls.append(1)
        return None if len(calls) % 2 else colour_labeller(image, size)

    ts = auto_label(G, 3, seed=0, resolution=16, labeller=flaky, names=("r", "g", "b"))
    assert ts.seeds == [1, 3, 5] and ts.labels.shape == (3, 3, 16, 16)
    with pytest.raises(RuntimeError, match="label them by hand"):
        auto_label(G, 2, seed=0, resolution=16, labeller=lambda im, s: None, max_tries=4)
