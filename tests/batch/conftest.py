"""Shared inputs for the batch tests: a tiny StyleGAN2 checkpoint and a folder of mixed inputs."""
import pytest

from chunkygan.generators.checkpoints import save_generator
from chunkygan.project.projector import ProjectionConfig

from batch_photos import make_photos
from tiny_generators import tiny_sg2


@pytest.fixture(scope="session")
def gen_path(tmp_path_factory):
    st, _ = save_generator(tiny_sg2(), tmp_path_factory.mktemp("gen") / "tiny.safetensors")
    return str(st)


@pytest.fixture(scope="session")
def config():
    """Very few steps, the L2 loss (no LPIPS network in the loop), K = 2 k-means segments."""
    return ProjectionConfig(method="chunky-w+", segments=2, steps=4, loss="l2", masks="kmeans")


@pytest.fixture()
def mixed(tmp_path):
    """Three good photos, a truncated PNG (unreadable) and a text file named like an image (non-image)."""
    d = tmp_path / "in"
    make_photos(d)
    good = (d / "a.png").read_bytes()
    (d / "broken.png").write_bytes(good[: len(good) // 3])
    (d / "notes.png").write_text("not a picture\n")
    return d
