"""Run a small, feed-forward ONNX graph as a PyTorch module (so gradients flow through it).

Supports exactly the operators listed in :data:`OPS` (enough for InsightFace's ArcFace
MobileFaceNet: Conv, PRelu, Add, Flatten, Gemm, BatchNormalization). A graph using anything else is
refused with :class:`OnnxConversionError` naming the operators, rather than converted approximately.
Nothing from the file is executed: initializers become buffers, nodes map to torch functions.
"""
from __future__ import annotations

import os
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class OnnxConversionError(ValueError):
    """The ONNX graph uses something this converter does not support."""


def _conv(x, w, b=None, *, group=1, pads=(0, 0, 0, 0), strides=(1, 1), dilations=(1, 1), kernel_shape=None,
          auto_pad="NOTSET"):
    if auto_pad not in ("NOTSET", b"NOTSET"):
        raise OnnxConversionError(f"Conv auto_pad={auto_pad!r} is not supported")
    t, l, bo, r = pads
    if (t, l) != (bo, r):
        x = F.pad(x, (l, r, t, bo))
        pad = 0
    else:
        pad = (t, l)
    return F.conv2d(x, w, b, stride=tuple(strides), padding=pad, dilation=tuple(dilations), groups=group)


def _prelu(x, slope):
    if x.dim() >= 2 and slope.numel() == x.shape[1] and slope.shape[0] == x.shape[1]:  # per-channel: one kernel
        return F.prelu(x, slope.reshape(-1))
    return torch.where(x >= 0, x, x * slope)


def _gemm(a, b, c=None, *, alpha=1.0, beta=1.0, transA=0, transB=0):
    a = a.transpose(-1, -2) if transA else a
    b = b.transpose(-1, -2) if transB else b
    y = alpha * (a @ b)
    return y if c is None else y + beta * c


def _batchnorm(x, w, b, mean, var, *, epsilon=1e-5, momentum=0.9, training_mode=0):
    return F.batch_norm(x, mean, var, w, b, training=False, eps=epsilon)


def _flatten(x, *, axis=1):
    return x.reshape(int(np.prod(x.shape[:axis])), -1)


OPS: dict[str, Callable] = {
    "Conv": _conv,
    "PRelu": _prelu,
    "Add": lambda a, b: a + b,
    "Sub": lambda a, b: a - b,
    "Mul": lambda a, b: a * b,
    "Relu": lambda x: F.relu(x),
    "Sigmoid": lambda x: torch.sigmoid(x),
    "Flatten": _flatten,
    "Gemm": _gemm,
    "BatchNormalization": _batchnorm,
    "Identity": lambda x: x,
}


class OnnxModule(nn.Module):
    """A frozen PyTorch module that evaluates the graph of an ONNX file with one input and one output.

    Args:
        path: the ``.onnx`` file (only parsed with the ``onnx`` package, never executed).
    """

    def __init__(self, path: str | os.PathLike):
        super().__init__()
        try:
            import onnx
            from onnx import numpy_helper
        except ImportError:
            raise ImportError("converting ONNX models needs the onnx package: pip install 'chunkygan[eval]' "
                              "(or pip install onnx)") from None
        model = onnx.load(str(path))
        g = model.graph
        unsupported = sorted({n.op_type for n in g.node} - set(OPS))
        if unsupported:
            raise OnnxConversionError(f"{path}: operators {', '.join(unsupported)} are not supported by the converter")
        init_names = {i.name for i in g.initializer}
        inputs = [i.name for i in g.input if i.name not in init_names]
        if len(inputs) != 1 or len(g.output) != 1:
            raise OnnxConversionError(f"{path}: expected one input and one output, got {inputs} -> "
                                      f"{[o.name for o in g.output]}")
        self.input_name, self.output_name = inputs[0], g.output[0].name
        self._key: dict[str, str] = {}
        for i, init in enumerate(g.initializer):
            key = f"w{i}"
            self._key[init.name] = key
            arr = numpy_helper.to_array(init)
            if arr.dtype.kind != "f":
                raise OnnxConversionError(f"{path}: initializer {init.name} has dtype {arr.dtype}")
            self.register_buffer(key, torch.from_numpy(arr.astype(np.float32).copy()))
        self._nodes = []
        for n in g.node:
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
            attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in attrs.items()}
            self._nodes.append((n.op_type, list(n.input), list(n.output), attrs))
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        env: dict[str, torch.Tensor] = {self.input_name: x}

        def get(name: str) -> torch.Tensor | None:
            if name == "":
                return None
            if name in env:
                return env[name]
            return getattr(self, self._key[name])

        for op, ins, outs, attrs in self._nodes:
            y = OPS[op](*[get(n) for n in ins], **attrs)
            env[outs[0]] = y
        return env[self.output_name]
