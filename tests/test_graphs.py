"""Captured steps (cugrad.compile_step, cugrad.cuda.graph): the same results as the eager step,
new batches through the static inputs, and clear errors for what a CUDA graph cannot record."""
import numpy as np
import pytest

import cugrad
import cugrad.nn.functional as F
from cugrad import graphs, kernels, optim


class SeedNet:
    """The seeds' 64×1000→100→10 net: sigmoid hidden layer, no biases, squared loss, plain SGD."""

    def __init__(self, device, n=64, d_in=1000, h=100, d_out=10, lr=1e-4, seed=0):
        rng = np.random.default_rng(seed)
        self.w1 = cugrad.tensor(rng.standard_normal((h, d_in)).astype(np.float32) * 0.03, device=device,
                                requires_grad=True)
        self.w2 = cugrad.tensor(rng.standard_normal((d_out, h)).astype(np.float32) * 0.1, device=device,
                                requires_grad=True)
        self.x = cugrad.tensor(rng.standard_normal((n, d_in)).astype(np.float32), device=device)
        self.y = cugrad.tensor(rng.standard_normal((n, d_out)).astype(np.float32), device=device)
        self.lr = lr

    def step(self):
        for p in (self.w1, self.w2):
            p.grad = None
        out = F.linear(F.linear(self.x, self.w1, activation="sigmoid"), self.w2)
        loss = F.mse_loss(out, self.y, reduction="sum")
        loss.backward()
        with cugrad.no_grad():
            for p in (self.w1, self.w2):
                kernels.sgd_step(p.data, p.grad.data, None, self.lr)
        return loss

    def params(self):
        return [self.w1.numpy().copy(), self.w2.numpy().copy()]


class ModuleNet:
    """nn.Linear layers, softmax cross-entropy on integer labels, optim.SGD with momentum (or
    optim.Adam with its step count on the device, ``opt="adam"``)."""

    def __init__(self, device, n=32, sizes=(20, 16, 5), seed=0, opt="sgd"):
        cugrad.manual_seed(seed)
        self.layers = [cugrad.nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
        for layer in self.layers:
            layer.to(device)
        self.params_ = [p for layer in self.layers for p in layer.parameters()]
        self.opt = optim.SGD(self.params_, lr=0.1, momentum=0.9) if opt == "sgd" else \
            optim.Adam(self.params_, lr=0.01, capturable=True)
        rng = np.random.default_rng(seed + 1)
        self.x = cugrad.tensor(rng.standard_normal((n, sizes[0])).astype(np.float32), device=device)
        self.y = cugrad.tensor(rng.integers(0, sizes[-1], n), device=device)

    def step(self):
        self.opt.zero_grad()
        h = self.x
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i < len(self.layers) - 1:
                h = F.relu(h)
        loss = F.cross_entropy(h, self.y)
        loss.backward()
        self.opt.step()
        return loss

    def params(self):
        return [p.numpy().copy() for p in self.params_]


def _assert_params_equal(a, b, device):
    for x, y in zip(a, b):
        if device == "cpu":
            np.testing.assert_array_equal(x, y)
        else:  # the same kernels in the same order; GEMMs in the graph through cugrad's own cuBLAS handle
            np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-6 * np.abs(x).max())


NETS = {"seeds-sgd": SeedNet, "module-sgd-momentum": ModuleNet,
        "module-adam": lambda device: ModuleNet(device, opt="adam")}


@pytest.mark.parametrize("net", sorted(NETS))
def test_compiled_step_matches_eager_step(device, net):
    """Warm-up, capture, then 10 replays: every loss and the final parameters equal the eager
    step's to float32 rounding (1e-6 relative), GEMMs included in the graph."""
    eager, compiled_net = NETS[net](device), NETS[net](device)
    step = cugrad.graphs.compile_step(compiled_net.step)
    for _ in range(12):
        loss_eager = eager.step()
        loss_compiled = step()
        assert float(loss_compiled.item()) == pytest.approx(float(loss_eager.item()), rel=1e-6)
    _assert_params_equal(eager.params(), compiled_net.params(), device)
    assert step.captured == (device != "cpu")


def test_compiled_step_on_cpu_is_the_eager_step_bit_for_bit():
    eager, compiled_net = SeedNet("cpu"), SeedNet("cpu")
    step = graphs.compile_step(compiled_net.step, warmup=2)
    losses = []
    for _ in range(5):
        losses.append((eager.step().item(), step().item()))
    assert all(a == b for a, b in losses)
    _assert_params_equal(eager.params(), compiled_net.params(), "cpu")
    assert not step.captured


