"""Data sets that need no download: each is generated from a seed with NumPy, so the same call
gives the same points on any machine."""
from __future__ import annotations

import math

import numpy as np

from .dataset import DataError, Dataset


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
    rng = np.random.default_rng(seed)
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
    rng = np.random.default_rng(seed)
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
    rng = np.random.default_rng(seed)
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
    rng = np.random.default_rng(seed)
    centers = rng.uniform(center_box[0], center_box[1], (n_classes, n_features))
    X = np.concatenate([c + rng.standard_normal((n_per_class, n_features)) * cluster_std for c in centers])
    y = np.repeat(np.arange(n_classes), n_per_class)
    return _classification(X, y, "blobs", n_classes, n_per_class=n_per_class, cluster_std=cluster_std, seed=seed)


def regression(n_samples: int = 1000, n_features: int = 1, noise: float = 0.1, seed=0) -> Dataset:
    """A smooth non-linear target: X ~ U(-1, 1)^d, y = Σ_j sin(3 x_j) / √d + N(0, noise²), as (n, 1)."""
    _check_count("n_samples", n_samples)
    _check_count("n_features", n_features)
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, (n_samples, n_features))
    y = np.sin(3.0 * X).sum(axis=1, keepdims=True) / math.sqrt(n_features)
    y = y + rng.standard_normal(y.shape) * noise
    return Dataset(X.astype(np.float32), y.astype(np.float32), "regression", None, "regression", None,
                   {"n_samples": n_samples, "noise": noise, "seed": seed})


BUILTIN_DATASETS = {"spiral": spiral, "donut": donut, "xor": xor, "blobs": blobs, "regression": regression}
