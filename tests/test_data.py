"""cugrad.data: built-in sets, users' files, the split and the DataLoader (CPU)."""
import numpy as np
import pytest

from cugrad import data
from cugrad.data import DataError, DataLoader, load_dataset, train_test_split


# --------------------------------------------------------------------------- built-in sets

@pytest.mark.parametrize("make,kwargs,n,k", [
    (data.spiral, dict(n_per_class=50, n_classes=3), 150, 3),
    (data.spiral, dict(n_per_class=7, n_classes=5), 35, 5),
    (data.donut, dict(n_per_class=40), 80, 2),
    (data.xor, dict(n_per_class=41), 82, 2),
    (data.blobs, dict(n_per_class=10, n_classes=4, n_features=3), 40, 4),
])
def test_builtin_classification_shapes(make, kwargs, n, k):
    ds = make(**kwargs, seed=1)
    assert ds.X.dtype == np.float32 and ds.X.shape[0] == n and ds.X.ndim == 2
    assert ds.y.dtype == np.int64 and ds.y.shape == (n,)
    assert ds.num_classes == k and set(np.unique(ds.y)) == set(range(k))
    assert np.bincount(ds.y).min() == n // k  # balanced
    assert np.isfinite(ds.X).all()


def test_builtin_is_deterministic_per_seed():
    a, b, c = data.spiral(20, seed=3), data.spiral(20, seed=3), data.spiral(20, seed=4)
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.array_equal(a.X, c.X)


def test_spiral_matches_cs231n_definition():
    ds = data.spiral(n_per_class=5, n_classes=2, noise=0.0, seed=0)
    r = np.linspace(0, 1, 5)
    t1 = np.linspace(4, 8, 5)
    np.testing.assert_allclose(ds.X[5:], np.c_[r * np.sin(t1), r * np.cos(t1)], rtol=1e-6, atol=1e-7)


def test_donut_is_a_disc_inside_a_ring():
    ds = data.donut(n_per_class=300, noise=0.0, seed=0)
    r = np.linalg.norm(ds.X, axis=1)
    assert r[ds.y == 0].max() <= 1.0 + 1e-6
    assert r[ds.y == 1].min() >= 2.0 - 1e-6 and r[ds.y == 1].max() <= 3.0 + 1e-6


def test_xor_corners_match_the_seed():
    ds = data.xor(n_per_class=400, noise=0.0, seed=0)
    for (x0, x1), label in {(0, 0): 0, (0, 1): 1, (1, 0): 1, (1, 1): 0}.items():
        at = (ds.X[:, 0] == x0) & (ds.X[:, 1] == x1)
        assert at.sum() == 200 and (ds.y[at] == label).all()


def test_regression_targets_are_2d_float():
    ds = data.regression(n_samples=64, n_features=3, seed=0)
    assert ds.task == "regression" and ds.y.shape == (64, 1) and ds.y.dtype == np.float32
    assert ds.n_outputs == 1


def test_bad_counts_raise_data_error():
    with pytest.raises(DataError, match="n_per_class"):
        data.spiral(0)
    with pytest.raises(DataError, match="n_classes"):
        data.spiral(10, n_classes=1)


# --------------------------------------------------------------------------- load_dataset

def test_load_builtin_by_name_with_options():
    ds = load_dataset("spiral", n_per_class=10, n_classes=4, seed=2)
    assert len(ds) == 40 and ds.num_classes == 4


def test_unknown_name_and_missing_file(tmp_path):
    with pytest.raises(DataError, match="unknown data set 'spirals'"):
        load_dataset("spirals")
    with pytest.raises(DataError, match="not found"):
        load_dataset(str(tmp_path / "nope.csv"))


