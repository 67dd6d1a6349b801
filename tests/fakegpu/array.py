"""The stand-in's ``cupy.ndarray`` and array functions: NumPy values behind CuPy's rules.

Each array holds a NumPy array (its values) and a MemoryPointer from the current allocator (its
device and its bytes in the pool). Every name here is implemented on purpose; anything else raises
AttributeError (the module's ``__getattr__``), never a silent NumPy fallback. Computing functions
run through :func:`_kernel`, which applies CuPy's argument rules and records the work instead of
running it while the current stream captures. Citations: CuPy 14.2.0 (git tag v14.2.0).
"""
from __future__ import annotations

import warnings

import numpy as np

from . import dlpack as _dlpack
from . import memory, runtime

# cupy/_core/_scalar.pyx scalar_type_set: the Python scalars a kernel takes by value
_PY_SCALARS = (int, float, bool, complex)


def _unsupported(x):
    # cupy/_core/_scalar.pyx CScalar.__init__: what is neither a cupy array nor a scalar
    return TypeError(f"Unsupported type {type(x)}")


def _check_device(a, dev):
    """cupy/_core/_kernel.pyx _check_peer_access: an operand on another GPU is refused when peer
    access is unavailable (the stand-in's GPUs have none: runtime.deviceCanAccessPeer)."""
    if a._mem.device_id != dev:
        raise ValueError(f"The device where the array resides ({a._mem.device_id}) is different from the "
                         f"current device ({dev}). Peer access is unavailable between these devices.")


def _operand(x, dev):
    """cupy/_core/_kernel.pyx _preprocess_arg: a cupy array (on the current device) or a scalar."""
    if isinstance(x, ndarray):
        _check_device(x, dev)
        return x._a
    if type(x) in _PY_SCALARS or isinstance(x, np.generic):
        return x
    raise _unsupported(x)


def _poison(a):
    """What a captured op leaves in its output until the graph runs: not the result."""
    if a.dtype.kind == "f":
        a.fill(np.nan)
    elif a.size and a.flags.c_contiguous:
        a.view(np.uint8).fill(0xA5)


def _adopt(values, raw=()):
    """A new array on the current device holding ``values`` (copied when it aliases an operand)."""
    values = np.asarray(values)
    if any(isinstance(r, np.ndarray) and np.may_share_memory(values, r) for r in raw):
        values = values.copy()
    return ndarray._wrap(np.ascontiguousarray(values) if values.ndim else values, None)


def _kernel(np_fn, operands, params=(), kw=None, out=None):
    """Run ``np_fn(*operands, *params, **kw)`` as one GPU kernel on the current device: into
    ``out`` (a cupy array) or into a new array; recorded, not run, while the stream captures."""
    dev = runtime.getDevice()
    raw = [_operand(x, dev) for x in operands]
    kw = dict(kw or {})
    if out is not None:
        if not isinstance(out, ndarray):
            raise TypeError(f"Output arrays must be cupy.ndarray, got {type(out)}")
        _check_device(out, dev)
        target = out._a

        def work():
            with np.errstate(all="ignore"):
                np_fn(*raw, *params, out=target, **kw)
        runtime.enqueue(work)
        return out
    capturing = runtime.capturing_stream() is not None
    with np.errstate(all="ignore"):
        result = _adopt(np_fn(*raw, *params, **kw), raw)
    if capturing:
        _poison(result._a)
        dst = result._a

        def work():
            with np.errstate(all="ignore"):
                np.copyto(dst, np_fn(*raw, *params, **kw), casting="unsafe")
        runtime.enqueue(work)
    return result


def _copy_kernel(dst, src_values):
    """dst[...] = src_values as a kernel (recorded during capture)."""
    runtime.enqueue(lambda: np.copyto(dst, src_values, casting="unsafe"))


def _host_to_device(values, dtype=None):
    """cupy/cuda/memory.pyx copy_from_host_async: a host→device copy (refused during capture)."""
    runtime.refuse_transfer("H2D")
    values = np.array(values, dtype=dtype, copy=True)
    return ndarray._wrap(values, None)


class _Flags:
    def __init__(self, a):
        self._a = a

    @property
    def c_contiguous(self):
        return self._a.flags.c_contiguous

    @property
    def f_contiguous(self):
        return self._a.flags.f_contiguous

    @property
    def owndata(self):
        return self._a.flags.owndata

    def __getitem__(self, name):
        return {"C_CONTIGUOUS": self.c_contiguous, "F_CONTIGUOUS": self.f_contiguous,
                "OWNDATA": self.owndata}[name]


