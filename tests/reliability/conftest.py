"""Fixtures of the fault-injection suite: tiny generator files and a sentinel tree (helpers: reliability_helpers.py)."""
from __future__ import annotations

import sys

import pytest

from reliability_helpers import TESTS, Sentinel, run_cli


@pytest.fixture
def sentinel(tmp_path) -> Sentinel:
    return Sentinel(tmp_path / "sentinel")


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> dict:
    """Tiny generator checkpoints (native format), a small photo and a K = 2 projection of it (4 steps)."""
    import numpy as np
    from PIL import Image

    sys.path.insert(0, str(TESTS))
    from tiny_generators import tiny_dcgan, tiny_sg2

    from chunkygan.generators.checkpoints import save_generator

    d = tmp_path_factory.mktemp("tiny")
    save_generator(tiny_sg2(), d / "tiny.safetensors")
    save_generator(tiny_dcgan(), d / "tinydc.safetensors")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)).save(d / "photo.png")
    Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(d / "other.png")
    r = run_cli("project", d / "photo.png", "-o", d / "proj", "--generator", d / "tiny.safetensors", "--steps", 4,
                "--loss", "l2", "--segments", 2, "--snapshots", 0)
    assert r.code == 0, (r.stdout, r.stderr, r.exception)
    return {"dir": d, "sg2": d / "tiny.safetensors", "dc": d / "tinydc.safetensors", "photo": d / "photo.png",
            "other": d / "other.png", "proj": d / "proj"}
