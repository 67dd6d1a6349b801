"""Differential fuzzer: every differentiable op cugrad exposes, value and gradient, against PyTorch
CPU in float64.

Each row of ``OPS`` is one op: its name, the cugrad call, the PyTorch call, and a hypothesis
strategy that draws the op's inputs (shapes with 0-d, size-0 and size-1 axes, broadcast pairs,
negative axes, non-contiguous views, and adversarial values: zeros and negative bases, ±1e4
logits, exact ties). For every drawn case both libraries run the op, and
- where PyTorch refuses the input, cugrad must refuse it too (a ValueError, IndexError, TypeError
  or RuntimeError, never a crash of another kind);
- otherwise the values agree, and so does the gradient of ``(out · c).sum()`` for a random
  cotangent ``c`` with respect to every float input, to 1e-10 relative (``assert_close``; a row
  whose formula cancels large terms names their size, ``Op.terms``);
- and the second-order gradient: of Σᵢ gradᵢ·vᵢ, the gradients taken with create_graph=True.
Where cugrad's convention differs from PyTorch's on purpose, the row's PyTorch call computes
cugrad's rule from PyTorch primitives and says so; README.md lists each such difference in its
table "Intended differences from PyTorch". ``FOUND`` keeps the cases the fuzzer found, as they
shrank, so they run whatever a profile draws.

Adding an op is one row. Profiles (tests/conftest.py): "ci", the default, is derandomized and
bounded; ``--hypothesis-profile=deep`` draws many more cases.
"""
from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

try:
    import torch
    import torch.nn.functional as TF
except ImportError:  # the same rule as the suite's other tool checks (see tests/conftest.py)
    if os.environ.get("CI"):
        pytest.fail("PyTorch is not installed, so the differential fuzzer cannot run (CI is set)",
                    pytrace=False)
    pytest.skip("PyTorch is not installed (pip install torch): the differential fuzzer needs it",
                allow_module_level=True)

import cugrad
from cugrad import nn, ops
from cugrad.kernels import ACTIVATION_TABLE
from cugrad.nn import functional as F
from activation_refs import cugrad_fn, param_values, torch_fn

RTOL = 1e-10
TERMS_RTOL = 1e-13   # ~500 ulps of the largest term a formula cancels (see Op.terms)
REFUSALS = (ValueError, IndexError, TypeError, RuntimeError)


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Leaf:
    """A float64 input the gradient is taken with respect to. ``layout`` is how it reaches the op:
    "contiguous"; "fortran" (the leaf's own array is column-major); "transposed" (the op gets
    ``leaf.T`` of a leaf stored transposed); "strided" (the op gets ``leaf[..., ::2]``)."""

    value: np.ndarray
    layout: str = "contiguous"

    def stored(self) -> np.ndarray:
        """The leaf's own array."""
        v = self.value
        if not v.ndim:  # (np.asfortranarray and np.ascontiguousarray make a 0-d array 1-d)
            return v.copy()
        if self.layout == "fortran":
            return np.asfortranarray(v)
        if self.layout == "transposed":
            return np.ascontiguousarray(v.T)
        if self.layout == "strided":
            out = np.full(v.shape[:-1] + (2 * v.shape[-1],), 7.0)
            out[..., ::2] = v
            return out
        return v.copy()

    def view(self, leaf):
        """What the op gets from the leaf (a view taken by the op's own library)."""
        if self.layout == "transposed":
            return leaf.permute(tuple(reversed(range(leaf.ndim)))) if isinstance(leaf, torch.Tensor) else leaf.T
        if self.layout == "strided" and self.value.ndim:
            return leaf[..., ::2]
        return leaf


@dataclass(frozen=True)
class Const:
    """A constant array input: a tensor in both libraries, or with ``raw`` the NumPy array itself
    for cugrad (``x + ndarray``, an index array)."""

    value: np.ndarray
    raw: bool = False


@dataclass
class Case:
    args: tuple
    kwargs: dict = field(default_factory=dict)

    def __repr__(self):
        with np.printoptions(precision=17, threshold=100):
            return f"Case(args={self.args!r}, kwargs={self.kwargs!r})"


def case(*args, **kwargs) -> Case:
    return Case(args, kwargs)


def _convert(value, side, leaves):
    """``value`` with Leaf and Const replaced by tensors of ``side`` ("cugrad" or "torch");
    each Leaf's tensor is appended to ``leaves``."""
    if isinstance(value, Leaf):
        stored = value.stored()
        if side == "torch":
            leaf = torch.tensor(stored, dtype=torch.float64, requires_grad=True)
        else:
            leaf = cugrad.tensor(stored, dtype="float64", requires_grad=True)
        leaves.append(leaf)
        return value.view(leaf)
    if isinstance(value, Const):
        if side == "torch":
            return torch.from_numpy(value.value.copy())
        return value.value.copy() if value.raw else cugrad.tensor(value.value)
    if isinstance(value, (tuple, list)):
        return type(value)(_convert(v, side, leaves) for v in value)
    if isinstance(value, dict):
        return {k: _convert(v, side, leaves) for k, v in value.items()}
    return value


# --------------------------------------------------------------------------- strategies

MAX_SIDE = 3
SPECIAL = (0.0, -0.0, 1.0, -1.0, 0.5, -2.0, 3.0, 1e-8, 1e4, -1e4)
ELEMENTS = {
    "normal": st.floats(-10, 10, allow_subnormal=False),
    "ints": st.integers(-3, 3).map(float),            # exact ties and zeros
    "special": st.sampled_from(SPECIAL),               # zeros, ±1e4, a tiny value
    "wide": st.floats(-1e4, 1e4, allow_subnormal=False),
}
POSITIVE = {  # for inputs a formula needs positive (probabilities, LayerNorm eps)
    "normal": st.floats(0, 1, allow_subnormal=False),
    "ints": st.integers(0, 2).map(lambda n: n / 2),
    "special": st.sampled_from((0.0, 1.0, 0.5, 1e-8)),
}
LAYOUTS = ("contiguous", "fortran", "transposed", "strided")
shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=MAX_SIDE)
nonempty_shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=MAX_SIDE)


@st.composite
def arrays(draw, shape, elements=ELEMENTS):
    """A float64 array of ``shape`` whose elements all come from one kind drawn from ``elements``."""
    kind = draw(st.sampled_from(sorted(elements)))
    return draw(hnp.arrays(np.float64, shape, elements=elements[kind]))


@st.composite
def leaves(draw, shape, elements=ELEMENTS):
    return Leaf(draw(arrays(shape, elements)), draw(st.sampled_from(LAYOUTS)))


def scalars(elements=ELEMENTS):
    """A Python float operand."""
    return st.sampled_from(sorted(elements)).flatmap(lambda kind: elements[kind])


@st.composite
def unary(draw, shape_strategy=shapes, elements=ELEMENTS, **kwargs):
    """One leaf, plus each keyword's strategy drawn as a keyword argument."""
    x = draw(leaves(draw(shape_strategy), elements))
    return Case((x,), {k: draw(v) for k, v in kwargs.items()})


@st.composite
def pairs(draw, a_elements=ELEMENTS, b_elements=ELEMENTS, num_shapes=2):
    """Leaves of mutually broadcastable shapes."""
    drawn = draw(hnp.mutually_broadcastable_shapes(num_shapes=num_shapes, min_dims=0, max_dims=4,
                                                   min_side=0, max_side=MAX_SIDE)).input_shapes
    elements = [a_elements] + [b_elements] * (num_shapes - 1)
    return Case(tuple(draw(leaves(s, e)) for s, e in zip(drawn, elements)))


@st.composite
def with_scalar(draw, scalar_first=False, x_elements=ELEMENTS, s_elements=ELEMENTS):
    """A leaf and a Python float (in either order)."""
    x = draw(leaves(draw(shapes), x_elements))
    s = draw(scalars(s_elements))
    return case(s, x) if scalar_first else case(x, s)


@st.composite
def with_array(draw, array_first=False):
    """A leaf and a constant NumPy array of a broadcastable shape (cugrad gets the array itself)."""
    sa, sb = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3,
                                                    max_side=MAX_SIDE)).input_shapes
    x, c = draw(leaves(sa)), Const(draw(arrays(sb)), raw=True)
    return case(c, x) if array_first else case(x, c)


