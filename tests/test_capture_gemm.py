"""GEMMs inside a CUDA-graph capture (cugrad.kernels.gemm): every layout the engine passes, the
precision modes, eager matmuls untouched, and the rules of the stand-in's cuBLAS."""
import ctypes

import numpy as np
import pytest

import cugrad
from cugrad.kernels import gemm
from cugrad.ops.linalg import _mm

gpu = pytest.mark.gpu                 # all but the last test, which needs the library, not a GPU


@pytest.fixture
def cp():
    return cugrad.backend.cupy()


def _stand_in_only():
    import sys

    if not getattr(sys.modules.get("cupy"), "_cugrad_stand_in", False):
        pytest.skip("a rule of the stand-in's cuBLAS (real cuBLAS is what it mirrors)")


SHAPES = {"a": (5, 3), "b": (3, 4), "w": (4, 3), "a3": (2, 5, 3), "b3": (2, 3, 4), "b4": (1, 2, 3, 4)}
LAYOUTS = {
    "row-major": lambda d: (d["a"], d["b"]),
    "transposed weight (x·Wᵀ)": lambda d: (d["a"], d["w"].T),
    "transposed left (dzᵀ·x)": lambda d: (d["a"].T, d["a"]),
    "both transposed": lambda d: (d["b"].T, d["a"].T),
    "a column": lambda d: (d["a"], d["b"][:, :1]),
    "a row": lambda d: (d["a"][:1], d["b"]),
    "strided rows": lambda d: (d["a"][::2], d["b"]),
    "batched": lambda d: (d["a3"], d["b3"]),
    "batched @ 2-d": lambda d: (d["a3"], d["b"]),
    "2-d @ broadcast batch": lambda d: (d["a"], d["b4"]),
    "batched, swapped axes": lambda d: (d["a3"], d["a3"].swapaxes(-1, -2)),
    "empty inner axis": lambda d: (d["a"][:, :0], d["b"][:0]),
    "empty rows": lambda d: (d["a"][:0], d["b"]),
    # views that start inside their allocation: each operand's pointer carries the view's offset
    "offset rows": lambda d: (d["a"][2:], d["b"]),
    "offset columns": lambda d: (d["a"][:, 1:], d["b"][1:, 2:]),
    "offset transposed weight": lambda d: (d["a"], d["w"][1:].T),
    "offset transposed left": lambda d: (d["a"][1:, 1:].T, d["a"][1:]),
    "offset batch": lambda d: (d["a3"][1:], d["b3"][1:]),
    "offset batched rows": lambda d: (d["a3"][:, 3:], d["b4"][0]),
}


@gpu
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_layout_is_recorded_and_recomputed_on_each_replay(cp, dtype):
    """Each product is recorded (nothing runs at capture) and each replay recomputes it from the
    operands' current values: the inputs change between replays."""
    rng = np.random.default_rng(0)
    host = {n: rng.standard_normal(s).astype(dtype) for n, s in SHAPES.items()}
    dev = {n: cp.asarray(v) for n, v in host.items()}
    operands = {name: make(dev) for name, make in LAYOUTS.items()}
    g = cugrad.cuda.CUDAGraph()
    with cugrad.cuda.graph(g):
        outs = {name: _mm(x, y) for name, (x, y) in operands.items()}
    for scale in (1.0, -3.0):
        now = {n: v * scale - 1 for n, v in host.items()}
        for n, v in now.items():
            dev[n][...] = cp.asarray(v)
        g.replay()
        for name, make in LAYOUTS.items():
            want = np.matmul(*make(now))
            got = cp.asnumpy(outs[name])
            assert got.dtype == dtype and got.shape == want.shape, name
            np.testing.assert_allclose(got, want, rtol=1e-6 if dtype == "float32" else 1e-13, atol=1e-5,
                                       err_msg=name)


