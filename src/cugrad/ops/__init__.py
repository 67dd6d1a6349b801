"""Differentiable ops, one family a file; each op is a Function with its math in the docstring."""
from .activation import OPS as ACTIVATION_OPS
from .activation import log_softmax, softmax, softplus
from .arithmetic import add, div, mul, neg, pow, sub
from .elementwise import abs, clip, exp, exp2, log, log2, log10, masked_fill, maximum, minimum, rsqrt, sqrt, where
from .linalg import linear, matmul
from .loss import cross_entropy, hinge_loss, l2_penalty, mse_loss
from .rounding import ceil, floor, isfinite, isinf, isnan, round, sign, trunc
from .reduce import all, any, argmax, argmin, cumsum, logsumexp, max, mean, min, prod, std, sum, var
from .trig import cos, cosh, sin, sinh, tan
from .elementwise import erf, lerp, logaddexp
from .einstein import einsum
from .loss import binary_cross_entropy
from .shape import (
    astype, broadcast_to, concatenate, flatten, flip, getitem, raw_index, reshape, squeeze, stack, swapaxes,
    to_device, transpose, unflatten, unsqueeze,
)
# shape and indexing ops a PyTorch user expects (issue 15)
from .elementwise import clamp
from .indexing import gather, one_hot, scatter_add
from .matrix import diagonal, tril, triu
from .padding import pad
from .shape import chunk, repeat, split, tile
from .sorting import sort, topk

__all__ = [
    "abs", "add", "argmax", "astype", "broadcast_to", "clip", "concatenate", "cross_entropy", "div", "exp",
    "getitem", "hinge_loss", "l2_penalty", "linear", "log", "log_softmax",
    "matmul", "max", "maximum", "mean", "min", "minimum", "mse_loss", "mul", "neg", "pow", "raw_index",
    "reshape", "softmax", "softplus", "sqrt", "stack", "std", "sub", "sum", "swapaxes",
    "to_device", "transpose", "var", "where",
    "exp2", "log2", "log10", "rsqrt", "sin", "cos", "tan", "sinh", "cosh",
    "sign", "floor", "ceil", "round", "trunc", "isnan", "isinf", "isfinite",
    "all", "any", "argmin", "cumsum", "logsumexp", "prod",
    "flatten", "flip", "squeeze", "unflatten", "unsqueeze", "masked_fill",
] + [
    "chunk", "clamp", "diagonal", "gather", "one_hot", "pad", "repeat", "scatter_add", "sort", "split", "tile",
    "topk", "tril", "triu",
] + [
    "erf", "logaddexp", "lerp", "einsum", "binary_cross_entropy",
] + list(ACTIVATION_OPS)
globals().update(ACTIVATION_OPS)  # relu, sigmoid, silu, ...: one per row of kernels.ACTIVATION_TABLE
