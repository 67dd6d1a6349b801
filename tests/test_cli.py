"""The cugrad command: in-process runs through main(argv), and subprocess runs for the error contract
(non-zero exit, one line on stderr, no traceback, no half-written files)."""
import json
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
    from cugrad.cli.runs import parse_hidden
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
    assert r.returncode == 1 and "was not written by 'cugrad train'" in r.stderr and r.stderr.count("\n") == 1


def test_default_train_help_mentions_flags(tmp_path):
    r = _cli(tmp_path, "train", "--help")
    assert r.returncode == 0
    for flag in ("--data", "--hidden", "--activation", "--batch-size", "--epochs", "--lr", "--optimizer",
                 "--momentum", "--weight-decay", "--device", "--precision", "--seed", "--out", "--name",
                 "--resume", "--checkpoint", "--no-plots"):
        assert flag in r.stdout


# --------------------------------------------------------------------------- class names travel with the checkpoint

def _pets(path, names, n=20, seed=0):
    """Three well-separated clusters labelled by name; ``names`` picks which to write."""
    rng = np.random.default_rng(seed)
    centres = {"cat": (0, 0), "dog": (6, 0), "emu": (0, 6)}
    rows = [f"{cx + dx:.3f},{cy + dy:.3f},{name}" for name in names for (cx, cy) in [centres[name]]
            for dx, dy in rng.normal(scale=0.3, size=(n, 2))]
    path.write_text("a,b,label\n" + "\n".join(rows) + "\n")


