"""Learning-rate schedules for the projector: a multiplier in [0,1] as a function of progress.

``rampdown`` is the StyleGAN2-ADA projector's schedule: a linear warm-up over the first
``rampup`` fraction of the steps and a cosine decay to zero over the last ``rampdown`` fraction.

>>> [round(lr_factor(s, 100, "rampdown"), 3) for s in (0, 2, 50, 90, 99)]
[0.0, 0.4, 1.0, 0.345, 0.004]
>>> lr_factor(10, 100, "constant")
1.0
"""
from __future__ import annotations

import math

SCHEDULES = ("rampdown", "cosine", "constant")


def lr_factor(step: int, total: int, kind: str = "rampdown", rampup: float = 0.05, rampdown: float = 0.25) -> float:
    """Learning-rate multiplier for 0-based ``step`` of ``total`` steps.

    Args:
        kind: ``rampdown`` (warm-up + cosine tail, StyleGAN2-ADA), ``cosine`` (cosine from 1 to 0 over
            the whole run) or ``constant``.
        rampup: fraction of the run spent warming up linearly from 0 (``rampdown`` only).
        rampdown: fraction of the run at the end that decays to 0 with a half cosine (``rampdown`` only).
    """
    if total <= 0:
        raise ValueError(f"total steps must be positive, got {total}")
    t = min(max(step / total, 0.0), 1.0)
    if kind == "constant":
        return 1.0
    if kind == "cosine":
        return 0.5 + 0.5 * math.cos(math.pi * t)
    if kind == "rampdown":
        f = min(1.0, (1.0 - t) / rampdown) if rampdown > 0 else 1.0
        f = 0.5 - 0.5 * math.cos(math.pi * f)
        return f * (min(1.0, t / rampup) if rampup > 0 else 1.0)
    raise ValueError(f"unknown learning-rate schedule {kind!r}; known: {', '.join(SCHEDULES)}")
