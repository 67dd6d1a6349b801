"""cugrad.optim: updates equal the textbook formulas; schedulers; state_dict; bit-exact resume."""
import math

import numpy as np
import pytest

import cugrad
from cugrad import io, nn, optim
from cugrad.data import DataLoader, spiral
from cugrad.nn import Parameter
from cugrad.optim import lr_scheduler

A = np.array([3.0, 0.5])   # loss(p) = ½ Σ A p²  →  ∇ = A ⊙ p
P0 = np.array([1.0, -2.0])


def _run(opt_factory, steps):
    p = Parameter(P0.copy())
    opt = opt_factory([p])
    for _ in range(steps):
        loss = (cugrad.Tensor(A) * p * p).sum() * 0.5
        opt.zero_grad()
        loss.backward()
        opt.step()
    return p.numpy(), opt


def _sgd_reference(steps, lr, momentum=0.0, dampening=0.0, nesterov=False, wd=0.0):
    p, buf = P0.copy(), None
    for _ in range(steps):
        g = A * p + wd * p
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g
    return p


@pytest.mark.parametrize("kw", [
    dict(),
    dict(momentum=0.9),
    dict(momentum=0.9, nesterov=True),
    dict(momentum=0.5, dampening=0.3),
    dict(momentum=0.9, weight_decay=0.1),
    dict(weight_decay=0.05),
])
def test_sgd_matches_textbook(kw):
    got, _ = _run(lambda ps: optim.SGD(ps, lr=0.1, **kw), 6)
    ref = _sgd_reference(6, 0.1, kw.get("momentum", 0.0), kw.get("dampening", 0.0), kw.get("nesterov", False),
                         kw.get("weight_decay", 0.0))
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-14)


def _adam_reference(steps, lr, b1=0.9, b2=0.999, eps=1e-8, wd=0.0, decoupled=False):
    p, m, v = P0.copy(), np.zeros(2), np.zeros(2)
    for t in range(1, steps + 1):
        if decoupled:
            p = p * (1 - lr * wd)
            g = A * (p / (1 - lr * wd))  # the gradient is taken before the decay
        else:
            g = A * p + wd * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        mhat, vhat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        p = p - lr * mhat / (np.sqrt(vhat) + eps)
    return p


@pytest.mark.parametrize("cls,wd", [(optim.Adam, 0.0), (optim.Adam, 0.1), (optim.AdamW, 0.1), (optim.AdamW, 0.0)])
def test_adam_family_matches_textbook(cls, wd):
    got, opt = _run(lambda ps: cls(ps, lr=0.05, betas=(0.8, 0.95), eps=1e-6, weight_decay=wd), 7)
    ref = _adam_reference(7, 0.05, 0.8, 0.95, 1e-6, wd, decoupled=cls is optim.AdamW)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-14)
    assert opt.state[0]["step"] == 7


def test_params_without_grad_are_skipped_and_zero_grad_modes():
    a, b = Parameter(np.ones(2)), Parameter(np.ones(2))
    opt = optim.SGD([a, b], lr=1.0)
    (a * a).sum().backward()
    opt.step()
    np.testing.assert_array_equal(b.numpy(), 1.0)
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(a.grad.numpy(), 0.0)
    opt.zero_grad()
    assert a.grad is None


def test_bad_hyperparameters():
    p = [Parameter(np.ones(1))]
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD(p, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="lr"):
        optim.Adam(p, lr=-1.0)
    with pytest.raises(ValueError, match="empty"):
        optim.SGD([], lr=0.1)


def test_optimizer_state_dict_round_trip_and_mismatch():
    _, opt = _run(lambda ps: optim.Adam(ps, lr=0.1), 3)
    sd = opt.state_dict()
    p = Parameter(P0.copy())
    opt2 = optim.Adam([p], lr=0.5)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == 0.1 and opt2.state[0]["step"] == 3
    assert opt2.state[0]["exp_avg"] is not sd["state"][0]["exp_avg"]  # copied
    bad = optim.Adam([Parameter(np.ones(3))], lr=0.1)
    with pytest.raises(ValueError, match=r"shape \(2,\), the parameter has \(3,\)"):
        bad.load_state_dict(sd)
    with pytest.raises(ValueError, match="group 0 has 1 parameters, optimizer has 2"):
        optim.Adam([Parameter(np.ones(2)), Parameter(np.ones(2))], lr=0.1).load_state_dict(sd)


