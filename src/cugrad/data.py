"""Data sets that need no download, users' own files, a train/test split and a device DataLoader.

Every built-in set is generated from a seed with NumPy, so the same call gives the same points on
any machine. Features are float32 ``(n, d)``; classification labels are int64 ``(n,)``;
regression targets are float32 ``(n, k)`` (2-D, so they line up with a model's ``(n, k)`` output).
Problems with users' files raise :class:`DataError` naming the file and what is wrong.
"""
from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field

import numpy as np

from . import backend

__all__ = [
    "DataError", "Dataset", "DataLoader", "spiral", "donut", "xor", "blobs", "regression",
    "load_dataset", "train_test_split", "BUILTIN_DATASETS",
]


class DataError(ValueError):
    """A data set or data file that cannot be used, with the reason."""


@dataclass
class Dataset:
    """Features ``X`` (float32, (n, d)) and labels/targets ``y`` of one data set.

    ``task`` is "classification" (``y`` int64 in 0..num_classes-1) or "regression" (``y`` float32
    (n, k)). ``classes`` holds the original label values when they were remapped to 0..K-1.
    """
    X: np.ndarray
    y: np.ndarray
    task: str = "classification"
    num_classes: int | None = None
    name: str = "data"
    classes: list | None = None
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.X.shape[0])

    def __getitem__(self, index):
        return self.X[index], self.y[index]

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def n_outputs(self) -> int:
        """Width of the model output this data set needs: classes, or target columns."""
        return int(self.num_classes) if self.task == "classification" else int(self.y.shape[1])

    def subset(self, index, name: str | None = None) -> "Dataset":
        return Dataset(self.X[index], self.y[index], self.task, self.num_classes,
                       name or self.name, self.classes, dict(self.info))

    def __repr__(self) -> str:
        extra = f", num_classes={self.num_classes}" if self.task == "classification" else ""
        return f"Dataset({self.name!r}, n={len(self)}, features={self.n_features}, task={self.task!r}{extra})"


# --------------------------------------------------------------------------- built-in sets

def _rng(seed) -> np.random.Generator:
    return np.random.default_rng(seed)


def _classification(X, y, name, num_classes, **info) -> Dataset:
    return Dataset(np.ascontiguousarray(X, dtype=np.float32), np.ascontiguousarray(y, dtype=np.int64),
                   "classification", int(num_classes), name, None, info)


def _check_count(name, value, minimum=1):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise DataError(f"{name} must be an integer >= {minimum}, got {value!r}")


def spiral(n_per_class: int = 100, n_classes: int = 3, noise: float = 0.2, seed=0) -> Dataset:
    """The CS231n spiral: ``n_classes`` arms, each sweeping 4 radians while the radius grows 0 → 1,
    with Gaussian noise of std ``noise`` on the angle."""
    _check_count("n_per_class", n_per_class)
    _check_count("n_classes", n_classes, 2)
    rng = _rng(seed)
    X = np.zeros((n_per_class * n_classes, 2))
    y = np.zeros(n_per_class * n_classes, dtype=np.int64)
    for j in range(n_classes):
        ix = slice(n_per_class * j, n_per_class * (j + 1))
        r = np.linspace(0.0, 1.0, n_per_class)
        t = np.linspace(j * 4.0, (j + 1) * 4.0, n_per_class) + rng.standard_normal(n_per_class) * noise
        X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
        y[ix] = j
    return _classification(X, y, "spiral", n_classes, n_per_class=n_per_class, noise=noise, seed=seed)


def donut(n_per_class: int = 500, noise: float = 0.1, seed=0, radii=((0.0, 1.0), (2.0, 3.0))) -> Dataset:
    """The seeds' donut with a blueberry centre: class 0 fills the disc of radius 1, class 1 the
    ring 2 ≤ r ≤ 3 around it (points uniform over each area), plus Gaussian noise of std ``noise``.
    No straight line separates them; a threshold on the radius does."""
    _check_count("n_per_class", n_per_class)
    rng = _rng(seed)
    xs, ys = [], []
    for label, (r0, r1) in enumerate(radii):
        # uniform over the annulus area: r = sqrt(U(r0², r1²))
        r = np.sqrt(rng.uniform(r0 * r0, r1 * r1, n_per_class))
        t = rng.uniform(0.0, 2.0 * math.pi, n_per_class)
        pts = np.c_[r * np.cos(t), r * np.sin(t)] + rng.standard_normal((n_per_class, 2)) * noise
        xs.append(pts)
        ys.append(np.full(n_per_class, label))
    return _classification(np.concatenate(xs), np.concatenate(ys), "donut", len(radii),
                           n_per_class=n_per_class, noise=noise, seed=seed)