def _address(values):
    """Where a NumPy array's first element lies: for a new array, the first byte of its allocation
    (NumPy lays new arrays out with non-negative strides)."""
    return values.__array_interface__["data"][0]


def _is_basic_index(key):
    items = key if isinstance(key, tuple) else (key,)
    return all(k is None or k is Ellipsis or isinstance(k, (slice, int, np.integer)) and not isinstance(k, (bool, np.bool_))
               for k in items)


class ndarray:
    """cupy.ndarray on the stand-in. Not a NumPy array: ``np.asarray`` of it raises as CuPy's does."""

    __array_priority__ = 100   # core.pyx: NumPy defers binary operators to cupy arrays

    def __init__(self, shape, dtype=float, memptr=None, strides=None, order="C"):
        if memptr is not None or strides is not None:
            raise NotImplementedError("cugrad stand-in: ndarray(memptr=, strides=) is not simulated")
        self._init(np.empty(shape, dtype, order=order), None)

    @classmethod
    def _wrap(cls, values, mem):
        a = cls.__new__(cls)
        a._init(values, mem)
        return a

    def _init(self, values, mem):
        """``mem``: None for a new array, which takes its bytes from the current allocator
        (cupy/cuda/memory.pyx alloc); for a view, its base's (allocation, address of its first byte)."""
        self._a = values
        if mem is None:
            self._mem, self._origin = memory.alloc(values.nbytes), _address(values)
            if self._mem.ptr and (values.flags.c_contiguous or values.flags.f_contiguous):
                memory.register(self._mem, np.ravel(values, order="K").view(np.uint8))
        else:
            self._mem, self._origin = mem

    def _view(self, values):
        return ndarray._wrap(values, (self._mem, self._origin))

    # --- attributes
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: _Flags(self._a))
    T = property(lambda self: self._view(self._a.T))

    @property
    def data(self):
        """core.pyx ndarray.data: the MemoryPointer of the first element; a view's is its base's plus
        the view's byte offset (_routines_indexing.pyx _simple_getitem: ``v.data = a.data + offset``)."""
        if not self._mem.ptr:               # a zero-byte allocation has no address
            return self._mem
        return self._mem + (_address(self._a) - self._origin)

    @shape.setter
    def shape(self, value):
        v = self._a.view()
        v.shape = value
        self._a = v

    # --- sharing: DLPack (tests/fakegpu/dlpack.py) and the CUDA array interface
    __dlpack__ = _dlpack.export
    __dlpack_device__ = _dlpack.device

    @property
    def __cuda_array_interface__(self):
        """core.pyx ndarray.__cuda_array_interface__, version 3 (CuPy's default): the current stream
        (the legacy stream's 0 given as 1), strides only when not C-contiguous, pointer 0 when empty."""
        return {"shape": self.shape, "typestr": self.dtype.str, "descr": self.dtype.descr,
                "stream": runtime.get_current_stream().ptr or _dlpack.STREAM_LEGACY, "version": 3,
                "strides": None if self._a.flags.c_contiguous else self.strides,
                "data": (self.data.ptr if self.size > 0 else 0, False)}

    @property
    def device(self):
        """core.pyx ndarray.device: the device of its memory."""
        return runtime.Device(self._mem.device_id)

    @property
    def base(self):
        raise NotImplementedError("cugrad stand-in: ndarray.base is not simulated")

    # --- not a NumPy array: core.pyx ndarray.__array__
    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. "
                        "Please use `.get()` to construct a NumPy array explicitly.")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """core.pyx ndarray.__array_ufunc__: a NumPy ufunc on a cupy array runs CuPy's ufunc of the
        same name (whose argument rules then refuse host arrays)."""
        if "out" in kwargs:
            out = kwargs["out"]
            if len(out) != 1:
                raise ValueError("The 'out' parameter must have exactly one array value")
            kwargs["out"] = out[0]
        if method not in ("__call__", "at", "reduce"):
            return NotImplemented
        func = _UFUNCS.get(ufunc.__name__)
        if func is None:
            return NotImplemented
        if method != "__call__":
            func = getattr(func, method, None)
            if func is None:
                return NotImplemented
        for x in inputs + ((kwargs["out"],) if "out" in kwargs else ()):
            if not (type(x) in _PY_SCALARS or isinstance(x, (np.generic, ndarray, np.ndarray))):
                return NotImplemented
        if ufunc.__name__ in ("greater", "greater_equal", "less", "less_equal", "equal", "not_equal"):
            inputs = tuple(x.item() if isinstance(x, np.ndarray) and x.ndim == 0 else x for x in inputs)
        return func(*inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        """core.pyx ndarray.__array_function__: NumPy's function of the same name in cupy."""
        impl = _MODULE_FUNCTIONS.get(func.__name__)
        if impl is None or func.__module__.split(".")[1:2] not in ([], ["lib"], ["_core"], ["core"]):
            return NotImplemented
        for t in types:
            if not issubclass(t, (ndarray, np.ndarray)):
                return NotImplemented
        return impl(*args, **kwargs)

    # --- device to host (refused during capture: memory.pyx copy_to_host_async)
    def get(self, stream=None, order="C", out=None, blocking=True):
        runtime.refuse_transfer("D2H")
        if out is not None:
            if not isinstance(out, np.ndarray):
                raise TypeError("Only numpy.ndarray can be obtained from cupy.ndarray")
            np.copyto(out, self._a)
            return out
        return np.array(self._a, order=order, copy=True)

    def set(self, arr, stream=None):
        """core.pyx ndarray.set: a host NumPy array of the same dtype and shape."""
        if not isinstance(arr, np.ndarray):
            raise TypeError("Only numpy.ndarray can be set to cupy.ndarray")
        if self.dtype != arr.dtype:
            raise TypeError(f"{arr.dtype} array cannot be set to {self.dtype} array")
        if self.shape != arr.shape:
            raise ValueError(f"Shape mismatch. Old shape: {self.shape}, new shape: {arr.shape}")
        if not (self._a.flags.c_contiguous or self._a.flags.f_contiguous):
            raise RuntimeError("Cannot set to non-contiguous array")
        runtime.refuse_transfer("H2D")
        np.copyto(self._a, arr)

    def item(self, *args):
        return self.get().item(*args)

    def tolist(self):
        return self.get().tolist()

    def __float__(self):
        return float(self.get())

    def __int__(self):
        return int(self.get())

    def __index__(self):
        if self.ndim or self.dtype.kind not in "iub":
            raise TypeError("only integer scalar arrays can be converted to a scalar index")
        return int(self.get())

    def __bool__(self):
        return bool(self.get())

    def __complex__(self):
        return complex(self.get())

    def __repr__(self):
        return repr(self.get())

    def __str__(self):
        return str(self.get())

    def __format__(self, spec):
        return format(self.get(), spec)

    def __reduce__(self):
        return (array, (self.get(),))

    def __len__(self):
        if not self.ndim:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __iter__(self):
        if not self.ndim:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(self.shape[0]))

    __hash__ = None

    # --- views (no kernel, no device check)
    def reshape(self, *shape, order="C"):
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        if order != "C":
            raise NotImplementedError("cugrad stand-in: reshape(order=) other than 'C'")
        try:
            v = self._a.view()
            v.shape = shape              # a view when the strides allow it
            return self._view(v)
        except AttributeError:
            return _kernel(np.reshape, [self], (shape,))   # else a copy, on the current device

    def view(self, dtype=None):
        return self._view(self._a.view() if dtype is None else self._a.view(dtype))

    def transpose(self, *axes):
        return self._view(self._a.transpose(*axes))

    def swapaxes(self, a, b):
        return self._view(self._a.swapaxes(a, b))

    def squeeze(self, axis=None):
        return self._view(self._a.squeeze(axis))

    def ravel(self, order="C"):
        if self._a.flags.c_contiguous:
            return self._view(self._a.ravel())
        return _kernel(np.ravel, [self])

    def flatten(self, order="C"):
        return _kernel(np.ravel, [self]).copy()

    def __getitem__(self, key):
        if _is_basic_index(key):
            return self._view(self._a[key])
        return _kernel(lambda a, *k: a[k[0]], [self], (_index(key),))

    def __setitem__(self, key, value):
        """core.pyx ndarray.__setitem__ → _routines_indexing.pyx _scatter_op(op='update')."""
        dev = runtime.getDevice()
        if not _is_basic_index(key):
            idx = _index(key)
            if isinstance(value, ndarray):
                _check_device(value, dev)
                v = value._a
            else:                               # _scatter_op_single: core.array(value), a host copy
                v = _host_to_device(value, self.dtype)._a
            _check_device(self, dev)
            target = self._a
            runtime.enqueue(lambda: target.__setitem__(idx, v))
            return
        y = _basic_view(self._a, key)
        if not isinstance(value, ndarray):
            # _scatter_op: "Refuse assignment from CPU arrays, see gh-2079": a host value goes to
            # fill(), which takes scalars only
            self._view(y).fill(value)
            return
        x = value._a
        while x.ndim > y.ndim and x.shape[0] == 1:       # _squeeze_leading_unit_dims
            x = x[0]
        if x.shape == y.shape and x.strides == y.strides and y.flags.c_contiguous and x.dtype == y.dtype:
            # same layout: MemoryPointer.copy_from_device_async, a memcpy (works across GPUs)
            _copy_kernel(y, x)
            return
        # else elementwise_copy: a kernel on the current device (peer check on both arrays)
        _check_device(value, dev)
        _check_device(self, dev)
        _copy_kernel(y, x)

    def fill(self, value):
        """core.pyx ndarray.fill: a scalar (0-d host or cupy value) only. Run on the current GPU:
        CuPy's fill_kernel refuses another GPU's array (_check_peer_access); its zero-fill
        shortcut (memset_async) does not check, and whether CUDA then accepts the other GPU's
        pointer depends on peer access, so the stand-in refuses both alike."""
        if isinstance(value, ndarray):
            if value.shape != ():
                raise ValueError("non-scalar cupy.ndarray cannot be used for fill")
            _check_device(value, runtime.getDevice())
            v = value._a
        else:
            v = np.asarray(value, dtype=self.dtype)
            if v.shape != ():
                raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
            v = v[()]
        _check_device(self, runtime.getDevice())
        target = self._a
        runtime.enqueue(lambda: target.fill(v))

    # --- copies
    def astype(self, dtype, order="K", casting=None, subok=None, copy=True):
        dtype = np.dtype(dtype)
        if not copy and dtype == self.dtype:
            return self
        return _kernel(lambda a: a.astype(dtype, order=order), [self])

    def copy(self, order="C"):
        """core.pyx ndarray.copy: onto the *current* device, also from another GPU."""
        if self._mem.device_id == runtime.getDevice():
            return _kernel(lambda a: np.array(a, order=order, copy=True), [self])
        if not (self._a.flags.c_contiguous or self._a.flags.f_contiguous):
            raise NotImplementedError("CuPy cannot copy non-contiguous array between devices.")
        out = ndarray._wrap(np.empty_like(self._a, order=order), None)
        _copy_kernel(out._a, self._a)
        return out

    def scatter_add(self, slices, value):
        # core.pyx ndarray.scatter_add: deprecated in CuPy 14
        warnings.warn("`ndarray.scatter_add` is deprecated. Please use `cupy.add.at` instead.", DeprecationWarning,
                      stacklevel=2)
        add.at(self, slices, value)


