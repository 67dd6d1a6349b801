"""The ``cugrad`` command: ``train``, ``eval``, ``export``, ``info``, ``bench``, one module each.

:func:`main` parses the flags (:mod:`.parser`) and dispatches. Every user error (bad flag, missing
or malformed data, bad checkpoint, a run that diverges or does not fit in memory) ends the command
with a non-zero exit status and one line on stderr, ``cugrad: error: ...``, with no traceback.
NumPy's floating-point warnings are off (the runs check for NaN/inf themselves); any other warning
is one ``cugrad: warning: ...`` line. Files are written atomically, so an error or Ctrl-C never
leaves a half-written checkpoint or picture. Set CUGRAD_DEBUG=1 to see tracebacks of unexpected
errors. This package is the top layer: nothing else in cugrad imports it.
"""
from __future__ import annotations

import os
import sys
import warnings

import numpy as np

from .. import __version__
from ..data import DataError
from ..io import CheckpointError
from . import bench, evaluate, export, info, ranks, train
from .parser import PROG, CLIError, build_parser

__all__ = ["main", "build_parser", "CLIError"]

COMMANDS = {"train": train.run, "eval": evaluate.run, "export": export.run, "info": info.run}


def main(argv=None) -> int:
    """Entry point of the ``cugrad`` console script; returns the exit status."""
    debug = bool(os.environ.get("CUGRAD_DEBUG"))
    try:
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        if extra and args.command != "bench":  # only bench passes arguments on (to pytest)
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        if args.version:
            print(f"cugrad {__version__}")
            return 0
        if args.command is None:
            raise CLIError("missing command: train, eval, export, info or bench (see 'cugrad --help')", code=2)
        if args.command == "bench":
            return bench.run(args, extra[1:] if extra[:1] == ["--"] else extra)
        run = COMMANDS[args.command]
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return run(args)
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    except KeyboardInterrupt:
        if ranks.is_leader():  # mpiexec hands Ctrl-C to every rank
            _err("interrupted (the last checkpoint written is intact)")
        return 130
    except Exception as exc:  # noqa: BLE001 - every error becomes one line
        if debug:
            raise
        return ranks.fail(f"{PROG}: error: {_describe(exc)}", exc.code if isinstance(exc, CLIError) else 1)


def _describe(exc) -> str:
    if isinstance(exc, (CLIError, DataError, CheckpointError)):
        return str(exc)
    if isinstance(exc, MemoryError):
        return (f"out of memory ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); "
                f"try a smaller --batch-size, --hidden or data set")
    if isinstance(exc, OSError):
        where = f" {exc.filename!r}" if exc.filename else ""
        return f"cannot access{where}: {exc.strerror or exc}"
    msg = str(exc).splitlines()[0] if str(exc) else ""
    return f"internal error: {type(exc).__name__}: {msg} (set CUGRAD_DEBUG=1 for the traceback)"


def _err(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as one line, without the source line Python would print under it."""
    text = str(message).splitlines()[0] if str(message) else ""
    print(f"{PROG}: warning: {category.__name__}: {text}", file=sys.stderr, flush=True)