# --------------------------------------------------------------------------- schedulers

def _lrs(make, n):
    opt = optim.SGD([Parameter(np.ones(1))], lr=1.0)
    s = make(opt)
    out = [opt.param_groups[0]["lr"]]
    for _ in range(n):
        s.step()
        out.append(opt.param_groups[0]["lr"])
    return out


def test_step_lr():
    assert _lrs(lambda o: lr_scheduler.StepLR(o, 2, gamma=0.5), 5) == [1, 1, 0.5, 0.5, 0.25, 0.25]


def test_cosine():
    got = _lrs(lambda o: lr_scheduler.CosineAnnealingLR(o, 4, eta_min=0.1), 6)
    ref = [0.1 + 0.9 * (1 + math.cos(math.pi * min(t, 4) / 4)) / 2 for t in range(7)]
    np.testing.assert_allclose(got, ref)
    assert got[4] == pytest.approx(0.1) and got[6] == pytest.approx(0.1)


def test_linear_warmup_then_cosine():
    def make(o):
        return lr_scheduler.LinearWarmup(o, 4, start_factor=0.0, after=lr_scheduler.CosineAnnealingLR(o, 2))
    np.testing.assert_allclose(_lrs(make, 7), [0, 0.25, 0.5, 0.75, 1.0, 0.5, 0.0, 0.0], atol=1e-12)


def test_scheduler_state_round_trip():
    opt = optim.SGD([Parameter(np.ones(1))], lr=1.0)
    s = lr_scheduler.StepLR(opt, 1, gamma=0.5)
    for _ in range(3):
        s.step()
    opt2 = optim.SGD([Parameter(np.ones(1))], lr=1.0)
    s2 = lr_scheduler.StepLR(opt2, 1, gamma=0.5)
    s2.load_state_dict(s.state_dict())
    assert opt2.param_groups[0]["lr"] == 0.125


# --------------------------------------------------------------------------- resume

def _setup(seed=0):
    cugrad.manual_seed(seed)
    model = nn.MLP([2, 16, 16, 3], dropout=0.2)  # dropout: the global RNG state matters too
    opt = optim.AdamW(model.parameters(), lr=1e-2, weight_decay=1e-2)
    loader = DataLoader(spiral(40, seed=0), 16, seed=seed)  # 120 samples: 8 batches/epoch
    return model, opt, loader


def _steps(model, opt, loader, n, order):
    it = iter(loader)
    lossf = nn.CrossEntropyLoss()
    for _ in range(n):
        try:
            xb, yb = next(it)
        except StopIteration:
            it = iter(loader)
            xb, yb = next(it)
        order.append(yb.numpy().copy())
        loss = lossf(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()


@pytest.mark.parametrize("n,m", [(5, 14), (8, 3), (11, 10)])
def test_resume_is_bit_exact(tmp_path, n, m):
    ref_model, ref_opt, ref_loader = _setup()
    ref_order = []
    _steps(ref_model, ref_opt, ref_loader, n + m, ref_order)

    model, opt, loader = _setup()
    order = []
    _steps(model, opt, loader, n, order)
    io.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "loader": loader.state_dict(),
             "rng": cugrad.get_rng_state()}, tmp_path / "ck.safetensors")
    del model, opt, loader

    cugrad.manual_seed(12345)  # scramble everything the checkpoint must restore
    model, opt, loader = _setup(seed=99)
    ck = io.load(tmp_path / "ck.safetensors")
    model.load_state_dict(ck["model"])
    opt.load_state_dict(ck["optimizer"])
    loader.load_state_dict(ck["loader"])
    cugrad.set_rng_state(ck["rng"])
    _steps(model, opt, loader, m, order)

    for a, b in zip(ref_order, order):
        np.testing.assert_array_equal(a, b)
    for (name, a), b in zip(ref_model.state_dict().items(), model.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=name)
    for k, st in ref_opt.state.items():
        for key in ("exp_avg", "exp_avg_sq"):
            np.testing.assert_array_equal(st[key], opt.state[k][key])
        assert st["step"] == opt.state[k]["step"]


