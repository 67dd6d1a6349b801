"""Fused CUDA kernels (kernels/*.cu) and their NumPy twins.

Every public function takes NumPy arrays (and runs its NumPy twin, the CPU path of cugrad) or CuPy
arrays (and runs the CUDA kernel). The CUDA path makes its inputs C-contiguous first; in-place
arguments (optimizer state, ``out=``) that are not contiguous are updated through a contiguous copy.

The kernel path reaches compiled modules, allocation and grid sizing through one object, the
*driver* (``CupyDriver`` on a GPU). The test bench swaps in a host emulator with
``use_driver(...)``, and the real wrappers below then run the kernels on NumPy arrays.
"""
from __future__ import annotations

import contextlib
import math
import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from . import backend

FAMILIES = ("activations", "softmax_xent", "optim", "random")

# C type of each supported array dtype inside the kernels (cg_half: IEEE half as raw bits).
_CTYPE = {np.dtype(np.float32): "float", np.dtype(np.float64): "double", np.dtype(np.float16): "cg_half"}
_FLOATS = ("float", "double", "cg_half")


def _instances(template, types):
    return [f"{template}<{t}>" for t in types]


NAME_EXPRESSIONS = {
    "activations": _instances("bias_act", _FLOATS) + _instances("act_backward", _FLOATS)
    + _instances("col_sum", ["float, float", "double, double", "cg_half, cg_half",
                             "cg_half, float", "float, cg_half"]),
    "softmax_xent": [f"{k}<{t}, {g}>" for k in ("xent_fwd", "xent_bwd") for t in _FLOATS
                     for g in ("long long", t)],
    "optim": _instances("sgd_step", _FLOATS) + _instances("adam_step", _FLOATS),
    "random": _instances("rand_uniform", ["float", "double"]) + _instances("rand_normal", ["float", "double"]),
}

BLOCK = 256            # threads per block of the elementwise and column-sum kernels
BLOCKS_PER_SM = 32     # cap of the grid-stride grids, in blocks per multiprocessor


# --------------------------------------------------------------------------- sources and compiling

def kernel_dir() -> Path:
    """Where the .cu files are: inside the installed package, else the source checkout's kernels/."""
    here = Path(__file__).resolve().parent
    for cand in (here / "cuda_kernels", here.parent.parent / "kernels"):
        if (cand / "common.cuh").is_file():
            return cand
    raise FileNotFoundError(f"cugrad: CUDA kernel sources not found in {here / 'cuda_kernels'} "
                            f"nor {here.parent.parent / 'kernels'}")


@lru_cache(maxsize=None)
def kernel_source(family: str) -> str:
    """The text of kernels/<family>.cu with its local #include "x.cuh" lines pasted in, so the text
    alone determines the compiled module (CuPy's cache key) and needs no include path."""
    if family not in FAMILIES:
        raise ValueError(f"unknown kernel family {family!r}; expected one of {FAMILIES}")
    root = kernel_dir()

    def paste(text, seen):
        def sub(m):
            name = m.group(1)
            if name in seen:
                return ""
            seen.add(name)
            return paste((root / name).read_text(), seen)
        return re.sub(r'^\s*#\s*include\s+"([^"]+)"\s*$', sub, text, flags=re.M)

    return paste((root / f"{family}.cu").read_text(), set())


def compile_options(arch: str | None = None) -> tuple:
    """NVRTC options shared by the runtime loader and the compile tests (arch: e.g. "compute_90";
    None lets CuPy pick the device's)."""
    opts = ("-std=c++17",)
    if arch is not None:
        opts += (f"--gpu-architecture={arch}",)
    return opts


