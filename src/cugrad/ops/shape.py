"""Ops that move elements without arithmetic: reshape, transpose, broadcast_to, concatenate,
stack, split, indexing, and dtype/device copies; squeeze, unsqueeze, flatten, unflatten and flip are
views built on reshape and indexing, chunk on split, repeat and tile on reshape and broadcast_to
(their gradients are those ops')."""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Function
from .. import tensor as _tensor
from .axes import axis_index, axis_tuple, pick
from .broadcasting import broadcast_shape, require_tensor, unbroadcast
from .promotion import promote


class Reshape(Function):
    """y = x viewed with a new shape;  dL/dx = g reshaped back."""

    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        try:
            return x.reshape(shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {tuple(x.shape)} into {tuple(shape)}") from None

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape), None


class Transpose(Function):
    """y = x with axes permuted;  dL/dx = g with the inverse permutation."""

    @staticmethod
    def forward(ctx, x, axes):
        if axes is None:
            axes = tuple(reversed(range(x.ndim)))
        axes = tuple(axis_index("transpose", a, x.ndim, allow_0d=False) for a in axes)
        if sorted(axes) != list(range(x.ndim)):
            raise ValueError(f"transpose: axes {axes} are not a permutation of a {x.ndim}-d tensor's axes")
        ctx.inverse = tuple(sorted(range(len(axes)), key=axes.__getitem__))
        return x.transpose(axes)

    @staticmethod
    def backward(ctx, g):
        return g.transpose(ctx.inverse), None


class BroadcastTo(Function):
    """y = x repeated along broadcast axes;  dL/dx = g summed over them."""

    @staticmethod
    def forward(ctx, x, shape):
        shape = tuple(shape)
        if broadcast_shape("broadcast_to", x.shape, shape) != shape:
            raise ValueError(f"broadcast_to: cannot broadcast shape {tuple(x.shape)} to {shape}")
        ctx.shape = x.shape
        return backend.array_module(x).broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, g):
        return unbroadcast(g, ctx.shape), None


class Concatenate(Function):
    """y = [x₁, x₂, …] joined along ``axis``;  dL/dxᵢ = the slice of g that xᵢ filled."""

    @staticmethod
    def forward(ctx, axis, *xs):
        _check_same_rank("concatenate", xs)
        if xs[0].ndim == 0:
            raise ValueError("concatenate: 0-d tensors cannot be concatenated (they have no axis); use stack")
        axis = axis_index("concatenate", axis, xs[0].ndim)
        xs = promote(*xs)
        for x in xs[1:]:
            if x.shape[:axis] + x.shape[axis + 1:] != xs[0].shape[:axis] + xs[0].shape[axis + 1:]:
                raise ValueError(
                    f"concatenate: shapes {[tuple(x.shape) for x in xs]} differ outside axis {axis}"
                )
        ctx.axis = axis
        ctx.sizes = [x.shape[axis] for x in xs]
        return backend.array_module(*xs).concatenate(xs, axis=axis)

    @staticmethod
    def backward(ctx, g):
        grads, start = [], 0
        lead = (slice(None),) * ctx.axis
        for size in ctx.sizes:
            grads.append(g[lead + (slice(start, start + size),)])
            start += size
        return (None, *grads)


class Stack(Function):
    """y = [x₁, x₂, …] stacked along a new ``axis``;  dL/dxᵢ = g indexed at i on that axis."""

    @staticmethod
    def forward(ctx, axis, *xs):
        _check_same_rank("stack", xs)
        if any(x.shape != xs[0].shape for x in xs):
            raise ValueError(f"stack: all shapes must be equal, got {[tuple(x.shape) for x in xs]}")
        axis = axis_index("stack", axis, xs[0].ndim + 1)
        xs = promote(*xs)
        ctx.axis = axis
        ctx.count = len(xs)
        return backend.array_module(*xs).stack(xs, axis=axis)

    @staticmethod
    def backward(ctx, g):
        lead = (slice(None),) * ctx.axis
        return (None, *(g[lead + (i,)] for i in range(ctx.count)))


