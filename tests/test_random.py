"""Seeded random streams: reproducible, saved and restored exactly."""
import numpy as np
import pytest

import cugrad
from cugrad import kernels, random


def test_manual_seed_makes_draws_reproducible():
    cugrad.manual_seed(123)
    a = cugrad.randn(4, 5).numpy(), cugrad.rand(3).numpy()
    cugrad.manual_seed(123)
    b = cugrad.randn(4, 5).numpy(), cugrad.rand(3).numpy()
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    cugrad.manual_seed(124)
    assert not np.array_equal(cugrad.randn(4, 5).numpy(), a[0])


def test_state_round_trips_through_json():
    import json

    cugrad.manual_seed(7)
    cugrad.randn(10)
    state = json.loads(json.dumps(cugrad.get_rng_state()))
    expected = cugrad.randn(6).numpy()
    cugrad.randn(100)
    cugrad.set_rng_state(state)
    np.testing.assert_array_equal(cugrad.randn(6).numpy(), expected)


def test_bad_seed_and_bad_state_are_clear_errors():
    with pytest.raises(TypeError, match="manual_seed expects an integer"):
        cugrad.manual_seed(1.5)
    with pytest.raises(ValueError, match="not a state from get_rng_state"):
        cugrad.set_rng_state({"cpu": None})


def test_draws_have_the_asked_dtype_and_range():
    u = random.uniform((1000,), "float64", "cpu")
    assert u.dtype == np.float64 and 0 <= u.min() and u.max() < 1
    n = random.normal((2000,), "float16", "cpu")
    assert n.dtype == np.float16 and abs(float(n.astype(np.float32).mean())) < 0.1
    with pytest.raises(TypeError, match="need a floating dtype"):
        random.uniform((3,), "int64", "cpu")


def test_the_gpu_stream_is_a_counter_hash_whose_twin_matches_bit_for_bit():
    # the GPU stream's state is (seed, offset): drawing n numbers then m equals drawing n + m
    both = kernels.uniform(5, 0, (10,), np.float32)
    first, rest = kernels.uniform(5, 0, (4,), np.float32), kernels.uniform(5, 4, (6,), np.float32)
    np.testing.assert_array_equal(np.concatenate([first, rest]), both)


@pytest.mark.gpu
def test_gpu_draws_equal_the_numpy_twin_and_advance_the_offset():
    cugrad.manual_seed(9)
    state = cugrad.get_rng_state()["cuda"]
    got = cugrad.rand(1000, device="cuda").numpy()
    np.testing.assert_array_equal(got, kernels.uniform(state["seed"], state["offset"], (1000,), np.float32))
    assert cugrad.get_rng_state()["cuda"]["offset"] == state["offset"] + 1000
