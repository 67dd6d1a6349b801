"""Module and Parameter: the PyTorch-shaped container for layers and their weights."""
from __future__ import annotations

from collections import OrderedDict

from .. import backend
from ..dlpack import from_dlpack
from ..tensor import Tensor

__all__ = ["Module", "Parameter"]


class Parameter(Tensor):
    """A leaf Tensor that a Module registers as a trainable weight (requires_grad=True)."""

    __slots__ = ()

    def __init__(self, data, dtype=None, device=None, requires_grad=True):
        super().__init__(data, dtype=dtype, device=device, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter(" + super().__repr__() + ")"


class Module:
    """Base class of layers: attributes that are Parameters or Modules are registered, so
    ``parameters()``, ``state_dict()``, ``to(device)`` and ``train()/eval()`` reach them all.
    Calling a module runs ``forward``."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ---------------------------------------------------------------- registration
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() before "
                                 f"assigning {name!r}")
        params, modules = self.__dict__["_parameters"], self.__dict__["_modules"]
        params.pop(name, None)
        modules.pop(name, None)
        if isinstance(value, Parameter):
            self.__dict__.pop(name, None)
            params[name] = value
        elif isinstance(value, Module):
            self.__dict__.pop(name, None)
            modules[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        d = self.__dict__
        if "_parameters" in d and name in d["_parameters"]:
            return d["_parameters"][name]
        if "_modules" in d and name in d["_modules"]:
            return d["_modules"][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        if name in self._parameters:
            del self._parameters[name]
        elif name in self._modules:
            del self._modules[name]
        else:
            object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        if param is None:
            self._parameters.pop(name, None)
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, param)

    def add_module(self, name: str, module: "Module") -> None:
        if not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} is a {type(module).__name__}, not a Module")
        self._modules[name] = module

    # ---------------------------------------------------------------- traversal
    def named_modules(self, prefix: str = ""):
        seen = set()
        stack = [(prefix, self)]
        while stack:
            name, mod = stack.pop()
            if id(mod) in seen:
                continue
            seen.add(id(mod))
            yield name, mod
            children = [(f"{name}.{k}" if name else k, m) for k, m in mod._modules.items()]
            stack.extend(reversed(children))

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def children(self):
        return iter(self._modules.values())

    def named_children(self):
        """(name, module) of each direct submodule, in the order they were set."""
        return iter(self._modules.items())

    def named_parameters(self, prefix: str = "", recurse: bool = True):
        """(dotted name, Parameter) pairs, each Parameter once, in registration order."""
        seen = set()
        mods = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mname, mod in mods:
            for pname, p in mod._parameters.items():
                if id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mname}.{pname}" if mname else pname), p

    def parameters(self, recurse: bool = True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def num_parameters(self) -> int:
        return sum(p.size for p in self.parameters())

    # ---------------------------------------------------------------- modes and devices
    def train(self, mode: bool = True) -> "Module":
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                with backend.device_context(p.grad.device):     # CuPy fills on the current GPU
                    p.grad.data.fill(0)

    def to(self, device=None, dtype=None) -> "Module":
        """Move (and/or cast) every parameter in place; the Parameter objects stay the same, so an
        optimizer built before the move keeps working (its state must be moved with it)."""
        dev = backend.get_device(device) if device is not None else None
        dt = backend.resolve_dtype(dtype) if dtype is not None else None
        for p in self.parameters():
            data = p.data
            if dev is not None and backend.device_of(data) != dev:
                with backend.device_context(dev):
                    data = backend.to_device(data, dev)
            if dt is not None and data.dtype != dt:
                data = data.astype(dt)
            p.data = data
            if p.grad is not None and (dev is not None or dt is not None):
                p.grad = None
        return self

    @property
    def device(self):
        for p in self.parameters():
            return p.device
        return backend.CPU

    # ---------------------------------------------------------------- state
    def state_dict(self) -> "OrderedDict[str, object]":
        """Dotted name → the parameter's array (NumPy or CuPy, sharing memory with the model)."""
        return OrderedDict((name, p.data) for name, p in self.named_parameters())

    def load_state_dict(self, state_dict, strict: bool = True) -> None:
        """Copy arrays (NumPy, CuPy), Tensors, or PyTorch tensors and anything else with
        ``__dlpack__`` into the parameters, in place and onto their devices.

        Every problem is checked before anything is copied; a missing or unexpected key (when
        ``strict``) or a shape mismatch raises one ValueError that lists them all.
        """
        own = OrderedDict(self.named_parameters())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        problems = []
        if strict and missing:
            problems.append("missing keys: " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(map(str, unexpected)))
        values = {}
        for name, p in own.items():
            if name not in state_dict:
                continue
            value = state_dict[name]
            if not isinstance(value, Tensor) and not backend.is_array(value) and hasattr(value, "__dlpack__"):
                try:                            # a PyTorch (JAX, …) tensor: shared, then copied below
                    value = from_dlpack(value)
                except (BufferError, TypeError) as exc:
                    problems.append(f"{name!r}: {exc}")
                    continue
            value = value.data if isinstance(value, Tensor) else value
            if not backend.is_array(value):
                problems.append(f"{name!r} is a {type(value).__name__}, not an array")
                continue
            if tuple(value.shape) != p.shape:
                problems.append(f"shape mismatch for {name!r}: given {tuple(value.shape)}, model has {p.shape}")
                continue
            values[name] = value
        if problems:
            raise ValueError(f"{type(self).__name__}.load_state_dict: " + "; ".join(problems))
        for name, value in values.items():
            p = own[name]
            dev = p.device
            with backend.device_context(dev):
                src = backend.to_device(value, dev)
                xp = backend.array_module(p.data)
                xp.copyto(p.data, src.astype(p.data.dtype, copy=False))

    # ---------------------------------------------------------------- calling
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        if not self._modules:
            return lines[0] + ")"
        for name, m in self._modules.items():
            sub = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {sub}")
        return "\n".join(lines) + "\n)"