class Split(Function):
    """(y₁, y₂, …) = consecutive slices of x along ``axis`` of lengths ``sizes``;  dL/dx = [g₁, g₂, …]
    joined along the axis (a piece no gradient reached contributes zeros)."""

    @staticmethod
    def forward(ctx, x, axis, sizes):
        ctx.axis = axis
        lead = (slice(None),) * axis
        pieces, start = [], 0
        for size in sizes:
            pieces.append(x[lead + (slice(start, start + size),)])
            start += size
        return tuple(pieces)

    @staticmethod
    def backward(ctx, *gs):
        return Concatenate.apply(ctx.axis, *gs), None, None


class GetItem(Function):
    """y = x[index];  dL/dx = zeros with g added at the indexed positions (repeats accumulate)."""

    @staticmethod
    def forward(ctx, x, index):
        ctx.shape, ctx.index = x.shape, index
        try:
            return x[index]
        except IndexError as exc:
            raise IndexError(f"getitem: {exc} (tensor of shape {tuple(x.shape)})") from None

    @staticmethod
    def backward(ctx, g):
        return ScatterAdd.apply(g, ctx.shape, ctx.index), None


class ScatterAdd(Function):
    """y = zeros(shape) with g added at ``index`` — the gradient of indexing;  dL/dg = gy[index].

    Repeated positions add up through ``xp.add.at`` (NumPy's, or CuPy's atomicAdd scatter; CuPy's
    older ``cupyx.scatter_add`` warns DeprecationWarning on every call). A 16-bit g is summed in
    float32 and rounded once (a float16 sum stalls at 2048 when adding ones; ``cupy.add.at`` also
    refuses bfloat16)."""

    @staticmethod
    def forward(ctx, g, shape, index):
        ctx.index = index
        xp = backend.array_module(g)
        if _is_basic(index):                    # no repeats: a plain assignment
            out = xp.zeros(shape, g.dtype)
            out[index] = g
            return out
        half = g.dtype.itemsize == 2 and backend.is_floating(g.dtype)
        out = xp.zeros(shape, np.float32 if half else g.dtype)
        xp.add.at(out, index, g.astype(out.dtype, copy=False))
        return out.astype(g.dtype, copy=False)

    @staticmethod
    def backward(ctx, gy):
        return gy[ctx.index], None, None


class AsType(Function):
    """y = x cast to ``dtype``;  dL/dx = g cast back (the engine casts to the input's dtype)."""

    fp_quiet = True

    @staticmethod
    def forward(ctx, x, dtype):
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, g):
        return g, None


class ToDevice(Function):
    """y = x copied onto ``device``;  dL/dx = g copied back."""

    @staticmethod
    def forward(ctx, x, device):
        ctx.source = backend.device_of(x)
        return backend.to_device(x, device)

    @staticmethod
    def backward(ctx, g):
        return to_device(g, ctx.source), None