def xor(n_per_class: int = 200, noise: float = 0.1, seed=0) -> Dataset:
    """The seeds' XOR: Gaussian clouds (std ``noise``) around the four corners of the unit square;
    (0,0) and (1,1) are class 0, (0,1) and (1,0) class 1. Each class has ``n_per_class`` points,
    split between its two corners."""
    _check_count("n_per_class", n_per_class)
    rng = _rng(seed)
    corners = {0: [(0.0, 0.0), (1.0, 1.0)], 1: [(0.0, 1.0), (1.0, 0.0)]}
    xs, ys = [], []
    for label, pair in corners.items():
        counts = (n_per_class - n_per_class // 2, n_per_class // 2)
        for (cx, cy), m in zip(pair, counts):
            xs.append(np.array([cx, cy]) + rng.standard_normal((m, 2)) * noise)
            ys.append(np.full(m, label))
    return _classification(np.concatenate(xs), np.concatenate(ys), "xor", 2,
                           n_per_class=n_per_class, noise=noise, seed=seed)


def blobs(n_per_class: int = 100, n_classes: int = 3, n_features: int = 2, cluster_std: float = 1.0,
          center_box=(-10.0, 10.0), seed=0) -> Dataset:
    """Isotropic Gaussian clusters (std ``cluster_std``) around centres drawn uniformly in
    ``center_box`` in every dimension."""
    _check_count("n_per_class", n_per_class)
    _check_count("n_classes", n_classes, 2)
    _check_count("n_features", n_features)
    rng = _rng(seed)
    centers = rng.uniform(center_box[0], center_box[1], (n_classes, n_features))
    X = np.concatenate([c + rng.standard_normal((n_per_class, n_features)) * cluster_std for c in centers])
    y = np.repeat(np.arange(n_classes), n_per_class)
    return _classification(X, y, "blobs", n_classes, n_per_class=n_per_class, cluster_std=cluster_std, seed=seed)


def regression(n_samples: int = 1000, n_features: int = 1, noise: float = 0.1, seed=0) -> Dataset:
    """A smooth non-linear target: X ~ U(-1, 1)^d, y = Σ_j sin(3 x_j) / √d + N(0, noise²), as (n, 1)."""
    _check_count("n_samples", n_samples)
    _check_count("n_features", n_features)
    rng = _rng(seed)
    X = rng.uniform(-1.0, 1.0, (n_samples, n_features))
    y = np.sin(3.0 * X).sum(axis=1, keepdims=True) / math.sqrt(n_features)
    y = y + rng.standard_normal(y.shape) * noise
    return Dataset(X.astype(np.float32), y.astype(np.float32), "regression", None, "regression", None,
                   {"n_samples": n_samples, "noise": noise, "seed": seed})


BUILTIN_DATASETS = {"spiral": spiral, "donut": donut, "xor": xor, "blobs": blobs, "regression": regression}


# --------------------------------------------------------------------------- users' files

_FILE_SUFFIXES = (".npy", ".npz", ".csv")


def load_dataset(name_or_path, *, labels=None, task: str | None = None, **kwargs) -> Dataset:
    """A built-in data set by name (``kwargs`` go to its generator, e.g. ``n_per_class``, ``seed``)
    or a user's file:

    - ``.npz`` with arrays ``X`` and ``y`` (or ``x`` and ``y``);
    - ``.npy`` features, with labels from ``labels=`` (a ``.npy`` or one-column ``.csv``) or, when
      not given, a sibling ``<stem>_labels.npy`` / ``<stem>_y.npy`` (``y.npy`` next to ``X.npy``);
    - ``.csv``: one row per sample, the last column the label, an optional header row. Class
      labels may be names (``setosa``), which are numbered in sorted order.

    ``task`` is "classification" (default for files) or "regression". Labels that are not
    integers, NaN/inf anywhere, mismatched lengths and missing files raise :class:`DataError`.
    """
    if task not in (None, "classification", "regression"):
        raise DataError(f"unknown task {task!r}: expected 'classification' or 'regression'")
    name = os.fspath(name_or_path)
    if name in BUILTIN_DATASETS:
        if labels is not None:
            raise DataError(f"labels= is for data files, not the built-in data set {name!r}")
        try:
            ds = BUILTIN_DATASETS[name](**kwargs)
        except TypeError as exc:
            raise DataError(f"bad option for data set {name!r}: {exc}") from None
        if task is not None and task != ds.task:
            raise DataError(f"data set {name!r} is a {ds.task} set, not {task}")
        return ds
    if kwargs:
        raise DataError(f"options {sorted(kwargs)} apply to built-in data sets, not to the file {name!r}")
    suffix = os.path.splitext(name)[1].lower()
    if not os.path.exists(name):
        if suffix in _FILE_SUFFIXES or os.sep in name or "/" in name:
            raise DataError(f"data file {name!r} not found")
        raise DataError(f"unknown data set {name!r}: expected one of {', '.join(BUILTIN_DATASETS)} "
                        f"or a .npy/.npz/.csv file")
    if os.path.isdir(name):
        raise DataError(f"data path {name!r} is a directory, expected a .npy, .npz or .csv file")
    task = task or "classification"
    row_offset = 0
    if suffix == ".npz":
        X, y = _read_npz(name)
    elif suffix == ".npy":
        X = _read_npy(name, "features")
        y = _read_labels_file(_find_labels(name, labels))
    elif suffix == ".csv":
        X, y, row_offset = _read_csv(name, task)
    else:
        raise DataError(f"data file {name!r} has an unsupported type {suffix or '(no suffix)'!r}: "
                        f"expected .npy, .npz or .csv")
    if labels is not None and suffix != ".npy":
        raise DataError(f"labels= is only used with .npy features, not with {suffix} file {name!r}")
    return make_dataset(X, y, task=task, name=os.path.splitext(os.path.basename(name))[0], source=name,
                        row_offset=row_offset)


def make_dataset(X, y, *, task: str = "classification", name: str = "data", source: str | None = None,
                 row_offset: int = 0) -> Dataset:
    """Validate and convert arrays into a :class:`Dataset` (the checks ``load_dataset`` runs).
    Rows in messages count from 1 (+ ``row_offset``, e.g. 1 for a CSV header line)."""
    where = f" in {source!r}" if source else ""
    try:
        X = np.asarray(X)
    except Exception as exc:
        raise DataError(f"features{where} are not an array: {exc}") from None
    if X.dtype == object or not (np.issubdtype(X.dtype, np.number) or X.dtype == np.bool_):
        raise DataError(f"features{where} must be numbers, got dtype {X.dtype}")
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if X.ndim != 2:
        raise DataError(f"features{where} must be 2-D (samples, features), got shape {X.shape}")
    if X.shape[0] == 0:
        raise DataError(f"no samples{where}")
    if X.shape[1] == 0:
        raise DataError(f"no feature columns{where}")
    X = X.astype(np.float32)
    _check_finite(X, f"features{where}", row_offset)
    classes = None
    if task == "classification":
        y, classes = _class_labels(y, where, row_offset)
        num_classes = int(y.max()) + 1
    else:
        y = np.asarray(y)
        if not np.issubdtype(y.dtype, np.number):
            raise DataError(f"regression targets{where} must be numbers, got dtype {y.dtype}")
        y = y.astype(np.float32).reshape(len(y), -1) if y.ndim <= 2 else None
        if y is None:
            raise DataError(f"regression targets{where} must be 1-D or 2-D")
        _check_finite(y, f"targets{where}", row_offset)
        num_classes = None
    if len(y) != len(X):
        raise DataError(f"{len(X)} samples but {len(y)} labels{where}")
    return Dataset(np.ascontiguousarray(X), np.ascontiguousarray(y), task, num_classes, name, classes,
                   {"source": source} if source else {})


def _check_finite(a, what, row_offset=0):
    bad = ~np.isfinite(a)
    if bad.any():
        pos = np.argwhere(bad)[0]
        loc = f"row {pos[0] + 1 + row_offset}" + (f", column {pos[1] + 1}" if a.ndim > 1 else "")
        kind = "NaN" if np.isnan(a[tuple(pos)]) else "inf"
        raise DataError(f"{what} contain {int(bad.sum())} NaN/inf value(s) (first: {kind} at {loc})")


def _class_labels(y, where, row_offset=0):
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"class labels{where} must be one column, got shape {y.shape}")
    if y.size == 0:
        raise DataError(f"no labels{where}")
    if y.dtype.kind in "US":  # class names
        classes, idx = np.unique(y, return_inverse=True)
        return idx.astype(np.int64), [str(c) for c in classes]
    if y.dtype == np.bool_:
        return y.astype(np.int64), None
    if not np.issubdtype(y.dtype, np.number):
        raise DataError(f"class labels{where} must be integers, got dtype {y.dtype}")
    if np.issubdtype(y.dtype, np.floating):
        _check_finite(y, f"labels{where}")
        frac = y != np.round(y)
        if frac.any():
            i = int(np.argmax(frac))
            raise DataError(f"class labels{where} must be integers, got {y[i].item()!r} at row {i + 1 + row_offset} "
                            f"(use task='regression' / --task regression for real-valued targets)")
    yi = y.astype(np.int64)
    if yi.min() < 0:  # e.g. -1/+1: number the distinct values 0..K-1
        classes, idx = np.unique(yi, return_inverse=True)
        return idx.astype(np.int64), [int(c) for c in classes]
    return yi, None


