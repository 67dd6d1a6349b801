"""pytest-benchmark JSON as a markdown table and a PNG bar chart of ours vs the baseline: the report
of ``cugrad bench`` and of ``benchmarks/report.py``.

Each benchmark's ``extra_info`` (set by benchmarks/harness.py::timeit) names its ``case``, ``impl``
and ``device``; rows pair ``cugrad`` with ``torch`` (else ``numpy``) for the same case and device.
GB/s comes from ``bytes`` / median; % of copy from the ``copy`` case of the same device.
``write_report(json_paths, outdir) -> {"markdown": path, "chart": path or None, "rows": [...]}``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

GIB = 1 << 30
BASELINES = ("torch", "numpy")


def load(paths):
    """All benchmarks from the given JSON files, and the first file's machine_info."""
    benches, machine = [], {}
    for path in paths:
        data = json.loads(Path(path).read_text())
        benches += data.get("benchmarks", [])
        machine = machine or data.get("machine_info", {})
        machine.setdefault("datetime", data.get("datetime"))
    return benches, machine


def _stat(b, stat):
    stats = b.get("stats") or {}
    return stats.get(stat)


def collect(benches, stat="median"):
    """{(case, device): {impl: record}} with record = median_s (the chosen statistic), gbps, extra."""
    groups: dict = {}
    for b in benches:
        info = b.get("extra_info") or {}
        med = _stat(b, stat)
        if med is None or "case" not in info:
            continue
        rec = {"median_s": med, "extra": info, "name": b.get("name")}
        if info.get("bytes"):
            rec["gbps"] = info["bytes"] / med / 1e9
        groups.setdefault((info["case"], info.get("device", "?")), {})[info.get("impl", "?")] = rec
    return groups


def build_rows(groups):
    copy_gbps = {dev: g["copy"]["gbps"] for (case, dev), g in groups.items()
                 if case == "copy" and "copy" in g and "gbps" in g["copy"]}
    rows = []
    for (case, dev), impls in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        ours = impls.get("cugrad")
        base_name = next((n for n in BASELINES if n in impls), None)
        base = impls.get(base_name) if base_name else None
        row = {"case": case, "device": dev, "ours_ms": None, "baseline": base_name, "baseline_ms": None,
               "ratio": None, "ours_gbps": None, "pct_copy": None, "baseline_gbps": None, "notes": []}
        variants = {name[len("cugrad-"):]: rec for name, rec in impls.items() if name.startswith("cugrad-")}
        if variants:  # several ways of doing one thing: list them all, compare the fastest
            fastest = min(variants, key=lambda name: variants[name]["median_s"])
            listed = ", ".join(f"{name} {rec['median_s'] * 1e3:.3f} ms" for name, rec in sorted(variants.items()))
            row["notes"].append(f"variants: {listed} (fastest: {fastest})")
            ours = ours or variants[fastest]
        if case == "copy" and "copy" in impls:
            row["notes"].append(f"device copy {impls['copy']['gbps']:.0f} GB/s (the kernels' ceiling)")
            row["ours_ms"] = impls["copy"]["median_s"] * 1e3
        if ours:
            row["ours_ms"] = ours["median_s"] * 1e3
            row["ours_gbps"] = ours.get("gbps")
            if row["ours_gbps"] and copy_gbps.get(dev):
                row["pct_copy"] = 100 * row["ours_gbps"] / copy_gbps[dev]
            prec = ours["extra"].get("precision")
            if prec:
                row["notes"].append(f"ours {prec}")
        graphed = impls.get("torch-graphed")
        if graphed:
            versus = f", ours/graphed {ours['median_s'] / graphed['median_s']:.2f}x" if ours else ""
            row["notes"].append(f"PyTorch CUDA-graphed {graphed['median_s'] * 1e3:.3f} ms{versus}")
        if base:
            row["baseline_ms"] = base["median_s"] * 1e3
            row["baseline_gbps"] = base.get("gbps")
        if ours and base:
            row["ratio"] = ours["median_s"] / base["median_s"]
        if "gemm" in impls:
            g = impls["gemm"]["median_s"]
            row["gemm_ms"] = g * 1e3
            row["notes"].append(f"GEMMs alone {g * 1e3:.2f} ms")
            if ours:
                row["overhead"] = ours["median_s"] / g
                row["notes"].append(f"step/GEMMs {row['overhead']:.2f}x")
        if "torch-gemm" in impls:
            tg = impls["torch-gemm"]["median_s"]
            row["notes"].append(f"torch GEMMs {tg * 1e3:.2f} ms")
            if base_name == "torch":
                row["notes"].append(f"torch step/GEMMs {base['median_s'] / tg:.2f}x")
        if base_name == "torch" and "numpy" in impls and ours:
            row["notes"].append(f"flat NumPy {impls['numpy']['median_s'] * 1e3:.2f} ms "
                                f"(ours/NumPy {ours['median_s'] / impls['numpy']['median_s']:.2f}x)")
        for who, rec in (("ours", ours), (base_name, base)):
            if rec and rec["extra"].get("peak_bytes") is not None:
                row[f"{who}_peak"] = rec["extra"]["peak_bytes"]
                row["notes"].append(f"{who} peak {rec['extra']['peak_bytes'] / GIB:.3f} GiB")
        flops = (ours or {}).get("extra", {}).get("flops")
        if flops and ours:
            row["notes"].append(f"ours {flops / ours['median_s'] / 1e12:.1f} TFLOP/s")
        rows.append(row)
    return rows