def _is_basic(index) -> bool:
    """True for NumPy "basic" indexing (ints, slices, None, Ellipsis), which never repeats an element."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, (int, slice)) or p is None or p is Ellipsis for p in parts)


def _check_same_rank(op, xs):
    if not xs:
        raise ValueError(f"{op}: needs at least one tensor")
    for i, x in enumerate(xs):
        require_tensor(op, f"item {i}", x)
    if any(x.ndim != xs[0].ndim for x in xs):
        raise ValueError(f"{op}: all tensors need the same number of dimensions, got shapes {[tuple(x.shape) for x in xs]}")


def raw_index(index):
    """Tensors inside an index become their arrays (integer or boolean index arrays)."""
    Tensor = _tensor.Tensor
    if isinstance(index, tuple):
        return tuple(p.data if isinstance(p, Tensor) else p for p in index)
    return index.data if isinstance(index, Tensor) else index


def reshape(x, *shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return Reshape.apply(x, shape)


def transpose(x, *axes):
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    return Transpose.apply(x, axes or None)


def swapaxes(x, axis1, axis2):
    """x with two axes exchanged (PyTorch's transpose(dim0, dim1)); a 0-d tensor accepts 0 and -1."""
    axis1, axis2 = (axis_index("swapaxes", a, x.ndim) for a in (axis1, axis2))
    axes = list(range(x.ndim))
    if x.ndim:
        axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return Transpose.apply(x, tuple(axes))


def broadcast_to(x, shape):
    return BroadcastTo.apply(x, tuple(shape))


def squeeze(x, axis=None, *, dim=None):
    """x without its size-1 axes among ``axis`` (all of them for None); an axis of another size
    stays, as in PyTorch. A reshape."""
    axes = axis_tuple("squeeze", pick("squeeze", "axis", axis, None, "dim", dim), x.ndim)
    return Reshape.apply(x, tuple(n for i, n in enumerate(x.shape) if not (i in axes and n == 1)))


def unsqueeze(x, dim):
    """x with a new size-1 axis at ``dim`` (in [−ndim−1, ndim], as PyTorch's). A reshape."""
    dim = axis_index("unsqueeze", dim, x.ndim + 1, allow_0d=False)
    return Reshape.apply(x, x.shape[:dim] + (1,) + x.shape[dim:])


def flatten(x, start_dim=0, end_dim=-1):
    """x with axes start_dim..end_dim merged into one (a 0-d tensor becomes 1-d). A reshape."""
    if x.ndim == 0:
        return Reshape.apply(x, (1,))
    start, end = (axis_index("flatten", a, x.ndim) for a in (start_dim, end_dim))
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for a {x.ndim}-d tensor")
    merged = int(np.prod(x.shape[start:end + 1]))
    return Reshape.apply(x, x.shape[:start] + (merged,) + x.shape[end + 1:])


def unflatten(x, dim, sizes):
    """x with axis ``dim`` split into ``sizes`` (one of them may be −1). A reshape."""
    dim = axis_index("unflatten", dim, x.ndim, allow_0d=False)
    sizes = tuple(sizes)
    known = int(np.prod([n for n in sizes if n != -1]))
    if not sizes or sizes.count(-1) > 1 or (-1 not in sizes and known != x.shape[dim]) or (
            -1 in sizes and (known == 0 or x.shape[dim] % known)):
        raise ValueError(f"unflatten: sizes {sizes} do not split axis {dim} of size {x.shape[dim]}")
    sizes = tuple(x.shape[dim] // known if n == -1 else n for n in sizes)   # −1 resolved here: NumPy
    return Reshape.apply(x, x.shape[:dim] + sizes + x.shape[dim + 1:])     # cannot when the size is 0


def flip(x, axis=None, *, dims=None):
    """x reversed along ``axis`` (PyTorch's ``dims``; all axes for None). Indexing with step −1."""
    axes = axis_tuple("flip", pick("flip", "axis", axis, None, "dims", dims), x.ndim)
    return GetItem.apply(x, tuple(slice(None, None, -1) if i in axes else slice(None) for i in range(x.ndim)))


def concatenate(tensors, axis=0, *, dim=None):
    """``tensors`` joined along an existing ``axis`` (or ``dim``; PyTorch's cat)."""
    return Concatenate.apply(pick("concatenate", "axis", axis, 0, "dim", dim), *tensors)


def stack(tensors, axis=0, *, dim=None):
    """``tensors`` (all of one shape) stacked along a new ``axis`` (or ``dim``)."""
    return Stack.apply(pick("stack", "axis", axis, 0, "dim", dim), *tensors)


def split(x, split_size_or_sections, dim=0):
    """x cut along ``dim`` into pieces of ``split_size_or_sections`` elements (the last one smaller
    when it does not divide) or of the listed sizes (summing to the dim's size): torch.split. A
    tuple of views; the gradient flows to every piece."""
    axis = _split_axis("split", x, dim)
    n = x.shape[axis]
    if isinstance(split_size_or_sections, (tuple, list)):
        sizes = _counts("split", split_size_or_sections)
        if not sizes or sum(sizes) != n:
            raise ValueError(f"split: sizes {sizes} do not sum to the size {n} of dim {dim} of shape {tuple(x.shape)}")
    else:
        (size,) = _counts("split", (split_size_or_sections,))
        if size == 0 and n:
            raise ValueError(f"split: split size 0 cannot cut dim {dim} of size {n}")
        sizes = (size,) * (n // size) + ((n % size,) if n % size else ()) if n else (0,)
    return Split.apply(x, axis, sizes)


def chunk(x, chunks, dim=0):
    """x cut along ``dim`` into ``chunks`` pieces of ⌈size / chunks⌉ elements (the last smaller, and
    fewer pieces when they run out first): torch.chunk. A tuple of views."""
    axis = _split_axis("chunk", x, dim)
    (chunks,) = _counts("chunk", (chunks,))
    if chunks == 0:
        raise ValueError("chunk: chunks must be at least 1, got 0")
    n = x.shape[axis]
    if n == 0:
        return Split.apply(x, axis, (0,) * chunks)
    return split(x, -(-n // chunks), axis)


def repeat(x, *sizes):
    """x tiled ``sizes[i]`` times along dim i, after leading size-1 dims bring it to len(sizes) dims
    (at least x.ndim of them): torch.Tensor.repeat (NumPy's tile). Gradient: the copies summed."""
    if not sizes:
        raise TypeError("repeat: missing the sizes (x.repeat(2, 3) or x.repeat((2, 3)))")
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    sizes = _counts("repeat", sizes)
    if len(sizes) < x.ndim:
        raise ValueError(f"repeat: {len(sizes)} sizes {sizes} for a tensor of shape {tuple(x.shape)}; give one a dim "
                         "at least (tile repeats the last dims)")
    return _tile(x, sizes)


def tile(x, reps):
    """x repeated ``reps[i]`` times along dim i, ``reps`` first padded with leading 1s to x's number
    of dims (or x with leading size-1 dims to len(reps)): torch.tile and numpy.tile."""
    reps = _counts("tile", tuple(reps) if isinstance(reps, (tuple, list)) else (reps,))
    return _tile(x, (1,) * (x.ndim - len(reps)) + reps)


def _tile(x, reps):
    """x (brought to len(reps) dims) as a (1, n₀, 1, n₁, …) view broadcast to (r₀, n₀, r₁, n₁, …) and
    merged to (r₀n₀, r₁n₁, …): copy-major order, as tile's."""
    shape = (1,) * (len(reps) - x.ndim) + tuple(x.shape)
    spread = BroadcastTo.apply(Reshape.apply(x, tuple(v for n in shape for v in (1, n))),
                               tuple(v for r, n in zip(reps, shape) for v in (r, n)))
    return Reshape.apply(spread, tuple(r * n for r, n in zip(reps, shape)))


def _split_axis(op, x, dim):
    if x.ndim == 0:
        raise ValueError(f"{op}: a 0-d tensor has no dim to cut")
    return axis_index(op, dim, x.ndim)


def _counts(op, values):
    """``values`` as a tuple of non-negative ints (sizes, repeats): a TypeError for a non-int, a
    ValueError naming them for a negative one."""
    values = tuple(values)
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{op}: sizes must be ints, got {v!r} in {values}")
    values = tuple(int(v) for v in values)
    if any(v < 0 for v in values):
        raise ValueError(f"{op}: sizes must be non-negative, got {values}")
    return values


def getitem(x, index):
    index = raw_index(index)
    if x.device.type != "cpu":  # NumPy index arrays move to the tensor's device, as in PyTorch
        parts = index if isinstance(index, tuple) else (index,)
        parts = tuple(backend.to_device(p, x.device) if isinstance(p, np.ndarray) else p for p in parts)
        index = parts if isinstance(index, tuple) else parts[0]
    return GetItem.apply(x, index)


def astype(x, dtype):
    return AsType.apply(x, dtype)


def to_device(x, device):
    return ToDevice.apply(x, device)
