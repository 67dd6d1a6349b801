"""Gradient checkpointing: same gradients as the plain run, activations really freed."""
import gc
import tracemalloc
import weakref

import numpy as np
import pytest

import cugrad
import cugrad.nn.functional as F
from kernel_cases import bf16_param


def _layers(n, width, device, dtype="float64"):
    cugrad.manual_seed(3)
    weights = [cugrad.randn(width, width, dtype=dtype, device=device) * (1.0 / np.sqrt(width)) for _ in range(n)]
    biases = [cugrad.randn(width, dtype=dtype, device=device) * 0.1 for _ in range(n)]
    for p in weights + biases:
        p.requires_grad = True
    fns = [lambda x, w=w, b=b: F.linear(x, w, b, activation="tanh") for w, b in zip(weights, biases)]
    return fns, weights + biases


def _grads(params, *extra):
    return [p.grad.numpy().copy() for p in list(params) + list(extra)]


def _clear(params):
    for p in params:
        p.grad = None


def _assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("segments", [1, 2, 3, "sqrt", 9])
def test_checkpoint_sequential_matches_plain_run_bit_for_bit(segments):
    fns, params = _layers(9, 12, "cpu")
    x = cugrad.randn(5, 12, dtype="float64", requires_grad=True)

    y = x
    for fn in fns:
        y = fn(y)
    (y * y).sum().backward()
    plain = _grads(params, x)

    _clear(params + [x])
    y = cugrad.checkpoint_sequential(fns, segments, x)
    (y * y).sum().backward()
    _assert_same(plain, _grads(params, x))


def test_several_inputs_and_outputs_and_an_output_used_twice(device):
    cugrad.manual_seed(0)
    a = cugrad.randn(4, 3, dtype="float64", device=device, requires_grad=True)
    b = cugrad.randn(4, 3, dtype="float64", device=device, requires_grad=True)
    w = cugrad.randn(3, 3, dtype="float64", device=device, requires_grad=True)

    def segment(a, b, scale):
        h = (a * b) @ w
        return h.tanh() * scale, (h - a).exp()

    def loss(u, v):
        return (u * u).sum() + (u * v).sum() + v.sum()

    loss(*segment(a, b, 2.0)).backward()
    plain = _grads([a, b, w])
    _clear([a, b, w])
    loss(*cugrad.checkpoint(segment, a, b, 2.0)).backward()
    _assert_same(plain, _grads([a, b, w]))


def test_inputs_that_need_no_grad_still_give_parameter_grads():
    fns, params = _layers(4, 6, "cpu")
    data = cugrad.randn(3, 6, dtype="float64")  # a batch: requires no grad
    y = data
    for fn in fns:
        y = fn(y)
    y.sum().backward()
    plain = _grads(params)
    _clear(params)
    y = cugrad.checkpoint_sequential(fns, 2, data)
    y.sum().backward()
    _assert_same(plain, _grads(params))


def test_nested_checkpoints():
    fns, params = _layers(4, 5, "cpu")
    x = cugrad.randn(2, 5, dtype="float64", requires_grad=True)

    def inner(h):
        return fns[1](fns[0](h))

    def outer(h):
        return fns[3](fns[2](cugrad.checkpoint(inner, h)))

    outer(x).sum().backward()
    plain = _grads(params, x)
    _clear(params + [x])
    cugrad.checkpoint(outer, x).sum().backward()
    _assert_same(plain, _grads(params, x))


def test_under_no_grad_it_is_a_plain_call():
    fns, _ = _layers(2, 4, "cpu")
    x = cugrad.randn(2, 4, dtype="float64")
    with cugrad.no_grad():
        y = cugrad.checkpoint(lambda h: fns[1](fns[0](h)), x)
    assert y.grad_fn is None and not y.requires_grad
    np.testing.assert_array_equal(y.numpy(), fns[1](fns[0](x)).numpy())


def test_dropout_sees_the_same_randomness_when_recomputed():
    fns, params = _layers(3, 8, "cpu")
    drop = [lambda h, fn=fn: F.dropout(fn(h), 0.3) for fn in fns]
    x = cugrad.randn(6, 8, dtype="float64", requires_grad=True)

    cugrad.manual_seed(11)
    y = x
    for fn in drop:
        y = fn(y)
    y.sum().backward()
    plain = _grads(params, x)
    after_plain = cugrad.rand(3).numpy()

    _clear(params + [x])
    cugrad.manual_seed(11)
    cugrad.checkpoint_sequential(drop, 3, x).sum().backward()
    _assert_same(plain, _grads(params, x))
    # the recompute does not disturb the stream the caller sees afterwards
    np.testing.assert_array_equal(after_plain, cugrad.rand(3).numpy())


@pytest.mark.parametrize("dtype", ["float16", bf16_param("bfloat16")])
def test_recompute_replays_the_autocast_of_the_forward(device, dtype):
    """Forward under autocast, backward outside it (as with a GradScaler): the recompute runs in
    the forward's half dtype, so the gradients equal the plain run's bit for bit."""
    fns, params = _layers(4, 16, device, dtype="float32")
    x = cugrad.randn(8, 16, device=device, requires_grad=True)

    with cugrad.autocast(dtype):
        y = x
        for fn in fns:
            y = fn(y)
    y.float().sum().backward()
    plain = _grads(params, x)

    _clear(params + [x])
    with cugrad.autocast(dtype):
        y = cugrad.checkpoint_sequential(fns, 2, x)
    y.float().sum().backward()
    _assert_same(plain, _grads(params, x))