def targets(groups):
    """Issue 6 / issue 5 targets that the data can decide: (target, measured, verdict)."""
    out = []

    def med(case, impl, dev="cuda"):
        rec = groups.get((case, dev), {}).get(impl)
        return None if rec is None else rec["median_s"]

    for prec, limit in (("fp32", 1.00), ("tf32", 0.85), ("half", 0.95)):
        o, t = med(f"mlp_step_{prec}", "cugrad"), med(f"mlp_step_{prec}", "torch")
        if o and t:
            out.append((f"MLP step {prec}: ours ≤ {limit:.2f}× PyTorch", f"{o / t:.3f}×", o / t <= limit))
        g = med(f"mlp_step_{prec}", "gemm")
        if o and g:
            out.append((f"MLP step {prec}: step ≤ 1.25× its GEMMs alone", f"{o / g:.3f}×", o / g <= 1.25))
    cap, eager = med("captured_seeds_sgd", "cugrad"), med("captured_seeds_sgd", "torch")
    if cap and eager:
        out.append(("seeds' step (SGD): captured ours ≥ 4× faster than PyTorch eager", f"{eager / cap:.2f}×",
                    eager / cap >= 4))
    recs = groups.get(("checkpoint_sqrt", "cuda"), {})
    plain = groups.get(("checkpoint_none", "cuda"), {})
    if "cugrad" in recs:
        peak = recs["cugrad"]["extra"].get("peak_bytes")
        if peak is not None:
            out.append(("checkpoint: ours √n peak ≤ 1.2 GiB", f"{peak / GIB:.3f} GiB", peak <= 1.2 * GIB))
        if "cugrad" in plain:
            r = recs["cugrad"]["median_s"] / plain["cugrad"]["median_s"]
            out.append(("checkpoint: ours √n time ≤ 1.25× ours plain", f"{r:.3f}×", r <= 1.25))
    return out


def _fmt(v, spec):
    return "–" if v is None else format(v, spec)


