"""Small helpers shared by the CLI commands (option parsing, device choice, error reporting)."""
from __future__ import annotations

import click

from ..device import keep_cpu_memory_mapped, resolve_device


def parse_int_list(text: str) -> list[int]:
    """``"0-7"`` → [0..7]; ``"1,3,5-6"`` → [1,3,5,6]."""
    out: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part[1:]:
            a, b = part.split("-", 1) if not part.startswith("-") else (part, "")
            lo, hi = int(a), int(b)
            if hi < lo:
                raise click.BadParameter(f"range {part!r} is empty (end before start)")
            out.extend(range(lo, hi + 1))
        else:
            out.append(int(part))
    if not out:
        raise click.BadParameter(f"no numbers in {text!r}")
    return out


def device_option(f):
    return click.option("--device", default="auto", show_default=True,
                        help="auto, cpu or cuda[:N]; auto picks CUDA when available.")(f)


def get_device(name: str):
    """The resolved ``--device``; on CPU also keeps large freed blocks in the process (see device.py)."""
    try:
        device = resolve_device(name)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--device") from None
    if device.type == "cpu":
        keep_cpu_memory_mapped()
    return device
