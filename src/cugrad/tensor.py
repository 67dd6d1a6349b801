"""Tensor: an array (NumPy or CuPy), its gradient, and the graph node that made it."""
from __future__ import annotations


import numpy as np

from . import autograd, backend


class Tensor:
    """An n-dimensional array that can record the operations applied to it.

    ``data`` is a NumPy array on the CPU or a CuPy array on a GPU; ``grad`` is a Tensor or None;
    ``grad_fn`` is the node (a Function instance) that produced it, None for leaves.
    """

    __slots__ = ("data", "grad", "grad_fn", "_output_index", "_requires_grad", "__weakref__")
    __array_priority__ = 1000  # numpy defers `ndarray + Tensor` to Tensor.__radd__

    def __init__(self, data, dtype=None, device=None, requires_grad=False):
        self.data = _to_array(data, dtype, device)
        self.grad = None
        self.grad_fn = None
        self._output_index = 0
        self._requires_grad = False
        if requires_grad:
            self.requires_grad = True

    @classmethod
    def from_array(cls, array) -> "Tensor":
        """A leaf tensor around ``array``, a NumPy or CuPy array, sharing its memory: no copy and
        no checks (the fast constructor the ops and the engine use; ``cugrad.tensor`` copies and
        converts). The array's dtype and device become the tensor's."""
        t = cls.__new__(cls)
        t.data = array
        t.grad = None
        t.grad_fn = None
        t._output_index = 0
        t._requires_grad = False
        return t

    @classmethod
    def _from_op(cls, array, node, index):
        """Output ``index`` of graph node ``node`` (the engine's constructor)."""
        t = cls.__new__(cls)
        t.data = array
        t.grad = None
        t.grad_fn = node
        t._output_index = index
        t._requires_grad = True
        return t

    # ---------------------------------------------------------------- properties
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool):
        value = bool(value)
        if value and not backend.is_floating(self.data.dtype):
            raise TypeError(
                f"only floating-point tensors can require grad, this one is {self.data.dtype.name}"
            )
        if not value and self.grad_fn is not None:
            raise RuntimeError("requires_grad can only be turned off on leaf tensors; use .detach()")
        self._requires_grad = value

    def requires_grad_(self, value: bool = True) -> "Tensor":
        self.requires_grad = value
        return self

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def device(self) -> backend.Device:
        return backend.device_of(self.data)

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def shape(self) -> tuple:
        return tuple(self.data.shape)

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return int(self.data.size)

    def numel(self) -> int:
        return int(self.data.size)

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    # ---------------------------------------------------------------- conversion
    def numpy(self) -> np.ndarray:
        """The values as a NumPy array (a copy for GPU tensors; shares memory on the CPU)."""
        return backend.to_device(self.data, backend.CPU)

    def __array__(self, dtype=None, copy=None):
        """``np.asarray(t)``: a CPU tensor's values (its own memory unless a cast or copy is asked
        for). A GPU tensor refuses, as in PyTorch and CuPy: ``.numpy()`` copies it to the host."""
        if self.device.type != "cpu":
            raise TypeError(f"a tensor on {self.device} does not become a NumPy array implicitly; "
                            "call .numpy() (a copy to the host)")
        data = self.data
        if dtype is not None and np.dtype(dtype) != data.dtype:
            if copy is False:
                raise ValueError(f"np.asarray(tensor, dtype={np.dtype(dtype)}, copy=False): a cast needs a copy")
            return data.astype(dtype)
        return data.copy() if copy else data

    # ---------------------------------------------------------------- sharing (DLPack, CUDA array interface)
    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        """A DLPack capsule over this tensor's memory (``torch.from_dlpack(t)``, ``np.from_dlpack(t)``,
        ``cupy.from_dlpack(t)``). On a GPU, ``stream`` is the consumer's: CuPy makes it wait for the
        work queued on the current stream first, as the protocol asks. Refused (BufferError) for a
        tensor that requires grad, and for bfloat16 on the CPU (NumPy's DLPack has no bfloat16)."""
        self._check_shareable("__dlpack__")
        if self.device.type == "cpu" and backend.is_bfloat16(self.dtype):
            raise BufferError("Tensor.__dlpack__: a bfloat16 tensor on the CPU cannot be shared: NumPy's DLPack "
                              "has no bfloat16; share .float() (a float32 copy) instead")
        given = {"stream": stream, "max_version": max_version, "dl_device": dl_device, "copy": copy}
        return self.data.__dlpack__(**{k: v for k, v in given.items() if v is not None})

    def __dlpack_device__(self):
        """(DLPack device type, index): (1, 0) for the CPU, (2, n) for GPU n."""
        return self.data.__dlpack_device__()

    @property
    def __cuda_array_interface__(self):
        """CuPy's CUDA array interface (version 3, with the current stream) of a GPU tensor, so
        Numba, PyTorch and others can read it without a copy; a CPU tensor has none."""
        if self.device.type == "cpu":
            raise AttributeError("a tensor on the CPU has no __cuda_array_interface__ (it is not in GPU memory)")
        self._check_shareable("__cuda_array_interface__")
        return self.data.__cuda_array_interface__

    def _check_shareable(self, what):
        if self.requires_grad:
            raise BufferError(f"Tensor.{what}: can't export tensors that require gradient, use tensor.detach()")

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, this one has shape {self.shape}")
        return self.data.item()

    def tolist(self):
        return self.numpy().tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        return bool(self.item())

    def detach(self) -> "Tensor":
        """The same data, cut from the graph."""
        return Tensor.from_array(self.data)

    def to(self, device=None, dtype=None) -> "Tensor":
        """A copy on ``device`` and/or as ``dtype`` (differentiable); self when nothing changes."""
        if isinstance(device, str) and device not in ("cpu",) and not device.startswith("cuda"):
            dtype, device = device, None
        out = self
        if dtype is not None:
            dtype = backend.resolve_dtype(dtype)
            if dtype != out.dtype:
                out = ops.astype(out, dtype)
        if device is not None:
            device = backend.get_device(device)
            if device != out.device:
                out = ops.to_device(out, device)
        return out

    def cpu(self) -> "Tensor":
        return self.to("cpu")

    def cuda(self, index: int = 0) -> "Tensor":
        return self.to(f"cuda:{index}")

    def astype(self, dtype) -> "Tensor":
        return ops.astype(self, backend.resolve_dtype(dtype))

    def float(self) -> "Tensor":
        return self.astype("float32")

    def double(self) -> "Tensor":
        return self.astype("float64")

    def __repr__(self):
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(")
        extras = []
        if self.device.type != "cpu":
            extras.append(f"device='{self.device}'")
        if self.dtype != backend.DEFAULT_FLOAT and self.dtype != np.int64:
            extras.append(f"dtype={self.dtype.name}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{type(self.grad_fn).__name__}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body] + extras) + ")"

    # ---------------------------------------------------------------- autograd
    def backward(self, grad=None, retain_graph=False, create_graph=False):
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad`` (``grad`` seeds non-scalars)."""
        autograd.backward(self, grad, retain_graph=retain_graph, create_graph=create_graph)

    def zero_grad(self):
        self.grad = None

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(self)`` whenever a backward has finished accumulating this leaf's ``.grad``
        (data parallelism starts a gradient bucket's all-reduce there). Returns a handle with
        ``remove()``."""
        return autograd.register_post_accumulate_grad_hook(self, hook)

    # ---------------------------------------------------------------- arithmetic
    def __add__(self, other):
        return ops.add(self, other)

    def __radd__(self, other):
        return ops.add(other, self)

    def __sub__(self, other):
        return ops.sub(self, other)

    def __rsub__(self, other):
        return ops.sub(other, self)

    def __mul__(self, other):
        return ops.mul(self, other)

    def __rmul__(self, other):
        return ops.mul(other, self)

    def __truediv__(self, other):
        return ops.div(self, other)

    def __rtruediv__(self, other):
        return ops.div(other, self)

    def __pow__(self, exponent):
        return ops.pow(self, exponent)

    def __rpow__(self, base):
        return ops.pow(base, self)

    def __matmul__(self, other):
        return ops.matmul(self, other)

    def __rmatmul__(self, other):
        return ops.matmul(other, self)

    def __neg__(self):
        return ops.neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return ops.abs(self)

    # in place: only outside the graph (leaves under no_grad, or tensors that need no grad)
    def _inplace(self, other, name, apply):
        if self.grad_fn is not None:
            raise RuntimeError(
                f"in-place {name} on a tensor made by {type(self.grad_fn).__name__} would change values its "
                "graph saved for backward; use an out-of-place op, or .detach() first"
            )
        if autograd.is_grad_enabled() and (self.requires_grad or _requires_grad(other)):
            raise RuntimeError(
                f"in-place {name} on a tensor that requires grad is only allowed inside cugrad.no_grad()"
            )
        operand = self._operand(other, f"in-place {name}", copy_across=name == "assignment")
        # on the tensor's GPU (CuPy runs kernels on the current one); inf/nan silently, as the
        # out-of-place ops (fp_quiet)
        with backend.device_context(self.device), np.errstate(all="ignore"):
            apply(self.data, operand)
        return self

    def _operand(self, other, what, copy_across=False):
        """The array (or number) ``other`` stands for, on this tensor's device. A tensor or array
        on another device is copied over when ``copy_across`` (assignment, as PyTorch copies),
        else refused by name; nested lists are made arrays here."""
        if isinstance(other, (bool, int, float, np.generic)):
            return other
        array = other.data if isinstance(other, Tensor) else other
        if not backend.is_array(array):          # nested lists: NumPy's own dtype (0.1 stays a float64)
            return backend.to_device(np.asarray(array), self.device)
        where = backend.device_of(array)
        if where == self.device:
            return array
        if copy_across:
            return backend.to_device(array, self.device)
        raise RuntimeError(f"{what}: a tensor on {self.device} and {'a tensor' if isinstance(other, Tensor) else 'an array'} "
                           f"on {where}; move it first (.to('{self.device}'))")

    def __iadd__(self, other):
        return self._inplace(other, "+=", _iadd)

    def __isub__(self, other):
        return self._inplace(other, "-=", _isub)

    def __imul__(self, other):
        return self._inplace(other, "*=", _imul)

    def __itruediv__(self, other):
        return self._inplace(other, "/=", _idiv)

    # comparisons: plain boolean tensors, never differentiable
    def _compare(self, other, name):
        if other is None:
            return NotImplemented          # t == None is False, as for any object
        operand = self._operand(other, f"comparison {name}")
        with backend.device_context(self.device):    # CuPy runs kernels on the current GPU
            return Tensor.from_array(backend.ensure_array(getattr(self.data, name)(operand)))

    def __lt__(self, other):
        return self._compare(other, "__lt__")

    def __le__(self, other):
        return self._compare(other, "__le__")

    def __gt__(self, other):
        return self._compare(other, "__gt__")

    def __ge__(self, other):
        return self._compare(other, "__ge__")

    def __eq__(self, other):
        return self._compare(other, "__eq__")

    def __ne__(self, other):
        return self._compare(other, "__ne__")

    def __invert__(self):
        return Tensor.from_array(backend.ensure_array(~self.data))

    # logical/bitwise and, or, xor of boolean or integer tensors (masks), never differentiable
    def __and__(self, other):
        return self._compare(other, "__and__")

    def __rand__(self, other):
        return self._compare(other, "__rand__")

    def __or__(self, other):
        return self._compare(other, "__or__")

    def __ror__(self, other):
        return self._compare(other, "__ror__")

    def __xor__(self, other):
        return self._compare(other, "__xor__")

    def __rxor__(self, other):
        return self._compare(other, "__rxor__")

    __hash__ = object.__hash__

    def __getitem__(self, index):
        return ops.getitem(self, index)

    def __setitem__(self, index, value):
        """``t[index] = value`` in place, under the same rule as ``+=``: never on a tensor the graph
        made, and on one that requires grad only inside ``no_grad``."""
        self._inplace(value, "assignment", lambda data, v: data.__setitem__(ops.raw_index(index), v))

    # ---------------------------------------------------------------- methods
    # NumPy's axis=/keepdims= or PyTorch's dim=/keepdim=; dtype= and out= as np.sum(t), np.mean(t),
    # np.max(t), np.min(t), np.var(t), np.std(t), np.argmax(t) pass them
    def sum(self, axis=None, keepdims=False, dtype=None, out=None, *, dim=None, keepdim=None):
        return ops.sum(_reduction_input(self, dtype, out, "sum"), axis, keepdims, dim=dim, keepdim=keepdim)

    def mean(self, axis=None, keepdims=False, dtype=None, out=None, *, dim=None, keepdim=None):
        return ops.mean(_reduction_input(self, dtype, out, "mean"), axis, keepdims, dim=dim, keepdim=keepdim)

    def max(self, axis=None, keepdims=False, out=None, *, dim=None, keepdim=None):
        return ops.max(_reduction_input(self, None, out, "max"), axis, keepdims, dim=dim, keepdim=keepdim)

    def min(self, axis=None, keepdims=False, out=None, *, dim=None, keepdim=None):
        return ops.min(_reduction_input(self, None, out, "min"), axis, keepdims, dim=dim, keepdim=keepdim)

    def var(self, axis=None, keepdims=False, ddof=0, *, dim=None, keepdim=None, correction=None, dtype=None, out=None):
        return ops.var(_reduction_input(self, dtype, out, "var"), axis, keepdims, ddof, dim=dim, keepdim=keepdim,
                       correction=correction)

    def std(self, axis=None, keepdims=False, ddof=0, *, dim=None, keepdim=None, correction=None, dtype=None, out=None):
        return ops.std(_reduction_input(self, dtype, out, "std"), axis, keepdims, ddof, dim=dim, keepdim=keepdim,
                       correction=correction)

    def argmax(self, axis=None, keepdims=False, *, dim=None, keepdim=None, out=None):
        """Index of the first maximum along ``axis`` (of the flattened tensor for None)."""
        return ops.argmax(_reduction_input(self, None, out, "argmax"), axis, keepdims, dim=dim, keepdim=keepdim)

    def argmin(self, axis=None, keepdims=False, *, dim=None, keepdim=None, out=None):
        """Index of the first minimum along ``axis`` (of the flattened tensor for None)."""
        return ops.argmin(_reduction_input(self, None, out, "argmin"), axis, keepdims, dim=dim, keepdim=keepdim)

    def prod(self, axis=None, keepdims=False, dtype=None, out=None, *, dim=None, keepdim=None):
        return ops.prod(_reduction_input(self, dtype, out, "prod"), axis, keepdims, dim=dim, keepdim=keepdim)

    def all(self, axis=None, keepdims=False, out=None, *, dim=None, keepdim=None):
        return ops.all(_reduction_input(self, None, out, "all"), axis, keepdims, dim=dim, keepdim=keepdim)

    def any(self, axis=None, keepdims=False, out=None, *, dim=None, keepdim=None):
        return ops.any(_reduction_input(self, None, out, "any"), axis, keepdims, dim=dim, keepdim=keepdim)

    def logsumexp(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return ops.logsumexp(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def cumsum(self, axis=None, dtype=None, out=None, *, dim=None):
        return ops.cumsum(_reduction_input(self, dtype, out, "cumsum"), axis, dim=dim)

    def reshape(self, *shape):
        return ops.reshape(self, *shape)

    def flatten(self, start_dim=0, end_dim=-1):
        return ops.flatten(self, start_dim, end_dim)

    def unflatten(self, dim, sizes):
        return ops.unflatten(self, dim, sizes)

    def squeeze(self, axis=None, *, dim=None):
        return ops.squeeze(self, axis, dim=dim)

    def masked_fill(self, mask, value):
        return ops.masked_fill(self, mask, value)

    def unsqueeze(self, dim):
        return ops.unsqueeze(self, dim)

    def flip(self, *dims):
        """Reversed along ``dims`` (PyTorch's ``t.flip(0, 1)`` or ``t.flip((0, 1))``; every axis for
        ``t.flip()``, NumPy's rule)."""
        return ops.flip(self, dims[0] if len(dims) == 1 else dims or None)

    def transpose(self, *axes):
        return ops.transpose(self, *axes)

    def swapaxes(self, axis1, axis2):
        return ops.swapaxes(self, axis1, axis2)

    @property
    def T(self):
        return ops.transpose(self)

    def exp(self):
        return ops.exp(self)

    def log(self):
        return ops.log(self)

    def sqrt(self):
        return ops.sqrt(self)

    def abs(self):
        return ops.abs(self)

    def clip(self, min=None, max=None):
        return ops.clip(self, min, max)

    def softmax(self, axis=None, *, dim=None):
        return ops.softmax(self, axis, dim=dim)

    def log_softmax(self, axis=None, *, dim=None):
        return ops.log_softmax(self, axis, dim=dim)


def _iadd(a, b):
    a += b


def _isub(a, b):
    a -= b


def _imul(a, b):
    a *= b


def _idiv(a, b):
    a /= b


def _reduction_input(t, dtype, out, name):
    """The tensor a reduction runs on: ``t``, cast first when ``dtype`` is given (as PyTorch's
    sum(dtype=) does). ``out=`` cannot be honoured by a differentiable op and is refused."""
    if out is not None:
        raise TypeError(f"{name}: out= is not supported; use the returned tensor")
    return t if dtype is None else t.to(dtype=dtype)


def _requires_grad(value) -> bool:
    return isinstance(value, Tensor) and value.requires_grad


# --------------------------------------------------------------------------- construction

def _to_array(data, dtype=None, device=None):
    """An array (always a fresh copy) from Python data, a NumPy/CuPy array or a Tensor."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        dtype = backend.resolve_dtype(dtype)
    if backend.is_array(data):
        target = backend.get_device(device) if device is not None else backend.device_of(data)
        array = backend.to_device(data, target)
        array = array.astype(dtype if dtype is not None else array.dtype, copy=array is data)
        return array
    try:
        array = np.asarray(data)
    except ValueError:  # NumPy 2 refuses ragged nested sequences outright
        array = np.empty(0, dtype=object)
    if array.dtype == object:
        raise TypeError(f"cannot make a tensor from {type(data).__name__} holding mixed or ragged data")
    if dtype is None:
        if array.dtype.kind == "f":
            dtype = array.dtype if isinstance(data, np.ndarray) else backend.DEFAULT_FLOAT
        elif array.dtype.kind in "iu":
            dtype = array.dtype if isinstance(data, np.ndarray) else np.dtype(np.int64)
        elif array.dtype.kind == "b":
            dtype = np.dtype(np.bool_)
        else:
            raise TypeError(f"cannot make a tensor from data of dtype {array.dtype}")
    array = np.array(array, dtype=dtype)
    target = backend.get_device(device) if device is not None else backend.CPU
    return backend.to_device(array, target)


def as_array(value, like: Tensor):
    """``value`` (a number or nested list) as an array on ``like``'s device with its dtype."""
    return _to_array(value, like.dtype, like.device)


def tensor(data, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A new leaf tensor holding a copy of ``data`` (float32 for Python floats, like PyTorch)."""
    return Tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)


from . import ops  # noqa: E402  (ops build on Tensor; Tensor methods delegate to them)


def _op_method(name):
    op = getattr(ops, name)

    def method(self, *args, **kwargs):
        return op(self, *args, **kwargs)
    method.__name__ = method.__qualname__ = name
    method.__doc__ = op.__doc__
    return method


# x.relu(), x.sigmoid(), x.silu(), ...: one method per op of the activation table; and the
# elementwise ops PyTorch's Tensor has as methods (x.sin(), x.floor(), x.isnan(), ...)
for _name in (*ops.ACTIVATION_OPS, "exp2", "log2", "log10", "rsqrt", "sin", "cos", "tan", "sinh", "cosh",
              "sign", "floor", "ceil", "round", "trunc", "isnan", "isinf", "isfinite"):
    setattr(Tensor, _name, _op_method(_name))

# the shape and indexing ops PyTorch's Tensor has as methods (x.split(2), x.gather(1, i), x.sort(), ...)
for _name in ("split", "chunk", "repeat", "tile", "tril", "triu", "diagonal", "gather", "scatter_add", "sort", "topk",
              "clamp"):
    setattr(Tensor, _name, _op_method(_name))

# x.erf(), x.logaddexp(other), x.lerp(end, weight): PyTorch's Tensor methods of these ops
for _name in ("erf", "logaddexp", "lerp"):
    setattr(Tensor, _name, _op_method(_name))
