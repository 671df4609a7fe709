"""The demo: global vs segment-wise projection of a public-domain portrait, same step budget.

Three projections with the same steps: global (K = 1), free k-means masks (K = 4) and the default mode
of ``chunkygan project`` — for a face and a style-based generator with a segment head at hand (the default
generator trains its head on first use, face extra), the paper's joint ``G^S(X^S)`` masks (Eq. 2;
:mod:`chunkygan.pipelines.auto`).

The photos ship inside registry packages: scikit-image's ``astronaut`` (Eileen Collins, NASA,
public domain) and matplotlib's ``grace_hopper.jpg`` (US Navy, public domain). Face alignment is
a separate tool; for these two known photos a fixed, documented square crop box around the face
stands in for it (:data:`DEMO_PHOTOS`).
"""
from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from ..fileio import atomic_write_text
from ..imageio import make_grid, pil_to_tensor, save_image
from ..project.outputs import enlarge, write_outputs
from ..project.projector import ProjectionConfig, Projector, StepInfo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoPhoto:
    name: str
    description: str
    package: str  # pip extra / package that ships it
    box: tuple[int, int, int, int]  # (left, top, right, bottom) square face crop in the original pixels

    def load(self) -> torch.Tensor:
        """The face crop as ``[1,3,S,S]`` in [-1,1]."""
        from PIL import Image

        if self.name == "astronaut":
            try:
                import skimage.data
            except ImportError:
                raise ImportError("the astronaut demo photo ships with scikit-image: pip install 'chunkygan[examples]'") from None
            im = Image.fromarray(skimage.data.astronaut())
        elif self.name == "grace_hopper":
            try:
                from matplotlib import cbook
            except ImportError:
                raise ImportError("the grace_hopper demo photo ships with matplotlib: pip install 'chunkygan[examples]'") from None
            from ..imageio import read_pil

            im = read_pil(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
        else:  # pragma: no cover - DEMO_PHOTOS lists only the two above
            raise KeyError(self.name)
        return pil_to_tensor(im.crop(self.box))


DEMO_PHOTOS = {
    # 512x512; face centred at about (240, 140), 220 px box with hair and collar
    "astronaut": DemoPhoto("astronaut", "Eileen Collins, NASA portrait (public domain), scikit-image data",
                           "scikit-image", (130, 30, 350, 250)),
    # 512x600; face centred at about (270, 220), 240 px box from the cap to the chin
    "grace_hopper": DemoPhoto("grace_hopper", "Grace Hopper, US Navy portrait (public domain), matplotlib sample data",
                              "matplotlib", (150, 100, 390, 340)),
}


#: LPIPS working resolution of the demo's loss: 64 px images are upsampled to 128 px (half the cost of
#: 256 px on a CPU; the reported metric is always computed at 256 px).
DEMO_LOSS_RESOLUTION = 128


def compare(G, target: torch.Tensor, segments: int = 4, steps: int = 200, seed: int = 0, space: str | None = None,
            generator_name: str = "", callback: Callable[[str, StepInfo], None] | None = None,
            auto: bool | None = None, head_progress=None, **config) -> dict[str, tuple[Projector, object]]:
    """Project ``target`` globally (K = 1), with K = ``segments`` free k-means masks and, when ``auto``
    (None: :func:`~chunkygan.pipelines.auto.choose_masks` decides, as ``chunkygan project`` does), with the
    segment generator ``G^S`` — all with the same step budget.

    Returns ``{"global": (projector, projection), "chunky": (...), "auto": (...)}`` (``auto`` only when run);
    projections carry metrics. ``callback(label, info)`` is called after every step; ``head_progress`` is
    passed to the default head's training on first use.
    """
    from .auto import auto_mask_source, auto_projector, choose_masks

    sp = space or ("w+" if "w+" in G.spaces else G.spaces[0])
    config.setdefault("loss_resolution", DEMO_LOSS_RESOLUTION)
    source = None
    if auto is None:
        choice = choose_masks(G, target)
        log.info("demo: default mask mode %s (%s)", choice.mode, choice.reason)
        auto = choice.mode == "gs"
    if auto:
        try:
            source = auto_mask_source(G, progress=head_progress)
        except (ImportError, OSError, RuntimeError, ValueError) as e:  # e.g. labelling found too few faces
            log.warning("demo: no segment head (%s); showing global and k-means only", e)
    runs = {}
    for label, method, k in (("global", sp, 1), ("chunky", f"chunky-{sp}", segments), ("auto", f"chunky-{sp}", 0)):
        if label == "auto":
            if source is None:
                continue
            cfg = ProjectionConfig(method=method, segments=source.num_segments, steps=steps, seed=seed, snapshots=6,
                                   **config)
            p = auto_projector(G, target, cfg, source=source, generator_name=generator_name)
        else:
            cfg = ProjectionConfig(method=method, segments=k, steps=steps, seed=seed, snapshots=6, **config)
            p = Projector(G, target, cfg, generator_name=generator_name)
        for info in p:
            if callback is not None:
                callback(label, info)
        runs[label] = (p, p.result(with_metrics=True))
    return runs


def _captioned(img: torch.Tensor, text: str):
    """``[1,3,H,W]`` -> PIL image with a caption strip underneath."""
    from PIL import Image, ImageDraw

    from ..imageio import tensor_to_pil

    im = tensor_to_pil(img)
    canvas = Image.new("RGB", (im.width, im.height + 22), "white")
    canvas.paste(im, (0, 0))
    ImageDraw.Draw(canvas).text((4, im.height + 5), text, fill=(0, 0, 0))
    return canvas


@torch.no_grad()
def comparison_sheet(G, projections: dict):
    """The demo's side-by-side PIL image from projections with metrics (``global``, ``chunky`` and optionally
    ``auto``): input | global | k-means | its segments | G^S | its segments, LPIPS in the captions."""
    from PIL import Image

    from ..segments.masks import SegmentMasks

    rg = projections["global"]
    tiles = [(rg.target.cpu(), "input"), (rg.composite(G).cpu(), f"global {rg.space}: LPIPS {rg.metrics['lpips']:.3f}")]
    for label, name in (("chunky", "k-means"), ("auto", "G^S")):
        if label not in projections:
            continue
        r = projections[label]
        o = r.composite(G).cpu()
        tiles += [(o, f"{name} K={r.num_segments}: {r.metrics['lpips']:.3f}"),
                  (SegmentMasks(r.masks.cpu(), normalised=True).preview(o, alpha=0.5), f"{name} segments")]
    ims = [_captioned(enlarge(t), s) for t, s in tiles]
    sheet = Image.new("RGB", (sum(i.width for i in ims) + 4 * (len(ims) + 1), ims[0].height + 8), "white")
    x = 4
    for i in ims:
        sheet.paste(i, (x, 4))
        x += i.width + 4
    return sheet


def write_demo(out: str | os.PathLike, G, runs: dict, photo: str = "", generator_name: str = "") -> dict[str, Path]:
    """Write ``global/``, ``chunky/`` (and ``auto/``) result folders, ``comparison.png``
    (:func:`comparison_sheet`) and ``metrics.json`` into ``out``."""
    out = Path(out)
    files = {}
    for label, (p, proj) in runs.items():
        files[label] = write_outputs(out / label, proj, G, p.snapshots)["comparison"]
    sheet = comparison_sheet(G, {label: proj for label, (_, proj) in runs.items()})
    files["comparison"] = save_image(sheet, out / "comparison.png")
    rg, rc = runs["global"][1], runs["chunky"][1]
    lg, lc = rg.metrics["lpips"], rc.metrics["lpips"]
    metrics = {
        "photo": photo, "generator": generator_name, "steps": rc.metrics["steps"],
        "global": rg.metrics, "chunky": rc.metrics,
        "lpips_reduction": round(1 - lc / lg, 4) if lg > 0 else None,
        "default": "auto" if "auto" in runs else "chunky",
    }
    if "auto" in runs:
        la = runs["auto"][1].metrics["lpips"]
        metrics["auto"] = runs["auto"][1].metrics
        metrics["auto_lpips_reduction"] = round(1 - la / lg, 4) if lg > 0 else None
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    files["metrics"] = out / "metrics.json"
    return files


def run_demo(out: str | os.PathLike, photo: str = "astronaut", generator: str | None = None, segments: int = 4,
             steps: int = 200, seed: int = 0, device: str | torch.device = "cpu",
             callback: Callable[[str, StepInfo], None] | None = None, auto: bool | None = None, head_progress=None,
             **config) -> dict:
    """Load the demo photo and generator, :func:`compare`, :func:`write_demo`; returns the metrics dict."""
    from ..generators import default_generator_name, load_generator

    if photo not in DEMO_PHOTOS:
        raise ValueError(f"unknown demo photo {photo!r}; known: {', '.join(DEMO_PHOTOS)}")
    name = generator or default_generator_name()
    G = load_generator(name, device=device)
    target = DEMO_PHOTOS[photo].load()
    t0 = time.perf_counter()
    runs = compare(G, target, segments=segments, steps=steps, seed=seed, generator_name=str(name),
                   callback=callback, auto=auto, head_progress=head_progress, **config)
    files = write_demo(out, G, runs, photo=photo, generator_name=str(name))
    metrics = json.loads(Path(files["metrics"]).read_text())
    metrics["total_seconds"] = round(time.perf_counter() - t0, 1)
    atomic_write_text(files["metrics"], json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return metrics


__all__ = ["DEMO_PHOTOS", "DemoPhoto", "compare", "comparison_sheet", "write_demo", "run_demo"]
