"""Optimizer base: parameter groups, per-parameter state, zero_grad and (de)serialisable state."""
from __future__ import annotations

import math

from .. import backend
from ..tensor import Tensor

__all__ = ["Optimizer"]


class Optimizer:
    """Holds ``param_groups`` (dicts with "params" and hyper-parameters) and ``state`` (per
    parameter, keyed by its index in the order the parameters were given). Subclasses implement
    ``step()`` on raw arrays with the fused update kernels."""

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.param_groups: list[dict] = []
        self.state: dict[int, dict] = {}
        self._params: list[Tensor] = []
        groups = list(params) if not isinstance(params, Tensor) else [params]
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, group: dict) -> None:
        group = dict(group)
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__}: parameters must be Tensors, got {type(p).__name__}")
            if not p.requires_grad:
                raise ValueError(f"{type(self).__name__}: a parameter of shape {p.shape} does not require grad")
            if any(p is q for q in self._params):
                raise ValueError(f"{type(self).__name__}: a parameter appears in more than one group")
        for k, v in self.defaults.items():
            group.setdefault(k, v)
        self._check_group(group)
        group["params"] = params
        self._params.extend(params)
        self.param_groups.append(group)

    def _check_group(self, group: dict) -> None:
        lr = group.get("lr")
        if not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr < 0:
            raise ValueError(f"{type(self).__name__}: lr must be a finite number >= 0, got {lr!r}")
        wd = group.get("weight_decay", 0.0)
        if not isinstance(wd, (int, float)) or wd < 0:
            raise ValueError(f"{type(self).__name__}: weight_decay must be >= 0, got {wd!r}")

    def _indexed(self):
        """(index, param, group) for every parameter with a gradient."""
        i = 0
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    yield i, p, group
                i += 1

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self._params:
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                with backend.device_context(p.grad.device):     # CuPy fills on the current GPU
                    p.grad.data.fill(0)

    def step(self):
        raise NotImplementedError

    # ---------------------------------------------------------------- state
    def state_dict(self) -> dict:
        """{"state": {index: {name: array | number}}, "param_groups": [{hyper..., "params": [index...]}]}."""
        groups, i = [], 0
        for g in self.param_groups:
            n = len(g["params"])
            groups.append({**{k: v for k, v in g.items() if k != "params"}, "params": list(range(i, i + n))})
            i += n
        return {"state": {k: dict(v) for k, v in self.state.items()}, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyper-parameters and state; checks group sizes and state shapes first, then copies
        the arrays onto each parameter's device and dtype."""
        name = type(self).__name__
        try:
            groups, state = state_dict["param_groups"], state_dict["state"]
        except (KeyError, TypeError):
            raise ValueError(f"{name}.load_state_dict: not an optimizer state_dict (needs 'state' and 'param_groups')") from None
        if len(groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: {len(groups)} parameter group(s) given, optimizer has "
                             f"{len(self.param_groups)}")
        for i, (g, own) in enumerate(zip(groups, self.param_groups)):
            if len(g["params"]) != len(own["params"]):
                raise ValueError(f"{name}.load_state_dict: group {i} has {len(g['params'])} parameters, "
                                 f"optimizer has {len(own['params'])}")
        new_state = {}
        for key, entry in state.items():
            idx = int(key)
            if not 0 <= idx < len(self._params):
                raise ValueError(f"{name}.load_state_dict: state for parameter {idx}, optimizer has {len(self._params)}")
            p = self._params[idx]
            out = {}
            for k, v in entry.items():
                v = v.data if isinstance(v, Tensor) else v
                if backend.is_array(v) and v.ndim > 0:
                    if tuple(v.shape) != p.shape:
                        raise ValueError(f"{name}.load_state_dict: state {k!r} of parameter {idx} has shape "
                                         f"{tuple(v.shape)}, the parameter has {p.shape}")
                    with backend.device_context(p.device):
                        v = backend.to_device(v, p.device).astype(p.dtype, copy=True)
                elif backend.is_array(v):
                    v = v.item()
                out[k] = v
            new_state[idx] = out
        for g, own in zip(groups, self.param_groups):
            for k, v in g.items():
                if k != "params":
                    own[k] = tuple(v) if isinstance(own.get(k), tuple) else v
        self.state = new_state

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            hyper = ", ".join(f"{k}={v}" for k, v in g.items() if k != "params")
            lines.append(f"  group {i}: {len(g['params'])} params, {hyper}")
        return "\n".join(lines) + "\n)"
