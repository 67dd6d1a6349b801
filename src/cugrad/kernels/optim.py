"""kernels/optim.cu: the fused in-place SGD and Adam/AdamW updates, each beside its NumPy twin."""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from .launch import BLOCK, acc_dtype, check_inplace, contiguous, ctype, is_16bit, vector_grid
from .loader import driver, on_device


def _check_state(fn, param, grad, *state):
    where = backend.device_of(param)
    for name, a in (("grad", grad),) + state:
        if a is None:
            continue
        if a.shape != param.shape:
            raise ValueError(f"{fn}: {name} shape {a.shape} != param shape {param.shape}")
        if backend.device_of(a) != where:
            raise RuntimeError(f"{fn}: {name} is on {backend.device_of(a)}, the parameter on {where} (parameters moved "
                             "after the optimizer took steps? create it after .to(device), or reload its state_dict)")
    for name, a in (("param", param),) + state:
        if a is not None:
            check_inplace(fn, name, a)
            if a.dtype != param.dtype:
                raise TypeError(f"{fn}: {name} dtype {a.dtype} != param dtype {param.dtype}")


def sgd_step(param, grad, momentum_buf, lr, momentum=0.0, dampening=0.0, nesterov=False,
             weight_decay=0.0, first_step=False):
    """In place, PyTorch's SGD: g = grad + wd*p; if momentum: buf = first_step ? g :
    momentum*buf + (1-dampening)*g, g = nesterov ? g + momentum*buf : buf; p -= lr*g.
    momentum_buf is None when momentum == 0; grad is never modified."""
    has_m = momentum != 0
    if has_m and momentum_buf is None:
        raise ValueError("sgd_step: momentum != 0 needs a momentum_buf")
    _check_state("sgd_step", param, grad, ("momentum_buf", momentum_buf if has_m else None))
    if not on_device(param, grad, momentum_buf):
        return _np_sgd_step(param, grad, momentum_buf, lr, momentum, dampening, nesterov, weight_decay, first_step)
    d = driver()
    ct = ctype(param.dtype, "sgd_step")
    a = acc_dtype(param.dtype)
    n = param.size
    if n:
        buf = momentum_buf if has_m else param
        d.module("optim").get_function(f"sgd_step<{ct}>")(
            vector_grid(d, n, param.itemsize), (BLOCK,),
            (param, contiguous(d, grad, param.dtype), buf, np.int64(n), a(lr), a(momentum), a(dampening),
             a(weight_decay), np.int32(has_m), np.int32(bool(nesterov)), np.int32(bool(first_step))))
    return param


def _np_sgd_step(p, grad, buf, lr, momentum, dampening, nesterov, wd, first):
    if is_16bit(p.dtype):                          # compute in float32, like the kernel
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
    p -= lr/(1-b1^step) * m / (sqrt(v)/sqrt(1-b2^step) + eps).

    ``step``: this step's count (an int), or a float64 0-d array beside the parameter holding the
    steps taken *before* this one, which the kernel reads itself (the caller advances it after), so
    a captured CUDA graph replays each step with the count its previous replay left."""
    _check_state("adam_step", param, grad, ("exp_avg", exp_avg), ("exp_avg_sq", exp_avg_sq))
    counted = backend.is_array(step)
    if counted and (step.shape != () or step.dtype != np.float64 or backend.device_of(step) != backend.device_of(param)):
        raise ValueError(f"adam_step: a step counter must be a float64 0-d array on {backend.device_of(param)}, got "
                         f"{step.dtype} of shape {step.shape} on {backend.device_of(step)}")
    decay = 1.0 - lr * weight_decay if decoupled else 1.0
    l2 = 0.0 if decoupled else weight_decay
    if not on_device(param, grad, exp_avg, exp_avg_sq):
        t = float(step) + 1 if counted else step
        return _np_adam_step(param, grad, exp_avg, exp_avg_sq, decay, l2, beta1, beta2, lr / (1.0 - beta1 ** t),
                             math.sqrt(1.0 - beta2 ** t), eps)
    d = driver()
    ct = ctype(param.dtype, "adam_step")
    a = acc_dtype(param.dtype)
    n = param.size
    if not n:
        return param
    grid, args = vector_grid(d, n, param.itemsize), (param, contiguous(d, grad, param.dtype), exp_avg, exp_avg_sq,
                                                     np.int64(n), a(decay), a(l2))
    if counted:
        d.module("optim").get_function(f"adam_step_counted<{ct}>")(
            grid, (BLOCK,), args + (a(eps), np.float64(lr), np.float64(beta1), np.float64(beta2), step))
    else:
        d.module("optim").get_function(f"adam_step<{ct}>")(
            grid, (BLOCK,), args + (a(beta1), a(beta2), a(lr / (1.0 - beta1 ** step)),
                                    a(math.sqrt(1.0 - beta2 ** step)), a(eps)))
    return param


def _np_adam_step(p, grad, m, v, decay, l2, b1, b2, step_size, bc2_sqrt, eps):
    if is_16bit(p.dtype):                          # compute in float32, like the kernel
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
