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
MAX_CLASSES = 1_000_000   # class labels are indices: the model gets max label + 1 outputs
_REAL_KINDS = "biuf"      # bool, signed and unsigned integers, floats (no complex, dates or times)
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def load_dataset(name_or_path, *, labels=None, task: str | None = None, classes=None, **kwargs) -> Dataset:
    """A built-in data set by name (``kwargs`` go to its generator, e.g. ``n_per_class``, ``seed``)
    or a user's file:

    - ``.npz`` with arrays ``X`` and ``y`` (or ``x`` and ``y``);
    - ``.npy`` features, with labels from ``labels=`` (a ``.npy`` or one-column ``.csv``) or, when
      not given, a sibling ``<stem>_labels.npy`` / ``<stem>_y.npy`` (``y.npy`` next to ``X.npy``);
    - ``.csv``: one row per sample, the last column the label, an optional header row. Class
      labels may be names (``setosa``), which are numbered in sorted order.

    ``task`` is "classification" (default for files) or "regression". ``classes``: a trained
    model's class list, to map the labels through (see make_dataset). Labels that are not
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
        if classes is not None and ds.task == "classification":
            ds = make_dataset(ds.X, ds.y, name=ds.name, source=name, classes=classes)
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
        y = _read_labels_file(_find_labels(name, labels), len(X) if X.ndim else 0)
    elif suffix == ".csv":
        X, y, row_offset = _read_csv(name, task)
    else:
        raise DataError(f"data file {name!r} has an unsupported type {suffix or '(no suffix)'!r}: "
                        f"expected .npy, .npz or .csv")
    if labels is not None and suffix != ".npy":
        raise DataError(f"labels= is only used with .npy features, not with {suffix} file {name!r}")
    return make_dataset(X, y, task=task, name=os.path.splitext(os.path.basename(name))[0], source=name,
                        row_offset=row_offset, classes=classes)


def make_dataset(X, y, *, task: str = "classification", name: str = "data", source: str | None = None,
                 row_offset: int = 0, classes=None) -> Dataset:
    """Validate and convert arrays into a :class:`Dataset` (the checks ``load_dataset`` runs).
    Rows in messages count from 1 (+ ``row_offset``, e.g. 1 for a CSV header line).

    ``classes`` is the class list of a trained model (label values, names or numbers; a ``range``
    when its labels were the class indices themselves): labels are mapped through it, and one it
    does not hold is an error. Without it the classes come from the labels (see _class_labels)."""
    where = f" in {source!r}" if source else ""
    try:
        X = np.asarray(X)
    except Exception as exc:
        raise DataError(f"features{where} are not an array: {exc}") from None
    if X.dtype.kind not in _REAL_KINDS:
        raise DataError(f"features{where} must be real numbers, got dtype {X.dtype}")
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if X.ndim != 2:
        raise DataError(f"features{where} must be 2-D (samples, features), got shape {X.shape}")
    if X.shape[0] == 0:
        raise DataError(f"no samples{where}")
    if X.shape[1] == 0:
        raise DataError(f"no feature columns{where}")
    X = _to_float32(X, f"features{where}", row_offset)
    num_classes = None
    if task == "classification":
        y, found = _class_labels(y, where, row_offset, classes)
        if classes is None:
            classes, num_classes = found, (len(found) if found is not None else int(y.max()) + 1)
        else:
            num_classes, classes = len(classes), None if isinstance(classes, range) else list(classes)
    else:
        y = np.asarray(y)
        if y.dtype.kind not in _REAL_KINDS:
            raise DataError(f"regression targets{where} must be real numbers, got dtype {y.dtype}")
        if y.ndim not in (1, 2) or (y.ndim == 2 and y.shape[1] == 0):
            raise DataError(f"regression targets{where} must be 1-D or 2-D, got shape {y.shape}")
        if len(y) != len(X):
            raise DataError(f"{len(X)} samples but {len(y)} targets{where}")
        y = _to_float32(y.reshape(len(y), -1), f"targets{where}", row_offset)
    if len(y) != len(X):
        raise DataError(f"{len(X)} samples but {len(y)} labels{where}")
    return Dataset(np.ascontiguousarray(X), np.ascontiguousarray(y), task, num_classes, name, classes,
                   {"source": source} if source else {})


def _position(a, index, row_offset):
    """'row R, column C' of ``index`` in ``a`` (rows count from 1 + row_offset)."""
    pos = np.unravel_index(index, a.shape)
    return f"row {pos[0] + 1 + row_offset}" + (f", column {pos[1] + 1}" if a.ndim > 1 else "")


def _check_finite(a, what, row_offset=0):
    bad = ~np.isfinite(a)
    if bad.any():
        first = int(np.argmax(bad))
        kind = "NaN" if np.isnan(a.reshape(-1)[first]) else "inf"
        raise DataError(f"{what} contain {int(bad.sum())} NaN/inf value(s) (first: {kind} at "
                        f"{_position(a, first, row_offset)})")


def _to_float32(a, what, row_offset=0):
    """``a`` as float32, refusing NaN/inf and values the cast would turn into inf."""
    if a.dtype.kind == "f":
        _check_finite(a, what, row_offset)
        big = np.abs(a) > _FLOAT32_MAX
        if big.any():
            first = int(np.argmax(big))
            raise DataError(f"{what} hold {a.reshape(-1)[first].item():g} at {_position(a, first, row_offset)}, "
                            f"beyond float32's range (±{_FLOAT32_MAX:.4g})")
    return a.astype(np.float32)


def _class_labels(y, where, row_offset=0, classes=None):
    """(int64 class indices, class list or None) for labels ``y``.

    Names are numbered in sorted order; integer labels are the class indices themselves (up to
    MAX_CLASSES), unless some are negative (-1/+1), when the distinct values are numbered in
    order. With a model's ``classes`` the labels are mapped through that list instead."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"class labels{where} must be one column, got shape {y.shape}")
    if y.size == 0:
        raise DataError(f"no labels{where}")
    if y.dtype.kind in "US":  # class names
        values = y.astype(str)
    elif y.dtype.kind in _REAL_KINDS:
        values = _integer_labels(y, where, row_offset)
    else:
        raise DataError(f"class labels{where} must be integers or names, got dtype {y.dtype}")
    if classes is not None:
        return _map_labels(values, classes, where, row_offset), None
    if values.dtype.kind == "U" or values.min() < 0:
        found, idx = np.unique(values, return_inverse=True)
        return idx.astype(np.int64).reshape(-1), found.tolist()
    return values, None