def axes_of(ndim):
    """An axis in PyTorch's range for ``ndim`` dimensions (a 0-d tensor takes 0 and -1)."""
    n = max(ndim, 1)
    return st.integers(-n, n - 1)


@st.composite
def reduction(draw, elements=ELEMENTS, shape_strategy=shapes, **kwargs):
    """A leaf, and axis = None, an int or a tuple of distinct axes (negative ones too), keepdims."""
    shape = draw(shape_strategy)
    ndim = len(shape)
    axis = draw(st.one_of(
        st.none(),
        axes_of(ndim),
        st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim).flatmap(
            lambda picked: st.tuples(*(st.sampled_from((a, a - ndim)) for a in picked))),
    ) if ndim else st.sampled_from((None, 0, -1, ())))
    extra = {k: draw(v) for k, v in kwargs.items()}
    return case(draw(leaves(shape, elements)), axis=axis, keepdims=draw(st.booleans()), **extra)


@st.composite
def along_axis(draw, shape_strategy=shapes, elements=ELEMENTS):
    """A leaf and one axis (softmax, log_softmax)."""
    shape = draw(shape_strategy)
    return case(draw(leaves(shape, elements)), draw(axes_of(len(shape))))


def logits_elements():
    """Logits: the usual kinds, and rows sharing a large offset (softmax/log-sum-exp cancellation)."""
    return {**ELEMENTS, "offset": st.integers(-3, 3).map(lambda n: 1e4 + n / 2)}


# --------------------------------------------------------------------------- op-specific strategies


@st.composite
def clip_cases(draw):
    bound = st.one_of(st.none(), st.integers(-3, 3).map(float), scalars())
    return case(draw(leaves(draw(shapes))), draw(bound), draw(bound))


@st.composite
def where_cases(draw):
    sc, sa, sb = draw(hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3,
                                                        max_side=MAX_SIDE)).input_shapes
    a, b = draw(leaves(sa)), draw(leaves(sb))
    a, b = draw(st.sampled_from(((a, b), (a, draw(scalars())), (draw(scalars()), b))))
    return case(Const(draw(hnp.arrays(np.bool_, sc)), raw=draw(st.booleans())), a, b)


@st.composite
def reshape_cases(draw):
    shape = draw(shapes)
    size = math.prod(shape)
    # a target with the same number of elements: the axes regrouped, padded with 1s, maybe one -1
    target = list(draw(st.permutations(shape)))
    if target and draw(st.booleans()):
        i = draw(st.integers(0, len(target) - 2)) if len(target) > 1 else 0
        target[i:i + 2] = [math.prod(target[i:i + 2])]
    for _ in range(draw(st.integers(0, 2))):
        target.insert(draw(st.integers(0, len(target))), 1)
    if target and size and draw(st.booleans()):
        target[draw(st.integers(0, len(target) - 1))] = -1
    return case(draw(leaves(shape)), tuple(target))


@st.composite
def permute_cases(draw):
    shape = draw(shapes)
    perm = draw(st.permutations(range(len(shape))))
    perm = tuple(draw(st.sampled_from((a, a - len(shape)))) for a in perm)
    return case(draw(leaves(shape)), perm)


@st.composite
def swapaxes_cases(draw):
    shape = draw(shapes)
    return case(draw(leaves(shape)), draw(axes_of(len(shape))), draw(axes_of(len(shape))))


@st.composite
def broadcast_to_cases(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=MAX_SIDE))
    target = [draw(st.integers(0, MAX_SIDE)) if n == 1 else n for n in shape]
    target = [draw(st.integers(0, MAX_SIDE)) for _ in range(draw(st.integers(0, 2)))] + target
    return case(draw(leaves(shape)), tuple(target))


@st.composite
def one_dim_cases(draw, extra=0):
    """A leaf and one dim in PyTorch's range for ``ndim + extra`` dimensions (unsqueeze: extra=1)."""
    shape = draw(shapes)
    return case(draw(leaves(shape)), draw(axes_of(len(shape) + extra)))


@st.composite
def masked_fill_cases(draw):
    """A leaf, a bool mask of a shape that broadcasts with it (the result has the broadcast shape),
    and a fill value (a Python number or a 0-d leaf)."""
    sx, sm = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3,
                                                    max_side=MAX_SIDE)).input_shapes
    value = draw(st.one_of(st.sampled_from(SPECIAL), leaves(())))
    return case(draw(leaves(sx)), Const(draw(hnp.arrays(np.bool_, sm))), value)


@st.composite
def unflatten_cases(draw):
    """A leaf, a dim, and sizes that split it (with −1 and size-1 pieces)."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=MAX_SIDE))
    dim = draw(axes_of(len(shape)))
    n = shape[dim]
    return case(draw(leaves(shape)), dim, draw(st.sampled_from(((n,), (1, n), (n, 1), (-1, 1), (1, -1, 1)))))


@st.composite
def flip_cases(draw):
    """A leaf and a tuple of distinct dims, negative ones too."""
    shape = draw(shapes)
    ndim = len(shape)
    dims = draw(st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim).flatmap(
        lambda picked: st.tuples(*(st.sampled_from((a, a - ndim)) for a in picked)))) if ndim else ()
    return case(draw(leaves(shape)), dims)


@st.composite
def concatenate_cases(draw):
    shape = list(draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=MAX_SIDE)))
    axis = draw(axes_of(len(shape)))
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        if shape:
            shape[axis] = draw(st.integers(0, MAX_SIDE))
        parts.append(draw(leaves(tuple(shape))))
    return case(parts, axis=axis)


@st.composite
def stack_cases(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=MAX_SIDE))
    parts = [draw(leaves(shape)) for _ in range(draw(st.integers(1, 3)))]
    return case(parts, axis=draw(st.integers(-len(shape) - 1, len(shape))))


@st.composite
def basic_index(draw, shape):
    """Ints (negative too), slices with positive steps and out-of-range bounds, None, Ellipsis."""
    parts = []
    for n in shape[:draw(st.integers(0, len(shape)))]:
        bound = st.one_of(st.none(), st.integers(-n - 1, n + 1))
        if n and draw(st.booleans()):
            parts.append(draw(st.integers(-n, n - 1)))
        else:
            parts.append(slice(draw(bound), draw(bound), draw(st.sampled_from((None, 1, 2, 3)))))
    if draw(st.booleans()):
        parts.insert(draw(st.integers(0, len(parts))), None)
    if draw(st.booleans()) and len(parts) < len(shape):
        parts.insert(draw(st.integers(0, len(parts))), Ellipsis)
    return tuple(parts)


@st.composite
def advanced_index(draw, shape):
    """Integer arrays with repeated and negative entries, a boolean mask, or both, mixed with slices."""
    parts, dims = [], 0
    while dims < len(shape) and draw(st.booleans()):
        n = shape[dims]
        kind = draw(st.sampled_from(("ints", "mask", "slice")))
        if kind == "ints" and n:
            idx = draw(hnp.arrays(np.int64, draw(hnp.array_shapes(min_dims=1, max_dims=2, max_side=4)),
                                  elements=st.integers(-n, n - 1)))
            parts.append(Const(idx, raw=draw(st.booleans())))
            dims += 1
        elif kind == "mask":
            width = draw(st.integers(1, len(shape) - dims))
            mask = draw(hnp.arrays(np.bool_, shape[dims:dims + width]))
            parts.append(Const(mask, raw=draw(st.booleans())))
            dims += width
        else:
            parts.append(slice(None, None, draw(st.sampled_from((1, 2)))))
            dims += 1
    if not any(isinstance(p, Const) for p in parts) and shape and shape[0]:
        parts = [Const(np.array([0, -1, 0], dtype=np.int64))] + parts[1:]  # at least one array
    return tuple(parts)


@st.composite
def getitem_cases(draw, index_strategy):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=MAX_SIDE))
    return case(draw(leaves(shape)), draw(index_strategy(shape)))


@st.composite
def matmul_cases(draw):
    n, k, m = (draw(st.integers(0, MAX_SIDE)) for _ in range(3))
    ba, bb = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2,
                                                    max_side=MAX_SIDE)).input_shapes
    sa = draw(st.sampled_from(((k,), ba + (n, k))))
    sb = draw(st.sampled_from(((k,), bb + (k, m))))
    return case(draw(leaves(sa)), draw(leaves(sb)))


@st.composite
def linear_cases(draw):
    """linear's fused activation: none or any row of the table, with its parameter (negative_slope)."""
    n_in, n_out = draw(st.integers(0, MAX_SIDE)), draw(st.integers(0, MAX_SIDE))
    lead = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=MAX_SIDE))
    bias = draw(st.one_of(st.none(), leaves((n_out,))))
    activation = draw(st.sampled_from((None, *ACTIVATION_TABLE)))
    p = draw(st.sampled_from(param_values(activation))) if activation and ACTIVATION_TABLE[activation].param else None
    return case(draw(leaves(lead + (n_in,))), draw(leaves((n_out, n_in))), bias, activation=activation,
                negative_slope=p)


