"""ONNX export: the graph passes onnx.checker, and ONNX Runtime's output equals cugrad's forward
(float32, 1e-5) for every activation, LayerNorm and Dropout, at several batch sizes."""
from __future__ import annotations

import os

import numpy as np
import pytest
from optional import need

import cugrad
from cugrad import nn


@pytest.fixture(scope="module")
def onnx():
    return need("onnx", "'.[onnx]'")


@pytest.fixture(scope="module")
def ort():
    return need("onnxruntime", "'.[onnx]'")


def _random_weights(model, seed=0):
    """Non-trivial values everywhere (LayerNorm's ones/zeros and zero biases would hide mistakes)."""
    rng = np.random.default_rng(seed)
    with cugrad.no_grad():
        for p in model.parameters():
            p[...] = rng.normal(scale=0.7, size=p.shape).astype(p.dtype)


def _check(onnx, ort, model, path, widths, batches=(1, 7, 64), atol=1e-5):
    example = cugrad.randn(3, widths)
    cugrad.onnx.export(model, path, example)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    model.eval()
    for batch in batches:
        x = np.random.default_rng(batch).normal(scale=2.0, size=(batch, widths)).astype(np.float32)
        (got,) = session.run(None, {"input": x})
        with cugrad.no_grad():
            want = model(cugrad.tensor(x)).numpy()
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=atol)
    return proto


@pytest.mark.parametrize("activation", sorted(nn.ACTIVATIONS))
def test_mlp_of_every_activation_runs_the_same_in_onnx_runtime(onnx, ort, tmp_path, activation):
    model = nn.MLP([6, 32, 16, 4], activation=activation, dropout=0.25)
    _random_weights(model)
    proto = _check(onnx, ort, model, tmp_path / "mlp.onnx", 6)
    assert proto.opset_import[0].version == cugrad.onnx.DEFAULT_OPSET
    names = {i.name for i in proto.graph.initializer}
    assert {"0.weight", "0.bias", "3.weight", "6.bias"} <= names       # the state_dict's names
    assert "Dropout" not in {n.op_type for n in proto.graph.node}


def test_layernorm_linear_with_fused_activation_and_nested_sequential(onnx, ort, tmp_path):
    model = nn.Sequential(
        nn.Linear(5, 8, activation="leaky_relu", negative_slope=0.2),
        nn.LayerNorm(8, eps=1e-3),
        nn.Sequential(nn.Linear(8, 8, bias=False), nn.LeakyReLU(0.3), nn.Identity()),
        nn.LayerNorm(8, elementwise_affine=False),
        nn.Linear(8, 8), nn.GELU(approximate="none"), nn.Linear(8, 8), nn.Softplus(beta=2.0, threshold=1.5),
        nn.Linear(8, 8), nn.ELU(0.5),
        nn.Linear(8, 2, activation="sigmoid"),
    )
    _random_weights(model, seed=4)
    proto = _check(onnx, ort, model, tmp_path / "ln.onnx", 5)
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count("LayerNormalization") == 2 and ops.count("Gemm") == 6 and "Erf" in ops and "Where" in ops


def test_batch_axis_is_symbolic_or_fixed(onnx, ort, tmp_path):
    model = nn.MLP([3, 4, 2])
    proto = cugrad.onnx.export(model, tmp_path / "d.onnx", cugrad.randn(5, 3))
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and dims[1].dim_value == 3
    assert proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "batch"

    fixed = cugrad.onnx.export(model, tmp_path / "f.onnx", cugrad.randn(5, 3), dynamic_batch=False)
    assert fixed.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 5
    session = ort.InferenceSession(str(tmp_path / "f.onnx"), providers=["CPUExecutionProvider"])
    with pytest.raises(Exception, match="(?i)dimension|shape"):
        session.run(None, {"input": np.zeros((2, 3), np.float32)})


def test_export_describes_eval_mode_and_keeps_the_training_flag(onnx, ort, tmp_path):
    model = nn.MLP([4, 16, 3], dropout=0.9)
    assert model.training
    _check(onnx, ort, model.train(), tmp_path / "t.onnx", 4, batches=(9,))
    model.train()
    cugrad.onnx.export(model, tmp_path / "t.onnx", cugrad.randn(2, 4))
    assert all(m.training for m in model.modules())


