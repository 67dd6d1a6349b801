"""Einstein summation: einsum(equation, *operands), and its equation parser.

The parser turns any equation NumPy's einsum takes without broadcasting (implicit output, ``...``)
into an explicit one of letters only, checked against the operands' shapes before any work; the op
and its gradients then run the array library's einsum on explicit equations.
"""
from __future__ import annotations

import string

import numpy as np

from .. import backend
from .. import tensor as _tensor
from ..autograd import Function
from .broadcasting import require_tensor
from .linalg import autocast_operands
from .promotion import promote

_LETTERS = frozenset(string.ascii_letters)


class Einsum(Function):
    """z = einsum(equation, x₁, …, xₙ) for an explicit equation of letters ``s₁,…,sₙ->o``.

    The gradient of each operand is itself an einsum: dL/dxₖ = einsum(o, s_j (j ≠ k) -> sₖ) of the
    upstream gradient and the other operands. Two helpers keep that one contraction: a letter
    repeated in sₖ (a diagonal, ``ii->i``) gets a fresh letter in the result and an identity
    matrix joining the two, and a letter of sₖ found nowhere else (summed over, ``ij->i``) an
    all-ones vector. Backward calls this op, so create_graph gives every higher derivative.
    """

    fp_quiet = True

    @staticmethod
    def forward(ctx, equation, *operands):
        operands = promote(*operands)
        xp = backend.array_module(*operands)
        ctx.equation = equation
        ctx.save_for_backward(*operands)
        options = {"optimize": True} if xp is np and len(operands) > 1 else {}  # BLAS for contractions
        dtype = xp.result_type(*operands)   # (NumPy's einsum of bfloat16 answers in float32)
        return xp.asarray(xp.einsum(equation, *operands, **options)).astype(dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        operands = ctx.saved
        terms, out = _explicit_terms(ctx.equation)
        unused = [c for c in string.ascii_letters if c not in ctx.equation]
        grads = []
        for k, need in enumerate(ctx.needs_input_grad[1:]):
            grads.append(_operand_grad(g, operands, terms, out, k, list(unused)) if need else None)
        return (None, *grads)


def _operand_grad(g, operands, terms, out, k, fresh):
    """dL/d operands[k] as one einsum of ``g``, the other operands and the identity / ones helpers."""
    data = g.data if isinstance(g, _tensor.Tensor) else g
    xp, device = backend.array_module(data), backend.device_of(data)
    inputs, subs = [g], [out]
    for j, (operand, term) in enumerate(zip(operands, terms)):
        if j != k:
            inputs.append(operand)
            subs.append(term)
    target, seen = [], set()
    shape = operands[k].shape
    with backend.device_context(device):
        for letter, n in zip(terms[k], shape):
            if letter in seen:                           # a diagonal: δ(letter, fresh)
                new = fresh.pop()
                inputs.append(xp.eye(n, dtype=data.dtype))
                subs.append(letter + new)
                letter = new
            seen.add(letter)
            target.append(letter)
        present = set("".join(subs))
        for letter, n in zip(target, shape):
            if letter not in present:                   # summed over in the forward: broadcast back
                inputs.append(xp.ones(n, dtype=data.dtype))
                subs.append(letter)
                present.add(letter)
    return Einsum.apply(f"{','.join(subs)}->{''.join(target)}", *inputs)


def _explicit_terms(equation):
    """(input terms, output term) of an explicit equation of letters."""
    lhs, out = equation.split("->")
    return lhs.split(","), out


def einsum(equation, *operands):
    """Einstein summation over the operands' axes named by ``equation`` (NumPy's and PyTorch's
    notation): ``"ij,jk->ik"`` is a matmul, ``"ii->"`` a trace, ``"bij,bjk->bik"`` a batched product.
    Without ``->`` the output holds the letters used once, in alphabetical order (uppercase first);
    ``...`` stands for the same leading axes in each operand that has it (kept first in the output,
    right-aligned across operands). A letter must have one size everywhere: no broadcasting.
    """
    if not isinstance(equation, str):
        raise TypeError(f"einsum: equation must be a string, got {type(equation).__name__}")
    if not operands:
        raise ValueError(f"einsum: equation {equation!r} needs at least one operand")
    for i, operand in enumerate(operands):
        require_tensor("einsum", f"operand {i}", operand)
    explicit = parse(equation, [tuple(x.shape) for x in operands])
    return Einsum.apply(explicit, *autocast_operands(*operands))


def parse(equation, shapes):
    """``equation`` as an explicit equation of letters only for operands of ``shapes``; a
    ValueError naming the equation and what is wrong with it (for the operands' shapes)."""
    def fail(problem):
        return ValueError(f"einsum: equation {equation!r} {problem}")

    eq = equation.replace(" ", "")
    if eq.count("->") > 1:
        raise fail("has more than one '->'")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise fail(f"names {len(terms)} operand(s), got {len(shapes)}")
    for term in terms + ([rhs] if arrow else []):
        bad = set(term.replace("...", "")) - _LETTERS
        if bad:
            raise fail(f"holds {''.join(sorted(bad))!r}: subscripts are letters a-z, A-Z, and '...'")
        if term.count("...") > 1:
            raise fail(f"has more than one '...' in {term!r}")
    # the axes '...' covers in each operand, right-aligned across operands
    spans = []
    for i, (term, shape) in enumerate(zip(terms, shapes)):
        named = len(term.replace("...", ""))
        span = len(shape) - named if "..." in term else 0
        if span < 0 or ("..." not in term and named != len(shape)):
            raise fail(f"gives operand {i} {named} subscript(s) {term!r}, but it has {len(shape)} dimension(s) "
                       f"(shape {shape})")
        spans.append(span)
    width = max(spans)
    unused = [c for c in string.ascii_letters if c not in eq]
    if len(unused) < width:
        raise fail(f"leaves too few unused letters for the {width} axes of '...'")
    ellipsis = "".join(unused[:width])
    terms = [t.replace("...", ellipsis[width - s:] if s else "") for t, s in zip(terms, spans)]
    if arrow:
        if "..." in rhs and not any("..." in t for t in lhs.split(",")):
            raise fail("has '...' in its output but in no operand")
        out = rhs.replace("...", ellipsis)
        repeated = sorted({c for c in out if out.count(c) > 1})
        if repeated:
            raise fail(f"repeats {''.join(repeated)!r} in its output")
        missing = sorted(set(out) - set("".join(terms)))
        if missing:
            raise fail(f"has output subscript(s) {''.join(missing)!r} that no operand has")
    else:
        letters = "".join(terms)
        out = ellipsis + "".join(sorted(c for c in set(letters) - set(ellipsis) if letters.count(c) == 1))
    sizes = {}
    for i, (term, shape) in enumerate(zip(terms, shapes)):
        for letter, n in zip(term, shape):
            first = sizes.setdefault(letter, (n, i))
            if first[0] != n:
                name = "'...' axis" if letter in ellipsis else f"subscript {letter!r}"
                raise fail(f"gives {name} size {first[0]} in operand {first[1]} and {n} in operand {i} "
                           f"(shapes {shapes[first[1]]} and {shape}; einsum does not broadcast)")
    return f"{','.join(terms)}->{out}"
