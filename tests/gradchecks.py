"""A float64 gradcheck of an op and of its gradient (the second order), shared by the op tests."""
from __future__ import annotations

import cugrad


def gradcheck_two_orders(op, x, power=2):
    """gradcheck of ``op`` at ``x``, and of x ↦ ∇ Σ op(x)^power taken with create_graph=True (the
    power makes the second derivative of a linear op nonzero)."""
    assert cugrad.gradcheck(op, [cugrad.tensor(x, requires_grad=True)])

    @cugrad.enable_grad()  # gradcheck evaluates fn under no_grad for its finite differences
    def first(t):
        (gx,) = cugrad.grad((op(t) ** power).sum(), [t], create_graph=True)
        return gx
    assert cugrad.gradcheck(first, [cugrad.tensor(x, requires_grad=True)])