@gpu
@pytest.mark.parametrize("precision", ["highest", "high"])
def test_a_captured_product_uses_the_eager_precision(cp, precision):
    """set_matmul_precision holds inside a capture: the captured GEMM equals CuPy's eager one
    (TF32 operands rounded to a 10-bit mantissa under "high"), and "high" is not "highest"."""
    rng = np.random.default_rng(1)
    a = cp.asarray(rng.standard_normal((16, 64)).astype(np.float32))
    b = cp.asarray(rng.standard_normal((64, 8)).astype(np.float32))
    try:
        cugrad.set_matmul_precision(precision)
        eager = cp.asnumpy(a @ b)
        g = cugrad.cuda.CUDAGraph()
        with cugrad.cuda.graph(g):
            out = _mm(a, b)
        g.replay()
    finally:
        cugrad.set_matmul_precision("highest")
    np.testing.assert_allclose(cp.asnumpy(out), eager, rtol=1e-6, atol=1e-6 * np.abs(eager).max())
    exact = cp.asnumpy(a).astype(np.float64) @ cp.asnumpy(b).astype(np.float64)
    error = np.abs(cp.asnumpy(out) - exact).max() / np.abs(exact).max()
    assert (error > 1e-5) == (precision == "high")          # TF32's 2^-11 vs float32's 2^-24


@gpu
def test_eager_products_keep_cupys_path(cp, monkeypatch):
    """Outside a capture nothing is bound and the engine calls CuPy's matmul; the routing ends with
    the capture, also when the body fails."""
    calls = []
    monkeypatch.setattr(gemm, "matmul", lambda a, b: calls.append(1))
    a = cugrad.randn(4, 3, device="cuda", requires_grad=True)
    (a @ a.T).sum().backward()
    assert calls == [] and not gemm._bound
    g = cugrad.cuda.CUDAGraph()
    with pytest.raises(ZeroDivisionError):
        with cugrad.cuda.graph(g):
            1 / 0
    assert not gemm._bound


@gpu
def test_compile_step_runs_its_warm_up_gemms_through_the_capture_handle(cp, monkeypatch):
    """The warm-up takes the capture's GEMM path (the handle is set up and cuBLAS has run those
    products before the capture), the capture records it, replays run no Python; other eager
    products stay on CuPy's path."""
    calls = []
    original = gemm.matmul
    monkeypatch.setattr(gemm, "matmul", lambda a, b: calls.append(a.shape) or original(a, b))
    x = cugrad.randn(4, 3, device="cuda")
    w = cugrad.randn(3, 2, device="cuda")
    step = cugrad.compile_step(lambda: x @ w)
    outs = [step().numpy().copy() for _ in range(4)]
    assert calls == [(4, 3), (4, 3)] and step.captured and not gemm._bound
    x @ w
    assert len(calls) == 2
    for out in outs:
        np.testing.assert_allclose(out, x.numpy() @ w.numpy(), rtol=1e-6)


@gpu
def test_a_product_on_another_stream_during_a_capture_is_cupys(cp):
    """Only the capturing stream is routed: a product queued on another stream while a capture is
    bound goes to CuPy's matmul, which runs it there at once."""
    a = cp.asarray(np.eye(3, dtype=np.float32))
    g = cugrad.cuda.CUDAGraph()
    other = cp.cuda.Stream(non_blocking=True)
    with cugrad.cuda.graph(g):
        with other:
            out = _mm(a, a)
            assert not gemm.is_bound(a)
    other.synchronize()
    np.testing.assert_array_equal(cp.asnumpy(out), np.eye(3))


@gpu
def test_stand_in_refuses_a_gemm_in_capture_without_a_workspace(cp, monkeypatch):
    """cublasSetStream resets the workspace, so binding in the other order leaves cuBLAS to
    allocate one during the capture: the stand-in's cuBLAS answers NOT_SUPPORTED."""
    _stand_in_only()
    lib = gemm._library()

    def bind_in_the_wrong_order(self, stream_ptr):
        lib.cublasSetWorkspace_v2(self.ptr, self.workspace.data.ptr, gemm.WORKSPACE_BYTES)
        lib.cublasSetStream_v2(self.ptr, stream_ptr)
        self.stream = stream_ptr

    monkeypatch.setattr(gemm._Handle, "bind", bind_in_the_wrong_order)
    a = cp.ones((2, 2), dtype=np.float32)
    with pytest.raises(gemm.CublasError, match=r"cublasGemmEx: cuBLAS status 15 \(the functionality requested"):
        with cugrad.cuda.graph(cugrad.cuda.CUDAGraph()):
            _mm(a, a)


