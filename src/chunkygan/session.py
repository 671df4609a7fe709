"""EditSession: the layered, interactive editing scheme of Sec. 5 / Fig. 9, without any UI.

The user loads a photo, adds a region (a mask), projects it locally (one segment; the rest of the
image is held by the static mask of Eq. 3), edits its code, possibly fills holes (Fig. 10), and
commits the composite as the new base image; then repeats. Every step makes a new immutable
:class:`SessionState`; undo/redo move through them, and a failing step leaves the session as it
was. :meth:`EditSession.save` writes the whole history (images, masks, codes, edits and the
directions they use) losslessly into one folder, atomically; :meth:`EditSession.load` restores it
so that rendering gives bit-identical images.

Rendering one state: start from the base image ``I`` and paste every layer in order,
``O ← (1 − M)·O + M·G(X + Σ edits)`` (Eq. 3 with one segment and ``S^X = 1 − M``), with
``blend="poisson"`` layers colour-matched to ``O`` first (Poisson image editing).
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import torch

from .edit.directions import Direction, Edit, direction_delta
from .edit.refine import LossFn, fill_hole, fit_in_mask
from .latents import get_space

log = logging.getLogger(__name__)

FORMAT = "chunkygan.session/1"

#: ``preview(step, image [1,3,R,R])``: an intermediate picture for progress displays
Preview = Callable[[int, torch.Tensor], None]


class SessionError(ValueError):
    """A session step cannot be done as asked; the message says why."""


@dataclass(frozen=True)
class Layer:
    """One region: its mask ``[1,1,R,R]``, its code ``[1,...]`` (None before projection) and its edits."""

    mask: torch.Tensor
    space: str
    code: torch.Tensor | None = None
    edits: tuple[Edit, ...] = ()
    blend: str = "alpha"  # or "poisson"
    name: str = ""
    visible: bool = True  # a hidden layer is kept but not rendered
    #: pivotal tuning of this layer (:meth:`EditSession.tune_region`): ``{param name: Δ}``, rendered as θ + Δ
    delta: dict | None = field(default=None, compare=False)

    def edited_code(self, G) -> torch.Tensor:
        """The code with all edits applied (the code itself when there are none)."""
        if self.code is None:
            raise SessionError(f"layer {self.name!r} is not projected yet; project it first")
        x = self.code
        for e in self.edits:
            if float(e.strength) != 0.0:
                x = x + direction_delta(G, e.direction, e.strength, self.space, e.layers).to(x).unsqueeze(0)
        return x


@dataclass(frozen=True)
class SessionState:
    """The base image ``[1,3,R,R]`` and the layers pasted over it, plus a label of the step that made it."""

    base: torch.Tensor
    layers: tuple[Layer, ...] = ()
    label: str = "load"


class EditSession:
    """Layered editing state with undo/redo and lossless save/load (see the module docstring)."""

    def __init__(self, G, image: torch.Tensor, space: str = "w+"):
        R = G.resolution
        if image.dim() != 4 or image.shape[:2] != (1, 3):
            raise SessionError(f"image must be [1,3,H,W] in [-1,1], got {tuple(image.shape)}")
        if image.shape[-2:] != (R, R):
            from .imageio import fit_square

            image = fit_square(image, R)
        space = space.lower().replace("wplus", "w+")
        if space not in G.spaces:
            raise SessionError(f"generator {G.name!r} offers spaces {', '.join(G.spaces)}; not {space!r}")
        self.G = G
        self.space = space
        self._history: list[SessionState] = [SessionState(base=image.detach().cpu().float().clone())]
        self._index = 0

    @classmethod
    def from_file(cls, G, path: str | os.PathLike, space: str = "w+") -> "EditSession":
        """Start a session from an (already aligned) image file, centre-cropped and resized to ``G``'s resolution."""
        from .imageio import load_image

        return cls(G, load_image(path, resolution=G.resolution), space=space)

    # -- state & history ------------------------------------------------------------------------------
    @property
    def state(self) -> SessionState:
        return self._history[self._index]

    @property
    def layers(self) -> tuple[Layer, ...]:
        return self.state.layers

    @property
    def original(self) -> torch.Tensor:
        """The picture the session started from ``[1,3,R,R]`` (the first step's base)."""
        return self._history[0].base

    @property
    def history(self) -> list[str]:
        """Labels of all steps (the current one is ``history[position]``)."""
        return [s.label for s in self._history]

    @property
    def position(self) -> int:
        return self._index

    def _push(self, state: SessionState) -> SessionState:
        del self._history[self._index + 1:]  # a new step drops the redo branch
        self._history.append(state)
        self._index += 1
        return state

    def can_undo(self) -> bool:
        return self._index > 0

    def can_redo(self) -> bool:
        return self._index < len(self._history) - 1

    def undo(self) -> SessionState:
        if not self.can_undo():
            raise SessionError("nothing to undo")
        self._index -= 1
        return self.state

    def redo(self) -> SessionState:
        if not self.can_redo():
            raise SessionError("nothing to redo")
        self._index += 1
        return self.state

    # -- steps ----------------------------------------------------------------------------------------
    def _layer_index(self, index: int) -> int:
        n = len(self.layers)
        if n == 0:
            raise SessionError("there is no region yet; add one with add_region(mask)")
        if not -n <= index < n:
            raise SessionError(f"there is no layer {index}; the session has layers 0-{n - 1}")
        return index % n

    def _replace_layer(self, i: int, layer: Layer, label: str) -> SessionState:
        layers = list(self.layers)
        layers[i] = layer
        return self._push(replace(self.state, layers=tuple(layers), label=label))

    def add_region(self, mask: torch.Tensor, name: str = "", blend: str = "alpha") -> SessionState:
        """Add a region (a user mask ``[1,1,H,W]`` or ``[H,W]`` in [0,1]) as a new, unprojected layer."""
        m = _region_mask(mask, self.G.resolution)
        if blend not in ("alpha", "poisson"):
            raise SessionError(f"blend must be 'alpha' or 'poisson', not {blend!r}")
        layer = Layer(mask=m, space=self.space, name=name or f"region{len(self.layers)}", blend=blend)
        return self._push(replace(self.state, layers=self.layers + (layer,), label=f"add {layer.name}"))

    def project_region(self, index: int = -1, steps: int = 100, lr: float = 0.05, loss: LossFn | None = None,
                       init: torch.Tensor | None = None, callback: Callable[[int, float], None] | None = None,
                       preview: Preview | None = None, preview_every: int = 10) -> SessionState:
        """Project the layer's region of the current picture (one segment; the rest is static, Eq. 3).

        ``preview(step, image [1,3,R,R])`` gets the picture with the current fit pasted into the region
        every ``preview_every`` steps (for progress displays; the result does not depend on it).
        """
        i = self._layer_index(index)
        layer = self.layers[i]
        target = self.render(upto=i)
        x0 = get_space(layer.space).mean(self.G, 1) if init is None else init
        dev = _device(self.G)
        loss = _previewing(loss, target.to(dev), layer.mask.to(dev), preview, preview_every, dev)
        fit = fit_in_mask(self.G, layer.space, x0, target.to(dev), layer.mask.to(dev),
                          steps=steps, lr=lr, loss=loss, callback=callback)
        return self._replace_layer(i, replace(layer, code=fit.code.cpu(), edits=(), delta=None),
                                   f"project {layer.name}")

    def tune_region(self, index: int = -1, steps: int = 50, lr: float = 3e-4, locality: float = 0.0,
                    target_lpips: float | None = None, callback=None) -> SessionState:
        """Pivotal tuning of the generator around the layer's code inside its region (PTI, project/pti.py):
        the layer then renders with its own weight delta (the base generator is shared, not copied)."""
        from .project.io import Projection
        from .project.pti import PivotalTuner, PTIConfig

        i = self._layer_index(index)
        layer = self.layers[i]
        if layer.code is None:
            raise SessionError(f"layer {layer.name!r} is not projected yet; project it first")
        R = self.G.resolution
        proj = Projection(codes=layer.code, space=layer.space, masks=torch.ones(1, 1, R, R),
                          static_mask=1 - layer.mask, target=self.render(upto=i), generator=self.G.name,
                          config={"loss": "lpips-alex", "loss_resolution": 256, "l2_weight": 1.0})
        tuner = PivotalTuner(self.G, proj.to(_device(self.G)), PTIConfig(steps=steps, lr=lr, locality=locality,
                                                                          target_lpips=target_lpips))
        delta = tuner.run(callback)
        return self._replace_layer(i, replace(layer, delta={k: v.cpu() for k, v in delta.tensors[0].items()}),
                                   f"tune {layer.name}")

    def set_edit(self, direction: Direction, strength: float, layers=None, index: int = -1) -> SessionState:
        """Set the strength of ``direction`` on a layer (0 removes it); other edits stay."""
        i = self._layer_index(index)
        layer = self.layers[i]
        if layer.code is None:
            raise SessionError(f"layer {layer.name!r} is not projected yet; project it first")
        new = Edit(direction, float(strength), layers)
        direction_delta(self.G, direction, 0.0 if strength == 0 else strength, layer.space, layers)  # validates
        edits = [e for e in layer.edits if e.direction.name != direction.name]
        if strength != 0:
            edits.append(new)
        return self._replace_layer(i, replace(layer, edits=tuple(edits)), f"edit {layer.name}: {direction.name}="
                                                                              f"{strength:g}")

    def fill_hole(self, correction_mask: torch.Tensor, index: int = -1, steps: int = 100, lr: float = 0.03,
                  loss: LossFn | None = None, callback: Callable[[int, float], None] | None = None,
                  preview: Preview | None = None, preview_every: int = 10) -> SessionState:
        """Fig. 10: refine the layer's edited code inside ``correction_mask`` S₂; the result is a new layer.

        ``preview``/``preview_every`` as in :meth:`project_region`.
        """
        i = self._layer_index(index)
        layer = self.layers[i]
        R = self.G.resolution
        s2 = correction_mask.detach().float().cpu()
        while s2.dim() < 4:
            s2 = s2.unsqueeze(0)
        if s2.shape != (1, 1, R, R):
            raise SessionError(f"the correction mask must be [1,1,{R},{R}] or [{R},{R}], got {tuple(correction_mask.shape)}")
        composite = self.render()
        dev = _device(self.G)
        loss = _previewing(loss, composite.to(dev), s2.to(dev), preview, preview_every, dev)
        res = fill_hole(self.G, layer.space, layer.edited_code(self.G).to(dev), composite.to(dev), s2.to(dev),
                        steps=steps, lr=lr, loss=loss, callback=callback)
        log.info("hole filling: loss inside S2 %.4g -> %.4g", res.loss_before, res.loss_after)
        new = Layer(mask=s2, space=layer.space, code=res.code.cpu(), name=f"{layer.name}-fill")
        return self._push(replace(self.state, layers=self.layers + (new,), label=f"fill {layer.name}"))

    def remove_layer(self, index: int = -1) -> SessionState:
        i = self._layer_index(index)
        layers = list(self.layers)
        gone = layers.pop(i)
        return self._push(replace(self.state, layers=tuple(layers), label=f"remove {gone.name}"))

    def update_layer(self, index: int = -1, *, name: str | None = None, visible: bool | None = None,
                     blend: str | None = None, mask: torch.Tensor | None = None, feather: float = 0.0) -> SessionState:
        """Rename, show/hide, change the blend of, repaint (``mask`` ``[1,1,H,W]``/``[H,W]`` in [0,1]) or
        feather (Gaussian, ``feather`` px, :func:`chunkygan.composite.feather`) one layer, as one step."""
        from .composite import feather as feather_masks

        i = self._layer_index(index)
        layer = self.layers[i]
        changes, what = {}, []
        if name is not None and name != layer.name:
            if not name.strip():
                raise SessionError("a layer name cannot be empty")
            changes["name"], what = name.strip(), what + [f"rename {layer.name} to {name.strip()}"]
        if visible is not None and bool(visible) != layer.visible:
            changes["visible"], what = bool(visible), what + [f"{'show' if visible else 'hide'} {layer.name}"]
        if blend is not None and blend != layer.blend:
            if blend not in ("alpha", "poisson"):
                raise SessionError(f"blend must be 'alpha' or 'poisson', not {blend!r}")
            changes["blend"], what = blend, what + [f"{blend} blend {layer.name}"]
        m = layer.mask if mask is None else _region_mask(mask, self.G.resolution)
        if mask is not None:
            what.append(f"paint {layer.name}")
        if feather:
            m = feather_masks(m, float(feather), renormalise=False)
            what.append(f"feather {layer.name} {feather:g}px")
        if mask is not None or feather:
            changes["mask"] = m
        if not changes:
            raise SessionError(f"layer {layer.name!r} already looks like that; nothing to change")
        return self._replace_layer(i, replace(layer, **changes), "; ".join(what))

    def set_edits(self, direction: Direction, strength: float, layers=None,
                  indices: list[int] | None = None) -> SessionState:
        """:meth:`set_edit` on several layers as one step (None: every projected layer, a global edit)."""
        return self._push(self._edited_state(direction, strength, layers, indices))

    def preview_edits(self, direction: Direction, strength: float, layers=None,
                      indices: list[int] | None = None) -> torch.Tensor:
        """The render ``[1,3,R,R]`` that :meth:`set_edits` would give, without making a step (slider dragging)."""
        return self.render(state=self._edited_state(direction, strength, layers, indices))

    def _edited_state(self, direction: Direction, strength: float, layers, indices) -> SessionState:
        idx = [self._layer_index(i) for i in indices] if indices is not None else \
            [i for i, L in enumerate(self.layers) if L.code is not None]
        if not idx:
            raise SessionError("no projected layer to edit; project a region first")
        new = list(self.layers)
        for i in idx:
            new[i] = _with_edit(self.G, new[i], direction, strength, layers)
        who = "all" if indices is None else ",".join(self.layers[i].name for i in idx)
        return replace(self.state, layers=tuple(new), label=f"edit {who}: {direction.name}={strength:g}")

    def set_channel_edit(self, style_layer: int, channel: int, strength: float, index: int = -1) -> SessionState:
        """A StyleSpace channel edit (S space ``(style_layer, channel)``; 0 removes it) on one layer.

        A W/W+ layer is first converted to S codes (``s = A(w)``, exact; its W/W+ edits keep working,
        mapped through the same affines), so channel edits work on every StyleGAN2 layer.
        """
        i = self._layer_index(index)
        layer = self.layers[i]
        if layer.code is None:
            raise SessionError(f"layer {layer.name!r} is not projected yet; project it first")
        if layer.space != "s":
            if "s" not in self.G.spaces or layer.space not in ("w", "w+"):
                raise SessionError(f"StyleSpace edits need a generator with S space and a w/w+/s layer; "
                                   f"{self.G.name!r} / {layer.space!r} do not allow it")
            dev = _device(self.G)
            ws = layer.code.to(dev)
            if layer.space == "w":
                ws = ws.unsqueeze(1).expand(-1, self.G.num_ws, -1)
            layer = replace(layer, space="s", code=get_space("s").from_ws(self.G, ws).cpu())
        d = Direction(name=f"s{int(style_layer)}_{int(channel)}", space="s", vector=None, generator=self.G.name,
                      channel=(int(style_layer), int(channel)), source="stylespace")
        why = d.fits(self.G)
        if why:
            raise SessionError(why)
        return self._replace_layer(i, _with_edit(self.G, layer, d, strength, None),
                                   f"edit {layer.name}: {d.name}={strength:g}")

    def add_segments(self, codes: torch.Tensor, masks: torch.Tensor, names: list[str] | None = None,
                     label: str = "") -> SessionState:
        """Add K projected segments (codes ``[K,...]``, masks ``[K,1,R,R]`` summing to one) as K layers, one step.

        Layer k gets the "over" alpha ``S_k / Σ_{j<=k} S_j``, so pasting the layers in order gives
        exactly ``Σ_k S_k·G(X_k)`` (Eq. 1) while each layer stays separately editable.
        """
        K = codes.shape[0]
        if masks.shape[0] != K or masks.dim() != 4:
            raise SessionError(f"need one mask [K,1,R,R] per code; got {tuple(masks.shape)} for {K} codes")
        m = masks.detach().float().cpu()
        if m.shape[-2:] != (self.G.resolution,) * 2:
            m = torch.nn.functional.interpolate(m, size=(self.G.resolution,) * 2, mode="bilinear", align_corners=False)
        over = (m / m.cumsum(0).clamp_min(1e-8)).clamp(0, 1)
        names = names or [f"segment{k}" for k in range(K)]
        new = tuple(Layer(mask=over[k:k + 1].clone(), space=self.space, code=codes[k:k + 1].detach().cpu().clone(),
                          name=names[k]) for k in range(K))
        return self._push(replace(self.state, layers=self.layers + new, label=label or f"segments x{K}"))

    def project_auto(self, segments: int = 4, steps: int = 100, mask_source=None,
                     callback: Callable[[int, float], None] | None = None, preview: Preview | None = None,
                     preview_every: int = 10, **config) -> SessionState:
        """Automatic ChunkyGAN projection (Eq. 1) of the current picture into ``segments`` new layers.

        Masks: k-means (default), or ``mask_source`` (e.g. the segment generator's masks, ``--auto``).
        ``config``: further :class:`chunkygan.project.ProjectionConfig` fields (``loss``, ``lr`` ...); the
        defaults are the editing recipe (:data:`~chunkygan.project.projector.EDITING_RECIPE`: λ_reg and the W+
        layer-spread prior), since the layers are made to be edited.
        """
        from .project.projector import EDITING_RECIPE, ProjectionConfig, Projector

        cfg = ProjectionConfig(method=f"chunky-{self.space}", segments=segments, steps=steps,
                               **{**EDITING_RECIPE, **config})
        pj = Projector(self.G, self.render().clamp(-1, 1).to(_device(self.G)), cfg, masks=mask_source,
                       generator_name=self.G.name)
        for info in pj:
            if callback:
                callback(info.step - 1, info.loss)
            if preview and (info.step % max(1, preview_every) == 0 or info.step == steps):
                preview(info.step, pj.output().cpu())
        res = pj.result()
        return self.add_segments(res.codes, res.masks, label=f"auto {pj.num_segments} segments")

    def touched_mask(self) -> torch.Tensor:
        """``[1,1,R,R]``: where any projected, visible layer of the current state or of a step before it
        (committed ones included) covers the picture — the area a paste-back into the photo must replace."""
        R = self.G.resolution
        out = torch.zeros(1, 1, R, R)
        for st in self._history[: self._index + 1]:
            for L in st.layers:
                if L.code is not None and L.visible:
                    out = torch.maximum(out, L.mask)
        return out

    def commit(self) -> SessionState:
        """Make the current composite the new base image (the next input, Fig. 9)."""
        if not self.layers:
            raise SessionError("nothing to commit: there are no layers")
        out = self.render()
        return self._push(SessionState(base=out.cpu(), layers=(), label="commit"))

    # -- rendering ------------------------------------------------------------------------------------
    @torch.no_grad()
    def render(self, upto: int | None = None, state: SessionState | None = None) -> torch.Tensor:
        """The composite ``[1,3,R,R]`` of ``state`` (default: the current one), using the first ``upto`` layers."""
        from .composite import poisson_blend

        st = self.state if state is None else state
        layers = st.layers if upto is None else st.layers[:upto]
        dev = _device(self.G)
        out = st.base.to(dev)
        for layer in layers:
            if layer.code is None or not layer.visible:
                continue  # an unprojected or hidden region shows the picture under it
            img = self._layer_image(layer, dev)
            m = layer.mask.to(dev)
            if layer.blend == "poisson":
                out = poisson_blend(img, out, m)
            else:
                out = torch.where(m > 0, m * img + (1 - m) * out, out)
        return out.cpu()

    def _layer_image(self, layer: Layer, dev: torch.device) -> torch.Tensor:
        """``G(edited code)`` of one layer ``[1,3,R,R]``. The last 32 are kept: layers are immutable and shared
        by the steps that did not change them, and G is frozen, so an edit of one layer among many, undo and
        redo render only what changed (the images are the same, bit for bit)."""
        cache = self.__dict__.setdefault("_layer_images", {})  # (load() builds sessions without __init__)
        hit = cache.get(id(layer))
        if hit is not None and hit[0] is layer and hit[1].device == dev:  # the entry keeps its layer alive
            return hit[1]
        if layer.delta is None:
            img = get_space(layer.space).render(self.G, layer.edited_code(self.G).to(dev))
        else:  # a tuned layer: its delta on the shared base weights
            from .project.pti import render_with

            img = render_with(self.G, layer.delta, layer.edited_code(self.G).to(dev), layer.space)
        if len(cache) >= 32:
            cache.pop(next(iter(cache)))
        cache[id(layer)] = (layer, img)
        return img

    # -- save / load ----------------------------------------------------------------------------------
    def save(self, folder: str | os.PathLike) -> Path:
        """Write the whole session (all states, undo position) into ``folder`` atomically.

        Files: ``session.json`` (structure, labels, generator, direction metadata),
        ``tensors.safetensors`` (every image, mask, code and direction vector, stored once each),
        ``current.png`` (a preview of the current render).
        """
        from safetensors.torch import save_file

        from .imageio import save_image

        folder = Path(folder)
        tensors: dict[str, torch.Tensor] = {}
        seen: dict[int, str] = {}

        def put(t: torch.Tensor) -> str:
            key = seen.get(id(t))
            if key is None:
                key = f"t{len(tensors)}"
                tensors[key] = t.detach().cpu().contiguous().clone()
                seen[id(t)] = key
            return key

        directions: dict[int, dict] = {}

        def put_dir(d: Direction) -> int:
            k = id(d)
            if k not in directions:
                meta = d.metadata()
                meta["vector"] = None if d.vector is None else put(d.vector)
                directions[k] = {"index": len(directions), **meta}
            return directions[k]["index"]

        states = []
        for st in self._history:
            layers = []
            for L in st.layers:
                layers.append({"mask": put(L.mask), "space": L.space, "code": None if L.code is None else put(L.code),
                               "blend": L.blend, "name": L.name, "visible": L.visible,
                               "delta": None if L.delta is None else {n: put(t) for n, t in L.delta.items()},
                               "edits": [{"direction": put_dir(e.direction), "strength": e.strength,
                                          "layers": list(e.layers) if e.layers else None} for e in L.edits]})
            states.append({"base": put(st.base), "label": st.label, "layers": layers})
        doc = {"format": FORMAT, "generator": self.G.name, "space": self.space, "position": self._index,
               "fingerprint": _fingerprint_if_tuned(self.G, self._history),
               "states": states, "directions": sorted(directions.values(), key=lambda d: d["index"])}
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        try:
            save_file(tensors, str(tmp / "tensors.safetensors"), metadata={"format": FORMAT})
            (tmp / "session.json").write_text(json.dumps(doc, indent=1))
            save_image(self.render(), tmp / "current.png")
            _swap_in(tmp, folder)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike, G) -> "EditSession":
        """Restore a session written by :meth:`save` for the same generator."""
        from safetensors.torch import load_file

        folder = Path(folder)
        jf, tf = folder / "session.json", folder / "tensors.safetensors"
        if not jf.is_file() or not tf.is_file():
            raise SessionError(f"{folder}: not a saved session (session.json and tensors.safetensors are needed)")
        try:
            doc = json.loads(jf.read_text())
        except json.JSONDecodeError as e:
            raise SessionError(f"{jf}: damaged ({e})") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise SessionError(f"{jf}: format {doc.get('format') if isinstance(doc, dict) else None!r} is not {FORMAT!r}")
        if doc.get("generator") != G.name:
            raise SessionError(f"{folder}: the session was made with generator {doc.get('generator')!r}, not {G.name!r}")
        if doc.get("fingerprint") and doc["fingerprint"] != _fingerprint_if_tuned(G, [True]):
            raise SessionError(f"{folder}: the session's tuned layers were made from generator {doc['generator']!r} "
                               f"(weights {doc['fingerprint']}), not from these weights "
                               f"({_fingerprint_if_tuned(G, [True])}); load it with that generator")
        try:
            tensors = load_file(str(tf))
        except Exception as e:  # noqa: BLE001 - safetensors raises its own types for damaged files
            raise SessionError(f"{tf}: not a readable safetensors file ({e})") from None
        _check_session(doc, tensors, G, str(jf))
        try:
            return cls._from_doc(doc, tensors, G)
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise SessionError(f"{jf}: damaged entry ({type(e).__name__}: {e}); the session cannot be restored") from None

    @classmethod
    def _from_doc(cls, doc: dict, tensors: dict, G) -> "EditSession":
        """Build the session from a validated ``session.json`` and its tensors (see :meth:`load`)."""
        dirs = []
        for d in doc["directions"]:
            dirs.append(Direction(name=d["name"], space=d["space"],
                                  vector=None if d["vector"] is None else tensors[d["vector"]],
                                  generator=d["generator"], layers=tuple(d["layers"]) if d["layers"] else None,
                                  channel=tuple(d["channel"]) if d["channel"] else None, scale=d["scale"],
                                  default_strength=d["default_strength"], strength_range=tuple(d["strength_range"]),
                                  source=d["source"], description=d["description"]))
        states = []
        for s in doc["states"]:
            layers = tuple(Layer(mask=tensors[L["mask"]], space=L["space"],
                                 code=None if L["code"] is None else tensors[L["code"]],
                                 edits=tuple(Edit(dirs[e["direction"]], e["strength"],
                                                  tuple(e["layers"]) if e["layers"] else None) for e in L["edits"]),
                                 blend=L["blend"], name=L["name"], visible=L.get("visible", True),
                                 delta=None if not L.get("delta") else {n: tensors[k] for n, k in L["delta"].items()})
                           for L in s["layers"])
            states.append(SessionState(base=tensors[s["base"]], layers=layers, label=s["label"]))
        self = cls.__new__(cls)
        self.G, self.space = G, doc["space"]
        self._history, self._index = states, int(doc["position"])
        return self


