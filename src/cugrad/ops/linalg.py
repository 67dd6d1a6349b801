"""Matrix products: matmul (2-D and batched) and the fused linear layer."""
from __future__ import annotations

import math

import numpy as np

from ..autograd import Function
from .activation import ActivationGrad, activation_param, bias_grad
from .. import backend, kernels, precision
from ..kernels import gemm
from .broadcasting import broadcast_shape, require_tensor, unbroadcast
from .promotion import promote
from .shape import astype, reshape


class MatMul(Function):
    """Y = A·B (batched over leading axes);  dL/dA = G·Bᵀ, dL/dB = Aᵀ·G — transposed views, no Jacobian."""

    fp_quiet = True

    @staticmethod
    def forward(ctx, a, b):
        check_matmul("matmul", a.shape, b.shape)
        if a.dtype != b.dtype:
            a, b = promote(a, b)
        ctx.save_for_backward(a, b)
        return _mm(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        need_a, need_b = ctx.needs_input_grad
        ga = unbroadcast(_mm(g, b.swapaxes(-1, -2)), a.shape) if need_a else None
        gb = unbroadcast(_mm(a.swapaxes(-1, -2), g), b.shape) if need_b else None
        return ga, gb


class Linear(Function):
    """y = act(x·Wᵀ + b) with W of shape (out, in), as in PyTorch.

    dz = act'(z) ⊙ g (from the saved output y, or the saved z = x·Wᵀ + b for the activations
    whose table row saves their input);  dL/dx = dz·W,  dL/dW = dzᵀ·x,  dL/db = Σ_rows dz.
    Under create_graph a saved z is recomputed from x, W and b, so that act'(z) has their graph.
    On a GPU the product is one cuBLAS GEMM on a transposed view, and bias + activation one fused
    kernel writing over the GEMM's output (two passes where z is kept).
    """

    fp_quiet = True

    @staticmethod
    def forward(ctx, x, weight, bias, activation, negative_slope):
        z = _mm(x, weight.T)
        if kernels.ACTIVATION_TABLE[activation].saves == "y":
            y = saved = kernels.bias_activation(z, bias, activation, negative_slope, out=z)
        else:
            saved = z if bias is None else kernels.bias_activation(z, bias, "identity", out=z)
            y = kernels.bias_activation(z, None, activation, negative_slope)
        ctx.activation, ctx.negative_slope = activation, negative_slope
        ctx.save_for_backward(x, weight, bias, None if activation == "identity" else saved)
        return y

    @staticmethod
    def backward(ctx, g):
        x, weight, bias, s = ctx.saved
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        if s is not None and ctx.create_graph and kernels.ACTIVATION_TABLE[ctx.activation].saves == "x":
            s = Linear.apply(x, weight, bias, "identity", 0.0)      # z, a constant when saved
        dz = g if s is None else ActivationGrad.apply(g, s, ctx.activation, ctx.negative_slope)
        dx = _mm(dz, weight) if need_x else None
        dw = _mm(dz.T, x) if need_w else None
        db = bias_grad(dz) if need_b else None
        return dx, dw, db, None, None


def _mm(a, b):
    """a @ b in the operands' dtype. bfloat16 products the array library has no bfloat16 GEMM for
    (NumPy's; CuPy's batched matmul, which refuses the dtype) are formed in float32 and rounded
    back: what a cuBLAS bfloat16 GEMM (fp32 accumulation) writes. Inside a CUDA-graph capture the
    GEMM goes through cugrad's capture-safe cuBLAS handle (CuPy refuses cuBLAS there)."""
    bf16_without_gemm = isinstance(a, np.ndarray) or a.ndim > 2 or b.ndim > 2
    if bf16_without_gemm and a.dtype == b.dtype and backend.is_bfloat16(a.dtype):
        return _mm(a.astype(np.float32), b.astype(np.float32)).astype(a.dtype)
    return gemm.matmul(a, b) if gemm.is_bound(a) else a @ b


def check_matmul(op, shape_a, shape_b):
    """A ValueError naming ``op`` unless the shapes multiply (inner sizes equal, batch axes broadcast)."""
    if len(shape_a) < 2 or len(shape_b) < 2:
        raise ValueError(f"{op}: operands need at least 2 dimensions here, got shapes {tuple(shape_a)} and {tuple(shape_b)}")
    if shape_a[-1] != shape_b[-2]:
        raise ValueError(
            f"{op}: shapes {tuple(shape_a)} and {tuple(shape_b)} are not aligned "
            f"({shape_a[-1]} != {shape_b[-2]})"
        )
    broadcast_shape(op, shape_a[:-2], shape_b[:-2])


def autocast_operands(*operands):
    """Inside ``cugrad.autocast``, floating operands cast to its dtype (differentiably: their
    gradients come back in their own dtype); unchanged outside it."""
    dtype = precision.autocast_dtype()
    if dtype is None:
        return operands
    return tuple(
        astype(t, dtype) if t is not None and t.dtype != dtype and t.dtype.kind == "f" else t
        for t in operands
    )


def matmul(a, b):
    """NumPy's matmul: 1-D operands are promoted to a row (left) or a column (right) and squeezed after."""
    require_tensor("matmul", "the first operand", a)
    require_tensor("matmul", "the second operand", b)
    a, b = autocast_operands(a, b)
    a_vector, b_vector = a.ndim == 1, b.ndim == 1
    if a_vector:
        a = reshape(a, 1, a.shape[0])
    if b_vector:
        b = reshape(b, b.shape[0], 1)
    out = MatMul.apply(a, b)
    if a_vector or b_vector:
        shape = out.shape[:-2] + (() if a_vector else out.shape[-2:-1]) + (() if b_vector else out.shape[-1:])
        out = reshape(out, shape)
    return out


def linear(x, weight, bias=None, activation=None, negative_slope=None):
    """act(x·Wᵀ + b) in one fused op; ``x`` may have leading batch axes, ``weight`` is (out, in).
    ``x`` is cast to the weight's dtype first (a float32 layer fed int64 or float64 computes in float32).

    ``activation``: None or a name of ``nn.ACTIVATIONS``'s kernel rows (``kernels.ACTIVATIONS``),
    ``negative_slope`` its parameter (leaky_relu's slope, elu's and celu's alpha; None: the default).
    """
    activation = activation or "identity"
    negative_slope = activation_param("linear", activation, negative_slope)
    for name, value in (("input", x), ("weight", weight)) + ((("bias", bias),) if bias is not None else ()):
        require_tensor("linear", name, value)
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out, in), got shape {weight.shape}")
    if x.ndim < 1 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input of shape {x.shape} does not match weight of shape {weight.shape} (in = {weight.shape[1]})")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"linear: bias of shape {bias.shape} does not match weight of shape {weight.shape}")
    if x.dtype != weight.dtype:  # the layer computes in its weight's dtype: int64 or float64 input
        x = astype(x, weight.dtype)  # never makes a float32 model compute in float64
    x, weight, bias = autocast_operands(x, weight, bias)
    lead = x.shape[:-1]
    if x.ndim != 2:  # (the row count spelled out: -1 is ambiguous when in_features is 0)
        x = reshape(x, math.prod(lead), weight.shape[1])
    y = Linear.apply(x, weight, bias, activation, negative_slope)
    return y if len(lead) == 1 else reshape(y, *lead, weight.shape[0])