def test_modules_it_cannot_export_are_named(onnx, tmp_path):
    class Doubler(nn.Module):
        def forward(self, x):
            return x * 2

    model = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.ReLU(), Doubler()))
    with pytest.raises(TypeError, match=r"cannot export module '1.1' \(Doubler\); ONNX export supports Sequential, Linear"):
        cugrad.onnx.export(model, tmp_path / "x.onnx", cugrad.randn(1, 2))
    assert not (tmp_path / "x.onnx").exists()
    with pytest.raises(TypeError, match=r"cannot export a Doubler"):
        cugrad.onnx.export(Doubler(), tmp_path / "x.onnx", cugrad.randn(1, 2))


def test_bad_arguments_are_refused_before_anything_is_written(onnx, tmp_path):
    model = nn.MLP([3, 4, 2])
    with pytest.raises(ValueError, match=r"opset must be an int >= 17"):
        cugrad.onnx.export(model, tmp_path / "m.onnx", cugrad.randn(2, 3), opset=13)
    with pytest.raises(ValueError, match=r"example_input must be 2-D \(batch, features\), got shape \(3,\)"):
        cugrad.onnx.export(model, tmp_path / "m.onnx", cugrad.randn(3))
    with pytest.raises(ValueError, match="linear"):
        cugrad.onnx.export(model, tmp_path / "m.onnx", cugrad.randn(2, 5))
    with pytest.raises(TypeError, match="model must be a cugrad nn.Module"):
        cugrad.onnx.export(lambda x: x, tmp_path / "m.onnx", cugrad.randn(2, 3))
    assert not (tmp_path / "m.onnx").exists()


def test_float64_models_export_as_double(onnx, ort, tmp_path):
    model = nn.MLP([3, 5, 2], activation="tanh").to(dtype="float64")
    path = tmp_path / "d.onnx"
    proto = cugrad.onnx.export(model, path, np.zeros((1, 3)))
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    x = np.random.default_rng(0).normal(size=(4, 3))
    (got,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})
    with cugrad.no_grad():
        np.testing.assert_allclose(got, model(cugrad.tensor(x)).numpy(), rtol=1e-12, atol=1e-12)


def test_cli_export_of_a_trained_checkpoint_takes_raw_features(onnx, ort, tmp_path, monkeypatch, capsys):
    """`cugrad export`: the graph standardises its input as training did, so raw features give the
    same logits as cugrad's own model on the standardised ones."""
    from cugrad.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["train", "--data", "blobs", "--samples", "40", "--epochs", "2", "--hidden", "8,8",
                 "--activation", "gelu", "--dropout", "0.1", "--no-progress", "--no-plots", "--name", "r"]) == 0
    assert main(["export", "runs/r/model.safetensors", "model.onnx"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("wrote model.onnx: MLP ")
    proto = onnx.load("model.onnx")
    onnx.checker.check_model(proto, full_check=True)
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["cugrad.task"] == "classification" and props["cugrad.activation"] == "gelu"

    ckpt = cugrad.load("runs/r/model.safetensors")
    model = nn.MLP([ckpt["config"]["n_features"], 8, 8, ckpt["config"]["n_outputs"]], activation="gelu",
                   dropout=0.1).eval()
    model.load_state_dict(ckpt["model"])
    raw = np.random.default_rng(3).normal(scale=3.0, size=(11, ckpt["config"]["n_features"])).astype(np.float32)
    (got,) = ort.InferenceSession("model.onnx", providers=["CPUExecutionProvider"]).run(None, {"input": raw})
    norm = ckpt["normalize"]
    with cugrad.no_grad():
        want = model(cugrad.tensor((raw - norm["mean"]) / norm["std"])).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("args, message", [
    (["missing.safetensors", "m.onnx"], "checkpoint 'missing.safetensors' not found"),
    (["ck.safetensors", "m.onnx", "--opset", "13"], "--opset must be >= 17 (LayerNormalization), got 13"),
    (["ck.safetensors", "no/such/dir/m.onnx"], "cannot access"),
])
def test_cli_export_errors_are_one_line(onnx, tmp_path, monkeypatch, capsys, args, message):
    from cugrad.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["train", "--data", "xor", "--samples", "20", "--epochs", "1", "--hidden", "4", "--no-progress",
                 "--no-plots", "--out", ".", "--name", "x"]) == 0
    os.replace("x/model.safetensors", "ck.safetensors")
    capsys.readouterr()
    assert main(["export", *args]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cugrad: error: ") and message in err[0]
    assert not os.path.exists("m.onnx")
