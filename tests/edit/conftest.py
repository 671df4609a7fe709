import pytest
import torch

from edit_tiny_generators import make_tiny_dcgan, make_tiny_sg2


@pytest.fixture(scope="module")
def sg2():
    return make_tiny_sg2()


@pytest.fixture(scope="module")
def dcgan():
    return make_tiny_dcgan()


@pytest.fixture(autouse=True)
def _one_thread():
    """Small generators: one intra-op thread is fastest, and avoids thrashing on a loaded 2-core CI."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
