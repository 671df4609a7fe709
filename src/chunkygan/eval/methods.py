"""Method specs of the evaluation: a projection method plus its own options, ``chunky-w+:lambda_reg=1``.

A spec is ``METHOD[:KEY=VALUE[,KEY=VALUE...]]``: ``METHOD`` is a :data:`~chunkygan.project.projector.METHODS`
name (``w``, ``chunky-w+``, ...) and each ``KEY`` a :class:`~chunkygan.project.projector.ProjectionConfig`
field (``lambda_reg``, ``segments``, ``steps``, ``lr``, ``l2_weight``, ...). Options override the run's
common settings for that method only.

Pivotal tuning after the projection (PTI, beyond the paper; :mod:`chunkygan.project.pti`): the options
``pti=STEPS``, ``pti_lr``, ``pti_target_lpips``, ``pti_locality`` and ``pti_mode`` (any of them turns the
stage on; a bare ``pti`` takes the run's default number of steps), or the issue's names ``w+ + pti`` and
``chunky-w+ + pti``, written ``w++pti`` / ``chunky-w++pti`` on a command line. A tuned row is scored on
its tuned reconstruction; its projection is the one of the same spec without the PTI options, so
``w+`` and ``w++pti`` share one projection (the same budget, computed once).
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
#: the issue's PTI rows (#16): W+ and chunky-W+ with and without pivotal tuning
PTI_METHODS = ("w+", "w++pti", "chunky-w+", "chunky-w++pti")
#: spec option -> :class:`~chunkygan.project.pti.PTIConfig` field
PTI_OPTIONS = {"pti": "steps", "pti_lr": "lr", "pti_target_lpips": "target_lpips", "pti_locality": "locality",
               "pti_mode": "mode"}
_PTI_SUFFIX = re.compile(r"\s*\+\s*pti\b", re.IGNORECASE)  # "w+ + pti" / "w+ +pti" -> "w++pti"


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
    """One evaluated method: ``spec`` as written, the projection ``method`` and its ``options``; ``pti``
    (None: no tuning) holds :class:`~chunkygan.project.pti.PTIConfig` fields (``steps`` None: the run's
    default) and ``projection_spec`` is the spec of its projection (the spec without PTI options)."""

    spec: str
    method: str
    options: dict = field(default_factory=dict, hash=False, compare=False)
    pti: dict | None = field(default=None, hash=False, compare=False)
    projection_spec: str = field(default="", hash=False, compare=False)

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
        return _slug(self.spec)

    @property
    def projection_slug(self) -> str:
        """The folder name of this spec's projection (shared by ``w+`` and ``w++pti``)."""
        return _slug(self.projection_spec or self.spec)

    @property
    def label(self) -> str:
        """The row's name in tables: the spec, or for a tuned row the issue's ``w+ + pti`` form."""
        if self.pti is None:
            return self.spec
        extra = ",".join(f"{k}={v}" for k, v in self.pti.items() if v is not None)
        return f"{self.projection_spec} + pti" + (f" ({extra})" if extra else "")

    @property
    def paper_name(self) -> str:
        """The row name the paper uses: ``W+``, ``Ours in W+``, ``Ours in W+ reg.`` (``+ PTI``: beyond the paper)."""
        space = _SPACE_NAMES[self.space]
        name = f"Ours in {space}" if self.chunky else space
        return name + (" reg." if self.lambda_reg > 0 else "") + (" + PTI" if self.pti is not None else "")

    def pti_config(self, default_steps: int | None = None):
        """The :class:`~chunkygan.project.pti.PTIConfig` of the tuning stage (None for an untuned row)."""
        if self.pti is None:
            return None
        from ..project.pti import PTIConfig

        d = {k: v for k, v in self.pti.items() if v is not None}
        if "steps" not in d and default_steps is not None:
            d["steps"] = default_steps
        return PTIConfig(**d)

    def config(self, base: ProjectionConfig) -> ProjectionConfig:
        """``base`` with this method and options (validated by :class:`ProjectionConfig`)."""
        d = {**dataclasses.asdict(base), "method": self.method, **self.options}
        return ProjectionConfig.from_dict(d)


