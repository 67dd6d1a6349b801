"""Function, graph nodes, the reverse-mode engine, and grad modes.

A `Function` subclass is one op: ``forward(ctx, *arrays)`` computes on raw NumPy/CuPy arrays and
saves what backward needs; ``backward(ctx, *grads)`` returns one gradient per forward argument.
``Op.apply(*args)`` runs it and, when grad mode is on and an input requires grad, returns Tensors
whose ``grad_fn`` is the ctx — the ctx *is* the graph node. Called with raw arrays only, ``apply``
just computes and returns raw arrays; backward rules use this to stay differentiable under
``create_graph=True`` while costing nothing extra otherwise.
"""
from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
import weakref

import numpy as np

from . import backend

# --------------------------------------------------------------------------- grad mode


class _GradMode(threading.local):
    enabled = True


_grad_mode = _GradMode()


def is_grad_enabled() -> bool:
    return _grad_mode.enabled


class _SetGradMode(contextlib.ContextDecorator):
    """Context manager and decorator that sets grad mode for the current thread."""

    enabled: bool

    def __init__(self):
        self._previous = []

    def __enter__(self):
        self._previous.append(_grad_mode.enabled)
        _grad_mode.enabled = self.enabled
        return self

    def __exit__(self, *exc):
        _grad_mode.enabled = self._previous.pop()
        return False


class no_grad(_SetGradMode):
    """Run without recording the graph (``with cugrad.no_grad():`` or ``@cugrad.no_grad()``)."""

    enabled = False


class enable_grad(_SetGradMode):
    """Turn recording back on inside a ``no_grad`` region."""

    enabled = True


# --------------------------------------------------------------------------- Function

_node_counter = itertools.count()  # creation order of graph nodes (checkpoint tells inside from outside)


def node_sequence_mark() -> int:
    """A number below that of every graph node created from now on."""
    return next(_node_counter)


