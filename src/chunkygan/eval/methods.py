"""Method specs of the evaluation: a projection method plus its own options, ``chunky-w+:lambda_reg=1``.

A spec is ``METHOD[:KEY=VALUE[,KEY=VALUE...]]``: ``METHOD`` is a :data:`~chunkygan.project.projector.METHODS`
name (``w``, ``chunky-w+``, ...) and each ``KEY`` a :class:`~chunkygan.project.projector.ProjectionConfig`
field (``lambda_reg``, ``segments``, ``steps``, ``lr``, ``l2_weight``, ...). Options override the run's
common settings for that method only.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

from ..project.projector import ProjectionConfig, parse_method

#: the paper's Table 1 rows (Sec. 4.1), in its order
TABLE1_METHODS = ("w", "chunky-w", "w+", "chunky-w+", "chunky-w+:lambda_reg=1", "s", "chunky-s")
#: the paper's Table 2 rows (Sec. 4.2)
TABLE2_METHODS = ("w", "w+", "chunky-w+", "chunky-w+:lambda_reg=1")

_SPACE_NAMES = {"z": "Z", "w": "W", "w+": "W+", "s": "S"}


class MethodSpecError(ValueError):
    """A method spec that cannot be parsed; the message shows the syntax."""


def _value(text: str):
    t = text.strip()
    if t.lower() in ("true", "false"):
        return t.lower() == "true"
    if t.lower() in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(t)
        except ValueError:
            pass
    return t


@dataclass(frozen=True)
class MethodSpec:
    """One evaluated method: ``spec`` as written, the projection ``method`` and its ``options``."""

    spec: str
    method: str
    options: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def space(self) -> str:
        return parse_method(self.method)[0]

    @property
    def chunky(self) -> bool:
        return parse_method(self.method)[1]

    @property
    def lambda_reg(self) -> float:
        return float(self.options.get("lambda_reg", 0.0))

    @property
    def slug(self) -> str:
        """A folder name: ``chunky-w+:lambda_reg=1`` -> ``chunky-wplus_lambda_reg-1``."""
        s = self.spec.replace("+", "plus").replace(":", "_").replace("=", "-").replace(",", "_")
        return re.sub(r"[^A-Za-z0-9._-]+", "_", s)

    @property
    def paper_name(self) -> str:
        """The row name the paper uses: ``W+``, ``Ours in W+``, ``Ours in W+ reg.``."""
        space = _SPACE_NAMES[self.space]
        name = f"Ours in {space}" if self.chunky else space
        return name + (" reg." if self.lambda_reg > 0 else "")

    def config(self, base: ProjectionConfig) -> ProjectionConfig:
        """``base`` with this method and options (validated by :class:`ProjectionConfig`)."""
        d = {**dataclasses.asdict(base), "method": self.method, **self.options}
        return ProjectionConfig.from_dict(d)


def parse_method_spec(text: str) -> MethodSpec:
    """``"chunky-w+:lambda_reg=1"`` -> :class:`MethodSpec`; unknown methods or options list the known ones."""
    spec = text.strip()
    method, _, opts = spec.partition(":")
    try:
        parse_method(method)
    except ValueError as e:
        raise MethodSpecError(f"method spec {spec!r}: {e}") from None
    names = {f.name for f in dataclasses.fields(ProjectionConfig)} - {"method"}
    options = {}
    for part in filter(None, (p.strip() for p in opts.split(","))):
        key, eq, val = part.partition("=")
        key = key.strip().replace("-", "_")
        if not eq or not key:
            raise MethodSpecError(f"method spec {spec!r}: option {part!r} is not KEY=VALUE "
                                  "(e.g. chunky-w+:lambda_reg=1,segments=8)")
        if key not in names:
            raise MethodSpecError(f"method spec {spec!r}: unknown option {key!r}; known: {', '.join(sorted(names))}")
        options[key] = _value(val)
    ms = MethodSpec(spec=spec, method=method.strip().lower(), options=options)
    try:
        ms.config(ProjectionConfig())
    except (TypeError, ValueError) as e:
        raise MethodSpecError(f"method spec {spec!r}: {e}") from None
    return ms


def parse_method_specs(text: str | list[str] | tuple[str, ...]) -> list[MethodSpec]:
    """Specs separated by spaces, semicolons or commas, or a list of specs. A comma-separated piece with
    ``=`` continues the previous spec's options: ``w,chunky-w+:lambda_reg=1,segments=8,s`` is three specs."""
    if isinstance(text, (list, tuple)):
        items = list(text)
    else:
        items = []
        for token in re.split(r"[;\s]+", text):
            for piece in filter(None, token.split(",")):
                if "=" in piece and ":" not in piece and items:
                    items[-1] += ("," if ":" in items[-1] else ":") + piece
                else:
                    items.append(piece)
    specs = [parse_method_spec(t) for t in items if t and t.strip()]
    if not specs:
        raise MethodSpecError("no methods given; e.g. --methods 'w chunky-w w+ chunky-w+'")
    seen = set()
    for s in specs:
        if s.slug in seen:
            raise MethodSpecError(f"method {s.spec!r} is given twice")
        seen.add(s.slug)
    return specs


def global_counterpart(spec: MethodSpec, specs: list[MethodSpec]) -> MethodSpec | None:
    """The global method in ``specs`` in the same space as the segment-wise ``spec`` (no options preferred)."""
    cands = [s for s in specs if not s.chunky and s.space == spec.space]
    cands.sort(key=lambda s: len(s.options))
    return cands[0] if cands else None


__all__ = ["MethodSpec", "MethodSpecError", "parse_method_spec", "parse_method_specs", "global_counterpart",
           "TABLE1_METHODS", "TABLE2_METHODS"]