def _region_mask(mask: torch.Tensor, R: int) -> torch.Tensor:
    """A user region ``[H,W]``/``[1,1,H,W]`` in [0,1] as ``[1,1,R,R]`` float on the CPU (checked)."""
    m = mask.detach().float().cpu()
    while m.dim() < 4:
        m = m.unsqueeze(0)
    if m.shape[:2] != (1, 1):
        raise SessionError(f"a region mask must be [1,1,H,W] or [H,W], got {tuple(mask.shape)}")
    if m.shape[-2:] != (R, R):
        m = torch.nn.functional.interpolate(m, size=(R, R), mode="bilinear", align_corners=False)
    if m.min() < 0 or m.max() > 1:
        raise SessionError("a region mask must lie in [0,1]")
    if float(m.sum()) == 0:
        raise SessionError("the region mask is empty; mark at least one pixel")
    return m


def _with_edit(G, layer: Layer, direction: Direction, strength: float, layers) -> Layer:
    """``layer`` with the strength of ``direction`` set (0 removes it); other edits stay."""
    if layer.code is None:
        raise SessionError(f"layer {layer.name!r} is not projected yet; project it first")
    direction_delta(G, direction, 0.0 if strength == 0 else strength, layer.space, layers)  # validates
    edits = [e for e in layer.edits if e.direction.name != direction.name]
    if strength != 0:
        edits.append(Edit(direction, float(strength), layers))
    return replace(layer, edits=tuple(edits))