class Function:
    """Base class of every op; an instance is both the ``ctx`` and the graph node.

    Subclasses write ``forward(ctx, *args)`` and ``backward(ctx, *grads)`` as static methods.
    """

    # True for ops whose NumPy forward may divide by zero, overflow or leave its domain (log(0),
    # 0**-1, 0/0, float32 overflow): it runs with NumPy's floating-point warnings off, as PyTorch
    # gives inf/nan silently. Off by default (ops that only move data, and users' Functions).
    fp_quiet = False

    # set on the instance when it becomes a graph node
    _edges = ()
    _device = backend.CPU
    _saved = ()
    _saved_sources = None
    _graph_mode = False
    _released = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # the forward that runs on NumPy arrays; np.errstate as a decorator costs a third of
        # entering a fresh np.errstate on every call (which is a sizeable part of a small op)
        cls._host_forward = staticmethod(np.errstate(all="ignore")(cls.forward) if cls.fp_quiet else cls.forward)

    def save_for_backward(self, *arrays):
        self._saved = arrays

    @property
    def saved(self):
        """What forward saved: raw arrays, or Tensors linked into the graph when backward runs
        with ``create_graph=True`` (so the gradient's own graph reaches the forward inputs)."""
        if self._released:
            raise RuntimeError(
                f"{type(self).__name__}: trying to backward through the graph a second time, but its "
                "saved arrays were freed after the first backward; pass retain_graph=True to the first call"
            )
        if not self._graph_mode:
            return self._saved
        return tuple(self._saved_as_tensor(i) for i in range(len(self._saved)))

    saved_tensors = saved  # PyTorch's name

    @property
    def create_graph(self) -> bool:
        """True while backward runs with ``create_graph=True``."""
        return self._graph_mode

    @property
    def edges(self) -> tuple:
        """Where each forward argument's gradient goes: (node, output index), (leaf tensor, -1) or
        None; empty until the op is recorded as a graph node."""
        return self._edges

    @property
    def needs_input_grad(self):
        return tuple([edge is not None for edge in self._edges])

    @staticmethod
    def forward(ctx, *args):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        # The hot path of every op: one pass over the arguments, plain loops, no generators (a
        # step of a small net is bound by this Python overhead, not by its arithmetic).
        Tensor = _tensor.Tensor
        raw = []
        edges = []       # where each argument's gradient goes: (node, output index), (leaf, -1) or None
        tensors = 0
        host = True      # every tensor argument holds a NumPy array
        requires_grad = False
        for arg in args:
            if isinstance(arg, Tensor):
                data = arg.data
                raw.append(data)
                tensors += 1
                if type(data) is not np.ndarray:
                    host = False
                if not arg._requires_grad:
                    edges.append(None)
                else:
                    requires_grad = True
                    edges.append((arg, -1) if arg.grad_fn is None else (arg.grad_fn, arg._output_index))
            else:
                raw.append(arg)
                edges.append(None)
        ctx = cls()
        if not tensors:
            return cls._host_forward(ctx, *raw, **kwargs)
        record = requires_grad and _grad_mode.enabled
        if record:
            ctx._edges = tuple(edges)
            ctx._sequence = next(_node_counter)
        if host:
            outputs = cls._host_forward(ctx, *raw, **kwargs)
        else:
            device = _common_device(cls, args, raw)
            if record:
                ctx._device = device
            with backend.device_context(device):   # CuPy runs and allocates on the current GPU
                outputs = cls.forward(ctx, *raw, **kwargs)
        single = not isinstance(outputs, tuple)
        if single:
            outputs = (outputs,)
        for out in outputs:
            if isinstance(out, np.generic):  # NumPy returns scalars, not arrays, for 0-d results
                outputs = ctx._scalars_to_arrays(outputs)
                break
        if record:
            wrapped = []
            meta = []
            for i, out in enumerate(outputs):
                dtype = out.dtype
                wrapped.append(Tensor._from_op(out, ctx, i) if backend.is_floating(dtype) else Tensor.from_array(out))
                meta.append((out.shape, dtype))
            ctx._output_meta = tuple(meta)
            if ctx._saved:
                ctx._remember_saved_sources(args, raw, outputs)
        else:
            wrapped = [Tensor.from_array(out) for out in outputs]
        return wrapped[0] if single else tuple(wrapped)

    def _scalars_to_arrays(self, outputs):
        """0-d arrays in place of NumPy scalars among ``outputs`` (and among the saved values that
        are those outputs), so a Tensor's data is always an array."""
        arrays = tuple(np.asarray(out) if isinstance(out, np.generic) else out for out in outputs)
        swap = {id(out): arr for out, arr in zip(outputs, arrays) if out is not arr}
        if self._saved:
            self._saved = tuple(swap.get(id(s), s) for s in self._saved)
        return arrays

    # -- saved values as graph tensors (create_graph) ----------------------------------

    def _remember_saved_sources(self, args, raw, outputs):
        """Note which saved arrays are forward inputs (``raw[k]``, the data of Tensor ``args[k]``)
        or outputs, so that under create_graph they come back as Tensors wired into the graph;
        anything else is a constant."""
        sources = []
        for arr in self._saved:
            source = None
            for data, arg in zip(raw, args):
                if data is arr and data is not arg:   # a Tensor argument's array, not a raw one
                    source = arg
                    break
            else:
                for i, out in enumerate(outputs):
                    if out is arr:
                        source = i
                        break
            sources.append(source)
        self._saved_sources = sources

    def _saved_as_tensor(self, i):
        Tensor = _tensor.Tensor
        arr = self._saved[i]
        source = self._saved_sources[i] if self._saved_sources else None
        if isinstance(source, Tensor):
            return source
        if isinstance(source, int):
            return Tensor._from_op(arr, self, source)
        return Tensor.from_array(arr) if backend.is_array(arr) else arr

    def free_saved(self):
        """Drop what forward saved; a later backward through this node is refused."""
        self._saved = ()
        self._saved_sources = None
        self._released = True