def _read_npy(path, what):
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise DataError(f"{what} file {path!r} cannot be read as a plain .npy array ({exc})") from None
    except Exception as exc:
        raise DataError(f"{what} file {path!r} is not a valid .npy file ({type(exc).__name__}: {exc})") from None


def _read_npz(path):
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = list(z.keys())
            for xk, yk in (("X", "y"), ("x", "y"), ("X", "Y")):
                if xk in keys and yk in keys:
                    return z[xk], z[yk]
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"data file {path!r} is not a valid .npz archive ({type(exc).__name__}: {exc})") from None
    raise DataError(f"data file {path!r} must hold arrays 'X' and 'y' (or 'x' and 'y'); "
                    f"it has {', '.join(map(repr, keys)) or 'none'}")


def _find_labels(features_path, labels):
    if labels is not None:
        labels = os.fspath(labels)
        if not os.path.exists(labels):
            raise DataError(f"labels file {labels!r} not found")
        return labels
    folder, base = os.path.split(features_path)
    stem = os.path.splitext(base)[0]
    candidates = [f"{stem}_labels.npy", f"{stem}_y.npy"]
    if stem in ("X", "x"):
        candidates.append("y.npy")
    for c in candidates:
        p = os.path.join(folder, c)
        if os.path.exists(p):
            return p
    raise DataError(f"no labels for features {features_path!r}: pass a labels file (--labels) or put them "
                    f"next to it as {' or '.join(candidates)}")


