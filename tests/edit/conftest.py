import pytest
import torch

from edit_tiny_generators import make_tiny_dcgan, make_tiny_sg2


@pytest.fixture(scope="module")
def sg2():
    return make_tiny_sg2()


@pytest.fixture(scope="module")
def dcgan():
    return make_tiny_dcgan()