def _common_device(op, args, raw):
    """The one device of ``op``'s tensor arguments (some on a GPU); a RuntimeError naming the op
    when they differ, or when a NumPy array meets them."""
    Tensor = _tensor.Tensor
    devices = [arg.device for arg in args if isinstance(arg, Tensor)]
    device = devices[0]
    for other in devices:
        if other != device:
            raise RuntimeError(f"{op.__name__}: expected all tensors on one device, got {device} and {other}")
    for arg in raw:
        if type(arg) is np.ndarray:
            raise RuntimeError(
                f"{op.__name__}: a NumPy array of shape {arg.shape} meets tensors on {device}; "
                f"make it a tensor on that device first (cugrad.tensor(array, device='{device}'))"
            )
    return device


# --------------------------------------------------------------------------- engine


def topological_order(root_nodes):
    """Nodes reachable from ``root_nodes``, each after every node that feeds it (iterative DFS)."""
    order = []
    visited = set()
    stack = [(node, False) for node in root_nodes]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for edge in node._edges:
            if edge is not None and edge[1] >= 0 and id(edge[0]) not in visited:
                stack.append((edge[0], False))
    return order


def nodes_since(mark, root_nodes):
    """The nodes reachable from ``root_nodes`` made after ``mark`` (a ``node_sequence_mark()``),
    each after every node that feeds it."""
    return [node for node in topological_order(root_nodes) if node._sequence > mark]


class _Sum:
    """Two or more gradient contributions to one output, summed. The first sum is a fresh array
    the engine owns, so later contributions add into it in place; Tensors (create_graph) are
    summed out of place, as graph ops."""

    __slots__ = ("value",)

    def __init__(self, a, b):
        Tensor = _tensor.Tensor
        self.value = a + b if isinstance(a, Tensor) or isinstance(b, Tensor) else backend.ensure_array(a + b)

    def add(self, grad):
        if isinstance(grad, _tensor.Tensor) or isinstance(self.value, _tensor.Tensor):
            self.value = self.value + grad
        else:
            self.value += grad


# --------------------------------------------------------------------------- engine hooks

_post_accumulate_hooks = {}  # id(leaf) -> (weakref to leaf, [hook, ...]); empty = no cost in backward


def register_post_accumulate_grad_hook(leaf, hook):
    """Call ``hook(leaf)`` each time a backward has finished accumulating ``leaf.grad``.

    Returns a handle whose ``remove()`` unregisters it."""
    if leaf.grad_fn is not None or not leaf.requires_grad:
        raise RuntimeError("register_post_accumulate_grad_hook: only leaf tensors that require grad "
                           f"accumulate a gradient (this one of shape {leaf.shape} is "
                           f"{'not a leaf' if leaf.grad_fn is not None else 'not requiring grad'})")
    if not callable(hook):
        raise TypeError(f"register_post_accumulate_grad_hook: the hook must be callable, got {type(hook).__name__}")
    key = id(leaf)
    entry = _post_accumulate_hooks.get(key)
    if entry is None or entry[0]() is not leaf:
        entry = _post_accumulate_hooks[key] = (weakref.ref(leaf, lambda _: _post_accumulate_hooks.pop(key, None)), [])
    entry[1].append(hook)
    return _HookHandle(entry[1], hook)


class _HookHandle:
    def __init__(self, hooks, hook):
        self._hooks, self._hook = hooks, hook

    def remove(self):
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


def _hooks_of(leaf):
    entry = _post_accumulate_hooks.get(id(leaf))
    return entry[1] if entry is not None and entry[0]() is leaf else ()


class _LeafHooks:
    """One backward's post-accumulate hooks: each hooked leaf's incoming edges are counted once;
    a leaf's hooks fire when its last edge has delivered, and for a leaf some edge of which
    delivered nothing (a None gradient, a branch no gradient reached), when the sweep ends."""

    def __init__(self, root_nodes, root_leaves):
        self.waiting = {}   # id(leaf) -> [deliveries still to come, leaf]
        for leaf in root_leaves:
            self._expect(leaf)
        for node in topological_order(root_nodes):
            for edge in node._edges:
                if edge is not None and edge[1] < 0:
                    self._expect(edge[0])
        self.got = {}       # id(leaf) -> leaf, for those that received something

    def _expect(self, leaf):
        if _hooks_of(leaf):
            self.waiting.setdefault(id(leaf), [0, leaf])[0] += 1

    def delivered(self, leaf):
        entry = self.waiting.get(id(leaf))
        if entry is None:
            return
        self.got[id(leaf)] = leaf
        entry[0] -= 1
        if entry[0] == 0:
            del self.waiting[id(leaf)]
            self._fire(leaf)

    def finish(self):
        for key, leaf in list(self.got.items()):
            if key in self.waiting:
                del self.waiting[key]
                self._fire(leaf)

    def _fire(self, leaf):
        for hook in list(_hooks_of(leaf)):
            hook(leaf)


