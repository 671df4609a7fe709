"""Peak memory of reading the largest accepted input (chunkygan.imageio.MAX_PIXELS) as a tensor.

Run: ``.venv/bin/python benchmarks/input_memory.py`` -- each case runs in a fresh subprocess and prints
its peak resident memory (VmHWM of /proc/self/status; ru_maxrss would carry the parent's peak over exec)
next to the baseline of importing the package.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import sys, torch
torch.set_num_threads(1)
from chunkygan.imageio import load_image, fit_square
def hwm():
    line = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
    return int(line.split()[1])
base = hwm()
if sys.argv[1] != "-":
    t = load_image(sys.argv[1])
    shape = tuple(t.shape)
    small = fit_square(t, 64)
    del t
else:
    shape = ()
peak = hwm()
print(f"{base / 1024:.0f} {peak / 1024:.0f} {shape}")
"""


def main() -> None:
    import numpy as np
    from PIL import Image

    from chunkygan.imageio import MAX_PIXELS

    w = 8660
    h = MAX_PIXELS // w
    with tempfile.TemporaryDirectory() as d:
        rng = np.random.default_rng(0)
        row = rng.integers(0, 255, (1, w, 3), dtype=np.uint8)
        img = Image.fromarray(np.repeat(row, h, axis=0))
        cases = {"import only": "-"}
        png, jpg, big = Path(d) / "max.png", Path(d) / "max.jpg", Path(d) / "big.jpg"
        img.save(png, compress_level=1)
        img.save(jpg, quality=90)
        img.resize((2 * w, 2 * h), Image.NEAREST).save(big, quality=90)  # 4x the limit: draft-decoded at 1/2
        del img
        cases.update({f"PNG {w}x{h}": png, f"JPEG {w}x{h}": jpg, f"JPEG {2 * w}x{2 * h} (draft 1/2)": big})
        print(f"MAX_PIXELS = {MAX_PIXELS:,}")
        for name, path in cases.items():
            out = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True)
            base, peak, shape = out.stdout.split(" ", 2)
            print(f"{name:34s} peak RSS {int(peak):6d} MiB (import alone {int(base)} MiB) tensor {shape.strip()}")


if __name__ == "__main__":
    main()
