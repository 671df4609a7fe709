import os

import pytest

# the app extra is installed by `make setup`; under CI its absence is a failure, not a skip
if os.environ.get("CI") == "true":
    import starlette  # noqa: F401
else:
    pytest.importorskip("starlette", reason="the app extra (starlette) is not installed: pip install -r requirements/app.txt")
