"""Users' own data: ``load_dataset`` reads a built-in set by name or a .npy/.npz/.csv file, and
``make_dataset`` runs the checks that turn arrays into a :class:`Dataset` (finite features, integer
class labels, matching lengths), raising :class:`DataError` naming the file and what is wrong."""
from __future__ import annotations

import csv
import os

import numpy as np

from .dataset import DataError, Dataset
from .synthetic import BUILTIN_DATASETS


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
        rows, first = rows[1:], 2  # a header row names the columns
    elif not _is_number(rows[0][-1]) and len(rows) > 1 and _is_number(rows[1][-1]):
        rows, first = rows[1:], 2
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