def _read_labels_file(path):
    if path.lower().endswith(".npy"):
        return _read_npy(path, "labels")
    if path.lower().endswith(".csv"):
        rows = _csv_rows(path)
        if rows and not _all_numeric(rows[0]):
            rows = rows[1:]
        if any(len(r) != 1 for r in rows):
            raise DataError(f"labels file {path!r} must have exactly one column")
        vals = [r[0] for r in rows]
        return np.array([float(v) for v in vals]) if all(_is_number(v) for v in vals) else np.array(vals)
    raise DataError(f"labels file {path!r} must be .npy or .csv")


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _all_numeric(row) -> bool:
    return all(_is_number(v) for v in row)


def _csv_rows(path):
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            sample = f.read(4096)
            f.seek(0)
            try:
                dialect = csv.Sniffer().sniff(sample, delimiters=",;\t ") if sample.strip() else csv.excel
            except csv.Error:
                dialect = csv.excel
            rows = [[v.strip() for v in row] for row in csv.reader(f, dialect)]
    except UnicodeDecodeError:
        raise DataError(f"CSV file {path!r} is not UTF-8 text") from None
    except csv.Error as exc:
        raise DataError(f"CSV file {path!r} cannot be parsed: {exc}") from None
    return [r for r in rows if any(v for v in r)]  # skip blank lines


