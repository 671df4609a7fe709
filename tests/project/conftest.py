import pytest
import torch

from tiny_generators import tiny_dcgan, tiny_sg2


@pytest.fixture(scope="module")
def sg2():
    return tiny_sg2()


@pytest.fixture(scope="module")
def dcgan():
    return tiny_dcgan()