def _integer_labels(y, where, row_offset):
    """Integer-valued labels as int64, each within ±MAX_CLASSES (checked before the cast, which
    would wrap or saturate)."""
    if y.dtype.kind == "f":
        _check_finite(y, f"labels{where}", row_offset)
        frac = y != np.round(y)
        if frac.any():
            i = int(np.argmax(frac))
            raise DataError(f"class labels{where} must be integers, got {y[i].item()!r} at row {i + 1 + row_offset} "
                            f"(use task='regression' / --task regression for real-valued targets)")
    out = (y < -MAX_CLASSES) | (y >= MAX_CLASSES) if y.dtype.kind != "b" else np.zeros(y.shape, bool)
    if out.any():
        i = int(np.argmax(out))
        v = y[i].item()  # a CSV's 2000000000 is read as a float: show it as written
        shown = int(v) if isinstance(v, float) and v.is_integer() and abs(v) < 1e15 else v
        raise DataError(f"class label {shown} at row {i + 1 + row_offset}{where} is out of range: labels are "
                        f"class indices, at most {MAX_CLASSES:,} classes (renumber them, or use names)")
    return y.astype(np.int64)


def _map_labels(values, classes, where, row_offset):
    """Indices of ``values`` in a model's class list; a label the list lacks is an error."""
    known = np.asarray(list(classes) if not isinstance(classes, range) else np.arange(len(classes)))
    preview = ", ".join(map(str, known[:8].tolist())) + (", ..." if len(known) > 8 else "")
    if (values.dtype.kind == "U") != (known.dtype.kind == "U"):
        kind = "names" if values.dtype.kind == "U" else "numbers"
        raise DataError(f"class labels{where} are {kind}, but the model's classes are {preview}")
    order = np.argsort(known, kind="stable")
    uniq, inverse = np.unique(values, return_inverse=True)
    pos = np.minimum(np.searchsorted(known[order], uniq), len(known) - 1)
    missing = known[order][pos] != uniq
    if missing.any():
        bad = uniq[int(np.argmax(missing))]
        row = int(np.argmax(values == bad))
        raise DataError(f"class label {bad.item()!r} at row {row + 1 + row_offset}{where} is not one of the "
                        f"model's {len(known)} classes ({preview})")
    return order[pos][inverse.reshape(-1)].astype(np.int64)


def _read_npy(path, what):
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise DataError(f"{what} file {path!r} cannot be read as a plain .npy array ({exc})") from None
    except Exception as exc:
        raise DataError(f"{what} file {path!r} is not a valid .npy file ({type(exc).__name__}: {exc})") from None


def _read_npz(path):
    try:
        with open(path, "rb") as f:
            z = np.load(f, allow_pickle=False)
            if not isinstance(z, np.lib.npyio.NpzFile):
                raise DataError(f"data file {path!r} holds a single .npy array, not a .npz archive of X and y")
            with z:
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


def _read_labels_file(path, n_samples):
    """Labels from a .npy or a one-column .csv. A CSV's first row is a header when it is a name
    above numbers, or when the file has one row more than there are samples (names below a name)."""
    if path.lower().endswith(".npy"):
        return _read_npy(path, "labels")
    if path.lower().endswith(".csv"):
        rows = _csv_rows(path)
        if rows and not _all_numeric(rows[0]) and (len(rows) == n_samples + 1 or
                                                    all(_all_numeric(r) for r in rows[1:])):
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