def test_npz_keys(tmp_path):
    X, y = np.random.default_rng(0).normal(size=(10, 3)), np.arange(10) % 2
    np.savez(tmp_path / "a.npz", X=X, y=y)
    np.savez(tmp_path / "b.npz", x=X, y=y)
    np.savez(tmp_path / "c.npz", features=X, labels=y)
    for name in ("a", "b"):
        ds = load_dataset(str(tmp_path / f"{name}.npz"))
        assert ds.X.shape == (10, 3) and ds.num_classes == 2
    with pytest.raises(DataError, match="must hold arrays 'X' and 'y'.*'features', 'labels'"):
        load_dataset(str(tmp_path / "c.npz"))


def test_npy_with_sibling_or_given_labels(tmp_path):
    X = np.ones((6, 2))
    np.save(tmp_path / "feat.npy", X)
    with pytest.raises(DataError, match="no labels for features"):
        load_dataset(str(tmp_path / "feat.npy"))
    np.save(tmp_path / "feat_labels.npy", np.array([0, 1, 2, 0, 1, 2]))
    assert load_dataset(str(tmp_path / "feat.npy")).num_classes == 3
    np.save(tmp_path / "other.npy", np.array([1, 1, 0, 0, 1, 1]))
    assert load_dataset(str(tmp_path / "feat.npy"), labels=str(tmp_path / "other.npy")).num_classes == 2
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", np.zeros(6, dtype=np.int32))
    assert len(load_dataset(str(tmp_path / "X.npy"))) == 6


def test_npy_pickled_object_is_refused(tmp_path):
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(tmp_path / "o_labels.npy", np.array([0]))
    with pytest.raises(DataError, match="plain .npy"):
        load_dataset(str(tmp_path / "o.npy"))


def test_csv_with_and_without_header(tmp_path):
    (tmp_path / "h.csv").write_text("x1,x2,label\n0.5,1.0,0\n1.5,-2,1\n3,4,2\n")
    (tmp_path / "n.csv").write_text("0.5,1.0,0\n1.5,-2,1\n")
    h = load_dataset(str(tmp_path / "h.csv"))
    assert h.X.shape == (3, 2) and list(h.y) == [0, 1, 2]
    n = load_dataset(str(tmp_path / "n.csv"))
    np.testing.assert_array_equal(n.X, [[0.5, 1.0], [1.5, -2.0]])


def test_csv_named_classes(tmp_path):
    (tmp_path / "iris.csv").write_text("a,b,species\n1,2,setosa\n3,4,virginica\n5,6,setosa\n")
    ds = load_dataset(str(tmp_path / "iris.csv"))
    assert ds.classes == ["setosa", "virginica"] and list(ds.y) == [0, 1, 0]


@pytest.mark.parametrize("text,match", [
    ("1,2,0\n3,4\n", "row 2 has 2 columns, expected 3"),
    ("1,2,0\n3,abc,1\n", "row 2, column 2: 'abc' is not a number"),
    ("1,nan,0\n3,4,1\n", "NaN/inf.*row 1, column 2"),
    ("1,2,0\n3,inf,1\n", "NaN/inf.*inf at row 2, column 2"),
    ("1,2,0.5\n3,4,1\n", "must be integers, got 0.5 at row 1"),
    ("5\n6\n", "at least 2 columns"),
    ("", "is empty"),
    ("a,b,c\n", "header but no data rows"),
])
def test_bad_csv_names_the_problem(tmp_path, text, match):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(DataError, match=match):
        load_dataset(str(p))


def test_regression_csv_and_nonfinite_targets(tmp_path):
    (tmp_path / "r.csv").write_text("x,y\n0.1,0.25\n0.2,0.5\n")
    ds = load_dataset(str(tmp_path / "r.csv"), task="regression")
    assert ds.task == "regression" and ds.y.shape == (2, 1)
    X = np.ones((3, 2))
    with pytest.raises(DataError, match="targets.*NaN"):
        data.make_dataset(X, np.array([1.0, np.nan, 2.0]), task="regression")


