"""SGD with momentum, Nesterov and L2 weight decay (PyTorch's update), one fused kernel per tensor."""
from __future__ import annotations

from .. import backend, kernels
from ..autograd import no_grad
from .optimizer import Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    """g = ∇ + wd·p;  with momentum: buf = g (first step) or μ·buf + (1 − dampening)·g,
    g = g + μ·buf (Nesterov) or buf;  p ← p − lr·g."""

    def __init__(self, params, lr: float, momentum: float = 0.0, dampening: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0):
        if not 0.0 <= momentum < 1.0 and momentum != 0:
            raise ValueError(f"SGD: momentum must lie in [0, 1), got {momentum!r}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: nesterov needs momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                                      weight_decay=weight_decay))

    def step(self):
        with no_grad():
            for i, p, g in self._indexed():
                with backend.device_context(p.device):     # the kernel runs on the current GPU
                    self._update(self.state.setdefault(i, {}), p, g)

    @staticmethod
    def _update(state, p, g):
        momentum = g["momentum"]
        buf = state.get("momentum_buffer") if momentum != 0 else None
        first = momentum != 0 and buf is None
        if first:
            buf = backend.array_module(p.data).empty_like(p.data)
        kernels.sgd_step(p.data, p.grad.data, buf, g["lr"], momentum=momentum, dampening=g["dampening"],
                         nesterov=g["nesterov"], weight_decay=g["weight_decay"], first_step=first)
        if first:               # kept only once the kernel has filled it (a refused step leaves no state)
            state["momentum_buffer"] = buf
