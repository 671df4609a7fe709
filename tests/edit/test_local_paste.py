"""Local paste-back: an edit goes into the photo only where it changes the image (issue #17)."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from edit_tiny_generators import make_tiny_sg2

from chunkygan.align.ffhq import FaceTransform, edit_region, paste_back_local, warp_to_photo
from chunkygan.cli import main
from chunkygan.generators.checkpoints import save_generator
from chunkygan.imageio import load_image, save_image
from chunkygan.latents import get_space
from chunkygan.project.io import Projection


def _transform(photo_w=120, photo_h=100, res=16) -> FaceTransform:
    """A rotated, 60 px face quad inside a photo (top-left, bottom-left, bottom-right, top-right)."""
    c, half, a = np.array([58.3, 47.9]), 30.0, np.radians(12)
    x = half * np.array([np.cos(a), np.sin(a)])
    y = half * np.array([-np.sin(a), np.cos(a)])
    return FaceTransform(quad=np.stack([c - x - y, c - x + y, c + x + y, c + x - y]), photo_size=(photo_w, photo_h),
                         resolution=res)


def _photo(h=100, w=120):
    g = torch.Generator().manual_seed(1)
    return (torch.randint(0, 256, (1, 3, h, w), generator=g).float() / 127.5 - 1)  # exact 8-bit levels


def _outside(region_hard: torch.Tensor, grow: int, tr: FaceTransform) -> torch.Tensor:
    """Photo pixels ``[H,W]`` bool that lie outside the hard region grown by ``grow`` aligned px (warped)."""
    grown = F.max_pool2d(region_hard, 2 * grow + 1, stride=1, padding=grow)
    w, h = tr.photo_size
    inside = torch.zeros(h, w, dtype=torch.bool)
    warped, (x0, y0, x1, y1) = warp_to_photo(grown, tr)
    inside[y0:y1, x0:x1] = warped[0, 0] > 0
    return ~inside


@pytest.mark.parametrize("mode", ["delta", "alpha", "poisson"])
def test_every_photo_pixel_outside_the_dilated_region_is_bit_identical(mode):
    tr, photo = _transform(), _photo()
    g = torch.Generator().manual_seed(0)
    recon = torch.rand(1, 3, 16, 16, generator=g) * 2 - 1
    edited = recon.clone()
    edited[:, :, 9:12, 5:10] += 0.5  # the edit changes a small patch (a "mouth")
    out = paste_back_local(edited, recon, photo, tr, mode=mode, dilate=1, feather=1.0)
    hard = ((edited - recon).abs().amax(1, keepdim=True) > 4 / 127.5).float()
    outside = _outside(hard, 1 + 2, tr)  # dilate + ceil(1.5 feather)
    assert outside.float().mean() > 0.8  # most of the photo is outside
    assert torch.equal(out[..., outside], photo[..., outside])
    changed = (out != photo).any(1)[0]
    assert changed.any() and changed.float().mean() < 0.15
    # a file round trip keeps them identical too (8-bit PNG)
    assert torch.equal(out.clamp(-1, 1)[..., outside], photo[..., outside])


def test_delta_transfer_adds_only_the_change_and_keeps_the_photo_for_a_null_edit():
    tr, photo = _transform(), _photo()
    recon = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(2)) * 2 - 1
    assert torch.equal(paste_back_local(recon.clone(), recon, photo, tr), photo)  # nothing changed: nothing pasted
    edited = recon.clone()
    edited[:, :, 4:12, 4:12] += 0.2
    out = paste_back_local(edited, recon, photo, tr, mode="delta", dilate=0, feather=0)
    # in the middle of the changed patch the photo moved by the change (+0.2) and kept its own texture
    cx, cy = tr.to_photo(np.array([[7.5, 7.5]]))[0].round().astype(int)
    diff = out[0, :, cy - 2:cy + 3, cx - 2:cx + 3] - photo[0, :, cy - 2:cy + 3, cx - 2:cx + 3]
    keep = photo[0, :, cy - 2:cy + 3, cx - 2:cx + 3] < 0.79  # not clipped at white
    assert torch.allclose(diff[keep], torch.full_like(diff[keep], 0.2), atol=1e-5)


def test_edit_region_from_masks_and_its_support():
    edited = torch.zeros(1, 3, 32, 32)
    masks = torch.zeros(2, 1, 32, 32)
    masks[0, :, 10:14, 10:14] = 1
    m = edit_region(edited, masks=masks[:1], dilate=2, feather=2.0)
    assert m.shape == (1, 1, 32, 32) and m.max() == pytest.approx(1, abs=1e-5) and m.min() == 0
    support = m[0, 0] > 0
    ys, xs = torch.nonzero(support, as_tuple=True)
    assert ys.min() >= 10 - 2 - 3 and ys.max() <= 13 + 2 + 3 and xs.min() >= 10 - 5 and xs.max() <= 13 + 5
    assert (m[0, 0, 10:14, 10:14] > 0.99).all()  # the edited segment itself is pasted fully
    with pytest.raises(ValueError, match="masks or the reconstruction"):
        edit_region(edited)
    with pytest.raises(ValueError, match="paste mode"):
        paste_back_local(edited, edited, torch.zeros(1, 3, 100, 120), _transform(res=32), mode="nope")


@pytest.fixture()
def aligned_projection(tmp_path, monkeypatch):
    """A tiny-generator projection that records a photo and its face transform, as `project --align` does."""
    monkeypatch.setenv("CHUNKYGAN_CACHE", str(tmp_path / "cache"))
    G = make_tiny_sg2()
    st, _ = save_generator(G, tmp_path / "tiny")
    x = torch.arange(16).float()
    a = (1 - ((x - 4) / 2).clamp(0, 1))
    c = ((x - 10) / 2).clamp(0, 1)
    masks = torch.stack([a, 1 - a - c, c]).view(3, 1, 16, 1).expand(3, 1, 16, 16).contiguous()
    codes = get_space("w+").mean(G, 3) + 0.3 * torch.randn(3, G.num_ws, 16, generator=torch.Generator().manual_seed(0))
    folder = tmp_path / "proj"
    Projection(codes=codes, space="w+", masks=masks, generator=str(st)).save(folder / "projection.safetensors")
    photo = save_image(_photo(), tmp_path / "photo.png")
    _transform().save(folder / "transform.json")
    (folder / "alignment.json").write_text(json.dumps({"photo": str(photo), "transform": "transform.json"}))
    return tmp_path, st, G, masks


def test_edit_cli_pastes_a_local_edit_only_into_its_dilated_region(aligned_projection):
    tmp, st, G, masks = aligned_projection
    bank = str(tmp / "bank.safetensors")
    r = CliRunner().invoke(main, ["directions", "discover", "--generator", str(st), "--bank", bank, "--method", "sefa",
                                  "-k", "1"])
    assert r.exit_code == 0, r.output
    out = tmp / "out"
    r = CliRunner().invoke(main, ["edit", str(tmp / "proj"), "--direction", "sefa_0=3", "--segments", "2",
                                  "--bank", bank, "-o", str(out)])
    assert r.exit_code == 0, r.output
    photo, pasted = load_image(tmp / "photo.png"), load_image(out / "photo_edited.png")
    hard = (masks[2:3] >= 0.5).float()  # the edited segment: the bottom rows of the aligned image
    outside = _outside(hard, 2 + 3 + 1, _transform())  # default dilate 2, feather 2 -> 3, +1 for resampling
    assert outside.float().mean() > 0.5
    assert torch.equal(pasted[..., outside], photo[..., outside])
    assert not torch.equal(pasted, photo)
    assert (out / "photo_comparison.png").is_file()


def test_edit_cli_sweep_writes_captioned_and_pasted_strips(aligned_projection):
    tmp, st, G, _ = aligned_projection
    bank = str(tmp / "bank.safetensors")
    CliRunner().invoke(main, ["directions", "discover", "--generator", str(st), "--bank", bank, "--method", "sefa",
                              "-k", "1"])
    out = tmp / "sweep"
    r = CliRunner().invoke(main, ["edit", str(tmp / "proj"), "--direction", "sefa_0=-2:2:3", "--bank", bank,
                                  "-o", str(out)])
    assert r.exit_code == 0, r.output
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["strengths"] == [-2.0, 0.0, 2.0] and sweep["lpips_vs_unedited"][1] == pytest.approx(0, abs=1e-6)
    assert sweep["lpips_vs_unedited"][0] > 0
    strip = load_image(out / "strip.png")
    assert strip.shape[-1] > 3 * 128 and strip.shape[-2] > 128  # captioned tiles, not bare 16 px renders
    assert (out / "photo_strip.png").is_file() and (out / "photo_edited_2.png").is_file()
    # strength 0 pastes nothing: the photo comes back bit for bit
    assert torch.equal(load_image(out / "photo_edited_1.png"), load_image(tmp / "photo.png"))