def compile_ptx(family: str, arch: str) -> tuple[str, dict]:
    """Compile one family through CuPy's NVRTC binding with the loader's source, options and name
    expressions (no GPU needed). Returns (ptx, {name expression: lowered name})."""
    from cupy.cuda import nvrtc

    prog = nvrtc.createProgram(kernel_source(family), f"{family}.cu", [], [])
    try:
        for expr in NAME_EXPRESSIONS[family]:
            nvrtc.addNameExpression(prog, expr)
        try:
            nvrtc.compileProgram(prog, list(compile_options(arch)))
        except nvrtc.NVRTCError as exc:
            raise RuntimeError(f"NVRTC failed on {family}.cu for {arch}:\n{nvrtc.getProgramLog(prog)}") from exc
        names = {e: nvrtc.getLoweredName(prog, e) for e in NAME_EXPRESSIONS[family]}
        ptx = nvrtc.getPTX(prog)
        return (ptx.decode() if isinstance(ptx, bytes) else ptx).rstrip("\0"), names
    finally:
        nvrtc.destroyProgram(prog)


class CupyDriver:
    """The GPU driver: compiled RawModules (one per family, cached), allocation, grid sizing."""

    def __init__(self, cp):
        self.xp = cp
        self.grid = None          # force this many blocks (tests); None sizes grids from the data
        self._modules = {}
        self._sms = {}

    def module(self, family):
        mod = self._modules.get(family)
        if mod is None:
            mod = self.xp.RawModule(code=kernel_source(family), options=compile_options(),
                                    name_expressions=NAME_EXPRESSIONS[family])
            self._modules[family] = mod
        return mod

    def empty(self, shape, dtype):
        return self.xp.empty(shape, dtype)

    @property
    def multiprocessors(self):
        dev = self.xp.cuda.Device().id
        if dev not in self._sms:
            self._sms[dev] = self.xp.cuda.runtime.getDeviceProperties(dev)["multiProcessorCount"]
        return self._sms[dev]


_override = None
_cupy_driver = None


@contextlib.contextmanager
def use_driver(driver):
    """Route every call, NumPy arrays included, through ``driver`` (the test bench's emulator)."""
    global _override
    prev, _override = _override, driver
    try:
        yield driver
    finally:
        _override = prev


def _driver():
    global _cupy_driver
    if _override is not None:
        return _override
    if _cupy_driver is None:
        _cupy_driver = CupyDriver(backend.cupy())
    return _cupy_driver


def _on_device(*arrays) -> bool:
    """True when the kernel path runs: a driver override is active or an input is not NumPy."""
    return _override is not None or any(a is not None and not isinstance(a, np.ndarray) for a in arrays)


