"""The newer ops on the GPU path (real CuPy, or the CuPy stand-in in CPU-only CI): the same values
and gradients as on the CPU, and the results stay on the GPU."""
import numpy as np
import pytest

import cugrad

X = np.random.default_rng(3).uniform(0.5, 1.5, (3, 4)) * np.array([1, -1, 1, -1])
MASK = np.array([[True, False, False, True]] * 3)

OPS = {
    "logsumexp": lambda t: cugrad.logsumexp(t, axis=1),
    "prod": lambda t: cugrad.prod(t, axis=0),
    "prod_with_zero": lambda t: cugrad.prod(t * cugrad.tensor(np.eye(3, 4) == 0, device=t.device), axis=1),
    "cumsum": lambda t: cugrad.cumsum(t, axis=1),
    "flatten": lambda t: t.unsqueeze(0).flatten(1, 2),
    "squeeze": lambda t: t.unsqueeze(1).squeeze(1),
    "unflatten": lambda t: t.unflatten(1, (2, 2)),
    "flip": lambda t: t.flip(1),
    "masked_fill": lambda t: t.masked_fill(cugrad.tensor(MASK, device=t.device), 2.0),
    "nll_loss": lambda t: cugrad.nn.functional.nll_loss(t, cugrad.tensor(np.array([3, 0, 1]), device=t.device), reduction="none"),
    "huber_loss": lambda t: cugrad.nn.functional.huber_loss(t, t.flip(1) * 0.5, reduction="none", delta=0.8),
    "smooth_l1_loss": lambda t: cugrad.nn.functional.smooth_l1_loss(t, -t * 0.3, reduction="none", beta=0.9),
    "binary_cross_entropy_with_logits": lambda t: cugrad.nn.functional.binary_cross_entropy_with_logits(
        t, (t * 0.7).sigmoid(), reduction="none"),
    "sin": lambda t: t.sin(), "cosh": lambda t: t.cosh(), "tan": lambda t: t.tan(),
    "log2": lambda t: t.abs().log2(), "rsqrt": lambda t: t.abs().rsqrt(), "exp2": lambda t: t.exp2(),
    # erf, logaddexp, lerp, einsum, binary cross-entropy, label smoothing and ignored labels
    "erf": lambda t: t.erf(),
    "logaddexp": lambda t: t.logaddexp(t[:1] * 800.0),
    "lerp": lambda t: t.lerp(t.flip(1), (t * 0.3).sigmoid()),
    "lerp scalar weight": lambda t: cugrad.lerp(t, -t * 2.0, 0.7),
    "einsum": lambda t: cugrad.einsum("ij,kj->ik", t, t * 0.5),
    "einsum diagonal and sum": lambda t: cugrad.einsum("ii,ij->j", t[:, :3], t),
    "binary_cross_entropy": lambda t: cugrad.nn.functional.binary_cross_entropy(
        t.sigmoid(), (t * 0.7).sigmoid(), reduction="none", weight=cugrad.tensor(np.arange(4.0), device=t.device)),
    "binary_cross_entropy_with_logits pos_weight": lambda t: cugrad.nn.functional.binary_cross_entropy_with_logits(
        t * 300.0, (t * 0.7).sigmoid(), reduction="none", pos_weight=cugrad.tensor([0.5, 1.0, 2.0, 3.0], device=t.device)),
    "cross_entropy ignore_index label_smoothing": lambda t: cugrad.nn.functional.cross_entropy(
        t, cugrad.tensor(np.array([3, -1, 1]), device=t.device), ignore_index=-1, label_smoothing=0.2),
    "nll_loss ignore_index": lambda t: cugrad.nn.functional.nll_loss(
        t, cugrad.tensor(np.array([-1, -1, 2]), device=t.device), ignore_index=-1, reduction="sum"),
}
# shape and indexing ops (issue 15); pieces and (values, indices) pairs are joined into one output
INDEX = np.array([[2, 0, 2, 1], [1, 1, 0, 0]])
OPS.update({
    "split": lambda t: cugrad.concatenate(t.split([1, 3], 1)[::-1], axis=1),
    "chunk": lambda t: t.chunk(2, 0)[1] * 2.0,
    "repeat": lambda t: t.repeat(2, 1, 3),
    "tile": lambda t: cugrad.tile(t, (2,)),
    "pad constant": lambda t: cugrad.nn.functional.pad(t, (1, 2, -1, 1), value=0.5),
    "pad reflect": lambda t: cugrad.nn.functional.pad(t, (2, 3), mode="reflect"),
    "pad replicate": lambda t: cugrad.nn.functional.pad(t, (2, 1, 1, 0), mode="replicate"),
    "pad circular": lambda t: cugrad.nn.functional.pad(t, (3, 1), mode="circular"),
    "tril": lambda t: t.tril(1), "triu": lambda t: t.triu(-1),
    "diagonal": lambda t: t.diagonal(1),
    "gather": lambda t: t.gather(0, cugrad.tensor(INDEX, device=t.device)),
    "scatter_add": lambda t: t.scatter_add(1, cugrad.tensor(INDEX, device=t.device), t.flip(0) * 3.0),
    "sort": lambda t: t.sort(1, descending=True)[0],
    "topk": lambda t: t.topk(2, 0, largest=False)[0],
    "clamp": lambda t: t.clamp(min=-1.0, max=1.2),
})


