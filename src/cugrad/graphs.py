"""CUDA-graph capture of a whole training step: ``cugrad.cuda.graph`` and ``cugrad.compile_step``.

A small step (the seeds' 64×1000→100→10 net) is a few dozen tiny kernels, so Python and launch
overhead decide its time. Recording forward + backward + update once with CUDA stream capture and
replaying the graph costs one launch per step.

How memory is kept safe. CuPy's default memory pool does not know that a graph keeps using the
addresses it handed out: a temporary freed during capture goes back to the pool and could later be
given to an unrelated array that the replays would then overwrite. So warm-up and capture allocate
from a *private* ``cupy.cuda.MemoryPool`` owned by the graph and used by nothing else afterwards:
everything the captured step allocates (activations, gradients, the returned loss) stays at a
fixed address for the life of the graph, and freed blocks are never handed to anyone else. The
warm-up call(s) run under that pool too, so per-step state such as ``.grad`` arrays is already
private when the capture starts (the engine stores each backward's gradients in new arrays).

Matrix products inside a capture go to cuBLAS through cugrad's own capture-safe handle
(:mod:`cugrad.kernels.gemm`; CuPy refuses cuBLAS calls during a capture), so the whole step —
GEMMs included — is one graph.

What a captured step may not do (refused with :class:`GraphCaptureError` where CuPy tells us):
host syncs (``.item()``, ``float()``/``bool()``/``int()`` of a device tensor, ``.numpy()``,
printing a tensor, ``cugrad.cuda.synchronize()``), host↔device copies, and drawing random numbers
(dropout, ``rand``/``randn``: the seed and offset are kernel arguments, so every replay would reuse
the same numbers). Host values computed by the step are frozen at capture: a learning rate changed
by a scheduler, Adam's step count (its bias correction), a GradScaler's scale. Re-capture with
``CompiledStep.reset()`` when such a value changes. Gradients must be reset in the step
(``p.grad = None`` or ``optimizer.zero_grad()``), as every training step does: accumulating across
calls is not replayable.
"""
from __future__ import annotations

import contextlib

import numpy as np

from . import backend, random
from .kernels import gemm
from .tensor import Tensor

__all__ = ["CUDAGraph", "CompiledStep", "GraphCaptureError", "compile_step", "graph", "is_capturing"]


class GraphCaptureError(RuntimeError):
    """The captured code did something a CUDA graph cannot record."""


_HINT = ("keep host syncs (.item(), float()/bool()/int() of a device tensor, .numpy(), printing a "
         "tensor, cugrad.cuda.synchronize()) and host<->device copies out of the captured step")


def _cupy_or_raise(what):
    cp = backend.cupy()
    if cp is None:
        raise RuntimeError(f"{what}: CUDA graphs need a GPU ({backend.cuda_unavailable_reason()})")
    return cp


def is_capturing() -> bool:
    """True while the current CUDA stream is being captured into a graph (False on the CPU)."""
    cp = backend.cupy()
    if cp is None:
        return False
    try:
        return bool(cp.cuda.get_current_stream().is_capturing())
    except Exception:  # CUDA refuses the query when it would break a capture: treat as capturing
        return True


@contextlib.contextmanager
def _side_stream(cp, stream, pool):
    """Run the body on ``stream`` with ``pool`` as allocator, ordered after and before the caller's
    stream (a non-blocking stream does not synchronize with the legacy default stream by itself)."""
    caller = cp.cuda.get_current_stream()
    stream.wait_event(caller.record())
    try:
        with cp.cuda.using_allocator(pool.malloc), stream:
            yield
    finally:
        caller.wait_event(stream.record())