class _EngineState(threading.local):
    depth = 0          # nesting of run_backward (checkpoint runs one inside another)
    callbacks = None   # queued by hooks; run when the outermost backward ends
    leaf_hooks = None  # the _LeafHooks of each running sweep, innermost last


_engine = _EngineState()


def queue_callback(fn):
    """Run ``fn()`` once the backward now running ends (called from a hook, as PyTorch's
    ``Variable._execution_engine.queue_callback``)."""
    if _engine.depth == 0:
        raise RuntimeError("queue_callback: no backward is running (call it from a hook)")
    _engine.callbacks.append(fn)


def run_backward(roots, root_grads, retain_graph=False, create_graph=False, capture=None):
    """Reverse-mode sweep from ``roots`` seeded with ``root_grads``, then the queued callbacks.

    Leaf gradients go into ``.grad`` — or, when ``capture`` (a list of tensors) is given, into the
    returned list in that order and nowhere else (and no post-accumulate hook fires).
    """
    _engine.depth += 1
    if _engine.depth == 1:
        _engine.callbacks, _engine.leaf_hooks = [], []
    hooked_sweeps = len(_engine.leaf_hooks)
    try:
        captured = _sweep(roots, root_grads, retain_graph, create_graph, capture)
        if len(_engine.leaf_hooks) > hooked_sweeps:   # this sweep had hooks: fire the stragglers'
            _engine.leaf_hooks.pop().finish()
    finally:
        _engine.depth -= 1
        callbacks = _engine.callbacks if _engine.depth == 0 else ()
        if _engine.depth == 0:
            _engine.callbacks = _engine.leaf_hooks = None
    for fn in callbacks:  # skipped when the sweep raised
        fn()
    return captured


def _sweep(roots, root_grads, retain_graph, create_graph, capture):
    sweep = _Sweep(retain_graph, create_graph, capture)
    sweep.seed(roots, root_grads)
    previous_mode = _grad_mode.enabled
    _grad_mode.enabled = create_graph
    try:
        with np.errstate(all="ignore"):  # gradients at singular points: inf/nan, silently, as in PyTorch
            sweep.run()
    finally:
        _grad_mode.enabled = previous_mode
    return sweep.captured


