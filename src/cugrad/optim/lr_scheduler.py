"""Learning-rate schedules, each a closed form of the step count t (call ``step()`` once per
epoch or per batch, your choice): StepLR, CosineAnnealingLR, LinearWarmup."""
from __future__ import annotations

import math

__all__ = ["LRScheduler", "StepLR", "CosineAnnealingLR", "LinearWarmup", "ConstantLR"]


class LRScheduler:
    """Sets each group's lr to ``lr_at(t, base_lr)``; t starts at 0 on construction."""

    def __init__(self, optimizer):
        self.optimizer = optimizer
        for g in optimizer.param_groups:
            g.setdefault("initial_lr", g["lr"])
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = 0
        self._apply()

    def lr_at(self, t: int, base_lr: float) -> float:
        raise NotImplementedError

    def _apply(self):
        for g, base in zip(self.optimizer.param_groups, self.base_lrs):
            g["lr"] = self.lr_at(self.last_epoch, base)

    def step(self) -> None:
        self.last_epoch += 1
        self._apply()

    def get_last_lr(self) -> list:
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        return {"last_epoch": self.last_epoch, "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, state: dict) -> None:
        self.last_epoch = int(state["last_epoch"])
        self.base_lrs = list(state["base_lrs"])
        self._apply()


class ConstantLR(LRScheduler):
    def lr_at(self, t, base_lr):
        return base_lr


class StepLR(LRScheduler):
    """lr = base · γ^⌊t / step_size⌋."""

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1):
        if step_size < 1:
            raise ValueError(f"StepLR: step_size must be >= 1, got {step_size}")
        self.step_size, self.gamma = int(step_size), gamma
        super().__init__(optimizer)

    def lr_at(self, t, base_lr):
        return base_lr * self.gamma ** (t // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """lr = η_min + (base − η_min) · (1 + cos(π · t / T_max)) / 2, held at η_min after T_max."""

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0):
        if T_max < 1:
            raise ValueError(f"CosineAnnealingLR: T_max must be >= 1, got {T_max}")
        self.T_max, self.eta_min = int(T_max), eta_min
        super().__init__(optimizer)

    def lr_at(self, t, base_lr):
        t = min(t, self.T_max)
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * t / self.T_max)) / 2


class LinearWarmup(LRScheduler):
    """lr rises linearly from start_factor·base to base over ``warmup_steps``, then follows
    ``after`` (another scheduler on the same optimizer, shifted to start at 0) or stays at base."""

    def __init__(self, optimizer, warmup_steps: int, start_factor: float = 0.0, after: LRScheduler | None = None):
        if warmup_steps < 1:
            raise ValueError(f"LinearWarmup: warmup_steps must be >= 1, got {warmup_steps}")
        if not 0.0 <= start_factor <= 1.0:
            raise ValueError(f"LinearWarmup: start_factor must lie in [0, 1], got {start_factor}")
        if after is not None and after.optimizer is not optimizer:
            raise ValueError("LinearWarmup: `after` must schedule the same optimizer")
        self.warmup_steps, self.start_factor, self.after = int(warmup_steps), start_factor, after
        super().__init__(optimizer)

    def lr_at(self, t, base_lr):
        if t < self.warmup_steps:
            return base_lr * (self.start_factor + (1.0 - self.start_factor) * t / self.warmup_steps)
        if self.after is not None:
            return self.after.lr_at(t - self.warmup_steps, base_lr)
        return base_lr
