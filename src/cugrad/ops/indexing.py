"""Indexing by integer tensors along one dim: gather, scatter_add and one_hot (PyTorch's semantics).

gather and scatter_add are indexing with an open mesh (the index along ``dim``, each position's own
coordinate along the other dims), so their gradients are those of indexing and its adjoint: no new
backward rule. Index range checks run on the CPU only (on a GPU they would wait for the device), as
for the losses' labels.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from .. import tensor as _tensor
from .axes import axis_index
from .broadcasting import require_tensor
from .shape import GetItem, ScatterAdd, reshape


def index_array(op, index, x):
    """The integer array of ``index`` (a Tensor or a NumPy array) on ``x``'s device; a TypeError for
    another dtype, a RuntimeError for a tensor on another device."""
    if isinstance(index, _tensor.Tensor):
        if index.device != x.device:
            raise RuntimeError(f"{op}: index is on {index.device} and the tensor on {x.device}; move one of them")
        data = index.data
    elif backend.is_array(index):
        data = backend.to_device(index, x.device)
    else:
        raise TypeError(f"{op}: index must be an integer tensor, got {type(index).__name__}")
    if data.dtype.kind not in "iu":
        raise TypeError(f"{op}: index must hold integers, got dtype {data.dtype}")
    return data


def _check_range(op, index, size, what, error=IndexError):
    """``error`` unless every element of ``index`` lies in [0, size) (checked on the CPU only)."""
    if backend.device_of(index).type == "cpu" and index.size and (index.min() < 0 or index.max() >= size):
        bad = index.min() if index.min() < 0 else index.max()
        raise error(f"{op}: index {bad} is out of range [0, {size}) for {what}")


def _check_index_shape(op, index, x, dim):
    """``index`` has x's number of dims and is no larger than x along the other dims."""
    if index.ndim != x.ndim:
        raise ValueError(f"{op}: index has {index.ndim} dims and x {x.ndim} (shapes {tuple(index.shape)} "
                         f"and {tuple(x.shape)}); they need the same number")
    for d, (n, m) in enumerate(zip(index.shape, x.shape)):
        if d != dim and n > m:
            raise ValueError(f"{op}: index shape {tuple(index.shape)} exceeds x's shape {tuple(x.shape)} at dim {d}")


def open_mesh(index, dim):
    """The index tuple that picks, for each position p of ``index``, the element at
    p with coordinate ``dim`` replaced by index[p] (NumPy's take_along_axis, no broadcasting)."""
    xp = backend.array_module(index)
    with backend.device_context(backend.device_of(index)):
        return tuple(index if d == dim else
                     xp.arange(n).reshape(tuple(-1 if e == d else 1 for e in range(index.ndim)))
                     for d, n in enumerate(index.shape))


def _as_1d(x, index):
    """A 0-d tensor and index as 1-d (PyTorch gathers and scatters on 0-d tensors as on 1-element ones)."""
    return (reshape(x, (1,)), index.reshape((1,))) if x.ndim == 0 else (x, index)


def gather(x, dim, index):
    """out[i][j][k] = x[index[i][j][k]][j][k] for dim 0 (the others alike): torch.gather. ``index``
    has x's number of dims, is no larger than x along the other dims, and holds values in
    [0, x.shape[dim]); out has its shape.

    Indexing with the open mesh, so dL/dx = zeros with g added at the gathered positions (an
    element gathered twice gets both gradients)."""
    require_tensor("gather", "x", x)
    dim = axis_index("gather", dim, x.ndim)
    index = index_array("gather", index, x)
    _check_index_shape("gather", index, x, dim)
    _check_range("gather", index, x.shape[dim] if x.ndim else 1, f"dim {dim} of shape {tuple(x.shape)}")
    flat_x, flat_index = _as_1d(x, index)
    out = GetItem.apply(flat_x, open_mesh(flat_index, dim))
    return reshape(out, ()) if x.ndim == 0 else out


def scatter_add(x, dim, index, src):
    """out = x, then out[index[i][j][k]][j][k] += src[i][j][k] for dim 0 (the others alike):
    torch.scatter_add. ``index`` is no larger than ``src`` along any dim nor than ``x`` along the
    others; only src's part of index's shape is used. x and src share a dtype.

    x + (zeros with src added at the mesh): dL/dx = g; dL/dsrc = g gathered at the mesh (zeros for
    the unused part of src)."""
    require_tensor("scatter_add", "x", x)
    require_tensor("scatter_add", "src", src)
    dim = axis_index("scatter_add", dim, x.ndim)
    index = index_array("scatter_add", index, x)
    if src.dtype != x.dtype:
        raise TypeError(f"scatter_add: src has dtype {src.dtype} and x {x.dtype}; they must be equal")
    _check_index_shape("scatter_add", index, x, dim)
    if src.ndim != index.ndim or any(n > m for n, m in zip(index.shape, src.shape)):
        raise ValueError(f"scatter_add: index shape {tuple(index.shape)} exceeds src's shape {tuple(src.shape)}")
    _check_range("scatter_add", index, x.shape[dim] if x.ndim else 1, f"dim {dim} of shape {tuple(x.shape)}")
    if tuple(src.shape) != tuple(index.shape):
        src = src[tuple(slice(0, n) for n in index.shape)]
    flat_x, flat_index = _as_1d(x, index)
    flat_src = reshape(src, (1,)) if src.ndim == 0 else src
    added = ScatterAdd.apply(flat_src, tuple(flat_x.shape), open_mesh(flat_index, dim))
    return x + (reshape(added, ()) if x.ndim == 0 else added)


def one_hot(index, num_classes=-1):
    """out[..., c] = 1 where index[...] == c, else 0 (int64, one more dim than index; not
    differentiable): torch.nn.functional.one_hot. ``num_classes`` −1 means index.max() + 1."""
    data = index.data if isinstance(index, _tensor.Tensor) else index
    if not backend.is_array(data):
        raise TypeError(f"one_hot: index must be an integer tensor, got {type(index).__name__}")
    if data.dtype.kind not in "iu":
        raise TypeError(f"one_hot: index must hold integers, got dtype {data.dtype}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise TypeError(f"one_hot: num_classes must be an int, got {type(num_classes).__name__}")
    if num_classes == -1:
        if not data.size:
            raise ValueError(f"one_hot: cannot infer num_classes from an empty index of shape {tuple(data.shape)}; "
                             "pass num_classes")
        num_classes = int(data.max()) + 1
    if num_classes < 1:
        raise ValueError(f"one_hot: num_classes must be positive (or -1: index.max() + 1), got {num_classes}")
    _check_range("one_hot", data, num_classes, f"num_classes={num_classes}", ValueError)  # labels, as the losses
    xp = backend.array_module(data)
    with backend.device_context(backend.device_of(data)):
        out = (data[..., None] == xp.arange(num_classes)).astype(np.int64)
    return _tensor.Tensor.from_array(out)
