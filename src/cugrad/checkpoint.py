"""Gradient checkpointing: keep a segment's inputs, drop its activations, recompute them in backward.

The forward runs the segment once while recording, only to learn which leaves (parameters) it
reads; its saved arrays are freed as soon as it returns. The segment becomes one graph node whose
inputs are the segment's tensor arguments and those parameters. Its backward restores the random
streams, reruns the segment with recording on, and backpropagates through that fresh graph,
handing every gradient back to the outer engine — so ``.backward()``, ``cugrad.grad``,
``create_graph`` and nested checkpoints all see one ordinary node. The rerun sees the random
streams and the autocast state of the first run, wherever backward is called from.
"""
from __future__ import annotations

import math

from . import autograd, precision, random
from .autograd import Function
from .tensor import Tensor


class _Segment:
    """What a checkpointed call needs to run again: the function, its arguments, the RNG state and
    the autocast state it first ran under."""

    def __init__(self, fn, args, rng_state):
        self.fn = fn
        self.args = args
        self.rng_state = rng_state
        self.autocast_dtype = precision.autocast_dtype()
        self.outputs = None
        self.single = True

    def run(self, linked=False):
        """Call fn with recording on stand-ins for the tensor arguments; returns (stand-ins, outputs).

        The stand-ins are fresh leaves, or with ``linked`` aliases whose graph leads back to the
        arguments (so gradients computed with create_graph stay connected to them)."""
        copies, call_args = [], []
        for a in self.args:
            if isinstance(a, Tensor):
                if linked and a.requires_grad:
                    copy = _Alias.apply(a)
                else:
                    copy = a.detach().requires_grad_(a.requires_grad)
                copies.append(copy)
                call_args.append(copy)
            else:
                call_args.append(a)
        with autograd.enable_grad(), precision.autocast(self.autocast_dtype):
            outputs = self.fn(*call_args)
        self.single = isinstance(outputs, Tensor)
        outputs = (outputs,) if self.single else tuple(outputs)
        if not all(isinstance(o, Tensor) for o in outputs):
            raise TypeError("checkpoint: fn must return a Tensor or a tuple of Tensors")
        return copies, outputs


class _Alias(Function):
    """y = x (the same array);  dL/dx = g."""

    @staticmethod
    def forward(ctx, x):
        return x

    @staticmethod
    def backward(ctx, g):
        return g


class Checkpoint(Function):
    """The node standing for a checkpointed segment.

    Inputs: the segment's tensor arguments, then the parameters it reads. Forward hands back the
    probe run's outputs; backward reruns the segment and backpropagates through the fresh graph.
    """

    @staticmethod
    def forward(ctx, segment, parameters, *arrays):
        # saved like any op's arrays: freed by a backward without retain_graph, so that a second
        # backward is refused exactly as for the same graph without checkpointing
        ctx.save_for_backward(segment, parameters)
        outputs = tuple(o.data for o in segment.outputs)
        segment.outputs = None
        return outputs[0] if segment.single else outputs

    @staticmethod
    def backward(ctx, *grads):
        segment, parameters = ctx.saved
        outer_state = random.get_rng_state()
        random.set_rng_state(segment.rng_state)
        try:
            copies, outputs = segment.run(linked=ctx.create_graph)
        finally:
            random.set_rng_state(outer_state)
        pairs = [(o, g) for o, g in zip(outputs, grads) if o.requires_grad]
        wanted = [c for c in copies if c.requires_grad] + list(parameters)
        by_id = {}
        if pairs and wanted:
            captured = autograd.run_backward(
                [o for o, _ in pairs], [g for _, g in pairs],
                retain_graph=ctx.create_graph, create_graph=ctx.create_graph, capture=wanted,
            )
            by_id = {id(t): g for t, g in zip(wanted, captured)}
        return (None, None, *(by_id.get(id(c)) for c in copies), *(by_id.get(id(p)) for p in parameters))


def checkpoint(fn, *args):
    """``fn(*args)`` without keeping its activations: they are recomputed during backward.

    ``fn`` takes Tensors (and other values) and returns a Tensor or a tuple of Tensors; parameters it
    reads from modules are found automatically. Random ops see the same numbers when recomputed.
    Under ``no_grad`` this is a plain call.
    """
    if not autograd.is_grad_enabled():
        return fn(*args)
    segment = _Segment(fn, args, random.get_rng_state())
    mark = autograd.node_sequence_mark()
    copies, segment.outputs = segment.run()
    parameters = _free_graph_and_find_leaves(segment.outputs, copies, mark)
    tensor_args = [a for a in args if isinstance(a, Tensor)]
    return Checkpoint.apply(segment, parameters, *tensor_args, *parameters)


def _free_graph_and_find_leaves(outputs, copies, mark):
    """Leaves requiring grad that the segment's graph reads (other than the argument copies),
    then free every saved array of that graph. A tensor from outside the segment that has a
    graph of its own must be passed as an argument: it is an error to close over it."""
    nodes = [o.grad_fn for o in outputs if o.grad_fn is not None]
    inside = autograd.nodes_since(mark, nodes)
    inside_ids = {id(n) for n in inside}
    copy_ids = {id(c) for c in copies}
    leaves, seen = [], set()
    for node in inside:
        for edge in node.edges:
            if edge is None:
                continue
            target, index = edge
            if index < 0:
                if id(target) not in copy_ids and id(target) not in seen:
                    seen.add(id(target))
                    leaves.append(target)
            elif id(target) not in inside_ids:
                raise RuntimeError(
                    "checkpoint: fn uses a tensor computed outside it that requires grad "
                    f"(made by {type(target).__name__}); pass that tensor to checkpoint as an argument"
                )
    for node in inside:
        node.free_saved()
    return leaves


def checkpoint_sequential(functions, segments, input):  # noqa: A002 - PyTorch's name
    """Run ``functions`` (callables or an nn.Sequential) in order, keeping only segment boundaries.

    ``segments`` is a count or "sqrt" (⌈√n⌉ segments). The last segment runs normally, as in
    PyTorch, since its activations are needed right away by backward.
    """
    functions = list(functions)
    n = len(functions)
    if n == 0:
        raise ValueError("checkpoint_sequential: no functions given")
    count = segments_for(segments, n)
    size = math.ceil(n / count)
    x = input
    starts = list(range(0, n, size))
    for start in starts[:-1]:
        x = checkpoint(_run_range(functions[start:start + size]), x)
    for fn in functions[starts[-1]:]:
        x = fn(x)
    return x


def segments_for(segments, n: int) -> int:
    """The number of segments for ``n`` functions from a count or "sqrt"."""
    if segments == "sqrt":
        return max(1, math.ceil(math.sqrt(n)))
    if isinstance(segments, bool) or not isinstance(segments, int) or segments < 1:
        raise ValueError(f"checkpoint_sequential: segments must be a positive int or 'sqrt', got {segments!r}")
    return min(segments, n)


def _run_range(functions):
    def run(x):
        for fn in functions:
            x = fn(x)
        return x

    return run