def test_length_mismatch_and_negative_labels():
    with pytest.raises(DataError, match="3 samples but 2 labels"):
        data.make_dataset(np.ones((3, 2)), np.array([0, 1]))
    ds = data.make_dataset(np.ones((3, 2)), np.array([-1, 1, -1]))
    assert list(ds.y) == [0, 1, 0] and ds.classes == [-1, 1]


def test_is_a_value_error():
    assert issubclass(DataError, ValueError)


# --------------------------------------------------------------------------- split

def test_stratified_split_keeps_every_sample_once():
    ds = data.spiral(n_per_class=50, n_classes=3, seed=0)
    tr, te = train_test_split(ds, 0.2, seed=1)
    assert len(tr) == 120 and len(te) == 30
    assert (np.bincount(te.y) == 10).all()
    both = np.concatenate([tr.X, te.X])
    assert np.unique(both, axis=0).shape[0] == len(np.unique(ds.X, axis=0))
    tr2, te2 = train_test_split(ds, 0.2, seed=1)
    np.testing.assert_array_equal(te.X, te2.X)


def test_split_rejects_bad_fraction():
    with pytest.raises(DataError):
        train_test_split(data.xor(10), 1.5)


# --------------------------------------------------------------------------- loader

def _epoch(loader):
    return [tuple(np.asarray(a) for a in b) for b in loader]


def test_loader_covers_each_sample_once_per_epoch():
    X = np.arange(10, dtype=np.float32).reshape(10, 1)
    y = np.arange(10)
    loader = DataLoader((X, y), batch_size=3, seed=0, as_tensors=False)
    assert len(loader) == 4
    batches = _epoch(loader)
    assert [len(b[0]) for b in batches] == [3, 3, 3, 1]
    seen = np.concatenate([b[1] for b in batches])
    assert sorted(seen) == list(range(10)) and list(seen) != list(range(10))
    for xb, yb in batches:
        np.testing.assert_array_equal(xb[:, 0], yb)  # rows stay paired
    assert loader.epoch == 1 and loader.position == 0
    second = np.concatenate([b[1] for b in _epoch(loader)])
    assert list(second) != list(seen)  # a new order each epoch


def test_loader_no_shuffle_and_drop_last():
    X = np.arange(10.0).reshape(10, 1)
    loader = DataLoader(X, batch_size=4, shuffle=False, drop_last=True, as_tensors=False)
    out = list(loader)
    assert len(loader) == 2 and [b[:, 0].tolist() for b in out] == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_loader_same_seed_same_order():
    ds = data.xor(20, seed=0)
    a = _epoch(DataLoader(ds, 7, seed=5, as_tensors=False))
    b = _epoch(DataLoader(ds, 7, seed=5, as_tensors=False))
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(ya, yb)


def test_loader_resume_mid_epoch_matches_uninterrupted():
    ds = data.spiral(13, seed=0)
    ref = DataLoader(ds, 5, seed=11, as_tensors=False)
    full = [b[1] for _ in range(3) for b in ref]

    first = DataLoader(ds, 5, seed=11, as_tensors=False)
    got, it = [], iter(first)
    for _ in range(4):  # one full epoch (8 batches) would be 8; stop inside epoch 0
        got.append(next(it)[1])
    state = first.state_dict()
    import json
    state = json.loads(json.dumps(state))  # it must survive JSON (checkpoint metadata)

    second = DataLoader(ds, 5, seed=999, as_tensors=False)
    second.load_state_dict(state)
    while len(got) < len(full):
        for b in second:
            got.append(b[1])
    for a, b in zip(full, got):
        np.testing.assert_array_equal(a, b)


def test_loader_state_after_last_batch_is_next_epoch():
    loader = DataLoader(np.arange(4.0), 2, seed=0, as_tensors=False)
    for _ in loader:
        state = loader.state_dict()
    assert state["epoch"] == 1 and state["position"] == 0


def test_loader_state_mismatch_is_rejected():
    a = DataLoader(np.arange(10.0), 2, seed=0, as_tensors=False)
    b = DataLoader(np.arange(10.0), 3, seed=0, as_tensors=False)
    with pytest.raises(ValueError, match="batch_size"):
        b.load_state_dict(a.state_dict())