def _basic_view(a, key):
    """a[key] as a NumPy view, also where an integer index reaches a single element."""
    items = key if isinstance(key, tuple) else (key,)
    return a[items if any(k is Ellipsis for k in items) else items + (Ellipsis,)]


def _index(key):
    """_routines_indexing.pyx _prepare_slice_list: index arrays from the host are copied to the
    device (a host transfer: refused during capture); cupy index arrays must be on the current
    device; a boolean mask needs its count on the host (refused during capture)."""
    items = key if isinstance(key, tuple) else (key,)
    out = []
    for k in items:
        if isinstance(k, ndarray):
            _check_device(k, runtime.getDevice())
            if k.dtype == np.bool_:
                runtime.refuse_transfer("D2H")
            out.append(k._a)
        elif isinstance(k, (list, np.ndarray)):
            runtime.refuse_transfer("H2D")
            out.append(np.asarray(k))
        else:
            out.append(k)
    return tuple(out) if isinstance(key, tuple) else out[0]


# --------------------------------------------------------------------------- ufuncs

class ufunc:
    """A CuPy ufunc (cupy/_core/_kernel.pyx ufunc.__call__): operands are cupy arrays on the
    current device or scalars; a NumPy array operand is a TypeError."""

    def __init__(self, np_ufunc):
        self._np = np_ufunc
        self.__name__ = np_ufunc.__name__
        self.nin, self.nout = np_ufunc.nin, np_ufunc.nout

    def __call__(self, *args, out=None, dtype=None, casting="same_kind"):
        if len(args) != self.nin:
            raise TypeError(f"Wrong number of arguments for {self.__name__}")
        kw = {"casting": casting}
        if dtype is not None:
            kw["dtype"] = dtype
        if out is not None:
            return _kernel(self._np, list(args), kw=kw, out=out)
        if not any(isinstance(a, ndarray) for a in args):
            # scalars only: cupy still makes a 0-d device array
            for a in args:
                _operand(a, runtime.getDevice())
        return _kernel(self._np, list(args), kw=kw)

    def at(self, a, indices, b=None):
        """ufunc.at (cupy/_core/_kernel.pyx ufunc.at → _scatter_op with 'add' for add)."""
        if self.__name__ != "add":
            raise NotImplementedError(f"cugrad stand-in: cupy.{self.__name__}.at is not simulated")
        dev = runtime.getDevice()
        _check_device(a, dev)
        idx = _index(indices)
        v = _operand(b, dev) if not isinstance(b, (np.ndarray, list)) else None
        if v is None:
            raise _unsupported(b)
        target = a._a
        runtime.enqueue(lambda: np.add.at(target, idx, v))

    def reduce(self, a, axis=0, dtype=None, out=None, keepdims=False):
        return _kernel(self._np.reduce, [a], kw={"axis": axis, "dtype": dtype, "keepdims": keepdims}, out=out)

    def __repr__(self):
        return f"<ufunc '{self.__name__}'>"