def markdown(rows, target_rows, machine, title, stat="median"):
    lines = [f"# {title}", ""]
    versions = machine.get("versions") or {}
    desc = [f"python {machine.get('python_version', '?')}",
            f"CPU {(machine.get('cpu') or {}).get('brand_raw', machine.get('processor', '?'))}",
            f"GPU {machine.get('gpu', '?')}"]
    desc += [f"{k} {v}" for k, v in versions.items() if v is not None]
    lines += [f"Run {machine.get('datetime', '?')}: " + ", ".join(desc) + ".", "",
              f"Times are each case's {stat} (pytest-benchmark); ratio = ours / baseline (< 1: ours "
              f"faster). GB/s = bytes the op must move / {stat}.", ""]
    lines += ["| case | device | ours ms | baseline | baseline ms | ratio | ours GB/s (% copy) | baseline GB/s | notes |",
              "|---|---|---:|---|---:|---:|---:|---:|---|"]
    for r in rows:
        gb = _fmt(r["ours_gbps"], ".0f")
        if r["pct_copy"] is not None:
            gb += f" ({r['pct_copy']:.0f}%)"
        lines.append(f"| {r['case']} | {r['device']} | {_fmt(r['ours_ms'], '.3f')} | {r['baseline'] or '–'} | "
                     f"{_fmt(r['baseline_ms'], '.3f')} | {_fmt(r['ratio'], '.3f')} | {gb} | "
                     f"{_fmt(r['baseline_gbps'], '.0f')} | {'; '.join(r['notes'])} |")
    if target_rows:
        lines += ["", "## Targets", "", "| target | measured | met |", "|---|---:|---|"]
        lines += [f"| {t} | {m} | {'yes' if ok else 'NO'} |" for t, m, ok in target_rows]
    return "\n".join(lines) + "\n"


def chart(rows, path, title, stat="median"):
    """Horizontal bars, log-scale ms: ours vs the baseline per case; None if nothing to plot or no
    matplotlib."""
    pairs = [r for r in rows if r["ours_ms"] is not None and r["baseline_ms"] is not None]
    if not pairs:
        return None
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("report: matplotlib not installed, no chart", file=sys.stderr)
        return None
    labels = [f"{r['case']} [{r['device']}]" for r in pairs]
    y = range(len(pairs))
    h = 0.38
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(pairs) + 1.4))
    ax.barh([i - h / 2 for i in y], [r["ours_ms"] for r in pairs], h, label="cugrad", color="#d95f02")
    ax.barh([i + h / 2 for i in y], [r["baseline_ms"] for r in pairs], h, label="baseline (PyTorch, else NumPy)",
            color="#7570b3")
    for i, r in zip(y, pairs):
        ax.text(max(r["ours_ms"], r["baseline_ms"]) * 1.08, i, f"{r['ratio']:.2f}×  vs {r['baseline']}",
                va="center", fontsize=8)
    ax.set_yticks(list(y), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel(f"{stat} time per call, ms (log scale; shorter is faster)")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    lo = min(min(r["ours_ms"], r["baseline_ms"]) for r in pairs)
    hi = max(max(r["ours_ms"], r["baseline_ms"]) for r in pairs)
    ax.set_xlim(lo / 2, hi * 6)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_report(json_paths, outdir, title="cugrad benchmarks: ours vs baseline", stat="median"):
    """Write OUTDIR/report.md (+ report.png); returns their paths, the rows and the target verdicts.
    ``stat``: which pytest-benchmark statistic to compare ("median"; "min" on a shared machine)."""
    if isinstance(json_paths, (str, Path)):
        json_paths = [json_paths]
    benches, machine = load(json_paths)
    groups = collect(benches, stat)
    rows = build_rows(groups)
    verdicts = targets(groups)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    md = outdir / "report.md"
    md.write_text(markdown(rows, verdicts, machine, title, stat))
    png = chart(rows, outdir / "report.png", title, stat)
    return {"markdown": md, "chart": png, "rows": rows, "targets": verdicts}


def short_table(rows, target_rows=()):
    """A plain-text table for a terminal."""
    out = [f"{'case':<24} {'dev':<5} {'ours ms':>10} {'base':<6} {'base ms':>10} {'ratio':>7} {'GB/s':>8}"]
    for r in rows:
        out.append(f"{r['case']:<24} {r['device']:<5} {_fmt(r['ours_ms'], '10.3f'):>10} "
                   f"{(r['baseline'] or '–'):<6} {_fmt(r['baseline_ms'], '10.3f'):>10} "
                   f"{_fmt(r['ratio'], '7.3f'):>7} {_fmt(r['ours_gbps'], '8.0f'):>8}")
    for t, m, ok in target_rows:
        out.append(f"{'MET ' if ok else 'MISS'} {t}: {m}")
    return "\n".join(out)