REDUCTIONS = st.sampled_from(("mean", "sum", "none"))


@st.composite
def class_cases(draw, prob_target=False):
    n, c = draw(st.integers(0, 4)), draw(st.integers(1, 4))
    logits = draw(leaves((n, c), logits_elements()))
    if prob_target:
        target = draw(leaves((n, c), POSITIVE))
    else:
        target = Const(draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1))), raw=draw(st.booleans()))
    return case(logits, target, reduction=draw(REDUCTIONS))


@st.composite
def hinge_cases(draw):
    base = draw(class_cases())
    return case(*base.args, margin=draw(st.sampled_from((0.0, 0.5, 1.0, 2.0))), **base.kwargs)


@st.composite
def mse_cases(draw, **options):
    """Two leaves of one shape, a reduction, and one draw from each strategy in ``options``."""
    shape = draw(shapes)
    return case(draw(leaves(shape)), draw(leaves(shape)), reduction=draw(REDUCTIONS),
                **{name: draw(values) for name, values in options.items()})


@st.composite
def l2_cases(draw):
    return case([draw(leaves(draw(shapes))) for _ in range(draw(st.integers(1, 3)))],
                weight=draw(st.sampled_from((1.0, 0.5, 1e-4, 0.0))))


@st.composite
def layer_norm_cases(draw):
    lead = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=MAX_SIDE))
    n = draw(st.integers(1, 4))
    return case(draw(leaves(lead + (n,))), draw(leaves((n,))), draw(leaves((n,))),
                eps=draw(st.sampled_from((1e-5, 0.1))))


# --------------------------------------------------------------------------- shape and indexing ops (issue 15)


@st.composite
def split_cases(draw, chunks=False):
    """A leaf of 1+ dims, a dim, and a split size, a list of sizes summing to the dim's size (zeros
    too) or a chunk count; sometimes a size that does not fit (both libraries refuse)."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=MAX_SIDE))
    dim = draw(axes_of(len(shape)))
    n = shape[dim]
    if chunks:
        how = draw(st.integers(0, 4))
    elif draw(st.booleans()):
        how = draw(st.integers(0, 4))
    else:
        cuts = sorted(draw(st.lists(st.integers(0, n), max_size=3)))
        how = [b - a for a, b in zip([0] + cuts, cuts + [n])]
        if draw(st.integers(0, 9)) == 0:
            how[-1] += 1
    return case(draw(leaves(shape)), how, dim)


def pieces(fn):
    """A call returning a tuple of pieces, as one tensor: every other piece (the rest get no
    gradient), the i-th scaled by i + 1 (a piece misplaced shows), joined along ``dim``."""

    def call(x, how, dim):
        kept = fn(x, how, dim)[::2]
        joined = [p * float(i + 1) for i, p in enumerate(kept)]
        return torch.cat(joined, dim) if isinstance(x, torch.Tensor) else ops.concatenate(joined, dim)

    return call


@st.composite
def repeat_cases(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=MAX_SIDE))
    sizes = draw(st.lists(st.integers(0, 3), min_size=max(len(shape) - draw(st.integers(0, 1)), 0),
                          max_size=len(shape) + 2))
    if sizes and math.prod(shape) and draw(st.integers(0, 9)) == 0:
        sizes[0] = -1   # (PyTorch takes −1 for an empty tensor, whose result is empty: cugrad refuses it)
    return case(draw(leaves(shape)), tuple(sizes))


@st.composite
def pad_cases(draw, mode):
    """A leaf and PyTorch's flat pad widths: for "constant" any dims, negative widths too, and a
    value; for the other modes the dims PyTorch takes (one or two more than the padded ones)."""
    if mode == "constant":
        shape = draw(shapes)
        pairs = draw(st.integers(0, len(shape)))
        pad = draw(st.lists(st.integers(-2, 3), min_size=2 * pairs, max_size=2 * pairs))
        return case(draw(leaves(shape)), tuple(pad), mode, draw(st.sampled_from((0.0, -1.5, 1e4))))
    pairs = draw(st.integers(1, 3 if mode != "circular" else 2))
    shape = draw(hnp.array_shapes(min_dims=pairs + 1, max_dims=pairs + 2, min_side=1, max_side=4))
    pad = draw(st.lists(st.integers(0, 4), min_size=2 * pairs, max_size=2 * pairs))
    return case(draw(leaves(shape)), tuple(pad), mode)


@st.composite
def triangle_cases(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=MAX_SIDE))
    return case(draw(leaves(shape)), draw(st.integers(-4, 4)))


@st.composite
def diagonal_cases(draw):
    shape = draw(hnp.array_shapes(min_dims=2, max_dims=4, min_side=0, max_side=MAX_SIDE))
    return case(draw(leaves(shape)), draw(st.integers(-4, 4)), draw(axes_of(len(shape))), draw(axes_of(len(shape))))


@st.composite
def gather_index(draw, shape, dim, min_side=0):
    """An int64 index no larger than ``shape`` (at most 4 along ``dim``), repeats included, values in
    [0, size) — and now and then one out of range (both libraries refuse)."""
    index_shape = tuple(draw(st.integers(min_side, 4 if d == dim else n)) for d, n in enumerate(shape))
    n = shape[dim]
    index = draw(hnp.arrays(np.int64, index_shape, elements=st.integers(0, n - 1)))
    if index.size and draw(st.integers(0, 9)) == 0:
        index.flat[0] = draw(st.sampled_from((-1, n)))
    return Const(index, raw=draw(st.booleans()))


@st.composite
def gather_cases(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=MAX_SIDE))
    dim = draw(axes_of(len(shape)))
    return case(draw(leaves(shape)), dim, draw(gather_index(shape, dim)))


@st.composite
def scatter_add_cases(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=MAX_SIDE))
    dim = draw(axes_of(len(shape)))
    # (PyTorch's backward fails for an empty index, and for a src larger than the index:
    # tests/test_ops_indexing.py covers both)
    index = draw(gather_index(shape, dim, min_side=1))
    return case(draw(leaves(shape)), dim, index, draw(leaves(index.value.shape)))


@st.composite
def one_hot_cases(draw):
    index = draw(hnp.arrays(np.int64, draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=4)),
                            elements=st.integers(-1, 4)))
    return case(Const(index), draw(st.sampled_from((-1, 0, 3, 5))))


@st.composite
def sort_cases(draw, distinct=False):
    """A leaf, a dim, and a direction; ties (``ints``) unless ``distinct`` (topk: PyTorch's order of
    equal elements there is its kernel's, not a rule)."""
    shape = draw(shapes)
    if distinct:
        values = draw(hnp.arrays(np.float64, shape, elements=st.floats(-10, 10, allow_subnormal=False), unique=True))
        x = Leaf(values, draw(st.sampled_from(LAYOUTS)))
    else:
        x = draw(leaves(shape))
    return case(x, draw(axes_of(len(shape))), draw(st.booleans()))


def t_sort(x, dim, descending):
    values, indices = torch.sort(x, dim=dim, descending=descending, stable=True)
    return values + indices.double()


def c_sort(x, dim, descending):
    values, indices = ops.sort(x, dim, descending)
    return values + indices.astype("float64")


def topk_of(library):
    """topk's values plus its indices, for the k drawn from the leaf's size (and k = size + 1)."""

    def call(x, dim, largest):
        n = x.shape[dim] if x.ndim else 1
        for k in sorted({0, n // 2, n, n + 1}):
            values, indices = library.topk(x, k, dim, largest)
            yield values + (indices.double() if library is torch else indices.astype("float64"))

    def joined(x, dim, largest):
        outs = [o.reshape(-1) for o in call(x, dim, largest)]
        return torch.cat(outs) if library is torch else ops.concatenate(outs)

    return joined


# erf, logaddexp, lerp, einsum, binary cross-entropy, label smoothing and ignored labels

@st.composite
def lerp_cases(draw):
    """start, end and a weight that is a third leaf (all three broadcast) or a Python float."""
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, min_side=0,
                                                    max_side=MAX_SIDE)).input_shapes
    start, end = draw(leaves(shapes[0])), draw(leaves(shapes[1]))
    weight = draw(st.one_of(leaves(shapes[2]), st.sampled_from((0.0, 0.25, 0.5, 1.0, -1.5, 2.0))))
    return case(start, end, weight)


EINSUM_EQUATIONS = ("ij,jk->ik", "ij,jk", "ba", "ij->", "ij->j", "ii->i", "ii", "iij->ji", "i,i->", "i,j->ij",
                    "bij,bjk->bik", "ij,jk,kl->il", "ij,ij->ij", ",ij->ji", "...ij,...jk", "...i->i", "Ab,bA")


@st.composite
def einsum_cases(draw):
    """An equation of EINSUM_EQUATIONS and operands whose letters get one drawn size each (0 to 3),
    '...' a drawn run of leading axes."""
    equation = draw(st.sampled_from(EINSUM_EQUATIONS))
    sizes = {letter: draw(st.integers(0, MAX_SIDE)) for letter in sorted(set(equation) - set(".,->"))}
    batch = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=MAX_SIDE))
    terms = equation.split("->")[0].split(",")
    operands = []
    for i, term in enumerate(terms):
        lead = batch if term.startswith("...") and i == 0 else ()   # (right-aligned: the first takes them)
        operands.append(draw(leaves(lead + tuple(sizes[c] for c in term.replace("...", "")))))
    return case(equation, *operands)


