"""Photo files for the batch tests (importable: tests/batch is on sys.path while they run)."""
import numpy as np
from PIL import Image

GOOD = ["a.png", "b.jpg", "c.png"]


def make_photos(folder, names=tuple(GOOD), seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for n in names:
        arr = (rng.random((20, 26, 3)) * 255).astype(np.uint8)
        Image.fromarray(arr).save(folder / n)
    return [folder / n for n in names]