def _value_and_grad(fn, device):
    t = cugrad.tensor(X, device=device, requires_grad=True)
    out = fn(t)
    weights = cugrad.tensor(np.arange(1.0, out.size + 1).reshape(out.shape), device=device)
    (out * weights).sum().backward()
    return out, t.grad


@pytest.mark.gpu
@pytest.mark.parametrize("name", sorted(OPS))
def test_new_ops_on_the_gpu_match_the_cpu(name):
    out, grad = _value_and_grad(OPS[name], "cuda")
    expected_out, expected_grad = _value_and_grad(OPS[name], "cpu")
    assert out.device == grad.device == cugrad.device("cuda")
    np.testing.assert_allclose(out.numpy(), expected_out.numpy(), rtol=1e-12)
    np.testing.assert_allclose(grad.numpy(), expected_grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["sort", "topk", "one_hot"])
def test_new_index_outputs_on_the_gpu_match_the_cpu(name):
    """The integer outputs: sort's and topk's indices (ties kept in order), one_hot."""
    fn = {"sort": lambda t: t.round().sort(0)[1], "topk": lambda t: t.round().topk(3, 1)[1],
          "one_hot": lambda t: cugrad.nn.functional.one_hot(cugrad.tensor(INDEX, device=t.device), 4)}[name]
    out = fn(cugrad.tensor(X, device="cuda"))
    assert out.device == cugrad.device("cuda") and out.dtype == np.int64
    np.testing.assert_array_equal(out.numpy(), fn(cugrad.tensor(X)).numpy())


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["all", "any", "argmin", "isfinite", "sign"])
def test_new_non_differentiable_ops_on_the_gpu_match_the_cpu(name):
    fn = {"all": lambda t: (t > 0).all(axis=1), "any": lambda t: (t > 0).any(axis=0),
          "argmin": lambda t: t.argmin(dim=1, keepdim=True), "isfinite": lambda t: t.isfinite(),
          "sign": lambda t: t.sign()}[name]
    np.testing.assert_array_equal(fn(cugrad.tensor(X, device="cuda")).numpy(), fn(cugrad.tensor(X)).numpy())


@pytest.mark.gpu
def test_new_factories_on_the_gpu_match_the_cpu():
    """eye, linspace and empty on the GPU hold the CPU's values; randint draws from the one seeded
    CPU stream, so a seed gives the same integers on either device."""
    for make in (lambda d: cugrad.eye(3, 4, device=d), lambda d: cugrad.linspace(-1, 2, 7, dtype="float64", device=d),
                 lambda d: cugrad.empty(2, 3, device=d)):
        on_gpu = make("cuda")
        assert on_gpu.device == cugrad.device("cuda")
        np.testing.assert_array_equal(on_gpu.numpy(), make("cpu").numpy())
    cugrad.manual_seed(5)
    on_gpu = cugrad.randint(0, 10, (50,), device="cuda")
    cugrad.manual_seed(5)
    assert on_gpu.device == cugrad.device("cuda") and on_gpu.dtype == np.int64
    np.testing.assert_array_equal(on_gpu.numpy(), cugrad.randint(0, 10, (50,)).numpy())