def test_cugrad_grad_and_create_graph_go_through_a_checkpoint():
    x = cugrad.tensor([0.3, -0.7, 1.1], dtype="float64", requires_grad=True)

    def f(h):
        return (h * h * h).sum() + (h[0] * h[1]).exp()

    (g_plain,) = cugrad.grad(f(x), [x], create_graph=True)
    (g_ckpt,) = cugrad.grad(cugrad.checkpoint(f, x), [x], create_graph=True)
    np.testing.assert_array_equal(g_plain.numpy(), g_ckpt.numpy())
    assert x.grad is None
    (h_plain,) = cugrad.grad(g_plain.sum(), [x])
    (h_ckpt,) = cugrad.grad(g_ckpt.sum(), [x])
    np.testing.assert_allclose(h_plain.numpy(), h_ckpt.numpy(), rtol=1e-12)


def test_closing_over_a_tensor_with_a_graph_is_a_clear_error():
    a = cugrad.randn(3, dtype="float64", requires_grad=True)
    outside = a * 2.0
    with pytest.raises(RuntimeError, match="pass that tensor to checkpoint as an argument"):
        cugrad.checkpoint(lambda h: h + outside, cugrad.randn(3, dtype="float64", requires_grad=True))


def test_bad_segments_argument():
    fns, _ = _layers(3, 4, "cpu")
    with pytest.raises(ValueError, match="segments must be a positive int or 'sqrt'"):
        cugrad.checkpoint_sequential(fns, 0, cugrad.randn(2, 4))


def test_no_saved_array_of_a_segment_survives_its_forward():
    w = cugrad.randn(8, 8, dtype="float64", requires_grad=True)
    inner = []

    def segment(h):
        z = F.linear(h, w, activation="tanh")  # Linear saves h, w and its output
        out = z * z
        inner.append(weakref.ref(z.data))
        return out

    x = cugrad.randn(4, 8, dtype="float64", requires_grad=True)
    y = cugrad.checkpoint(segment, x)
    gc.collect()
    assert inner[0]() is None, "the segment's intermediate activation is still alive after forward"
    y.sum().backward()
    assert w.grad is not None


def _peak_bytes(run):
    gc.collect()
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_peak_memory_falls_at_least_threefold_with_equal_gradients():
    depth, width, batch = 64, 32, 2048
    fns, params = _layers(depth, width, "cpu", dtype="float32")
    x = cugrad.randn(batch, width)
    results = {}

    def step(segments):
        _clear(params)
        y = x
        if segments is None:
            for fn in fns:
                y = fn(y)
        else:
            y = cugrad.checkpoint_sequential(fns, segments, x)
        (y * y).mean().backward()
        results[segments] = _grads(params)

    plain_peak = _peak_bytes(lambda: step(None))
    sqrt_peak = _peak_bytes(lambda: step("sqrt"))
    _assert_same(results[None], results["sqrt"])
    assert plain_peak >= 3 * sqrt_peak, f"peak {plain_peak} B without vs {sqrt_peak} B with checkpointing"


@pytest.mark.parametrize("use_checkpoint", [False, True])
def test_second_backward_follows_the_same_rule_with_and_without_checkpointing(device, use_checkpoint):
    """Without retain_graph a second backward is refused (it used to run through a checkpointed
    segment and double the gradients); with retain_graph=True it runs twice, accumulating."""
    fns, params = _layers(3, 4, device)
    x = cugrad.randn(5, 4, dtype="float64", device=device, requires_grad=True)
    def through(h):
        for fn in fns:
            h = fn(h)
        return h

    def run():
        return (cugrad.checkpoint(through, x) if use_checkpoint else through(x)).sum()

    loss = run()
    loss.backward()
    once = _grads(params, x)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        loss.backward()
    _assert_same(_grads(params, x), once)                     # nothing added by the refused call

    _clear(params + [x])
    loss = run()
    loss.backward(retain_graph=True)
    loss.backward(retain_graph=True)
    for twice, single in zip(_grads(params, x), once):
        np.testing.assert_allclose(twice, 2 * single, rtol=1e-14)
    loss.backward()                                           # the last one may free it
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        loss.backward()


def test_checkpoint_second_backward_refused_for_cugrad_grad_too():
    w = cugrad.randn(3, 3, dtype="float64", requires_grad=True)
    x = cugrad.randn(2, 3, dtype="float64")
    loss = cugrad.checkpoint(lambda t: F.linear(t, w, activation="tanh"), x).sum()
    (g1,) = cugrad.grad(loss, [w], retain_graph=True)
    (g2,) = cugrad.grad(loss, [w])
    np.testing.assert_array_equal(g1.numpy(), g2.numpy())
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        cugrad.grad(loss, [w])
