"""Adam and AdamW (decoupled weight decay), one fused kernel per tensor."""
from __future__ import annotations

from .. import backend, graphs, kernels
from ..autograd import no_grad
from .optimizer import Optimizer

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """m = β₁m + (1−β₁)g;  v = β₂v + (1−β₂)g²;  p ← p − lr·m̂ / (√v̂ + ε) with bias-corrected
    m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ). Adam adds wd·p to g (L2); AdamW multiplies p by 1 − lr·wd.
    eps = 0 divides by zero once (1−β₂)·g² underflows: below |g| ≈ 1e-23 anywhere, and below
    ≈ 3e-18 on a GPU, whose float32 kernels flush subnormals to zero."""

    decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0):
        b1, b2 = betas
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"{type(self).__name__}: betas must lie in [0, 1), got {betas!r}")
        if not eps >= 0:
            raise ValueError(f"{type(self).__name__}: eps must be >= 0, got {eps!r}")
        super().__init__(params, dict(lr=lr, betas=(float(b1), float(b2)), eps=eps, weight_decay=weight_decay))

    def step(self):
        if graphs.is_capturing():
            raise graphs.GraphCaptureError(
                f"{type(self).__name__}: its step count (the bias correction) is a host value that a "
                "captured CUDA graph would freeze; run this optimizer eagerly or capture an SGD step"
            )
        with no_grad():
            for i, p, g in self._indexed():
                with backend.device_context(p.device):     # the kernel runs on the current GPU
                    self._update(self.state.setdefault(i, {}), p, g)

    def _update(self, state, p, g):
        if "step" not in state:
            xp = backend.array_module(p.data)
            state["exp_avg"] = xp.zeros_like(p.data)
            state["exp_avg_sq"] = xp.zeros_like(p.data)
            state["step"] = 0
        b1, b2 = g["betas"]
        step = state["step"] + 1
        kernels.adam_step(p.data, p.grad.data, state["exp_avg"], state["exp_avg_sq"], g["lr"], b1, b2,
                          g["eps"], g["weight_decay"], step, self.decoupled)
        state["step"] = step    # counted once the kernel ran (a refused step leaves the count as it was)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): p ← p·(1 − lr·wd) before the step."""

    decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