# (no weight so small that g·w underflows: 0·inf where p = 0 would be nan here, inf in PyTorch's order)
BCE_WEIGHTS = {"normal": st.floats(1e-3, 2), "special": st.sampled_from((0.0, 0.5, 1.0, 2.0))}


@st.composite
def bce_cases(draw, with_weight=False):
    """Probabilities p (with 0, 1 and 1e-8) and targets in [0, 1] of one shape, a reduction, and a
    constant weight broadcasting to the shape."""
    shape = draw(shapes)
    kwargs = {"reduction": draw(REDUCTIONS)}
    if with_weight:
        kwargs["weight"] = Const(draw(arrays(shape[draw(st.integers(0, len(shape))):], BCE_WEIGHTS)))
    return case(draw(leaves(shape, POSITIVE)), draw(leaves(shape, POSITIVE)), **kwargs)


@st.composite
def pos_weight_cases(draw):
    """Logits and targets of one shape, a constant pos_weight over the last axis, maybe a weight."""
    shape = draw(shapes)
    kwargs = {"reduction": draw(REDUCTIONS),
              "pos_weight": Const(draw(arrays(shape[-1:], {"normal": st.floats(0.1, 4)})))}
    if draw(st.booleans()):
        kwargs["weight"] = Const(draw(arrays(shape, POSITIVE)))
    return case(draw(leaves(shape)), draw(leaves(shape, POSITIVE)), **kwargs)


@st.composite
def label_option_cases(draw, smoothing=True):
    """Logits (N, C), labels with some rows set to the drawn ignore_index, a label_smoothing."""
    base = draw(class_cases())
    logits, target = base.args
    ignore_index = draw(st.sampled_from((-100, -1, 0)))
    labels = target.value.copy()
    if labels.size:
        labels[draw(hnp.arrays(bool, labels.shape))] = ignore_index
    kwargs = dict(base.kwargs, ignore_index=ignore_index)
    if smoothing:
        kwargs["label_smoothing"] = draw(st.sampled_from((0.0, 0.1, 1.0)))
    return case(logits, Const(labels, raw=target.raw), **kwargs)


@st.composite
def smoothed_probability_cases(draw):
    base = draw(class_cases(prob_target=True))
    return case(*base.args, label_smoothing=draw(st.sampled_from((0.0, 0.2, 1.0))), **base.kwargs)


class _BCERule(torch.autograd.Function):
    """PyTorch's binary cross-entropy with its own first derivatives, (p − y)/max(p(1 − p), ε) and
    log(1 − p) − log p, written from differentiable primitives: cugrad's rule at every order.
    PyTorch's second derivative adds ε elsewhere (p + ε, 1 − p + ε): an intended difference."""

    @staticmethod
    def forward(ctx, p, y):
        ctx.save_for_backward(p, y)
        return TF.binary_cross_entropy(p, y, reduction="none")

    @staticmethod
    def backward(ctx, g):
        p, y = ctx.saved_tensors
        eps = float(np.float32(1e-12))
        return g * (p - y) / torch.clamp(p * (1 - p), min=eps), g * (torch.log(1 - p) - torch.log(p))


def logaddexp_terms(c):
    """The second derivative σ(a − b)σ(b − a) reaches each operand from both gradients, with
    opposite signs: terms of size ≤ 1 cancel."""
    return 0.0, 1.0


def bce_terms(c):
    """The second derivatives 1/(p(1 − p)) of the two gradients cancel (at p = ½ exactly)."""
    p = c.args[0].value
    return 0.0, 1.0 / max(float((p * (1 - p)).max(initial=0.0)), 1e-12)


def bce_logits_terms(c):
    """PyTorch forms log(1 + e^−|x|) with log, not log1p, and cancels terms of size |x| (times
    pos_weight): its rounding, not a disagreement."""
    x = np.abs(c.args[0].value).max(initial=0.0)
    pos_weight = c.kwargs.get("pos_weight")
    w = 1.0 + (np.abs(pos_weight.value).max(initial=0.0) if pos_weight is not None else 1.0)
    return 1.0 + x * w, w


def t_bce_rule(p, y, reduction="mean", weight=None):
    loss = _BCERule.apply(p, y)
    loss = loss if weight is None else loss * weight
    return {"none": loss, "sum": loss.sum(), "mean": loss.mean()}[reduction]


# --------------------------------------------------------------------------- PyTorch references


def t_reduce(fn):
    """A PyTorch reduction under NumPy's axis rule: axis=None reduces every axis, and axis=()
    none (PyTorch's dim=() would reduce every axis: an intended difference)."""

    def call(x, axis=None, keepdims=False, **kwargs):
        if axis == ():
            return fn(x.unsqueeze(0), dim=0, keepdim=False, **kwargs)
        dims = tuple(range(x.ndim)) if axis is None else axis
        return fn(x, dim=dims, keepdim=keepdims, **kwargs)

    return call


class _NanGradient(torch.autograd.Function):
    """The identity, with a nan gradient."""

    @staticmethod
    def forward(ctx, y):
        return y.clone()

    @staticmethod
    def backward(ctx, g):
        return g * math.nan


def t_spread(fn):
    """PyTorch's var or std, with cugrad's rule where n − ddof ≤ 0: the value is PyTorch's
    (inf, or nan when every deviation is 0) and the gradient nan (PyTorch's is ±inf, ±0 or nan
    depending on the call): an intended difference."""

    def call(x, axis=None, keepdims=False, ddof=0):
        y = t_reduce(fn)(x, axis, keepdims, correction=ddof)
        return _NanGradient.apply(y) if _degenerate(x.shape, axis, ddof) else y

    return call


def _degenerate(shape, axis, ddof):
    """True where var/std have n − ddof ≤ 0."""
    axes = range(len(shape)) if axis is None or not shape else [axis] if isinstance(axis, int) else axis
    return math.prod(shape[a] for a in axes) <= ddof


