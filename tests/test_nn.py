"""cugrad.nn: Module plumbing, layers, init, state_dict and training to the issue's accuracies."""
import numpy as np
import pytest

import cugrad
from cugrad import nn, optim
from cugrad.data import DataLoader, donut, spiral, train_test_split, xor


def test_registration_and_names():
    m = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2, bias=False))
    assert [n for n, _ in m.named_parameters()] == ["0.weight", "0.bias", "2.weight"]
    assert m[0].weight.shape == (4, 3) and m[0].weight.requires_grad
    assert m.num_parameters() == 4 * 3 + 4 + 2 * 4
    assert len(m) == 3 and isinstance(m[1], nn.ReLU)
    assert [(n, type(c).__name__) for n, c in m.named_children()] == [("0", "Linear"), ("1", "ReLU"), ("2", "Linear")]
    assert [c for _, c in m.named_children()] == list(m.children())


def test_shared_parameter_listed_once():
    lin = nn.Linear(2, 2)
    m = nn.Sequential(lin, lin)
    assert len(list(m.parameters())) == 2


def test_train_eval_propagates():
    m = nn.MLP([2, 8, 8, 2], dropout=0.5)
    m.eval()
    assert all(not sub.training for sub in m.modules())
    m.train()
    assert all(sub.training for sub in m.modules())


def test_linear_matches_numpy_and_pytorch_layout():
    lin = nn.Linear(3, 2)
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    y = lin(cugrad.Tensor(x))
    np.testing.assert_allclose(y.numpy(), x @ lin.weight.numpy().T + lin.bias.numpy(), rtol=1e-5, atol=1e-6)


def test_mlp_is_laid_out_as_pytorch_and_runs_fused():
    m = nn.MLP([2, 16, 16, 3])
    assert [type(l).__name__ for l in m] == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]
    stages = m._stages()                       # each Linear + ReLU pair runs as one fused linear call
    assert len(stages) == 3 and [s.keywords["activation"] for s in stages[:2]] == ["relu", "relu"]
    g = nn.MLP([2, 16, 3], activation="gelu", dropout=0.1)
    assert [type(l).__name__ for l in g] == ["Linear", "GELU", "Dropout", "Linear"]
    assert g._stages() == list(g)              # GELU has no fused form
    with pytest.raises(ValueError, match="unknown activation"):
        nn.MLP([2, 3], activation="swish")


def test_he_and_xavier_init_statistics():
    cugrad.manual_seed(0)
    w = nn.Linear(1000, 500, activation="relu").weight.numpy()
    assert abs(w.std() - np.sqrt(2 / 1000)) < 0.002
    w = nn.Linear(1000, 500, activation="tanh").weight.numpy()
    bound = 5 / 3 * np.sqrt(6 / 1500)
    assert np.abs(w).max() <= bound + 1e-6 and abs(w.std() - bound / np.sqrt(3)) < 0.002
    assert (nn.Linear(4, 4).bias.numpy() == 0).all()


def test_init_is_seeded():
    cugrad.manual_seed(3)
    a = nn.MLP([2, 8, 2]).state_dict()
    cugrad.manual_seed(3)
    b = nn.MLP([2, 8, 2]).state_dict()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_state_dict_round_trip_in_place():
    a, b = nn.MLP([2, 8, 2]), nn.MLP([2, 8, 2])
    w_obj = b[0].weight
    b.load_state_dict(a.state_dict())
    assert b[0].weight is w_obj  # parameters updated in place
    np.testing.assert_array_equal(b[0].weight.numpy(), a[0].weight.numpy())


def test_load_state_dict_errors_list_every_problem():
    a, b = nn.MLP([2, 8, 2]), nn.MLP([2, 16, 2])
    with pytest.raises(ValueError, match=r"shape mismatch for '0.weight': given \(8, 2\), model has \(16, 2\)"):
        b.load_state_dict(a.state_dict())
    sd = a.state_dict()
    sd["extra"] = sd.pop("2.bias")
    with pytest.raises(ValueError, match="missing keys: 2.bias; unexpected keys: extra"):
        a.load_state_dict(sd)
    before = a[0].weight.numpy().copy()
    a.load_state_dict({"0.weight": np.zeros((8, 2), np.float32)}, strict=False)
    assert (a[0].weight.numpy() == 0).all() and not (before == 0).all()


