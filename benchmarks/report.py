"""Turn pytest-benchmark JSON into a markdown table and a PNG bar chart of ours vs the baseline.

    python benchmarks/report.py results.json [more.json ...] -o OUTDIR [--title TEXT]

writes OUTDIR/report.md and OUTDIR/report.png and prints the table (``--merge OUT.json``: also the
inputs as one JSON). The report itself is :mod:`cugrad.cli.bench_report`, what ``cugrad bench`` writes.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from cugrad.cli import bench_report  # noqa: E402


def merge(json_paths, out_path):
    """One pytest-benchmark JSON holding the benchmarks of several (the first file's metadata);
    missing files are skipped. Returns the number of benchmarks written."""
    merged = None
    for path in json_paths:
        path = Path(path)
        if not path.is_file():
            continue
        data = json.loads(path.read_text())
        if merged is None:
            merged = data
        else:
            merged["benchmarks"] += data.get("benchmarks", [])
    if merged is None:
        return 0
    Path(out_path).write_text(json.dumps(merged, indent=1))
    return len(merged["benchmarks"])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("json", nargs="+", help="pytest-benchmark JSON file(s) (--benchmark-json)")
    ap.add_argument("-o", "--outdir", default=".", help="where report.md and report.png go")
    ap.add_argument("--title", default="cugrad benchmarks: ours vs baseline")
    ap.add_argument("--stat", default="median", choices=["median", "min", "mean"],
                    help="statistic compared (min is steadier on a shared machine)")
    ap.add_argument("--merge", metavar="OUT.json", help="also write the inputs merged into one JSON")
    args = ap.parse_args(argv)
    paths = [p for p in args.json if Path(p).is_file()]
    for p in set(args.json) - set(paths):
        print(f"report: {p} not found, skipped", file=sys.stderr)
    if not paths:
        print("report: no input JSON found", file=sys.stderr)
        return 1
    if args.merge:
        merge(paths, args.merge)
    res = bench_report.write_report(paths, args.outdir, args.title, args.stat)
    if not res["rows"]:
        print("report: no benchmark with stats in the JSON (was it run with --benchmark-disable?)",
              file=sys.stderr)
        return 1
    print(bench_report.short_table(res["rows"], res["targets"]))
    print(f"\nwrote {res['markdown']}" + (f" and {res['chart']}" if res["chart"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