def spread_has_second_order(c):
    """PyTorch's second order where n − ddof ≤ 0 is 0 or nan depending on the call; cugrad's is nan
    (as its first order): not compared."""
    return not _degenerate(c.args[0].value.shape, c.kwargs["axis"], c.kwargs.get("ddof", 0))


t_var, t_std = t_spread(torch.var), t_spread(torch.std)


def _spread_sizes(c):
    """The largest |x| and the smallest nonzero standard deviation of a var/std case."""
    x, axis, ddof = c.args[0].value, c.kwargs["axis"], c.kwargs.get("ddof", 0)
    if not x.size:
        return 0.0, 0.0
    axes = None if axis is None or x.ndim == 0 else axis
    with np.errstate(all="ignore"):
        sigma = np.sqrt(np.var(x, axis=axes))
    sigma = sigma[np.isfinite(sigma) & (sigma > 0)]
    return np.abs(x).max(), sigma.min(initial=np.inf)


def var_terms(c):
    """x − mean cancels terms of size |x|: in the value they are squared, in the gradient not."""
    big, _ = _spread_sizes(c)
    return big * big, 2 * big


def std_terms(c):
    """As var's, divided by σ (once for the value and gradient, twice in second order)."""
    big, sigma = _spread_sizes(c)
    if not 0 < sigma < np.inf:
        return 0.0, 0.0
    return big, big / sigma + (big / sigma) ** 2


def t_linear(x, w, b=None, activation=None, negative_slope=None):
    y = TF.linear(x, w, b)
    return y if activation is None else ACT_REFERENCE.get(activation, torch_fn(activation, negative_slope))(y)


def t_hinge(scores, target, margin=1.0, reduction="mean"):
    """Σ_{j≠y} max(0, s_j − s_y + margin) from PyTorch primitives. (PyTorch's multi_margin_loss
    divides it by the number of classes, and on an empty batch returns 0 for "mean", or
    uninitialised memory when there is one class.)"""
    others = torch.ones_like(scores).scatter_(1, target.reshape(-1, 1), 0.0)
    rows = (TF.relu(scores - scores.gather(1, target.reshape(-1, 1)) + margin) * others).sum(dim=1)
    return {"mean": rows.mean, "sum": rows.sum, "none": lambda: rows}[reduction]()


