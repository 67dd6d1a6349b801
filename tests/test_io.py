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


def test_plain_safetensors_without_our_tag_load_as_a_flat_dict(tmp_path):
    from safetensors.numpy import save_file
    save_file({"w": np.arange(6, dtype=np.float32).reshape(2, 3), "layer.b": np.array([True, False])},
              str(tmp_path / "hf.safetensors"), metadata={"format": "pt"})
    state = io.load(tmp_path / "hf.safetensors")
    assert sorted(state) == ["layer.b", "w"]
    np.testing.assert_array_equal(state["w"], np.arange(6).reshape(2, 3))
    assert state["w"].dtype == np.float32 and state["w"].flags.writeable
    np.testing.assert_array_equal(state["layer.b"], [True, False])


def test_plain_safetensors_with_a_dtype_cugrad_lacks_is_refused_by_name(tmp_path):
    from safetensors.numpy import save_file
    save_file({"w": np.ones(2, np.uint32)}, str(tmp_path / "u.safetensors"))
    with pytest.raises(CheckpointError, match="tensor 'w' has dtype 'U32', which cugrad does not read"):
        io.load(tmp_path / "u.safetensors")


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


# --------------------------------------------------------------------------- the header is checksummed too

def _header_span(data):
    return 8 + struct.unpack("<Q", data[:8])[0]


def test_every_bit_flip_in_the_header_is_caught(tmp_path):
    """A checkpoint's metadata (config, seed, structure) and each tensor's dtype and shape are
    covered by the checksum: a flipped bit anywhere in the header never loads as another object."""
    p = tmp_path / "c.safetensors"
    io.save({"config": {"seed": 0, "activation": "relu", "hidden": [64, 64]}, "w": np.arange(6, dtype=np.float32)}, p)
    good = p.read_bytes()
    for i in range(_header_span(good)):  # each byte once, the bit cycling through all 8
        data = bytearray(good)
        data[i] ^= 1 << (i % 8)
        _write(p, bytes(data))
        with pytest.raises(CheckpointError, match="c.safetensors"):
            io.load(p)


def test_flipped_seed_digit_is_corrupt(tmp_path):
    p = tmp_path / "c.safetensors"
    io.save({"config": {"seed": 0}, "w": np.ones(2)}, p)
    data = bytearray(p.read_bytes())
    at = data.index(b'seed\\":0') + len(b'seed\\":')
    data[at] ^= 1  # "0" -> "1": still valid JSON, a different seed
    with pytest.raises(CheckpointError, match="corrupt: its metadata or tensor data fail the CRC-32 check"):
        io.load(_write(p, bytes(data)))


def test_version_2_checkpoints_still_load_and_their_tensor_checksum_holds(tmp_path):
    """Format 2 checksummed the tensor bytes only; such files load as before (their metadata is
    not protected, see the module docstring), and damaged tensor bytes are still caught."""
    from safetensors.numpy import save
    w = np.arange(4.0)
    structure = json.dumps({"w": {"__tensor__": "w"}, "step": 3})
    meta = {"format": "cugrad", "format_version": "2", "structure": structure, "crc32": io._crc({"w": w})}
    raw = save({"w": w}, metadata=meta)
    back = io.load(_write(tmp_path / "c", raw))
    assert back["step"] == 3 and back["w"].tolist() == [0.0, 1.0, 2.0, 3.0]
    bad = bytearray(raw)
    bad[-1] ^= 0x01
    with pytest.raises(CheckpointError, match="tensor data fails the CRC-32 check"):
        io.load(_write(tmp_path / "c", bytes(bad)))


def test_format_3_without_checksum_is_corrupt(tmp_path):
    from safetensors.numpy import save
    raw = save({"w": np.ones(1)}, metadata={"format": "cugrad", "format_version": "3",
                                            "structure": json.dumps({"w": {"__tensor__": "w"}})})
    with pytest.raises(CheckpointError, match="corrupt: its checksum is missing"):
        io.load(_write(tmp_path / "c", raw))


@pytest.mark.parametrize("version", ["0", "-1", "x", ""])
def test_bad_format_version_is_corrupt(tmp_path, version):
    from safetensors.numpy import save
    raw = save({"w": np.ones(1)}, metadata={"format": "cugrad", "format_version": version, "structure": "{}"})
    with pytest.raises(CheckpointError, match="corrupt: bad format version"):
        io.load(_write(tmp_path / "c", raw))


# --------------------------------------------------------------------------- temp files of the atomic writer

def _temp(folder, name, age_s=0.0, suffix="abcd1234"):
    p = folder / f".{name}.{suffix}.tmp"
    p.write_bytes(b"x" * 100)
    t = io._STARTED - age_s
    os.utime(p, (t, t))
    return p


def test_save_removes_stale_temp_files_of_its_own_target_only(tmp_path):
    stale = _temp(tmp_path, "c.safetensors", age_s=60)
    fresh = _temp(tmp_path, "c.safetensors", age_s=-60, suffix="fresh123")  # written after this process began
    other = _temp(tmp_path, "other.safetensors", age_s=60)                  # another file's
    lookalike = tmp_path / ".c.safetensors.notours.tmp"                      # not our 8-character pattern
    lookalike.write_bytes(b"y")
    os.utime(lookalike, (0, 0))
    io.save({"v": 1}, tmp_path / "c.safetensors")
    assert not stale.exists()
    assert fresh.exists() and other.exists() and lookalike.exists()
    assert io.load(tmp_path / "c.safetensors")["v"] == 1


def test_save_keeps_a_temp_file_another_writer_holds(tmp_path):
    fcntl = pytest.importorskip("fcntl")
    held = _temp(tmp_path, "c.safetensors", age_s=60)
    with open(held, "rb") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)  # a live (slow) save in another process looks like this
        io.save({"v": 1}, tmp_path / "c.safetensors")
        assert held.exists()
    io.save({"v": 2}, tmp_path / "c.safetensors")  # released: now it is a leftover
    assert not held.exists()


def test_write_error_names_the_target_not_the_temp_file(tmp_path):
    target = tmp_path / "missing_dir" / "c.safetensors"
    with pytest.raises(FileNotFoundError) as info:
        io.save({"v": 1}, target)
    assert info.value.filename == str(target) and ".tmp" not in str(info.value)
