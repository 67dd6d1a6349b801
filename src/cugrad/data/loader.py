"""The DataLoader: mini-batches gathered on the device, in an order that can be saved and resumed."""
from __future__ import annotations

import numpy as np

from .. import backend
from ..tensor import Tensor
from .dataset import Dataset


class DataLoader:
    """Mini-batches on a device, in a reproducible order that can be saved and resumed.

    The whole data set is uploaded to ``device`` once (``None`` = the CPU, like the rest of
    cugrad); each batch is then gathered on the device by index — no per-batch host copies. The
    order comes from the loader's own NumPy RNG (PCG64 seeded with ``seed``; a fresh random seed
    when None), one permutation per epoch, uploaded once per epoch.

    Iterating runs the rest of the current epoch: an interrupted epoch continues where it
    stopped. ``state_dict()`` holds the epoch, the position (batches already handed out in it) and
    the RNG state, so a loader restored with ``load_state_dict`` continues with exactly the batches
    the original would have produced.

    ``dataset`` is a :class:`Dataset` (yields ``(x, y)``) or a tuple of arrays of equal length
    (yields tuples of the same arity). Items are cugrad Tensors (``as_tensors=True``) or raw
    device arrays.

    Data parallelism: with ``world_size`` > 1, ``batch_size`` is the *global* batch (a multiple of
    ``world_size``) and rank ``rank`` gets its contiguous share of each global batch. Every rank
    draws the same permutation from the same ``seed`` (give them one; the order moves on by itself
    each epoch), so together the ranks see exactly the batches one process would, and every rank
    takes the same number of steps. A last partial batch is split as evenly as it goes (shares
    differ by at most one sample, so averaging the ranks' mean losses then weighs its samples a
    little unevenly; ``drop_last`` avoids that); one smaller than ``world_size`` is dropped on
    every rank.
    """

    def __init__(self, dataset, batch_size: int, shuffle: bool = True, seed=None, drop_last: bool = False,
                 device=None, as_tensors: bool = True, rank: int = 0, world_size: int = 1):
        if isinstance(dataset, Dataset):
            arrays = (dataset.X, dataset.y)
        elif isinstance(dataset, (tuple, list)):
            arrays = tuple(dataset)
        else:
            arrays = (dataset,)
        if not arrays:
            raise ValueError("DataLoader needs at least one array")
        n = len(arrays[0])
        for a in arrays[1:]:
            if len(a) != n:
                raise ValueError(f"DataLoader arrays differ in length: {[len(a) for a in arrays]}")
        if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if isinstance(world_size, bool) or not isinstance(world_size, (int, np.integer)) or world_size < 1:
            raise ValueError(f"DataLoader: world_size must be a positive integer, got {world_size!r}")
        if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or not 0 <= rank < world_size:
            raise ValueError(f"DataLoader: rank must be in [0, {world_size}), got {rank!r}")
        if batch_size % world_size:
            raise ValueError(f"DataLoader: the global batch size {batch_size} is not divisible by the world size "
                             f"{world_size}; choose a multiple of {world_size}")
        if world_size > 1 and seed is None and shuffle:
            raise ValueError("DataLoader: with world_size > 1 every rank must shuffle alike: pass the same seed on "
                             "every rank")
        self.rank, self.world_size = int(rank), int(world_size)
        self.n = n
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.single = not isinstance(dataset, (Dataset, tuple, list))
        self.device = backend.get_device(device)
        self.as_tensors = as_tensors
        with backend.device_context(self.device):
            self._arrays = tuple(backend.to_device(np.ascontiguousarray(a) if isinstance(a, np.ndarray) else a,
                                                   self.device) for a in arrays)
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (1 << 63))
        self.seed = seed
        self._rng = np.random.Generator(np.random.PCG64(seed))
        self.epoch = 0
        self.position = 0
        self._order = None        # the current epoch's permutation on the device
        self._order_epoch = None

    def __len__(self) -> int:
        """Batches per epoch (the same on every rank)."""
        full, rest = divmod(self.n, self.batch_size)
        return full + (0 < rest and not self.drop_last and rest >= self.world_size)

    def _epoch_order(self):
        if not self.shuffle:
            return None
        if self._order_epoch != self.epoch:
            # draw from a copy so the stored state stays "start of this epoch" until the epoch ends
            rng = np.random.Generator(np.random.PCG64())
            rng.bit_generator.state = self._rng.bit_generator.state
            perm = rng.permutation(self.n)
            with backend.device_context(self.device):
                self._order = backend.to_device(perm, self.device)
            self._order_epoch = self.epoch
        return self._order

    def _end_epoch(self):
        if self.shuffle:
            self._rng.permutation(self.n)  # advance exactly as _epoch_order drew
        self.epoch += 1
        self.position = 0

    def __iter__(self):
        nb = len(self)
        if nb == 0:
            self._end_epoch()
            return
        order = self._epoch_order()
        wrap = None
        if self.as_tensors:
            wrap = Tensor.from_array  # the batch is already a fresh device array: no second copy
        for i in range(self.position, nb):
            lo, hi = self._share(i * self.batch_size, min((i + 1) * self.batch_size, self.n))
            if order is None:
                batch = tuple(a[lo:hi] for a in self._arrays)
            else:
                idx = order[lo:hi]
                with backend.device_context(self.device):
                    batch = tuple(a[idx] for a in self._arrays)
            if wrap is not None:
                batch = tuple(wrap(b) for b in batch)
            # bookkeeping before handing the batch out, so state_dict() taken inside the loop body
            # already counts this batch as consumed
            if i + 1 == nb:
                self._end_epoch()
            else:
                self.position = i + 1
            yield batch[0] if self.single else batch

    def _share(self, lo, hi):
        """This rank's contiguous part of the global batch [lo, hi)."""
        size = hi - lo
        return lo + size * self.rank // self.world_size, lo + size * (self.rank + 1) // self.world_size

    def state_dict(self) -> dict:
        """JSON-able resume state: epoch, position in it, and the RNG state at the epoch's start."""
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed,
                "batch_size": self.batch_size, "n": self.n, "shuffle": self.shuffle,
                "drop_last": self.drop_last, "rng": _jsonable_rng_state(self._rng.bit_generator.state)}

    def load_state_dict(self, state: dict) -> None:
        for key in ("batch_size", "n", "shuffle", "drop_last"):
            if key in state and state[key] != getattr(self, key):
                raise ValueError(f"DataLoader state is for {key}={state[key]!r}, this loader has "
                                 f"{key}={getattr(self, key)!r}")
        epoch, position = int(state["epoch"]), int(state["position"])
        if not 0 <= position < max(len(self), 1) or epoch < 0:
            raise ValueError(f"DataLoader state has epoch {epoch}, position {position}: out of range "
                             f"for {len(self)} batches per epoch")
        rng = np.random.Generator(np.random.PCG64())
        rng.bit_generator.state = _rng_state_from_json(state["rng"])
        self._rng = rng
        self.seed = state.get("seed", self.seed)
        self.epoch, self.position = epoch, position
        self._order_epoch = None


def _jsonable_rng_state(state):
    if isinstance(state, dict):
        return {k: _jsonable_rng_state(v) for k, v in state.items()}
    if isinstance(state, np.integer):
        return int(state)
    return state


def _rng_state_from_json(state):
    return {k: _rng_state_from_json(v) if isinstance(v, dict) else v for k, v in state.items()}
