"""``cugrad.nn``: modules, initialisers, losses and the functional API."""
from . import functional

__all__ = ["functional"]