def _read_csv(path, task):
    rows = _csv_rows(path)
    if not rows:
        raise DataError(f"CSV file {path!r} is empty")
    first = 1
    if not _all_numeric(rows[0][:-1]) or (task == "regression" and not _all_numeric(rows[0])):
        header, rows, first = rows[0], rows[1:], 2  # a header row names the columns
    elif not _is_number(rows[0][-1]) and len(rows) > 1 and _is_number(rows[1][-1]):
        header, rows, first = rows[0], rows[1:], 2
    if not rows:
        raise DataError(f"CSV file {path!r} has a header but no data rows")
    width = len(rows[0])
    if width < 2:
        raise DataError(f"CSV file {path!r} needs at least 2 columns (features..., label), found {width}")
    X = np.empty((len(rows), width - 1), dtype=np.float64)
    labels = []
    for i, row in enumerate(rows):
        line = i + first
        if len(row) != width:
            raise DataError(f"CSV file {path!r}: row {line} has {len(row)} columns, expected {width}")
        for j, v in enumerate(row[:-1]):
            try:
                X[i, j] = float(v)
            except ValueError:
                raise DataError(f"CSV file {path!r}: row {line}, column {j + 1}: {v!r} is not a number") from None
        labels.append(row[-1])
    if all(_is_number(v) for v in labels):
        y = np.array([float(v) for v in labels])
    elif task == "regression":
        bad = next(i for i, v in enumerate(labels) if not _is_number(v))
        raise DataError(f"CSV file {path!r}: row {bad + first}, last column: {labels[bad]!r} is not a number")
    elif any(_is_number(v) for v in labels):
        bad = next(i for i, v in enumerate(labels) if _is_number(v) != _is_number(labels[0]))
        raise DataError(f"CSV file {path!r}: labels mix numbers and names (row {bad + first}: {labels[bad]!r})")
    else:
        y = np.array(labels)
    return X, y, first - 1


# --------------------------------------------------------------------------- split

def train_test_split(dataset: Dataset, test_fraction: float = 0.2, seed=0, stratify: bool | None = None):
    """Shuffle and split into (train, test). Classification sets are stratified by default: every
    class keeps its share in both parts (and each class with ≥ 2 samples lands in both)."""
    if not 0.0 < test_fraction < 1.0:
        raise DataError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    n = len(dataset)
    if n < 2:
        raise DataError(f"cannot split a data set of {n} sample(s) into train and test")
    rng = _rng(seed)
    if stratify is None:
        stratify = dataset.task == "classification"
    if stratify:
        test, train = [], []
        for c in np.unique(dataset.y):
            idx = rng.permutation(np.flatnonzero(dataset.y == c))
            k = int(round(len(idx) * test_fraction))
            if len(idx) >= 2:
                k = min(max(k, 1), len(idx) - 1)
            test.append(idx[:k])
            train.append(idx[k:])
        test_idx = rng.permutation(np.concatenate(test))
        train_idx = rng.permutation(np.concatenate(train))
    else:
        perm = rng.permutation(n)
        k = min(max(int(round(n * test_fraction)), 1), n - 1)
        test_idx, train_idx = perm[:k], perm[k:]
    return dataset.subset(train_idx, dataset.name), dataset.subset(test_idx, dataset.name)


# --------------------------------------------------------------------------- loader