def _previewing(loss, target: torch.Tensor, mask: torch.Tensor, preview: Preview | None, every: int, dev):
    """``loss`` (a LossFn, a registered name or None = masked L2) that also shows ``preview`` the fit pasted
    into ``target`` inside ``mask`` every ``every`` evaluations; the values it returns are unchanged."""
    if preview is None:
        return loss
    from .edit.refine import masked_l2, named_loss

    base = named_loss(loss, dev) if isinstance(loss, str) else (loss or masked_l2)
    calls = [0]

    def tapped(pred, tgt, m):
        if calls[0] % max(1, every) == 0:
            p = pred.detach()
            preview(calls[0], torch.where(mask > 0, mask * p + (1 - mask) * target, target).cpu())
        calls[0] += 1
        return base(pred, tgt, m)

    return tapped


def _fingerprint_if_tuned(G, history) -> str | None:
    """The generator's weight fingerprint when any layer is tuned (their deltas only fit these weights)."""
    if not any(h is True or any(L.delta is not None for L in h.layers) for h in history):
        return None
    from .project.pti import generator_fingerprint

    return generator_fingerprint(G)


#: the files :meth:`EditSession.save` writes: the only ones it ever replaces (nothing else is touched)
SESSION_FILES = ("tensors.safetensors", "current.png", "session.json")


