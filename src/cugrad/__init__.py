"""cugrad: reverse-mode autograd for large-batch MLPs — NumPy on any CPU, CuPy with fused CUDA
kernels on NVIDIA GPUs."""
from . import amp, cuda, data, distributed, func, io, nn, onnx, optim, runlog
from .autograd import Function, enable_grad, grad, is_grad_enabled, no_grad
from .checkpoint import checkpoint, checkpoint_sequential
from .backend import Device as device
from .creation import (
    arange,
    full,
    full_like,
    ones,
    ones_like,
    rand,
    rand_like,
    randn,
    randn_like,
    zeros,
    zeros_like,
)
from .creation import empty, eye, linspace, randint
from .data import DataError, DataLoader
from .dlpack import from_dlpack
from .gradcheck import GradcheckError, gradcheck
from .graphs import compile_step
from .io import CheckpointError, load, save
from .precision import autocast, get_matmul_precision, set_matmul_precision
from .ops import (
    ceil,
    cos,
    cosh,
    exp2,
    floor,
    isfinite,
    isinf,
    isnan,
    log10,
    log2,
    round,
    rsqrt,
    sign,
    sin,
    sinh,
    tan,
    trunc,
    abs,
    all,
    any,
    argmax,
    argmin,
    cumsum,
    logsumexp,
    prod,
    clip,
    concatenate,
    exp,
    flatten,
    flip,
    log,
    masked_fill,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    reshape,
    sqrt,
    squeeze,
    stack,
    std,
    sum,
    transpose,
    unflatten,
    unsqueeze,
    var,
    where,
)
from .ops import chunk, clamp, diagonal, gather, scatter_add, sort, split, tile, topk, tril, triu
from .ops import einsum, erf, lerp, logaddexp
from .random import get_rng_state, manual_seed, set_rng_state
from .tensor import Tensor, tensor

__version__ = "0.1.0"

__all__ = [
    # modules
    "amp", "cuda", "data", "distributed", "func", "io", "nn", "onnx", "optim", "runlog",
    # autograd
    "Function", "Tensor", "tensor", "grad", "no_grad", "enable_grad", "is_grad_enabled",
    "gradcheck", "GradcheckError", "checkpoint", "checkpoint_sequential", "compile_step",
    # factories and random streams
    "arange", "full", "full_like", "ones", "ones_like", "rand", "rand_like", "randn", "randn_like",
    "zeros", "zeros_like", "manual_seed", "get_rng_state", "set_rng_state", "from_dlpack",
    # ops
    "abs", "argmax", "clip", "concatenate", "exp", "log", "matmul", "max", "maximum", "mean", "min", "minimum",
    "reshape", "sqrt", "stack", "std", "sum", "transpose", "var", "where",
    "ceil", "cos", "cosh", "exp2", "floor", "isfinite", "isinf", "isnan", "log10", "log2", "round", "rsqrt", "sign", "sin", "sinh", "tan", "trunc",
    "all", "any", "argmin", "cumsum", "logsumexp", "prod",
    "flatten", "flip", "squeeze", "unflatten", "unsqueeze", "masked_fill",
    "chunk", "clamp", "diagonal", "gather", "scatter_add", "sort", "split", "tile", "topk", "tril", "triu",
    "erf", "logaddexp", "lerp", "einsum", "empty", "eye", "linspace", "randint",
    # devices, precision, data, checkpoints
    "device", "autocast", "get_matmul_precision", "set_matmul_precision", "DataError", "DataLoader",
    "CheckpointError", "load", "save",
]
