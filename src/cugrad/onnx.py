"""ONNX export of the models cugrad builds: ``cugrad.onnx.export(model, path, example_input)``.

An ``nn.Sequential`` or ``nn.MLP`` (nested Sequentials too) of Linear, the activations, LayerNorm,
Identity and Dropout becomes one ONNX graph at an explicit opset: Linear → Gemm (weight kept
(out, in), ``transB=1``) plus its fused activation, LayerNorm → LayerNormalization, Dropout → nothing
(the graph is the model in eval mode). The batch axis is symbolic (``batch``) unless
``dynamic_batch=False``. Initializers keep the state_dict names. Needs the ``onnx`` package
(``pip install 'cugrad[onnx]'``).
"""
from __future__ import annotations

import math

import numpy as np

from . import backend, io
from .autograd import no_grad
from .nn import layers
from .kernels import ACTIVATION_TABLE
from .nn.module import Module
from .tensor import Tensor

__all__ = ["export", "DEFAULT_OPSET", "MIN_OPSET"]

DEFAULT_OPSET = 17     # LayerNormalization's first opset; ONNX Runtime has run it since 1.14
MIN_OPSET = 17
_ELEMENT = {"float32": "FLOAT", "float64": "DOUBLE", "float16": "FLOAT16"}
_SUPPORTED = "Sequential, Linear, LayerNorm, Dropout, Identity and the activation modules (ReLU, SiLU, GELU, ...)"


def export(model: Module, path, example_input, *, opset: int = DEFAULT_OPSET, dynamic_batch: bool = True,
           input_name: str = "input", output_name: str = "output", normalize=None, metadata=None):
    """Write ``model`` as an ONNX file at ``path`` and return the ModelProto (checked by
    ``onnx.checker``). ``example_input`` (a Tensor or array of shape (batch, features)) fixes the
    feature width and is run through the model once, so a mismatch fails here, not at inference.
    ``normalize=(mean, std)`` puts (x − mean) / std in front (as ``cugrad train`` feeds its model);
    ``metadata`` (str → str) goes into the model's metadata_props."""
    try:
        import onnx   # optional: the onnx extra
        from onnx import helper, numpy_helper
    except ImportError:
        raise ImportError("cugrad.onnx.export needs the onnx package: pip install 'cugrad[onnx]'") from None
    if isinstance(opset, bool) or not isinstance(opset, int) or opset < MIN_OPSET:
        raise ValueError(f"cugrad.onnx.export: opset must be an int >= {MIN_OPSET} (LayerNormalization), got {opset!r}")
    if not isinstance(model, Module):
        raise TypeError(f"cugrad.onnx.export: model must be a cugrad nn.Module, got {type(model).__name__}")
    x = example_input if isinstance(example_input, Tensor) else Tensor(example_input)
    if x.ndim != 2:
        raise ValueError(f"cugrad.onnx.export: example_input must be 2-D (batch, features), got shape {x.shape}")
    params = list(model.parameters())
    dtype = (params[0].dtype if params else x.dtype).name
    if dtype not in _ELEMENT:
        raise TypeError(f"cugrad.onnx.export: the model's dtype {dtype} has no ONNX export here "
                        f"(expected one of {', '.join(_ELEMENT)}); .to(dtype='float32') first")
    steps = list(_flatten(model, ""))            # refuses what it cannot export before any work
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            out = model(x.to(device=model.device, dtype=dtype))
    finally:
        model.train(was_training)

    graph = _Graph(helper, numpy_helper, np.dtype(dtype), input_name)
    if normalize is not None:
        mean, std = (np.asarray(v, dtype=dtype).reshape(-1) for v in normalize)
        if mean.shape != (x.shape[1],) or std.shape != (x.shape[1],):
            raise ValueError(f"cugrad.onnx.export: normalize needs a mean and a std of {x.shape[1]} values, "
                             f"got {mean.size} and {std.size}")
        graph.op("Sub", [graph.current, graph.constant("normalize.mean", mean)], "normalize")
        graph.op("Div", [graph.current, graph.constant("normalize.std", std)], "normalize")
    for name, module in steps:
        graph.add(name, module)
    graph.finish(output_name)
    elem = getattr(onnx.TensorProto, _ELEMENT[dtype])
    batch = "batch" if dynamic_batch else x.shape[0]
    proto = helper.make_model(
        helper.make_graph(
            graph.nodes, "cugrad", [helper.make_tensor_value_info(input_name, elem, [batch, x.shape[1]])],
            [helper.make_tensor_value_info(output_name, elem, [batch, out.shape[1]])], graph.initializers),
        opset_imports=[helper.make_opsetid("", opset)], producer_name="cugrad")
    if metadata:
        helper.set_model_props(proto, {str(k): str(v) for k, v in metadata.items()})
    onnx.checker.check_model(proto, full_check=True)
    io.atomic_write(path, proto.SerializeToString())
    return proto


def _flatten(module, prefix):
    """(dotted name, leaf module) in the order they run; a module with no export is refused by name."""
    if isinstance(module, layers.Sequential):
        for key, child in module.named_children():
            yield from _flatten(child, f"{prefix}.{key}" if prefix else key)
        return
    row = ACTIVATION_TABLE.get(getattr(module, "activation", None) or "identity")
    if type(module) not in _EXPORTS or row is not None and row.onnx is None:
        where = f"module {prefix!r} ({type(module).__name__})" if prefix else f"a {type(module).__name__}"
        raise TypeError(f"cugrad.onnx.export: cannot export {where}; ONNX export supports {_SUPPORTED}")
    yield prefix, module