def test_new_batches_through_static_inputs(device):
    eager, compiled_net = SeedNet(device), SeedNet(device)
    step = graphs.compile_step(compiled_net.step, inputs=[compiled_net.x, compiled_net.y])
    rng = np.random.default_rng(7)
    for i in range(5):
        x = rng.standard_normal(eager.x.shape).astype(np.float32)
        y = rng.standard_normal(eager.y.shape).astype(np.float32)
        eager.x.data[...] = cugrad.tensor(x, device=device).data
        eager.y.data[...] = cugrad.tensor(y, device=device).data
        loss_eager = float(eager.step().item())
        # host arrays, device tensors and device arrays are all accepted
        batch = (x, y) if i % 2 else (cugrad.tensor(x, device=device), cugrad.tensor(y, device=device).data)
        loss_compiled = float(step(*batch).item())
        assert loss_compiled == pytest.approx(loss_eager, rel=1e-5)
    _assert_params_equal(eager.params(), compiled_net.params(), device)


def test_compile_step_argument_errors():
    net = SeedNet("cpu")
    with pytest.raises(TypeError, match="callable"):
        graphs.compile_step(42)
    with pytest.raises(ValueError, match="warmup"):
        graphs.compile_step(net.step, warmup=0)
    with pytest.raises(TypeError, match="inputs must be Tensors"):
        graphs.compile_step(net.step, inputs=[np.zeros(3)])
    with pytest.raises(TypeError, match="no inputs="):
        graphs.compile_step(net.step)(np.zeros(3))
    step = graphs.compile_step(net.step, inputs=[net.x, net.y])
    with pytest.raises(TypeError, match="2 inputs"):
        step(np.zeros(net.x.shape, np.float32))
    with pytest.raises(ValueError, match=r"input 1 has shape \(3,\)"):
        step(np.zeros(net.x.shape, np.float32), np.zeros(3, np.float32))
    before = net.params()
    with pytest.raises(ValueError, match="shape"):
        step(np.zeros((2, 2), np.float32), net.y)
    _assert_params_equal(before, net.params(), "cpu")     # refused before any work


def test_cuda_graph_api_is_exported():
    assert cugrad.cuda.graph is graphs.graph
    assert cugrad.cuda.CUDAGraph is graphs.CUDAGraph
    assert issubclass(cugrad.cuda.GraphCaptureError, RuntimeError)
    with pytest.raises(TypeError, match="CUDAGraph"):
        with cugrad.cuda.graph(object()):
            pass


def test_cuda_graph_needs_a_gpu(no_gpu):
    assert not cugrad.cuda.is_capturing()
    with pytest.raises(RuntimeError, match="need a GPU"):
        with cugrad.cuda.graph(cugrad.cuda.CUDAGraph()):
            pass
    with pytest.raises(RuntimeError, match="nothing captured"):
        cugrad.cuda.CUDAGraph().replay()


# --------------------------------------------------------------------------- GPU only

@pytest.mark.gpu
def test_replay_rewrites_the_returned_loss_in_place():
    net = SeedNet("cuda")
    step = graphs.compile_step(net.step)
    step()
    loss = step()                               # the capture call
    assert step.captured
    first = float(loss.item())
    again = step()
    assert again is loss                        # static output...
    assert float(again.item()) != first         # ...rewritten by the replay (the weights moved)


@pytest.mark.gpu
def test_cuda_graph_context_manager_like_pytorch():
    eager, captured = SeedNet("cuda"), SeedNet("cuda")
    eager.step()
    captured.step()                             # warm-up
    g = cugrad.cuda.CUDAGraph()
    with cugrad.cuda.graph(g):
        loss = captured.step()
    before = captured.params()
    cugrad.cuda.synchronize()
    _assert_params_equal(before, captured.params(), "cuda")   # capture records, does not run
    for _ in range(3):
        g.replay()
        eager_loss = eager.step()
    assert float(loss.item()) == pytest.approx(float(eager_loss.item()), rel=1e-5)
    _assert_params_equal(eager.params(), captured.params(), "cuda")


@pytest.mark.gpu
def test_two_captures_share_one_pool_and_stream():
    """A second graph captured on the first one's pool and stream: both replay their own work."""
    cp = cugrad.backend.cupy()
    x = cugrad.tensor(np.arange(6.0, dtype=np.float32), device="cuda")
    (x * 2.0).sum()                             # warm-up: the kernels compile outside capture
    g1, g2 = cugrad.cuda.CUDAGraph(), cugrad.cuda.CUDAGraph()
    with cugrad.cuda.graph(g1):
        doubled = (x * 2.0).sum()
    with cugrad.cuda.graph(g2, pool=g1.pool(), stream=g1.stream()):
        tripled = (x * 3.0).sum()
    assert g2.pool() is g1.pool() and g2.stream() is g1.stream()
    x.data[...] = cp.ones(6, dtype=cp.float32)
    g1.replay()
    g2.replay()
    assert (doubled.item(), tripled.item()) == (12.0, 18.0)


