import pytest
import torch


@pytest.fixture(autouse=True)
def _few_threads():
    """2-core CI: keep intra-op threads low so parallel test workers don't thrash."""
    n = torch.get_num_threads()
    torch.set_num_threads(min(n, 2))
    yield
    torch.set_num_threads(n)