class _Graph:
    """The nodes and initializers built so far, and the name of the value the next node reads."""

    def __init__(self, helper, numpy_helper, dtype, input_name):
        self.helper, self.numpy_helper, self.dtype = helper, numpy_helper, dtype
        self.nodes, self.initializers, self.current = [], [], input_name

    def add(self, name, module):
        _EXPORTS[type(module)](self, name or "model", module)

    def constant(self, name, value):
        """An initializer holding ``value`` (an array or number) in the model's dtype."""
        array = backend.to_device(value.data, backend.CPU) if isinstance(value, Tensor) else np.asarray(value)
        self.initializers.append(self.numpy_helper.from_array(np.ascontiguousarray(array, dtype=self.dtype), name))
        return name

    def op(self, op_type, inputs, name, **attrs):
        """Append one node reading ``inputs`` (the current value when None) and make its output current."""
        out = f"{name}/{op_type}_{len(self.nodes)}"
        self.nodes.append(self.helper.make_node(op_type, inputs or [self.current], [out], name=out, **attrs))
        self.current = out
        return out

    def finish(self, output_name):
        """Name the last value ``output_name`` (an Identity node when nothing was computed)."""
        if self.nodes and self.current == self.nodes[-1].output[0]:
            self.nodes[-1].output[0] = output_name
        else:
            self.nodes.append(self.helper.make_node("Identity", [self.current], [output_name], name="output"))
        self.current = output_name

    def activation(self, kind, name, param=None):
        """The nodes of activation ``kind`` on the current value: its table row's ``onnx`` form
        with ``param`` (None: the row's default), or ``gelu_tanh``."""
        if kind == "gelu_tanh":
            self.current = _gelu_tanh(_Nodes(self, name), self.current, None)
            return
        row = ACTIVATION_TABLE[kind]
        if param is None and row.param is not None:
            param = row.param[1]
        self.current = row.onnx(_Nodes(self, name), self.current, None if param is None else float(param))

    def softplus(self, name, beta, threshold):
        """softplus(βx)/β, and x itself where βx > threshold (PyTorch's rule) when one is given."""
        x = self.current
        beta_name = self.constant(f"{name}.beta", beta) if beta != 1 else None
        scaled = self.op("Mul", [x, beta_name], name) if beta_name else x
        y = self.op("Softplus", [scaled], name)
        if beta_name:
            y = self.op("Div", [y, beta_name], name)
        if threshold is not None:
            above = self.op("Greater", [scaled, self.constant(f"{name}.threshold", threshold)], name)
            self.op("Where", [above, x, y], name)



class _Nodes:
    """What an activation's ONNX form is built with (see kernels.activation_table):
    ``g(op_type, *inputs, **attributes)`` appends a node and returns its output's name,
    ``g.const(number)`` an initializer's; all named after the module ``name``."""

    def __init__(self, graph, name):
        self.graph, self.name, self.count = graph, name, 0

    def __call__(self, op_type, *inputs, **attributes):
        return self.graph.op(op_type, list(inputs), self.name, **attributes)

    def const(self, value):
        self.count += 1
        return self.graph.constant(f"{self.name}.c{self.count}", value)


def _gelu_tanh(g, x, p):
    """½x(1 + tanh(√(2/π)(x + 0.044715x³))): ONNX has no Gelu before opset 20."""
    inner = g("Add", x, g("Mul", g("Mul", x, g("Mul", x, x)), g.const(0.044715)))
    t = g("Tanh", g("Mul", inner, g.const(math.sqrt(2 / math.pi))))
    return g("Mul", g("Mul", x, g.const(0.5)), g("Add", t, g.const(1.0)))


def _linear(graph, name, m):
    inputs = [graph.current, graph.constant(f"{name}.weight", m.weight)]
    if m.bias is not None:
        inputs.append(graph.constant(f"{name}.bias", m.bias))
    graph.op("Gemm", inputs, name, transB=1)
    if m.activation is not None:
        graph.activation(m.activation, name, m.negative_slope)


def _layer_norm(graph, name, m):
    n = m.normalized_shape
    scale = m.weight if m.weight is not None else np.ones(n)
    shift = m.bias if m.bias is not None else np.zeros(n)
    graph.op("LayerNormalization", [graph.current, graph.constant(f"{name}.weight", scale),
                                    graph.constant(f"{name}.bias", shift)], name, axis=-1, epsilon=float(m.eps))


def _activation_module(graph, name, m):
    graph.activation(m.activation, name, next(iter(m.kwargs.values()), None))


def _gelu(graph, name, m):
    graph.activation("gelu" if m.approximate == "none" else "gelu_tanh", name)


def _softplus(graph, name, m):
    graph.softplus(name, float(m.beta), None if m.threshold is None else float(m.threshold))


def _nothing(graph, name, m):
    """Dropout at inference, Identity: the value passes through unchanged."""


_EXPORTS = {layers.Linear: _linear, layers.LayerNorm: _layer_norm, layers.Dropout: _nothing,
            layers.Identity: _nothing, layers.GELU: _gelu, layers.Softplus: _softplus,
            **{cls: _activation_module for cls in layers.ACTIVATIONS.values()
               if cls not in (layers.GELU, layers.Softplus)}}