_UFUNC_NAMES = (
    "add subtract multiply divide true_divide floor_divide power float_power negative positive absolute sign "
    "exp exp2 expm1 log log2 log10 log1p sqrt square cbrt reciprocal sin cos tan arcsin arccos arctan arctan2 "
    "sinh cosh tanh arcsinh arccosh arctanh maximum minimum fmax fmin greater greater_equal less less_equal "
    "equal not_equal logical_and logical_or logical_xor logical_not isfinite isnan isinf signbit copysign "
    "floor ceil rint trunc remainder mod fmod bitwise_and bitwise_or bitwise_xor invert left_shift right_shift "
    "hypot logaddexp logaddexp2").split()
_UFUNCS = {name: ufunc(getattr(np, name)) for name in _UFUNC_NAMES}
globals().update(_UFUNCS)
_UFUNCS["abs"] = _UFUNCS["absolute"]   # cupy.abs

_BINARY = {"add": "add", "sub": "subtract", "mul": "multiply", "truediv": "true_divide",
           "floordiv": "floor_divide", "mod": "remainder", "pow": "power", "and": "bitwise_and",
           "or": "bitwise_or", "xor": "bitwise_xor", "lshift": "left_shift", "rshift": "right_shift"}


def _install_operators():
    for op, name in _BINARY.items():
        f = _UFUNCS[name]
        setattr(ndarray, f"__{op}__", lambda self, other, f=f: f(self, other))
        setattr(ndarray, f"__r{op}__", lambda self, other, f=f: f(other, self))
        setattr(ndarray, f"__i{op}__", lambda self, other, f=f: f(self, other, out=self))
    for op, name in {"lt": "less", "le": "less_equal", "gt": "greater", "ge": "greater_equal",
                     "eq": "equal", "ne": "not_equal"}.items():
        f = _UFUNCS[name]
        setattr(ndarray, f"__{op}__", lambda self, other, f=f: f(self, other))
    ndarray.__neg__ = lambda self: negative(self)       # noqa: F821
    ndarray.__pos__ = lambda self: positive(self)       # noqa: F821
    ndarray.__abs__ = lambda self: absolute(self)       # noqa: F821
    ndarray.__invert__ = lambda self: invert(self)      # noqa: F821


