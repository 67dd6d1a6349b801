"""Mixed precision training: a dynamic loss scaler for float16 autocast."""
from __future__ import annotations

from . import backend


class GradScaler:
    """Scales the loss so float16 gradients do not underflow, and skips steps whose gradients
    overflowed (PyTorch's torch.amp.GradScaler, without its per-device bookkeeping)::

        with cugrad.autocast():
            loss = model(x, y)
        scaler.scale(loss).backward()
        scaler.step(optimizer)   # unscales; skips the update if any gradient is inf/NaN
        scaler.update()          # halves the scale after an overflow, doubles it after
                                 # `growth_interval` clean steps
    """

    def __init__(self, init_scale=2.0**16, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000, enabled=True):
        if not (growth_factor > 1 and 0 < backoff_factor < 1 and growth_interval >= 1 and init_scale > 0):
            raise ValueError("GradScaler: need init_scale > 0, growth_factor > 1, 0 < backoff_factor < 1, growth_interval >= 1")
        self.scale_value = float(init_scale)
        self.growth_factor = growth_factor
        self.backoff_factor = backoff_factor
        self.growth_interval = growth_interval
        self.enabled = enabled
        self._clean_steps = 0
        self._found_inf = None

    def scale(self, loss):
        """loss · scale (unchanged when disabled)."""
        return loss * self.scale_value if self.enabled else loss

    def unscale_(self, optimizer) -> bool:
        """Divide every gradient by the scale in place; returns True when one is inf or NaN."""
        inverse = 1.0 / self.scale_value
        finite = {}  # one flag per tensor, left on its device: one sync per device at the end
        done = set()
        for p in _parameters(optimizer):
            if p.grad is None or id(p.grad) in done:
                continue
            done.add(id(p.grad))
            # Out of place: the engine may hand several leaves one gradient array (z = a + b gives
            # a and b the same g) or a read-only broadcast view, which in place would be scaled
            # twice or refused (NumPy) / raced over (CuPy).
            with backend.device_context(p.grad.device):      # CuPy runs on the current GPU
                g = p.grad.data = p.grad.data * inverse
                xp = backend.array_module(g)
                finite.setdefault(p.grad.device, []).append(xp.isfinite(g).all())
        self._found_inf = not all(_all_true(device, flags) for device, flags in finite.items())
        return self._found_inf

    def step(self, optimizer):
        """Unscale (if not done yet) and run ``optimizer.step()`` unless a gradient overflowed."""
        if not self.enabled:
            return optimizer.step()
        if self._found_inf is None:
            self.unscale_(optimizer)
        if not self._found_inf:
            return optimizer.step()
        return None

    def update(self):
        """Adjust the scale after a step: back off after an overflow, grow after a clean run."""
        if not self.enabled:
            return
        if self._found_inf is None:
            raise RuntimeError("GradScaler.update: call step(optimizer) first")
        if self._found_inf:
            self.scale_value *= self.backoff_factor
            self._clean_steps = 0
        else:
            self._clean_steps += 1
            if self._clean_steps == self.growth_interval:
                self.scale_value *= self.growth_factor
                self._clean_steps = 0
        self._found_inf = None

    def get_scale(self) -> float:
        return self.scale_value

    def state_dict(self) -> dict:
        return {"scale": self.scale_value, "clean_steps": self._clean_steps}

    def load_state_dict(self, state: dict):
        self.scale_value = float(state["scale"])
        self._clean_steps = int(state["clean_steps"])


def _parameters(optimizer):
    for group in optimizer.param_groups:
        yield from group["params"]


def _all_true(device, flags):
    """True when every 0-d flag array (all on ``device``) is true: one host sync."""
    with backend.device_context(device):
        return bool(backend.module_for(device).stack(flags).all())
