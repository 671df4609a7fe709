"""The public-domain test photos, shared by the face and alignment tests (registered in tests/conftest.py)."""
import pytest
import torch

from chunkygan.imageio import load_image, pil_to_tensor


@pytest.fixture(scope="session")
def photos() -> dict[str, torch.Tensor]:
    """Public-domain test photos shipped by registry packages: scikit-image's astronaut, matplotlib's Grace Hopper."""
    skimage_data = pytest.importorskip("skimage.data", reason="scikit-image (test photo 'astronaut') is not installed")
    cbook = pytest.importorskip("matplotlib.cbook", reason="matplotlib (test photo 'grace_hopper.jpg') is not installed")
    from PIL import Image

    return {
        "astronaut": pil_to_tensor(Image.fromarray(skimage_data.astronaut())),
        "grace_hopper": load_image(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)),
    }