_install_operators()


# --------------------------------------------------------------------------- reductions and methods

def _reduction(np_name):
    np_fn = getattr(np, np_name)

    def method(self, axis=None, dtype=None, out=None, keepdims=False, **kw):
        args = {"axis": axis, "keepdims": keepdims, **kw}
        if dtype is not None:
            args["dtype"] = dtype
        return _kernel(np_fn, [self], kw=args, out=out)
    method.__name__ = np_name
    return method


for _name in ("sum", "prod", "mean", "var", "std", "all", "any", "nansum"):
    setattr(ndarray, _name, _reduction(_name))


def _arg_reduction(np_name):
    np_fn = getattr(np, np_name)

    def method(self, axis=None, out=None, keepdims=False):
        return _kernel(np_fn, [self], kw={"axis": axis, "keepdims": keepdims}, out=out)
    method.__name__ = np_name
    return method


for _name in ("max", "min", "argmax", "argmin"):
    setattr(ndarray, _name, _arg_reduction(_name))


def _clip_method(self, min=None, max=None, out=None):  # noqa: A002
    return clip(self, min, max, out=out)


ndarray.clip = _clip_method
ndarray.cumsum = lambda self, axis=None, dtype=None: _kernel(np.cumsum, [self], kw={"axis": axis, "dtype": dtype})
ndarray.cumprod = lambda self, axis=None, dtype=None: _kernel(np.cumprod, [self], kw={"axis": axis, "dtype": dtype})
ndarray.round = lambda self, decimals=0: _kernel(np.round, [self], (decimals,))
ndarray.conj = lambda self: _kernel(np.conj, [self])
ndarray.nonzero = lambda self: nonzero(self)
ndarray.argsort = lambda self, axis=-1, kind=None: argsort(self, axis, kind)


