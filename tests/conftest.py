import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """Tests use tiny tensors: one intra-op thread is fastest, and results (float reduction order) must not
    depend on the core count. Session scope, so module-scoped fixtures run with the same setting as tests."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


from photos_fixture import photos  # noqa: E402,F401  (session fixture for tests/align and tests/face)