class CUDAGraph:
    """One captured CUDA graph (the shape of ``torch.cuda.CUDAGraph``)::

        g = cugrad.cuda.CUDAGraph()
        with cugrad.cuda.graph(g):      # records, does not run
            loss = step()
        g.replay()                      # runs; loss.data is rewritten by every replay

    Warm the code up first (run it once eagerly) so kernels are compiled and cuBLAS is set up;
    :func:`compile_step` does all of this for you.
    """

    def __init__(self):
        self._graph = None
        self._pool = None
        self._stream = None
        self._capturing = False

    def pool(self):
        """The private memory pool the capture allocated from. Another capture reuses its freed
        blocks only on the same stream (CuPy keeps free blocks per stream): pass both,
        ``graph(g2, pool=g.pool(), stream=g.stream())``."""
        return self._pool

    def stream(self):
        """The stream the capture ran on."""
        return self._stream

    def capture_begin(self, pool=None, stream=None):
        cp = _cupy_or_raise("CUDAGraph.capture_begin")
        if self._capturing:
            raise RuntimeError("CUDAGraph.capture_begin: this graph is already capturing")
        self._pool = pool if pool is not None else cp.cuda.MemoryPool()
        self._stream = stream if stream is not None else cp.cuda.Stream(non_blocking=True)
        self._graph = None
        gemm.bind(self._stream)     # outside the capture and the private pool: handle, workspace, stream
        self._scope = contextlib.ExitStack()
        self._scope.callback(gemm.unbind, self._stream)
        try:
            self._scope.enter_context(_side_stream(cp, self._stream, self._pool))
            self._random_offset = random.get_rng_state()["cuda"]["offset"]
            self._stream.begin_capture()
        except BaseException:
            self._scope.close()
            raise
        self._capturing = True

    def capture_end(self):
        if not self._capturing:
            raise RuntimeError("CUDAGraph.capture_end: capture_begin was not called")
        self._capturing = False
        try:
            try:
                g = self._stream.end_capture()
            except Exception as exc:
                raise GraphCaptureError(f"cugrad.cuda.graph: the capture was invalidated ({exc}); {_HINT}") from exc
        finally:
            self._scope.close()
        if random.get_rng_state()["cuda"]["offset"] != self._random_offset:
            raise GraphCaptureError(
                "cugrad.cuda.graph: the captured code draws random numbers (dropout, rand, randn); their seed "
                "and offset are fixed at capture, so every replay would reuse the same numbers. Capture a "
                "step without random ops")
        self._graph = g

    def _abort(self):
        """End a capture that failed part-way (the partial graph is discarded)."""
        if not self._capturing:
            return
        self._capturing = False
        try:
            self._stream.end_capture()
        except Exception:  # an invalidated capture still leaves capture mode on end_capture
            pass
        finally:
            self._scope.close()

    def replay(self):
        """Run the recorded work on the current stream."""
        if self._graph is None:
            raise RuntimeError("CUDAGraph.replay: nothing captured yet")
        self._graph.launch(backend.cupy().cuda.get_current_stream())

    def reset(self):
        """Drop the graph and its memory pool."""
        if self._capturing:
            raise RuntimeError("CUDAGraph.reset: the graph is capturing")
        self._graph = self._pool = self._stream = None


@contextlib.contextmanager
def graph(cuda_graph, pool=None, stream=None):
    """Capture the GPU work of the body into ``cuda_graph`` (a :class:`CUDAGraph`).

    The body's Python runs once and its kernels are recorded, not run: call ``cuda_graph.replay()``
    to run them. Allocations come from a private pool kept alive by the graph, so the arrays the
    body creates keep their addresses and each replay rewrites them in place. Host syncs and
    host↔device copies inside the body raise :class:`GraphCaptureError`.
    """
    if not isinstance(cuda_graph, CUDAGraph):
        raise TypeError(f"cugrad.cuda.graph expects a cugrad.cuda.CUDAGraph, got {type(cuda_graph).__name__}")
    cuda_graph.capture_begin(pool=pool, stream=stream)
    try:
        yield cuda_graph
    except Exception as exc:
        cuda_graph._abort()
        if _is_capture_error(exc):
            raise GraphCaptureError(f"cugrad.cuda.graph: {exc}; {_HINT}") from exc
        raise
    except BaseException:
        cuda_graph._abort()
        raise
    cuda_graph.capture_end()


def _is_capture_error(exc) -> bool:
    text = str(exc).lower()
    return "captur" in text or type(exc).__name__ == "CUDARuntimeError"


# --------------------------------------------------------------------------- compile_step

def compile_step(step_fn, inputs=None, warmup=1, device=None):
    """A callable that runs ``step_fn()`` — forward + backward + update — captured as a CUDA graph.

    Call k of the returned object performs step k exactly once: the first ``warmup`` calls run
    ``step_fn`` eagerly (compiling kernels, running its GEMMs through the capture's cuBLAS handle,
    moving per-step buffers into the graph's private memory pool), the next one records it and
    launches the recording, later calls only launch it. Every call returns what ``step_fn`` returned at capture: the same tensors,
    rewritten by each replay (copy a value you need to keep across steps).

    ``inputs``: the static batch tensors ``step_fn`` reads (optional). Calling ``compiled(x, y)``
    copies ``x``, ``y`` (arrays or tensors of the same shapes) into them before the step; without
    ``inputs``, update the batch tensors' ``.data`` in place yourself (``t.data[...] = new``).
    ``device``: where the step runs, when neither ``inputs`` nor the returned value tells.
    On the CPU (or with no GPU) the step simply runs eagerly, with the same results.
    See :mod:`cugrad.graphs` for what a captured step may not do.
    """
    return CompiledStep(step_fn, inputs=inputs, warmup=warmup, device=device)


