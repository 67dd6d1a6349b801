"""Adam and AdamW (decoupled weight decay), one fused kernel per tensor."""
from __future__ import annotations

import numpy as np

from .. import backend, graphs, kernels
from ..autograd import no_grad
from .optimizer import Optimizer

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """m = β₁m + (1−β₁)g;  v = β₂v + (1−β₂)g²;  p ← p − lr·m̂ / (√v̂ + ε) with bias-corrected
    m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ). Adam adds wd·p to g (L2); AdamW multiplies p by 1 − lr·wd.
    eps = 0 divides by zero once (1−β₂)·g² underflows: below |g| ≈ 1e-23 anywhere, and below
    ≈ 3e-18 on a GPU, whose float32 kernels flush subnormals to zero.

    ``capturable=True`` (PyTorch's name) keeps the step count of a GPU parameter on the GPU, where
    the update kernel reads it and one more small kernel advances it: a step captured by
    ``compile_step`` or ``cugrad.cuda.graph`` then replays with the right bias correction. Off by
    default, as it costs that extra launch per parameter; a captured step refuses it then."""

    decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
                 capturable: bool = False):
        b1, b2 = betas
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"{type(self).__name__}: betas must lie in [0, 1), got {betas!r}")
        if not eps >= 0:
            raise ValueError(f"{type(self).__name__}: eps must be >= 0, got {eps!r}")
        super().__init__(params, dict(lr=lr, betas=(float(b1), float(b2)), eps=eps, weight_decay=weight_decay,
                                      capturable=bool(capturable)))

    def step(self):
        if graphs.is_capturing() and not all(g["capturable"] for g in self.param_groups):
            raise graphs.GraphCaptureError(
                f"{type(self).__name__}: its step count (the bias correction) is a host value that a "
                "captured CUDA graph would freeze; create it with capturable=True, or capture an SGD step"
            )
        with no_grad():
            for i, p, g in self._indexed():
                with backend.device_context(p.device):     # the kernel runs on the current GPU
                    self._update(self.state.setdefault(i, {}), p, g)

    def _update(self, state, p, g):
        on_device = g["capturable"] and p.device.type == "cuda"
        if "step" not in state:
            xp = backend.array_module(p.data)
            state["exp_avg"] = xp.zeros_like(p.data)
            state["exp_avg_sq"] = xp.zeros_like(p.data)
            state["step"] = xp.zeros((), "float64") if on_device else 0
        elif on_device and not backend.is_array(state["step"]):        # loaded from a state_dict
            state["step"] = backend.to_device(np.float64(state["step"]), p.device)
        b1, b2 = g["betas"]
        counter = state["step"] if backend.is_array(state["step"]) else None
        kernels.adam_step(p.data, p.grad.data, state["exp_avg"], state["exp_avg_sq"], g["lr"], b1, b2, g["eps"],
                          g["weight_decay"], counter if counter is not None else state["step"] + 1, self.decoupled)
        # counted once the kernel ran (a refused step leaves the count as it was)
        if counter is not None:
            counter += 1
        else:
            state["step"] += 1


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): p ← p·(1 − lr·wd) before the step."""

    decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 1e-2,
                 capturable: bool = False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, capturable=capturable)
