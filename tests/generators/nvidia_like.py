"""Write pickles with the exact structure of NVIDIA's StyleGAN2 network pickles, without NVIDIA's code.

``training_loop.py`` saves ``pickle.dump(dict(training_set_kwargs=..., G=G, D=D, G_ema=G_ema,
augment_pipe=augment_pipe), f)``. Every network object is a ``torch_utils.persistence`` class whose
``__reduce__`` returns ``(_reconstruct_persistent_obj, (meta,))`` with
``meta = dict(type='class', version=6, module_src=<source>, class_name=<name>, state=<__dict__>)``.
The stand-ins below live in temporary ``sys.modules`` entries named ``torch_utils.persistence`` and
``dnnlib.util`` so that the pickler emits the same globals; parameters are ``nn.Parameter``\\ s and
buffers tensors, so torch reduces them as in the real files (``torch._utils._rebuild_parameter``,
``_rebuild_tensor_v2``, ``torch.storage._load_from_bytes``); gains are numpy float64 scalars as in
``networks_stylegan2.py`` (``weight_gain = lr_multiplier / np.sqrt(in_features)``).
"""
from __future__ import annotations

import collections
import contextlib
import pickle
import re
import sys
import types

import numpy as np
import torch


def _reconstruct_persistent_obj(meta):  # pragma: no cover - stands in for NVIDIA's; never called
    raise RuntimeError("the test stand-in must never be called")


class EasyDict(dict):
    """Stand-in for dnnlib.EasyDict (pickled as the global dnnlib.util.EasyDict)."""


class Persistent:
    """Pickles exactly like a torch_utils.persistence-decorated object."""

    def __init__(self, class_name: str, state: dict, module_src: str):
        self.class_name, self.state, self.module_src = class_name, state, module_src

    def __reduce__(self):
        meta = dict(type="class", version=6, module_src=self.module_src, class_name=self.class_name,
                    state=self.state)
        return _reconstruct_persistent_obj, (meta,)


@contextlib.contextmanager
def fake_nvidia_modules():
    """Temporarily register ``torch_utils.persistence`` and ``dnnlib.util`` holding the stand-ins."""
    mods = {name: types.ModuleType(name) for name in ("torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util")}
    mods["torch_utils.persistence"]._reconstruct_persistent_obj = _reconstruct_persistent_obj
    mods["dnnlib.util"].EasyDict = EasyDict
    mods["dnnlib"].EasyDict = EasyDict
    old = {k: sys.modules.get(k) for k in mods}
    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    EasyDict.__module__ = "dnnlib.util"
    sys.modules.update(mods)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
        _reconstruct_persistent_obj.__module__ = __name__
        EasyDict.__module__ = __name__


_BUFFERS = ("w_avg", "noise_const", "resample_filter", "p", "Hz_geom")


def _class_for(path: str, root: str) -> str:
    last = path.rsplit(".", 1)[-1] if path else ""
    if not path:
        return root
    if re.fullmatch(r"fc\d+|affine|embed", last):
        return "FullyConnectedLayer"
    if re.fullmatch(r"b\d+", last):
        return "SynthesisBlock" if root == "Generator" else "DiscriminatorBlock"
    return {"mapping": "MappingNetwork", "synthesis": "SynthesisNetwork", "conv0": "SynthesisLayer",
            "conv1": "SynthesisLayer", "torgb": "ToRGBLayer", "skip": "Conv2dLayer", "b4": "DiscriminatorEpilogue",
            }.get(last, "Conv2dLayer")


def _module_state(class_name: str) -> dict:
    od = collections.OrderedDict
    return {"training": False, "_parameters": od(), "_buffers": od(), "_non_persistent_buffers_set": set(),
            "_backward_pre_hooks": od(), "_backward_hooks": od(), "_is_full_backward_hook": None,
            "_forward_hooks": od(), "_forward_hooks_with_kwargs": od(), "_forward_hooks_always_called": od(),
            "_forward_pre_hooks": od(), "_forward_pre_hooks_with_kwargs": od(), "_state_dict_hooks": od(),
            "_state_dict_pre_hooks": od(), "_load_state_dict_pre_hooks": od(), "_load_state_dict_post_hooks": od(),
            "_modules": od(), "_init_args": (), "_init_kwargs": EasyDict()}


