"""Gradient checking: backprop against centered finite differences, in float64."""
from __future__ import annotations

import numpy as np

from . import autograd, backend
from .tensor import Tensor


class GradcheckError(AssertionError):
    """A backprop gradient disagrees with its finite-difference estimate."""


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0):
    """Check ``fn``'s gradients with respect to every input that requires grad.

    ``fn`` maps Tensors to a Tensor (or a tuple of them). The check works on float64 copies and
    compares, element by element, the backprop gradient of L = Σ v ⊙ fn(x) (v a fixed random
    projection, so every output element counts) with the centered difference
    (L(x + eps) − L(x − eps)) / 2eps. An element fails when |a − n| > atol and the seeds' relative
    error |a − n| / (|a| + |n|) > rtol. Returns True, or raises GradcheckError naming the input and
    the element with the worst error.
    """
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    xs = []
    for x in inputs:
        if isinstance(x, Tensor) and backend.is_floating(x.dtype):
            copy = Tensor.from_array(x.data.astype(np.float64, order="C"))   # a contiguous copy: perturbed through a flat view
            copy.requires_grad = x.requires_grad
            xs.append(copy)
        else:
            xs.append(x)
    checked = [i for i, x in enumerate(xs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad")

    outputs = _as_tuple(fn(*xs))
    rng = np.random.default_rng(seed)
    projections = [backend.to_device(rng.standard_normal(out.shape), out.device) for out in outputs]

    def objective():
        with autograd.no_grad():
            outs = _as_tuple(fn(*xs))
            return float(sum((out.data.astype(np.float64) * v).sum() for out, v in zip(outs, projections)))

    analytic = autograd.grad(
        list(outputs), [xs[i] for i in checked], grad_outputs=[Tensor.from_array(v) for v in projections],
        allow_unused=True,
    )
    for position, i in enumerate(checked):
        x = xs[i].data
        a_grad = analytic[position]
        a_values = backend.to_device(a_grad.data, backend.CPU) if a_grad is not None else np.zeros(x.shape)
        numeric = np.zeros(x.shape)
        flat = x.reshape(-1)  # a view of the contiguous copy
        for k in range(flat.size):
            original = flat[k].item()
            flat[k] = original + eps
            plus = objective()
            flat[k] = original - eps
            minus = objective()
            flat[k] = original
            numeric.reshape(-1)[k] = (plus - minus) / (2 * eps)
        diff = np.abs(a_values - numeric)
        relative = diff / np.maximum(np.abs(a_values) + np.abs(numeric), np.finfo(np.float64).tiny)
        bad = (diff > atol) & (relative > rtol)
        if bad.any():
            worst = np.unravel_index(np.argmax(np.where(bad, relative, -1.0)), x.shape)
            raise GradcheckError(
                f"gradcheck: input {i} (shape {tuple(x.shape)}), element {tuple(int(w) for w in worst)}: "
                f"backprop {a_values[worst]:.10g} vs finite difference {numeric[worst]:.10g} "
                f"(relative error {relative[worst]:.3g}; {int(bad.sum())} of {bad.size} elements fail)"
            )
    return True


def _as_tuple(outputs):
    return tuple(outputs) if isinstance(outputs, (tuple, list)) else (outputs,)
