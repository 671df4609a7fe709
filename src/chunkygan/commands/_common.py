"""Small helpers shared by the CLI commands (option parsing, device choice, error reporting)."""
from __future__ import annotations

from pathlib import Path

import math

import click

from ..device import keep_cpu_memory_mapped, resolve_device


#: longest list parse_int_list accepts ("0-99999999" would otherwise fill the memory)
MAX_LIST = 100_000


def parse_int_list(text: str, option: str | None = None) -> list[int]:
    """``"0-7"`` → [0..7]; ``"1,3,5-6"`` → [1,3,5,6]; ``option`` names the option in error messages."""
    try:
        return _parse_int_list(text)
    except click.BadParameter as e:
        if option is not None:
            e.param_hint = option
        raise


def _parse_int_list(text: str) -> list[int]:
    out: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part[1:]:
            a, b = part.split("-", 1) if not part.startswith("-") else (part, "")
            lo, hi = _int(a, text), _int(b, text)
            if hi < lo:
                raise click.BadParameter(f"range {part!r} is empty (end before start)")
            if len(out) + hi - lo + 1 > MAX_LIST:
                raise click.BadParameter(f"{text!r} lists more than {MAX_LIST} numbers")
            out.extend(range(lo, hi + 1))
        else:
            out.append(_int(part, text))
        if len(out) > MAX_LIST:
            raise click.BadParameter(f"{text!r} lists more than {MAX_LIST} numbers")
    if not out:
        raise click.BadParameter(f"no numbers in {text!r}")
    return out


def _int(word: str, text: str) -> int:
    try:
        return int(word)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a list of whole numbers (write e.g. 0-3 or 1,4,9)") from None


class FiniteFloat(click.ParamType):
    """A float that must be finite (NaN and inf are refused) and inside ``[min, max]`` (open ends optional).

    click's FloatRange lets NaN through (every comparison with NaN is false); this type does not.
    """

    name = "number"

    def __init__(self, min: float | None = None, max: float | None = None, min_open: bool = False,
                 max_open: bool = False):
        self.min, self.max, self.min_open, self.max_open = min, max, min_open, max_open

    def describe(self) -> str:
        lo = "" if self.min is None else f"{'>' if self.min_open else '>='} {self.min:g}"
        hi = "" if self.max is None else f"{'<' if self.max_open else '<='} {self.max:g}"
        return " and ".join(x for x in (lo, hi) if x) or "finite"

    def convert(self, value, param, ctx):
        if isinstance(value, float) and math.isfinite(value) and self._inside(value):
            return value
        try:
            x = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(x):
            self.fail(f"{value!r} is not a finite number (allowed: {self.describe()})", param, ctx)
        if not self._inside(x):
            self.fail(f"{value!r} is out of range (allowed: {self.describe()})", param, ctx)
        return x

    def _inside(self, x: float) -> bool:
        if self.min is not None and (x < self.min or (self.min_open and x == self.min)):
            return False
        if self.max is not None and (x > self.max or (self.max_open and x == self.max)):
            return False
        return True

    def __repr__(self) -> str:
        return f"FiniteFloat({self.describe()})"


def output_file(path) -> "Path":
    """Preflight of a single-file ``-o``: it needs its extension and a writable place (refused before any work)."""
    from ..fileio import check_output_path

    return check_output_path(path)


def output_folder(path) -> "Path":
    """Preflight of a folder ``-o`` (commands writing several files): refused before any work if unusable."""
    from ..fileio import check_output_folder

    return check_output_folder(path)


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