def test_loader_yields_tensors_when_core_exists():
    tensor = pytest.importorskip("cugrad.tensor")
    loader = DataLoader(data.xor(8), 4, seed=0)
    xb, yb = next(iter(loader))
    assert isinstance(xb, tensor.Tensor) and xb.shape == (4, 2) and not xb.requires_grad


# --------------------------------------------------------------------------- hostile values

@pytest.mark.parametrize("X,match", [
    (np.ones((3, 2)) + 1j, "must be real numbers, got dtype complex128"),
    (np.array(["2020-01-01"] * 3, dtype="datetime64[D]"), "must be real numbers, got dtype datetime64"),
    (np.arange(3).astype("timedelta64[s]"), "must be real numbers, got dtype timedelta64"),
    (np.array([[1.0, 1e300], [0, 0], [0, 0]]), r"hold 1e\+300 at row 1, column 2, beyond float32's range"),
])
def test_features_that_float32_cannot_hold_are_refused(X, match):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # refused before a cast could warn (ComplexWarning, overflow)
        with pytest.raises(DataError, match=match):
            data.make_dataset(X, np.array([0, 1, 0]))


def test_float32_extremes_are_kept():
    X = np.array([[3.4e38], [-3.4e38]])
    np.testing.assert_array_equal(data.make_dataset(X, np.array([0, 1])).X[:, 0], np.float32([3.4e38, -3.4e38]))


@pytest.mark.parametrize("y,match", [
    (np.array([0, 2_000_000_000, 1]), "class label 2000000000 at row 2 is out of range.*at most 1,000,000 classes"),
    (np.array([0.0, 1e20, 1.0]), r"class label 1e\+20 at row 2 is out of range"),
    (np.array([0, 2**64 - 1, 1], dtype=np.uint64), "class label 18446744073709551615 at row 2 is out of range"),
    (np.array([0, -2_000_000_000, 1]), "class label -2000000000 at row 2 is out of range"),
    (np.array([0, 1.5, 1]), "must be integers, got 1.5 at row 2"),
    (np.array([0, 1, 2]) + 0j, "must be integers or names, got dtype complex128"),
])
def test_class_labels_beyond_the_class_limit_are_refused(y, match):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no cast that wraps, saturates or warns on the way
        with pytest.raises(DataError, match=match):
            data.make_dataset(np.ones((3, 2)), y)


def test_largest_class_index_is_accepted():
    ds = data.make_dataset(np.ones((2, 1)), np.array([0, data.files.MAX_CLASSES - 1]))
    assert ds.num_classes == data.files.MAX_CLASSES


@pytest.mark.parametrize("y,match", [
    (np.array(1.0), r"must be 1-D or 2-D, got shape \(\)"),
    (np.ones((3, 1)) + 1j, "must be real numbers, got dtype complex128"),
    (np.array([1.0, 1e300, 2.0]), r"targets hold 1e\+300 at row 2"),
    (np.zeros(0), "3 samples but 0 targets"),
    (np.zeros((3, 0)), r"must be 1-D or 2-D, got shape \(3, 0\)"),
])
def test_bad_regression_targets(y, match):
    with pytest.raises(DataError, match=match):
        data.make_dataset(np.ones((3, 2)), y, task="regression")


def test_npz_holding_one_array_and_broken_npz(tmp_path):
    np.save(tmp_path / "a.npy", np.ones(3))
    (tmp_path / "a.npy").rename(tmp_path / "a.npz")
    with pytest.raises(DataError, match="holds a single .npy array, not a .npz archive"):
        load_dataset(str(tmp_path / "a.npz"))
    (tmp_path / "b.npz").write_bytes(b"PK\x03\x04 not really a zip")
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the file is closed (no ResourceWarning)
        with pytest.raises(DataError, match="not a valid .npz archive"):
            load_dataset(str(tmp_path / "b.npz"))


