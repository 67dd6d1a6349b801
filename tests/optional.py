"""Optional packages some tests need: a skip where one is missing, a failure when CI is set (CI
installs them all, so their tests cannot vanish from it)."""
from __future__ import annotations

import importlib
import os

import pytest


def need(module: str, install: str):
    """``module`` imported, or a skip (a failure under CI) naming what to ``pip install``; at a test
    module's top level it skips (or fails) the whole module."""
    try:
        return importlib.import_module(module)
    except ImportError:
        message = f"{module} is not installed (pip install {install})"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI is set")
        pytest.skip(message, allow_module_level=True)