# --------------------------------------------------------------------------- module functions

def asarray(a, dtype=None, order=None, blocking=False):
    """cupy.asarray: a cupy array (core.pyx _array_from_cupy_ndarray: one on another GPU is
    *copied to the current device*), or a host value copied to the current device."""
    if isinstance(a, ndarray):
        if a._mem.device_id == runtime.getDevice():
            return a.astype(dtype if dtype is not None else a.dtype, copy=False)
        return a.copy().astype(dtype if dtype is not None else a.dtype, copy=False)
    if hasattr(a, "__cuda_array_interface__"):
        shared = _from_cuda_array_interface(a)
        return shared.astype(dtype if dtype is not None else shared.dtype, copy=False)
    return _host_to_device(np.asarray(a, dtype=dtype))


def _from_cuda_array_interface(obj):
    """core.pyx _convert_object_with_cuda_array_interface: a cupy array over the memory ``obj``
    describes, no copy (the pointer resolves to a live stand-in allocation, or is refused). CuPy
    then synchronizes the given stream; work runs in issue order here, so nothing waits."""
    desc = obj.__cuda_array_interface__
    dtype = np.dtype(desc["typestr"])
    if dtype.byteorder == ">":
        raise ValueError("CuPy does not support the big-endian byte-order")
    if desc.get("mask") is not None:
        raise ValueError("CuPy currently does not support masked arrays.")
    shape, strides = tuple(desc["shape"]), desc.get("strides")
    if 0 in shape:                      # CAI v2 gives 0-size arrays pointer 0: the current device
        return ndarray._wrap(np.empty(shape, dtype), None)
    ptr = desc["data"][0]
    buf, offset, mem = memory.resolve(ptr, dtype.itemsize, "__cuda_array_interface__")
    try:
        values = np.ndarray(shape, dtype, buffer=buf, offset=offset, strides=strides)
    except (TypeError, ValueError) as exc:      # reaches outside the allocation
        raise IndexError(f"stand-in: a __cuda_array_interface__ of shape {shape} at {ptr:#x} reaches past its "
                         f"allocation ({buf.size} bytes): {exc}") from None
    return ndarray._wrap(values, (mem, _address(buf)))


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, blocking=False):
    if isinstance(obj, ndarray):
        out = asarray(obj, dtype)
        return out.copy() if copy and out is obj else out
    if ndmin:
        raise NotImplementedError("cugrad stand-in: cupy.array(ndmin=) is not simulated")
    return _host_to_device(np.asarray(obj, dtype=dtype))


def ascontiguousarray(a, dtype=None):
    if not isinstance(a, ndarray):
        raise _unsupported(a)
    dtype = np.dtype(dtype) if dtype is not None else a.dtype
    if a._a.flags.c_contiguous and dtype == a.dtype:
        return a
    return _kernel(lambda x: np.ascontiguousarray(x, dtype=dtype), [a])


def asnumpy(a, stream=None, order="C", out=None, blocking=True):
    if isinstance(a, ndarray):
        return a.get(stream=stream, order=order, out=out)
    return np.asarray(a, order=order)


def _creation(np_fn):
    def make(shape, dtype=float, order="C"):
        values = np_fn(shape, dtype=dtype, order=order)
        if np_fn is np.empty:
            _poison(values)                       # device memory is not zeroed
            return ndarray._wrap(values, None)
        out = ndarray._wrap(np.empty_like(values), None)
        runtime.enqueue(lambda: np.copyto(out._a, values))   # a fill kernel (memset)
        return out
    make.__name__ = np_fn.__name__
    return make


zeros, ones, empty = _creation(np.zeros), _creation(np.ones), _creation(np.empty)


def full(shape, fill_value, dtype=None, order="C"):
    if isinstance(fill_value, (ndarray, np.ndarray)):
        raise NotImplementedError("cugrad stand-in: cupy.full with an array fill_value")
    out = empty(shape, dtype if dtype is not None else np.asarray(fill_value).dtype, order)
    out.fill(fill_value)
    return out


def _like(fill):
    def make(a, dtype=None, order="K", subok=None, shape=None):
        if not isinstance(a, ndarray):
            raise _unsupported(a)
        out = empty(a.shape if shape is None else shape, a.dtype if dtype is None else dtype)
        if fill is not None:
            out.fill(fill)
        return out
    return make


zeros_like, ones_like, empty_like = _like(0), _like(1), _like(None)


