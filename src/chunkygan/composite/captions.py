"""Captioned image sheets: strips and grids whose tiles say what they show (method, strength, LPIPS)."""
from __future__ import annotations

from typing import Sequence

import torch


def captioned_sheet(images: Sequence[torch.Tensor] | torch.Tensor, captions: Sequence[str], ncol: int | None = None,
                    tile: int | None = None, pad: int = 4):
    """A PIL image: ``images`` (``[1,3,H,W]`` each, or ``[N,3,H,W]``, in ``[-1,1]``) as tiles of side ``tile``
    (default: the largest image, at least 128 px; nearest-neighbour upscaling keeps small renders crisp),
    ``ncol`` per row (default: all in one row), each with its caption underneath (one or two lines)."""
    from PIL import Image, ImageDraw

    from ..imageio import tensor_to_pil

    imgs = list(images.split(1)) if isinstance(images, torch.Tensor) else list(images)
    if len(imgs) != len(captions):
        raise ValueError(f"{len(imgs)} images but {len(captions)} captions")
    if not imgs:
        raise ValueError("no images to put on a sheet")
    side = tile or max(128, max(max(i.shape[-2:]) for i in imgs))
    ncol = ncol or len(imgs)
    nrow = (len(imgs) + ncol - 1) // ncol
    lines = max(1 + str(c).count("\n") for c in captions)
    cap_h = 6 + 12 * lines
    sheet = Image.new("RGB", (ncol * (side + pad) + pad, nrow * (side + cap_h + pad) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    for k, (img, text) in enumerate(zip(imgs, captions)):
        im = tensor_to_pil(img.detach().cpu().float())
        resample = Image.NEAREST if im.width * 2 <= side else Image.LANCZOS
        im = im.resize((side, side * im.height // im.width), resample)
        r, c = divmod(k, ncol)
        x, y = pad + c * (side + pad), pad + r * (side + cap_h + pad)
        sheet.paste(im, (x, y))
        draw.multiline_text((x + 2, y + im.height + 3), str(text), fill=(0, 0, 0), spacing=2)
    return sheet


__all__ = ["captioned_sheet"]