class _Sweep:
    """One reverse pass. Nodes run in decreasing creation order (``_sequence``): a node is created
    after every node that feeds it, so by the time it is the newest node holding a gradient, every
    gradient it will get has arrived — no ordering pass over the graph is needed."""

    def __init__(self, retain_graph, create_graph, capture):
        self.retain_graph = retain_graph
        self.create_graph = create_graph
        self.buffers = {}    # node -> the gradient of each of its outputs so far (None, an array, a _Sum)
        self.ready = []      # heap of (-sequence, node): the nodes holding some gradient
        self.captured = None
        self.capture_at = {}  # (id(node or leaf), output index or -1) -> positions in ``capture``
        self.needed = None   # with capture: ids of the nodes whose backward feeds a captured tensor
        self.hooks = None
        if capture is not None:
            self.captured = [None] * len(capture)
            for i, t in enumerate(capture):
                key = (id(t.grad_fn), t._output_index) if t.grad_fn is not None else (id(t), -1)
                self.capture_at.setdefault(key, []).append(i)

    def seed(self, roots, root_grads):
        root_nodes = [r.grad_fn for r in roots if r.grad_fn is not None]
        if self.captured is not None:
            self.needed = _leading_to(topological_order(root_nodes), self.capture_at)
        elif _post_accumulate_hooks:   # leaves without hooks pay nothing
            self.hooks = _LeafHooks(root_nodes, [r for r in roots if r.grad_fn is None])
            _engine.leaf_hooks.append(self.hooks)
        for root, grad in zip(roots, root_grads):
            if root.grad_fn is not None:
                self.add(root.grad_fn, root._output_index, grad)
            elif not root.requires_grad:
                raise RuntimeError("backward: the tensor does not require grad and has no grad_fn")
            else:
                self.deliver_to_leaf(root, grad)

    def add(self, node, index, grad):
        """Add ``grad`` to what output ``index`` of ``node`` has received."""
        slots = self.buffers.get(node)
        if slots is None:
            slots = self.buffers[node] = [None] * len(node._output_meta)
            heapq.heappush(self.ready, (-node._sequence, node))
        current = slots[index]
        if current is None:
            slots[index] = grad
        elif type(current) is _Sum:
            current.add(grad)
        else:
            slots[index] = _Sum(current, grad)

    def deliver_to_leaf(self, leaf, grad):
        Tensor = _tensor.Tensor
        if self.captured is not None:
            captured = self.captured
            for i in self.capture_at.get((id(leaf), -1), ()):
                captured[i] = grad if captured[i] is None else backend.ensure_array(captured[i] + grad)
            return
        if leaf.grad is None:
            leaf.grad = grad if isinstance(grad, Tensor) else Tensor.from_array(grad)
        elif self.create_graph:
            leaf.grad = leaf.grad + grad
        else:
            leaf.grad = Tensor.from_array(backend.ensure_array(leaf.grad.data + grad))
        if self.hooks is not None:
            self.hooks.delivered(leaf)

    def run(self):
        ready, buffers = self.ready, self.buffers
        while ready:
            node = heapq.heappop(ready)[1]
            slots = buffers.pop(node)
            if node._device is backend.CPU:
                self.run_node(node, slots)
            else:
                with backend.device_context(node._device):   # its arrays live there (cuda:1 as well)
                    self.run_node(node, slots)

    def run_node(self, node, slots):
        """``node``'s backward on the gradients of its outputs; what it returns goes on to the
        nodes and leaves that fed it."""
        create_graph = self.create_graph
        grads = _output_grads(node, slots, create_graph)
        if self.needed is not None:
            for idx, g in enumerate(grads):
                for i in self.capture_at.get((id(node), idx), ()):
                    self.captured[i] = g
            if id(node) not in self.needed:
                return
        if create_graph:
            node._graph_mode = True
            try:
                input_grads = node.backward(node, *grads)
            finally:
                node._graph_mode = False
        else:
            input_grads = node.backward(node, *grads)
        if type(input_grads) is not tuple:
            input_grads = (input_grads,)
        edges = node._edges
        if len(input_grads) < len(edges):
            raise ValueError(
                f"{type(node).__name__}.backward returned {len(input_grads)} gradients for "
                f"{len(edges)} forward arguments"
            )
        if not self.retain_graph:
            node.free_saved()
        for edge, grad in zip(edges, input_grads):
            if edge is None or grad is None:
                continue
            target, index = edge
            grad = _fit_grad(node, target, index, grad, create_graph)
            if index < 0:
                self.deliver_to_leaf(target, grad)
            else:
                self.add(target, index, grad)


def _leading_to(order, capture_at):
    """Ids of the nodes in ``order`` (inputs first) whose backward feeds a captured tensor; the
    others need not run when only the captured gradients are wanted."""
    needed = set()
    for node in order:
        for edge in node._edges:
            if edge is None:
                continue
            target, index = edge
            if (id(target), index) in capture_at or index >= 0 and id(target) in needed:
                needed.add(id(node))
                break
    return needed


def _output_grads(node, slots, create_graph):
    """The gradient for each output of ``node``; zeros for outputs no gradient reached."""
    grads = []
    for slot, (shape, dtype) in zip(slots, node._output_meta):
        if slot is None:
            zeros = backend.zeros(shape, dtype, node._device)
            grads.append(_tensor.Tensor.from_array(zeros) if create_graph else zeros)
        else:
            grads.append(slot.value if type(slot) is _Sum else slot)
    return grads