@gpu
def test_stand_in_checks_scalar_widths_and_leading_dimensions(cp):
    _stand_in_only()
    lib = gemm._library()
    handle = ctypes.c_void_p()
    assert lib.cublasCreate_v2(ctypes.byref(handle)) == 0
    a = cp.ones((2, 2), dtype=np.float64)
    one, zero = ctypes.c_float(1.0), ctypes.c_float(0.0)
    args = (handle.value, 0, 0, 2, 2, 2, ctypes.byref(one), a.data.ptr, 1, 2, a.data.ptr, 1, 2, ctypes.byref(zero),
            a.data.ptr, 1, 2, gemm.COMPUTE_64F, gemm.GEMM_DEFAULT)
    with pytest.raises(TypeError, match="alpha must point to a c_double"):
        lib.cublasGemmEx(*args)
    one, zero = ctypes.c_double(1.0), ctypes.c_double(0.0)
    args = args[:6] + (ctypes.byref(one),) + args[7:13] + (ctypes.byref(zero),) + args[14:]
    assert lib.cublasGemmEx(*args[:9], 1, *args[10:]) == 7                    # lda < m
    assert lib.cublasGemmEx(*args[:-2], gemm.COMPUTE_32F_FAST_TF32, args[-1]) == 15
    assert lib.cublasGemmEx(*args) == 0
    np.testing.assert_array_equal(cp.asnumpy(a), np.full((2, 2), 2.0))
    with cp.cuda.Device(1), pytest.raises(RuntimeError, match="made on device 0 used while device 1"):
        lib.cublasGemmEx(*args)
    assert lib.cublasDestroy_v2(handle.value) == 0


def _real_libcublas_module():
    """cugrad/kernels/libcublas.py itself (the stand-in replaces the module of that name)."""
    import importlib.util
    from pathlib import Path

    import cugrad.kernels as kernels_pkg

    path = Path(kernels_pkg.__file__).with_name("libcublas.py")
    spec = importlib.util.spec_from_file_location("cugrad_real_libcublas", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.cuda_libs("cublas")
def test_the_real_libcublas_takes_the_calls_gemm_makes():
    """The real shared library (found as CuPy finds it) exports every function with the declared
    signature, and the exact argument lists gemm.py passes marshal through ctypes: without a GPU
    each call returns CUBLAS_STATUS_NOT_INITIALIZED (1) instead of a ctypes error."""
    module = _real_libcublas_module()
    lib = module.open_library()
    handle = ctypes.c_void_p()
    created = lib.cublasCreate_v2(ctypes.byref(handle))
    assert created in (0, 1)
    if created == 0:
        pytest.skip("a GPU is visible: the capture tests run the real calls")
    one, zero = ctypes.c_float(1.0), ctypes.c_float(0.0)
    assert lib.cublasSetStream_v2(handle.value, 0x1000) == 1
    assert lib.cublasSetWorkspace_v2(handle.value, 0x2000, gemm.WORKSPACE_BYTES) == 1
    assert lib.cublasGemmEx(handle.value, gemm.OP_N, gemm.OP_T, 4, 5, 3, ctypes.byref(one), 0x2000, gemm.CUDA_R_32F, 4,
                            0x3000, gemm.CUDA_R_32F, 5, ctypes.byref(zero), 0x4000, gemm.CUDA_R_32F, 4,
                            gemm.COMPUTE_32F_FAST_TF32, gemm.GEMM_DEFAULT_TENSOR_OP) == 1
    assert lib.cublasGemmStridedBatchedEx(handle.value, gemm.OP_N, gemm.OP_N, 4, 5, 3, ctypes.byref(one), 0x2000,
                                          gemm.CUDA_R_32F, 4, 12, 0x3000, gemm.CUDA_R_32F, 3, 0, ctypes.byref(zero),
                                          0x4000, gemm.CUDA_R_32F, 4, 20, 2, gemm.COMPUTE_32F, gemm.GEMM_DEFAULT) == 1
    assert lib.cublasGetStatusString(1) == b"the library was not initialized"
    assert all(getattr(lib, name).argtypes for name in module.SIGNATURES)