def test_eval_uses_the_checkpoints_class_names(workdir, capsys):
    _pets(workdir / "pets.csv", ["cat", "dog", "emu"])
    _pets(workdir / "nocats.csv", ["dog", "emu"], seed=1)
    assert main(["train", "--data", "pets.csv", "--epochs", "15", "--batch-size", "8", "--hidden", "16",
                 "--no-progress", "--no-plots", "--name", "pets"]) == 0
    ck = "runs/pets/model.safetensors"
    assert io.load(ck)["config"]["classes"] == ["cat", "dog", "emu"]
    capsys.readouterr()
    assert main(["eval", ck, "--data", "pets.csv"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "accuracy: 1.000"
    assert main(["eval", ck, "--data", "nocats.csv"]) == 0  # dog is still class 1, emu class 2
    assert capsys.readouterr().out.strip().splitlines()[-1] == "accuracy: 1.000"
    (workdir / "wolf.csv").write_text("a,b,label\n0,0,cat\n9,9,wolf\n")
    assert main(["eval", ck, "--data", "wolf.csv"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["cugrad: error: class label 'wolf' at row 3 in 'wolf.csv' is not one of the model's 3 classes "
                   "(cat, dog, emu)"]


def test_eval_maps_renumbered_numeric_labels(workdir, capsys):
    """-1/0/+1 labels are numbered 0/1/2 in training; a file without -1 must keep 0 and +1 as classes 1
    and 2 (renumbering it on its own would make them 0 and 1)."""
    rng = np.random.default_rng(0)
    rows = [f"{x:.3f},{label}" for label in (-1, 0, 1) for x in rng.normal(loc=4 * label, scale=0.3, size=20)]
    (workdir / "three.csv").write_text("x,y\n" + "\n".join(rows) + "\n")
    (workdir / "no_minus.csv").write_text("x,y\n" + "\n".join(r for r in rows if not r.endswith(",-1")) + "\n")
    assert main(["train", "--data", "three.csv", "--epochs", "20", "--batch-size", "8", "--hidden", "8",
                 "--no-progress", "--no-plots", "--name", "pm"]) == 0
    assert io.load("runs/pm/model.safetensors")["config"]["classes"] == [-1, 0, 1]
    capsys.readouterr()
    for name in ("three.csv", "no_minus.csv"):
        assert main(["eval", "runs/pm/model.safetensors", "--data", name]) == 0
        assert capsys.readouterr().out.strip().splitlines()[-1] == "accuracy: 1.000", name


# --------------------------------------------------------------------------- hostile input: one line, nothing written

def _hostile_files(d):
    (d / "two_rows.csv").write_text("1,2,0\n3,4,1\n")
    (d / "singletons.csv").write_text("1,2,0\n3,4,1\n5,6,2\n")
    (d / "big_label.csv").write_text("1,2,2000000000\n3,4,0\n5,6,1\n")
    (d / "e20_label.csv").write_text("1,2,1e20\n3,4,0\n5,6,1\n")
    (d / "frac_label.csv").write_text("1,2,1.5\n3,4,0\n")
    (d / "big_feature.csv").write_text("1,1e300,0\n3,4,1\n1,2,0\n3,4,1\n")
    (d / "header_only.csv").write_text("a,b,label\n")
    (d / "names.csv").write_text("a,b,label\n1,2,cat\n3,4,dog\n")
    np.save(d / "cplx.npy", np.ones((4, 2)) + 1j)
    np.save(d / "cplx_labels.npy", np.array([0, 1, 0, 1]))
    np.save(d / "feat.npy", np.ones((4, 2)))
    np.save(d / "y0d.npy", np.array(1.0))
    np.savez(d / "nokeys.npz", a=np.ones(3))
    (d / "folder.csv").mkdir()
    (d / "a_file").write_text("x")


TINY = ["--epochs", "1", "--hidden", "4", "--no-progress", "--no-plots"]
HOSTILE = [
    (["--samples", "0"], "--samples must be an integer in [1, 100,000,000], got 0"),
    (["--samples", "1"], "the test split of 'spiral' is empty: 3 samples in 3 classes"),
    (["--samples", "10000000000"], "--samples must be an integer in [1, 100,000,000], got 10000000000"),
    (["--seed", "-1"], "--seed must be an integer in [0, 2**63), got -1"),
    (["--seed", str(2**64)], "--seed must be an integer in [0, 2**63)"),
    (["--hidden", "1000000,1000000"], "--hidden 1000000,1000000: an MLP 2→1000000→1000000→3 has 1,000,007,000,003 "
                                      "parameters and needs about"),
    (["--hidden", str(10**20)], "--hidden 100000000000000000000: an MLP"),
    (["--lr", "nan"], "--lr must be a finite number > 0, got nan"),
    (["--lr", "inf"], "--lr must be a finite number > 0, got inf"),
    (["--weight-decay", "inf"], "--weight-decay must be a finite number >= 0, got inf"),
    (["--weight-decay", "nan"], "--weight-decay must be a finite number >= 0, got nan"),
    (["--momentum", "nan"], "--momentum must be in [0, 1), got nan"),
    (["--dropout", "inf"], "--dropout must be in [0, 1), got inf"),
    (["--test-fraction", "nan"], "--test-fraction must be in (0, 1), got nan"),
    (["--lr", "1e300", "--samples", "20"], "training diverged in epoch 1: the test loss is nan (try a lower --lr than 1e+300); "
                        "no checkpoint was written"),
    (["--data", "two_rows.csv", "--samples", "1"], "--samples applies to built-in data sets"),
    (["--data", ""], "--data must be a built-in data set or a file, got ''"),
    (["--data", "folder.csv"], "data path 'folder.csv' is a directory"),
    (["--out", "a_file"], "Not a directory"),
    (["--checkpoint", "-1"], "--checkpoint must be none, sqrt or a positive number of segments, got '-1'"),
]
HOSTILE_FILES = [
    ("two_rows.csv", "the test split of 'two_rows' is empty: 2 samples in 2 classes"),
    ("singletons.csv", "the test split of 'singletons' is empty"),
    ("big_label.csv", "class label 2000000000 at row 1 in 'big_label.csv' is out of range"),
    ("e20_label.csv", "class label 1e+20 at row 1 in 'e20_label.csv' is out of range"),
    ("frac_label.csv", "must be integers, got 1.5 at row 1"),
    ("big_feature.csv", "features in 'big_feature.csv' hold 1e+300 at row 1, column 2, beyond float32's range"),
    ("header_only.csv", "has a header but no data rows"),
    ("cplx.npy", "features in 'cplx.npy' must be real numbers, got dtype complex128"),
    ("nokeys.npz", "must hold arrays 'X' and 'y'"),
]


@pytest.mark.parametrize("args,message", HOSTILE + [(["--data", f], m) for f, m in HOSTILE_FILES],
                         ids=[" ".join(a) for a, _ in HOSTILE] + [f for f, _ in HOSTILE_FILES])
def test_hostile_train_input_is_one_error_line(workdir, capsys, args, message):
    _hostile_files(workdir)
    before = _files(workdir)
    assert main(["train", *TINY, *args]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cugrad: error: ") and message in err[0], err
    assert "internal error" not in err[0]
    assert _files(workdir) == before  # no run folder, not even runs/


def test_test_fraction_leaving_no_training_samples(workdir, capsys):
    _hostile_files(workdir)
    assert main(["train", "--data", "singletons.csv", "--test-fraction", "0.9", "--no-progress"]) == 1
    assert "the training split of 'singletons' is empty" in capsys.readouterr().err
    assert not (workdir / "runs").exists()


def test_out_of_memory_is_one_line_naming_the_flag(workdir, capsys, monkeypatch):
    from cugrad.cli import runs, train
    monkeypatch.setattr(runs, "device_memory", lambda device: 400)  # a tiny machine: 27 parameters need 432 bytes
    assert main(["train", *TINY]) == 1
    assert "--hidden 4: an MLP 2→4→3 has 27 parameters and needs about" in capsys.readouterr().err
    monkeypatch.undo()

    def no_memory(cfg):
        raise MemoryError("Unable to allocate 9 TiB")
    monkeypatch.setattr(train, "build_model", no_memory)
    assert main(["train", *TINY]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["cugrad: error: out of memory (Unable to allocate 9 TiB); try a smaller --batch-size, --hidden "
                   "or data set"]
    assert not (workdir / "runs").exists()


# --------------------------------------------------------------------------- divergence, warnings, damaged checkpoints

def test_diverged_run_exits_non_zero_without_nonfinite_weights(tmp_path):
    r = _cli(tmp_path, "train", "--optimizer", "sgd", "--lr", "1e6", "--samples", "50", "--epochs", "2",
             "--no-progress", "--no-plots", "--name", "d")
    assert r.returncode == 1
    assert r.stderr.splitlines() == [r.stderr.strip()]  # one line: no RuntimeWarning noise
    assert r.stderr.startswith("cugrad: error: training diverged in epoch ") and "try a lower --lr than 1e+06" in r.stderr
    ck = tmp_path / "runs" / "d" / "model.safetensors"
    if ck.exists():  # the last epoch that stayed finite
        state = io.load(ck)
        assert all(np.isfinite(w).all() for w in state["model"].values())
        assert f"{os.path.join('runs', 'd', 'model.safetensors')} keeps epoch {state['history']['epoch'][-1]}" in r.stderr
    else:
        assert "no checkpoint was written" in r.stderr and not (tmp_path / "runs").exists()


def test_complex_data_is_one_error_line_without_warnings(tmp_path):
    np.save(tmp_path / "c.npy", np.ones((4, 2)) + 1j)
    np.save(tmp_path / "c_labels.npy", np.array([0, 1, 0, 1]))
    r = _cli(tmp_path, "train", "--data", "c.npy", "--no-progress")
    assert r.returncode == 1 and r.stderr == "cugrad: error: features in 'c.npy' must be real numbers, got dtype complex128\n"


def _edit_header(good_checkpoint, tmp_path, edit):
    """A copy of the checkpoint whose stored structure ``edit`` changed, the old checksum kept."""
    data = good_checkpoint.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    structure = json.loads(header["__metadata__"]["structure"])
    edit(structure)
    header["__metadata__"]["structure"] = json.dumps(structure, separators=(",", ":"))
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    p = tmp_path / "bad.safetensors"
    p.write_bytes(len(raw).to_bytes(8, "little") + raw + data[8 + n:])
    return p


def test_one_flipped_bit_in_the_stored_seed_is_a_corrupt_checkpoint(tmp_path, good_checkpoint):
    data = bytearray(good_checkpoint.read_bytes())
    at = data.index(b'\\"seed\\":0') + len(b'\\"seed\\":')  # the config's seed comes first
    data[at] ^= 1
    (tmp_path / "bad.safetensors").write_bytes(bytes(data))
    for cmd in (["eval", "bad.safetensors"], ["train", "--resume", "bad.safetensors", "--epochs", "3", "--no-progress"]):
        r = _cli(tmp_path, *cmd)
        assert r.returncode == 1 and r.stderr == ("cugrad: error: checkpoint 'bad.safetensors' is corrupt: its metadata "
                                                  "or tensor data fail the CRC-32 check\n"), r.stderr
    assert sorted(os.listdir(tmp_path)) == ["bad.safetensors"]


@pytest.mark.parametrize("edit", [lambda s: s["config"].update(activation="relt"),
                                  lambda s: s["config"].update(epochs="2"),
                                  lambda s: s["config"].pop("seed"),
                                  lambda s: s.pop("history")], ids=["activation", "epochs type", "no seed", "no history"])
def test_edited_header_is_a_corrupt_checkpoint(workdir, capsys, good_checkpoint, edit):
    _edit_header(good_checkpoint, workdir, edit)
    assert main(["eval", "bad.safetensors"]) == 1
    assert capsys.readouterr().err == ("cugrad: error: checkpoint 'bad.safetensors' is corrupt: its metadata or tensor "
                                       "data fail the CRC-32 check\n")


def _resave(good_checkpoint, path, mutate):
    """A checkpoint with consistent checksums but contents cugrad train never writes."""
    ck = io.load(good_checkpoint)
    mutate(ck)
    io.save(ck, path)
    return path


@pytest.mark.parametrize("mutate,message", [
    (lambda c: c["config"].update(activation="relt"), "its config has activation = 'relt', which is not one of relu"),
    (lambda c: c["config"].update(activation=["relu"]), "its config has activation = ['relu'], which is not one of"),
    (lambda c: c["config"].update(optimizer={"adam": 1}), "its config has optimizer = {'adam': 1}"),
    (lambda c: c["config"].pop("n_features"), "its config lacks 'n_features'"),
    (lambda c: c["config"].update(hidden_sizes=["8"]), "its config has hidden_sizes = ['8']"),
    (lambda c: c["config"].update(seed=-1), "its config has seed = -1"),
    (lambda c: c["config"].update(hidden_sizes=[10**12]), "does not match its 42 stored weights"),
    (lambda c: c["config"].update(classes=["a"]), "1 class names for 2 outputs"),
    (lambda c: c.update(config=[1]), "its config is a list"),
    (lambda c: c.update(history={"epoch": [1]}), "its history is not lists of numbers of equal length"),
    (lambda c: c["history"]["test_acc"].__setitem__(-1, "x"), "its history is not lists of numbers"),
    (lambda c: c.update(normalize={"mean": 0}), "its normalization is not finite mean and positive std"),
    (lambda c: c["model"]["0.weight"].__setitem__((0, 0), np.nan), "the model's '0.weight' holds NaN/inf"),
], ids=["activation", "activation list", "optimizer dict", "missing key", "hidden type", "seed", "huge hidden",
        "classes", "config type", "history", "history value", "normalize", "nan weight"])
def test_inconsistent_checkpoint_is_corrupt(workdir, capsys, good_checkpoint, mutate, message):
    _resave(good_checkpoint, workdir / "bad.safetensors", mutate)
    for cmd in (["eval", "bad.safetensors"], ["train", "--resume", "bad.safetensors", "--epochs", "3", "--no-progress"]):
        assert main(cmd) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("cugrad: error: checkpoint 'bad.safetensors' ") and message in err[0], err
    assert sorted(os.listdir(workdir)) == ["bad.safetensors"]


@pytest.mark.parametrize("part,value", [("loader", {"epoch": "x"}), ("rng", 5), ("scheduler", None),
                                        ("optimizer", {"state": 1})])
def test_resume_with_a_damaged_state_is_corrupt(workdir, capsys, good_checkpoint, part, value):
    _resave(good_checkpoint, workdir / "bad.safetensors", lambda c: c.update({part: value}))
    assert main(["train", "--resume", "bad.safetensors", "--epochs", "3", "--no-progress"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"checkpoint 'bad.safetensors' is corrupt: its {part} state does not load" in err[0]


# --------------------------------------------------------------------------- run names, help, pictures

def test_reused_name_needs_overwrite(workdir, capsys):
    assert main(["train", "--data", "xor", *FAST, "--name", "r"]) == 0
    first = (workdir / "runs" / "r" / "model.safetensors").read_bytes()
    (workdir / "runs" / "r" / "boundary.png").write_bytes(b"the old run's picture")
    assert main(["train", "--data", "regression", *FAST, "--name", "r"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["cugrad: error: --name r: 'runs/r' already holds a run; pass --overwrite to replace it, or choose "
                   "another --name"]
    assert (workdir / "runs" / "r" / "model.safetensors").read_bytes() == first
    assert main(["train", "--data", "regression", *FAST, "--name", "r", "--overwrite"]) == 0
    assert io.load(workdir / "runs" / "r" / "model.safetensors")["config"]["task_kind"] == "regression"
    assert not (workdir / "runs" / "r" / "boundary.png").exists()  # it showed the replaced run


def test_resume_may_name_its_own_run(workdir, capsys):
    assert main(["train", "--data", "xor", *FAST, "--name", "r"]) == 0
    assert main(["train", "--resume", "runs/r/model.safetensors", "--epochs", "3", "--name", "r", "--no-progress",
                 "--no-plots"]) == 0
    assert io.load(workdir / "runs" / "r" / "model.safetensors")["history"]["epoch"] == [1, 2, 3]


def test_activation_flag_has_help(capsys):
    from cugrad import nn
    assert main(["train", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "--activation NAME hidden-layer activation: " + ", ".join(nn.ACTIVATIONS) + " (default: relu)" in out
    assert "--overwrite" in out


@pytest.mark.parametrize("epochs", [1, 3, 7])
def test_curves_have_whole_epoch_ticks(epochs):
    pytest.importorskip("matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from cugrad.cli import plots
    ep = list(range(1, epochs + 1))
    history = {"epoch": ep, "train_loss": [1.0 / e for e in ep], "test_loss": [1.2 / e for e in ep],
               "train_acc": [0.5] * epochs, "test_acc": [0.6] * epochs, "seconds": [0.1] * epochs}
    for task in ("regression", "classification"):
        fig = plots._curves_figure(history, task)
        FigureCanvasAgg(fig).draw()
        for ax in fig.axes:
            lo, hi = ax.get_xlim()
            ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
            assert ticks and all(float(t).is_integer() for t in ticks), (task, ticks)
