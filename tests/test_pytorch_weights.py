"""PyTorch-loadable weights: an nn.MLP's state_dict has the names and layouts of the same
torch.nn.Sequential, both ways, through safetensors files and in memory; older cugrad layouts load."""
from __future__ import annotations

import numpy as np
import pytest
from optional import need

import cugrad
from cugrad import nn

torch = need("torch", "torch (the CPU wheel)")
safetensors_torch = need("safetensors.torch", "torch (the CPU wheel)")

ACTIVATIONS = sorted(nn.ACTIVATIONS)


def torch_activation(activation):
    """The torch.nn module of the same name and parameters as cugrad's (GELU: cugrad's tanh form)."""
    ours = nn.ACTIVATIONS[activation]()
    if activation == "gelu":
        return torch.nn.GELU(approximate="tanh")
    if activation == "softplus":
        return torch.nn.Softplus()
    return getattr(torch.nn, type(ours).__name__)(**ours.kwargs)


def torch_twin(sizes, activation, dropout=0.0):
    """The torch.nn.Sequential an nn.MLP(sizes, activation, dropout) stands for."""
    tnn = torch.nn
    layers = []
    for a, b in zip(sizes[:-2], sizes[1:-1]):
        layers += [tnn.Linear(a, b), torch_activation(activation)] + ([tnn.Dropout(dropout)] if dropout else [])
    layers.append(tnn.Linear(sizes[-2], sizes[-1]))
    return tnn.Sequential(*layers)


def _inputs(n=9, d=5, seed=1):
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32) * 2


def _cugrad_out(model, x):
    model.eval()
    with cugrad.no_grad():
        return model(cugrad.tensor(x)).numpy()