def test_zero_grad_and_backward_reach_parameters():
    m = nn.MLP([2, 4, 2])
    loss = nn.CrossEntropyLoss()(m(cugrad.randn(3, 2)), cugrad.Tensor(np.array([0, 1, 1])))
    loss.backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_layernorm_normalises_and_has_gradients():
    ln = nn.LayerNorm(5)
    x = cugrad.Tensor(np.random.default_rng(0).normal(3, 2, size=(4, 5)), requires_grad=True)
    y = ln(x)
    np.testing.assert_allclose(y.numpy().mean(axis=1), 0, atol=1e-6)
    np.testing.assert_allclose(y.numpy().std(axis=1), 1, atol=1e-3)
    (y * y).sum().backward()
    assert ln.weight.grad is not None and x.grad is not None


def test_dropout_only_in_training():
    d = nn.Dropout(0.5)
    x = cugrad.ones(1000)
    assert (d(x).numpy() == 0).mean() > 0.3
    d.eval()
    np.testing.assert_array_equal(d(x).numpy(), 1)


def test_checkpointed_mlp_gives_the_same_gradients():
    x = cugrad.randn(16, 4)
    y = cugrad.Tensor(np.arange(16) % 3)
    grads = []
    for ck in (None, "sqrt", 2):
        cugrad.manual_seed(1)
        m = nn.MLP([4, 8, 8, 8, 8, 3], checkpoint=ck)
        nn.CrossEntropyLoss()(m(x), y).backward()
        grads.append([p.grad.numpy() for p in m.parameters()])
    for other in grads[1:]:
        for a, b in zip(grads[0], other):
            np.testing.assert_array_equal(a, b)


def test_module_to_cpu_keeps_parameter_objects():
    m = nn.MLP([2, 4, 2])
    p = m[0].weight
    assert m.to("cpu") is m and m[0].weight is p and m.device == "cpu"


# --------------------------------------------------------------------------- training

def _fit(ds, hidden, epochs, lr=1e-2, batch=64, seed=0):
    cugrad.manual_seed(seed)
    tr, te = train_test_split(ds, 0.25, seed=seed)
    model = nn.MLP([2, *hidden, ds.num_classes])
    opt = optim.Adam(model.parameters(), lr=lr)
    loader = DataLoader(tr, batch, seed=seed)
    lossf = nn.CrossEntropyLoss()
    for _ in range(epochs):
        for xb, yb in loader:
            loss = lossf(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with cugrad.no_grad():
        pred = model(cugrad.Tensor(te.X)).numpy().argmax(axis=1)
    return (pred == te.y).mean()


def test_trains_spiral_to_97_percent():
    assert _fit(spiral(300, 3, seed=0), [64, 64], epochs=40) >= 0.97


def test_trains_donut_to_99_percent():
    assert _fit(donut(300, seed=0), [16, 16], epochs=20) >= 0.99


def test_trains_xor_to_99_percent():
    assert _fit(xor(300, seed=0), [16, 16], epochs=20) >= 0.99


@pytest.mark.gpu
@pytest.mark.parametrize("opt_kind", ["sgd", "adam"])
def test_a_model_on_the_second_gpu_trains_there_while_the_first_is_current(opt_kind):
    """CuPy runs kernels and allocates on the *current* GPU: a model on cuda:1 must still compute,
    keep its arrays and update on cuda:1 while cuda:0 is current, and match the CPU run."""
    if cugrad.cuda.device_count() < 2:
        pytest.skip("needs two GPUs")
    cp = cugrad.backend.cupy()
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 5)).astype(np.float32), rng.integers(0, 3, 16)
    cugrad.manual_seed(0)
    reference = nn.MLP([5, 8, 3])
    results = {}
    for device in ("cpu", "cuda:1"):
        model = nn.MLP([5, 8, 3])
        model.load_state_dict(reference.state_dict())
        model.to(device)
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9) if opt_kind == "sgd" else optim.Adam(model.parameters(), lr=1e-2)
        with cp.cuda.Device(0):
            for _ in range(3):
                loss = nn.functional.cross_entropy(model(cugrad.tensor(x, device=device)), cugrad.tensor(y, device=device))
                opt.zero_grad()
                loss.backward()
                opt.step()
        results[device] = model
    for (name, p_cpu), p_gpu in zip(results["cpu"].named_parameters(), results["cuda:1"].parameters()):
        assert p_gpu.device == cugrad.device("cuda:1") and p_gpu.data.device.id == 1, name
        assert p_gpu.grad.data.device.id == 1, name
        np.testing.assert_allclose(p_gpu.numpy(), p_cpu.numpy(), rtol=1e-4, atol=1e-5, err_msg=name)
