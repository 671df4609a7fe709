"""``--device`` resolution and the CPU allocator setting (chunkygan.device)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from chunkygan.device import ALLOCATOR_ENV, resolve_device

# Allocates and frees 4 x 48 MiB blocks per round (one layer's activations for a few segments) and prints
# whether the setting was applied and the page faults of 8 rounds after a warm-up round.
_FAULTS = """
import resource, torch
from chunkygan.device import keep_cpu_memory_mapped
applied = keep_cpu_memory_mapped()
again = keep_cpu_memory_mapped()
faults = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_minflt
def one_round():
    xs = [torch.ones(12 * 2 ** 20) for _ in range(4)]
    del xs
one_round()
before = faults()
for _ in range(8):
    one_round()
print(applied, again, faults() - before)
"""


def _run(env_value: str | None) -> tuple[str, str, int]:
    env = {k: v for k, v in os.environ.items() if k != ALLOCATOR_ENV}
    if env_value is not None:
        env[ALLOCATOR_ENV] = env_value
    out = subprocess.run([sys.executable, "-c", _FAULTS], env=env, capture_output=True, text=True, check=True)
    applied, again, faults = out.stdout.split()
    return applied, again, int(faults)


def test_resolve_device_names():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="use --device cpu"):
            resolve_device("cuda")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is a glibc (Linux) setting")
def test_cpu_allocator_keeps_large_blocks_and_can_be_switched_off():
    applied, again, kept = _run(None)
    if applied != "True":
        pytest.skip("this C library has no mallopt (not glibc); the setting is a documented no-op there")
    assert again == "True"  # idempotent
    off_applied, _, system = _run("system")
    assert off_applied == "False"
    # glibc maps every block above 32 MiB afresh: 8 rounds x 4 x 12288 pages ~ 393k faults.
    assert system > 200_000, system
    # Kept in the heap, freed blocks are reused: only the first rounds touch new pages (measured ~80k).
    assert kept < 0.35 * system, (kept, system)
