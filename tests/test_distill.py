import json

import pytest
import torch

from chunkygan.distill import DistillConfig, Distiller, batch_z, lr_at, run

TINY = dict(channel_base=512, channel_max=32, w_dim=32, mapping_layers=2, batch=4, lr=3e-3, ckpt_every=10)


def _fixed_loss(d: Distiller) -> float:
    with torch.no_grad():
        return float(d.losses(batch_z(99, 0, 8))["loss"])


def test_fifty_steps_decrease_the_loss(tmp_path):
    cfg = DistillConfig(steps=50, **TINY)
    d = Distiller(cfg)
    before = _fixed_loss(d)
    run(cfg, tmp_path, distiller=d)
    after = _fixed_loss(d)
    assert d.step_count == 50
    assert after < 0.9 * before, (before, after)
    log = [json.loads(l) for l in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert len(log) == 50 and all(r["loss"] > 0 for r in log)


def _tiny_teacher():
    from chunkygan.generators.dcgan import DCGANGenerator

    torch.manual_seed(5)
    return DCGANGenerator(z_dim=100, ngf=4).eval()


class Interrupt(Exception):
    pass


def test_resume_continues_exactly(tmp_path):
    cfg = DistillConfig(steps=20, **TINY)
    straight = run(cfg, tmp_path / "a", distiller=Distiller(cfg, teacher=_tiny_teacher()))

    def stop_at_13(row):
        if row["step"] == 13:
            raise Interrupt  # killed after the checkpoint of step 10

    with pytest.raises(Interrupt):
        run(cfg, tmp_path / "b", callback=stop_at_13, distiller=Distiller(cfg, teacher=_tiny_teacher()))
    resumed = run(cfg, tmp_path / "b", distiller=Distiller(cfg, teacher=_tiny_teacher()))
    assert resumed.step_count == 20
    for (k, a), b in zip(straight.student.state_dict().items(), resumed.student.state_dict().values()):
        assert torch.equal(a, b), k
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in straight.history]


def test_resume_refuses_other_configuration(tmp_path):
    cfg = DistillConfig(steps=10, **TINY)
    run(cfg, tmp_path, distiller=Distiller(cfg, teacher=_tiny_teacher()))
    other = DistillConfig(steps=20, **{**TINY, "w_dim": 16})
    with pytest.raises(ValueError, match="different configuration"):
        run(other, tmp_path, distiller=Distiller(other, teacher=_tiny_teacher()))


def test_lr_schedule_and_batches_deterministic():
    cfg = DistillConfig(steps=100, lr=1.0, lr_final_frac=0.1, decay_frac=0.5)
    assert lr_at(cfg, 0) == 1.0 and lr_at(cfg, 49) == 1.0
    assert abs(lr_at(cfg, 100) - 0.1) < 1e-9 and lr_at(cfg, 75) < 1.0
    assert torch.equal(batch_z(0, 5, 3), batch_z(0, 5, 3))
    assert not torch.equal(batch_z(0, 5, 3), batch_z(0, 6, 3))


def test_feature_hints_match_teacher_activations_and_resume_exactly(tmp_path):
    """w_feat > 0 adds the FitNets-style term on the resolutions teacher and student share."""
    cfg = DistillConfig(steps=12, w_feat=5.0, **TINY)
    d = Distiller(cfg, teacher=_tiny_teacher())
    assert d.hints.resolutions == [4, 8, 16, 32]  # the tiny DCGAN's ReLU outputs; 64 px is its tanh output
    out = d.losses(batch_z(0, 0, 2))
    assert float(out["feat"].detach()) > 0
    (out["feat"]).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in d.hints.parameters())
    assert d.student.mapping.fc0.weight.grad.abs().sum() > 0  # the hint reaches the mapping network

    straight = run(cfg, tmp_path / "a", distiller=Distiller(cfg, teacher=_tiny_teacher()))

    def stop_at_7(row):
        if row["step"] == 7:
            raise Interrupt

    with pytest.raises(Interrupt):
        run(cfg, tmp_path / "b", callback=stop_at_7, distiller=Distiller(cfg, teacher=_tiny_teacher()))
    resumed = run(cfg, tmp_path / "b", distiller=Distiller(cfg, teacher=_tiny_teacher()))
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in straight.history]
    assert all("feat" in r for r in resumed.history)
    for (k, a), b in zip(straight.hints.state_dict().items(), resumed.hints.state_dict().values()):
        assert torch.equal(a, b), k


def test_export_leaves_the_training_only_hint_layers_out(tmp_path):
    from chunkygan.distill import export
    from chunkygan.generators.checkpoints import load_checkpoint

    cfg = DistillConfig(steps=2, w_feat=1.0, **TINY)
    d = run(cfg, tmp_path, distiller=Distiller(cfg, teacher=_tiny_teacher()))
    st, js = export(d, tmp_path / "g.safetensors", 0.5, command="test")
    G = load_checkpoint(js)
    assert set(G.state_dict()) == set(d.student.state_dict())
    z = batch_z(1, 0, 2)
    with torch.no_grad():
        assert torch.allclose(G(z), d.student.eval()(z, noise_mode="const"), atol=2e-2)  # fp16 weights
