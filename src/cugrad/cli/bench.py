"""``cugrad bench``: the source checkout's ``benchmarks/`` under pytest-benchmark (a subprocess),
then its report (:mod:`cugrad.cli.bench_report`). The benchmarks are not in the wheel."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cugrad

from . import bench_report
from .parser import CLIError


def run(args, pytest_args) -> int:
    src = Path(cugrad.__file__).resolve().parents[1]
    bench_dir = src.parent / "benchmarks"
    if not (bench_dir / "conftest.py").is_file():
        raise CLIError(f"'cugrad bench' needs the source checkout's benchmarks/ (not found at {bench_dir}); "
                       f"run it from a clone of the repository (PYTHONPATH=src or pip install -e .)")
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.json"
    results.unlink(missing_ok=True)  # a stale file must not pass for this run's timings
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(src), os.environ.get("PYTHONPATH")]))}
    cmd = [sys.executable, "-m", "pytest", str(bench_dir), f"--benchmark-json={results}", *pytest_args]
    print("cugrad bench: " + " ".join(cmd), flush=True)
    status = subprocess.run(cmd, env=env).returncode
    if not results.is_file() or results.stat().st_size == 0:
        if status != 0:
            raise CLIError(f"the benchmarks failed (pytest exit status {status}) and recorded no timings")
        print("cugrad bench: no timings recorded (--benchmark-disable?), so no report", flush=True)
        return 0
    res = bench_report.write_report([results], out, title=args.title)
    print(bench_report.short_table(res["rows"], res["targets"]))
    print(f"wrote {results}, {res['markdown']}" + (f", {res['chart']}" if res["chart"] else ""), flush=True)
    if status != 0:
        raise CLIError(f"some benchmarks failed (pytest exit status {status}); the report covers those that ran")
    return 0
