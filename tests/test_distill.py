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