@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
                                  lambda ps: optim.Adam(ps, lr=0.1)], ids=["sgd-momentum", "adam"])
def test_a_refused_step_leaves_no_state_behind(make):
    """A step the update kernel refuses (here a gradient of the wrong shape) must not half-create
    state: no unfilled momentum buffer taken as real, no Adam step counted. The next good step
    equals a fresh optimizer's first step."""
    p, fresh = Parameter(P0.copy()), Parameter(P0.copy())
    opt, fresh_opt = make([p]), make([fresh])
    p.grad = cugrad.tensor(np.ones(3))
    with pytest.raises(ValueError, match=r"grad shape \(3,\) != param shape \(2,\)"):
        opt.step()
    assert all("momentum_buffer" not in s and s.get("step", 0) == 0 for s in opt.state.values())
    for q in (p, fresh):
        q.grad = cugrad.tensor(A * P0)
    opt.step()
    fresh_opt.step()
    np.testing.assert_array_equal(p.numpy(), fresh.numpy())
    opt.step()
    fresh_opt.step()
    np.testing.assert_array_equal(p.numpy(), fresh.numpy())


def test_adam_refuses_to_be_captured_into_a_cuda_graph(monkeypatch):
    from cugrad import graphs

    p = cugrad.nn.Parameter(cugrad.ones(3))
    p.grad = cugrad.ones(3)
    opt = cugrad.optim.Adam([p], lr=0.1)
    monkeypatch.setattr(graphs, "is_capturing", lambda: True)
    with pytest.raises(graphs.GraphCaptureError, match="Adam: its step count"):
        opt.step()
    np.testing.assert_array_equal(p.numpy(), np.ones(3))


@pytest.mark.gpu
@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9), lambda ps: optim.Adam(ps)])
def test_state_left_on_the_old_device_is_a_clear_error_and_reloading_moves_it(make):
    model = nn.Linear(3, 2)
    opt = make(model.parameters())
    model(cugrad.ones(4, 3)).sum().backward()
    opt.step()                                    # state now lives on the CPU
    model.to("cuda")
    model(cugrad.ones(4, 3, device="cuda")).sum().backward()
    with pytest.raises(RuntimeError, match=r"is on cpu, the parameter on cuda:0 .*reload its state_dict"):
        opt.step()
    opt.load_state_dict(opt.state_dict())         # moves the state next to the parameters
    opt.step()
    assert all(p.device == cugrad.device("cuda") for p in model.parameters())


@pytest.mark.parametrize("cls", [optim.Adam, optim.AdamW])
def test_capturable_adam_takes_the_same_steps_and_resumes_from_its_state_dict(device, cls):
    """capturable=True keeps a GPU parameter's step count on the GPU (read by the kernel, so a
    captured step replays with the right bias correction): the same updates as the host count, on
    every device, and its state_dict resumes either kind of optimizer."""
    rng = np.random.default_rng(4)
    p0, grads = rng.standard_normal(50).astype(np.float32), rng.standard_normal((6, 50)).astype(np.float32)
    ps = [Parameter(cugrad.tensor(p0, device=device)) for _ in range(3)]
    opts = [cls([ps[0]], lr=0.05), cls([ps[1]], lr=0.05, capturable=True), None]
    for k, g in enumerate(grads):
        if k == 3:      # the third resumes the capturable one's state after three steps
            opts[2] = cls([ps[2]], lr=0.05)
            ps[2].data[...] = ps[1].data
            opts[2].load_state_dict(opts[1].state_dict())
        for p, opt in zip(ps, opts):
            if opt is not None:
                p.grad = cugrad.tensor(g, device=device)
                opt.step()
    step = opts[1].state[0]["step"]
    assert (cugrad.backend.is_array(step) and step.shape == () and step.dtype == np.float64) == (device != "cpu")
    assert float(step) == 6.0
    for p in ps[1:]:
        np.testing.assert_allclose(p.numpy(), ps[0].numpy(), rtol=1e-6, atol=1e-7)