class _Softplus(torch.autograd.Function):
    """ln(1 + eˣ) = logaddexp(0, x) with the gradient σ(x) by PyTorch's sigmoid (logaddexp's own
    second derivative is nan below x = −709)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.logaddexp(torch.zeros_like(x), x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * torch.sigmoid(x)


def t_softplus(x):
    """cugrad's softplus is exact, ln(1 + eˣ) everywhere; PyTorch's returns x itself above
    threshold=20 (a relative error up to 2e-9 in value and gradient): an intended difference,
    so the reference is the exact formula."""
    return _Softplus.apply(x)


def t_hardsigmoid(x):
    """relu6(x + 3)/6 with gradient 1/6 on (−3, 3) from PyTorch primitives: PyTorch's own
    hardsigmoid multiplies its gradient by 1/6 rounded to float32 (3e-8 relative) and has no second
    derivative."""
    return torch.where((x > -3) & (x < 3), x / 6 + 0.5, (x >= 3).to(x.dtype))


# An activation row's PyTorch reference is PyTorch's function of the same name, except where it
# is not exact (by name; a new row of the table needs no entry)
ACT_REFERENCE = {"hardsigmoid": t_hardsigmoid}
# (both libraries take these gradients from the output, y(1 − y) and 1 − y²: their rounding
# differs by an ulp of y, which the subtraction from 1 magnifies)
ACT_TERMS = {"sigmoid": lambda c: (0.0, 1.0), "tanh": lambda c: (0.0, 1.0)}


def activation_row(name):
    """The row of activation ``name`` of the table, its parameter drawn from param_values."""
    row = ACTIVATION_TABLE[name]
    params = {} if row.param is None else {row.param[0]: st.sampled_from(param_values(name))}
    return Op(name, cugrad_fn(name), ACT_REFERENCE.get(name, getattr(TF, name)), unary(**params),
              ACT_TERMS.get(name, Op.terms))


def t_getitem(x, index):
    return x[index]


def t_flat_gather(x, index):
    """x[index] for any NumPy index (negative steps too, which PyTorch's slicing lacks), as a
    gather of the flat positions NumPy's indexing picks."""
    picked = np.arange(x.numel()).reshape(tuple(x.shape))[index]
    return x.reshape(-1)[torch.from_numpy(picked.copy())]


def c_layer_norm(x, weight, bias, eps):
    layer = nn.LayerNorm(x.shape[-1], eps=eps, dtype="float64")
    layer.weight, layer.bias = weight, bias
    return layer(x)


def t_layer_norm(x, weight, bias, eps):
    return TF.layer_norm(x, (x.shape[-1],), weight, bias, eps)


def layer_norm_terms(c):
    """x − mean cancels terms of size |x|, and the gradient terms of size n·|w|/σ (σ² = var + eps)."""
    x, w, _ = (leaf.value for leaf in c.args)
    if not x.size:
        return 0.0, 0.0
    sigma = np.sqrt(x.var(axis=-1) + c.kwargs["eps"]).min()
    big_x, big_w = np.abs(x).max(), np.abs(w).max()
    return big_x / sigma * big_w, max(x.shape[-1] * big_w, big_x) / sigma


def softmax_terms(c):
    """log_softmax subtracts log Σ e^(x − max) from x − max (terms up to the logits' spread), and
    both gradients subtract a sum over the axis from g (n terms of size |g|)."""
    x, axis = c.args[0].value, c.args[1]
    return 2 * np.abs(x).max(initial=0.0), x.shape[axis] if x.ndim else 1


def cross_entropy_terms(c):
    """log-sum-exp minus the target's logits cancels terms up to the logits' spread; the gradient
    p − y terms of size 1 (and the target's gradient log-softmax terms of that spread)."""
    spread = 2 * np.abs(c.args[0].value).max(initial=0.0)
    return spread, 1.0 + spread


def gelu_terms(c):
    """½x(1 + tanh u) cancels terms of size |x| for x < 0, and its gradient has a cubic in x."""
    big = np.abs(c.args[0].value).max(initial=0.0)
    return big, max(1.0, big) ** 3


def t_prod(x, dim=None, keepdim=False):
    """torch.prod over several dims (its own takes one): one at a time, the last first."""
    dims = (dim,) if isinstance(dim, int) else dim
    for d in sorted((d % x.ndim for d in dims), reverse=True) if x.ndim else ():
        x = torch.prod(x, dim=d, keepdim=keepdim)
    return x


def prod_terms(c):
    """PyTorch's prod gradient is g·y/x, whose derivative cancels terms of size |y|/x² (cugrad's
    product of the others cancels nothing)."""
    x = np.abs(c.args[0].value)
    nonzero = x[x > 0]
    return 0.0, float((np.prod(nonzero) / nonzero / nonzero).max(initial=0.0))


def logsumexp_terms(c):
    """The second derivative, softmax p times (δ − p) summed over the reduced axes, cancels terms
    of size up to 1 per unit cotangent."""
    return 0.0, 1.0


def _sum_to(t, shape):
    """``t`` summed down to the broadcast operand's ``shape``."""
    t = t.sum(dim=tuple(range(t.ndim - len(shape)))) if t.ndim > len(shape) else t
    dims = tuple(i for i, n in enumerate(shape) if n == 1 and t.shape[i] != 1)
    return t.sum(dim=dims, keepdim=True) if dims else t


class _PowRule(torch.autograd.Function):
    """a ** b with PyTorch's first derivatives (slope 0 in a where b = 0, in b where a = 0 ≤ b)
    written on a base of 1 at those points, so that the rule holds at every order: cugrad's.
    PyTorch's own second derivatives there are nan (0·∞ behind its masks): an intended difference."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a ** b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        flat_a, flat_b = b == 0, (a == 0) & (b >= 0)
        ga = torch.where(flat_a, 0.0, g * b * torch.where(flat_a, 1.0, a) ** (b - 1))
        base = torch.where(flat_b, 1.0, a)
        gb = torch.where(flat_b, 0.0, g * base ** b * torch.log(base))
        return _sum_to(ga, a.shape), _sum_to(gb, b.shape)


def t_pow_rule(a, b):
    as_tensor = lambda v: v if isinstance(v, torch.Tensor) else torch.tensor(v, dtype=torch.float64)
    return _PowRule.apply(as_tensor(a), as_tensor(b))


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Op:
    """One row: ``cugrad(*args, **kwargs)`` against ``torch(*args, **kwargs)`` on ``cases``.
    ``terms(case)`` bounds the terms the op's formula cancels (value, gradient per unit
    cotangent): rounding in those is not a disagreement (see assert_close)."""

    name: str
    cugrad: Callable
    torch: Callable
    cases: st.SearchStrategy
    terms: Callable = lambda case: (0.0, 0.0)
    has_second_order: Callable = lambda case: True
    torch_second_order: Callable | None = None   # a reference for second order only

    def __repr__(self):
        return self.name


def same(name, fn, cases):
    """A row whose call reads the same in both libraries (operators, shared method names)."""
    return Op(name, fn, fn, cases)


BASES = {**ELEMENTS, "zero": st.just(0.0)}
EXPONENTS = {"ints": st.integers(-2, 3).map(float), "halves": st.integers(-4, 4).map(lambda n: n / 2),
             "special": st.sampled_from((0.0, 0.3, 1.0, 2.0, -1.0)), "zero": st.just(0.0)}
PROD_SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=MAX_SIDE)
PROD_ELEMENTS = {kind: e.filter(lambda v: v == 0 or abs(v) >= 1e-8) for kind, e in ELEMENTS.items()}

OPS = [
    # arithmetic, broadcasting
    same("add", lambda a, b: a + b, pairs()),
    same("sub", lambda a, b: a - b, pairs()),
    same("mul", lambda a, b: a * b, pairs()),
    same("div", lambda a, b: a / b, pairs()),
    Op("pow", lambda a, b: a ** b, lambda a, b: a ** b, pairs(BASES, EXPONENTS), torch_second_order=t_pow_rule),
    same("neg", lambda x: -x, unary()),
    same("pos", lambda x: +x, unary()),
    same("abs", abs, unary()),
    # with a Python scalar or a NumPy array on either side
    same("add scalar", lambda x, s: x + s, with_scalar()),
    same("rsub scalar", lambda s, x: s - x, with_scalar(scalar_first=True)),
    same("mul scalar", lambda x, s: x * s, with_scalar()),
    # (PyTorch's number / tensor is number · reciprocal(tensor), whose gradient 0·(−1/x²) is nan for
    # 0 / x at |x| < 1e-154; tensor / tensor is the same op as cugrad's)
    Op("rdiv scalar", lambda s, x: s / x, lambda s, x: torch.tensor(s, dtype=torch.float64) / x,
       with_scalar(scalar_first=True)),
    Op("pow scalar exponent", lambda x, s: x ** s, lambda x, s: x ** s,
       with_scalar(x_elements=BASES, s_elements=EXPONENTS), torch_second_order=t_pow_rule),
    Op("rpow scalar base", lambda s, x: s ** x, lambda s, x: s ** x,
       with_scalar(True, x_elements=EXPONENTS, s_elements=BASES), torch_second_order=t_pow_rule),
    same("sub array", lambda x, c: x - c, with_array()),
    same("rmul array", lambda c, x: c * x, with_array(array_first=True)),
    # elementwise
    Op("exp", ops.exp, torch.exp, unary()),
    Op("log", ops.log, torch.log, unary()),
    Op("sqrt", ops.sqrt, torch.sqrt, unary()),
    Op("rsqrt", ops.rsqrt, torch.rsqrt, unary()),
    Op("exp2", ops.exp2, torch.exp2, unary()),
    Op("log2", ops.log2, torch.log2, unary()),
    Op("log10", ops.log10, torch.log10, unary()),
    Op("sin", ops.sin, torch.sin, unary()),
    Op("cos", ops.cos, torch.cos, unary()),
    Op("tan", ops.tan, torch.tan, unary()),
    Op("sinh", ops.sinh, torch.sinh, unary()),
    Op("cosh", ops.cosh, torch.cosh, unary()),
    Op("sign", ops.sign, torch.sign, unary()),
    Op("floor", ops.floor, torch.floor, unary()),
    Op("ceil", ops.ceil, torch.ceil, unary()),
    Op("round", ops.round, torch.round, unary()),
    Op("trunc", ops.trunc, torch.trunc, unary()),
    Op("maximum", ops.maximum, torch.maximum, pairs()),
    Op("minimum", ops.minimum, torch.minimum, pairs()),
    Op("clip", ops.clip, torch.clamp, clip_cases()),
    Op("where", ops.where, torch.where, where_cases()),
    Op("masked_fill", ops.masked_fill, torch.masked_fill, masked_fill_cases()),
    Op("astype float32 and back", lambda x: x.astype("float32").astype("float64"),
       lambda x: x.float().double(), unary()),
    # activations: a row for each row of the activation table, then softplus and gelu's tanh form
    *[activation_row(name) for name in ACTIVATION_TABLE if name != "identity"],
    Op("softplus", F.softplus, t_softplus, unary()),
    Op("gelu tanh", F.gelu, lambda x: TF.gelu(x, approximate="tanh"), unary(), gelu_terms),
    Op("softmax", F.softmax, torch.softmax, along_axis(elements=logits_elements()), softmax_terms),
    Op("log_softmax", F.log_softmax, torch.log_softmax, along_axis(elements=logits_elements()), softmax_terms),
    Op("dropout", F.dropout, TF.dropout,
       unary(p=st.sampled_from((0.0, 1.0, 0.5)), training=st.booleans()).filter(
           lambda c: c.kwargs["p"] in (0.0, 1.0) or not c.kwargs["training"])),
    # reductions
    Op("sum", ops.sum, t_reduce(torch.sum), reduction()),
    Op("mean", ops.mean, t_reduce(torch.mean), reduction()),
    Op("max", ops.max, t_reduce(torch.amax), reduction()),
    Op("min", ops.min, t_reduce(torch.amin), reduction()),
    Op("max with ties", ops.max, t_reduce(torch.amax), reduction({"ints": ELEMENTS["ints"]})),
    Op("var", ops.var, t_var, reduction(ddof=st.integers(0, 2)), var_terms, spread_has_second_order),
    Op("std", ops.std, t_std, reduction(ddof=st.integers(0, 2)), std_terms, spread_has_second_order),
    Op("logsumexp", ops.logsumexp, t_reduce(torch.logsumexp), reduction(logits_elements()), logsumexp_terms),
    # (at most 27 factors, none nonzero below 1e-8 in size, so no product overflows or underflows:
    # PyTorch's g·y/x would be inf or 0 there, where the product of the others is not)
    Op("prod", ops.prod, t_reduce(t_prod), reduction(PROD_ELEMENTS, PROD_SHAPES), prod_terms),
    Op("prod with zeros", lambda x, axis, keepdims: x.prod(dim=axis, keepdim=keepdims), t_reduce(t_prod),
       reduction({"ints": ELEMENTS["ints"], "zero": st.just(0.0)}, PROD_SHAPES), prod_terms),
    Op("cumsum", ops.cumsum, torch.cumsum, along_axis()),
    Op("mean with dim=, keepdim=", lambda x, axis, keepdims: ops.mean(x, dim=axis, keepdim=keepdims),
       t_reduce(torch.mean), reduction()),
    # shape
    same("reshape", lambda x, shape: x.reshape(shape), reshape_cases()),
    same("flatten", lambda x: x.flatten(), unary()),
    # (start_dim after end_dim too: both libraries refuse)
    Op("flatten start_dim end_dim", ops.flatten, torch.flatten, swapaxes_cases()),
    Op("unflatten", ops.unflatten, torch.unflatten, unflatten_cases()),
    Op("squeeze", ops.squeeze, torch.squeeze, one_dim_cases()),
    Op("squeeze all", ops.squeeze, torch.squeeze, unary()),
    Op("unsqueeze", ops.unsqueeze, torch.unsqueeze, one_dim_cases(extra=1)),
    Op("flip", ops.flip, torch.flip, flip_cases()),
    Op("transpose", ops.transpose, torch.permute, permute_cases()),
    Op("T", lambda x: x.T, lambda x: x.permute(tuple(reversed(range(x.ndim)))), unary()),
    Op("swapaxes", ops.swapaxes, torch.swapaxes, swapaxes_cases()),
    Op("broadcast_to", ops.broadcast_to, torch.broadcast_to, broadcast_to_cases()),
    Op("concatenate", ops.concatenate, lambda xs, axis: torch.cat(xs, dim=axis), concatenate_cases()),
    Op("stack", ops.stack, lambda xs, axis: torch.stack(xs, dim=axis), stack_cases()),
    Op("getitem basic", ops.getitem, t_getitem, getitem_cases(basic_index)),
    Op("getitem advanced", ops.getitem, t_getitem, getitem_cases(advanced_index)),
    Op("getitem negative step", ops.getitem, t_flat_gather,
       getitem_cases(lambda shape: st.tuples(*(st.slices(n) for n in shape)))),
    # linear algebra
    same("matmul", lambda a, b: a @ b, matmul_cases()),
    Op("linear", F.linear, t_linear, linear_cases()),
    # losses, layers
    Op("cross_entropy labels", F.cross_entropy, TF.cross_entropy, class_cases(), cross_entropy_terms),
    Op("cross_entropy probabilities", F.cross_entropy, TF.cross_entropy, class_cases(prob_target=True),
       cross_entropy_terms),
    Op("nll_loss", F.nll_loss, TF.nll_loss, class_cases()),
    Op("mse_loss", F.mse_loss, TF.mse_loss, mse_cases()),
    Op("binary_cross_entropy_with_logits", F.binary_cross_entropy_with_logits,
       TF.binary_cross_entropy_with_logits, mse_cases(), bce_logits_terms),
    Op("huber_loss", F.huber_loss, TF.huber_loss, mse_cases(delta=st.sampled_from((0.5, 1.0, 2.0)))),
    Op("smooth_l1_loss", F.smooth_l1_loss, TF.smooth_l1_loss, mse_cases(beta=st.sampled_from((0.0, 0.5, 1.0, 2.0)))),
    Op("hinge_loss", F.hinge_loss, t_hinge, hinge_cases()),
    Op("l2_penalty", F.l2_penalty, lambda ts, weight: sum((t * t).sum() for t in ts) * weight, l2_cases()),
    Op("LayerNorm", c_layer_norm, t_layer_norm, layer_norm_cases(), layer_norm_terms),
    # erf, logaddexp, lerp, einsum, binary cross-entropy, label smoothing and ignored labels
    Op("erf", ops.erf, torch.erf, unary()),
    Op("logaddexp", ops.logaddexp, torch.logaddexp, pairs(), logaddexp_terms),
    Op("lerp", ops.lerp, torch.lerp, lerp_cases()),
    Op("einsum", ops.einsum, torch.einsum, einsum_cases()),
    Op("binary_cross_entropy", F.binary_cross_entropy, TF.binary_cross_entropy, bce_cases(), bce_terms,
       torch_second_order=t_bce_rule),
    Op("binary_cross_entropy weight", F.binary_cross_entropy, TF.binary_cross_entropy, bce_cases(with_weight=True),
       bce_terms, torch_second_order=t_bce_rule),
    Op("binary_cross_entropy_with_logits pos_weight", F.binary_cross_entropy_with_logits,
       TF.binary_cross_entropy_with_logits, pos_weight_cases(), bce_logits_terms),
    Op("cross_entropy ignore_index label_smoothing", F.cross_entropy, TF.cross_entropy, label_option_cases(),
       cross_entropy_terms),
    Op("cross_entropy probabilities label_smoothing", F.cross_entropy, TF.cross_entropy,
       smoothed_probability_cases(), cross_entropy_terms),
    Op("nll_loss ignore_index", F.nll_loss, TF.nll_loss, label_option_cases(smoothing=False)),
    # Tensor methods (each delegates to an op above; the rows keep the delegation honest)
    Op("Tensor.sum", lambda x, **kw: x.sum(**kw), t_reduce(torch.sum), reduction()),
    Op("Tensor.max", lambda x, **kw: x.max(**kw), t_reduce(torch.amax), reduction()),
    Op("Tensor.var", lambda x, **kw: x.var(**kw), t_var, reduction(ddof=st.integers(0, 2)), var_terms,
       spread_has_second_order),
    Op("Tensor.softmax", lambda x, axis: x.softmax(axis), torch.softmax, along_axis(), softmax_terms),
    Op("log_softmax with dim=", lambda x, axis: F.log_softmax(x, dim=axis), torch.log_softmax, along_axis(),
       softmax_terms),
    Op("Tensor.std", lambda x, **kw: x.std(**kw), t_std, reduction(ddof=st.integers(0, 2)), std_terms,
       spread_has_second_order),
    Op("Tensor.clip", lambda x, lo, hi: x.clip(lo, hi), torch.clamp, clip_cases()),
    Op("np.sum of a tensor", lambda x, **kw: np.sum(x, **kw), t_reduce(torch.sum), reduction()),
]


# shape and indexing ops (issue 15)
OPS += [
    Op("split", pieces(ops.split), pieces(torch.split), split_cases()),
    Op("chunk", pieces(ops.chunk), pieces(torch.chunk), split_cases(chunks=True)),
    Op("Tensor.repeat", lambda x, sizes: x.repeat(*sizes), lambda x, sizes: x.repeat(*sizes), repeat_cases()),
    Op("tile", ops.tile, torch.tile, repeat_cases()),
    Op("pad constant", lambda x, pad, mode, value: F.pad(x, pad, mode, value),
       lambda x, pad, mode, value: TF.pad(x, pad, mode, value), pad_cases("constant")),
    Op("pad reflect", F.pad, TF.pad, pad_cases("reflect")),
    Op("pad replicate", F.pad, TF.pad, pad_cases("replicate")),
    Op("pad circular", F.pad, TF.pad, pad_cases("circular")),
    Op("tril", ops.tril, torch.tril, triangle_cases()),
    Op("triu", ops.triu, torch.triu, triangle_cases()),
    Op("diagonal", ops.diagonal, torch.diagonal, diagonal_cases()),
    Op("gather", ops.gather, torch.gather, gather_cases()),
    Op("scatter_add", ops.scatter_add, torch.scatter_add, scatter_add_cases()),
    Op("one_hot", lambda i, n: F.one_hot(i, n).astype("float64"), lambda i, n: TF.one_hot(i, n).double(),
       one_hot_cases()),
    Op("sort", c_sort, t_sort, sort_cases()),
    Op("topk", topk_of(ops), topk_of(torch), sort_cases(distinct=True)),
    Op("Tensor.clamp", lambda x, lo, hi: x.clamp(min=lo, max=hi), torch.clamp, clip_cases()),
]


# --------------------------------------------------------------------------- comparison


def assert_close(actual, expected, what, terms=0.0):
    """``actual`` equals ``expected`` to RTOL relative, with an absolute floor of RTOL times the
    largest finite magnitude in ``expected`` (one element's rounding is judged against the array's
    scale, as a sum's is), or TERMS_RTOL times ``terms``, the size of the terms a row's formula
    cancels; NaNs and infinities must sit at the same places."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, PyTorch's {expected.shape}"
    assert actual.dtype == expected.dtype == np.float64, f"{what}: dtype {actual.dtype}, PyTorch's {expected.dtype}"
    nan_a, nan_e = np.isnan(actual), np.isnan(expected)
    assert (nan_a == nan_e).all(), f"{what}: NaN at {np.argwhere(nan_a != nan_e)[:5].tolist()}\n{actual}\nvs PyTorch\n{expected}"
    finite = np.isfinite(expected)
    assert (actual[~finite & ~nan_e] == expected[~finite & ~nan_e]).all(), \
        f"{what}: infinities differ\n{actual}\nvs PyTorch\n{expected}"
    a, e = actual[finite], expected[finite]
    floor = max(RTOL * np.abs(e).max(initial=0.0), TERMS_RTOL * terms)
    bad = ~(np.abs(a - e) <= RTOL * np.abs(e) + floor)
    assert not bad.any(), (f"{what}: {bad.sum()} of {bad.size} elements differ, worst "
                           f"{np.abs(a - e).max():.3g} (floor {floor:.3g})\n{actual}\nvs PyTorch\n{expected}")


def _quiet(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` with warnings silenced (PyTorch's deprecations; NumPy's floating-point
    warnings are another test's business)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def check(op: Op, c: Case, cotangent: Callable):
    """Run case ``c`` of ``op`` in both libraries and compare (``cotangent(shape)`` draws c)."""
    t_leaves, c_leaves = [], []
    t_args, t_kwargs = _convert((c.args, c.kwargs), "torch", t_leaves)
    c_args, c_kwargs = _convert((c.args, c.kwargs), "cugrad", c_leaves)
    try:
        expected = _quiet(op.torch, *t_args, **t_kwargs)
    except REFUSALS as exc:
        note(f"PyTorch refuses: {exc}")
        with pytest.raises(REFUSALS):
            _quiet(op.cugrad, *c_args, **c_kwargs)
        return
    out = _quiet(op.cugrad, *c_args, **c_kwargs)
    value_terms, grad_terms = op.terms(c)
    assert_close(out.numpy(), expected.detach().numpy(), f"{op.name} value", value_terms)
    if not t_leaves:
        return
    cot = cotangent(tuple(expected.shape))
    t_grads = torch.autograd.grad((expected * torch.from_numpy(cot)).sum(), t_leaves, allow_unused=True)
    _quiet(lambda: (out * cugrad.tensor(cot)).sum().backward())
    grad_terms *= np.abs(cot).max(initial=0.0)
    for i, (c_leaf, t_grad) in enumerate(zip(c_leaves, t_grads)):
        t_grad = np.zeros(tuple(c_leaf.shape)) if t_grad is None else t_grad.numpy()
        c_grad = np.zeros(c_leaf.shape) if c_leaf.grad is None else c_leaf.grad.numpy()
        assert_close(c_grad, t_grad, f"{op.name} gradient of input {i}", grad_terms)


def _grads(library, output, inputs, **kwargs):
    """d output / d inputs, zeros for an input it does not reach (``library`` is torch or cugrad)."""
    if not output.requires_grad:
        return [None] * len(inputs)
    return list(library.autograd.grad(output, inputs, allow_unused=True, **kwargs) if library is torch
                else cugrad.grad(output, inputs, allow_unused=True, **kwargs))


def check_second_order(op: Op, c: Case, draw_array: Callable):
    """The gradient of Σᵢ (gradᵢ · vᵢ) for random vᵢ, with gradᵢ the first-order gradients taken
    with create_graph=True: a Hessian-vector product through every op's backward rule."""
    if not op.has_second_order(c):
        return
    t_leaves, c_leaves = [], []
    t_args, t_kwargs = _convert((c.args, c.kwargs), "torch", t_leaves)
    c_args, c_kwargs = _convert((c.args, c.kwargs), "cugrad", c_leaves)
    try:
        expected = _quiet(op.torch_second_order or op.torch, *t_args, **t_kwargs)
    except REFUSALS:
        return
    if not t_leaves:
        return
    out = _quiet(op.cugrad, *c_args, **c_kwargs)
    cot = draw_array(tuple(expected.shape))
    vs = [draw_array(tuple(leaf.shape)) for leaf in t_leaves]
    results = []
    for library, leaves, y, tensor in ((torch, t_leaves, expected, torch.from_numpy),
                                       (cugrad, c_leaves, out, cugrad.tensor)):
        def second(library=library, leaves=leaves, y=y, tensor=tensor):
            firsts = _grads(library, (y * tensor(cot)).sum(), leaves, create_graph=True)
            total = sum(((g * tensor(v)).sum() for g, v in zip(firsts, vs) if g is not None), start=0.0)
            if not isinstance(total, (torch.Tensor, cugrad.Tensor)):
                return [None] * len(leaves)
            return _grads(library, total, leaves)
        results.append(_quiet(second))
    _, grad_terms = op.terms(c)
    grad_terms *= np.abs(cot).max(initial=0.0) * max((np.abs(v).max(initial=0.0) for v in vs), default=0.0)
    for i, (leaf, t_grad, c_grad) in enumerate(zip(c_leaves, *results)):
        t_grad = np.zeros(tuple(leaf.shape)) if t_grad is None else t_grad.detach().numpy(force=True)
        c_grad = np.zeros(tuple(leaf.shape)) if c_grad is None else c_grad.numpy()
        assert_close(c_grad, t_grad, f"{op.name} second-order gradient of input {i}", grad_terms)


COTANGENTS = {"normal": ELEMENTS["normal"], "ones": st.just(1.0)}
ROWS = {op.name: op for op in OPS}


@pytest.mark.parametrize("op", OPS, ids=repr)
@given(data=st.data())
def test_matches_pytorch(op, data):
    """Value and gradient of drawn cases of ``op`` against PyTorch."""
    check(op, data.draw(op.cases, label="case"),
          lambda shape: data.draw(arrays(shape, COTANGENTS), label="cotangent"))


@pytest.mark.parametrize("op", OPS, ids=repr)
@settings(max_examples=max(1, settings.default.max_examples // 2))
@given(data=st.data())
def test_second_order_matches_pytorch(op, data):
    """Gradients of gradients (create_graph=True) of drawn cases of ``op`` against PyTorch."""
    check_second_order(op, data.draw(op.cases, label="case"),
                       lambda shape: data.draw(arrays(shape, COTANGENTS), label="vector"))


def _seeded_cotangent(shape):
    return np.random.default_rng(0).standard_normal(shape)


# What the fuzzer found beyond the bugs it was written for, each case as it shrank to (each failed
# before its fix), kept so they run every time whatever the profile draws.
FOUND = [
    ("div", case(Leaf(np.array(0.0)), Leaf(np.array(4.92867018e-187)))),     # b² underflowed: 0/0
    ("div", case(Leaf(np.array([1e300])), Leaf(np.array([1e200])))),          # b² overflowed: 0
    ("softmax", case(Leaf(np.zeros((2, 0))), -1)),                            # max of an empty axis
    ("log_softmax", case(Leaf(np.zeros((0,))), 0)),
    ("max", case(Leaf(np.zeros((0, 3))), axis=1, keepdims=False)),            # refused any empty tensor
    ("min", case(Leaf(np.zeros((2, 0))), axis=(), keepdims=True)),
    ("linear", case(Leaf(np.zeros((0,))), Leaf(np.zeros((0, 0))), None)),     # reshape(-1, 0)
    ("linear", case(Leaf(np.zeros((2, 0, 0))), Leaf(np.zeros((2, 0))), Leaf(np.ones(2)))),
    ("mse_loss", case(Leaf(np.zeros((0, 2))), Leaf(np.zeros((0, 2))), reduction="mean")),  # 0, not nan
    ("gelu tanh", case(Leaf(np.array(0.5)))),      # second order: a NumPy scalar reached a kernel
    ("rpow scalar base", case(2.0, Leaf(np.array(0.5)))),     # ... and where() in pow's rule
    ("std", case(Leaf(np.array(1.5)), axis=None, keepdims=False, ddof=0)),
    ("pow scalar exponent", case(Leaf(np.array([0.0, 2.0])), 0.0)),   # second order at x**0: 0·∞
    ("pow", case(Leaf(np.array([0.0, 0.0, 3.0])), Leaf(np.array([0.0, 2.0, 0.0])))),
    ("rdiv scalar", case(0.0, Leaf(np.array([5.28525682e-197, 2.0])))),  # PyTorch's own nan, not cugrad's
]


@pytest.mark.parametrize("name, c", FOUND, ids=[f"{name}-{i}" for i, (name, _) in enumerate(FOUND)])
def test_found_case(name, c):
    check(ROWS[name], c, _seeded_cotangent)
    check_second_order(ROWS[name], c, _seeded_cotangent)
