"""Data sets that need no download, users' own files, a train/test split and a device DataLoader.

Every built-in set is generated from a seed with NumPy, so the same call gives the same points on
any machine. Features are float32 ``(n, d)``; classification labels are int64 ``(n,)``;
regression targets are float32 ``(n, k)`` (2-D, so they line up with a model's ``(n, k)`` output).
Problems with users' files raise :class:`DataError` naming the file and what is wrong.

``dataset`` holds the record, the error and the split; ``synthetic`` the built-in generators;
``files`` loading and validation; ``loader`` the DataLoader.
"""
from .dataset import DataError, Dataset, train_test_split
from .files import load_dataset, make_dataset
from .loader import DataLoader
from .synthetic import BUILTIN_DATASETS, blobs, donut, regression, spiral, xor

__all__ = [
    "DataError", "Dataset", "DataLoader", "spiral", "donut", "xor", "blobs", "regression",
    "load_dataset", "make_dataset", "train_test_split", "BUILTIN_DATASETS",
]