def _swap_in(tmp: Path, folder: Path) -> None:
    """Move the saved files from ``tmp`` into ``folder``, replacing only the session's own files.

    A new, empty or session-only folder is swapped in whole (one complete version exists at every
    moment); a saved session's folder that also holds other files gets the three files replaced one
    by one (each atomically, ``session.json`` last) and keeps the rest; any other non-empty folder,
    or a path that is a file or link, is refused.
    """
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise SessionError(f"{folder} is not a folder; choose an empty or new folder for the session")
    names = {e.name for e in os.scandir(folder)} if folder.exists() else set()
    if names and "session.json" not in names:
        raise SessionError(f"{folder} exists and is not a saved session; choose an empty or new folder")
    if names - set(SESSION_FILES):  # the user's own files live here too: replace only ours
        from .fileio import _check_target

        for name in SESSION_FILES:
            _check_target(folder / name)
        for name in SESSION_FILES:
            os.replace(tmp / name, folder / name)
        return
    old = None
    if folder.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old-", dir=folder.parent))
        os.rmdir(old)
        os.replace(folder, old)
    os.replace(tmp, folder)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _check_session(doc, tensors: dict, G, where: str) -> None:
    """Validate a loaded ``session.json`` and its tensors (types, shapes, finite values, known indices).

    Raises :class:`SessionError` naming the bad entry, e.g. ``states[1].layers[0].code: not finite``.
    """
    from .latents import get_space

    R = G.resolution

    def bad(entry: str, why: str):
        raise SessionError(f"{where}: {entry}: {why}; the session is damaged (save it again from a working copy)")

    def want(entry: str, value, types, what: str):
        types = types if isinstance(types, tuple) else (types,)
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            bad(entry, f"expected {what}, got {type(value).__name__}")
        return value

    def tensor(entry: str, key, shape=None, lo=None, hi=None) -> None:
        if not isinstance(key, str) or key not in tensors:
            bad(entry, f"refers to tensor {key!r}, which tensors.safetensors does not hold")
        t = tensors[key]
        if not t.is_floating_point():
            bad(entry, f"expected a float tensor, got {t.dtype}")
        if shape is not None and tuple(t.shape) != tuple(shape):
            bad(entry, f"shape {tuple(t.shape)}, expected {tuple(shape)}")
        if not bool(torch.isfinite(t).all()):
            bad(entry, "holds NaN or infinite values")
        if lo is not None and t.numel() and (float(t.min()) < lo or float(t.max()) > hi):
            bad(entry, f"values outside [{lo:g}, {hi:g}]")

    want("session.json", doc, dict, "a JSON object")
    want("space", doc.get("space"), str, "a string")
    if doc["space"] not in G.spaces:
        bad("space", f"{doc['space']!r} is not a latent space of {G.name!r} ({', '.join(G.spaces)})")
    states = want("states", doc.get("states"), list, "a list")
    if not states:
        bad("states", "empty")
    position = want("position", doc.get("position"), int, "a whole number")
    if not 0 <= position < len(states):
        bad("position", f"{position} is not a state index 0-{len(states) - 1}")
    dirs = want("directions", doc.get("directions", []), list, "a list")
    for i, d in enumerate(dirs):
        want(f"directions[{i}]", d, dict, "an object")
        want(f"directions[{i}].name", d.get("name"), str, "a string")
        if d.get("vector") is not None:
            tensor(f"directions[{i}].vector", d["vector"])
    for si, st in enumerate(states):
        e0 = f"states[{si}]"
        want(e0, st, dict, "an object")
        tensor(f"{e0}.base", st.get("base"), (1, 3, R, R))
        want(f"{e0}.label", st.get("label", ""), str, "a string")
        for li, L in enumerate(want(f"{e0}.layers", st.get("layers"), list, "a list")):
            e1 = f"{e0}.layers[{li}]"
            want(e1, L, dict, "an object")
            tensor(f"{e1}.mask", L.get("mask"), (1, 1, R, R), 0.0, 1.0)
            sp = want(f"{e1}.space", L.get("space"), str, "a string")
            if sp not in G.spaces:
                bad(f"{e1}.space", f"{sp!r} is not a latent space of {G.name!r}")
            if L.get("code") is not None:
                tensor(f"{e1}.code", L["code"], (1, *get_space(sp).mean(G, 1).shape[1:]))
            if L.get("blend", "alpha") not in ("alpha", "poisson"):
                bad(f"{e1}.blend", f"{L.get('blend')!r} is not 'alpha' or 'poisson'")
            want(f"{e1}.name", L.get("name", ""), str, "a string")
            want(f"{e1}.visible", L.get("visible", True), bool, "true or false")
            for name, key in (want(f"{e1}.delta", L.get("delta") or {}, dict, "an object")).items():
                tensor(f"{e1}.delta[{name!r}]", key)
            for ei, e in enumerate(want(f"{e1}.edits", L.get("edits", []), list, "a list")):
                e2 = f"{e1}.edits[{ei}]"
                want(e2, e, dict, "an object")
                di = want(f"{e2}.direction", e.get("direction"), int, "a whole number")
                if not 0 <= di < len(dirs):
                    bad(f"{e2}.direction", f"{di} is not a direction index 0-{len(dirs) - 1}")
                x = want(f"{e2}.strength", e.get("strength"), (int, float), "a number")
                if x != x or abs(x) == float("inf"):
                    bad(f"{e2}.strength", "not a finite number")
                lay = e.get("layers")
                if lay is not None and not (isinstance(lay, list) and all(isinstance(v, int) for v in lay)):
                    bad(f"{e2}.layers", "expected a list of whole numbers or null")


def _device(G) -> torch.device:
    try:
        return next(G.parameters()).device
    except (StopIteration, AttributeError):
        return torch.device("cpu")


__all__ = ["EditSession", "SessionState", "Layer", "SessionError"]