def _torch_out(model, x):
    model.eval()
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize("dropout", [0.0, 0.3])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_cugrad_checkpoint_loads_strictly_into_torch_sequential(tmp_path, activation, dropout):
    sizes = [5, 16, 8, 3]
    model = nn.MLP(sizes, activation=activation, dropout=dropout)
    twin = torch_twin(sizes, activation, dropout)
    ours = model.state_dict()
    assert list(ours) == list(twin.state_dict())
    assert [tuple(v.shape) for v in ours.values()] == [tuple(v.shape) for v in twin.state_dict().values()]
    path = tmp_path / "mlp.safetensors"
    cugrad.save(ours, path)
    twin.load_state_dict(safetensors_torch.load_file(str(path)), strict=True)
    x = _inputs()
    np.testing.assert_allclose(_torch_out(twin, x), _cugrad_out(model, x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_torch_written_safetensors_load_into_cugrad(tmp_path, activation):
    sizes = [5, 12, 12, 4]
    torch.manual_seed(0)
    twin = torch_twin(sizes, activation)
    path = tmp_path / "torch.safetensors"
    safetensors_torch.save_file(twin.state_dict(), str(path))
    state = cugrad.load(path)
    assert sorted(state) == sorted(twin.state_dict())      # a flat dict, name -> array
    model = nn.MLP(sizes, activation=activation)
    model.load_state_dict(state)
    x = _inputs()
    np.testing.assert_allclose(_cugrad_out(model, x), _torch_out(twin, x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("as_numpy", [False, True], ids=["torch-tensors", "numpy-arrays"])
def test_load_state_dict_takes_a_torch_state_dict_in_memory(as_numpy):
    sizes = [5, 7, 2]
    torch.manual_seed(1)
    twin = torch_twin(sizes, "tanh", dropout=0.1)
    state = twin.state_dict()
    if as_numpy:
        state = {k: v.numpy() for k, v in state.items()}
    model = nn.MLP(sizes, activation="tanh", dropout=0.1)
    model.load_state_dict(state)
    for (name, p), (tname, tv) in zip(model.named_parameters(), twin.state_dict().items()):
        assert name == tname
        np.testing.assert_array_equal(p.numpy(), tv.numpy())
    assert not np.shares_memory(model[0].weight.data, twin[0].weight.detach().numpy())  # copied in


def test_torch_parameters_that_require_grad_are_named_in_the_error():
    twin = torch_twin([3, 4, 2], "relu")
    with pytest.raises(ValueError, match=r"'0.weight': Tensor.__dlpack__|'0.weight': .*detach"):
        nn.MLP([3, 4, 2]).load_state_dict(dict(twin.named_parameters()))


def test_layernorm_and_plain_sequential_match_torch_names(tmp_path):
    model = nn.Sequential(nn.Linear(4, 6), nn.LayerNorm(6), nn.GELU(), nn.Dropout(0.2), nn.Linear(6, 2))
    twin = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.LayerNorm(6), torch.nn.GELU(approximate="tanh"),
                               torch.nn.Dropout(0.2), torch.nn.Linear(6, 2))
    with torch.no_grad():
        twin[1].weight.uniform_(0.5, 1.5)
        twin[1].bias.uniform_(-0.5, 0.5)
    path = tmp_path / "ln.safetensors"
    safetensors_torch.save_file(twin.state_dict(), str(path))
    model.load_state_dict(cugrad.load(path))
    x = _inputs(d=4)
    np.testing.assert_allclose(_cugrad_out(model, x), _torch_out(twin, x), rtol=1e-5, atol=1e-6)


def test_torch_bfloat16_safetensors_load_as_bfloat16(tmp_path):
    pytest.importorskip("ml_dtypes")
    values = torch.tensor([[1.5, -2.25], [0.0078125, 300.0]], dtype=torch.bfloat16)
    path = tmp_path / "bf16.safetensors"
    safetensors_torch.save_file({"w": values, "b": torch.arange(3, dtype=torch.int64)}, str(path))
    state = cugrad.load(path)
    assert state["w"].dtype.name == "bfloat16" and state["b"].dtype == np.int64
    np.testing.assert_array_equal(state["w"].astype(np.float32), values.float().numpy())
    np.testing.assert_array_equal(state["b"], [0, 1, 2])
    lin = nn.Linear(2, 2)
    lin.load_state_dict({"weight": state["w"], "bias": np.zeros(2, np.float32)})
    np.testing.assert_array_equal(lin.weight.numpy(), values.float().numpy())


@pytest.mark.parametrize("dropout, older", [(0.0, ["0", "1", "2"]), (0.2, ["0", "2", "4"])])
def test_checkpoints_of_the_older_fused_layout_still_load(dropout, older):
    """Before the PyTorch layout, a fused activation had no index of its own."""
    source = nn.MLP([3, 6, 6, 2], dropout=dropout)
    linears = [k for k, m in source._modules.items() if isinstance(m, nn.Linear)]
    state = {f"{old}.{p}": source.state_dict()[f"{new}.{p}"] for old, new in zip(older, linears)
             for p in ("weight", "bias")}
    model = nn.MLP([3, 6, 6, 2], dropout=dropout)
    model.load_state_dict(state)
    x = _inputs(d=3)
    np.testing.assert_array_equal(_cugrad_out(model, x), _cugrad_out(source, x))


def test_a_partial_older_layout_is_not_guessed_at():
    source = nn.MLP([3, 6, 6, 2]).state_dict()
    with pytest.raises(ValueError, match="missing keys: 0.bias, 2.weight, 2.bias, 4.weight, 4.bias; unexpected keys: 1.weight"):
        nn.MLP([3, 6, 6, 2]).load_state_dict({"0.weight": source["0.weight"], "1.weight": source["2.weight"]})


@pytest.mark.parametrize("activation", [a for a in ACTIVATIONS if a not in ("gelu", "softplus")])
def test_fused_sequential_gives_the_unfused_values_and_gradients(activation):
    """A Linear followed by a fusable activation module runs as one fused call: same numbers."""
    lin = nn.Linear(4, 5)
    act = nn.LeakyReLU(0.2) if activation == "leaky_relu" else nn.ACTIVATIONS[activation]()
    x = cugrad.tensor(_inputs(6, 4).astype(np.float64), requires_grad=True)
    lin.to(dtype="float64")
    fused = nn.Sequential(lin, act)(x)
    fused.sum().backward()
    grads = [x.grad.numpy(), lin.weight.grad.numpy()]
    x.grad = lin.weight.grad = lin.bias.grad = None
    plain = act(lin(x))
    plain.sum().backward()
    np.testing.assert_allclose(fused.detach().numpy(), plain.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grads[0], x.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grads[1], lin.weight.grad.numpy(), rtol=1e-12, atol=1e-12)
