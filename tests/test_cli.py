"""The cugrad command: in-process runs through main(argv), and subprocess runs for the error contract
(non-zero exit, one line on stderr, no traceback, no half-written files)."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cugrad import io
from cugrad.cli import main

SRC = str(Path(__file__).resolve().parents[1] / "src")
FAST = ["--samples", "60", "--epochs", "2", "--hidden", "8", "--no-progress", "--no-plots"]


def _cli(tmp_path, *args):
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("CUGRAD_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "cugrad", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


def _files(path):
    return sorted(str(p.relative_to(path)) for p in Path(path).rglob("*"))


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_train_writes_checkpoint_and_reports_accuracy(workdir, capsys):
    assert main(["train", "--data", "xor", *FAST, "--name", "r1", "--epochs", "10", "--hidden", "16,16"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].startswith("test accuracy: ")
    assert float(out[-1].split(": ")[1]) >= 0.99
    ck = io.load(workdir / "runs" / "r1" / "model.safetensors")
    assert ck["kind"] == "cugrad-train" and ck["config"]["hidden_sizes"] == [16, 16]
    assert len(ck["history"]["test_acc"]) == 10


def test_train_draws_pictures(workdir, capsys):
    pytest.importorskip("matplotlib")
    args = [a for a in FAST if a != "--no-plots"]
    assert main(["train", "--data", "donut", *args, "--name", "p"]) == 0
    for name in ("curves.png", "boundary.png", "model.safetensors"):
        data = (workdir / "runs" / "p" / name).read_bytes()
        assert data[:4] == b"\x89PNG" or name.endswith(".safetensors")


def test_eval_on_test_split_and_on_a_file(workdir, capsys):
    assert main(["train", "--data", "xor", *FAST, "--name", "e"]) == 0
    trained = capsys.readouterr().out.strip().splitlines()[-1]
    ck = str(workdir / "runs" / "e" / "model.safetensors")
    assert main(["eval", ck, "--device", "cpu"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == trained
    (workdir / "pts.csv").write_text("x,y,label\n0,0,0\n1,1,0\n0,1,1\n1,0,1\n")
    assert main(["eval", ck, "--data", "pts.csv"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("accuracy: ")


def test_regression_reports_mse(workdir, capsys):
    assert main(["train", "--data", "regression", *FAST, "--name", "reg"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("test mse: ")


def test_resume_equals_one_run(workdir, capsys):
    common = ["--data", "spiral", "--samples", "50", "--hidden", "8", "--schedule", "constant", "--dropout", "0.1",
              "--no-progress", "--no-plots"]
    assert main(["train", *common, "--epochs", "4", "--name", "full"]) == 0
    assert main(["train", *common, "--epochs", "2", "--name", "part"]) == 0
    assert main(["train", "--resume", "runs/part/model.safetensors", "--epochs", "4", "--no-progress",
                 "--no-plots"]) == 0
    a = io.load("runs/full/model.safetensors")
    b = io.load("runs/part/model.safetensors")
    for k in a["model"]:
        np.testing.assert_array_equal(a["model"][k], b["model"][k])
    assert a["history"]["test_loss"] == b["history"]["test_loss"]
    assert a["loader"] == b["loader"]


def test_info(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "cugrad " in out and "numpy " in out and "CUDA kernels:" in out


def test_bench_runs_the_benchmarks_and_writes_the_report(tmp_path, capsys):
    pytest.importorskip("pytest_benchmark")
    out = tmp_path / "bench"
    quick = ["-k", "test_copy and cpu", "--benchmark-min-rounds=1", "--benchmark-max-time=0.01", "-q",
             "-p", "no:cacheprovider"]
    assert main(["bench", "--out", str(out), *quick]) == 0
    assert "benchmarks" in capsys.readouterr().out
    assert (out / "results.json").is_file()
    assert "| copy | cpu |" in (out / "report.md").read_text()


def test_bench_outside_a_checkout_is_one_error_line(tmp_path, monkeypatch, capsys):
    import cugrad
    monkeypatch.setattr(cugrad, "__file__", str(tmp_path / "site-packages" / "cugrad" / "__init__.py"))
    assert main(["bench", "--out", str(tmp_path / "b")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cugrad: error: 'cugrad bench' needs the source checkout's benchmarks/")
    assert not (tmp_path / "b").exists()


def test_only_bench_passes_unknown_arguments_on(capsys):
    assert main(["info", "-k", "x"]) == 2
    assert "unrecognized arguments: -k x" in capsys.readouterr().err


def test_parse_hidden_forms():
    from cugrad.runs import parse_hidden
    assert parse_hidden(["64,64"]) == parse_hidden(["64 64"]) == parse_hidden(["64", "64"]) == [64, 64]
    assert parse_hidden(["none"]) == []


# --------------------------------------------------------------------------- the error contract

def _make_bad_files(tmp_path):
    (tmp_path / "wrong_cols.csv").write_text("x1,x2,label\n1,2,0\n3,4\n")
    (tmp_path / "nan.csv").write_text("1,nan,0\n3,4,1\n")
    (tmp_path / "frac.csv").write_text("1,2,0.5\n3,4,1\n")
    (tmp_path / "junk.safetensors").write_bytes(b"this is not a checkpoint\n" * 4)


@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory):
    d = tmp_path_factory.mktemp("good")
    r = _cli(d, "train", "--data", "xor", *FAST, "--name", "g")
    assert r.returncode == 0, r.stderr
    return d / "runs" / "g" / "model.safetensors"


CASES = [
    (["train", "--bogus"], "unrecognized arguments: --bogus", 2),
    (["frobnicate"], "invalid choice", 2),
    ([], "missing command", 2),
    (["train", "--data", "missing.csv"], "data file 'missing.csv' not found", 1),
    (["train", "--data", "wrong_cols.csv"], "row 3 has 2 columns, expected 3", 1),
    (["train", "--data", "nan.csv"], "NaN", 1),
    (["train", "--data", "frac.csv"], "must be integers", 1),
    (["train", "--hidden", "x"], "--hidden expects positive integers", 1),
    (["train", "--epochs", "0"], "--epochs must be >= 1", 1),
    (["train", "--resume", "junk.safetensors"], "junk.safetensors' is not a safetensors file", 1),
    (["eval", "junk.safetensors"], "not a safetensors file", 1),
    (["eval", "nowhere.safetensors"], "not found", 1),
]


@pytest.mark.parametrize("args,message,code", CASES, ids=[" ".join(c[0]) or "empty" for c in CASES])
def test_user_errors_are_one_line(tmp_path, args, message, code):
    _make_bad_files(tmp_path)
    before = _files(tmp_path)
    r = _cli(tmp_path, *args)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == code, r.stderr
    assert len(lines) == 1 and lines[0].startswith("cugrad: error: ") and message in lines[0], r.stderr
    assert "Traceback" not in r.stderr
    assert _files(tmp_path) == before  # nothing written, not even runs/


def test_truncated_checkpoint(tmp_path, good_checkpoint):
    data = good_checkpoint.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    for cmd in (["eval", "cut.safetensors"], ["train", "--resume", "cut.safetensors", "--no-progress"]):
        r = _cli(tmp_path, *cmd)
        assert r.returncode == 1 and r.stderr.count("\n") == 1 and "truncated" in r.stderr, r.stderr


def test_checkpoint_for_another_architecture(tmp_path, good_checkpoint):
    r = _cli(tmp_path, "train", "--resume", str(good_checkpoint), "--hidden", "32,32", "--no-progress")
    assert r.returncode == 1 and r.stderr.count("\n") == 1
    assert "--hidden [32, 32] does not match the checkpoint" in r.stderr
    # a checkpoint whose weights do not fit its configuration (edited, or from another model)
    ck = io.load(good_checkpoint)
    w = ck["model"]["0.weight"]
    ck["model"]["0.weight"] = np.zeros(w.shape[::-1], np.float32)  # as many values, another shape
    io.save(ck, tmp_path / "other.safetensors")
    r = _cli(tmp_path, "eval", "other.safetensors")
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "shape mismatch for '0.weight'" in r.stderr
    ck["model"]["0.weight"] = np.zeros((3, 2), np.float32)  # fewer values: refused before building the MLP
    io.save(ck, tmp_path / "other.safetensors")
    r = _cli(tmp_path, "eval", "other.safetensors")
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert "is corrupt: its configuration (MLP 2→8→2, 42 parameters) does not match its 32 stored weights" in r.stderr
    # data with another number of features than the model
    (tmp_path / "three.csv").write_text("1,2,3,0\n4,5,6,1\n")
    r = _cli(tmp_path, "eval", str(good_checkpoint), "--data", "three.csv")
    assert r.returncode == 1 and "has 3 feature(s)" in r.stderr and r.stderr.count("\n") == 1


def test_foreign_safetensors_file(tmp_path):
    from safetensors.numpy import save_file
    save_file({"w": np.ones(2, np.float32)}, str(tmp_path / "hf.safetensors"))
    r = _cli(tmp_path, "eval", "hf.safetensors")
    assert r.returncode == 1 and "not a cugrad checkpoint" in r.stderr and r.stderr.count("\n") == 1


def test_default_train_help_mentions_flags(tmp_path):
    r = _cli(tmp_path, "train", "--help")
    assert r.returncode == 0
    for flag in ("--data", "--hidden", "--activation", "--batch-size", "--epochs", "--lr", "--optimizer",
                 "--momentum", "--weight-decay", "--device", "--precision", "--seed", "--out", "--name",
                 "--resume", "--checkpoint", "--no-plots"):
        assert flag in r.stdout