def full_like(a, fill_value, dtype=None, order="K", subok=None, shape=None):
    out = empty_like(a, dtype, shape=shape)
    out.fill(fill_value)
    return out


def arange(start, stop=None, step=1, dtype=None):
    values = np.arange(start, stop, step, dtype=dtype) if stop is not None else np.arange(start, dtype=dtype)
    out = ndarray._wrap(np.empty_like(values), None)
    runtime.enqueue(lambda: np.copyto(out._a, values))
    return out


def eye(N, M=None, k=0, dtype=float):
    values = np.eye(N, M, k, dtype=dtype)
    out = ndarray._wrap(np.empty_like(values), None)
    runtime.enqueue(lambda: np.copyto(out._a, values))
    return out


def linspace(start, stop, num=50, endpoint=True, dtype=None):
    values = np.linspace(start, stop, num, endpoint=endpoint, dtype=dtype)
    out = ndarray._wrap(np.empty_like(values), None)
    runtime.enqueue(lambda: np.copyto(out._a, values))
    return out


def where(condition, x=None, y=None):
    if x is None and y is None:
        return nonzero(condition)
    return _kernel(np.where, [condition, x, y])


def nonzero(a):
    """Its output size is data-dependent: CuPy reads the count back to the host."""
    if not isinstance(a, ndarray):
        raise _unsupported(a)
    runtime.refuse_transfer("D2H")
    _check_device(a, runtime.getDevice())
    return tuple(ndarray._wrap(i, None) for i in np.nonzero(a._a))


def clip(a, a_min=None, a_max=None, out=None):
    """cupy.clip: a bound may be None (no bound), a scalar or a cupy array."""
    if not isinstance(a, ndarray):
        raise _unsupported(a)
    bounds = [b for b in (a_min, a_max) if b is not None]

    def run(x, *given, out=None):
        it = iter(given)
        lo = next(it) if a_min is not None else None
        hi = next(it) if a_max is not None else None
        return np.clip(x, lo, hi, out=out)
    return _kernel(run, [a] + bounds, out=out)


def _seq_kernel(np_fn):
    def f(arrays, axis=0, out=None, dtype=None, casting="same_kind"):
        arrays = list(arrays)
        kw = {"axis": axis}
        if dtype is not None:
            kw["dtype"] = dtype
        return _kernel(lambda *xs, **k: np_fn(xs, **k), arrays, kw=kw, out=out)
    f.__name__ = np_fn.__name__
    return f


stack, concatenate = _seq_kernel(np.stack), _seq_kernel(np.concatenate)


def broadcast_to(a, shape):
    if not isinstance(a, ndarray):
        raise _unsupported(a)
    return a._view(np.broadcast_to(a._a, shape))


def expand_dims(a, axis):
    return a._view(np.expand_dims(a._a, axis))


def squeeze(a, axis=None):
    return a.squeeze(axis)


def reshape(a, newshape, order="C"):
    return a.reshape(newshape, order=order)


def transpose(a, axes=None):
    return a.transpose(axes) if axes is not None else a.transpose()


def swapaxes(a, a1, a2):
    return a.swapaxes(a1, a2)


def ravel(a, order="C"):
    return a.ravel(order)


def copyto(dst, src, casting="same_kind", where=None):
    """cupy.copyto: ``src`` a cupy array or a scalar (a NumPy array is refused:
    cupy/_manipulation/basic.py copyto checks with _preprocess_args)."""
    if where is not None:
        raise NotImplementedError("cugrad stand-in: copyto(where=) is not simulated")
    if not isinstance(dst, ndarray):
        raise TypeError(f"dst must be a cupy.ndarray, got {type(dst)}")
    dev = runtime.getDevice()
    raw = _operand(src, dev)
    if not np.can_cast(np.asarray(raw).dtype if isinstance(raw, np.ndarray) else np.result_type(raw), dst.dtype,
                       casting) and isinstance(raw, np.ndarray):
        raise TypeError(f"Cannot cast array data from {raw.dtype} to {dst.dtype} according to the rule '{casting}'")
    _check_device(dst, dev)
    target = dst._a
    runtime.enqueue(lambda: np.copyto(target, raw, casting="unsafe"))


def may_share_memory(a, b, max_work=None):
    if isinstance(a, ndarray) and isinstance(b, ndarray):
        return a._mem.device_id == b._mem.device_id and np.may_share_memory(a._a, b._a)
    return False


def shares_memory(a, b, max_work=None):
    if isinstance(a, ndarray) and isinstance(b, ndarray):
        return a._mem.device_id == b._mem.device_id and np.shares_memory(a._a, b._a)
    return False


