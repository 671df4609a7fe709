import pytest
import torch

from project_tiny import tiny_dcgan, tiny_sg2


@pytest.fixture(scope="module")
def sg2():
    return tiny_sg2()


@pytest.fixture(scope="module")
def dcgan():
    return tiny_dcgan()


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