class DataLoader:
    """Mini-batches on a device, in a reproducible order that can be saved and resumed.

    The whole data set is uploaded to ``device`` once (``None`` = the CPU, like the rest of
    cugrad); each batch is then gathered on the device by index — no per-batch host copies. The
    order comes from the loader's own NumPy RNG (PCG64 seeded with ``seed``; a fresh random seed
    when None), one permutation per epoch, uploaded once per epoch.

    Iterating runs the rest of the current epoch: an interrupted epoch continues where it
    stopped. ``state_dict()`` holds the epoch, the position (batches already handed out in it) and
    the RNG state, so a loader restored with ``load_state_dict`` continues with exactly the batches
    the original would have produced.

    ``dataset`` is a :class:`Dataset` (yields ``(x, y)``) or a tuple of arrays of equal length
    (yields tuples of the same arity). Items are cugrad Tensors (``as_tensors=True``) or raw
    device arrays.
    """

    def __init__(self, dataset, batch_size: int, shuffle: bool = True, seed=None, drop_last: bool = False,
                 device=None, as_tensors: bool = True):
        if isinstance(dataset, Dataset):
            arrays = (dataset.X, dataset.y)
        elif isinstance(dataset, (tuple, list)):
            arrays = tuple(dataset)
        else:
            arrays = (dataset,)
        if not arrays:
            raise ValueError("DataLoader needs at least one array")
        n = len(arrays[0])
        for a in arrays[1:]:
            if len(a) != n:
                raise ValueError(f"DataLoader arrays differ in length: {[len(a) for a in arrays]}")
        if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.n = n
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.single = not isinstance(dataset, (Dataset, tuple, list))
        self.device = backend.get_device(device)
        self.as_tensors = as_tensors
        with backend.device_context(self.device):
            self._arrays = tuple(backend.to_device(np.ascontiguousarray(a) if isinstance(a, np.ndarray) else a,
                                                   self.device) for a in arrays)
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (1 << 63))
        self.seed = seed
        self._rng = np.random.Generator(np.random.PCG64(seed))
        self.epoch = 0
        self.position = 0
        self._order = None        # the current epoch's permutation on the device
        self._order_epoch = None

    def __len__(self) -> int:
        """Batches per epoch."""
        if self.drop_last:
            return self.n // self.batch_size
        return -(-self.n // self.batch_size)

    def _epoch_order(self):
        if not self.shuffle:
            return None
        if self._order_epoch != self.epoch:
            # draw from a copy so the stored state stays "start of this epoch" until the epoch ends
            rng = np.random.Generator(np.random.PCG64())
            rng.bit_generator.state = self._rng.bit_generator.state
            perm = rng.permutation(self.n)
            with backend.device_context(self.device):
                self._order = backend.to_device(perm, self.device)
            self._order_epoch = self.epoch
        return self._order

    def _end_epoch(self):
        if self.shuffle:
            self._rng.permutation(self.n)  # advance exactly as _epoch_order drew
        self.epoch += 1
        self.position = 0

    def __iter__(self):
        nb = len(self)
        if nb == 0:
            self._end_epoch()
            return
        order = self._epoch_order()
        wrap = None
        if self.as_tensors:
            from .tensor import Tensor
            wrap = Tensor._wrap  # the batch is already a fresh device array: no second copy
        for i in range(self.position, nb):
            lo, hi = i * self.batch_size, min((i + 1) * self.batch_size, self.n)
            if order is None:
                batch = tuple(a[lo:hi] for a in self._arrays)
            else:
                idx = order[lo:hi]
                with backend.device_context(self.device):
                    batch = tuple(a[idx] for a in self._arrays)
            if wrap is not None:
                batch = tuple(wrap(b) for b in batch)
            # bookkeeping before handing the batch out, so state_dict() taken inside the loop body
            # already counts this batch as consumed
            if i + 1 == nb:
                self._end_epoch()
            else:
                self.position = i + 1
            yield batch[0] if self.single else batch

    def state_dict(self) -> dict:
        """JSON-able resume state: epoch, position in it, and the RNG state at the epoch's start."""
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed,
                "batch_size": self.batch_size, "n": self.n, "shuffle": self.shuffle,
                "drop_last": self.drop_last, "rng": _jsonable_rng_state(self._rng.bit_generator.state)}

    def load_state_dict(self, state: dict) -> None:
        for key in ("batch_size", "n", "shuffle", "drop_last"):
            if key in state and state[key] != getattr(self, key):
                raise ValueError(f"DataLoader state is for {key}={state[key]!r}, this loader has "
                                 f"{key}={getattr(self, key)!r}")
        epoch, position = int(state["epoch"]), int(state["position"])
        if not 0 <= position < max(len(self), 1) or epoch < 0:
            raise ValueError(f"DataLoader state has epoch {epoch}, position {position}: out of range "
                             f"for {len(self)} batches per epoch")
        rng = np.random.Generator(np.random.PCG64())
        rng.bit_generator.state = _rng_state_from_json(state["rng"])
        self._rng = rng
        self.seed = state.get("seed", self.seed)
        self.epoch, self.position = epoch, position
        self._order_epoch = None


def _jsonable_rng_state(state):
    if isinstance(state, dict):
        return {k: _jsonable_rng_state(v) for k, v in state.items()}
    if isinstance(state, np.integer):
        return int(state)
    return state


def _rng_state_from_json(state):
    return {k: _rng_state_from_json(v) if isinstance(v, dict) else v for k, v in state.items()}
