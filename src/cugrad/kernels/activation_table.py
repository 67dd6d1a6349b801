"""The activations: one row each, the one place an activation is defined above its CUDA code.

A row's kernel code is not written here: it is read by name from the ``ACT_<NAME> = n`` enum of
kernels/activations.cu, and the two must list the same names (checked at import). The wrappers,
ops, nn (functional, modules, ``ACTIVATIONS``, init gains), the Tensor methods, the CLI's
``--activation`` choices and the tests all read this table; adding an activation is its cases in
the .cu and a row here.

A row holds, with ``p`` the activation's one parameter (its default in ``param``):
- ``forward(z, p)``: the NumPy twin of ``apply_act`` (may overwrite ``z``, a float array);
- ``grad(g, s, p)``: the twin of ``act_grad``, dx = g·act'(x) written from the saved array ``s``,
  the output y when ``saves == "y"``, else the input x;
- ``d2(s, p, m)``: d act'(s) / ds for create_graph, built from ``m`` (differentiable ``exp``,
  ``tanh``, ``sigmoid``, ``softplus``, ``abs``, and ``mask(s, lo, hi)``: the constant 1 where
  lo < s < hi); None where it is 0 almost everywhere;
- ``gain(p)`` and ``init``: the recommended init gain and scheme ("kaiming" or "xavier");
- ``module``: the nn class name; ``integers``: "float" (an integer tensor becomes float32) or
  "refuse" (PyTorch keeps its integer dtype, which the kernel lacks);
- ``onnx(g, x, p)``: its ONNX nodes (opset 17) on the value named ``x``, built with
  ``g(op_type, *inputs, **attributes)`` (returns the node's output) and ``g.const(number)``.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..backend import erf
from .loader import kernel_dir

SELU_SCALE = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717
_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


@dataclass(frozen=True)
class Act:
    name: str
    module: str
    math: str
    forward: Callable
    grad: Callable
    saves: str = "x"
    d2: Callable | None = None
    param: tuple | None = None
    check: Callable | None = None
    gain: Callable = lambda p: 1.0
    init: str = "xavier"
    integers: str = "float"
    onnx: Callable | None = None


def _sigmoid(z):
    """1/(1 + e^-z) without overflow warnings (exactly 0 where e^-z overflows)."""
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-z))


def _softplus(z):
    return np.logaddexp(0, z)


def _piecewise(cond, a, b):
    """np.where that returns an array (never a NumPy scalar) for 0-d inputs."""
    return np.asarray(np.where(cond, a, b))


def _sigmoid_fw(z, p):
    # 1/(1+exp(-z)) has no cancellation for any z; where exp(-z) overflows to inf the result is
    # exactly 0 (not a denormal, which would slow every BLAS call that reads it).
    with np.errstate(over="ignore"):
        np.negative(z, out=z)
        np.exp(z, out=z)
        z += 1
        return np.reciprocal(z, out=z)


def _sigmoid_grad(g, s, p):
    t = np.subtract(1, s, out=np.empty_like(s))  # out=: an array even when s is 0-d
    t *= s
    return np.multiply(g, t, out=t)


def _tanh_grad(g, s, p):
    t = np.multiply(s, s, out=np.empty_like(s))
    np.subtract(1, t, out=t)
    return np.multiply(g, t, out=t)


def _exp_neg(z):
    with np.errstate(over="ignore"):
        return np.exp(z)


def _gelu_cdf(x):
    return 0.5 * (1 + erf(x * _SQRT_HALF))


def _neg(s, m):
    """1 where s < 0, else 0; exp(s·_neg) stays finite for large positive s (no 0·∞)."""
    return m.mask(s, -math.inf, 0)


def _gelu_onnx(g, x, p):
    """½x(1 + erf(x/√2))."""
    erf = g("Erf", g("Mul", x, g.const(_SQRT_HALF)))
    return g("Mul", g("Mul", x, g.const(0.5)), g("Add", erf, g.const(1.0)))


def _mish_d2(s, p, m):
    sg, t = m.sigmoid(s), m.tanh(m.softplus(s))
    return sg * (1 - t * t) * (2 + s * (1 - sg) - 2 * s * t * sg)


ROWS = (
    Act("identity", "Identity", "y = x", lambda z, p: z, lambda g, s, p: g.copy(), saves="y",
        onnx=lambda g, x, p: x),
    Act("relu", "ReLU", "y = max(0, x);  dx = g·[y > 0]",
        lambda z, p: np.maximum(z, 0, out=z), lambda g, s, p: np.multiply(g, s > 0),
        saves="y", gain=lambda p: math.sqrt(2.0), init="kaiming", integers="refuse",
        onnx=lambda g, x, p: g("Relu", x)),
    Act("leaky_relu", "LeakyReLU", "y = x if x > 0 else p·x (p = negative_slope >= 0);  dx = g·(1 if y > 0 else p)",
        lambda z, p: np.multiply(z, p, out=z, where=z <= 0),
        lambda g, s, p: _piecewise(s > 0, g, g * p), saves="y", param=("negative_slope", 0.01),
        check=lambda p: None if p >= 0 else f"negative_slope must be >= 0, got {p}",
        gain=lambda p: math.sqrt(2.0 / (1.0 + p * p)), init="kaiming", integers="refuse",
        onnx=lambda g, x, p: g("LeakyRelu", x, alpha=p)),
    Act("sigmoid", "Sigmoid", "y = 1/(1 + e^-x) (overflow-safe);  dx = g·y(1 − y)",
        _sigmoid_fw, _sigmoid_grad, saves="y", d2=lambda s, p, m: 1 - 2 * s, onnx=lambda g, x, p: g("Sigmoid", x)),
    Act("tanh", "Tanh", "y = tanh x;  dx = g·(1 − y²)",
        lambda z, p: np.tanh(z, out=z), _tanh_grad, saves="y",
        d2=lambda s, p, m: -2 * s, gain=lambda p: 5.0 / 3.0, onnx=lambda g, x, p: g("Tanh", x)),
    Act("silu", "SiLU", "y = x·σ(x) (swish);  dx = g·σ(x)(1 + x(1 − σ(x)))",
        lambda z, p: z * _sigmoid(z), lambda g, s, p: g * _sigmoid(s) * (1 + s * (1 - _sigmoid(s))),
        d2=lambda s, p, m: m.sigmoid(s) * (1 - m.sigmoid(s)) * (2 + s * (1 - 2 * m.sigmoid(s))),
        gain=lambda p: math.sqrt(2.0), init="kaiming", onnx=lambda g, x, p: g("Mul", x, g("Sigmoid", x))),
    Act("elu", "ELU", "y = x if x > 0 else α(eˣ − 1);  dx = g·(1 if x > 0 else αeˣ)",
        lambda z, p: _piecewise(z > 0, z, p * np.expm1(np.minimum(z, 0))),
        lambda g, s, p: _piecewise(s > 0, g, g * p * np.exp(np.minimum(s, 0))), param=("alpha", 1.0),
        d2=lambda s, p, m: _neg(s, m) * p * m.exp(s * _neg(s, m)), gain=lambda p: math.sqrt(2.0), init="kaiming",
        onnx=lambda g, x, p: g("Elu", x, alpha=p)),
    Act("selu", "SELU", "y = λx if x > 0 else λα(eˣ − 1) (λ ≈ 1.0507, α ≈ 1.6733);  dx = g·λ(1 if x > 0 else αeˣ)",
        lambda z, p: SELU_SCALE * _piecewise(z > 0, z, SELU_ALPHA * np.expm1(np.minimum(z, 0))),
        lambda g, s, p: g * SELU_SCALE * _piecewise(s > 0, 1.0, SELU_ALPHA * np.exp(np.minimum(s, 0))),
        d2=lambda s, p, m: _neg(s, m) * (SELU_SCALE * SELU_ALPHA) * m.exp(s * _neg(s, m)), gain=lambda p: 0.75,
        onnx=lambda g, x, p: g("Selu", x)),
    Act("celu", "CELU", "y = x if x > 0 else α(e^(x/α) − 1) (α ≠ 0);  dx = g·(1 if x > 0 else e^(x/α))",
        lambda z, p: _piecewise(z > 0, z, p * np.expm1(np.minimum(z, 0) / p)),
        lambda g, s, p: _piecewise(s > 0, g, g * _exp_neg(np.minimum(s, 0) / p)), param=("alpha", 1.0),
        check=lambda p: None if p != 0 else "alpha must not be 0",
        d2=lambda s, p, m: _neg(s, m) * m.exp(s * _neg(s, m) / p) / p, gain=lambda p: math.sqrt(2.0), init="kaiming",
        onnx=lambda g, x, p: g("Celu", x, alpha=p)),
    Act("mish", "Mish", "y = x·tanh(softplus x);  with t = tanh(softplus x): dx = g·(t + xσ(x)(1 − t²))",
        lambda z, p: z * np.tanh(_softplus(z)),
        lambda g, s, p: g * (np.tanh(_softplus(s)) + s * _sigmoid(s) * (1 - np.tanh(_softplus(s)) ** 2)),
        d2=_mish_d2, gain=lambda p: math.sqrt(2.0), init="kaiming",
        onnx=lambda g, x, p: g("Mul", x, g("Tanh", g("Softplus", x)))),
    Act("hardswish", "Hardswish", "y = x·relu6(x + 3)/6;  dx = g·(0 if x ≤ −3, x/3 + ½ if x < 3, else 1)",
        lambda z, p: z * np.clip(z + 3, 0, 6) / 6,
        lambda g, s, p: g * _piecewise(s <= -3, 0.0, _piecewise(s < 3, s / 3 + 0.5, 1.0)),
        d2=lambda s, p, m: m.mask(s, -3, 3) / 3, gain=lambda p: math.sqrt(2.0), init="kaiming",
        onnx=lambda g, x, p: g("HardSwish", x)),
    Act("hardsigmoid", "Hardsigmoid", "y = relu6(x + 3)/6;  dx = g/6 for −3 < x < 3, else 0",
        lambda z, p: np.clip(z + 3, 0, 6) / 6, lambda g, s, p: _piecewise((s > -3) & (s < 3), g / 6, 0.0),
        onnx=lambda g, x, p: g("HardSigmoid", x, alpha=1.0 / 6.0, beta=0.5)),
    Act("relu6", "ReLU6", "y = min(max(0, x), 6);  dx = g·[0 < x < 6]",
        lambda z, p: np.clip(z, 0, 6, out=z), lambda g, s, p: g * ((s > 0) & (s < 6)),
        gain=lambda p: math.sqrt(2.0), init="kaiming", integers="refuse",
        onnx=lambda g, x, p: g("Clip", x, g.const(0.0), g.const(6.0))),
    Act("softsign", "Softsign", "y = x/(1 + |x|);  dx = g/(1 + |x|)²",
        lambda z, p: z / (1 + np.abs(z)), lambda g, s, p: g / (1 + np.abs(s)) ** 2,
        d2=lambda s, p, m: -2 * (m.mask(s, 0, math.inf) - m.mask(s, -math.inf, 0)) / (1 + m.abs(s)) ** 3,
        onnx=lambda g, x, p: g("Softsign", x)),
    Act("logsigmoid", "LogSigmoid", "y = ln σ(x) = −softplus(−x);  dx = g·σ(−x)",
        lambda z, p: -_softplus(-z), lambda g, s, p: g * _sigmoid(-s),
        d2=lambda s, p, m: -m.sigmoid(s) * (1 - m.sigmoid(s)),
        onnx=lambda g, x, p: g("Neg", g("Softplus", g("Neg", x)))),
    Act("gelu", "GELU", "y = x·Φ(x) = ½x(1 + erf(x/√2)) (exact);  dx = g·(Φ(x) + xφ(x))",
        lambda z, p: z * _gelu_cdf(z),
        lambda g, s, p: g * (_gelu_cdf(s) + s * _INV_SQRT_2PI * np.exp(-0.5 * s * s)),
        d2=lambda s, p, m: _INV_SQRT_2PI * m.exp(-0.5 * s * s) * (2 - s * s),
        gain=lambda p: math.sqrt(2.0), init="kaiming", onnx=_gelu_onnx),
    Act("tanhshrink", "Tanhshrink", "y = x − tanh x;  dx = g·tanh²x",
        lambda z, p: z - np.tanh(z), lambda g, s, p: g * np.tanh(s) ** 2,
        d2=lambda s, p, m: 2 * m.tanh(s) * (1 - m.tanh(s) ** 2), onnx=lambda g, x, p: g("Sub", x, g("Tanh", x))),
)

TABLE = {row.name: row for row in ROWS}


def _kernel_codes():
    """name -> code from the ``ACT_<NAME> = n`` enum of kernels/activations.cu."""
    text = (kernel_dir() / "activations.cu").read_text()
    return {m.group(1).lower(): int(m.group(2)) for m in re.finditer(r"\bACT_(\w+)\s*=\s*(\d+)", text)}


CODES = _kernel_codes()
if set(CODES) != set(TABLE):
    raise ImportError(f"cugrad: kernels/activations.cu's activations {sorted(CODES)} differ from the table's "
                      f"{sorted(TABLE)} (src/cugrad/kernels/activation_table.py)")