class CompiledStep:
    """What :func:`compile_step` returns; ``reset()`` drops the graph so the next call re-captures."""

    def __init__(self, step_fn, inputs=None, warmup=1, device=None):
        if not callable(step_fn):
            raise TypeError(f"compile_step: step_fn must be callable, got {type(step_fn).__name__}")
        if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 1:
            raise ValueError(f"compile_step: warmup must be an int >= 1 (eager calls before capture), got {warmup!r}")
        if inputs is not None:
            inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
            for t in inputs:
                if not isinstance(t, Tensor):
                    raise TypeError(f"compile_step: inputs must be Tensors, got {type(t).__name__}")
        self.step_fn = step_fn
        self.inputs = inputs
        self.warmup = warmup
        self.device = backend.Device(device) if device is not None else (inputs[0].device if inputs else None)
        self._graph = None
        self._output = None
        self._warm = 0
        self._pool = None
        self._stream = None

    @property
    def captured(self) -> bool:
        """True once the step is recorded and calls replay it."""
        return self._graph is not None

    def reset(self):
        """Forget the recording (and its memory pool): the next call warms up and captures again."""
        self._graph = self._output = self._pool = self._stream = None
        self._warm = 0

    def __call__(self, *batch):
        if batch:
            self._load(batch)
        cp = backend.cupy()
        if cp is None or (self.device is not None and self.device.type == "cpu"):
            return self.step_fn()
        # the stream, the pool's blocks and every kernel belong to the step's GPU, not the current one
        with backend.device_context(self.device) if self.device is not None else contextlib.nullcontext():
            return self._run_on_gpu(cp)

    def _run_on_gpu(self, cp):
        if self._graph is not None:
            self._graph.replay()
            return self._output
        if self._pool is None:
            self._pool, self._stream = cp.cuda.MemoryPool(), cp.cuda.Stream(non_blocking=True)
        if self._warm < self.warmup:
            # the capture's GEMM path already (handle set up, cuBLAS kernels loaded outside a capture)
            with gemm.bound(self._stream), _side_stream(cp, self._stream, self._pool):
                out = self.step_fn()
            self._warm += 1
            if self.device is None:
                self.device = _device_of_output(out)
                current = cp.cuda.runtime.getDevice()
                if self.device is not None and self.device.type == "cuda" and self.device.index != current:
                    raise RuntimeError(f"compile_step: the step runs on {self.device} while cuda:{current} is current, "
                                     f"so its capture stream would be on the wrong GPU; pass device='{self.device}' "
                                     "or inputs=")
            return out
        if self.device is None:
            raise ValueError("compile_step: cannot tell which device the step runs on; pass device= or inputs=, "
                             "or return a tensor from step_fn")
        if self.device.type == "cpu":
            return self.step_fn()
        g = CUDAGraph()
        with graph(g, pool=self._pool, stream=self._stream):
            out = self.step_fn()
        self._graph, self._output = g, out
        g.replay()          # capture recorded the step without running it
        return out

    def _load(self, batch):
        if self.inputs is None:
            raise TypeError("compile_step: batch arguments given but no inputs= to copy them into")
        if len(batch) != len(self.inputs):
            raise TypeError(f"compile_step: {len(batch)} batch arguments for {len(self.inputs)} inputs")
        for i, (dst, src) in enumerate(zip(self.inputs, batch)):
            copy_into(dst.data, src.data if isinstance(src, Tensor) else src, f"input {i}")


def copy_into(dst, src, what="input"):
    """``dst[...] = src`` across devices, with the shape checked first (no broadcasting)."""
    shape = tuple(src.shape) if hasattr(src, "shape") else np.shape(src)   # np.shape of a GPU array: not NumPy's
    if shape != tuple(dst.shape):
        raise ValueError(f"compile_step: {what} has shape {shape}, the static buffer has {tuple(dst.shape)}")
    if isinstance(dst, np.ndarray):
        np.copyto(dst, backend.to_device(src, backend.CPU) if backend.is_array(src) else src, casting="same_kind")
        return
    if backend.is_array(src) and not isinstance(src, np.ndarray):
        dst[...] = src                      # device to device, on the current stream
    elif dst.flags.c_contiguous:
        dst.set(np.ascontiguousarray(src, dtype=dst.dtype))
    else:
        dst[...] = backend.to_device(np.asarray(src, dtype=dst.dtype), backend.device_of(dst))


def _device_of_output(out):
    """The device of the first tensor or array found in ``out`` (None when there is none)."""
    stack = [out]
    while stack:
        item = stack.pop()
        if isinstance(item, Tensor):
            return item.device
        if backend.is_array(item):
            return backend.device_of(item)
        if isinstance(item, (list, tuple)):
            stack.extend(reversed(item))
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
    return None