def result_type(*arrays_and_dtypes):
    return np.result_type(*[x.dtype if isinstance(x, ndarray) else x for x in arrays_and_dtypes])


def _reduce_fn(name):
    method = getattr(ndarray, name)

    def f(a, *args, **kw):
        if not isinstance(a, ndarray):
            raise _unsupported(a)
        return method(a, *args, **kw)
    f.__name__ = name
    return f


# cupy.sum, cupy.max, ... (kept in a table: as module globals they would shadow Python's builtins)
REDUCTIONS = {n: _reduce_fn(n) for n in ("sum", "prod", "mean", "var", "std", "all", "any", "max", "min",
                                         "argmax", "argmin")}
REDUCTIONS.update(amax=REDUCTIONS["max"], amin=REDUCTIONS["min"])


def cumsum(a, axis=None, dtype=None):
    return a.cumsum(axis, dtype)


def cumprod(a, axis=None, dtype=None):
    return a.cumprod(axis, dtype)


def flip(a, axis=None):
    """A view with ``axis`` (every axis for None) reversed, as cupy.flip (_manipulation/rearrange.py)."""
    axes = range(a.ndim) if axis is None else [ax % a.ndim for ax in np.atleast_1d(axis)]
    return a[tuple(slice(None, None, -1) if ax in axes else slice(None) for ax in range(a.ndim))]


def argsort(a, axis=-1, kind=None):
    """cupy.argsort (_sorting/sort.py → core.pyx ndarray.argsort): always stable, NaN last (cuda/
    cupy_thrust.cu); ``kind`` other than None or 'stable' refused (core.pyx _check_kind_sort)."""
    if not isinstance(a, ndarray):
        raise _unsupported(a)
    if kind is not None and kind != "stable":
        raise ValueError("kind can only be None or 'stable'")
    return _kernel(lambda x: np.argsort(x, axis=axis, kind="stable"), [a])


def tril(m, k=0):
    """cupy.tril (_creation/matrix.py): ``where`` of a triangle mask over the last two dims."""
    return _kernel(lambda x: np.tril(x, k), [asarray(m)])


def triu(m, k=0):
    """cupy.triu (_creation/matrix.py), as tril."""
    return _kernel(lambda x: np.triu(x, k), [asarray(m)])


def around(a, decimals=0):
    return a.round(decimals)


def shape(a):
    return a.shape if isinstance(a, ndarray) else np.shape(a)


def ndim(a):
    return a.ndim if isinstance(a, ndarray) else np.ndim(a)


def size(a, axis=None):
    return (a.size if axis is None else a.shape[axis]) if isinstance(a, ndarray) else np.size(a, axis)


def isscalar(x):
    return np.isscalar(x)


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    return bool(_kernel(lambda x, y: np.allclose(x, y, rtol, atol, equal_nan), [a, b]))


def array_equal(a, b):
    return bool(_kernel(np.array_equal, [a, b]))


def einsum(subscripts, *operands):
    return _kernel(lambda *xs: np.einsum(subscripts, *xs), list(operands))


def outer(a, b):
    return _kernel(np.outer, [a, b])


# what ndarray.__array_function__ dispatches (NumPy's function of the same name; linalg.py adds
# matmul and dot, and ndarray's @ and .dot)
_MODULE_FUNCTIONS = {f.__name__: f for f in (
    asarray, ascontiguousarray, zeros_like, ones_like, empty_like, full_like, where, nonzero, clip, stack,
    concatenate, broadcast_to, expand_dims, squeeze, reshape, transpose, swapaxes, ravel, copyto, may_share_memory,
    shares_memory, result_type, cumsum, cumprod, flip, argsort, tril, triu, around, shape, ndim, size, allclose, array_equal, einsum, outer)}
_MODULE_FUNCTIONS.update(REDUCTIONS, round=around)


class RandomState:
    """cupy.random.RandomState, as far as the benchmarks draw: values generated on the device
    (a fill kernel from NumPy's generator here; CuPy's own streams differ, so no test may
    compare them with NumPy's)."""

    def __init__(self, seed=None):
        self._rng = np.random.default_rng(seed)

    def _device(self, values):
        out = ndarray._wrap(np.empty_like(values), None)
        runtime.enqueue(lambda: np.copyto(out._a, values))
        return out

    def standard_normal(self, size=None, dtype=float):
        return self._device(self._rng.standard_normal(size, dtype=np.dtype(dtype)))

    def random_sample(self, size=None, dtype=float):
        return self._device(self._rng.random(size, dtype=np.dtype(dtype)))

    random = random_sample
