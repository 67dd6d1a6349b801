"""Function transforms built on reverse mode: vjp, jvp (from two reverse passes) and hvp."""
from __future__ import annotations

from . import autograd
from .creation import zeros_like
from .tensor import Tensor


def _fresh(primals):
    """Leaf copies of ``primals`` that require grad, so transforms never touch the callers' graphs."""
    out = []
    for p in primals:
        leaf = Tensor.from_array(p.data)
        leaf.requires_grad = True
        out.append(leaf)
    return out


def _zeros_for_unused(grads, like):
    return tuple(g if g is not None else zeros_like(x) for g, x in zip(grads, like))


def vjp(fn, *primals):
    """(fn(*primals), vjp_fn) where vjp_fn(v) = vᵀ·J for each primal (PyTorch's torch.func.vjp)."""
    xs = _fresh(primals)
    with autograd.enable_grad():
        out = fn(*xs)

    def vjp_fn(cotangent):
        grads = autograd.grad(out, xs, grad_outputs=cotangent, retain_graph=True, allow_unused=True)
        return _zeros_for_unused(grads, xs)

    return out.detach(), vjp_fn


def jvp(fn, primals, tangents):
    """(fn(*primals), J·t) by forward mode from two reverse passes.

    g(u) = Jᵀu is linear in a dummy cotangent u; differentiating ⟨g(u), t⟩ with respect to u gives
    J·t. Needs the backward rules to be differentiable (create_graph).
    """
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    xs = _fresh(primals)
    with autograd.enable_grad():
        out = fn(*xs)
        u = zeros_like(out, requires_grad=True)
        g = autograd.grad(out, xs, grad_outputs=u, create_graph=True, allow_unused=True)
        pairs = [(gi, t) for gi, t in zip(g, tangents) if gi is not None and gi.requires_grad]
        if not pairs:
            return out.detach(), zeros_like(out)
        total = sum((gi * t).sum() for gi, t in pairs)
        (jt,) = autograd.grad(total, [u], allow_unused=True)
    return out.detach(), jt if jt is not None else zeros_like(out)


def hvp(fn, primals, tangents):
    """(f(x), H·v) for scalar f: the gradient of ⟨∇f(x), v⟩ (two reverse passes, no Hessian formed)."""
    primals, tangents = tuple(primals), tuple(tangents)
    xs = _fresh(primals)
    with autograd.enable_grad():
        value = fn(*xs)
        grads = autograd.grad(value, xs, create_graph=True, allow_unused=True)
        pairs = [(g, v) for g, v in zip(grads, tangents) if g is not None and g.requires_grad]
        if not pairs:
            return value.detach(), tuple(zeros_like(x) for x in xs)
        dot = sum((g * v).sum() for g, v in pairs)
        hv = autograd.grad(dot, xs, allow_unused=True)
    return value.detach(), _zeros_for_unused(hv, xs)
