"""cugrad.io: safetensors checkpoints — round trip, atomic writes, clear errors on bad files."""
import json
import os
import struct

import numpy as np
import pytest

from cugrad import io
from cugrad.io import CheckpointError


def _state():
    rng = np.random.default_rng(0)
    return {
        "model": {"0.weight": rng.normal(size=(4, 3)).astype(np.float32),
                  "0.bias": np.zeros(4, np.float32), "2.weight": rng.normal(size=(2, 4))},
        "optimizer": {"state": {0: {"step": 3, "exp_avg": np.ones(3, np.float32)}},
                      "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0, 1]}]},
        "step": 17,
        "rng": {"bit_generator": "PCG64", "state": {"state": 2 ** 127 + 5, "inc": 3}},
        "config": {"hidden": [64, 64], "activation": "relu", "dropout": 0.0, "name": None, "ok": True},
        "scalar": np.float32(0.25),
        "zero_d": np.array(7, dtype=np.int64),
        "ints": np.arange(5, dtype=np.int32),
        "mask": np.array([True, False]),
        "half": np.arange(3, dtype=np.float16),
        "empty": np.zeros((0, 3)),
        "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
    }


def _assert_same(a, b):
    assert type(a) is type(b) or (isinstance(a, np.generic) and isinstance(b, float)), (a, b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b


def test_round_trip_keeps_nesting_dtypes_and_values(tmp_path):
    p = tmp_path / "ckpt.safetensors"
    obj = _state()
    io.save(obj, p)
    back = io.load(p)
    _assert_same(obj, back)
    assert back["optimizer"]["state"][0]["exp_avg"].dtype == np.float32  # int keys survive
    assert isinstance(back["optimizer"]["param_groups"][0]["betas"], tuple)


def test_file_is_plain_safetensors_with_dotted_names(tmp_path):
    from safetensors.numpy import load_file
    p = tmp_path / "c.safetensors"
    io.save(_state(), p)
    flat = load_file(str(p))
    assert "model.0.weight" in flat and "optimizer.state.0.exp_avg" in flat
    n = struct.unpack("<Q", p.read_bytes()[:8])[0]
    meta = json.loads(p.read_bytes()[8:8 + n])["__metadata__"]
    assert meta["format"] == "cugrad" and meta["format_version"] == "3"


def test_bfloat16_arrays_round_trip_bit_for_bit(tmp_path):
    """safetensors' NumPy reader has no BF16: the bits are stored as uint16 and viewed back."""
    from kernel_cases import BFLOAT16
    if BFLOAT16 is None:
        pytest.skip("ml_dtypes is missing")
    bits = np.array([0x3F80, 0xC040, 0x0001, 0x7F80, 0xFFC1], dtype=np.uint16)   # 1, -3, tiny, inf, nan
    weights = bits.view(BFLOAT16)
    io.save({"model": {"w": weights, "half": np.ones(2, np.float16)}, "exp_avg": [weights[:2]]}, tmp_path / "c")
    back = io.load(tmp_path / "c")
    assert back["model"]["w"].dtype == BFLOAT16 and back["exp_avg"][0].dtype == BFLOAT16
    np.testing.assert_array_equal(back["model"]["w"].view(np.uint16), bits)
    np.testing.assert_array_equal(back["exp_avg"][0].view(np.uint16), bits[:2])
    assert back["model"]["half"].dtype == np.float16


def test_version_1_checkpoints_still_load(tmp_path):
    from safetensors.numpy import save
    structure = json.dumps({"w": {"__tensor__": "w"}, "step": 3})
    raw = save({"w": np.arange(3.0)}, metadata={"format": "cugrad", "format_version": "1", "structure": structure})
    back = io.load(_write(tmp_path / "c", raw))
    assert back["step"] == 3
    np.testing.assert_array_equal(back["w"], [0.0, 1.0, 2.0])


def test_colliding_dotted_names_are_kept_apart(tmp_path):
    obj = {"a.b": np.ones(1), "a": {"b": np.zeros(1)}}
    io.save(obj, tmp_path / "c")
    back = io.load(tmp_path / "c")
    assert back["a.b"][0] == 1 and back["a"]["b"][0] == 0


def test_tensor_objects_are_stored_as_arrays(tmp_path):
    tensor = pytest.importorskip("cugrad.tensor")
    t = tensor.Tensor(np.arange(3, dtype=np.float32))
    io.save({"w": t}, tmp_path / "t")
    np.testing.assert_array_equal(io.load(tmp_path / "t")["w"], [0, 1, 2])


def test_unsupported_values_are_refused(tmp_path):
    with pytest.raises(TypeError, match="cannot store set"):
        io.save({"s": {1, 2}}, tmp_path / "x")
    with pytest.raises(ValueError, match="reserved"):
        io.save({"__tensor__": 1}, tmp_path / "x")
    assert not os.listdir(tmp_path)  # nothing written


def test_save_is_atomic_when_interrupted(tmp_path, monkeypatch):
    p = tmp_path / "c.safetensors"
    io.save({"v": np.ones(3)}, p)
    before = p.read_bytes()

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        io.save({"v": np.zeros(1000)}, p)
    assert p.read_bytes() == before
    assert os.listdir(tmp_path) == ["c.safetensors"]  # the temp file was removed


def test_saved_file_has_normal_permissions(tmp_path):
    p = tmp_path / "c"
    io.save({"v": 1}, p)
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(p).st_mode & 0o777 == 0o666 & ~umask


def test_load_on_device_cpu_gives_numpy(tmp_path):
    io.save({"v": np.ones(2)}, tmp_path / "c")
    assert isinstance(io.load(tmp_path / "c", device="cpu")["v"], np.ndarray)


# --------------------------------------------------------------------------- bad files

def _write(p, data):
    p.write_bytes(data)
    return p


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        io.load(tmp_path / "nope.safetensors")


def test_empty_file(tmp_path):
    with pytest.raises(CheckpointError, match="is empty"):
        io.load(_write(tmp_path / "e", b""))


def test_foreign_text_file(tmp_path):
    p = _write(tmp_path / "notes.safetensors", b"hello, this is not a checkpoint at all\n" * 3)
    with pytest.raises(CheckpointError, match="notes.safetensors.*not a safetensors file"):
        io.load(p)


def test_pickle_file_is_refused(tmp_path):
    import pickle
    p = _write(tmp_path / "model.pt", pickle.dumps({"w": [1, 2, 3]}))
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        io.load(p)


def test_plain_safetensors_without_our_tag(tmp_path):
    from safetensors.numpy import save_file
    save_file({"w": np.ones(2)}, str(tmp_path / "hf.safetensors"))
    with pytest.raises(CheckpointError, match="not a cugrad checkpoint"):
        io.load(tmp_path / "hf.safetensors")


@pytest.mark.parametrize("keep", [4, 8, 20, -1, -9])
def test_truncated_file(tmp_path, keep):
    p = tmp_path / "c.safetensors"
    io.save(_state(), p)
    data = p.read_bytes()
    _write(p, data[:keep] if keep > 0 else data[:len(data) + keep])
    with pytest.raises(CheckpointError, match="c.safetensors.*(truncated|not a safetensors)"):
        io.load(p)


def test_flipped_byte_in_tensor_data_is_caught(tmp_path):
    p = tmp_path / "c.safetensors"
    io.save({"w": np.arange(100, dtype=np.float32)}, p)
    data = bytearray(p.read_bytes())
    data[-10] ^= 0x40
    _write(p, bytes(data))
    with pytest.raises(CheckpointError, match="corrupt.*CRC"):
        io.load(p)


def test_newer_format_version_is_refused(tmp_path):
    from safetensors.numpy import save
    raw = save({"w": np.ones(1)}, metadata={"format": "cugrad", "format_version": "99", "structure": "{}"})
    with pytest.raises(CheckpointError, match="format version 99"):
        io.load(_write(tmp_path / "c", raw))


def test_checkpoint_error_is_value_error():
    assert issubclass(CheckpointError, ValueError)
