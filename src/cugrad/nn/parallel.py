"""DistributedDataParallel: one model replica per rank, gradients averaged while backward runs.

At construction every rank's parameter names, shapes and dtypes are compared (the first difference
is named), rank 0's weights are broadcast, and each rank's random streams are forked by rank.
Parameters are packed into buckets in reverse registration order — roughly the order backward
finishes them — the first small (``first_bucket_mb``) so communication starts early, the rest up
to ``bucket_cap_mb``. A post-accumulate-grad hook on each parameter marks it ready; a full bucket
is flattened and its average all-reduce started at once (buckets start strictly in order, so every
rank issues the same collectives in the same order), and a callback at the end of backward waits
for them all and writes the averaged gradients back.
"""
from __future__ import annotations

import contextlib
import weakref

from .. import autograd, backend, distributed as dist, random
from ..tensor import Tensor
from .module import Module

__all__ = ["DistributedDataParallel"]

_MB = 1 << 20


class _Bucket:
    """Parameters (same dtype and device) whose gradients travel in one all-reduce."""

    def __init__(self, members):
        self.members = members                 # [(name, parameter)]
        self.reset()

    def start(self):
        """Flatten the gradients (zeros for a parameter that got none) and start their average."""
        q = self.members[0][1]
        xp = backend.array_module(q.data)
        with backend.device_context(q.device):
            parts = [p.grad.data.reshape(-1) if p.grad is not None else xp.zeros(p.size, p.dtype)
                     for _, p in self.members]
            self.flat = xp.concatenate(parts) if len(parts) > 1 else parts[0].copy()
        self.work = dist.all_reduce(self.flat, dist.ReduceOp.AVG, async_op=True)

    def finish(self):
        """Wait for the all-reduce and hand each parameter its slice of the average."""
        self.work.wait()
        offset = 0
        for _, p in self.members:
            p.grad = Tensor.from_array(self.flat[offset:offset + p.size].reshape(p.shape))
            offset += p.size
        self.reset()

    def reset(self):
        self.ready = [False] * len(self.members)
        self.count = 0
        self.work = self.flat = None


class DistributedDataParallel(Module):
    """Wrap ``module`` for data-parallel training (call ``init_process_group()`` first).

    ``find_unused_parameters=True`` treats a parameter that got no gradient as a zero gradient;
    otherwise that is an error naming it (raised after the all-reduces, so no rank is left
    waiting). ``state_dict()`` and ``load_state_dict()`` are the wrapped module's, without a prefix.
    """

    def __init__(self, module: Module, bucket_cap_mb: float = 25, first_bucket_mb: float = 1,
                 find_unused_parameters: bool = False):
        super().__init__()
        if not dist.is_initialized():
            raise RuntimeError("DistributedDataParallel: call cugrad.distributed.init_process_group() first")
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: expected a Module, got {type(module).__name__}")
        for label, value in (("bucket_cap_mb", bucket_cap_mb), ("first_bucket_mb", first_bucket_mb)):
            if not value > 0:
                raise ValueError(f"DistributedDataParallel: {label} must be positive, got {value!r}")
        self.module = module
        self.find_unused_parameters = bool(find_unused_parameters)
        named = list(module.named_parameters())
        _check_same_model(named)
        with autograd.no_grad():
            works = [dist.broadcast(p, 0, async_op=True) for _, p in named]
            for work in works:
                work.wait()
        random.fork_for_rank(dist.get_rank())
        trained = [(n, p) for n, p in named if p.requires_grad]
        self._buckets = _make_buckets(trained[::-1], first_bucket_mb * _MB, bucket_cap_mb * _MB)
        self._where = {}
        for b, bucket in enumerate(self._buckets):
            for i, (_, p) in enumerate(bucket.members):
                self._where[id(p)] = (b, i)
        hook = _weak_hook(self)
        self._hooks = [p.register_post_accumulate_grad_hook(hook) for _, p in trained]
        self._sync = True
        self._armed = False
        self._next = 0

    @property
    def bucket_sizes(self):
        """Parameters per bucket, in launch order (for tests and tuning)."""
        return [len(b.members) for b in self._buckets]

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    @contextlib.contextmanager
    def no_sync(self):
        """Backward inside accumulates local gradients only; the next backward outside averages
        the accumulated sum (gradient accumulation without a collective per micro-batch)."""
        previous, self._sync = self._sync, False
        try:
            yield
        finally:
            self._sync = previous

    def _grad_ready(self, p):
        if not self._sync:
            return
        if not self._armed:
            self._armed = True
            autograd.queue_callback(self._end_of_backward)
        b, i = self._where[id(p)]
        bucket = self._buckets[b]
        if not bucket.ready[i]:
            bucket.ready[i] = True
            bucket.count += 1
        self._start_full_buckets()

    def _start_full_buckets(self):
        while self._next < len(self._buckets) and self._buckets[self._next].count == len(self._buckets[self._next].members):
            self._buckets[self._next].start()
            self._next += 1

    def _end_of_backward(self):
        unused = []
        for bucket in self._buckets:
            for i, (name, _) in enumerate(bucket.members):
                if not bucket.ready[i]:
                    unused.append(name)
                    bucket.ready[i] = True
                    bucket.count += 1
        self._start_full_buckets()
        try:
            for bucket in self._buckets:
                bucket.finish()
        finally:
            self._armed = False
            self._next = 0
        if unused and not self.find_unused_parameters:
            raise RuntimeError(
                f"DistributedDataParallel: parameter(s) {', '.join(reversed(unused))} got no gradient in this backward "
                f"on rank {dist.get_rank()}; pass find_unused_parameters=True to treat them as zero, or use "
                "them in forward")

    def state_dict(self):
        return self.module.state_dict()

    def load_state_dict(self, state_dict, strict: bool = True) -> None:
        self.module.load_state_dict(state_dict, strict)

    def extra_repr(self) -> str:
        return f"world_size={dist.get_world_size()}, buckets={self.bucket_sizes}"


