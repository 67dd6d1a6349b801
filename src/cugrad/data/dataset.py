"""What every part of cugrad.data shares: the :class:`Dataset` record, :class:`DataError`, and the
train/test split."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


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


def train_test_split(dataset: Dataset, test_fraction: float = 0.2, seed=0, stratify: bool | None = None):
    """Shuffle and split into (train, test). Classification sets are stratified by default: every
    class keeps its share in both parts (and each class with ≥ 2 samples lands in both). Both parts
    are non-empty, or DataError says why not (e.g. every class has a single sample)."""
    if not 0.0 < test_fraction < 1.0:
        raise DataError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    n = len(dataset)
    if n < 2:
        raise DataError(f"cannot split a data set of {n} sample(s) into train and test")
    rng = np.random.default_rng(seed)
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
    for part, idx in (("test", test_idx), ("training", train_idx)):
        if len(idx) == 0:
            raise DataError(f"the {part} split of {dataset.name!r} is empty: {n} samples in "
                            f"{len(np.unique(dataset.y))} classes with test fraction {test_fraction:g} put none there "
                            f"(a class with one sample goes to one side only); use more samples or another "
                            f"test fraction")
    return dataset.subset(train_idx, dataset.name), dataset.subset(test_idx, dataset.name)
