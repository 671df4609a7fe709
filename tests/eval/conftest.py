import pytest
import torch

from chunkygan.imageio import save_image


@pytest.fixture(scope="module")
def eval_images(tmp_path_factory):
    """Three small random 'photos' (the protocol's plumbing does not need faces: identity uses the FFHQ template)."""
    d = tmp_path_factory.mktemp("eval_images")
    g = torch.Generator().manual_seed(0)
    base = torch.nn.functional.interpolate(torch.rand(3, 3, 4, 4, generator=g) * 2 - 1, size=32, mode="bilinear")
    for i in range(3):
        save_image(base[i:i + 1], d / f"face{i}.png")
    return sorted(d.glob("*.png"))
