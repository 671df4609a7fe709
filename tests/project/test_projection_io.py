"""projection.safetensors round trip and error messages; the Eq. 1 / Eq. 3 blend."""
import json

import pytest
import torch

from chunkygan.composite.blend import compose as blend
from chunkygan.project.io import FORMAT, Projection, ProjectionFileError


def _proj(with_static=True):
    g = torch.Generator().manual_seed(0)
    masks = torch.softmax(torch.randn(3, 1, 8, 8, generator=g), dim=0)
    return Projection(
        codes=torch.randn(3, 4, 16, generator=g), space="w+", masks=masks, generator="tiny",
        mask_source="logits", mask_params={"logits": torch.randn(3, 1, 4, 4, generator=g)},
        static_mask=torch.zeros(1, 1, 8, 8) if with_static else None,
        target=torch.rand(1, 3, 8, 8, generator=g) * 2 - 1,
        generator_meta={"source": "test"}, config={"steps": 5, "lr": 0.1}, metrics={"lpips": 0.25},
        step=5, extra={"adam.exp_avg": torch.ones(2)})


def test_round_trip_keeps_every_field(tmp_path):
    p = _proj()
    p.save(tmp_path / "projection.safetensors")
    q = Projection.load(tmp_path)  # a folder works too
    for name in ("codes", "masks", "static_mask", "target"):
        assert torch.equal(getattr(p, name), getattr(q, name)), name
    assert torch.equal(q.mask_params["logits"], p.mask_params["logits"])
    assert torch.equal(q.extra["adam.exp_avg"], p.extra["adam.exp_avg"])
    assert (q.space, q.generator, q.mask_source, q.step) == ("w+", "tiny", "logits", 5)
    assert q.config == {"steps": 5, "lr": 0.1} and q.metrics == {"lpips": 0.25}
    assert q.generator_meta == {"source": "test"}
    r = _proj(with_static=False)
    r.save(tmp_path / "b.safetensors")
    assert Projection.load(tmp_path / "b.safetensors").static_mask is None


def test_foreign_and_missing_files_give_clear_errors(tmp_path):
    from safetensors.torch import save_file

    with pytest.raises(ProjectionFileError, match="no such projection"):
        Projection.load(tmp_path / "nothing.safetensors")
    save_file({"x": torch.zeros(1)}, str(tmp_path / "other.safetensors"), metadata={"format": "something"})
    with pytest.raises(ProjectionFileError, match=FORMAT.replace(".", r"\.")):
        Projection.load(tmp_path / "other.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a file at all")
    with pytest.raises(ProjectionFileError, match="not a readable"):
        Projection.load(tmp_path / "junk.safetensors")
    save_file({"codes": torch.zeros(1, 2)}, str(tmp_path / "half.safetensors"), metadata={"format": FORMAT})
    with pytest.raises(ProjectionFileError, match="masks"):
        Projection.load(tmp_path / "half.safetensors")


def test_mismatched_codes_and_masks_are_refused():
    with pytest.raises(ProjectionFileError, match="2 codes but 3 masks"):
        Projection(codes=torch.zeros(2, 4), space="z", masks=torch.ones(3, 1, 4, 4) / 3)


def test_blend_is_eq1_and_eq3_keeps_static_pixels_exactly():
    g = torch.Generator().manual_seed(1)
    renders = torch.rand(2, 3, 4, 4, generator=g) * 2 - 1
    masks = torch.zeros(2, 1, 4, 4)
    masks[0, :, :, :2] = 1
    masks[1, :, :, 2:] = 1
    out = blend(renders, masks)
    assert torch.equal(out[0, :, :, :2], renders[0, :, :, :2]) and torch.equal(out[0, :, :, 2:], renders[1, :, :, 2:])
    target = torch.rand(1, 3, 4, 4, generator=g) * 2 - 1
    sx = torch.zeros(1, 1, 4, 4)
    sx[..., 0, :] = 1
    sx[..., 1, :] = 0.25
    o3 = blend(renders, masks, sx, target)
    assert torch.equal(o3[..., 0, :], target[..., 0, :])
    assert torch.allclose(o3[..., 1, :], 0.25 * target[..., 1, :] + 0.75 * out[..., 1, :])
    assert torch.equal(o3[..., 2:, :], out[..., 2:, :])
    with pytest.raises(ValueError, match="needs the target"):
        blend(renders, masks, sx)