def _grid(d, units, block=BLOCK):
    """Blocks for a grid-stride launch over ``units`` work items (one per thread)."""
    if d.grid is not None:
        return (int(d.grid),)
    return (max(1, min(-(-units // block), d.multiprocessors * BLOCKS_PER_SM)),)


def _row_block(cols):
    return 32 if cols <= 32 else 128 if cols <= 1024 else 256


def _ctype(dtype, fn):
    try:
        return _CTYPE[np.dtype(dtype)]
    except KeyError:
        raise TypeError(f"{fn}: unsupported dtype {np.dtype(dtype)} (float16/32/64 only)") from None


def _acc(dtype):
    """Accumulation/scalar dtype of a kernel instantiation."""
    return np.float64 if np.dtype(dtype) == np.float64 else np.float32


def _contig(d, a, dtype=None):
    a = d.xp.ascontiguousarray(a)
    return a if dtype is None or a.dtype == dtype else a.astype(dtype)


def _check_inplace(fn, name, a):
    if not a.flags.c_contiguous:
        raise ValueError(f"{fn}: {name} must be C-contiguous for an in-place update (shape {a.shape}, strides {a.strides})")


def _output(d, out, shape, dtype, fn):
    """(buffer the kernel writes, final array): a fresh buffer, ``out`` itself, or a contiguous
    stand-in that is copied into a non-contiguous ``out`` afterwards."""
    if out is None:
        return d.empty(shape, dtype), None
    if tuple(out.shape) != tuple(shape) or out.dtype != dtype:
        raise ValueError(f"{fn}: out has shape {out.shape} dtype {out.dtype}, expected {tuple(shape)} {np.dtype(dtype)}")
    if out.flags.c_contiguous:
        return out, None
    return d.empty(shape, dtype), out


def _finish(buf, out):
    if out is None:
        return buf
    out[...] = buf
    return out


# --------------------------------------------------------------------------- activations

ACTIVATIONS = {"identity": 0, "relu": 1, "leaky_relu": 2, "sigmoid": 3, "tanh": 4}


def _act_code(activation, fn):
    try:
        return ACTIVATIONS[activation or "identity"]
    except KeyError:
        raise ValueError(f"{fn}: unknown activation {activation!r}; expected one of {list(ACTIVATIONS)}") from None


def bias_activation(x, bias, activation, negative_slope=0.01, out=None):
    """y = act(x + bias), bias None or 1-D of length x.shape[-1] broadcast over rows.

    activation: identity | relu | leaky_relu (z>0 ? z : slope*z) | sigmoid (overflow-safe) | tanh.
    ``out`` may be ``x`` itself (in place on a GEMM result)."""
    act = _act_code(activation, "bias_activation")
    if bias is not None and (bias.ndim != 1 or bias.shape[0] != (x.shape[-1] if x.ndim else 1)):
        raise ValueError(f"bias_activation: bias shape {bias.shape} does not match x shape {x.shape}")
    if not _on_device(x, bias, out):
        return _np_bias_activation(x, bias, act, negative_slope, out)
    d = _driver()
    ct = _ctype(x.dtype, "bias_activation")
    dst, final = _output(d, out, x.shape, x.dtype, "bias_activation")
    if out is not None and out is x and final is None:
        xc = x
    else:
        xc = _contig(d, x)
    n = x.size
    if n:
        b = _contig(d, bias, x.dtype) if bias is not None else xc
        f = d.module("activations").get_function(f"bias_act<{ct}>")
        f(_grid(d, -(-n // (16 // x.itemsize))), (BLOCK,),
          (xc, b, dst, np.int64(n), np.int64(x.shape[-1] if x.ndim else 1), np.int32(bias is not None),
           np.int32(act), _acc(x.dtype)(negative_slope)))
    return _finish(dst, final)




def _np_bias_activation(x, bias, act, slope, out):
    if out is None:
        y = np.add(x, bias) if bias is not None else x.copy()
    else:
        if bias is not None:
            np.add(x, bias, out=out)
        elif out is not x:
            np.copyto(out, x)
        y = out
    if act == 1:
        np.maximum(y, 0, out=y)
    elif act == 2:
        np.multiply(y, slope, out=y, where=y <= 0)
    elif act == 3:
        # 1/(1+exp(-z)) has no cancellation for any z; where exp(-z) overflows to inf the result
        # is exactly 0 (not a denormal, which would slow every BLAS call that reads it).
        with np.errstate(over="ignore"):
            np.negative(y, out=y)
            np.exp(y, out=y)
            y += 1
            np.reciprocal(y, out=y)
    elif act == 4:
        np.tanh(y, out=y)
    return y


def activation_backward(g, y, activation, negative_slope=0.01, out=None):
    """dx from the upstream gradient g and the saved OUTPUT y, in one pass:
    relu g*(y>0); leaky_relu y>0 ? g : slope*g (slope >= 0); sigmoid g*y*(1-y); tanh g*(1-y*y);
    identity g."""
    act = _act_code(activation, "activation_backward")
    if g.shape != y.shape:
        raise ValueError(f"activation_backward: g shape {g.shape} != y shape {y.shape}")
    if not _on_device(g, y, out):
        return _np_activation_backward(g, y, act, negative_slope, out)
    d = _driver()
    ct = _ctype(g.dtype, "activation_backward")
    dst, final = _output(d, out, g.shape, g.dtype, "activation_backward")
    n = g.size
    if n:
        gc, yc = _contig(d, g), _contig(d, y, g.dtype)
        f = d.module("activations").get_function(f"act_backward<{ct}>")
        f(_grid(d, -(-n // (16 // g.itemsize))), (BLOCK,),
          (gc, yc, dst, np.int64(n), np.int32(act), _acc(g.dtype)(negative_slope)))
    return _finish(dst, final)


def _np_activation_backward(g, y, act, slope, out):
    if out is None:
        out = np.empty_like(g)
    if act == 1:
        np.multiply(g, y > 0, out=out)
    elif act == 2:
        neg = y <= 0
        if out is not g:
            np.copyto(out, g)
        np.multiply(out, slope, out=out, where=neg)
    elif act == 3:
        t = np.subtract(1, y, out=np.empty_like(y))  # out=: an array even when y is 0-d
        np.multiply(t, y, out=t)
        np.multiply(g, t, out=out)
    elif act == 4:
        t = np.multiply(y, y, out=np.empty_like(y))
        np.subtract(1, t, out=t)
        np.multiply(g, t, out=out)
    elif out is not g:
        np.copyto(out, g)
    return out


def bias_grad(g):
    """db[c] = sum of g over every axis but the last; shape (g.shape[-1],), dtype g.dtype
    (float32 accumulation for float16). GPU: a two-stage column reduction (row chunks, then
    their partial sums)."""
    cols = g.shape[-1] if g.ndim else 1
    rows = g.size // cols if cols else 0
    if not _on_device(g):
        return _np_bias_grad(g, rows, cols)
    d = _driver()
    ct = _ctype(g.dtype, "bias_grad")
    out = d.empty((cols,), g.dtype)
    if cols == 0:
        return out
    if rows == 0:
        out[...] = 0
        return out
    gc = _contig(d, g)
    mod = d.module("activations")
    colblocks = -(-cols // 32)
    rows_per_block = BLOCK // 32
    if d.grid is not None:
        gx, chunks = min(int(d.grid), colblocks), 1
    else:
        gx = colblocks
        chunks = max(1, min(d.multiprocessors * 4 // colblocks, rows // (16 * rows_per_block), 65535))
    if chunks == 1:
        mod.get_function(f"col_sum<{ct}, {ct}>")((gx, 1), (BLOCK,), (gc, out, np.int64(rows), np.int64(cols)))
        return out
    acc = _acc(g.dtype)
    act = "double" if acc is np.float64 else "float"
    part = d.empty((chunks, cols), acc)
    mod.get_function(f"col_sum<{ct}, {act}>")((gx, chunks), (BLOCK,), (gc, part, np.int64(rows), np.int64(cols)))
    mod.get_function(f"col_sum<{act}, {ct}>")((gx, 1), (BLOCK,), (part, out, np.int64(chunks), np.int64(cols)))
    return out


def _np_bias_grad(g, rows, cols):
    g2 = g.reshape(rows, cols)
    if g.dtype == np.float16:
        return g2.sum(axis=0, dtype=np.float32).astype(np.float16)
    return g2.sum(axis=0)


# --------------------------------------------------------------------------- softmax cross-entropy

def _xent_target(fn, logits, target):
    if logits.ndim != 2:
        raise ValueError(f"{fn}: logits must be (N, C), got shape {logits.shape}")
    if target.ndim == 1 and np.issubdtype(target.dtype, np.integer):
        if target.shape[0] != logits.shape[0]:
            raise ValueError(f"{fn}: target shape {target.shape} does not match logits {logits.shape}")
        return True
    if target.shape != logits.shape:
        raise ValueError(f"{fn}: probability target shape {target.shape} != logits shape {logits.shape}")
    return False


def softmax_xent_forward(logits, target):
    """(loss_rows, lse) for logits (N, C) and target int64 (N,) class indices or float (N, C)
    probabilities: lse[i] = log sum_c exp(logits[i,c]) (max-shifted), loss_rows[i] = lse[i] -
    sum_c y[i,c] logits[i,c]. Outputs are float32 for float16 logits, else the logits dtype. An
    out-of-range label gives NaN for its row."""
    by_index = _xent_target("softmax_xent_forward", logits, target)
    if not _on_device(logits, target):
        return _np_softmax_xent_forward(logits, target, by_index)
    d = _driver()
    ct = _ctype(logits.dtype, "softmax_xent_forward")
    rows, cols = logits.shape
    acc = _acc(logits.dtype)
    loss, lse = d.empty((rows,), acc), d.empty((rows,), acc)
    if rows:
        x = _contig(d, logits)
        t = _contig(d, target, np.int64 if by_index else logits.dtype)
        name = f"xent_fwd<{ct}, {'long long' if by_index else ct}>"
        d.module("softmax_xent").get_function(name)(
            _grid(d, rows, 1), (_row_block(cols),), (x, t, loss, lse, np.int64(rows), np.int64(cols)))
    return loss, lse


def _np_softmax_xent_forward(logits, target, by_index):
    x = logits.astype(np.float32) if logits.dtype == np.float16 else logits
    m = x.max(axis=1) if x.shape[1] else np.full(x.shape[0], -np.inf, x.dtype)
    e = np.subtract(x, m[:, None])
    np.exp(e, out=e)
    lse = np.log(e.sum(axis=1))
    lse += m
    if by_index:
        rows = np.arange(x.shape[0])
        t = target.astype(np.int64, copy=False)
        ok = (t >= 0) & (t < x.shape[1])
        picked = x[rows, np.where(ok, t, 0)] if x.shape[1] else np.zeros(x.shape[0], x.dtype)
        picked[~ok] = np.nan
    else:
        y = target.astype(x.dtype, copy=False)
        picked = np.einsum("ij,ij->i", y, x)
    return lse - picked, lse


def softmax_xent_backward(logits, lse, target, row_scale, out=None):
    """dlogits[i,c] = (exp(logits[i,c] - lse[i]) - y[i,c]) * row_scale[i], in one pass with no
    N x C temporaries (y = one-hot of the label, or the probability target). row_scale: (N,)."""
    by_index = _xent_target("softmax_xent_backward", logits, target)
    if not _on_device(logits, lse, target, row_scale, out):
        return _np_softmax_xent_backward(logits, lse, target, row_scale, out, by_index)
    d = _driver()
    ct = _ctype(logits.dtype, "softmax_xent_backward")
    rows, cols = logits.shape
    acc = _acc(logits.dtype)
    dst, final = _output(d, out, logits.shape, logits.dtype, "softmax_xent_backward")
    if logits.size:
        x = _contig(d, logits)
        t = _contig(d, target, np.int64 if by_index else logits.dtype)
        name = f"xent_bwd<{ct}, {'long long' if by_index else ct}>"
        d.module("softmax_xent").get_function(name)(
            _grid(d, rows, 1), (_row_block(cols),),
            (x, _contig(d, lse, acc), t, _contig(d, row_scale, acc), dst, np.int64(rows), np.int64(cols)))
    return _finish(dst, final)


def _np_softmax_xent_backward(logits, lse, target, row_scale, out, by_index):
    acc = _acc(logits.dtype)
    if out is None:
        out = np.empty_like(logits)
    half = logits.dtype == np.float16
    p = np.empty(logits.shape, np.float32) if half else out      # float16: one float32 temporary
    np.subtract(logits, lse.astype(acc, copy=False)[:, None], out=p)
    np.exp(p, out=p)
    if by_index:
        rows = np.arange(logits.shape[0])
        t = target.astype(np.int64, copy=False)
        ok = (t >= 0) & (t < logits.shape[1])
        p[rows[ok], t[ok]] -= 1
        p[~ok] = np.nan
    else:
        np.subtract(p, target, out=p, casting="unsafe")
    np.multiply(p, row_scale.astype(acc, copy=False)[:, None], out=p)
    if half:
        np.copyto(out, p, casting="unsafe")
    return out


# --------------------------------------------------------------------------- optimizers

def _check_state(fn, param, grad, *state):
    for name, a in (("grad", grad),) + state:
        if a is not None and a.shape != param.shape:
            raise ValueError(f"{fn}: {name} shape {a.shape} != param shape {param.shape}")
    for name, a in (("param", param),) + state:
        if a is not None:
            _check_inplace(fn, name, a)
            if a.dtype != param.dtype:
                raise ValueError(f"{fn}: {name} dtype {a.dtype} != param dtype {param.dtype}")


def sgd_step(param, grad, momentum_buf, lr, momentum=0.0, dampening=0.0, nesterov=False,
             weight_decay=0.0, first_step=False):
    """In place, PyTorch's SGD: g = grad + wd*p; if momentum: buf = first_step ? g :
    momentum*buf + (1-dampening)*g, g = nesterov ? g + momentum*buf : buf; p -= lr*g.
    momentum_buf is None when momentum == 0; grad is never modified."""
    has_m = momentum != 0
    if has_m and momentum_buf is None:
        raise ValueError("sgd_step: momentum != 0 needs a momentum_buf")
    _check_state("sgd_step", param, grad, ("momentum_buf", momentum_buf if has_m else None))
    if not _on_device(param, grad, momentum_buf):
        return _np_sgd_step(param, grad, momentum_buf, lr, momentum, dampening, nesterov, weight_decay, first_step)
    d = _driver()
    ct = _ctype(param.dtype, "sgd_step")
    a = _acc(param.dtype)
    n = param.size
    if n:
        buf = momentum_buf if has_m else param
        d.module("optim").get_function(f"sgd_step<{ct}>")(
            _grid(d, -(-n // (16 // param.itemsize))), (BLOCK,),
            (param, _contig(d, grad, param.dtype), buf, np.int64(n), a(lr), a(momentum), a(dampening),
             a(weight_decay), np.int32(has_m), np.int32(bool(nesterov)), np.int32(bool(first_step))))
    return param


def _np_sgd_step(p, grad, buf, lr, momentum, dampening, nesterov, wd, first):
    if p.dtype == np.float16:                       # compute in float32, like the kernel
        p32, b32 = p.astype(np.float32), None if buf is None else buf.astype(np.float32)
        _np_sgd_step(p32, grad.astype(np.float32), b32, lr, momentum, dampening, nesterov, wd, first)
        np.copyto(p, p32, casting="unsafe")
        if b32 is not None and momentum != 0:
            np.copyto(buf, b32, casting="unsafe")
        return p
    g = grad
    if wd:
        g = np.multiply(p, wd)
        g += grad
    if momentum != 0:
        if first:
            np.copyto(buf, g)
        else:
            buf *= momentum
            if dampening:
                buf += (1 - dampening) * g
            else:
                buf += g
        if nesterov:
            t = np.multiply(buf, momentum)
            t += g
            g = t
        else:
            g = buf
    t = np.multiply(g, lr, out=g if (g is not grad and g is not buf) else None)
    p -= t
    return p


def adam_step(param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, weight_decay, step, decoupled):
    """In place, torch.optim.Adam (decoupled=False) / AdamW (decoupled=True), step counted from 1:
    AdamW p *= 1 - lr*wd, Adam g = grad + wd*p; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g;
    p -= lr/(1-b1^step) * m / (sqrt(v)/sqrt(1-b2^step) + eps)."""
    _check_state("adam_step", param, grad, ("exp_avg", exp_avg), ("exp_avg_sq", exp_avg_sq))
    decay = 1.0 - lr * weight_decay if decoupled else 1.0
    l2 = 0.0 if decoupled else weight_decay
    step_size = lr / (1.0 - beta1 ** step)
    bc2_sqrt = math.sqrt(1.0 - beta2 ** step)
    if not _on_device(param, grad, exp_avg, exp_avg_sq):
        return _np_adam_step(param, grad, exp_avg, exp_avg_sq, decay, l2, beta1, beta2, step_size, bc2_sqrt, eps)
    d = _driver()
    ct = _ctype(param.dtype, "adam_step")
    a = _acc(param.dtype)
    n = param.size
    if n:
        d.module("optim").get_function(f"adam_step<{ct}>")(
            _grid(d, -(-n // (16 // param.itemsize))), (BLOCK,),
            (param, _contig(d, grad, param.dtype), exp_avg, exp_avg_sq, np.int64(n), a(decay), a(l2),
             a(beta1), a(beta2), a(step_size), a(bc2_sqrt), a(eps)))
    return param


def _np_adam_step(p, grad, m, v, decay, l2, b1, b2, step_size, bc2_sqrt, eps):
    if p.dtype == np.float16:                       # compute in float32, like the kernel
        s = [a.astype(np.float32) for a in (p, grad, m, v)]
        _np_adam_step(*s, decay, l2, b1, b2, step_size, bc2_sqrt, eps)
        for dst, src in zip((p, m, v), (s[0], s[2], s[3])):
            np.copyto(dst, src, casting="unsafe")
        return p
    if decay != 1.0:
        p *= decay
    g = grad
    if l2:
        g = np.multiply(p, l2)
        g += grad
    t = np.multiply(g, 1 - b1)
    m *= b1
    m += t
    np.multiply(g, g, out=t)
    t *= 1 - b2
    v *= b2
    v += t
    np.sqrt(v, out=t)
    t /= bc2_sqrt
    t += eps
    np.divide(m, t, out=t)
    t *= step_size
    p -= t
    return p


# --------------------------------------------------------------------------- random numbers

_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def _mix64_int(z: int) -> int:
    z &= _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def _mix64(z):
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def counters_used(n: int, kind: str) -> int:
    """How far a draw of n numbers advances the stream offset: n for "uniform", n rounded up to
    even for "normal" (Box-Muller pairs)."""
    return n if kind == "uniform" else n + (n & 1)


def _rng_bits(key, first, count):
    ctr = np.arange(count, dtype=np.uint64)
    ctr += np.uint64(first & _M64)
    ctr *= np.uint64(_GOLDEN)
    ctr += np.uint64(key)
    return _mix64(ctr)


def _np_u01(bits, dtype):
    if dtype == np.float32:
        return (bits >> np.uint64(40)).astype(np.float32) * np.float32(2.0 ** -24)
    return (bits >> np.uint64(11)).astype(np.float64) * (2.0 ** -53)


def _random(kind, seed, offset, shape, dtype, xp):
    dtype = np.dtype(dtype)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    n = math.prod(shape)
    gen = np.float64 if dtype == np.float64 else np.float32       # float16 etc. cast from float32
    key = _mix64_int(int(seed))
    if xp is np and _override is None:
        if kind == "uniform":
            r = _np_u01(_rng_bits(key, offset, n), gen)
        else:
            pairs = -(-n // 2)
            bits = _rng_bits(key, offset, 2 * pairs).reshape(pairs, 2)
            u1 = np.subtract(gen(1), _np_u01(bits[:, 0], gen))
            u2 = _np_u01(bits[:, 1], gen)
            rad = np.sqrt(gen(-2) * np.log(u1))
            ang = gen(2 * np.pi) * u2
            r = np.empty((pairs, 2), gen)
            np.multiply(rad, np.cos(ang), out=r[:, 0])
            np.multiply(rad, np.sin(ang), out=r[:, 1])
            r = r.reshape(-1)[:n]
        return r.reshape(shape).astype(dtype, copy=False)
    d = _driver()
    out = d.empty(shape, gen)
    if n:
        name = f"rand_{kind}<{'double' if gen is np.float64 else 'float'}>"
        d.module("random").get_function(name)(
            _grid(d, n), (BLOCK,), (out, np.int64(n), np.uint64(key), np.uint64(offset & _M64)))
    return out if out.dtype == dtype else out.astype(dtype)


def uniform(seed, offset, shape, dtype=np.float32, xp=np):
    """Numbers in [0, 1): element i is a hash of (seed, offset + i) with 24 (float32) or 53
    (float64) random bits; the NumPy twin is bit-identical. Advance the offset by
    counters_used(n, "uniform") = n. xp (numpy or cupy) picks where the result lives."""
    return _random("uniform", seed, offset, shape, dtype, xp)


def normal(seed, offset, shape, dtype=np.float32, xp=np):
    """Standard normal numbers by Box-Muller on counter pairs (offset + 2k, offset + 2k + 1):
    element 2k takes the cosine, 2k+1 the sine. Advance the offset by counters_used(n, "normal")."""
    return _random("normal", seed, offset, shape, dtype, xp)


__all__ = [
    "bias_activation", "activation_backward", "bias_grad", "softmax_xent_forward",
    "softmax_xent_backward", "sgd_step", "adam_step", "uniform", "normal", "counters_used",
    "compile_options", "compile_ptx", "kernel_source", "kernel_dir", "use_driver", "CupyDriver",
    "NAME_EXPRESSIONS", "FAMILIES", "ACTIVATIONS",
]