def _fit_grad(node, target, index, grad, create_graph):
    """Check a returned gradient's shape and bring it to its input's dtype (an array, or a
    Tensor under create_graph)."""
    Tensor = _tensor.Tensor
    if index < 0:
        expected_shape, expected_dtype = target.data.shape, target.data.dtype
    else:
        expected_shape, expected_dtype = target._output_meta[index]
    if create_graph:
        if not isinstance(grad, Tensor):
            grad = Tensor.from_array(backend.ensure_array(grad))
    elif type(grad) is not np.ndarray:
        grad = grad.data if isinstance(grad, Tensor) else backend.ensure_array(grad)
    if grad.shape != expected_shape:
        raise ValueError(
            f"{type(node).__name__}.backward returned a gradient of shape {tuple(grad.shape)} "
            f"for an input of shape {tuple(expected_shape)}"
        )
    if grad.dtype != expected_dtype:
        grad = grad.astype(expected_dtype)
    return grad


def backward(tensors, grad_tensors=None, retain_graph=False, create_graph=False):
    """Accumulate gradients of ``tensors`` into the ``.grad`` of the leaves they depend on."""
    roots, grads = _roots_and_grads(tensors, grad_tensors, "backward", create_graph)
    run_backward(roots, grads, retain_graph=retain_graph or create_graph, create_graph=create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """Gradients of ``outputs`` with respect to ``inputs``, returned as a tuple; ``.grad`` is untouched."""
    Tensor = _tensor.Tensor
    single_input = isinstance(inputs, Tensor)
    inputs = [inputs] if single_input else list(inputs)
    for t in inputs:
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError("grad: every input must be a Tensor that requires grad")
    roots, grads = _roots_and_grads(outputs, grad_outputs, "grad", create_graph)
    if retain_graph is None:
        retain_graph = create_graph
    captured = run_backward(roots, grads, retain_graph, create_graph, capture=inputs)
    results = []
    for t, g in zip(inputs, captured):
        if g is None:
            if not allow_unused:
                raise RuntimeError(
                    f"grad: an input of shape {t.shape} was not used to compute the outputs "
                    "(pass allow_unused=True to get None for it)"
                )
        elif not isinstance(g, Tensor):
            g = Tensor.from_array(g)
        results.append(g)
    return tuple(results)


def _roots_and_grads(tensors, grad_tensors, where, create_graph):
    Tensor = _tensor.Tensor
    roots = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    if grad_tensors is None:
        grad_list = [None] * len(roots)
    elif isinstance(grad_tensors, (list, tuple)):
        grad_list = list(grad_tensors)
    else:
        grad_list = [grad_tensors]
    if len(grad_list) != len(roots):
        raise ValueError(f"{where}: got {len(grad_list)} gradients for {len(roots)} outputs")
    grads = []
    for root, g in zip(roots, grad_list):
        if not isinstance(root, Tensor):
            raise TypeError(f"{where}: outputs must be Tensors, got {type(root).__name__}")
        if not root.requires_grad:
            raise RuntimeError(f"{where}: a tensor of shape {root.shape} does not require grad and has no grad_fn")
        if g is None:
            if root.data.size != 1:
                raise RuntimeError(
                    f"{where}: grad can be implicitly created only for scalar outputs, got shape {root.shape}; "
                    "pass a gradient of the same shape"
                )
            g = backend.ones(root.shape, root.dtype, root.device)
        else:
            if isinstance(g, Tensor):
                if g.device != root.device:
                    raise RuntimeError(f"{where}: the gradient is on {g.device}, its output on {root.device}; "
                                       f"move it with .to('{root.device}')")
                if not create_graph:
                    g = g.data
            else:
                g = backend.to_device(g, root.device) if backend.is_array(g) else _tensor.as_array(g, root)
            if tuple(g.shape) != tuple(root.shape):
                raise ValueError(f"{where}: gradient of shape {tuple(g.shape)} for an output of shape {root.shape}")
        if create_graph and not isinstance(g, Tensor):
            g = Tensor.from_array(g)
        grads.append(g)
    return roots, grads


from . import tensor as _tensor  # noqa: E402  (Tensor builds on this module; read at call time)