def _weak_hook(ddp):
    """The parameters' hook, holding the wrapper weakly: the engine's hook table must not keep a
    dropped wrapper (and its buckets) alive; the hook of a dead one does nothing."""
    ref = weakref.ref(ddp)

    def hook(p):
        owner = ref()
        if owner is not None:
            owner._grad_ready(p)

    return hook


def _make_buckets(params, first_cap, cap):
    """Consecutive parameters of one dtype and device, up to ``first_cap`` bytes for the first
    bucket and ``cap`` for the others (a parameter larger than that gets a bucket of its own)."""
    groups, size = [], 0
    for name, p in params:
        nbytes = p.size * p.dtype.itemsize
        if groups:
            q = groups[-1][0][1]
            limit = first_cap if len(groups) == 1 else cap
            if q.dtype == p.dtype and q.device == p.device and size + nbytes <= limit:
                groups[-1].append((name, p))
                size += nbytes
                continue
        groups.append([(name, p)])
        size = nbytes
    return [_Bucket(members) for members in groups]


def _check_same_model(named):
    """Every rank has rank 0's parameter names, shapes and dtypes, in the same order."""
    mine = [(n, tuple(p.shape), p.dtype.name) for n, p in named]
    everyone = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, mine)
    reference = everyone[0]
    for rank, theirs in enumerate(everyone[1:], start=1):
        for index, (a, b) in enumerate(zip(reference, theirs)):
            if a != b:
                raise ValueError(
                    f"DistributedDataParallel: rank {rank}'s model differs from rank 0's at parameter {index}: "
                    f"rank 0 has {a[0]!r} {a[2]} {a[1]}, rank {rank} has {b[0]!r} {b[2]} {b[1]}")
        if len(theirs) != len(reference):
            longer, which = (reference, 0) if len(reference) > len(theirs) else (theirs, rank)
            extra = longer[min(len(reference), len(theirs))][0]
            raise ValueError(
                f"DistributedDataParallel: rank 0 has {len(reference)} parameters, rank {rank} has {len(theirs)}; "
                f"the first extra one is {extra!r} on rank {which}")