def _slug(spec: str) -> str:
    s = spec.replace("+", "plus").replace(":", "_").replace("=", "-").replace(",", "_")
    return re.sub(r"[^A-Za-z0-9._-]+", "_", s)


def parse_method_spec(text: str) -> MethodSpec:
    """``"chunky-w+:lambda_reg=1"`` -> :class:`MethodSpec`; unknown methods or options list the known ones.
    ``"chunky-w++pti"`` (or ``"chunky-w+ + pti"``) is ``chunky-w+`` followed by pivotal tuning."""
    spec = _PTI_SUFFIX.sub("+pti", text.strip())
    method, _, opts = spec.partition(":")
    tuned = False
    for part in ("method", "opts"):  # the alias suffix: w++pti, chunky-w+:lambda_reg=1+pti
        value = method if part == "method" else opts
        if value.lower().endswith("+pti"):
            tuned = True
            method, opts = (value[:-4], opts) if part == "method" else (method, value[:-4])
    try:
        parse_method(method)
    except ValueError as e:
        raise MethodSpecError(f"method spec {spec!r}: {e}") from None
    names = {f.name for f in dataclasses.fields(ProjectionConfig)} - {"method"}
    options, pti, kept = {}, {}, []
    for part in filter(None, (p.strip() for p in opts.split(","))):
        key, eq, val = part.partition("=")
        key = key.strip().replace("-", "_")
        if key == "pti" and not eq:  # a bare `pti`: the run's default number of steps
            pti["steps"] = None
            continue
        if not eq or not key:
            raise MethodSpecError(f"method spec {spec!r}: option {part!r} is not KEY=VALUE "
                                  "(e.g. chunky-w+:lambda_reg=1,segments=8)")
        if key in PTI_OPTIONS:
            pti[PTI_OPTIONS[key]] = _value(val)
            continue
        if key not in names:
            known = sorted(names | set(PTI_OPTIONS))
            raise MethodSpecError(f"method spec {spec!r}: unknown option {key!r}; known: {', '.join(known)}")
        options[key] = _value(val)
        kept.append(part)
    if tuned:
        pti.setdefault("steps", None)
    method = method.strip().lower()
    ms = MethodSpec(spec=spec, method=method, options=options, pti=pti or None,
                    projection_spec=method + (":" + ",".join(kept) if kept else ""))
    try:
        ms.config(ProjectionConfig())
        ms.pti_config(default_steps=1)
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
        for token in re.split(r"[;\s]+", _PTI_SUFFIX.sub("+pti", text)):
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
    """The global method in ``specs`` in the same space as the segment-wise ``spec`` (no options preferred),
    tuned when ``spec`` is tuned (``chunky-w++pti`` -> ``w++pti``) and untuned when it is not."""
    cands = [s for s in specs if not s.chunky and s.space == spec.space and (s.pti is None) == (spec.pti is None)]
    cands.sort(key=lambda s: len(s.options) + len(s.pti or {}))
    return cands[0] if cands else None


def untuned_counterpart(spec: MethodSpec, specs: list[MethodSpec]) -> MethodSpec | None:
    """For a tuned ``spec``, the untuned method in ``specs`` with the same projection (``w++pti`` -> ``w+``)."""
    if spec.pti is None:
        return None
    return next((s for s in specs if s.pti is None and s.projection_slug == spec.projection_slug), None)


__all__ = ["MethodSpec", "MethodSpecError", "parse_method_spec", "parse_method_specs", "global_counterpart",
           "untuned_counterpart", "TABLE1_METHODS", "TABLE2_METHODS", "PTI_METHODS", "PTI_OPTIONS"]