def persistent_network(state_dict: dict, init_kwargs: dict, root: str = "Generator", module_src: str = "",
                       none_params: tuple[str, ...] = (), conv_clamp=None) -> Persistent:
    """A persistent-object tree whose ``state_dict()`` would be ``state_dict`` (official key names).

    Every module gets the attributes official ones carry (numpy float64 gains, ints, strings);
    ``none_params`` are dotted names registered as ``None`` parameters (e.g. a bias-less conv).
    """
    nodes: dict[str, dict] = {"": _module_state(root)}
    nodes[""]["_init_kwargs"] = _easy(init_kwargs)

    def node(path: str) -> dict:
        if path not in nodes:
            parent, _, name = path.rpartition(".")
            nodes[path] = _module_state(_class_for(path, root))
            node(parent)["_modules"][name] = path  # replaced by the object below
        return nodes[path]

    for key, t in state_dict.items():
        path, _, name = key.rpartition(".")
        st = node(path)
        if name in _BUFFERS:
            st["_buffers"][name] = t.detach().clone()
        else:
            st["_parameters"][name] = torch.nn.Parameter(t.detach().clone(), requires_grad=False)
    for dotted in none_params:
        path, _, name = dotted.rpartition(".")
        node(path)["_parameters"][name] = None
    for path, st in nodes.items():
        w = st["_parameters"].get("weight")
        if w is not None and _class_for(path, root) == "FullyConnectedLayer":
            lr = 0.01 if path.startswith("mapping.fc") else 1
            st.update(in_features=w.shape[1], out_features=w.shape[0], activation="lrelu" if lr != 1 else "linear",
                      weight_gain=lr / np.sqrt(w.shape[1]), bias_gain=lr)
        elif w is not None:
            st.update(in_channels=w.shape[1], out_channels=w.shape[0], act_gain=np.sqrt(2),
                      weight_gain=1 / np.sqrt(np.prod(w.shape[1:])), conv_clamp=conv_clamp, activation="lrelu")
    objs: dict[str, Persistent] = {}
    for path in sorted(nodes, key=lambda p: -p.count(".") if p else 1):  # children before parents
        objs[path] = Persistent(_class_for(path, root), nodes[path], module_src)
    for path, st in nodes.items():
        for name, child in list(st["_modules"].items()):
            st["_modules"][name] = objs[child]
    return objs[""]


def _easy(x):
    if isinstance(x, dict):
        return EasyDict({k: _easy(v) for k, v in x.items()})
    return x


def nvidia_network_pickle(G_sd: dict, init_kwargs: dict, module_src: str = "", protocol: int = 3,
                          extra: dict | None = None, numpy1: bool = False, conv_clamp=None) -> bytes:
    """Bytes of a snapshot ``{training_set_kwargs, G, D, G_ema, augment_pipe}`` like ``network-snapshot-*.pkl``.

    ``numpy1=True`` rewrites numpy 2's ``numpy._core.multiarray`` globals to numpy 1's ``numpy.core.multiarray``
    (as in the released NVIDIA files, written under numpy 1).
    """
    gen = torch.Generator().manual_seed(5)
    d_sd = {"b8.conv0.weight": torch.randn(4, 3, 3, 3, generator=gen), "b8.conv0.bias": torch.zeros(4),
            "b8.conv0.resample_filter": torch.ones(4, 4) / 16, "b4.fc.weight": torch.randn(8, 64, generator=gen),
            "b4.fc.bias": torch.zeros(8), "b4.out.weight": torch.randn(1, 8, generator=gen),
            "b4.out.bias": torch.zeros(1)}
    with fake_nvidia_modules():
        data = {
            "training_set_kwargs": EasyDict(class_name="training.dataset.ImageFolderDataset", path="~/ffhq.zip",
                                            use_labels=False, max_size=70000, xflip=True,
                                            resolution=init_kwargs["img_resolution"], random_seed=0),
            "G": persistent_network(G_sd, init_kwargs, "Generator", module_src),
            "D": persistent_network(d_sd, {"c_dim": 0, "img_resolution": 8, "img_channels": 3,
                                           "block_kwargs": {"freeze_layers": 0}}, "Discriminator", module_src,
                                    none_params=("b8.skip.bias",)),
            "G_ema": persistent_network(G_sd, init_kwargs, "Generator", module_src, conv_clamp=conv_clamp),
            "augment_pipe": persistent_network({"p": torch.zeros([]), "Hz_geom": torch.randn(12, generator=gen)},
                                               {"xflip": 1, "rotate90": 1, "xint": 1, "scale": 1},
                                               "AugmentPipe", module_src),
        }
        data.update(extra or {})
        raw = pickle.dumps(data, protocol=protocol)
    if numpy1:
        n = raw.count(b"numpy._core.multiarray")
        assert n > 0, "expected numpy 2 scalar globals to rewrite"
        if protocol <= 3:  # GLOBAL opcode: text "module\nname\n"
            raw = raw.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
        else:  # STACK_GLOBAL: SHORT_BINUNICODE with a one-byte length
            raw = raw.replace(b"\x8c\x16numpy._core.multiarray", b"\x8c\x15numpy.core.multiarray")
        assert b"numpy._core" not in raw and raw.count(b"numpy.core.multiarray") == n
    return raw