# --------------------------------------------------------------------------- a model's classes

def test_labels_map_through_a_models_class_names(tmp_path):
    (tmp_path / "some.csv").write_text("a,b,label\n1,2,emu\n3,4,dog\n5,6,emu\n")
    ds = load_dataset(str(tmp_path / "some.csv"), classes=["cat", "dog", "emu"])
    assert list(ds.y) == [2, 1, 2] and ds.num_classes == 3 and ds.classes == ["cat", "dog", "emu"]
    alone = load_dataset(str(tmp_path / "some.csv"))  # without the model's list: numbered from the file
    assert list(alone.y) == [1, 0, 1]


def test_labels_map_through_numeric_classes_and_indices():
    ds = data.make_dataset(np.ones((2, 1)), np.array([1, 1]), classes=[-1, 1])
    assert list(ds.y) == [1, 1] and ds.num_classes == 2
    ds = data.make_dataset(np.ones((2, 1)), np.array([2.0, 0.0]), classes=range(3))
    assert list(ds.y) == [2, 0] and ds.num_classes == 3 and ds.classes is None


@pytest.mark.parametrize("y,classes,match", [
    (np.array(["cat", "wolf"]), ["cat", "dog"],
     r"class label 'wolf' at row 2 is not one of the model's 2 classes \(cat, dog\)"),
    (np.array([0, 5]), range(3), "class label 5 at row 2 is not one of the model's 3 classes"),
    (np.array([-1, 0]), range(3), "class label -1 at row 1 is not one of the model's 3 classes"),
    (np.array([0, 1]), ["cat", "dog"], "are numbers, but the model's classes are cat, dog"),
    (np.array(["cat", "dog"]), range(2), "are names, but the model's classes are 0, 1"),
])
def test_labels_a_model_does_not_know_are_refused(y, classes, match):
    with pytest.raises(DataError, match=match):
        data.make_dataset(np.ones((2, 1)), y, classes=classes)


def test_builtin_set_maps_through_a_models_classes():
    with pytest.raises(DataError, match="class label 2 at row .* in 'spiral' is not one of the model's 2 classes"):
        load_dataset("spiral", n_per_class=3, classes=range(2))
    assert load_dataset("xor", n_per_class=3, classes=range(2)).num_classes == 2


# --------------------------------------------------------------------------- the split is never empty

@pytest.mark.parametrize("n_classes,fraction,part", [(3, 0.2, "test"), (3, 0.9, "training"), (2, 0.2, "test")])
def test_split_refuses_an_empty_part(n_classes, fraction, part):
    ds = data.make_dataset(np.arange(n_classes, dtype=float), np.arange(n_classes))  # one sample per class
    with pytest.raises(DataError, match=f"the {part} split of 'data' is empty: {n_classes} samples"):
        train_test_split(ds, fraction)


def test_split_of_two_samples_of_one_class_has_both_parts():
    tr, te = train_test_split(data.make_dataset(np.ones((2, 1)), np.array([0, 0])), 0.2)
    assert len(tr) == 1 and len(te) == 1


@pytest.mark.parametrize("text,expected", [
    ("cat\ndog\ncat\n", ["cat", "dog", "cat"]),          # names, no header: the first name is a label
    ("species\ncat\ndog\ncat\n", ["cat", "dog", "cat"]),  # one row more than samples: a header
    ("label\n0\n1\n0\n", [0, 1, 0]),                      # a name above numbers: a header
    ("0\n1\n0\n", [0, 1, 0]),
])
def test_labels_csv_header_or_not(tmp_path, text, expected):
    np.save(tmp_path / "f.npy", np.ones((3, 2)))
    (tmp_path / "lab.csv").write_text(text)
    ds = load_dataset(str(tmp_path / "f.npy"), labels=str(tmp_path / "lab.csv"))
    values = [ds.classes[i] for i in ds.y] if ds.classes else list(ds.y)
    assert values == expected