@pytest.mark.gpu
def test_a_step_on_the_second_gpu_is_captured_there():
    """The capture stream, its pool and the replays belong to the step's GPU, not the current one;
    without device= or inputs= the mismatch is refused by name after the warm-up."""
    if cugrad.cuda.device_count() < 2:
        pytest.skip("needs two GPUs")
    cp = cugrad.backend.cupy()
    eager, compiled_net, unnamed = ModuleNet("cuda:1"), ModuleNet("cuda:1"), ModuleNet("cuda:1")
    step = graphs.compile_step(compiled_net.step, device="cuda:1")
    with cp.cuda.Device(0):
        for _ in range(4):
            eager.step()
            step()
        assert step.captured
        _assert_params_equal(eager.params(), compiled_net.params(), "cuda")
        assert all(p.data.device.id == 1 for p in compiled_net.params_)
        with pytest.raises(RuntimeError, match=r"runs on cuda:1 while cuda:0 is current.*pass device='cuda:1'"):
            graphs.compile_step(unnamed.step)()


@pytest.mark.gpu
@pytest.mark.parametrize("sync", ["item", "bool", "numpy", "synchronize"])
def test_host_sync_inside_capture_is_refused(sync):
    net = SeedNet("cuda")

    def step():
        loss = net.step()
        if sync == "item":
            loss.item()
        elif sync == "bool":
            bool(loss > 0)
        elif sync == "numpy":
            loss.numpy()
        else:
            cugrad.cuda.synchronize()
        return loss

    compiled = graphs.compile_step(step)
    compiled()                                  # eager warm-up: syncing is fine there
    # the refusal names its cause (every message carries the host-sync hint, so match the cause)
    cause = "cannot record a host sync" if sync == "synchronize" else "D2H transfers are disallowed"
    with pytest.raises(cugrad.cuda.GraphCaptureError, match=cause):
        compiled()
    assert not compiled.captured
    assert not cugrad.cuda.is_capturing()
    net.step().item()                           # eager work still runs after the aborted capture


@pytest.mark.gpu
def test_random_numbers_inside_capture_are_refused():
    net = SeedNet("cuda")

    def step():
        net.x.data[...] = F.dropout(net.x, 0.1).data
        return net.step()

    compiled = graphs.compile_step(step)
    compiled()
    with pytest.raises(cugrad.cuda.GraphCaptureError, match="random"):
        compiled()
    assert not compiled.captured


@pytest.mark.gpu
def test_reset_recaptures_after_a_host_value_changes():
    eager, compiled_net = SeedNet("cuda"), SeedNet("cuda")
    step = graphs.compile_step(compiled_net.step)
    for _ in range(3):
        eager.step()
        step()
    eager.lr = compiled_net.lr = 1e-3          # frozen in the graph until reset()
    step.reset()
    for _ in range(3):
        eager.step()
        step()
    assert step.captured
    _assert_params_equal(eager.params(), compiled_net.params(), "cuda")


@pytest.mark.gpu
@pytest.mark.parametrize("when", ["warm-up", "capture"])
@pytest.mark.parametrize("call", ["track_memory", "stop_tracking_memory"])
def test_memory_tracking_switched_inside_a_compiled_step_is_refused_by_name(when, call):
    """A compiled step allocates through cupy.cuda.using_allocator, inside which CuPy refuses
    set_allocator with a bare ValueError: cugrad says where and why, and the tracking state and the
    allocator stay as they were."""
    cp = cugrad.backend.cupy()
    net = SeedNet("cuda")
    if call == "stop_tracking_memory":
        cugrad.cuda.track_memory()
    allocator = cp.cuda.get_allocator()
    calls = []

    def step():
        calls.append(1)
        if len(calls) == (1 if when == "warm-up" else 2):
            getattr(cugrad.cuda, call)()
        return net.step()

    compiled = graphs.compile_step(step)
    try:
        if when == "capture":
            compiled()
        with pytest.raises(RuntimeError, match=rf"^({call}|cugrad.cuda.graph: {call}): called inside "
                                               r"cupy.cuda.using_allocator, as in a compiled step"):
            compiled()
        assert cp.cuda.get_allocator() == allocator
        assert (cugrad.backend._tracker is not None) == (call == "stop_tracking_memory")
    finally:
        cugrad.cuda.stop_tracking_memory()


@pytest.mark.gpu
def test_adam_without_a_device_step_count_is_refused_in_a_capture():
    net = ModuleNet("cuda", opt="adam")
    net.opt = optim.Adam(net.params_, lr=0.01)
    with pytest.raises(graphs.GraphCaptureError, match="Adam: its step count .* create it with capturable=True"):
        step = graphs.compile_step(net.step)
        step()
        step()
